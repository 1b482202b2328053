//! The HTTP server loop. axum's `serve` has no header-read timeout, no idle deadline and no
//! connection limit, and its graceful shutdown waits forever; this loop drives hyper directly so
//! it can have all of them:
//!
//! - a client that does not finish its headers in time is disconnected (slowloris);
//! - a connection with no request running is closed after the idle deadline, counted from accept
//!   and from the end of each answer. hyper's header timeout only starts once hyper-util has
//!   read enough bytes to choose HTTP/1 or HTTP/2, and HTTP/2 has no idle limit at all, so a
//!   socket that sends nothing, or only the HTTP/2 preface, would otherwise stay forever;
//! - at most `max_connections` are open at once (further clients wait in the listen backlog), and
//!   at most `max_connections_per_address` from one client address (further ones are closed at
//!   once), so one peer cannot take every slot;
//! - HTTP/2 announces settings that bound what one connection may hold;
//! - on shutdown it stops accepting and gives open requests until the deadline.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Peers exempt from the per-address cap: the reverse proxies every client comes through.
    pub uncapped: Vec<IpAddr>,
    pub shutdown_deadline: Duration,
}

/// HTTP/2 streams one connection may run at once; each is a request like any other.
const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Request bodies a peer may send before the handler reads them: per stream, and in all on one
/// connection whatever its number of streams.
const STREAM_WINDOW: u32 = 256 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// Streams a peer may open and reset before the handler sees them (the "rapid reset" attack)
/// before the connection is closed.
const MAX_PENDING_RESET_STREAMS: usize = 20;
/// After an idle connection is asked to close (an HTTP/2 GOAWAY), how long it may stay silent
/// before it is dropped: a client that ignores the GOAWAY does not keep it.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `router` until `shutdown` resolves, then drains for at most the deadline: open HTTP
/// connections, and `upgraded` (what upgraded connections, which hyper no longer tracks, need to
/// finish). Returns whether everything finished in time.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    upgraded: impl Future<Output = ()>,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEADER_LIST_BYTES)
        .max_pending_accept_reset_streams(MAX_PENDING_RESET_STREAMS);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let addresses = Arc::new(Addresses {
        cap: limits.max_connections_per_address,
        uncapped: limits.uncapped,
        open: Mutex::default(),
    });
    let stopping = watch::Sender::new(false);
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, remote, slot)) = accepted else {
            continue;
        };
        let Some(admission) = addresses.admit(remote.ip()).map(|place| Admission {
            _place: place,
            _slot: slot,
        }) else {
            tracing::debug!(%remote, "closed: too many connections from this address");
            crate::metrics::connection_closed("per_address_cap");
            continue;
        };
        let (running, requests) = Running::channel();
        let service = hyper::service::service_fn({
            let router = router.clone();
            move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                let request_running = running.start();
                let answer = router.clone().oneshot(request);
                async move {
                    let response = answer.await?;
                    Ok::<_, Infallible>(response.map(|body| {
                        Body::new(Tracked {
                            body,
                            _running: request_running,
                        })
                    }))
                }
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let mut stopping = stopping.subscribe();
        let idle_timeout = limits.idle_timeout;
        connections.spawn(async move {
            let mut connection = pin!(connection);
            // Errors here are clients that went away or timed out; nothing to answer.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = idle(requests.clone(), idle_timeout) => {
                    crate::metrics::connection_closed("idle");
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        () = idle(requests, IDLE_CLOSE_GRACE) => {}
                    }
                }
                // The guard `wait_for` returns must not live across an await.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(admission);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    connections.close();
    let drained = async { tokio::join!(connections.wait(), upgraded) };
    tokio::time::timeout(limits.shutdown_deadline, drained)
        .await
        .is_ok()
}

async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, remote)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, remote, slot))
        }
        Err(error) => {
            // Out of file descriptors, say: wait a little rather than spin.
            tracing::warn!(%error, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Resolves once no request has been running on the connection for `timeout`.
async fn idle(mut requests: watch::Receiver<usize>, timeout: Duration) {
    loop {
        let running = *requests.borrow_and_update();
        let changed = if running == 0 {
            match tokio::time::timeout(timeout, requests.changed()).await {
                Ok(changed) => changed,
                Err(_) => return,
            }
        } else {
            requests.changed().await
        };
        if changed.is_err() {
            // The connection, which owns the sender, is gone.
            return;
        }
    }
}

/// Counts the requests running on one connection.
#[derive(Clone)]
struct Running(Arc<watch::Sender<usize>>);

impl Running {
    fn channel() -> (Self, watch::Receiver<usize>) {
        let (sender, receiver) = watch::channel(0);
        (Self(Arc::new(sender)), receiver)
    }

    fn start(&self) -> RequestRunning {
        self.0.send_modify(|running| *running += 1);
        RequestRunning(self.clone())
    }
}

/// One running request: from its arrival until its answer is sent, or it is abandoned.
struct RequestRunning(Running);

impl Drop for RequestRunning {
    fn drop(&mut self) {
        (self.0).0.send_modify(|running| *running -= 1);
    }
}

/// A response body that keeps its request counted as running until hyper has sent all of it
/// (and drops it), so a slow download is not cut as idle.
struct Tracked {
    body: Body,
    _running: RequestRunning,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Open connections per client address.
struct Addresses {
    cap: usize,
    uncapped: Vec<IpAddr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Addresses {
    /// A place for one more connection from `peer`, or `None` when its address has its cap.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Place> {
        let peer = peer.to_canonical();
        if self.uncapped.contains(&peer) {
            return Some(Place(None));
        }
        let key = address_key(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Place(Some((self.clone(), key))))
    }
}

/// What an open connection holds until it closes. Fields drop in declaration order: the place
/// before the slot, because a freed slot lets the accept loop admit the next client at once, and
/// that client must not find this one still counted against its address.
struct Admission {
    _place: Place,
    _slot: OwnedSemaphorePermit,
}

/// A connection's share of its address's cap, given back when it closes.
struct Place(Option<(Arc<Addresses>, IpAddr)>);

impl Drop for Place {
    fn drop(&mut self) {
        let Some((addresses, key)) = self.0.take() else {
            return;
        };
        let mut open = addresses
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// What the per-address cap counts by: an IPv4 address, or an IPv6 /64, the block one
/// subscriber is usually given (so a peer cannot step around the cap within its own network).
fn address_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(cap: usize, uncapped: &[&str]) -> Arc<Addresses> {
        Arc::new(Addresses {
            cap,
            uncapped: uncapped.iter().map(|ip| ip.parse().unwrap()).collect(),
            open: Mutex::default(),
        })
    }

    #[test]
    fn the_cap_counts_ipv4_addresses_and_ipv6_networks() {
        let addresses = addresses(2, &["10.0.0.1"]);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let first = addresses.admit(ip("2001:db8:1:2::1")).unwrap();
        let _second = addresses.admit(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert!(addresses.admit(ip("2001:db8:1:2::77")).is_none());
        assert!(addresses.admit(ip("2001:db8:1:3::1")).is_some());
        drop(first);
        assert!(addresses.admit(ip("2001:db8:1:2::77")).is_some());

        let _v4 = addresses.admit(ip("192.0.2.1")).unwrap();
        let _mapped = addresses.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(addresses.admit(ip("192.0.2.1")).is_none());
        assert!(addresses.admit(ip("192.0.2.2")).is_some());

        let proxied: Vec<_> = (0..5)
            .map(|_| addresses.admit(ip("::ffff:10.0.0.1")).unwrap())
            .collect();
        assert_eq!(proxied.len(), 5);
    }

    /// A client waiting for a slot is admitted as soon as one frees, from the same address as the
    /// connection that freed it, even when the cap is one. Before the order was fixed, some of these
    /// rounds found the closed connection still counted.
    #[test]
    fn a_freed_slot_never_finds_its_connection_still_counted() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let addresses = addresses(1, &[]);
            let slots = Arc::new(Semaphore::new(1));
            let peer: IpAddr = "192.0.2.1".parse().unwrap();
            let admit = move |addresses: Arc<Addresses>, slot| {
                addresses.admit(peer).map(|place| Admission {
                    _place: place,
                    _slot: slot,
                })
            };
            let mut refused = 0;
            for _ in 0..5000 {
                let slot = slots.clone().acquire_owned().await.unwrap();
                let open = admit(addresses.clone(), slot).unwrap();
                let next = tokio::spawn({
                    let (slots, addresses) = (slots.clone(), addresses.clone());
                    async move { admit(addresses, slots.acquire_owned().await.unwrap()) }
                });
                tokio::task::yield_now().await;
                drop(open);
                refused += usize::from(next.await.unwrap().is_none());
            }
            assert_eq!(refused, 0, "rounds whose next client was refused");
        });
    }

    #[test]
    fn a_closed_connection_leaves_no_entry_behind() {
        let addresses = addresses(3, &[]);
        let place = addresses.admit("192.0.2.1".parse().unwrap()).unwrap();
        drop(place);
        assert!(addresses.open.lock().unwrap().is_empty());
    }
}
