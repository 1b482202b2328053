//! Statistics: the issue's example, every figure on a known data set, and a statement count
//! that does not grow with the number of habits.

use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const STATS: &str = "query($r: StatsRange!) { stats(range: $r) {
    range from to bucketSize
    habits { total active archived dueToday completedToday todayRate successRate
             completions { start end completed scheduled rate }
             topStreaks { streak habit { name currentStreak } }
             byKind { kind count } byTheme { count theme { name } } }
    tasks { total done open completionRate createdInRange completedInRange averageHoursToComplete
            byPriority { priority count } byTheme { count theme { name } } } } }";

fn at(t: &TestApp, instant: &str) {
    t.app.clock.pin(instant.parse().unwrap());
}

async fn stats(t: &TestApp, who: &Tokens, range: &str) -> Value {
    let reply = t.gql_as(&who.access, STATS, json!({ "r": range })).await;
    reply.assert_ok()["stats"].clone()
}

async fn gql_ok(t: &TestApp, who: &Tokens, query: &str, variables: Value) -> Value {
    t.gql_as(&who.access, query, variables)
        .await
        .assert_ok()
        .clone()
}

async fn habit(t: &TestApp, who: &Tokens, input: Value) -> String {
    let data = gql_ok(
        t,
        who,
        "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id } } }",
        json!({ "v": input }),
    )
    .await;
    data["createHabit"]["habit"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn complete(t: &TestApp, who: &Tokens, id: &str, date: &str) {
    gql_ok(
        t,
        who,
        "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { changed } }",
        json!({"v": {"habitId": id, "date": date}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_issue_example_three_of_seven() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-07T18:00:00Z");
    let id = habit(
        &t,
        &ada,
        json!({"name": "Daily", "schedule": {"daily": true}, "startsOn": "2026-01-01"}),
    )
    .await;
    for date in ["2026-01-01", "2026-01-03", "2026-01-07"] {
        complete(&t, &ada, &id, date).await;
    }
    let seen = stats(&t, &ada, "LAST_7_DAYS").await;
    assert_eq!(
        (&seen["from"], &seen["to"]),
        (&json!("2026-01-01"), &json!("2026-01-07"))
    );
    let habits = &seen["habits"];
    assert_eq!(habits["successRate"], 42.9);
    assert_eq!(
        habits["topStreaks"],
        json!([{"streak": 1, "habit": {"name": "Daily", "currentStreak": 1}}])
    );
    let per_day: Vec<i64> = habits["completions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["completed"].as_i64().unwrap())
        .collect();
    assert_eq!(per_day, [1, 0, 1, 0, 0, 0, 1]);
    assert_eq!(
        (&habits["completedToday"], &habits["todayRate"]),
        (&json!(1), &json!(100.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_figure_on_a_known_data_set() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    at(&t, "2026-03-01T09:00:00Z");
    let theme = gql_ok(
        &t,
        &ada,
        "mutation { createTheme(input: {name: \"Health\"}) { theme { id } } }",
        json!({}),
    )
    .await;
    let health = theme["createTheme"]["theme"]["id"].clone();

    // Habits, all started Mar 1; viewed on Mar 10 (a Tuesday).
    let daily = habit(
        &t,
        &ada,
        json!({"name": "Walk", "schedule": {"daily": true}, "themeId": health}),
    )
    .await;
    let weekly = habit(
        &t,
        &ada,
        json!({"name": "Plan", "schedule": {"weekly": {"days": ["MONDAY", "TUESDAY"]}}}),
    )
    .await;
    let ended = habit(&t, &ada, json!({"name": "Detox", "schedule": {"daily": true}, "endsOn": "2026-03-04", "themeId": health})).await;
    habit(
        &t,
        &ada,
        json!({"name": "Taxes", "schedule": {"yearly": {"month": 4, "day": 15}}}),
    )
    .await;
    // Someone else's data never counts.
    habit(
        &t,
        &bob,
        json!({"name": "Bob's", "schedule": {"daily": true}}),
    )
    .await;

    // Tasks: created Mar 1 09:00, two done later.
    let mut task_ids = Vec::new();
    for (title, priority, themed) in [
        ("a", "HIGH", true),
        ("b", "HIGH", false),
        ("c", "LOW", false),
    ] {
        let mut input = json!({"title": title, "priority": priority});
        if themed {
            input["themeId"] = health.clone();
        }
        let data = gql_ok(
            &t,
            &ada,
            "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id } } }",
            json!({ "v": input }),
        )
        .await;
        task_ids.push(
            data["createTask"]["task"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let finish = |id: String, instant: &'static str| {
        let t = &t;
        let ada = &ada;
        async move {
            at(t, instant);
            gql_ok(
                t,
                ada,
                "mutation($v: MoveTaskInput!) { moveTask(input: $v) { task { id } } }",
                json!({"v": {"taskId": id, "status": "DONE", "position": 0}}),
            )
            .await;
        }
    };
    finish(task_ids[0].clone(), "2026-03-01T12:00:00Z").await; // 3 h
    finish(task_ids[1].clone(), "2026-03-02T09:00:00Z").await; // 24 h

    // Detox is done every day of its life, before it ends.
    at(&t, "2026-03-04T20:00:00Z");
    for day in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"] {
        complete(&t, &ada, &ended, day).await;
    }
    at(&t, "2026-03-10T15:00:00Z");
    for day in [
        "2026-03-01",
        "2026-03-02",
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
    ] {
        complete(&t, &ada, &daily, day).await;
    }
    complete(&t, &ada, &weekly, "2026-03-09").await;

    let seen = stats(&t, &ada, "LAST_7_DAYS").await;
    assert_eq!(
        (&seen["from"], &seen["to"], &seen["bucketSize"]),
        (&json!("2026-03-04"), &json!("2026-03-10"), &json!("DAY"))
    );
    let habits = &seen["habits"];
    assert_eq!(
        (&habits["total"], &habits["active"], &habits["archived"]),
        (&json!(4), &json!(3), &json!(1))
    );
    // Today (Tue): Walk done, Plan due; Taxes not scheduled.
    assert_eq!(
        (
            &habits["dueToday"],
            &habits["completedToday"],
            &habits["todayRate"]
        ),
        (&json!(1), &json!(1), &json!(50.0))
    );
    // Mar 4–10: Walk 7 scheduled / 3 done; Plan Mon 9 done (Tue 10 not done: not yet counted);
    // Detox Mar 4 done. 5 of 9.
    assert_eq!(habits["successRate"], 55.6);
    let per_day: Vec<(i64, i64)> = habits["completions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| {
            (
                bucket["completed"].as_i64().unwrap(),
                bucket["scheduled"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_day,
        [(1, 2), (0, 1), (0, 1), (0, 1), (1, 1), (2, 2), (1, 1)]
    );
    assert_eq!(
        habits["topStreaks"],
        json!([
            {"streak": 3, "habit": {"name": "Walk", "currentStreak": 3}},
            {"streak": 1, "habit": {"name": "Plan", "currentStreak": 1}},
        ])
    );
    assert_eq!(
        habits["byKind"],
        json!([
            {"kind": "DAILY", "count": 2}, {"kind": "WEEKLY", "count": 1}, {"kind": "MONTHLY", "count": 0},
            {"kind": "YEARLY", "count": 1}, {"kind": "INTERVAL", "count": 0},
        ])
    );
    assert_eq!(
        habits["byTheme"],
        json!([
            {"count": 2, "theme": {"name": "Health"}}, {"count": 2, "theme": null},
        ])
    );
    let tasks = &seen["tasks"];
    assert_eq!(
        (&tasks["total"], &tasks["done"], &tasks["open"]),
        (&json!(3), &json!(2), &json!(1))
    );
    assert_eq!(tasks["completionRate"], 66.7);
    assert_eq!(
        tasks["byPriority"],
        json!([
            {"priority": "LOW", "count": 1}, {"priority": "MEDIUM", "count": 0}, {"priority": "HIGH", "count": 2},
        ])
    );
    assert_eq!(
        tasks["byTheme"],
        json!([
            {"count": 2, "theme": null}, {"count": 1, "theme": {"name": "Health"}},
        ])
    );
    // Nothing was created or finished in the last seven days.
    assert_eq!(
        (
            &tasks["createdInRange"],
            &tasks["completedInRange"],
            &tasks["averageHoursToComplete"]
        ),
        (&json!(0), &json!(0), &Value::Null)
    );

    let all = stats(&t, &ada, "ALL_TIME").await;
    assert_eq!(
        (&all["from"], &all["bucketSize"]),
        (&json!("2026-03-01"), &json!("MONTH"))
    );
    assert_eq!(all["habits"]["completions"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &all["tasks"]["createdInRange"],
            &all["tasks"]["completedInRange"]
        ),
        (&json!(3), &json!(2))
    );
    assert_eq!(all["tasks"]["averageHoursToComplete"], 13.5);
    let quarter = stats(&t, &ada, "LAST_90_DAYS").await;
    assert_eq!(quarter["bucketSize"], "WEEK");
    assert_eq!(quarter["from"], "2025-12-11");
    assert_eq!(
        quarter["habits"]["completions"][0],
        json!({"start": "2025-12-11", "end": "2025-12-14", "completed": 0, "scheduled": 0, "rate": 0.0})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_habits_cost_the_same_statements_as_three() {
    let t = TestApp::new().await;
    let few = t.user("few").await;
    let many = t.user("many").await;
    at(&t, "2026-01-15T12:00:00Z");
    for (who, count) in [(&few, 3), (&many, 300)] {
        t.sql(&format!(
            "INSERT INTO habits (user_id, name, kind, schedule, starts_on, created_at, updated_at, measure)
             SELECT {}, 'habit ' || g, 'DAILY', '{{}}', DATE '2024-01-01', now(), now(),
                    CASE WHEN g % 2 = 0 THEN '{{\"unit\": \"glasses\", \"target\": 8, \"direction\": \"AT_LEAST\"}}'::jsonb END
             FROM generate_series(1, {count}) AS g",
            who.user_id
        ))
        .await;
        t.sql(&format!(
            "INSERT INTO tasks (user_id, title, position, created_at, updated_at) SELECT {}, 'task ' || g, g - 1, now(), now() FROM generate_series(1, {count}) AS g",
            who.user_id
        ))
        .await;
    }
    t.sql(
        "INSERT INTO habit_completions (habit_id, completed_on, created_at, value)
         SELECT h.id, d::date, now(), CASE WHEN h.measure IS NOT NULL THEN (h.id + extract(doy FROM d)::int) % 10 END
         FROM habits h, generate_series(DATE '2024-01-01', DATE '2026-01-14', INTERVAL '1 day') AS d
         WHERE (h.id + extract(doy FROM d)::int) % 5 <> 0",
    )
    .await;
    // Nothing is done today yet, so every habit is due and its page needs its completions.
    // The score, skips, notes and (half the habits are measurable) values of a page cost no
    // statement per habit either.
    let habits_due = "{ habits(filter: {status: DUE_TODAY}, first: 100) { totalCount edges { node { name currentStreak completionRate score skips notes { note } measure { target } todayValue values { value met } theme { name } } } } }";
    let mut cost = Vec::new();
    for who in [&few, &many] {
        let mut per_query = Vec::new();
        for range in ["LAST_30_DAYS", "ALL_TIME"] {
            let before = agora::metrics::statements_sent();
            let seen = stats(&t, who, range).await;
            assert!(seen["habits"]["total"].as_i64().unwrap() >= 3);
            per_query.push(agora::metrics::statements_sent() - before);
        }
        let before = agora::metrics::statements_sent();
        gql_ok(&t, who, habits_due, json!({})).await;
        per_query.push(agora::metrics::statements_sent() - before);
        cost.push(per_query);
    }
    assert_eq!(
        cost[0], cost[1],
        "statements per query with 3 and with 300 habits"
    );
    assert!(
        cost[1].iter().all(|statements| *statements <= 10),
        "{cost:?}"
    );
}
