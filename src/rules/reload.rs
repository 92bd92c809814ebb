//! The current rule table of a running service, and its hot reload.
//!
//! HR operations change the table under a running service (a git deploy, a ConfigMap edit). A new
//! table takes effect without a restart; an invalid one is refused, logged and counted, and the
//! last good table stays in force so there is never a bad moment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::compiled::RuleErrors;
use super::table::RuleSet;

/// How long file events are collected before one reload: editors and ConfigMap updates touch
/// the directory several times for one change.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// A table together with when it took effect (for `GET /v1/rules`).
#[derive(Debug, Clone)]
pub struct LoadedRules {
    pub set: RuleSet,
    pub loaded_at: OffsetDateTime,
}

/// The hot-swappable current table. Readers take a cheap snapshot with [`RulesHandle::current`]
/// and evaluate against it, unaffected by a concurrent swap.
#[derive(Debug)]
pub struct RulesHandle {
    current: ArcSwap<LoadedRules>,
    path: Option<PathBuf>,
    /// Serialises reloads so a SIGHUP and a file event cannot race each other's swap.
    reloading: Mutex<()>,
}

impl RulesHandle {
    /// `path` is where reloads read from; `None` for a table that has no file (the bundled
    /// sandbox example), which then never changes.
    pub fn new(set: RuleSet, path: Option<PathBuf>) -> Self {
        metrics::gauge!("hirebridge_rules_info", "version" => set.version().to_owned()).set(1.0);
        Self {
            current: ArcSwap::from_pointee(LoadedRules {
                set,
                loaded_at: OffsetDateTime::now_utc(),
            }),
            path,
            reloading: Mutex::new(()),
        }
    }

    /// The table in force now.
    pub fn current(&self) -> Arc<LoadedRules> {
        self.current.load_full()
    }

    /// The file reloads read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-read the file. Returns the version in force afterwards: the new one, or the same one
    /// when the content did not change (nothing is swapped then). An invalid table is refused —
    /// the old one stays — and its errors are logged and returned.
    pub fn reload(&self) -> Result<String, RuleErrors> {
        let _guard = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.current();
        let Some(path) = &self.path else {
            metrics::counter!("hirebridge_rules_reloads_total", "outcome" => "unchanged")
                .increment(1);
            return Ok(old.set.version().to_owned());
        };
        // The activation default comes from the configuration, which a reload does not change.
        let loaded = RuleSet::load(path).map(|s| s.with_send_activation(old.set.send_activation()));
        match loaded {
            Ok(set) if set.version() == old.set.version() => {
                metrics::counter!("hirebridge_rules_reloads_total", "outcome" => "unchanged")
                    .increment(1);
                tracing::debug!(path = %path.display(), version = set.version(), "rule table unchanged");
                Ok(set.version().to_owned())
            }
            Ok(set) => {
                let version = set.version().to_owned();
                let rules = set.len();
                self.current.store(Arc::new(LoadedRules {
                    set,
                    loaded_at: OffsetDateTime::now_utc(),
                }));
                metrics::gauge!("hirebridge_rules_info", "version" => old.set.version().to_owned())
                    .set(0.0);
                metrics::gauge!("hirebridge_rules_info", "version" => version.clone()).set(1.0);
                metrics::counter!("hirebridge_rules_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!(
                    path = %path.display(),
                    old_version = old.set.version(),
                    version = %version,
                    rules,
                    "rule table reloaded"
                );
                Ok(version)
            }
            Err(errors) => {
                metrics::counter!("hirebridge_rules_reloads_total", "outcome" => "invalid")
                    .increment(1);
                tracing::error!(
                    path = %path.display(),
                    kept_version = old.set.version(),
                    errors = %errors,
                    "new rule table is invalid; keeping the last good one"
                );
                Err(errors)
            }
        }
    }
}

/// Reload the table when its file changes and on SIGHUP, until `cancel` fires.
///
/// A rule file that is a symlink (a Kubernetes ConfigMap volume: `rules.yaml` →
/// `..data/rules.yaml`, updated by atomically swapping the `..data` symlink, so the file's own
/// inode never changes) is noticed through its directory, keeping only the events of its own
/// name and of the `..` entries. A plain file is watched itself, and watched again after
/// every change (an editor or a deploy may have replaced it with a new inode): watching its
/// directory would wake the service for every write of a database kept beside it. Events are
/// debounced, and a reload that finds the same content is a no-op. Watch or signal set-up
/// failures are logged and the remaining trigger keeps working.
pub fn spawn_reloader(
    handle: Arc<RulesHandle>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut watch = handle.path().and_then(|p| RuleWatch::start(p, tx));

        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; rule reload on SIGHUP is off");
                None
            }
        };

        loop {
            let lost = watch.as_ref().is_some_and(|w| !w.armed);
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    tracing::info!("SIGHUP: reloading the rule table");
                    reload_in_background(&handle).await;
                }
                Some(()) = rx.recv() => {
                    // Debounce: wait, then swallow the burst that arrived meanwhile.
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(DEBOUNCE) => {}
                    }
                    while rx.try_recv().is_ok() {}
                    if let Some(w) = watch.as_mut() {
                        w.rearm();
                    }
                    reload_in_background(&handle).await;
                }
                // The file was gone when it was last watched: look for it again.
                () = tokio::time::sleep(REARM_EVERY), if lost => {
                    if let Some(w) = watch.as_mut()
                        && w.rearm()
                    {
                        reload_in_background(&handle).await;
                    }
                }
            }
        }
    })
}

/// How often a rule file that disappeared is looked for again.
const REARM_EVERY: Duration = Duration::from_secs(1);

async fn reload_in_background(handle: &Arc<RulesHandle>) {
    let h = Arc::clone(handle);
    // Parsing a big table and reading the file are blocking work; errors are logged inside.
    if let Err(e) = tokio::task::spawn_blocking(move || h.reload()).await {
        tracing::error!(error = %e, "rule reload task failed");
    }
}

/// The file system watch behind hot reload.
struct RuleWatch {
    watcher: notify::RecommendedWatcher,
    /// The rule file.
    path: PathBuf,
    /// `Some(dir)` when the directory is watched (symlinked file), `None` when the file is.
    dir: Option<PathBuf>,
    /// Whether the file itself is under watch (always, in directory mode).
    armed: bool,
}

impl RuleWatch {
    fn start(path: &Path, tx: mpsc::UnboundedSender<()>) -> Option<Self> {
        let symlinked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let dir = symlinked.then(|| match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        });
        let name = path.file_name().map(std::ffi::OsStr::to_os_string);
        let dir_mode = dir.is_some();
        let watcher =
            notify::recommended_watcher(move |ev: notify::Result<notify::Event>| match ev {
                Ok(ev) if ev.kind.is_access() => {}
                Ok(ev) => {
                    // In a directory, only the file's own name and the ConfigMap's `..` entries.
                    let ours = !dir_mode
                        || ev.paths.iter().any(|p| {
                            p.file_name().is_some_and(|n| {
                                Some(n) == name.as_deref() || n.to_string_lossy().starts_with("..")
                            })
                        });
                    if ours {
                        let _ = tx.send(());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rule file watch error"),
            });
        let watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the rule file; reload on change is off (SIGHUP still works)");
                return None;
            }
        };
        let mut w = Self {
            watcher,
            path: path.to_path_buf(),
            dir,
            armed: false,
        };
        if let Some(dir) = w.dir.clone() {
            if let Err(e) = w.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the rule file's directory; reload on change is off (SIGHUP still works)");
                return None;
            }
            w.armed = true;
            tracing::info!(dir = %dir.display(), "watching the rule table's directory for changes");
        } else if w.rearm() {
            tracing::info!(path = %path.display(), "watching the rule table for changes");
        }
        Some(w)
    }

    /// Watch the file again (its inode may have been replaced). Returns whether it is watched.
    fn rearm(&mut self) -> bool {
        if self.dir.is_some() {
            return true;
        }
        let _ = self.watcher.unwatch(&self.path);
        match self.watcher.watch(&self.path, RecursiveMode::NonRecursive) {
            Ok(()) => {
                if !self.armed {
                    tracing::debug!(path = %self.path.display(), "rule file watched");
                }
                self.armed = true;
            }
            Err(e) => {
                if self.armed {
                    tracing::warn!(path = %self.path.display(), error = %e, "rule file is gone; looking for it every second (the last good table stays)");
                }
                self.armed = false;
            }
        }
        self.armed
    }
}
