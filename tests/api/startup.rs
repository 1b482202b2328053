//! Starting the binary: the listen address is taken before anything else happens, a host name
//! is a valid address, and a taken port is reported with the address that was asked for (a
//! message for the user, without a backtrace even under RUST_BACKTRACE).

use std::time::Duration;

use crate::common::{FreshDatabase, Server, database_exists, eventually, free_port, http_client};

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_named_and_refused_before_the_database_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let database = FreshDatabase::new();
    let mut server = Server::spawn(&[
        ("AGORA_LISTEN", address.as_str()),
        ("DATABASE_URL", database.url().as_str()),
        ("RUST_BACKTRACE", "1"),
    ]);
    let (status, logs) = server.exit_logs(Duration::from_secs(30)).await;
    assert!(!status.success());
    let logs = logs.join("\n");
    assert!(logs.contains("in use"), "the cause is given: {logs}");
    assert!(logs.contains(&address), "the address is named: {logs}");
    assert!(
        logs.contains("AGORA_LISTEN"),
        "the setting is named: {logs}"
    );
    assert!(
        !logs.contains("backtrace"),
        "a mistake in the settings is not a crash: {logs}"
    );
    assert!(
        !database_exists(&database.name).await,
        "nothing was created or migrated before the port was known to be free"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_name_is_a_listen_address() {
    let listen = format!("localhost:{}", free_port());
    let database = FreshDatabase::new();
    let _server = Server::spawn(&[
        ("AGORA_LISTEN", listen.as_str()),
        ("DATABASE_URL", database.url().as_str()),
    ]);
    let http = http_client();
    eventually(
        Duration::from_secs(60),
        "the server on a named host",
        async || {
            let answer = http
                .get(format!("http://{listen}/healthz"))
                .send()
                .await
                .ok()?;
            answer.status().is_success().then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_is_named_without_its_password() {
    let nowhere = format!("127.0.0.1:{}", free_port());
    let url = format!("postgres://postgres:hunter2@{nowhere}/agora");
    let mut server = Server::spawn(&[("DATABASE_URL", url.as_str())]);
    let (status, logs) = server.exit_logs(Duration::from_secs(30)).await;
    assert!(!status.success());
    let logs = logs.join("\n");
    assert!(logs.contains(&nowhere), "the server tried is named: {logs}");
    assert!(
        logs.contains("DATABASE_URL"),
        "the setting is named: {logs}"
    );
    assert!(
        !logs.contains("hunter2"),
        "the password stays out of the log: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_that_does_not_answer_is_a_warning_at_start_not_a_refusal() {
    let t = crate::common::TestApp::new().await;
    let nowhere = format!("127.0.0.1:{}", free_port());
    let url = format!("redis://:sesame@{nowhere}");
    let server = t.binary(&[("REDIS_URL", url.as_str())]).await;
    let logs = eventually(
        Duration::from_secs(10),
        "a warning about Redis",
        async || {
            let logs = server.logs().join("\n");
            logs.contains("REDIS_URL").then_some(logs)
        },
    )
    .await;
    assert!(logs.contains(&nowhere), "the server tried is named: {logs}");
    assert!(
        !logs.contains("sesame"),
        "the password stays out of the log: {logs}"
    );
    assert_eq!(server.get("/healthz").await.0, 200);
}

/// Production never falls back to a local default database: a forgotten DATABASE_URL is a
/// refusal naming it (unless the local database is asked for), and mail that would only be
/// written to files is a warning at start.
#[tokio::test(flavor = "multi_thread")]
async fn production_needs_a_database_url_and_warns_without_smtp() {
    let production = [
        ("AGORA_ENV", "production"),
        (
            "AGORA_SECRET",
            "test secret, long enough for production rules",
        ),
        ("AGORA_PUBLIC_URL", "https://agora.example"),
    ];
    let mut forgotten = Server::spawn(&production);
    let (status, logs) = forgotten.exit_logs(Duration::from_secs(30)).await;
    assert!(!status.success());
    let logs = logs.join("\n");
    assert!(logs.contains("needs DATABASE_URL"), "{logs}");
    assert!(logs.contains("AGORA_ALLOW_LOCAL_DATABASE"), "{logs}");

    let database = FreshDatabase::new();
    let url = database.url();
    let mut with_url = production.to_vec();
    with_url.push(("DATABASE_URL", url.as_str()));
    let server = Server::start(&with_url).await;
    let warned = server.logs().join("\n");
    assert!(warned.contains("without SMTP_URL"), "{warned}");
}

/// Without AGORA_DATA_DIR, files go under the user's data folder, wherever the binary starts.
#[tokio::test(flavor = "multi_thread")]
async fn the_data_folder_is_the_users_not_the_working_directorys() {
    let port = free_port();
    let home = std::env::temp_dir().join(format!("agora_home_{port}"));
    std::fs::create_dir_all(&home).unwrap();
    let database = FreshDatabase::new();
    let url = database.url();
    let listen = format!("127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .current_dir(&home)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("DATABASE_URL", &url)
        .env("AGORA_LISTEN", &listen)
        .env("AGORA_METRICS_LISTEN", "off")
        .env("AGORA_OUTBOX_POLL_MS", "100")
        .env("AGORA_ARGON2_M_KIB", "256")
        .env("AGORA_ARGON2_T", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = http_client();
    let register = serde_json::json!({
        "query": "mutation { register(input: {username: \"ada\", email: \"ada@example.com\", password: \"correct horse battery staple\"}) { user { id } } }"
    });
    eventually(Duration::from_secs(60), "a registration", async || {
        let answer = http
            .post(format!("http://{listen}/graphql"))
            .json(&register)
            .send()
            .await
            .ok()?;
        answer.status().is_success().then_some(())
    })
    .await;
    let mail = home.join(".local/share/agora/mail");
    eventually(
        Duration::from_secs(30),
        "the welcome mail on disk",
        async || {
            let mut entries = std::fs::read_dir(&mail).ok()?;
            entries.next().map(|_| ())
        },
    )
    .await;
    assert!(!home.join("data").exists(), "nothing in ./data");
    server.kill().await.unwrap();
    std::fs::remove_dir_all(&home).unwrap();
}
