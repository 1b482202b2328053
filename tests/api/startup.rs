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
