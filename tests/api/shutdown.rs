//! The real binary: SIGTERM stops accepting, lets open work finish up to the deadline, and
//! exits.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestApp;
use crate::common::eventually;
use crate::subscriptions::{Socket, connect, next, send, subscribe_as, subscribed};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_waits_for_requests_in_flight_up_to_the_deadline_then_exits() {
    let t = TestApp::new().await;
    let mut server = t.binary(&[("AGORA_SHUTDOWN_DEADLINE_SECS", "2")]).await;
    let address = server.address;
    let mut socket = connect(address).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    // A request still in flight: its body arrives slowly.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    // `Expect: 100-continue` makes the server say when the handler starts reading the body:
    // after that the request is in flight, not a keep-alive connection that shutdown may close
    // at once (which it was, when the signal overtook these bytes on a busy machine).
    tokio::io::AsyncWriteExt::write_all(
        &mut slow,
        b"POST /graphql HTTP/1.1\r\nHost: agora\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut interim = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut slow, &mut interim)
        .await
        .unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100");
    tokio::io::AsyncWriteExt::write_all(&mut slow, b"{\"query\"")
        .await
        .unwrap();

    let closed_with = tokio::spawn(async move {
        let (code, after) = close_code(socket, Instant::now()).await;
        assert!(
            after < Duration::from_secs(1),
            "closed {after:?} after SIGTERM"
        );
        code
    });
    let pid = server.process.id().unwrap().to_string();
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    eventually(
        Duration::from_secs(1),
        "no new connections after SIGTERM",
        async || {
            tokio::net::TcpStream::connect(address)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    let status = tokio::time::timeout(Duration::from_secs(10), server.process.wait())
        .await
        .expect("the server exits after the deadline")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "the request in flight held shutdown until the 2 s deadline: {took:?}"
    );
    assert_eq!(
        closed_with.await.unwrap(),
        Some(1001),
        "subscriptions are told the server is going away"
    );
}

/// The close code the server ends `socket` with, and how soon after `since`.
async fn close_code(mut socket: Socket, since: Instant) -> (Option<u16>, Duration) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await
    {
        match message {
            Ok(Message::Close(frame)) => {
                return (frame.map(|frame| u16::from(frame.code)), since.elapsed());
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    (None, since.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_subscriptions_as_going_away_and_exits_without_waiting_for_them() {
    let t = TestApp::new().await;
    let mut server = t.binary(&[("AGORA_SHUTDOWN_DEADLINE_SECS", "10")]).await;
    let watcher = t.user("watcher").await;
    let mut socket = connect(server.address).await;
    subscribe_as(
        &mut socket,
        &watcher.access,
        "subscription { marketEvents { kind } }",
    )
    .await;
    subscribed(&mut socket).await;
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &server.process.id().unwrap().to_string()])
        .status()
        .unwrap();
    let (code, after) = close_code(socket, signalled).await;
    assert_eq!(code, Some(1001));
    assert!(
        after < Duration::from_secs(1),
        "closed {after:?} after SIGTERM"
    );
    let status = tokio::time::timeout(Duration::from_secs(5), server.process.wait())
        .await
        .expect("nothing left to drain: the server exits well before its 10 s deadline")
        .unwrap();
    assert!(status.success(), "{status}");
}
