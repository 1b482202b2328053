//! The quote provider over HTTP (`AGORA_QUOTES_URL`): one GET, its answer read up to a size
//! limit. Nothing here logs the URL, which may carry the provider's key, or the answer.

use std::time::Duration;

use super::rules::MAX_ANSWER_BYTES;

pub struct Provider {
    http: reqwest::Client,
    url: String,
}

/// Why a fetch brought back no answer to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// No connection, or it broke off; the error, without the URL.
    Unreachable(String),
    /// No whole answer within `AGORA_QUOTES_TIMEOUT_SECS`.
    TimedOut,
    /// An answer other than 2xx (a redirect included: none is followed).
    Status(u16),
    /// A body over [`MAX_ANSWER_BYTES`].
    TooLarge,
}

impl Provider {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: crate::outbound::client(timeout)?,
            url: url.to_owned(),
        })
    }

    /// The provider's answer body; never more than [`MAX_ANSWER_BYTES`] are held, whether or
    /// not the answer says its length.
    pub async fn fetch(&self) -> Result<Vec<u8>, Unanswered> {
        let mut response = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unanswered)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Unanswered::Status(status.as_u16()));
        }
        let too_large = |length: usize| length > MAX_ANSWER_BYTES;
        if response
            .content_length()
            .is_some_and(|length| usize::try_from(length).map_or(true, too_large))
        {
            return Err(Unanswered::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unanswered)? {
            if too_large(body.len() + chunk.len()) {
                return Err(Unanswered::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn unanswered(error: reqwest::Error) -> Unanswered {
    if error.is_timeout() {
        return Unanswered::TimedOut;
    }
    let error = error.without_url();
    // reqwest's message names only the step that failed; the cause (refused, reset, a name
    // that does not resolve) is in its sources.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Unanswered::Unreachable(detail)
}
