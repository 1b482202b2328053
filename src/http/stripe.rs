//! `POST /webhooks/stripe`: Stripe's signed event deliveries. The answer tells Stripe whether
//! to deliver again: 2xx taken (or not ours to act on), 400 refused for good (a bad signature,
//! whose payload is never logged), 503 not now, 404 when payments are off.

use axum::extract::{Request, State};
use axum::http::StatusCode;

use super::{HttpState, client};
use crate::payments::{self, WebhookRefusal};

/// A Stripe event is a few kilobytes; more is not one.
const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

pub(super) async fn webhook(State(state): State<HttpState>, request: Request) -> StatusCode {
    let (mut parts, body) = request.into_parts();
    let origin = client::request_info(&mut parts, &state).await;
    let Ok(payload) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE;
    };
    let signature = parts
        .headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    match payments::webhook(&state.app, &origin, signature, &payload).await {
        Ok(()) => StatusCode::OK,
        Err(WebhookRefusal::Off) => StatusCode::NOT_FOUND,
        Err(WebhookRefusal::Signature(problem)) => {
            tracing::info!(?problem, "a Stripe webhook's signature was refused");
            StatusCode::BAD_REQUEST
        }
        Err(WebhookRefusal::Unreadable) => {
            tracing::warn!("a signed Stripe webhook did not parse as an event");
            StatusCode::BAD_REQUEST
        }
        Err(WebhookRefusal::Unavailable(error)) => {
            tracing::warn!(?error, "a Stripe webhook could not be acted on now");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
