//! The one-machine default: when `DATABASE_URL` is not set and nothing answers at the default
//! address, Agora runs a private PostgreSQL cluster in `AGORA_DATA_DIR/postgres`. It uses the
//! PostgreSQL already installed when `pg_config` finds one, otherwise `postgresql_embedded`
//! downloads one (cargo feature `embedded-postgres`, on by default; production images leave it
//! out). A cluster another Agora process already started (say, `agora serve` while you
//! run `agora admin ...`) is reused and left running. The process that started a cluster holds
//! a lock on `postgres.lock` beside it for as long as it runs; the kernel lets go of it however
//! the process ends, so a running cluster whose lock is free was orphaned (its owner was killed)
//! and the next process adopts it: stops it and starts it as its own.
//!
//! [`Scratch`] is the test suite's variant: a throwaway cluster of the installed PostgreSQL that
//! also runs for root (as `nobody`), and stops itself once no test process uses it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
#[cfg(feature = "embedded-postgres")]
use postgresql_embedded::{PostgreSQL, Settings};

use crate::config::Config;

#[cfg(feature = "embedded-postgres")]
const DATABASE: &str = "agora";
#[cfg(feature = "embedded-postgres")]
const USER: &str = "postgres";

#[cfg(feature = "embedded-postgres")]
pub struct EmbeddedPostgres {
    /// `None` when the cluster belongs to another process, which will stop it.
    owned: Option<(PostgreSQL, std::fs::File)>,
    url: String,
}

/// Whether to run the embedded cluster: no `DATABASE_URL` given and no server at the default.
pub async fn wanted(config: &Config) -> bool {
    if !config.database_is_default() {
        return false;
    }
    let probe = tokio::net::TcpStream::connect(("127.0.0.1", 5432));
    !matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Ok(_))
    )
}

#[cfg(feature = "embedded-postgres")]
impl EmbeddedPostgres {
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        if is_root() {
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
        let lock_path = data_dir.join("postgres.lock");
        let lock = std::fs::File::create(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        let owner_alive = matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock));
        let running = running_port(&cluster);
        if let (Some(port), true) = (running, owner_alive) {
            tracing::info!(
                port,
                "using the embedded PostgreSQL another agora process runs"
            );
            return Ok(Self {
                owned: None,
                url: url(&password, port),
            });
        }
        if owner_alive {
            bail!(
                "another agora process is starting the embedded PostgreSQL in {}; try again in \
                 a moment",
                cluster.display()
            );
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
        server.setup().await.with_context(|| {
            if source == "downloaded" {
                "no PostgreSQL is installed here (pg_config finds none) and downloading one \
                 failed: install PostgreSQL (apt-get install postgresql), or set DATABASE_URL \
                 to a server you have"
                    .to_owned()
            } else {
                format!("preparing the embedded PostgreSQL ({source})")
            }
        })?;
        if let Some(port) = running {
            tracing::warn!(
                port,
                "the embedded PostgreSQL was left running by an agora process that did not stop \
                 it (killed?): stopping it to start it as this process's own"
            );
            server
                .stop()
                .await
                .context("stopping the orphaned embedded PostgreSQL")?;
        }
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
            owned: Some((server, lock)),
            url: url(&password, port),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the cluster if this process started it.
    pub async fn stop(self) {
        // The lock goes with the server: only once it is stopped may another process start it.
        if let Some((server, _lock)) = self.owned {
            match server.stop().await {
                Ok(()) => tracing::info!("stopped the embedded PostgreSQL"),
                Err(error) => tracing::warn!(%error, "stopping the embedded PostgreSQL failed"),
            }
        }
    }
}

#[cfg(feature = "embedded-postgres")]
fn url(password: &str, port: u16) -> String {
    format!("postgres://{USER}:{password}@127.0.0.1:{port}/{DATABASE}")
}

/// The cluster's password, made on first use and kept beside it (readable by its owner only).
#[cfg(feature = "embedded-postgres")]
fn password(path: &Path) -> anyhow::Result<String> {
    if let Ok(password) = std::fs::read_to_string(path) {
        return Ok(password.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let password = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    std::fs::write(path, &password).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(password)
}

/// The port of a cluster a live postmaster serves from this folder (line 4 of its pid file).
#[cfg(feature = "embedded-postgres")]
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
#[cfg(feature = "embedded-postgres")]
fn installed_postgres() -> Option<PathBuf> {
    installed_bin().and_then(|bin| bin.parent().map(Path::to_path_buf))
}

/// The programs folder of the installed PostgreSQL (`pg_config --bindir`), if it has `initdb`.
fn installed_bin() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|process| process.uid() == 0)
}

/// A scratch cluster in a folder of its own (`data/` in it), for the test suite: the installed
/// PostgreSQL, trusting `postgres` on loopback, without durability (nothing in it outlives a
/// test run). PostgreSQL refuses root, so for root its programs run as `nobody`, which owns the
/// folder.
pub struct Scratch {
    dir: PathBuf,
    bin: PathBuf,
    /// The uid and gid the cluster runs as, when not the caller's.
    owner: Option<(u32, u32)>,
}

impl Scratch {
    /// Prepares `dir` (made if missing); fails with what to install when PostgreSQL is not.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let bin = installed_bin().context(
            "no PostgreSQL at 127.0.0.1:5432 and none installed to start one: \
             apt-get install postgresql (pg_config must find it)",
        )?;
        let owner = if is_root() { Some(nobody()?) } else { None };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            bin,
            owner,
        })
    }

    /// Starts the cluster on `port` (initialised on first use) and waits until it accepts
    /// connections.
    pub fn start(&self, port: u16) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        if !data.join("PG_VERSION").exists() {
            // A half-made folder from an interrupted initdb would make it refuse.
            if data.exists() {
                std::fs::remove_dir_all(&data)?;
            }
            self.run(
                self.program("initdb")
                    .args([
                        "--username=postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--no-sync",
                        "-D",
                    ])
                    .arg(&data),
            )?;
        }
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
             -c max_connections=300 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off"
        );
        self.run(
            self.program("pg_ctl")
                .args(["start", "-w", "-t", "60", "-o", &options, "-l"])
                .arg(self.dir.join("postgres.log"))
                .arg("-D")
                .arg(&data),
        )
    }

    /// Starts a detached watchdog, unless one runs (it holds `watchdog.lock` in the folder),
    /// that stops the cluster once nobody has held a shared lock on `users` for `idle_secs`
    /// seconds. It decides under an exclusive lock on `start_lock`, which whoever starts the
    /// cluster holds too, so a test process arriving meanwhile either finds the cluster running
    /// or starts it again.
    pub fn stop_when_unused(
        &self,
        users: &Path,
        start_lock: &Path,
        idle_secs: u32,
    ) -> anyhow::Result<()> {
        const WATCHDOG: &str = r#"
exec 9>>watchdog.lock
flock -n 9 || exit 0
idle=0
while sleep 1; do
  if flock -n "$1" true; then idle=$((idle + 1)); else idle=0; fi
  [ "$idle" -ge "$3" ] || continue
  flock "$2" flock -n -E 75 "$1" sh -c '"$0" stop -m fast -w -D "$1"; rm -f port' "$4" "$5"
  [ $? -eq 75 ] || exit 0
  idle=0
done
"#;
        let mut watchdog = self.program_at(Path::new("sh"));
        watchdog
            .args(["-c", WATCHDOG, "watchdog"])
            .arg(users)
            .arg(start_lock)
            .arg(idle_secs.to_string())
            .arg(self.bin.join("pg_ctl"))
            .arg(self.dir.join("data"));
        watchdog
            .spawn()
            .context("starting the scratch cluster's watchdog")?;
        Ok(())
    }

    fn program(&self, name: &str) -> Command {
        self.program_at(&self.bin.join(name))
    }

    /// A command run as the cluster's owner, in a process group of its own (so a signal to the
    /// caller's group, as a test runner sends on timeout, leaves the cluster alone) and with no
    /// inherited output (a test runner waits for its children's pipes to close).
    fn program_at(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let output = command
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {:?}", command.get_program()))?;
        if !output.status.success() {
            bail!(
                "{:?} failed ({}): {}",
                command.get_program(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

/// The uid and gid of `nobody`, from /etc/passwd.
fn nobody() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"nobody"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .context("no user `nobody` to run PostgreSQL as (it refuses root)")
}
