//! Database access: the pool, start-up creation and migration, and the error mapping every store
//! module shares.

pub mod embedded;
pub mod fixed_sql;
pub mod quota;
pub mod schema;

use std::time::Duration;

use anyhow::Context;
use deadpool::Runtime;
use diesel::connection::InstrumentationEvent;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::Config;
use crate::error::AppError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Any fixed number works; it only has to be the same for every instance migrating one database.
const MIGRATION_LOCK_KEY: i64 = 0x6167_6f72_615f_6d67;

pub type DbPool = deadpool::managed::Pool<Manager>;
pub type DbConn = deadpool::managed::Object<Manager>;

tokio::task_local! {
    /// The `statement_timeout` of the request this task works for (its budget's), which the
    /// connections it checks out are set to. Outside a request: the pool's default.
    static STATEMENT_TIMEOUT_MS: u32;
}

/// Runs `work` (a request's execution) with its statements limited to `ms` each.
pub async fn with_statement_timeout<F: Future>(ms: u32, work: F) -> F::Output {
    STATEMENT_TIMEOUT_MS.scope(ms, work).await
}

/// `tokio::spawn` for work done on behalf of the current request (its DataLoaders' batches),
/// keeping the request's statement timeout.
pub fn spawn(work: futures_util::future::BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    match STATEMENT_TIMEOUT_MS.try_with(|ms| *ms) {
        Ok(ms) => tokio::spawn(STATEMENT_TIMEOUT_MS.scope(ms, work)),
        Err(_) => tokio::spawn(work),
    }
}

/// A pooled connection with the `statement_timeout` it was last set to, so that a checkout
/// pays a `SET` round trip only when the request wants another timeout than the connection has:
/// requests under the default budget (nearly all) never do, and a connection that served a
/// budgeted request is set back by the next request that wants the default.
pub struct PgConn {
    conn: AsyncPgConnection,
    /// `None` while unknown: a `SET` was sent and not confirmed (its request was dropped).
    statement_timeout_ms: Option<u32>,
}

impl std::ops::Deref for PgConn {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// diesel-async's manager, making [`PgConn`]s set to the server's statement timeout.
pub struct Manager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    statement_timeout_ms: u32,
}

impl deadpool::managed::Manager for Manager {
    type Type = PgConn;
    type Error = PoolError;

    async fn create(&self) -> Result<PgConn, PoolError> {
        Ok(PgConn {
            conn: self.inner.create().await?,
            statement_timeout_ms: Some(self.statement_timeout_ms),
        })
    }

    async fn recycle(
        &self,
        conn: &mut PgConn,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<PoolError> {
        self.inner.recycle(&mut conn.conn, metrics).await
    }
}

/// The pool, each of its connections reporting the statements it sends to `instrumentation`.
pub fn build_pool(
    config: &Config,
    instrumentation: fn(InstrumentationEvent<'_>),
) -> anyhow::Result<DbPool> {
    let mut setup = ManagerConfig::default();
    // The default (`Verified`) sends `SELECT 1` on every checkout: a round trip per resolver.
    // A connection whose socket closed is still discarded on return (`is_broken`), and a query
    // on one that died unnoticed fails as SERVICE_UNAVAILABLE, which clients retry.
    setup.recycling_method = RecyclingMethod::Fast;
    let statement_timeout_ms = config.statement_timeout_ms;
    setup.custom_setup = Box::new(move |url| {
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            // Every statement here is prepared once per connection. Under the default (`auto`)
            // PostgreSQL keeps planning a statement afresh on every execution when its generic
            // plan looks dearer than the custom ones, which for any `LIMIT $n` it always does:
            // a page of items was planned anew on each request (10k/s in pgbench against 19k/s
            // with the generic plan). The statements are key lookups and index-ordered pages,
            // whose generic plans are the plans wanted.
            // JIT compiles any statement whose estimate passes `jit_above_cost` on every
            // execution and keeps nothing: the habits page's marks statement for 300 habits took
            // 40–57 ms with it (10–14 ms compiling) and 17 ms without. JIT pays off for long
            // analytic queries, which the pool never runs.
            // The timeout is the default; a request whose budget sets another sets it on
            // checkout (`conn`).
            conn.batch_execute(&format!(
                "SET plan_cache_mode = force_generic_plan; SET jit = off; \
                 SET statement_timeout = {statement_timeout_ms}"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            match crate::telemetry::statements(instrumentation) {
                Some(traced) => conn.set_instrumentation(traced),
                None => conn.set_instrumentation(instrumentation),
            }
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        &config.database_url,
        setup,
    );
    let manager = Manager {
        inner: manager,
        statement_timeout_ms,
    };
    deadpool::managed::Pool::builder(manager)
        .max_size(config.db_pool_size)
        // deadpool waits forever by default; a bounded wait turns exhaustion into a retryable
        // SERVICE_UNAVAILABLE instead of a request that hangs until the client gives up.
        .wait_timeout(Some(Duration::from_secs(config.db_wait_secs)))
        // A dead or unreachable database must fail fast rather than hold the caller.
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// A connection from the pool, its statement timeout set to the current request's.
pub async fn conn(pool: &DbPool) -> Result<DbConn, AppError> {
    let mut conn = pool.get().await.map_err(|error| {
        tracing::warn!(%error, "no database connection available");
        AppError::ServiceUnavailable
    })?;
    let wanted = STATEMENT_TIMEOUT_MS
        .try_with(|ms| *ms)
        .unwrap_or(pool.manager().statement_timeout_ms);
    if conn.statement_timeout_ms != Some(wanted) {
        conn.statement_timeout_ms = None;
        // Not `SET LOCAL`: the checkout is outside any transaction, and the setting must last
        // for every statement the connection sends until the next checkout.
        conn.conn
            .batch_execute(&format!("SET statement_timeout = {wanted}"))
            .await?;
        conn.statement_timeout_ms = Some(wanted);
    }
    Ok(conn)
}

/// How often a transaction PostgreSQL aborted for a conflict with a concurrent one
/// ([`AppError::Contended`]) runs again before the client is told to retry.
pub const CONTENDED_RETRIES: u32 = 4;

/// A transaction body that [`transaction`] may run more than once: a closure from the
/// connection to the future of the work, naming that future's type so it can be required to be
/// `Send` (as diesel-async's own `AsyncFunc` does).
pub trait TransactionBody<'c, R>: FnMut(&'c mut AsyncPgConnection) -> Self::Work + Send {
    type Work: Future<Output = Result<R, AppError>> + Send;
}

impl<'c, R, F, Work> TransactionBody<'c, R> for F
where
    F: FnMut(&'c mut AsyncPgConnection) -> Work + Send,
    Work: Future<Output = Result<R, AppError>> + Send,
{
    type Work = Work;
}

/// Runs `body` in a transaction, and again (up to [`CONTENDED_RETRIES`] times, after a short
/// randomised pause so two colliding transactions do not collide again) when PostgreSQL aborts
/// it for a serialization failure or a deadlock (DESIGN.md §5). Nothing of an aborted attempt
/// stays written; a conflict that outlasts the retries is `SERVICE_UNAVAILABLE`.
pub async fn transaction<R, F>(conn: &mut AsyncPgConnection, mut body: F) -> Result<R, AppError>
where
    R: Send,
    // The plain bound lets the compiler infer an async closure's signature; the other names its
    // future so that it can be required to be `Send`.
    F: AsyncFnMut(&mut AsyncPgConnection) -> Result<R, AppError> + for<'c> TransactionBody<'c, R>,
{
    let mut attempt = 0;
    loop {
        match conn.transaction::<R, AppError, _>(&mut body).await {
            Err(AppError::Contended) if attempt < CONTENDED_RETRIES => {
                attempt += 1;
                metrics::counter!("agora_db_transaction_retries_total").increment(1);
                tokio::time::sleep(contention_pause(attempt)).await;
            }
            Err(AppError::Contended) => return Err(AppError::ServiceUnavailable),
            other => return other,
        }
    }
}

/// Up to 5, 10, 20, 40 ms, drawn at random below that (full jitter).
fn contention_pause(attempt: u32) -> Duration {
    let ceiling_ms = 5u64 << attempt.saturating_sub(1).min(8);
    Duration::from_millis(rand::random_range(1..=ceiling_ms))
}

/// Creates the database named in `database_url` when it does not exist yet, by connecting to the
/// server's `postgres` database.
pub async fn ensure_database_exists(database_url: &str) -> anyhow::Result<()> {
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    url.set_path("/postgres");
    let mut admin = AsyncPgConnection::establish(url.as_str())
        .await
        .with_context(|| {
            format!(
                "cannot connect to PostgreSQL at {} (DATABASE_URL): check that it runs there and \
                 that the URL's user and password are right",
                server_of(&url)
            )
        })?;
    if !database_exists(&mut admin, &name).await? {
        let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
        if let Err(error) = diesel::sql_query(statement).execute(&mut admin).await {
            // Instances starting together race to create it: whichever error the loser sees
            // (a unique violation or "already exists"), the database being there is success.
            if !database_exists(&mut admin, &name).await? {
                return Err(error).context("creating the database");
            }
        } else {
            tracing::info!(database = %name, "created database");
        }
    }
    Ok(())
}

/// `host:port` of a database URL, for messages: never its password.
fn server_of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("localhost");
    format!("{host}:{}", url.port().unwrap_or(5432))
}

async fn database_exists(admin: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    let count = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result::<Count>(admin)
        .await?
        .n;
    Ok(count > 0)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Applies pending migrations while holding a session-level advisory lock, so instances starting
/// together migrate one at a time and the later ones find nothing left to do.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<usize> {
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .context("connecting to the database to migrate it")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = tokio::task::block_in_place(|| {
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.len())
            .map_err(|error| anyhow::anyhow!("running migrations: {error}"))
    });
    let mut conn = harness.into_inner();
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    applied
}

/// Whether every embedded migration has been applied: what `/readyz` reports.
pub async fn migrations_applied(
    conn: &mut AsyncPgConnection,
) -> Result<bool, diesel::result::Error> {
    let expected: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(diesel::result::Error::QueryBuilderError)?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    let count: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM __diesel_schema_migrations WHERE version = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&expected)
    .get_result::<Count>(conn)
    .await?
    .n;
    Ok(usize::try_from(count).unwrap_or(0) == expected.len())
}
