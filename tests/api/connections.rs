//! The real server's connection handling: a client that dribbles its headers is cut off
//! without slowing anyone else, and connections beyond the limit wait for a free slot.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestApp, eventually};

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
    let server = t.binary(&[("AGORA_HEADER_TIMEOUT_SECS", "1")]).await;
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
    let server = t
        .binary(&[
            ("AGORA_HEADER_TIMEOUT_SECS", "2"),
            ("AGORA_MAX_CONNECTIONS", "2"),
        ])
        .await;
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
    let server = t.binary(&[("AGORA_REQUEST_TIMEOUT_SECS", "1")]).await;
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

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection to `server` from the loopback address `source` (Linux routes all of 127/8 to
/// the loopback interface, so each address acts as another peer).
async fn connect_from(source: [u8; 4], server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket.connect(server).await.unwrap()
}

/// `count` connections from `source`: every `preface_every`-th sends only the HTTP/2 connection
/// preface (none when 0), the others nothing at all.
async fn hogs(
    source: [u8; 4],
    server: std::net::SocketAddr,
    count: usize,
    preface_every: usize,
) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::new();
    for index in 0..count {
        let mut stream = connect_from(source, server).await;
        if preface_every > 0 && index % preface_every == 0 {
            stream.write_all(H2_PREFACE).await.unwrap();
        }
        streams.push(stream);
    }
    streams
}

/// For each of `streams`, when the server closed it, if it did within `limit` (all watched at
/// once).
async fn all_closed_within(
    streams: &mut [tokio::net::TcpStream],
    limit: Duration,
) -> Vec<Option<Instant>> {
    futures::future::join_all(
        streams
            .iter_mut()
            .map(|stream| closed_within(stream, limit)),
    )
    .await
}

/// When the server closed `stream` (end of stream or reset), if it did within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Instant> {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            // The server's HTTP/2 SETTINGS, or a GOAWAY before it closes.
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// `GET /healthz` from `source` on a connection of its own: how long until a 200 came back, or
/// `None` when none did within `limit`.
async fn healthz_from(
    source: [u8; 4],
    server: std::net::SocketAddr,
    limit: Duration,
) -> Option<Duration> {
    let asked = Instant::now();
    let answered = async {
        let mut stream = connect_from(source, server).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: agora\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        answer
            .starts_with(b"HTTP/1.1 200 ")
            .then(|| asked.elapsed())
    };
    tokio::time::timeout(limit, answered).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_peer_holding_the_maximum_of_silent_sockets_does_not_stop_others_being_served() {
    let t = TestApp::new().await;
    let server = t
        .binary(&[
            ("AGORA_MAX_CONNECTIONS", "50"),
            ("AGORA_MAX_CONNECTIONS_PER_ADDRESS", "10"),
        ])
        .await;
    let opened = Instant::now();
    let mut hogs = hogs([127, 0, 0, 1], server.address, 50, 5).await;
    let waited = healthz_from([127, 0, 0, 2], server.address, Duration::from_secs(5))
        .await
        .expect("another peer is answered while one holds 50 silent sockets");
    assert!(waited < Duration::from_secs(1), "answered after {waited:?}");
    let closed = all_closed_within(&mut hogs, Duration::from_millis(500)).await;
    let refused: Vec<Duration> = closed.iter().flatten().map(|at| *at - opened).collect();
    assert_eq!(
        refused.len(),
        40,
        "all but the per-address cap of 10 are closed at once"
    );
    assert!(
        refused.iter().all(|after| *after < Duration::from_secs(1)),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_preface_only_sockets_are_cut_at_the_idle_deadline() {
    let t = TestApp::new().await;
    let server = t
        .binary(&[
            ("AGORA_MAX_CONNECTIONS", "50"),
            ("AGORA_MAX_CONNECTIONS_PER_ADDRESS", "50"),
            ("AGORA_IDLE_TIMEOUT_MS", "300"),
        ])
        .await;
    let opened = Instant::now();
    let mut hogs = hogs([127, 0, 0, 1], server.address, 50, 5).await;
    // Every slot is taken: this connection waits in the listen backlog until the cut.
    let (waited, closed) = tokio::join!(
        healthz_from([127, 0, 0, 1], server.address, Duration::from_secs(5)),
        all_closed_within(&mut hogs, Duration::from_secs(5)),
    );
    let waited = waited.expect("answered once the silent sockets are cut");
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    let cut: Vec<Duration> = closed
        .into_iter()
        .enumerate()
        .map(|(index, closed)| {
            closed.unwrap_or_else(|| panic!("socket {index} was kept for 5 s")) - opened
        })
        .collect();
    // The HTTP/2 ones are sent a GOAWAY first, and dropped when they ignore it for a second.
    let (prefaces, silent): (Vec<_>, Vec<_>) = cut
        .iter()
        .enumerate()
        .partition(|(index, _)| index % 5 == 0);
    let range = |cut: Vec<(usize, &Duration)>| {
        let cut: Vec<Duration> = cut.into_iter().map(|(_, after)| *after).collect();
        (*cut.iter().min().unwrap(), *cut.iter().max().unwrap())
    };
    let (silent, prefaces) = (range(silent), range(prefaces));
    eprintln!(
        "40 silent sockets cut after {:?} to {:?}, 10 HTTP/2 prefaces after {:?} to {:?}; \
         /healthz answered after {waited:?}",
        silent.0, silent.1, prefaces.0, prefaces.1
    );
    assert!(
        silent.0 >= Duration::from_millis(250) && silent.1 < Duration::from_secs(1),
        "{cut:?}"
    );
    assert!(
        prefaces.0 >= Duration::from_millis(250) && prefaces.1 < Duration::from_millis(2500),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keep_alive_connection_is_closed_when_idle_but_not_while_a_request_runs() {
    let t = TestApp::new().await;
    let server = t
        .binary(&[
            ("AGORA_IDLE_TIMEOUT_MS", "300"),
            ("AGORA_REQUEST_TIMEOUT_SECS", "1"),
        ])
        .await;
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: agora\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let read = stream.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200 "));
    let answered = Instant::now();
    let closed = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is closed");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(2),
        "closed after {idle:?} idle"
    );

    // A request in flight (its body never finishes) outlives the idle deadline: it is answered
    // at the request deadline, not cut.
    let mut slow = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let started = Instant::now();
    slow.write_all(
        b"POST /graphql HTTP/1.1\r\nHost: agora\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"",
    )
    .await
    .unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("answered within the request deadline")
        .unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 503 "),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_per_address_cap_are_closed_at_once_except_from_trusted_proxies() {
    let t = TestApp::new().await;
    let server = t
        .binary(&[
            ("AGORA_MAX_CONNECTIONS_PER_ADDRESS", "3"),
            ("AGORA_TRUSTED_PROXIES", "127.0.0.5"),
        ])
        .await;
    let mut held = hogs([127, 0, 0, 3], server.address, 3, 0).await;
    let mut over = connect_from([127, 0, 0, 3], server.address).await;
    assert!(
        closed_within(&mut over, Duration::from_millis(500))
            .await
            .is_some(),
        "the fourth connection from one address is closed at once"
    );
    assert!(
        all_closed_within(&mut held, Duration::from_millis(100))
            .await
            .iter()
            .all(Option::is_none),
        "the first three stay open"
    );
    assert!(
        healthz_from([127, 0, 0, 3], server.address, Duration::from_secs(2))
            .await
            .is_none(),
        "the capped address is refused"
    );
    assert!(
        healthz_from([127, 0, 0, 4], server.address, Duration::from_secs(2))
            .await
            .is_some(),
        "another address is served"
    );
    drop(held.pop());
    eventually(
        Duration::from_secs(2),
        "a closed connection frees its place",
        async || healthz_from([127, 0, 0, 3], server.address, Duration::from_secs(2)).await,
    )
    .await;

    // Behind a proxy every client shares its address: the proxy is not capped.
    let mut proxied = hogs([127, 0, 0, 5], server.address, 6, 0).await;
    assert!(
        all_closed_within(&mut proxied, Duration::from_millis(300))
            .await
            .iter()
            .all(Option::is_none)
    );
    assert!(
        healthz_from([127, 0, 0, 5], server.address, Duration::from_secs(2))
            .await
            .is_some()
    );
}

/// The settings the server's first HTTP/2 SETTINGS frame announces, as (identifier, value).
async fn announced_settings(stream: &mut tokio::net::TcpStream) -> Vec<(u16, u32)> {
    let mut header = [0u8; 9];
    loop {
        stream.read_exact(&mut header).await.unwrap();
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).await.unwrap();
        let is_settings = header[3] == 0x4 && header[4] & 0x1 == 0;
        if is_settings {
            return payload
                .chunks_exact(6)
                .map(|entry| {
                    (
                        u16::from_be_bytes([entry[0], entry[1]]),
                        u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]),
                    )
                })
                .collect();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_settings_bound_what_one_connection_may_hold() {
    let t = TestApp::new().await;
    let server = t.binary(&[]).await;
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    stream.write_all(H2_PREFACE).await.unwrap();
    // An empty SETTINGS frame: the client's half of the handshake.
    stream
        .write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let settings = tokio::time::timeout(Duration::from_secs(5), announced_settings(&mut stream))
        .await
        .expect("the server announces its settings");
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    const INITIAL_WINDOW_SIZE: u16 = 0x4;
    const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    assert!(
        settings.contains(&(MAX_CONCURRENT_STREAMS, 100)),
        "{settings:?}"
    );
    assert!(
        settings.contains(&(INITIAL_WINDOW_SIZE, 256 * 1024)),
        "{settings:?}"
    );
    assert!(
        settings.contains(&(MAX_HEADER_LIST_SIZE, 16 * 1024)),
        "{settings:?}"
    );
}

#[test]
fn connection_limits_and_deadlines_must_be_positive() {
    let valid = agora::config::Config::from_env().unwrap();
    assert!(valid.validate().is_ok());
    let zeroed: [fn(&mut agora::config::Config); 4] = [
        |config| config.max_connections = 0,
        |config| config.max_connections_per_address = 0,
        |config| config.header_timeout_secs = 0,
        |config| config.idle_timeout_ms = 0,
    ];
    for zero in zeroed {
        let mut config = valid.clone();
        zero(&mut config);
        assert!(config.validate().is_err(), "{config:?}");
    }
}
