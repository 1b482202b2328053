//! The real server's connection handling: a client that dribbles its headers is cut off
//! without slowing anyone else, and connections beyond the limit wait for a free slot.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Server, TestApp};

/// Opens a connection and sends half a request's headers, then nothing.
async fn dribble(address: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: agora\r\n")
        .await
        .unwrap();
    stream
}

/// How long until the server closes `stream` (reads until end of stream or reset).
async fn closed_after(mut stream: tokio::net::TcpStream, started: Instant) -> Duration {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept a slow client for 10 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_slow_to_send_headers_is_cut_off_without_slowing_others() {
    let t = TestApp::new().await;
    let server = Server::start(&[
        ("DATABASE_URL", &t.app.config.database_url),
        ("AGORA_HEADER_TIMEOUT_SECS", "1"),
    ])
    .await;
    let started = Instant::now();
    let slow = dribble(server.address).await;
    let cut = tokio::spawn(closed_after(slow, started));
    for _ in 0..10 {
        let asked = Instant::now();
        server
            .gql(None, "{ __typename }", json!({}))
            .await
            .assert_ok();
        assert!(asked.elapsed() < Duration::from_millis(500));
    }
    let after = cut.await.unwrap();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "cut off after {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let t = TestApp::new().await;
    let server = Server::start(&[
        ("DATABASE_URL", &t.app.config.database_url),
        ("AGORA_HEADER_TIMEOUT_SECS", "2"),
        ("AGORA_MAX_CONNECTIONS", "2"),
    ])
    .await;
    // `listening` probed with a connection of its own; let the server see it close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let hogs = [dribble(server.address).await, dribble(server.address).await];
    let waited = Instant::now();
    server
        .gql(None, "{ __typename }", json!({}))
        .await
        .assert_ok();
    let waited = waited.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "served only once the slow clients were cut off: {waited:?}"
    );
    for hog in hogs {
        assert!(closed_after(hog, started).await < Duration::from_secs(4));
    }
    let asked = Instant::now();
    server
        .gql(None, "{ __typename }", json!({}))
        .await
        .assert_ok();
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "slots are free again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_whose_body_never_finishes_is_answered_at_the_request_deadline() {
    let t = TestApp::new().await;
    let server = Server::start(&[
        ("DATABASE_URL", &t.app.config.database_url),
        ("AGORA_REQUEST_TIMEOUT_SECS", "1"),
    ])
    .await;
    let mut slow = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let started = Instant::now();
    slow.write_all(
        b"POST /graphql HTTP/1.1\r\nHost: agora\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("answered within the deadline")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#""code":"SERVICE_UNAVAILABLE""#),
        "{answer}"
    );
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "{after:?}"
    );
}
