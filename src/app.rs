//! Start-up and shutdown of the service: `run` takes a bound listener and a cancellation token
//! so tests bind port 0 and stop the service themselves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{self, AppState, ConnecteamMode};
use crate::rules::{RuleSet, RulesHandle};
use crate::sources;
use crate::sources::signing::JwtVerifier;
use crate::store::{self, Store, batcher::IntakeBatcher};

/// How `serve` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Run the Connecteam simulator in-process and send everything to it.
    pub sandbox: bool,
    /// Skip applying migrations at start.
    pub no_migrate: bool,
    /// How long a client may take to send its headers, and how many connections are served.
    pub limits: http::server::Limits,
}

/// How long draining in-flight requests may take after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Open the database and apply migrations.
pub async fn open_store(cfg: &Config, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&cfg.database_url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the database {}: {e}",
            cfg.database_url.redacted()
        )
    })?;
    if migrate {
        store
            .migrate()
            .await
            .map_err(|e| anyhow::anyhow!("migrating {}: {e}", cfg.database_url.redacted()))?;
    }
    Ok(store)
}

/// Load the rule table, or under `--sandbox` the bundled example when the file is missing.
pub fn load_rules(cfg: &Config, sandbox: bool) -> anyhow::Result<RulesHandle> {
    let path = &cfg.rules_file;
    if !path.exists() {
        if sandbox {
            tracing::warn!(
                rules_file = %path.display(),
                "rules_file not found: --sandbox uses the bundled example table (examples/rules.yaml)"
            );
            let set = RuleSet::parse("examples/rules.yaml", crate::rules::EXAMPLE_RULES)
                .map_err(|e| anyhow::anyhow!("the bundled example table is invalid:\n{e}"))?;
            let set = set.with_send_activation(cfg.connecteam.send_activation);
            return Ok(RulesHandle::new(set, None));
        }
        anyhow::bail!(
            "rules_file {} does not exist (set rules_file, or try `serve --sandbox` with the bundled example)",
            path.display()
        );
    }
    let set = RuleSet::load(path).map_err(|e| anyhow::anyhow!("invalid rule table:\n{e}"))?;
    let set = set.with_send_activation(cfg.connecteam.send_activation);
    Ok(RulesHandle::new(set, Some(PathBuf::from(path))))
}

/// The source and admin secret a bare `serve --sandbox` uses, so the README's example works
/// with no configuration at all. Only under `--sandbox`, and only where nothing is configured.
pub const SANDBOX_SOURCE: &str = "demo";
pub const SANDBOX_SOURCE_SECRET: &str = "demo-secret";
pub const SANDBOX_ADMIN_SECRET: &str = "demo-admin-secret";

async fn sandbox_defaults(cfg: &mut Config) -> anyhow::Result<Option<crate::simulator::VendorApi>> {
    use crate::config::{AuthConfig, GenericSource, HmacAuth, SignatureEncoding, SourceConfig};
    use secrecy::SecretString;
    if cfg.sources.is_empty() {
        tracing::warn!(
            source = SANDBOX_SOURCE,
            "sandbox: no sources configured; POST /v1/webhooks/demo accepts canonical hires signed with HMAC-SHA256 (hex) of the body in X-Signature, secret \"demo-secret\""
        );
        cfg.sources.insert(
            SANDBOX_SOURCE.to_owned(),
            SourceConfig::Generic(GenericSource {
                auth: AuthConfig::HmacSha256(HmacAuth {
                    header: axum::http::HeaderName::from_static("x-signature"),
                    secret: SecretString::from(SANDBOX_SOURCE_SECRET),
                    encoding: SignatureEncoding::Hex,
                }),
                phone_region: None,
            }),
        );
        return Ok(Some(sandbox_vendor_sources(cfg).await?));
    }
    Ok(None)
}

/// One source of each vendor kind, named after it and signing with
/// [`sources::sandbox_secret`], with a fake vendor API holding the documented example records
/// for the kinds that fetch the person.
async fn sandbox_vendor_sources(cfg: &mut Config) -> anyhow::Result<crate::simulator::VendorApi> {
    let api = crate::simulator::VendorApi::new();
    let addr = api.spawn().await?;
    for (kind, example) in sources::examples() {
        let name = kind.as_str();
        let base = url::Url::parse(&format!("http://{addr}/{name}"))?;
        let sandbox = example.sandbox(&sources::sandbox_secret(kind), &base);
        for (method, path, body) in sandbox.routes {
            api.route(method, &format!("/{name}{path}"), body);
        }
        cfg.sources.insert(name.to_owned(), sandbox.config);
        tracing::warn!(
            source = name,
            "sandbox: POST /v1/webhooks/{name} takes {name}'s own webhooks; try `hirebridge send-example {name}`"
        );
    }
    Ok(api)
}

fn sandbox_admin(cfg: &mut Config) {
    use crate::config::{JwtConfig, JwtKey};
    use secrecy::SecretString;
    if cfg.admin.jwt.is_none() {
        tracing::warn!(
            "sandbox: admin.jwt not configured; the admin API accepts HS256 tokens signed with \"demo-admin-secret\""
        );
        cfg.admin.jwt = Some(JwtConfig {
            key: JwtKey::Hs256(SecretString::from(SANDBOX_ADMIN_SECRET)),
            issuer: None,
            audience: None,
        });
    }
}

/// Plans a fetched hire with the rule table in force, and counts its matches.
struct RulesPlanner(Arc<RulesHandle>);

impl crate::delivery::Planner for RulesPlanner {
    fn plan(&self, source: &str, hire: &crate::domain::Hire) -> crate::domain::Plan {
        let (plan, matches) = self.0.current().set.evaluate_for_intake(Some(source), hire);
        matches.record();
        plan
    }
}

/// Run the service until `cancel` fires, then drain: stop accepting, finish in-flight
/// requests and their commits, stop the workers, close the database.
pub async fn run(
    mut cfg: Config,
    opts: ServeOptions,
    listener: TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let _vendor_api = if opts.sandbox {
        sandbox_admin(&mut cfg);
        sandbox_defaults(&mut cfg).await?
    } else {
        None
    };
    let cfg = Arc::new(cfg);
    let metrics = crate::telemetry::metrics_handle();
    let store = open_store(&cfg, !opts.no_migrate).await?;
    let rules = Arc::new(load_rules(&cfg, opts.sandbox)?);
    let http_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let sources = Arc::new(sources::registry(&cfg, &http_client)?);
    let admin = cfg
        .admin
        .jwt
        .as_ref()
        .map(|j| Arc::new(JwtVerifier::new(j, http_client.clone())));
    if opts.sandbox {
        tracing::warn!(
            "SANDBOX MODE: Connecteam is simulated in-process; nothing leaves this machine"
        );
    }
    // Every request to the account, outside delivery rounds too, takes a slot of its budget.
    let budget = crate::delivery::connecteam_budget(store.clone(), &cfg.connecteam);
    // Connecteam: the in-process simulator under --sandbox, else the configured account.
    let mut sandbox_sim = None;
    let client = if opts.sandbox {
        let sim = crate::simulator::Simulator::new(crate::simulator::SimConfig::default());
        let addr = sim.spawn(TcpListener::bind("127.0.0.1:0").await?).await;
        let mut c = cfg.connecteam.clone();
        c.base_url = url::Url::parse(&format!("http://{addr}"))?;
        c.auth = Some(crate::config::ConnecteamAuth::ApiKey(
            secrecy::SecretString::from("sandbox"),
        ));
        tracing::warn!(simulator = %addr, "sandbox: Connecteam requests go to the in-process simulator (see GET http://{addr}/_sim/requests)");
        sandbox_sim = Some(sim);
        Some(crate::connecteam::Client::new(&c)?.with_gate(budget.clone()))
    } else {
        match crate::connecteam::Client::new(&cfg.connecteam) {
            Ok(c) => Some(c.with_gate(budget.clone())),
            Err(crate::connecteam::ClientError::Unconfigured) => {
                tracing::error!(
                    "Connecteam is not configured (connecteam.api_key or connecteam.oauth): events are accepted and stored, but nothing is delivered until it is"
                );
                None
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let Some(c) = client.clone() {
        // A startup warning, not a refusal: the account may gain the pack before hires need it.
        let set = rules.current();
        tokio::spawn(async move {
            match c.catalog().await {
                Ok((packs, policies)) => {
                    for m in crate::rules::missing_in_account(&set.set, &packs, &policies) {
                        tracing::warn!(problem = %m, "rule table names something the Connecteam account lacks");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not compare the rule table with the Connecteam account")
                }
            }
            if set.set.custom_fields().is_empty() {
                return;
            }
            match c.all_custom_fields().await {
                Ok(fields) => {
                    let fields = crate::cli::account::account_fields(fields);
                    for m in crate::rules::fields_missing_in_account(&set.set, &fields) {
                        tracing::warn!(problem = %m, "rule table names something the Connecteam account lacks");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not compare the rule table's custom fields with the Connecteam account")
                }
            }
        });
    }
    // Sources whose webhooks carry only ids: their people are fetched first, in the pipeline.
    let fetches: Vec<crate::delivery::FetchSource> = sources
        .iter()
        .filter_map(|(name, adapter)| {
            adapter
                .fetcher()
                .map(|fetcher| crate::delivery::FetchSource {
                    source: name.clone(),
                    fetcher,
                })
        })
        .collect();
    let fetching = (!fetches.is_empty()).then(|| crate::delivery::Fetching {
        sources: fetches,
        planner: Arc::new(RulesPlanner(rules.clone())),
    });
    let engine = client.map(|c| {
        Arc::new(crate::delivery::engine(
            store.clone(),
            c,
            budget.clone(),
            &cfg.connecteam,
            &cfg.delivery,
            fetching.clone(),
        ))
    });
    let engine_cancel = CancellationToken::new();
    let engine_task = engine
        .clone()
        .map(|e| tokio::spawn(e.run(engine_cancel.clone())));

    let writers = if store.backend() == "postgres" { 2 } else { 1 };
    let (intake, batcher_tasks) = IntakeBatcher::start(store.clone(), writers);

    let reloader = crate::rules::spawn_reloader(rules.clone(), cancel.child_token());

    let metrics_server = match cfg.metrics_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            let c = cancel.clone();
            let router = http::metrics_router(metrics.clone());
            let limits = opts.limits;
            Some(tokio::spawn(async move {
                let _ = http::server::serve(l, router, limits, c.cancelled_owned()).await;
            }))
        }
        None => None,
    };

    let state = AppState {
        config: cfg.clone(),
        store: store.clone(),
        intake,
        rules: rules.clone(),
        sources,
        admin,
        metrics,
        connecteam: if opts.sandbox {
            ConnecteamMode::Sandbox
        } else if engine.is_some() {
            ConnecteamMode::Live
        } else {
            ConnecteamMode::Unconfigured
        },
        engine_wake: engine.as_ref().map(|e| e.waker()),
    };
    let app = http::router(state, cfg.metrics_listen.is_none());
    let addr = listener.local_addr()?;
    tracing::info!(
        listen = %addr,
        database = %cfg.database_url,
        backend = store.backend(),
        rules_version = rules.current().set.version(),
        startup_ms = started.elapsed().as_millis() as u64,
        "hirebridge ready"
    );

    let server_cancel = cancel.clone();
    let server = http::server::serve(listener, app, opts.limits, async move {
        server_cancel.cancelled().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
    });
    // The drain timeout starts when shutdown is requested, not at start.
    let drain_cancel = cancel.clone();
    tokio::select! {
        res = server => res?,
        () = async move {
            drain_cancel.cancelled().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => tracing::warn!("in-flight requests did not finish in time; stopping anyway"),
    }
    // Every IntakeBatcher clone lived in the router, now dropped: the writers commit what is
    // queued and stop.
    batcher_tasks.join().await;
    // The engine finishes the call in hand and hands back what it claimed.
    engine_cancel.cancel();
    if let Some(t) = engine_task {
        let _ = t.await;
    }
    if let Some(sim) = sandbox_sim {
        sim.shutdown();
    }
    cancel.cancel();
    let _ = reloader.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    store.close().await;
    tracing::info!("hirebridge stopped");
    Ok(())
}
