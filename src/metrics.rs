//! Prometheus metrics. Counters and histograms are recorded where things happen (through the
//! `metrics` facade, so the modules counting never depend on this one); gauges that describe
//! state (pool, outbox backlog) are read when scraped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use diesel::connection::InstrumentationEvent;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::App;

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Operation names are chosen by clients; past this many distinct ones, new names are counted
/// as "other" so a hostile client cannot grow the label set without bound.
const MAX_OPERATION_NAMES: usize = 200;
const OPERATION_NAME_MAX_LEN: usize = 64;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_NAMES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (tests build many apps) reuse it.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("agora_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .ok()?;
        match builder.install_recorder() {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(error) => {
                tracing::warn!(%error, "metrics are off: another recorder is installed");
                None
            }
        }
    });
}

/// The `# HELP` line of every metric, so a scrape explains itself.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "agora_requests_total",
        "GraphQL requests answered, by operation name and outcome (ok, or the first error's code)"
    );
    describe_histogram!(
        "agora_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a GraphQL request, by operation name"
    );
    describe_gauge!(
        "agora_db_pool_connections",
        "Database pool connections, by state (in_use, idle)"
    );
    describe_gauge!(
        "agora_db_pool_waiting",
        "Requests waiting for a database connection"
    );
    describe_counter!(
        "agora_db_statements_total",
        "SQL statements sent by pooled connections, transaction control included"
    );
    describe_counter!(
        "agora_db_transaction_retries_total",
        "Transactions run again after a serialization failure or a deadlock"
    );
    describe_gauge!(
        "agora_outbox_backlog",
        "Mail in the outbox not yet delivered"
    );
    describe_counter!(
        "agora_rate_limit_refusals_total",
        "Requests refused by a rate limit, by limit"
    );
    describe_counter!(
        "agora_connections_closed_total",
        "Connections the server closed of its own accord, by reason (per_address_cap, idle)"
    );
    describe_counter!(
        "agora_password_hashes_total",
        "Password hashes computed (argon2 runs): CPU that callers caused"
    );
    describe_gauge!(
        "agora_password_hashes_running",
        "Password hashes running now"
    );
    describe_gauge!(
        "agora_password_hashes_running_max",
        "Most password hashes running at once since the start"
    );
}

/// The label an operation is counted under.
fn operation_label(name: Option<&str>) -> String {
    let Some(name) = name.filter(|name| {
        !name.is_empty()
            && name.len() <= OPERATION_NAME_MAX_LEN
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) else {
        return "anonymous".to_owned();
    };
    let mut known = OPERATION_NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if known.contains(name) || known.len() < MAX_OPERATION_NAMES {
        known.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

/// One GraphQL request answered: `outcome` is "ok" or the first error's code.
pub fn request_finished(operation_name: Option<&str>, outcome: &str, elapsed: Duration) {
    let operation = operation_label(operation_name);
    metrics::counter!(
        "agora_requests_total",
        "operation" => operation.clone(),
        "outcome" => outcome.to_owned()
    )
    .increment(1);
    metrics::histogram!("agora_request_duration_seconds", "operation" => operation)
        .record(elapsed.as_secs_f64());
}

static STATEMENTS_SENT: AtomicU64 = AtomicU64::new(0);

/// Diesel instrumentation for pooled connections (`App::build` hands it to the pool): counts every
/// statement sent (transaction control included), so what a request costs can be read off
/// `/metrics` under load.
pub fn count_statements(event: InstrumentationEvent<'_>) {
    if let InstrumentationEvent::StartQuery { .. } = event {
        STATEMENTS_SENT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Statements the pool's connections have sent since the process started.
pub fn statements_sent() -> u64 {
    AtomicU64::load(&STATEMENTS_SENT, Ordering::Relaxed)
}

/// The server closed a connection of its own accord: `per_address_cap` (its address had as
/// many open as allowed) or `idle` (no request ran on it for the idle deadline).
pub fn connection_closed(reason: &'static str) {
    metrics::counter!("agora_connections_closed_total", "reason" => reason).increment(1);
}

/// The text `/metrics` answers, with state gauges read now.
pub async fn render(app: &App) -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    let status = app.pool.status();
    metrics::gauge!("agora_db_pool_connections", "state" => "in_use")
        .set((status.size - status.available) as f64);
    metrics::gauge!("agora_db_pool_connections", "state" => "idle").set(status.available as f64);
    metrics::gauge!("agora_db_pool_waiting").set(status.waiting as f64);
    metrics::counter!("agora_db_statements_total").absolute(statements_sent());
    if let Some(backlog) = outbox_backlog(app).await {
        metrics::gauge!("agora_outbox_backlog").set(backlog as f64);
    }
    handle.run_upkeep();
    Some(handle.render())
}

async fn outbox_backlog(app: &App) -> Option<i64> {
    let mut conn = app.pool.get().await.ok()?;
    crate::mail::store::unsent_count(&mut conn).await.ok()
}
