//! Probes for orchestrators and monitoring: liveness (`/healthz`), readiness with what is
//! degraded (`/readyz`), and Prometheus metrics (`/metrics`, on the metrics listener only).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::HttpState;
use crate::App;
use crate::db;
use crate::ratelimit::Backend;

pub(super) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// Not ready without the database (nothing works). Ready but "degraded" while a configured
/// Redis is unreachable: requests still succeed, with limits and events kept per instance.
pub(super) async fn readyz(State(state): State<HttpState>) -> Response {
    let app = &state.app;
    let check = async {
        let mut conn = app.pool.get().await.ok()?;
        db::migrations_applied(&mut conn).await.ok()
    };
    let redis_down = async {
        match &app.redis {
            None => false,
            Some(redis) => !redis.ping().await,
        }
    };
    let (database, redis_down) = tokio::join!(check, redis_down);
    let (status, database, migrations) = match database {
        Some(true) => (StatusCode::OK, "ok", "applied"),
        Some(false) => (StatusCode::SERVICE_UNAVAILABLE, "ok", "pending"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "unreachable", "unknown"),
    };
    let redis = match (&app.redis, redis_down) {
        (None, _) => "off",
        (Some(_), false) => "ok",
        (Some(_), true) => "unreachable",
    };
    let rate_limits = match app.limits.backend() {
        Backend::Local => "local",
        Backend::Redis if !redis_down => "redis",
        Backend::Redis | Backend::Degraded => "degraded",
    };
    let summary = match (status == StatusCode::OK, redis_down) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    (
        status,
        axum::Json(json!({
            "status": summary,
            "database": database,
            "migrations": migrations,
            "redis": redis,
            "rateLimits": rate_limits,
        })),
    )
        .into_response()
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    match crate::metrics::render(&app).await {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
