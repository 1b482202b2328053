//! How providers are reached: reqwest with a timeout, behind a private HTTP cache. Discovery
//! documents and key sets are kept for as long as the provider's `Cache-Control` (or `Expires`)
//! allows, by the rules of RFC 9111 as `http-cache-semantics` implements them; the token and
//! userinfo endpoints answer with `no-store` and are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_cache_semantics::{BeforeRequest, CacheOptions, CachePolicy};
use openidconnect::{HttpRequest, HttpResponse};

/// Why a provider could not be asked.
#[derive(Debug)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

struct Cached {
    policy: CachePolicy,
    status: http::StatusCode,
    body: Vec<u8>,
}

/// Cached answers are few (two per provider) and small, so one map under a lock serves.
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl ProviderHttp {
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::outbound::client(timeout)?,
            cache: Arc::default(),
        })
    }

    /// Forgets what is kept for `url`: after a token signed by a key the cached set lacks, the
    /// provider may have rotated its keys before the set's lifetime ran out.
    pub fn forget(&self, url: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(url);
        }
    }

    /// Sends `request`, or answers it from the cache while what is kept there is fresh at `now`.
    pub async fn send(
        &self,
        request: HttpRequest,
        now: SystemTime,
    ) -> Result<HttpResponse, FetchError> {
        let url = request.uri().to_string();
        let cacheable = request.method() == http::Method::GET;
        if cacheable && let Some(response) = self.fresh(&url, &request, now) {
            return Ok(response);
        }
        let (parts, body) = request.into_parts();
        let sent = http::Request::from_parts(parts.clone(), ());
        let mut outgoing = self.client.request(parts.method, &url).body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let answer = outgoing
            .send()
            .await
            .map_err(|error| FetchError(error.without_url().to_string()))?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer
            .bytes()
            .await
            .map_err(|error| FetchError(error.without_url().to_string()))?
            .to_vec();
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        if cacheable && status.is_success() {
            let shape = http::Response::from_parts(response.clone().into_parts().0, ());
            let policy = CachePolicy::new_options(&sent, &shape, now, CacheOptions::default());
            if policy.is_storable() && !policy.time_to_live(now).is_zero() {
                let cached = Cached {
                    policy,
                    status,
                    body: response.body().clone(),
                };
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(url, cached);
                }
            }
        }
        Ok(response)
    }

    fn fresh(&self, url: &str, request: &HttpRequest, now: SystemTime) -> Option<HttpResponse> {
        let cache = self.cache.lock().ok()?;
        let cached = cache.get(url)?;
        match cached.policy.before_request(request, now) {
            BeforeRequest::Fresh(parts) => {
                let mut response = http::Response::from_parts(parts, cached.body.clone());
                *response.status_mut() = cached.status;
                Some(response)
            }
            BeforeRequest::Stale { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::get;

    use super::*;

    /// A server answering `/kept` with `max-age=60` and `/unkept` with `no-store`, counting
    /// what reaches it.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let (kept, unkept) = (hits.clone(), hits.clone());
        let router = Router::new()
            .route(
                "/kept",
                get(async move || {
                    kept.fetch_add(1, Ordering::SeqCst);
                    ([("cache-control", "public, max-age=60")], "keys")
                }),
            )
            .route(
                "/unkept",
                get(async move || {
                    unkept.fetch_add(1, Ordering::SeqCst);
                    ([("cache-control", "no-store")], "tokens")
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://{address}"), hits)
    }

    fn request_for(url: &str) -> HttpRequest {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    #[tokio::test]
    async fn answers_are_kept_as_long_as_their_cache_control_says() {
        let (base, hits) = server().await;
        let http = ProviderHttp::new(Duration::from_secs(5)).unwrap();
        // Ages count from the answer's `Date`, which the server stamps with the real time.
        let t0 = SystemTime::now();
        let kept = format!("{base}/kept");
        for _ in 0..3 {
            let answer = http.send(request_for(&kept), t0).await.unwrap();
            assert_eq!(answer.body(), b"keys");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "fresh for 60 s: asked once");
        http.send(request_for(&kept), t0 + Duration::from_secs(59))
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        http.send(request_for(&kept), t0 + Duration::from_secs(61))
            .await
            .unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "stale after 60 s: asked again"
        );
        http.forget(&kept);
        http.send(request_for(&kept), t0 + Duration::from_secs(62))
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 3, "forgotten: asked again");

        let unkept = format!("{base}/unkept");
        http.send(request_for(&unkept), t0).await.unwrap();
        http.send(request_for(&unkept), t0).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 5, "no-store is never kept");
    }
}
