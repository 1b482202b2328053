//! Input that would reach the database unchecked, or cost the server more than any one request
//! should: dates outside the window, per-user caps, control characters in text, the TOTP label
//! of unusual addresses, and list lengths.

use std::time::Instant;

use serde_json::{Value, json};

use crate::common::{Reply, TestApp, Tokens};

const CREATE_TASK: &str =
    "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id dueOn } } }";
const CREATE_HABIT: &str =
    "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id startsOn } } }";

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
