//! Dependency faults: an exhausted pool answers quickly and recovers; transactions PostgreSQL
//! aborts for a conflict are retried a bounded number of times.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_pool_answers_service_unavailable_then_recovers() {
    let t = TestApp::with_config(|config| {
        config.db_pool_size = 1;
        config.db_wait_secs = 1;
    })
    .await;
    let ada = t.user("ada").await;
    // Something else holds the only connection.
    let held = t.app.pool.get().await.unwrap();
    let started = Instant::now();
    let reply = t
        .gql_as(&ada.access, "{ me { username } }", json!({}))
        .await;
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the wait is bounded"
    );
    assert_eq!(t.get("/healthz", &[]).await.status, StatusCode::OK);
    let ready = t.get("/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    let reply = t
        .gql_as(&ada.access, "{ me { username } }", json!({}))
        .await;
    assert_eq!(reply.assert_ok()["me"]["username"], "ada");
    assert_eq!(t.get("/readyz", &[]).await.status, StatusCode::OK);
    assert_eq!(t.app.pool.status().size, 1, "the pool is whole again");
}

/// The database goes away while requests are being served and comes back: each request either
/// succeeds or answers the retryable SERVICE_UNAVAILABLE, readiness follows the database,
/// liveness stays up, and the pool heals without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_fails_requests_retryably_and_the_pool_heals() {
    let proxy = crate::common::PgProxy::start().await;
    let t = TestApp::with_config(|config| {
        let mut url = url::Url::parse(&config.database_url).unwrap();
        url.set_port(Some(proxy.port)).unwrap();
        config.database_url = url.to_string();
        config.db_wait_secs = 2;
    })
    .await;
    let ada = t.user("ada").await;
    let t = std::sync::Arc::new(t);
    let me = "{ me { username budget } }";

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // What the load saw so far, so the test moves on once the load has met each state.
    let (served, refused) = (
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    );
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (t, stop, access) = (t.clone(), stop.clone(), ada.access.clone());
        let (served, refused) = (served.clone(), refused.clone());
        load.spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let reply = t.gql_as(&access, me, json!({})).await;
                let seen = if reply.code().is_none() {
                    &served
                } else {
                    &refused
                };
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                outcomes.push(reply.code().map(str::to_owned));
                // Paces the load: a steady trickle of requests, not a busy loop.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            outcomes
        });
    }
    let seen = |counter: &std::sync::atomic::AtomicUsize| {
        counter.load(std::sync::atomic::Ordering::SeqCst) > 0
    };
    eventually(
        Duration::from_secs(5),
        "the load to be served",
        async || seen(&served).then_some(()),
    )
    .await;
    proxy.cut();
    let ready = eventually(
        Duration::from_secs(5),
        "readiness to follow the database",
        async || {
            let ready = t.get("/readyz", &[]).await;
            (ready.status == StatusCode::SERVICE_UNAVAILABLE).then_some(ready)
        },
    )
    .await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["database"], "unreachable");
    assert_eq!(t.get("/healthz", &[]).await.status, StatusCode::OK);
    let during = t.gql_as(&ada.access, me, json!({})).await;
    assert_eq!(during.code(), Some("SERVICE_UNAVAILABLE"));
    eventually(
        Duration::from_secs(5),
        "the load to meet the outage",
        async || seen(&refused).then_some(()),
    )
    .await;
    proxy.restore();

    let reply = eventually(Duration::from_secs(10), "the pool to heal", async || {
        let reply = t.gql_as(&ada.access, me, json!({})).await;
        reply.code().is_none().then_some(reply)
    })
    .await;
    assert_eq!(reply.data()["me"]["username"], "ada");
    assert_eq!(t.get("/readyz", &[]).await.status, StatusCode::OK);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut codes = std::collections::BTreeMap::new();
    while let Some(outcomes) = load.join_next().await {
        for outcome in outcomes.unwrap() {
            *codes.entry(outcome).or_insert(0) += 1;
        }
    }
    assert!(
        codes
            .keys()
            .all(|code| matches!(code.as_deref(), None | Some("SERVICE_UNAVAILABLE"))),
        "only successes and retryable refusals: {codes:?}"
    );
    assert!(codes.contains_key(&None) && codes.contains_key(&Some("SERVICE_UNAVAILABLE".into())));
}

/// Makes PostgreSQL abort the first `failures` inserts into `tasks` with `sqlstate`, as it does
/// a transaction that lost a conflict with a concurrent one. A sequence counts the attempts:
/// unlike a table, it is not rolled back with the aborted transaction.
async fn abort_task_inserts(t: &TestApp, sqlstate: &str, message: &str, failures: i64) {
    t.sql("CREATE SEQUENCE task_insert_attempts").await;
    t.sql(&format!(
        "CREATE FUNCTION contend() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('task_insert_attempts') <= {failures} THEN
             RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}';
           END IF;
           RETURN NEW;
         END $$"
    ))
    .await;
    t.sql("CREATE TRIGGER contend BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION contend()")
        .await;
}

const CREATE_TASK: &str =
    "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { title } } }";

#[tokio::test(flavor = "multi_thread")]
async fn serialization_failures_and_deadlocks_are_retried() {
    for (sqlstate, message) in [
        (
            "40001",
            "could not serialize access due to concurrent update",
        ),
        ("40P01", "deadlock detected"),
    ] {
        let t = TestApp::new().await;
        let ada = t.user("ada").await;
        abort_task_inserts(&t, sqlstate, message, 2).await;
        let reply = t
            .gql_as(&ada.access, CREATE_TASK, json!({"v": {"title": "retried"}}))
            .await;
        assert_eq!(
            reply.assert_ok()["createTask"]["task"]["title"],
            "retried",
            "{sqlstate}"
        );
        assert_eq!(t.count("SELECT count(*) FROM tasks").await, 1, "{sqlstate}");
        assert_eq!(
            t.count("SELECT last_value FROM task_insert_attempts").await,
            3,
            "two aborted attempts, then the one that committed ({sqlstate})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_that_outlasts_the_retries_is_service_unavailable_and_writes_nothing() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    abort_task_inserts(&t, "40001", "could not serialize access", 1_000).await;
    let audit_rows = t.count("SELECT count(*) FROM audit_log").await;
    let reply = t
        .gql_as(&ada.access, CREATE_TASK, json!({"v": {"title": "lost"}}))
        .await;
    assert_eq!(
        reply.code(),
        Some("SERVICE_UNAVAILABLE"),
        "{:#}",
        reply.body
    );
    assert_eq!(reply.data(), &serde_json::Value::Null);
    assert_eq!(t.count("SELECT count(*) FROM tasks").await, 0);
    assert_eq!(t.count("SELECT count(*) FROM audit_log").await, audit_rows);
    assert_eq!(
        t.count("SELECT last_value FROM task_insert_attempts").await,
        1 + i64::from(agora::db::CONTENDED_RETRIES),
        "bounded: the first attempt and each retry"
    );
}
