//! The `agora` binary: the command line (serve, migrate, schema, admin), logging, the background
//! jobs, and the server's start and graceful stop around `agora::http`.

use std::time::Duration;

use agora::App;
use agora::admin::AdminCommand;
use agora::config::{Config, DEFAULT_DATABASE_URL};
#[cfg(feature = "embedded-postgres")]
use agora::db::embedded::EmbeddedPostgres;
use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// glibc keeps a per-thread arena for every thread that hashed a password (19 MiB each) and
/// rarely gives it back; mimalloc returns freed memory and allocates faster (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "agora", version, about = "Agora GraphQL server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL over HTTP (the default).
    Serve(Box<ServeArgs>),
    /// Create the database if missing and apply pending migrations, then exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
    /// Administer accounts from the shell (the first admin, scripts without a token).
    Admin {
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // An error that stops the program is the user's to act on: what failed and why, on
            // one line. RUST_BACKTRACE is for panics, not for a port that is taken.
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", agora::graphql::sdl());
            Ok(())
        }
        Some(Command::Migrate { database_url }) => {
            init_tracing(false, None);
            let mut config = Config::from_env()?;
            config.database_url = database_url;
            with_database(config, async |config| {
                agora::db::ensure_database_exists(&config.database_url).await?;
                let applied = agora::db::run_migrations(&config.database_url).await?;
                tracing::info!(applied, "migrations up to date");
                Ok(())
            })
            .await
        }
        Some(Command::Serve(args)) => serve(args.config).await,
        Some(Command::Admin {
            database_url,
            command,
        }) => {
            init_tracing(false, None);
            let mut config = Config::from_env()?;
            config.database_url = database_url;
            with_database(config, async |config| {
                let app = App::build(config).await?;
                agora::admin::run(&app, command, read_password, &mut std::io::stdout()).await
            })
            .await
        }
        None => serve(Config::from_env()?).await,
    }
}

/// Runs `work` against the configured database, or against the embedded PostgreSQL when no
/// `DATABASE_URL` is set and nothing answers at the default address (stopped afterwards if this
/// process started it).
async fn with_database(
    config: Config,
    work: impl AsyncFnOnce(Config) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if config.is_production() && config.database_is_default() && !config.allow_local_database {
        anyhow::bail!(
            "AGORA_ENV=production needs DATABASE_URL: without it this would use a local default \
             database (127.0.0.1:5432, or an embedded PostgreSQL under {}). Set DATABASE_URL, \
             or AGORA_ALLOW_LOCAL_DATABASE=true if a local database is what you want",
            config.data_dir.display()
        );
    }
    if !agora::db::embedded::wanted(&config).await {
        return work(config).await;
    }
    #[cfg(feature = "embedded-postgres")]
    {
        let mut config = config;
        let embedded = EmbeddedPostgres::start(&config.data_dir).await?;
        config.database_url = embedded.url().to_owned();
        let outcome = work(config).await;
        embedded.stop().await;
        outcome
    }
    #[cfg(not(feature = "embedded-postgres"))]
    anyhow::bail!(
        "no DATABASE_URL and no PostgreSQL at 127.0.0.1:5432, and this build has no embedded \
         PostgreSQL (cargo feature `embedded-postgres`): set DATABASE_URL"
    )
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let traces = agora::telemetry::start(&config)?;
    init_tracing(config.is_production(), traces.as_ref());
    // Said by the server only: tokens it signs die with it. An admin command signs none, so a
    // warning there on every run would be noise.
    if config.secret.is_none() {
        tracing::warn!(
            "AGORA_SECRET is not set: using a random key, so tokens do not survive a restart"
        );
    }
    if config.is_production() && config.smtp_url.is_none() {
        tracing::warn!(
            "AGORA_ENV=production without SMTP_URL: no mail leaves this server (welcome, \
             verification and reset mails are written as .eml files under {}); set SMTP_URL",
            config.data_dir.join("mail").display()
        );
    }
    // Before the database: a taken port is reported at once, not after migrations ran.
    let listener = listen(&config.listen, "AGORA_LISTEN").await?;
    let metrics = match config.metrics_listen() {
        Some(address) => Some(listen(address, "AGORA_METRICS_LISTEN").await?),
        None => None,
    };
    let served = with_database(config, async move |config| {
        run_server(config, listener, metrics).await
    })
    .await;
    if let Some(traces) = traces {
        traces.shutdown();
    }
    served
}

async fn listen(address: &str, setting: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {address} ({setting}): another process may hold the port, or \
                 the host is not this machine's; choose another address with {setting}"
            )
        })
}

async fn run_server(
    mut config: Config,
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    // Mailed links default to this address: a port of 0 or a host name is only known now.
    config.listen = listen.to_string();
    let app = App::build(config).await?;
    if let Some(metrics) = metrics {
        tracing::info!(
            "serving metrics on http://{}/metrics",
            metrics.local_addr()?
        );
        let mut stopping = app.stopping.subscribe();
        let router = agora::http::metrics_router(app.clone());
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(metrics, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }
    tokio::spawn(agora::habits::run_archive_job(app.clone()));
    tokio::spawn(agora::reminders::run_reminder_job(app.clone()));
    tokio::spawn(agora::mail::sender::run_outbox(app.clone()));
    tokio::spawn(agora::cleanup::run_cleanup_job(app.clone()));
    tokio::spawn(agora::webhooks::run_delivery_job(app.clone()));
    if app.stripe.is_some() {
        tokio::spawn(agora::payments::run_reconcile_job(app.clone()));
    }
    if app.quotes.is_some() {
        tokio::spawn(agora::quotes::run_fetch_job(app.clone()));
    }
    let idle_limits = app.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticks.tick().await;
            idle_limits.limits.forget_idle();
        }
    });
    let router = agora::http::router(app.clone());
    tracing::info!("serving GraphQL on http://{listen}/graphql");
    let limits = agora::http::server::Limits {
        header_read_timeout: Duration::from_secs(app.config.header_timeout_secs),
        idle_timeout: Duration::from_millis(app.config.idle_timeout_ms),
        max_connections: app.config.max_connections,
        max_connections_per_address: app.config.max_connections_per_address,
        uncapped: app.config.trusted_proxies()?,
        shutdown_deadline: Duration::from_secs(app.config.shutdown_deadline_secs),
    };
    let stopping = app.clone();
    let shutdown = async move {
        shutdown_signal().await;
        stopping.stopping.send_replace(true);
    };
    let sockets = app.sockets.clone();
    let sockets_closed = async move {
        sockets.close();
        sockets.wait().await;
    };
    // The drain is bounded: at the deadline the process exits and closes whatever is still open.
    if !agora::http::server::serve(listener, router, limits, shutdown, sockets_closed).await {
        tracing::warn!("connections still open at the shutdown deadline; closing them");
    }
    app.pool.close();
    tracing::info!("stopped");
    Ok(())
}

/// Prompts without echo on a terminal; reads one line from a pipe, so scripts can supply it.
fn read_password() -> std::io::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line)
    }
}

fn init_tracing(json: bool, traces: Option<&agora::telemetry::Exporting>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(traces) = traces {
        return init_tracing_with(json, filter, traces);
    }
    // stderr, so command output on stdout (list-users, schema) stays clean for pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // The request span is printed once, as the line's "span"; a list of its ancestors
        // would repeat it on every line (it has none) at a tenth of a request's CPU.
        builder.json().with_span_list(false).init();
    } else {
        builder.init();
    }
}

/// The log as `init_tracing` makes it, filtered apart from the OpenTelemetry layer beside it: the
/// layer sees the request span whatever `RUST_LOG` says, and the log never sees the spans made
/// for traces alone (an event inside one still prints the request span, with its ids).
fn init_tracing_with(json: bool, filter: EnvFilter, traces: &agora::telemetry::Exporting) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match format!("{}=off", agora::telemetry::TARGET).parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log = if json {
        log.json().with_span_list(false).boxed()
    } else {
        log.boxed()
    };
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(traces.layer())
        .init();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
