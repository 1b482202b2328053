//! The HTTP client Agora calls other services with (Stripe, OpenID providers, the quote
//! provider): rustls on ring, every call bounded in time, and no redirect followed, since each
//! service is named by configuration or by its own documents, never by where it points next.

use std::time::Duration;

/// A client whose calls, answer included, give up after `timeout`.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    // reqwest on rustls needs a process-wide crypto provider before its first client; an install
    // after the first is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}
