//! The one-machine default: when `DATABASE_URL` is not set and nothing answers at the default
//! address, Agora runs a private PostgreSQL cluster in `AGORA_DATA_DIR/postgres`. It uses the
//! PostgreSQL already installed when `pg_config` finds one, otherwise `postgresql_embedded`
//! downloads one. A cluster another Agora process already started (say, `agora serve` while you
//! run `agora admin ...`) is reused and left running.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use postgresql_embedded::{PostgreSQL, Settings};

use crate::config::DEFAULT_DATABASE_URL;

const DATABASE: &str = "agora";
const USER: &str = "postgres";

pub struct EmbeddedPostgres {
    /// `None` when the cluster belongs to another process, which will stop it.
    owned: Option<PostgreSQL>,
    url: String,
}

/// Whether to run the embedded cluster: no `DATABASE_URL` given and no server at the default.
pub async fn wanted(database_url: &str) -> bool {
    if std::env::var_os("DATABASE_URL").is_some() || database_url != DEFAULT_DATABASE_URL {
        return false;
    }
    let probe = tokio::net::TcpStream::connect(("127.0.0.1", 5432));
    !matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Ok(_))
    )
}

impl EmbeddedPostgres {
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        if std::fs::metadata("/proc/self").is_ok_and(|process| process.uid() == 0) {
            bail!(
                "no DATABASE_URL and no PostgreSQL at 127.0.0.1:5432, and the embedded PostgreSQL \
                 refuses to run as root: run agora as an unprivileged user, or set DATABASE_URL"
            );
        }
        let cluster = data_dir.join("postgres");
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let password_file = data_dir.join("postgres.password");
        let password = password(&password_file)?;
        if let Some(port) = running_port(&cluster) {
            tracing::info!(
                port,
                "using the embedded PostgreSQL another agora process runs"
            );
            return Ok(Self {
                owned: None,
                url: url(&password, port),
            });
        }
        let mut settings = Settings {
            data_dir: cluster.clone(),
            password_file,
            password: password.clone(),
            username: USER.to_owned(),
            host: "127.0.0.1".to_owned(),
            temporary: false,
            // The default socket folder (/var/run/postgresql) is not ours to write.
            socket_dir: Some(cluster.join("socket")),
            timeout: Some(Duration::from_secs(30)),
            ..Settings::default()
        };
        if let Some(installed) = installed_postgres() {
            settings.installation_dir = installed;
            settings.trust_installation_dir = true;
        }
        let source = if settings.trust_installation_dir {
            format!("installed in {}", settings.installation_dir.display())
        } else {
            "downloaded".to_owned()
        };
        // The download goes through reqwest on rustls, which needs a process-wide crypto provider
        // (ring, as lettre uses); an already installed one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut server = PostgreSQL::new(settings);
        server
            .setup()
            .await
            .context("preparing the embedded PostgreSQL")?;
        server
            .start()
            .await
            .context("starting the embedded PostgreSQL")?;
        if !server.database_exists(DATABASE).await? {
            server.create_database(DATABASE).await?;
        }
        let port = server.settings().port;
        tracing::info!(
            cluster = %cluster.display(),
            port,
            postgres = %source,
            "no DATABASE_URL and no server at 127.0.0.1:5432: started an embedded PostgreSQL"
        );
        Ok(Self {
            owned: Some(server),
            url: url(&password, port),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the cluster if this process started it.
    pub async fn stop(self) {
        if let Some(server) = self.owned {
            match server.stop().await {
                Ok(()) => tracing::info!("stopped the embedded PostgreSQL"),
                Err(error) => tracing::warn!(%error, "stopping the embedded PostgreSQL failed"),
            }
        }
    }
}

fn url(password: &str, port: u16) -> String {
    format!("postgres://{USER}:{password}@127.0.0.1:{port}/{DATABASE}")
}

/// The cluster's password, made on first use and kept beside it (readable by its owner only).
fn password(path: &Path) -> anyhow::Result<String> {
    if let Ok(password) = std::fs::read_to_string(path) {
        return Ok(password.trim().to_owned());
    }
    let password = crate::auth::tokens::random_secret();
    std::fs::write(path, &password).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(password)
}

/// The port of a cluster a live postmaster serves from this folder (line 4 of its pid file).
fn running_port(cluster: &Path) -> Option<u16> {
    let pid_file = std::fs::read_to_string(cluster.join("postmaster.pid")).ok()?;
    let mut lines = pid_file.lines();
    let pid = lines.next()?.trim();
    if !Path::new("/proc").join(pid).exists() {
        return None;
    }
    lines.nth(2)?.trim().parse().ok()
}

/// The installation `pg_config` reports (the parent of its `--bindir`).
fn installed_postgres() -> Option<PathBuf> {
    let output = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()?;
    let bin = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    bin.join("initdb")
        .exists()
        .then(|| bin.parent().map(Path::to_path_buf))
        .flatten()
}
