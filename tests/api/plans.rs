//! The statements behind `myActivity`, `auditLog` by actor and the habit archiver use the indexes meant
//! for them in the plans the pool runs: generic ones (`plan_cache_mode = force_generic_plan`,
//! src/db/mod.rs), chosen without the parameters' values. The statements are the store's own,
//! captured as the store sends them, on tables analysed with enough rows for the planner's
//! choice to mean something.

use std::sync::{Arc, Mutex};

use agora::audit::store::{self as audit, AuditFilter, AuditScope};
use diesel::connection::InstrumentationEvent;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::common::TestApp;

/// 500 accounts, 50,000 audit entries (a tenth of them about an account) and 20,000 habits, a
/// quarter of them with an end still ahead.
async fn filled() -> TestApp {
    let t = TestApp::new().await;
    for statement in [
        "INSERT INTO users (username, email, password_hash, budget, created_at, updated_at)
         SELECT 'user' || n, 'user' || n || '@example.com', 'x', 0, now(), now() FROM generate_series(1, 500) AS n",
        "INSERT INTO audit_log (actor_id, action, target_type, target_id, created_at)
         SELECT (SELECT min(id) FROM users) + (n * 7) % 500,
                'auth.login',
                CASE WHEN n % 10 = 0 THEN 'user' WHEN n % 10 = 1 THEN 'role' END,
                CASE WHEN n % 10 < 2 THEN (SELECT min(id) FROM users) + n % 500 END,
                now()
         FROM generate_series(1, 50000) AS n",
        "INSERT INTO habits (user_id, name, kind, starts_on, ends_on, created_at, updated_at)
         SELECT (SELECT min(id) FROM users) + n % 500, 'habit ' || n, 'DAILY', DATE '2026-01-01',
                CASE WHEN n % 4 = 0 THEN DATE '2027-01-01' END, now(), now()
         FROM generate_series(1, 20000) AS n",
        "ANALYZE users",
        "ANALYZE audit_log",
        "ANALYZE habits",
    ] {
        t.sql(statement).await;
    }
    t
}

/// One of the accounts [`filled`] made.
async fn some_user(t: &TestApp) -> i64 {
    t.count("SELECT min(id) + 42 FROM users").await
}

/// A connection set up as the pool's are, recording the text of every statement it sends.
async fn recording(t: &TestApp) -> (AsyncPgConnection, Arc<Mutex<Vec<String>>>) {
    let mut conn = AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    conn.batch_execute("SET plan_cache_mode = force_generic_plan; SET jit = off")
        .await
        .unwrap();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let sink = sent.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let text = query.to_string();
            let sql = text.split(" -- binds: ").next().unwrap_or_default();
            sink.lock().unwrap().push(sql.to_owned());
        }
    });
    (conn, sent)
}

/// The generic plan of `sql`, as `EXPLAIN` shows it. PostgreSQL 15 has no
/// `EXPLAIN (GENERIC_PLAN)`: the statement is prepared and explained as executed with nulls,
/// which under `force_generic_plan` shows the plan made without any value.
async fn generic_plan(t: &TestApp, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let mut conn = AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    let parameters = (1..).take_while(|n| sql.contains(&format!("${n}"))).count();
    conn.batch_execute(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE probe AS {sql}"
    ))
    .await
    .unwrap();
    let nulls = vec!["NULL"; parameters].join(", ");
    let execute = if parameters == 0 {
        "EXPLAIN EXECUTE probe".to_owned()
    } else {
        format!("EXPLAIN EXECUTE probe({nulls})")
    };
    let lines: Vec<Line> = diesel::sql_query(execute).load(&mut conn).await.unwrap();
    lines
        .into_iter()
        .map(|line| line.line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each of `plans` (and at least one) reads `table` through each of
/// `indexes`, never by a sequential scan.
#[track_caller]
fn assert_plans<'a>(
    plans: impl IntoIterator<Item = &'a (String, String)>,
    table: &str,
    indexes: &[&str],
) {
    let mut seen = 0;
    for (sql, plan) in plans {
        seen += 1;
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "{sql}\nscans {table}:\n{plan}"
        );
        for index in indexes {
            assert!(
                plan.contains(&format!("Index Scan using {index}"))
                    || plan.contains(&format!("Bitmap Index Scan on {index}"))
                    || plan.contains(&format!("Index Only Scan using {index}"))
                    || plan.contains(&format!("Index Scan Backward using {index}"))
                    || plan.contains(&format!("Index Only Scan Backward using {index}")),
                "{sql}\ndoes not use {index}:\n{plan}"
            );
        }
    }
    assert!(seen > 0, "no statement was sent");
}

/// The statements `sent` holds since last asked, each with its generic plan.
async fn planned(t: &TestApp, sent: &Mutex<Vec<String>>) -> Vec<(String, String)> {
    let statements: Vec<String> = sent.lock().unwrap().drain(..).collect();
    let mut plans = Vec::new();
    for sql in statements {
        let plan = generic_plan(t, &sql).await;
        plans.push((sql, plan));
    }
    plans
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_pages_and_counts_use_their_indexes() {
    let t = filled().await;
    let user = some_user(&t).await;
    let (mut conn, sent) = recording(&t).await;

    // myActivity: what the user did or what was done to their account, first page and later.
    let mine = AuditScope::Concerning(user);
    for before in [None, Some(40_000)] {
        let (rows, total) = audit::list(&mut conn, &mine, before, 21, true)
            .await
            .unwrap();
        assert_eq!(rows.len(), 21);
        assert!(total.unwrap() > 21);
    }
    assert_plans(
        &planned(&t, &sent).await,
        "audit_log",
        &["audit_log_actor_id_idx", "audit_log_target_idx"],
    );

    // auditLog narrowed to one actor.
    let by_actor = AuditScope::Matching(AuditFilter {
        actor_id: Some(user),
        ..AuditFilter::default()
    });
    audit::list(&mut conn, &by_actor, None, 21, true)
        .await
        .unwrap();
    assert_plans(
        &planned(&t, &sent).await,
        "audit_log",
        &["audit_log_actor_id_idx"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn archiving_one_users_habits_reads_only_theirs() {
    let t = filled().await;
    let user = some_user(&t).await;
    let (mut conn, sent) = recording(&t).await;
    agora::habits::store::archive_ended(&mut conn, chrono::Utc::now(), Some(user))
        .await
        .unwrap();
    assert_plans(&planned(&t, &sent).await, "habits", &["habits_user_id_idx"]);
}

/// The reminder job finds what is due through the index on `due_at`, and reads only those
/// reminders' habits, however many habits have reminders.
#[tokio::test(flavor = "multi_thread")]
async fn the_reminder_job_reads_only_due_reminders() {
    let t = filled().await;
    t.sql(
        "INSERT INTO webhook_endpoints (url, description, events, sealed_secret, failure_streak, created_at, updated_at)
         VALUES ('https://example.com/hook', '', '{item.listed}', '\\x00', 0, now(), now())",
    )
    .await;
    t.sql(
        "INSERT INTO habit_reminders (habit_id, local_time, due_day, due_at, created_at)
         SELECT id, '08:00', DATE '2026-01-01', now() + (id % 1440) * INTERVAL '1 minute', now()
         FROM habits",
    )
    .await;
    t.sql("ANALYZE habit_reminders").await;
    let (mut conn, sent) = recording(&t).await;
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    agora::reminders::store::claim_due(&mut conn, soon, 100)
        .await
        .unwrap();
    let plans = planned(&t, &sent).await;
    let (claims, reads): (Vec<_>, Vec<_>) = plans
        .iter()
        .partition(|(sql, _)| sql.contains("FOR UPDATE"));
    assert_plans(claims, "habit_reminders", &["habit_reminders_due_at"]);
    assert_plans(reads.iter().copied(), "habit_reminders", &[]);
    assert_plans(reads, "habits", &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_reads_only_what_it_deletes() {
    let t = filled().await;
    // 20,000 rows in each table the job prunes, spread over two months either side of now.
    let first_user = "(SELECT min(id) FROM users) + n % 500";
    let when = "now() + (n % 120 - 60) * INTERVAL '1 day'";
    t.sql(
        "INSERT INTO webhook_endpoints (url, description, events, sealed_secret, failure_streak, created_at, updated_at)
         VALUES ('https://example.com/hook', '', '{item.listed}', '\\x00', 0, now(), now())",
    )
    .await;
    t.sql(
        "INSERT INTO habit_reminders (habit_id, local_time, due_day, due_at, created_at)
         SELECT id, '08:00', DATE '2026-01-01', now(), now() FROM habits ORDER BY id LIMIT 50",
    )
    .await;
    for statement in [
        format!(
            "INSERT INTO sessions (user_id, expires_at, revoked_at, created_at, last_seen_at, proved_at)
             SELECT {first_user}, {when}, CASE WHEN n % 5 = 0 THEN {when} END, now(), now(), now()"
        ),
        format!(
            "INSERT INTO mfa_challenges (user_id, token_hash, expires_at, created_at)
             SELECT {first_user}, int8send(n), {when}, now()"
        ),
        format!(
            "INSERT INTO account_tokens (user_id, purpose, token_hash, email, expires_at, created_at)
             SELECT {first_user}, 'EMAIL_VERIFY', int8send(n), 'a@example.com', {when}, now()"
        ),
        format!("INSERT INTO rate_events (bucket, key, at) SELECT 'login', 'k' || n % 900, {when}"),
        format!(
            "INSERT INTO oidc_flows (state_hash, browser_hash, provider, nonce, pkce_verifier, redirect_uri, return_to, created_at, expires_at)
             SELECT int8send(n), '\\x00', 'test', 'n', 'v', 'r', '/', now(), {when}"
        ),
        format!(
            "INSERT INTO webauthn_ceremonies (token_hash, kind, state, created_at, expires_at)
             SELECT int8send(n), 'sign_in', '{{}}', now(), {when}"
        ),
        format!(
            "INSERT INTO oidc_pending_links (token_hash, browser_hash, user_id, provider, subject, created_at, expires_at)
             SELECT int8send(n), '\\x00', {first_user}, 'test', 's' || n, now(), {when}"
        ),
        format!(
            "INSERT INTO habit_reminder_deliveries (reminder_id, habit_day, sent_at)
             SELECT (SELECT min(id) FROM habit_reminders) + n % 50, DATE '2000-01-01' + n, {when}"
        ),
        format!(
            "INSERT INTO market_events (kind, item, created_at) SELECT 'LISTED', '{{}}', {when}"
        ),
        format!(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, attempts, next_attempt_at, delivered_at, created_at)
             SELECT (SELECT min(id) FROM webhook_endpoints), 'evt_' || n, 'item.listed', repeat('x', 300),
                    CASE WHEN n % 4 = 0 THEN 'PENDING' ELSE 'DELIVERED' END, 1, now(),
                    CASE WHEN n % 4 <> 0 THEN {when} END, now()"
        ),
        format!(
            "INSERT INTO email_outbox (kind, recipient, subject, text_body, html_body, sent_at, created_at, next_attempt_at)
             SELECT 'verify', 'a@example.com', 's', CASE WHEN n % 3 <> 0 THEN 't' END,
                    CASE WHEN n % 3 <> 0 THEN 'h' END, CASE WHEN n % 3 = 0 THEN {when} END, now(), now()"
        ),
    ] {
        t.sql(&format!("{statement} FROM generate_series(1, 20000) AS n"))
            .await;
    }
    t.sql("ANALYZE").await;
    let (mut conn, sent) = recording(&t).await;
    agora::cleanup::delete_expired(&mut conn, chrono::Utc::now())
        .await
        .unwrap();
    let plans = planned(&t, &sent).await;
    for (sql, plan) in &plans {
        assert!(
            !plan.contains("Seq Scan"),
            "{sql}\nscans its table:\n{plan}"
        );
    }
    for (table, index) in [
        ("sessions", "sessions_expires_at_idx"),
        ("sessions", "sessions_revoked_at_idx"),
        ("mfa_challenges", "mfa_challenges_expires_at_idx"),
        ("account_tokens", "account_tokens_expires_at_idx"),
        ("rate_events", "rate_events_at_idx"),
        ("email_outbox", "email_outbox_sent_at_idx"),
        ("oidc_flows", "oidc_flows_expires_at_idx"),
        ("oidc_pending_links", "oidc_pending_links_expires_at_idx"),
        ("webauthn_ceremonies", "webauthn_ceremonies_expires_at_idx"),
        (
            "habit_reminder_deliveries",
            "habit_reminder_deliveries_sent_at",
        ),
    ] {
        let deleting = format!("DELETE FROM \"{table}\"");
        let from_index: Vec<_> = plans
            .iter()
            .filter(|(sql, plan)| sql.starts_with(&deleting) && plan.contains(index))
            .collect();
        assert_plans(from_index, table, &[index]);
    }
}

/// PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` on every
/// execution, and keeps nothing of it: the habits page's marks statement for 300 habits ran in
/// 40–57 ms with JIT (10–14 ms of it compiling) and in 17 ms without. None of the pool's
/// statements is the long analytic kind JIT pays off for, so its connections run without it.
#[tokio::test(flavor = "multi_thread")]
async fn the_pools_connections_compile_no_statement() {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        jit: String,
    }
    let t = TestApp::new().await;
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let setting: Setting = diesel::sql_query("SHOW jit")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(setting.jit, "off");
}

/// The statements that hold SQL written in the code (a habit's marks, a day's state) stay
/// prepared on the connection like the rest: `dsl::sql` made diesel parse and plan them again
/// on every execution, the habits page's heaviest statement included.
#[tokio::test(flavor = "multi_thread")]
async fn statements_holding_written_sql_stay_prepared() {
    use agora::habits::store::{self as habits, HabitFilter};
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let habit = crate::habits::create_id(
        &t,
        &ada,
        "Walk",
        serde_json::json!({"daily": true}),
        "2026-01-01",
    )
    .await;
    let (user_id, habit_id) = (ada.user_id.parse().unwrap(), habit.parse().unwrap());
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    for _ in 0..3 {
        for with_marks in [true, false] {
            habits::list(&mut conn, user_id, &HabitFilter::default(), day, with_marks)
                .await
                .unwrap();
        }
        habits::day_done_or_skipped(&mut conn, habit_id, day)
            .await
            .unwrap();
        habits::entries_between(&mut conn, &[habit_id], (day, day))
            .await
            .unwrap();
    }
    assert_eq!(
        prepared_on(&mut conn, "%WHEN habit_completions.skipped THEN 1001%").await,
        4,
        "each of the four statements prepared once"
    );
}

/// How many statements whose text is `LIKE pattern` the connection holds prepared.
async fn prepared_on(conn: &mut AsyncPgConnection, pattern: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let kept: Kept = diesel::sql_query(
        "SELECT count(*) FROM pg_prepared_statements
         WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared_statements%'",
    )
    .bind::<Text, _>(pattern)
    .get_result(conn)
    .await
    .unwrap();
    kept.count
}

/// Every request a script makes with an API token reads the token and its owner: that statement
/// stays prepared on the connection, as the session's does, instead of being parsed and planned
/// on each request (`sql_query` is never kept).
#[tokio::test(flavor = "multi_thread")]
async fn the_api_token_check_stays_prepared() {
    let t = TestApp::new().await;
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let now = t.app.clock.now();
    for digest in [[1u8; 32], [2u8; 32], [1u8; 32]] {
        let found = agora::auth::store::live_api_token(&mut conn, &digest, now)
            .await
            .unwrap();
        assert!(found.is_none());
    }
    assert_eq!(
        prepared_on(&mut conn, "%FROM api_tokens t%").await,
        1,
        "prepared once, kept for the next request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn market_event_readers_use_the_logs_position_index() {
    let t = TestApp::new().await;
    t.sql(
        "INSERT INTO market_events (kind, item, created_at)
         SELECT 'LISTED', '{}', now() FROM generate_series(1, 50000)",
    )
    .await;
    t.sql("ANALYZE market_events").await;
    let (mut conn, sent) = recording(&t).await;
    // Settled once every transaction older than the insert has ended, other tests' included.
    let end = loop {
        if let Some(end) = agora::market::store::settled_end(&mut conn).await.unwrap() {
            break end;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    sent.lock().unwrap().truncate(1);
    let page = agora::market::store::events_after(&mut conn, (end.0, end.1 - 600), 500)
        .await
        .unwrap();
    assert_eq!(page.len(), 500);
    assert!(
        agora::market::store::is_logged(&mut conn, end)
            .await
            .unwrap()
    );
    let plans = planned(&t, &sent).await;
    assert_eq!(plans.len(), 3);
    assert_plans(&plans, "market_events", &["market_events_position"]);
}
