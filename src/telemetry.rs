//! OpenTelemetry traces, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! A trace is one request: its root is the request's log span (named after the GraphQL
//! operation, the child of a W3C `traceparent` the client sent), with a span for each root field
//! that reads the database and one for each statement sent. Without an endpoint none of this
//! exists: the schema has no extra extension, the pool's connections no extra instrumentation,
//! and the request span no OpenTelemetry layer to feed, so tracing off costs one atomic load
//! per request and per statement.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use anyhow::Context as _;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use diesel::connection::{DebugQuery, Instrumentation, InstrumentationEvent};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;

/// The tracing target of spans made for traces only; the log leaves them out.
pub const TARGET: &str = "agora::trace";

/// Set once, at start, when traces are exported: what every check of "is tracing on" reads.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether traces are exported.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Where spans are posted: the endpoint is a collector's base URL (as the OpenTelemetry spec
/// defines `OTEL_EXPORTER_OTLP_ENDPOINT`), traces go to its `/v1/traces`.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(endpoint).context("OTEL_EXPORTER_OTLP_ENDPOINT is not a URL")?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"
    );
    Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
}

/// The exporter while it runs: its tracing layer, and the flush at shutdown.
pub struct Exporting {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// Starts exporting when an endpoint is configured. Spans are batched (`OTEL_BSP_*` tune the
/// batches) and posted from the SDK's own thread.
pub fn start(config: &Config) -> anyhow::Result<Option<Exporting>> {
    let Some(endpoint) = &config.otel_exporter_otlp_endpoint else {
        return Ok(None);
    };
    // The exporter's client speaks rustls, which needs the process's provider first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint)?)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .context("building the OTLP exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(config.otel_service_name.clone())
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("agora");
    let _ = TRACER.set(tracer.clone());
    Ok(Some(Exporting { provider, tracer }))
}

impl Exporting {
    /// The layer that turns spans into OpenTelemetry spans: the request span and the spans of
    /// [`TARGET`], never events (the log has those).
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            // A span starts when it is first asked for its context, not when first entered: the
            // request span is named after its operation, known only once the body is read.
            .with_context_activation(false)
            .with_threads(false)
            .with_target(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                metadata.is_span() && metadata.target().starts_with("agora")
            }))
    }

    /// Sends the spans still queued; the batch processor's thread blocks until they are posted
    /// (or its timeout passes).
    pub fn shutdown(self) {
        if let Err(error) = tokio::task::block_in_place(|| self.provider.shutdown()) {
            tracing::warn!(%error, "flushing traces at shutdown failed");
        }
    }
}

/// Makes the request span a child of the client's W3C `traceparent` (with its `tracestate`), and
/// a server span named after the route until the operation names it.
pub fn adopt_request(
    span: &tracing::Span,
    method: &http::Method,
    path: &str,
    headers: &http::HeaderMap,
) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
    span.record("otel.kind", "server");
    span.record("otel.name", format!("{method} {path}"));
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Names the current request span after its GraphQL operation (`query Name`, the semantic
/// conventions' form) and starts it; its trace id, for the log lines and the errors.
pub fn name_operation(kind: Option<&str>, name: Option<&str>) -> Option<String> {
    let span = tracing::Span::current();
    let title = match (kind, name) {
        (Some(kind), Some(name)) => format!("{kind} {name}"),
        (Some(kind), None) => kind.to_owned(),
        (None, _) => "GraphQL operation".to_owned(),
    };
    span.record("otel.name", title);
    if let Some(kind) = kind {
        span.set_attribute("graphql.operation.type", kind.to_owned());
    }
    if let Some(name) = name {
        span.set_attribute("graphql.operation.name", name.to_owned());
    }
    let trace_id = span.context().span().span_context().trace_id();
    (trace_id != opentelemetry::trace::TraceId::INVALID).then(|| {
        let trace_id = trace_id.to_string();
        span.record("trace_id", trace_id.as_str());
        trace_id
    })
}

/// Records how the request ended on its span: the first error's code, and an error status for
/// a failure of the server's own.
pub fn request_outcome(outcome: &str) {
    let span = tracing::Span::current();
    span.set_attribute("agora.outcome", outcome.to_owned());
    if outcome == crate::error::code::INTERNAL_SERVER_ERROR {
        span.set_status(Status::error(outcome.to_owned()));
    }
}

/// A span for each root field that reads the database (the others answer from memory), around
/// everything it resolves beneath it. Nested fields get none: a page would otherwise have one
/// per item and field (async-graphql's own `tracing` cost 18 % of a 50-item page).
pub struct ResolverSpans;

impl ExtensionFactory for ResolverSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResolverSpans)
    }
}

#[async_trait::async_trait]
impl Extension for ResolverSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || !crate::graphql::limits::reads_database(info.name) {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!(
            target: TARGET,
            "resolve",
            otel.name = format!("{}.{}", info.parent_type, info.name),
            graphql.field.name = info.name,
            graphql.field.type = info.return_type,
        );
        next.run(ctx, info).instrument(span).await
    }
}

/// Spawns a DataLoader's batch within the span of the field that asked for it, so the batch's
/// statement is part of the request's trace, and under the request's statement timeout
/// ([`crate::db::spawn`]).
pub fn spawn_loader(
    batch: futures_util::future::BoxFuture<'static, ()>,
) -> tokio::task::JoinHandle<()> {
    if enabled() {
        crate::db::spawn(Box::pin(batch.in_current_span()))
    } else {
        crate::db::spawn(batch)
    }
}

/// A connection's instrumentation while traces are exported: `count` as always, and a client
/// span for each statement, a child of the span it was sent from (statements sent outside any
/// request, by the background jobs, make none).
pub fn statements(count: fn(InstrumentationEvent<'_>)) -> Option<Statements> {
    TRACER.get().map(|tracer| Statements {
        count,
        tracer: tracer.clone(),
        in_flight: Vec::new(),
    })
}

pub struct Statements {
    count: fn(InstrumentationEvent<'_>),
    tracer: SdkTracer,
    /// Statements sent and not yet answered, oldest first; a connection pipelines several.
    in_flight: Vec<InFlight>,
}

struct InFlight {
    sql: String,
    started: SystemTime,
    parent: Context,
}

impl Instrumentation for Statements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match &event {
            InstrumentationEvent::StartQuery { query, .. } => self.sent(*query),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                self.answered(*query, *error);
            }
            _ => {}
        }
        (self.count)(event);
    }
}

impl Statements {
    fn sent(&mut self, query: &dyn DebugQuery) {
        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_valid() {
            return;
        }
        self.in_flight.push(InFlight {
            sql: sql_text(query),
            started: opentelemetry::time::now(),
            parent,
        });
    }

    fn answered(&mut self, query: &dyn DebugQuery, error: Option<&diesel::result::Error>) {
        if self.in_flight.is_empty() {
            return;
        }
        // diesel names an answered statement by its SQL alone.
        let sql = query.to_string();
        let Some(at) = self.in_flight.iter().position(|open| open.sql == sql) else {
            return;
        };
        // Statements sent before this one and still unanswered were abandoned (their request
        // was cancelled): PostgreSQL answers a connection's statements in order.
        let open = self.in_flight.drain(..=at).next_back();
        if let Some(open) = open {
            self.export(open, error);
        }
    }

    fn export(&self, open: InFlight, error: Option<&diesel::result::Error>) {
        use opentelemetry::trace::Tracer as _;
        let operation = open
            .sql
            .split_whitespace()
            .next()
            .unwrap_or("statement")
            .to_ascii_uppercase();
        let mut span = self
            .tracer
            .span_builder(operation.clone())
            .with_kind(SpanKind::Client)
            .with_start_time(open.started)
            .with_attributes([
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.operation.name", operation),
                KeyValue::new("db.query.text", open.sql),
            ])
            .start_with_context(&self.tracer, &open.parent);
        if let Some(error) = error {
            // The kind only: a database error's detail may quote the row's values.
            let kind = match error {
                diesel::result::Error::DatabaseError(kind, _) => format!("{kind:?}"),
                _ => "statement failed".to_owned(),
            };
            span.set_status(Status::error(kind));
        }
        span.end();
    }
}

/// The statement's SQL, `$1` placeholders and all, never its bind values. diesel writes a
/// prepared statement as `SQL -- binds: [values]`; the writer refuses everything from that
/// marker on, which stops the formatting before any value is written.
fn sql_text(query: &dyn DebugQuery) -> String {
    use std::fmt::Write as _;
    struct UpToBinds(String);
    impl std::fmt::Write for UpToBinds {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0.push_str(text);
            match self.0.find(BINDS_MARKER) {
                Some(at) => {
                    self.0.truncate(at);
                    Err(std::fmt::Error)
                }
                None => Ok(()),
            }
        }
    }
    let mut text = UpToBinds(String::new());
    let _ = write!(text, "{query}");
    text.0
}

const BINDS_MARKER: &str = " -- binds: ";

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sql_types::Text;

    use super::*;

    #[test]
    fn statement_text_keeps_placeholders_and_drops_bind_values() {
        let query = diesel::sql_query("SELECT id FROM users WHERE password_hash = $1")
            .bind::<Text, _>("hunter2-secret");
        let shown = diesel::debug_query::<Pg, _>(&query);
        assert!(
            shown.to_string().contains("hunter2-secret"),
            "diesel shows binds"
        );
        let text = sql_text(&shown);
        assert_eq!(text, "SELECT id FROM users WHERE password_hash = $1");
    }

    #[test]
    fn a_statement_without_binds_is_kept_whole() {
        #[derive(Debug)]
        struct Plain;
        impl std::fmt::Display for Plain {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("BEGIN")
            }
        }
        impl DebugQuery for Plain {}
        assert_eq!(sql_text(&Plain), "BEGIN");
    }

    #[test]
    fn traces_go_to_the_endpoints_v1_traces() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318/").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert!(traces_url("127.0.0.1:4318").is_err());
        assert!(traces_url("ftp://collector").is_err());
    }
}
