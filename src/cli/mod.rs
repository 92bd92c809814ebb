//! The command line: `serve`, `migrate`, `rules check|eval`, `simulate-connecteam`, `healthcheck`.

pub mod account;
pub mod example;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{self, ServeOptions};
use crate::config::{CONFIG_ENV, Config};

#[derive(Debug, Parser)]
#[command(
    name = "hirebridge",
    version,
    about = "New-hire webhooks in, onboarding in Connecteam out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// Configuration file (YAML). Without one, the built-in defaults apply.
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
        /// Run the Connecteam simulator in-process: nothing leaves the machine, no API key needed.
        #[arg(long)]
        sandbox: bool,
        /// Do not apply database migrations at start (run `hirebridge migrate` instead).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
        /// Then copy every event and operation from this SQLite database (sqlite://…) into the
        /// configured PostgreSQL one, which must hold no events: the move from one replica on
        /// SQLite to several on PostgreSQL. Stop the service on SQLite first.
        #[arg(long, value_name = "SQLITE_URL")]
        copy_from: Option<String>,
    },
    /// Work with rule tables.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run the Connecteam simulator alone (what `serve --sandbox` runs in-process).
    SimulateConnecteam {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
    },
    /// Post a vendor's documented example hire, signed as that vendor signs it, to a running
    /// hirebridge: by default the source of that kind `serve --sandbox` configures.
    SendExample {
        /// The vendor kind: greenhouse, ashby, workable, merge, bamboohr, lever, hubspot,
        /// salesforce.
        kind: String,
        /// Where hirebridge listens.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: url::Url,
        /// The source to post to (default: the kind's name, as the sandbox names it).
        #[arg(long)]
        source: Option<String>,
        /// The source's signing secret (Salesforce: the organization id); default: the
        /// sandbox's.
        #[arg(long, env = "HIREBRIDGE_EXAMPLE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Exit 0 if the service's /healthz answers 200 (for container health checks).
    Healthcheck {
        /// Defaults to http://127.0.0.1:8080/healthz.
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rule table: exit 0, or print FILE:LINE:COL: message for every error and exit 1.
    Check {
        file: PathBuf,
        /// Also list pack and policy ids the Connecteam account does not have (uses the
        /// `connecteam` section of the configuration).
        #[arg(long)]
        against_connecteam: bool,
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
    },
    /// Print the plan a rule table gives a canonical hire (a file, or - / nothing for stdin).
    Eval {
        file: PathBuf,
        event: Option<PathBuf>,
        /// The source name the event is evaluated as coming from (for `source` conditions).
        #[arg(long)]
        source: Option<String>,
        /// Region (ISO 3166, e.g. GB) for phone numbers written without a country code.
        /// Default: with --config, the --source's phone_region or else
        /// connecteam.default_phone_region, as the service reads them; otherwise US.
        #[arg(long, value_name = "CC")]
        phone_region: Option<String>,
        /// The service's configuration file, to read phone numbers as the service would.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Rules {
            command:
                RulesCommand::Check {
                    file,
                    against_connecteam: true,
                    config,
                },
        } => {
            let code = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(1));
            let c = code.clone();
            let res = with_runtime(async move {
                let cfg = Config::load(config.as_deref())?;
                let client = crate::connecteam::Client::new(&cfg.connecteam)?;
                let (out, err) = (&mut std::io::stdout(), &mut std::io::stderr());
                let n = account::check_against(&file, &client, out, err).await;
                c.store(
                    u8::try_from(n).unwrap_or(1),
                    std::sync::atomic::Ordering::Relaxed,
                );
                Ok(())
            });
            if res == ExitCode::SUCCESS {
                ExitCode::from(code.load(std::sync::atomic::Ordering::Relaxed))
            } else {
                res
            }
        }
        Command::Rules { command } => {
            let (out, err) = (&mut std::io::stdout(), &mut std::io::stderr());
            let code = match command {
                RulesCommand::Check { file, .. } => crate::rules::cli::check(&file, out, err),
                RulesCommand::Eval {
                    file,
                    event,
                    source,
                    phone_region,
                    config,
                } => match crate::rules::cli::eval_phone_region(
                    phone_region.as_deref(),
                    config.as_deref(),
                    source.as_deref(),
                )
                .and_then(|region| {
                    crate::rules::cli::eval_send_activation(config.as_deref()).map(|a| (region, a))
                }) {
                    Ok((region, activation)) => crate::rules::cli::eval(
                        &file,
                        event.as_deref(),
                        source.as_deref(),
                        (&region, activation),
                        out,
                        err,
                    ),
                    Err(message) => {
                        let _ = writeln!(err, "{message}");
                        1
                    }
                },
            };
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Healthcheck { url } => healthcheck(url.as_deref()),
        Command::SendExample {
            kind,
            url,
            source,
            secret,
        } => {
            let accepted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let a = accepted.clone();
            let res = with_runtime(async move {
                let ok = example::send(
                    &kind,
                    &url,
                    source.as_deref(),
                    secret.as_deref(),
                    &mut std::io::stdout(),
                )
                .await?;
                a.store(ok, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            });
            if res == ExitCode::SUCCESS && !accepted.load(std::sync::atomic::Ordering::Relaxed) {
                ExitCode::from(1)
            } else {
                res
            }
        }
        Command::SimulateConnecteam { listen } => with_runtime(async move {
            crate::telemetry::init_logging();
            let cancel = CancellationToken::new();
            spawn_signal_handler(cancel.clone());
            crate::simulator::run(listen, cancel).await
        }),
        Command::Serve {
            config,
            sandbox,
            no_migrate,
        } => with_runtime(async move {
            crate::telemetry::init_logging();
            let cfg = Config::load(config.as_deref())?;
            let listener = tokio::net::TcpListener::bind(cfg.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
            let cancel = CancellationToken::new();
            spawn_signal_handler(cancel.clone());
            app::run(
                cfg,
                ServeOptions {
                    sandbox,
                    no_migrate,
                    ..ServeOptions::default()
                },
                listener,
                cancel,
            )
            .await
        }),
        Command::Migrate { config, copy_from } => with_runtime(async move {
            crate::telemetry::init_logging();
            let cfg = Config::load(config.as_deref())?;
            if let Some(from) = copy_from {
                let from = crate::config::DatabaseUrl::new(from);
                let copied = crate::store::copy::sqlite_to_postgres(&from, &cfg.database_url)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "copying {} into {}: {e}",
                            from.redacted(),
                            cfg.database_url.redacted()
                        )
                    })?;
                tracing::info!(
                    from = %from,
                    to = %cfg.database_url,
                    events = copied.events,
                    operations = copied.operations,
                    budgets = copied.budgets,
                    "database copied"
                );
                println!(
                    "copied {} events, {} operations and {} budgets into {}",
                    copied.events,
                    copied.operations,
                    copied.budgets,
                    cfg.database_url.redacted()
                );
                return Ok(());
            }
            let store = app::open_store(&cfg, true).await?;
            tracing::info!(database = %cfg.database_url, "migrations applied");
            store.close().await;
            Ok(())
        }),
    }
}

fn with_runtime(fut: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hirebridge: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "hirebridge failed");
            eprintln!("hirebridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (Kubernetes) and SIGINT (Ctrl-C) both start a graceful shutdown.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received"),
            () = term => tracing::info!("SIGTERM received"),
        }
        cancel.cancel();
    });
}

fn healthcheck(url: Option<&str>) -> ExitCode {
    let url = url.unwrap_or("http://127.0.0.1:8080/healthz").to_owned();
    with_runtime(async move {
        let res = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .build()?
            .get(&url)
            .send()
            .await?;
        if res.status().as_u16() == 200 {
            Ok(())
        } else {
            anyhow::bail!("{url} answered {}", res.status())
        }
    })
}
