//! The real binary: SIGTERM stops accepting, lets open work finish up to the deadline, and
//! exits.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{TestApp, free_port};
use crate::subscriptions::{connect, next, send};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_waits_for_requests_in_flight_up_to_the_deadline_then_exits() {
    let t = TestApp::new().await;
    let address: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .env("DATABASE_URL", &t.app.config.database_url)
        .env("AGORA_LISTEN", address.to_string())
        .env("AGORA_SHUTDOWN_DEADLINE_SECS", "2")
        .env("AGORA_DATA_DIR", &t.app.config.data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut socket = connect(address).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    // A request still in flight: its body arrives slowly.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut slow,
        b"POST /graphql HTTP/1.1\r\nHost: agora\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = server.id().unwrap().to_string();
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "no new connections after SIGTERM"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("the server exits after the deadline")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "the request in flight held shutdown until the 2 s deadline: {took:?}"
    );
    assert!(
        next(&mut socket).await.is_none(),
        "the subscription was closed"
    );
}
