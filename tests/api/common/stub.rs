//! An HTTP server of the test's own on a free loopback port, standing in for a service Agora
//! calls (a quote provider): every request, whatever its path, is counted and answered with the
//! [`Answer`] set last.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;

/// What the stub answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// How long it waits before answering.
    pub delay: Duration,
    /// Sent in chunks without a `Content-Length`, so only reading tells its size.
    pub streamed: bool,
}

impl Answer {
    pub fn json(value: &serde_json::Value) -> Self {
        Self::new(200, "application/json", value.to_string())
    }

    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            delay: Duration::ZERO,
            streamed: false,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }

    fn response(self) -> Response {
        let body = if self.streamed {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = self
                .body
                .chunks(64 * 1024)
                .map(|chunk| Ok(chunk.to_vec()))
                .collect();
            Body::from_stream(futures::stream::iter(chunks))
        } else {
            Body::from(self.body)
        };
        Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap())
            .header(header::CONTENT_TYPE, self.content_type)
            .body(body)
            .unwrap()
    }
}

pub struct StubServer {
    port: u16,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl StubServer {
    pub async fn start(answer: Answer) -> Self {
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(AtomicUsize::new(0));
        let (current, counted) = (answer.clone(), requests.clone());
        let router = axum::Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = current.lock().unwrap().clone();
            async move {
                tokio::time::sleep(answer.delay).await;
                answer.response()
            }
        });
        let (port, server) = super::serve_on_loopback(router).await;
        Self {
            port,
            answer,
            requests,
            server,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What every request from now on is answered with.
    pub fn answer_with(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// How many requests reached it so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
