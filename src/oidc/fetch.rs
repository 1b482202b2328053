//! How providers are reached: reqwest with a timeout, behind a private HTTP cache. Discovery
//! documents and key sets are kept for as long as the provider's `Cache-Control` (or `Expires`)
//! allows, by the rules of RFC 9111 as `http-cache-semantics` implements them; the token and
//! userinfo endpoints answer with `no-store` and are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_cache_semantics::{BeforeRequest, CachePolicy};
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A provider's endpoints are named by its discovery document; a redirect elsewhere
            // is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
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
            let policy = CachePolicy::new(&sent, &shape);
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
