//! Input that would reach the database unchecked, or cost the server more than any one request
//! should: dates outside the window, per-user caps, control characters in text, the TOTP label
//! of unusual addresses, and list lengths.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use serde_json::{Value, json};
use totp_rs::Totp;

use crate::common::{PASSWORD, Reply, TestApp, Tokens};

const CREATE_TASK: &str =
    "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id dueOn } } }";
const CREATE_HABIT: &str =
    "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id startsOn } } }";
const CREATE_THEME: &str =
    "mutation($v: CreateThemeInput!) { createTheme(input: $v) { theme { id } } }";
const CREATE_TOKEN: &str =
    "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }";

#[track_caller]
fn assert_bad_input(reply: &Reply, field: &str) {
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{:#}", reply.body);
    assert_eq!(
        reply.error()["extensions"]["field"],
        field,
        "{:#}",
        reply.body
    );
}

#[track_caller]
fn assert_limit_reached(reply: &Reply) {
    assert_eq!(reply.code(), Some("CONFLICT"), "{:#}", reply.body);
    assert_eq!(
        reply.error()["extensions"]["reason"],
        "LIMIT_REACHED",
        "{:#}",
        reply.body
    );
}

async fn habit_id(t: &TestApp, who: &Tokens, starts_on: &str) -> String {
    let reply = t
        .gql_as(
            &who.access,
            CREATE_HABIT,
            json!({"v": {"name": "Walk", "schedule": {"daily": true}, "startsOn": starts_on}}),
        )
        .await;
    reply.assert_ok()["createHabit"]["habit"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_outside_1900_to_2199_are_bad_input_naming_the_field() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.app.clock.pin("2026-03-10T12:00:00Z".parse().unwrap());
    for (date, accepted) in [
        ("-5000-01-01", false),
        ("0001-01-01", false),
        ("1899-12-31", false),
        ("1900-01-01", true),
        ("2199-12-31", true),
        ("2200-01-01", false),
    ] {
        let task = t
            .gql_as(
                &ada.access,
                CREATE_TASK,
                json!({"v": {"title": "File taxes", "dueOn": date}}),
            )
            .await;
        let habit = t
            .gql_as(
                &ada.access,
                CREATE_HABIT,
                json!({"v": {"name": "Walk", "schedule": {"daily": true}, "startsOn": date}}),
            )
            .await;
        let ending = t
            .gql_as(
                &ada.access,
                CREATE_HABIT,
                json!({"v": {"name": "Run", "schedule": {"daily": true}, "startsOn": "1900-01-01", "endsOn": date}}),
            )
            .await;
        if accepted {
            assert_eq!(task.assert_ok()["createTask"]["task"]["dueOn"], date);
            assert_eq!(habit.assert_ok()["createHabit"]["habit"]["startsOn"], date);
            ending.assert_ok();
        } else {
            assert_bad_input(&task, "dueOn");
            assert_bad_input(&habit, "startsOn");
            assert_bad_input(&ending, "endsOn");
        }
    }

    let task_id = t
        .gql_as(&ada.access, CREATE_TASK, json!({"v": {"title": "Plan"}}))
        .await
        .assert_ok()["createTask"]["task"]["id"]
        .clone();
    let habit = habit_id(&t, &ada, "2026-01-01").await;
    let early = "1899-12-31";
    let cases: [(&str, Value, &str); 7] = [
        (
            "mutation($v: UpdateTaskInput!) { updateTask(input: $v) { task { id } } }",
            json!({"v": {"id": task_id, "dueOn": early}}),
            "dueOn",
        ),
        (
            "query($f: TasksFilter) { tasks(filter: $f) { totalCount } }",
            json!({"f": {"dueBefore": early}}),
            "dueBefore",
        ),
        (
            "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { id } } }",
            json!({"v": {"id": habit, "startsOn": early}}),
            "startsOn",
        ),
        (
            "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { id } } }",
            json!({"v": {"id": habit, "endsOn": "2200-01-01"}}),
            "endsOn",
        ),
        (
            "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { changed } }",
            json!({"v": {"habitId": habit, "date": "-5000-01-01"}}),
            "date",
        ),
        (
            "mutation($v: UncompleteHabitInput!) { uncompleteHabit(input: $v) { changed } }",
            json!({"v": {"habitId": habit, "date": "-5000-01-01"}}),
            "date",
        ),
        (
            "query($id: ID!, $from: Date) { habit(id: $id) { completions(from: $from, to: \"1900-06-01\") } }",
            json!({"id": habit, "from": early}),
            "from",
        ),
    ];
    for (query, variables, field) in cases {
        let reply = t.gql_as(&ada.access, query, variables).await;
        assert_bad_input(&reply, field);
    }
}

/// Ten habits that started on the first day of the window, each done every day of the last
/// year: the streak, rate and statistics fields stay quick and the all-time answer small.
#[tokio::test(flavor = "multi_thread")]
async fn habits_from_1900_keep_streaks_and_all_time_statistics_bounded() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.app.clock.pin("2026-03-10T12:00:00Z".parse().unwrap());
    for _ in 0..10 {
        habit_id(&t, &ada, "1900-01-01").await;
    }
    t.sql(
        "INSERT INTO habit_completions (habit_id, completed_on, created_at)
         SELECT h.id, d::date, now() FROM habits h,
                generate_series(DATE '2025-03-10', DATE '2026-03-10', INTERVAL '1 day') d",
    )
    .await;

    let started = Instant::now();
    let stats = t
        .gql_as(
            &ada.access,
            "{ stats(range: ALL_TIME) { from to bucketSize habits { successRate completions { start end completed scheduled } topStreaks { streak } } } }",
            json!({}),
        )
        .await;
    let stats_took = started.elapsed();
    let data = &stats.assert_ok()["stats"];
    assert_eq!(data["from"], "1900-01-01");
    assert_eq!(data["bucketSize"], "YEAR");
    let buckets = data["habits"]["completions"].as_array().unwrap();
    assert_eq!(buckets.len(), 127, "one bucket per year, 1900 to 2026");
    assert_eq!(buckets[0]["start"], "1900-01-01");
    assert_eq!(buckets[0]["scheduled"], 3650);
    assert_eq!(buckets[126]["end"], "2026-03-10");
    assert_eq!(buckets[126]["completed"], 10 * 69);
    assert_eq!(data["habits"]["topStreaks"][0]["streak"], 366);
    assert!(
        stats.text.len() < 16 * 1024,
        "all time answered {} bytes",
        stats.text.len()
    );

    let started = Instant::now();
    let list = t
        .gql_as(
            &ada.access,
            "{ habits(first: 100, orderBy: STREAK) { nodes { currentStreak longestStreak completionRate } } }",
            json!({}),
        )
        .await;
    let list_took = started.elapsed();
    let nodes = list.assert_ok()["habits"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 10);
    // 1900-01-01 to 2026-03-10 is 46,090 days, 366 of them done.
    assert_eq!(nodes[0]["currentStreak"], 366);
    assert_eq!(nodes[0]["longestStreak"], 366);
    assert_eq!(nodes[0]["completionRate"], 0.8);
    eprintln!("ten habits from 1900: stats(ALL_TIME) {stats_took:?}, habits list {list_took:?}");
}

/// Fills `table` for `who` to `count` rows with one statement, where the API would take minutes.
async fn prefill(t: &TestApp, who: &Tokens, table: &str, count: i64) {
    let user = &who.user_id;
    let statement = match table {
        "tasks" => format!(
            "INSERT INTO tasks (user_id, title, description, priority, status, position, created_at, updated_at)
             SELECT {user}, 'Task ' || n, '', 'MEDIUM', 'TODO', n - 1, now(), now()
             FROM generate_series(1, {count}) n"
        ),
        "habits" => format!(
            "INSERT INTO habits (user_id, name, description, kind, schedule, starts_on, created_at, updated_at)
             SELECT {user}, 'Habit ' || n, '', 'DAILY', '{{}}', DATE '2026-01-01', now(), now()
             FROM generate_series(1, {count}) n"
        ),
        "themes" => format!(
            "INSERT INTO themes (user_id, name, color, created_at)
             SELECT {user}, 'Theme ' || n, '#' || upper(lpad(to_hex(n), 6, '0')), now()
             FROM generate_series(1, {count}) n"
        ),
        "api_tokens" => format!(
            "INSERT INTO api_tokens (user_id, name, token_hash, permissions, created_at)
             SELECT {user}, 'Token ' || n, sha256(n::text::bytea), '{{}}', now()
             FROM generate_series(1, {count}) n"
        ),
        other => panic!("no prefill for {other}"),
    };
    t.sql(&statement).await;
}

fn create_request(kind: &str, n: usize) -> (&'static str, Value) {
    match kind {
        "tasks" => (CREATE_TASK, json!({"v": {"title": format!("New {n}")}})),
        "habits" => (
            CREATE_HABIT,
            json!({"v": {"name": format!("New {n}"), "schedule": {"daily": true}}}),
        ),
        "themes" => (CREATE_THEME, json!({"v": {"name": format!("New {n}")}})),
        "api_tokens" => (
            CREATE_TOKEN,
            json!({"v": {"name": format!("New {n}"), "permissions": ["profile:read"], "password": PASSWORD}}),
        ),
        other => panic!("no create for {other}"),
    }
}

/// With the user `slack` creations short of the cap, twenty creations released together: exactly
/// `slack` succeed, the others are `CONFLICT`/`LIMIT_REACHED`, and the table holds the cap.
async fn cap_holds_under_concurrency(table: &str, cap: i64) {
    let slack = 5;
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    prefill(&t, &ada, table, cap - slack).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let replies = futures_util::future::join_all((0..20).map(|n| {
        let (query, variables) = create_request(table, n);
        let (t, access, barrier) = (&t, ada.access.clone(), barrier.clone());
        async move {
            barrier.wait().await;
            t.gql_as(&access, query, variables).await
        }
    }))
    .await;
    let created = replies
        .iter()
        .filter(|reply| reply.body.get("errors").is_none())
        .count();
    for refused in replies
        .iter()
        .filter(|reply| reply.body.get("errors").is_some())
    {
        assert_limit_reached(refused);
    }
    assert_eq!(created, slack as usize, "{table}");
    let stored = t
        .count(&format!(
            "SELECT count(*) FROM {table} WHERE user_id = {}",
            ada.user_id
        ))
        .await;
    assert_eq!(stored, cap, "{table}");
    // Someone else's quota is their own.
    let bob = t.user("bob").await;
    let (query, variables) = create_request(table, 99);
    t.gql_as(&bob.access, query, variables).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn habits_stop_at_500_per_user_even_when_created_at_once() {
    cap_holds_under_concurrency("habits", 500).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_stop_at_5000_per_user_even_when_created_at_once() {
    cap_holds_under_concurrency("tasks", 5000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn themes_stop_at_100_per_user_even_when_created_at_once() {
    cap_holds_under_concurrency("themes", 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn active_api_tokens_stop_at_50_per_user_even_when_created_at_once() {
    cap_holds_under_concurrency("api_tokens", 50).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_and_expired_api_tokens_do_not_count_against_the_cap() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    prefill(&t, &ada, "api_tokens", 50).await;
    let (query, variables) = create_request("api_tokens", 1);
    assert_limit_reached(&t.gql_as(&ada.access, query, variables.clone()).await);
    t.sql(&format!(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = (SELECT min(id) FROM api_tokens WHERE user_id = {})",
        ada.user_id
    ))
    .await;
    t.gql_as(&ada.access, query, variables.clone())
        .await
        .assert_ok();
    t.sql(&format!(
        "UPDATE api_tokens SET expires_at = now() - INTERVAL '1 day' WHERE id = (SELECT max(id) FROM api_tokens WHERE user_id = {} AND revoked_at IS NULL)",
        ada.user_id
    ))
    .await;
    t.gql_as(&ada.access, query, variables).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_are_configurable() {
    let t = TestApp::with_config(|config| config.max_themes_per_user = 2).await;
    let ada = t.user("ada").await;
    for n in 0..2 {
        let (query, variables) = create_request("themes", n);
        t.gql_as(&ada.access, query, variables).await.assert_ok();
    }
    let (query, variables) = create_request("themes", 2);
    assert_limit_reached(&t.gql_as(&ada.access, query, variables).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_looked_up_text_are_bad_input() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let nul = "ada\u{0}";

    let login = t
        .gql(
            "mutation($v: LoginInput!) { login(input: $v) { __typename } }",
            json!({"v": {"login": nul, "password": PASSWORD}}),
        )
        .await;
    assert_bad_input(&login, "login");

    let cases: [(&str, Value, &str); 6] = [
        (
            "query($f: UsersFilter) { users(filter: $f) { totalCount } }",
            json!({"f": {"search": nul}}),
            "search",
        ),
        (
            "query($f: MarketFilter) { marketItems(filter: $f) { totalCount } }",
            json!({"f": {"search": nul}}),
            "search",
        ),
        (
            "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }",
            json!({"f": {"action": nul}}),
            "action",
        ),
        (
            CREATE_TOKEN,
            json!({"v": {"name": "ci", "permissions": ["profile:read\u{0}"], "password": PASSWORD}}),
            "permissions",
        ),
        (
            "query($f: UsersFilter) { users(filter: $f) { totalCount } }",
            json!({"f": {"search": "x".repeat(101)}}),
            "search",
        ),
        (
            "query($f: MarketFilter) { marketItems(filter: $f) { totalCount } }",
            json!({"f": {"search": "x".repeat(101)}}),
            "search",
        ),
    ];
    for (query, variables, field) in cases {
        let reply = t.gql_as(&root.access, query, variables).await;
        assert_bad_input(&reply, field);
    }
    // The longest search allowed still searches.
    let reply = t
        .gql_as(
            &root.access,
            "query($f: UsersFilter) { users(filter: $f) { totalCount } }",
            json!({"f": {"search": "x".repeat(100)}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["users"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_setup_works_for_a_quoted_address_with_a_colon() {
    let t = TestApp::new().await;
    t.register("colon", "\"a:b\"@example.test")
        .await
        .assert_ok();
    let who = t.sign_in("colon").await;
    let reply = t
        .gql_as(
            &who.access,
            "mutation($v: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $v) { otpauthUri } }",
            json!({"v": {"password": PASSWORD}}),
        )
        .await;
    let uri = reply.assert_ok()["beginTwoFactorSetup"]["otpauthUri"]
        .as_str()
        .unwrap();
    let totp = Totp::from_url(uri).unwrap();
    assert_eq!(totp.account_name(), "colon");
    assert_eq!(totp.issuer(), Some("Agora"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_arguments_have_documented_maxima() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let permissions: Vec<String> = (0..101).map(|n| format!("profile:read{n}")).collect();
    let reply = t
        .gql_as(
            &ada.access,
            CREATE_TOKEN,
            json!({"v": {"name": "ci", "permissions": permissions, "password": PASSWORD}}),
        )
        .await;
    assert_bad_input(&reply, "permissions");

    let days = vec!["MONDAY"; 8];
    let reply = t
        .gql_as(
            &ada.access,
            CREATE_HABIT,
            json!({"v": {"name": "Gym", "schedule": {"weekly": {"days": days}}}}),
        )
        .await;
    assert_bad_input(&reply, "days");
    let week = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ];
    t.gql_as(
        &ada.access,
        CREATE_HABIT,
        json!({"v": {"name": "Gym", "schedule": {"weekly": {"days": week}}}}),
    )
    .await
    .assert_ok();
}

async fn post_body(t: &TestApp, body: String) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    t.send(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_lists_and_documents_are_refused_before_parsing() {
    let t = TestApp::new().await;
    // Half a million zeros in one variable: just under the 1 MiB body limit.
    let zeros = vec!["0"; 500_000].join(",");
    let body = format!(r#"{{"query":"{{ __typename }}","variables":{{"x":[{zeros}]}}}}"#);
    assert!(body.len() < 1024 * 1024);
    let reply = post_body(&t, body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:#}", reply.body);
    assert_eq!(reply.code(), Some("BAD_REQUEST"));
    assert!(
        reply.error()["message"].as_str().unwrap().contains("1000"),
        "{:#}",
        reply.body
    );

    // Nested inside objects and the extensions too.
    let nested = format!(
        r#"{{"query":"{{ __typename }}","extensions":{{"a":{{"b":[[{}]]}}}}}}"#,
        vec!["{}"; 1001].join(",")
    );
    assert_eq!(post_body(&t, nested).await.code(), Some("BAD_REQUEST"));

    // A thousand items is allowed.
    let fine = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"x":[{}]}}}}"#,
        vec!["0"; 1000].join(",")
    );
    post_body(&t, fine).await.assert_ok();

    // The list written into the document itself.
    let literal = format!(
        "{{ __typename @skip(if: false) a: __typename b: __typename # {}\n }}",
        "0,".repeat(70_000)
    );
    let reply = t.gql(&literal, json!({})).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:#}",
        reply.body
    );
    assert_eq!(reply.code(), Some("PAYLOAD_TOO_LARGE"));

    let get = t
        .get(
            &format!(
                "/graphql?query=%7B__typename%7D&variables=%7B%22x%22%3A%5B{}%5D%7D",
                vec!["0"; 1001].join("%2C")
            ),
            &[],
        )
        .await;
    assert_eq!(get.code(), Some("BAD_REQUEST"), "{:#}", get.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_time_filters_outside_the_window_are_bad_input() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let query = "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }";
    for field in ["since", "until"] {
        let reply = t
            .gql_as(
                &root.access,
                query,
                json!({"f": {field: "-5000-01-01T00:00:00Z"}}),
            )
            .await;
        assert_bad_input(&reply, field);
    }
    let within = t
        .gql_as(
            &root.access,
            query,
            json!({"f": {"since": "1900-01-01T00:00:00Z", "until": "2199-12-31T23:59:59Z"}}),
        )
        .await;
    assert!(
        within.assert_ok()["auditLog"]["totalCount"]
            .as_i64()
            .unwrap()
            > 0
    );
}
