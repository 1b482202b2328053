//! Habits through the API, on a pinned clock so each example happens on its date.

use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const CREATE: &str = "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id name startsOn endsOn archived archivedAt schedule { kind days day month activeDays breakDays } } } }";
const COMPLETE: &str = "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { date changed habit { id currentStreak completedToday dueToday } } }";
const UNCOMPLETE: &str = "mutation($v: UncompleteHabitInput!) { uncompleteHabit(input: $v) { date changed habit { currentStreak } } }";
const HABIT: &str = "query($id: ID!) { habit(id: $id) { id name archived archivedAt dueToday completedToday currentStreak longestStreak completionRate completions(from: \"2026-01-01\", to: \"2026-12-31\") } }";

/// Pins the server's clock to `instant` (RFC 3339).
pub(crate) fn at(t: &TestApp, instant: &str) {
    t.app.clock.pin(instant.parse().unwrap());
}

async fn create(t: &TestApp, who: &Tokens, input: Value) -> Value {
    let reply = create_reply(t, who, input).await;
    reply.assert_ok()["createHabit"]["habit"].clone()
}

async fn create_reply(t: &TestApp, who: &Tokens, input: Value) -> crate::common::Reply {
    t.gql_as(&who.access, CREATE, json!({ "v": input })).await
}

pub(crate) async fn create_id(
    t: &TestApp,
    who: &Tokens,
    name: &str,
    schedule: Value,
    starts_on: &str,
) -> String {
    create(
        t,
        who,
        json!({"name": name, "schedule": schedule, "startsOn": starts_on}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn complete(
    t: &TestApp,
    who: &Tokens,
    id: &str,
    date: &str,
) -> crate::common::Reply {
    t.gql_as(
        &who.access,
        COMPLETE,
        json!({"v": {"habitId": id, "date": date}}),
    )
    .await
}

async fn habit(t: &TestApp, who: &Tokens, id: &str) -> Value {
    let reply = t.gql_as(&who.access, HABIT, json!({ "id": id })).await;
    reply.assert_ok()["habit"].clone()
}

/// Names of the viewer's habits with `status`, in the list's order.
async fn names(t: &TestApp, who: &Tokens, filter: Value, order: &str) -> Vec<String> {
    let query = format!(
        "query($f: HabitsFilter) {{ habits(filter: $f, orderBy: {order}, first: 100) {{ totalCount edges {{ node {{ name }} }} }} }}"
    );
    let reply = t.gql_as(&who.access, &query, json!({ "f": filter })).await;
    reply.assert_ok()["habits"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn weekly_monday_is_not_due_on_saturday_and_cannot_be_completed() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T09:00:00Z");
    let id = create_id(
        &t,
        &ada,
        "Gym",
        json!({"weekly": {"days": ["MONDAY"]}}),
        "2026-01-01",
    )
    .await;
    assert_eq!(habit(&t, &ada, &id).await["dueToday"], false);
    let reply = t
        .gql_as(&ada.access, COMPLETE, json!({"v": {"habitId": id}}))
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert_eq!(reply.error()["extensions"]["field"], "date");
    assert_eq!(t.count("SELECT count(*) FROM habit_completions").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_due_on_saturday_2026_02_28() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-02-28T08:00:00Z");
    for (name, schedule) in [
        ("weekly SAT", json!({"weekly": {"days": ["SATURDAY"]}})),
        ("monthly 31", json!({"monthly": {"day": 31}})),
        ("yearly Feb 29", json!({"yearly": {"month": 2, "day": 29}})),
        ("weekly MON", json!({"weekly": {"days": ["MONDAY"]}})),
        ("monthly 27", json!({"monthly": {"day": 27}})),
        ("yearly Mar 1", json!({"yearly": {"month": 3, "day": 1}})),
    ] {
        create_id(&t, &ada, name, schedule, "2026-01-01").await;
    }
    assert_eq!(
        names(&t, &ada, json!({"status": "DUE_TODAY"}), "NAME").await,
        ["monthly 31", "weekly SAT", "yearly Feb 29"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interval_two_on_two_off_is_a_grid_from_the_start() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T08:00:00Z");
    let id = create_id(
        &t,
        &ada,
        "Run",
        json!({"interval": {"activeDays": 2, "breakDays": 2}}),
        "2026-01-01",
    )
    .await;
    for date in [
        "2026-01-01",
        "2026-01-02",
        "2026-01-05",
        "2026-01-06",
        "2026-01-09",
    ] {
        complete(&t, &ada, &id, date).await.assert_ok();
    }
    for date in ["2026-01-03", "2026-01-04", "2026-01-07"] {
        let reply = complete(&t, &ada, &id, date).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{date}");
    }
    // Jan 10 is a break day: the streak runs back over every scheduled day.
    assert_eq!(habit(&t, &ada, &id).await["currentStreak"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_streak_rate_and_today_not_lost_until_over() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-07T20:00:00Z");
    let gappy = create_id(&t, &ada, "Gappy", json!({"daily": true}), "2026-01-01").await;
    for date in ["2026-01-01", "2026-01-03", "2026-01-07"] {
        complete(&t, &ada, &gappy, date).await.assert_ok();
    }
    let seen = habit(&t, &ada, &gappy).await;
    assert_eq!(seen["currentStreak"], 1);
    assert_eq!(seen["longestStreak"], 1);
    assert_eq!(seen["completionRate"], 42.9, "3 of 7 days");
    assert_eq!(
        seen["completions"],
        json!(["2026-01-01", "2026-01-03", "2026-01-07"])
    );

    at(&t, "2026-01-06T10:00:00Z");
    let steady = create_id(&t, &ada, "Steady", json!({"daily": true}), "2026-01-01").await;
    for date in ["2026-01-03", "2026-01-04", "2026-01-05"] {
        complete(&t, &ada, &steady, date).await.assert_ok();
    }
    let before = habit(&t, &ada, &steady).await;
    assert_eq!(
        (&before["currentStreak"], &before["dueToday"]),
        (&json!(3), &json!(true))
    );
    let reply = t
        .gql_as(&ada.access, COMPLETE, json!({"v": {"habitId": steady}}))
        .await;
    let done = &reply.assert_ok()["completeHabit"];
    assert_eq!(done["date"], "2026-01-06");
    assert_eq!(done["changed"], true);
    assert_eq!(done["habit"]["currentStreak"], 4);
    assert_eq!(done["habit"]["completedToday"], true);
    assert_eq!(done["habit"]["dueToday"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn auckland_noon_utc_is_the_next_local_day() {
    let t = TestApp::new().await;
    let kiri = t.user("kiri").await;
    t.gql_as(
        &kiri.access,
        "mutation { updateProfile(input: {timeZone: \"Pacific/Auckland\"}) { user { timeZone } } }",
        json!({}),
    )
    .await
    .assert_ok();
    at(&t, "2026-01-01T12:00:00Z");
    let id = create(
        &t,
        &kiri,
        json!({"name": "Swim", "schedule": {"daily": true}}),
    )
    .await;
    assert_eq!(id["startsOn"], "2026-01-02", "created on the local date");
    let reply = t
        .gql_as(&kiri.access, COMPLETE, json!({"v": {"habitId": id["id"]}}))
        .await;
    assert_eq!(reply.assert_ok()["completeHabit"]["date"], "2026-01-02");
    assert_eq!(
        t.text("SELECT completed_on::text AS t FROM habit_completions")
            .await,
        "2026-01-02"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn completing_twice_changes_nothing_and_uncompleting_reverses() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-03T10:00:00Z");
    let id = create_id(&t, &ada, "Read", json!({"daily": true}), "2026-03-01").await;
    let first = complete(&t, &ada, &id, "2026-03-02").await;
    assert_eq!(first.assert_ok()["completeHabit"]["changed"], true);
    let again = complete(&t, &ada, &id, "2026-03-02").await;
    assert_eq!(again.assert_ok()["completeHabit"]["changed"], false);
    assert_eq!(t.count("SELECT count(*) FROM habit_completions").await, 1);

    let future = complete(&t, &ada, &id, "2026-03-04").await;
    assert_eq!(
        (
            future.code(),
            future.error()["extensions"]["field"].as_str()
        ),
        (Some("BAD_USER_INPUT"), Some("date"))
    );
    let before_start = complete(&t, &ada, &id, "2026-02-28").await;
    assert_eq!(before_start.code(), Some("BAD_USER_INPUT"));

    let undo = json!({"v": {"habitId": id, "date": "2026-03-02"}});
    let reply = t.gql_as(&ada.access, UNCOMPLETE, undo.clone()).await;
    assert_eq!(reply.assert_ok()["uncompleteHabit"]["changed"], true);
    let reply = t.gql_as(&ada.access, UNCOMPLETE, undo).await;
    assert_eq!(reply.assert_ok()["uncompleteHabit"]["changed"], false);
    assert_eq!(t.count("SELECT count(*) FROM habit_completions").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_completions_of_one_day_store_one_row() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-03T10:00:00Z");
    let id = create_id(&t, &ada, "Read", json!({"daily": true}), "2026-03-01").await;
    let replies =
        futures::future::join_all((0..10).map(|_| complete(&t, &ada, &id, "2026-03-03"))).await;
    let changed = replies
        .iter()
        .filter(|reply| reply.assert_ok()["completeHabit"]["changed"] == true)
        .count();
    assert_eq!(changed, 1);
    assert_eq!(t.count("SELECT count(*) FROM habit_completions").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_habit_is_indistinguishable_from_a_missing_one() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let id = create_id(&t, &ada, "Secret", json!({"daily": true}), "2026-01-01").await;
    let theirs = t.gql_as(&bob.access, HABIT, json!({"id": id})).await;
    let missing = t.gql_as(&bob.access, HABIT, json!({"id": "999999"})).await;
    assert_eq!(theirs.code(), Some("NOT_FOUND"));
    let missing = missing.message_but_id("999999");
    assert_eq!(theirs.message_but_id(&id), missing);
    for (mutation, input) in [
        (COMPLETE, json!({"habitId": id})),
        (
            "mutation($v: HabitIdInput!) { archiveHabit(input: $v) { habit { id } } }",
            json!({"id": id}),
        ),
        (
            "mutation($v: HabitIdInput!) { deleteHabit(input: $v) { habit { id } } }",
            json!({"id": id}),
        ),
        (
            "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { id } } }",
            json!({"id": id, "name": "Mine now"}),
        ),
    ] {
        let reply = t.gql_as(&bob.access, mutation, json!({ "v": input })).await;
        assert_eq!(reply.code(), Some("NOT_FOUND"), "{mutation}");
        assert_eq!(reply.message_but_id(&id), missing);
    }
    assert_eq!(habit(&t, &ada, &id).await["name"], "Secret");
    assert!(names(&t, &bob, json!(null), "CREATED_AT").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_habits_archive_themselves_and_come_back_when_the_end_moves() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-05T10:00:00Z");
    let id = create(
        &t,
        &ada,
        json!({"name": "Sprint", "schedule": {"daily": true}, "startsOn": "2026-01-01", "endsOn": "2026-01-06"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    complete(&t, &ada, &id, "2026-01-05").await.assert_ok();
    assert_eq!(habit(&t, &ada, &id).await["archived"], false);

    // Read the day after the end: archived as of the start of Jan 7.
    at(&t, "2026-01-07T10:00:00Z");
    let seen = habit(&t, &ada, &id).await;
    assert_eq!(seen["archived"], true);
    assert_eq!(seen["archivedAt"], "2026-01-07T00:00:00+00:00");
    assert_eq!(seen["dueToday"], false);
    assert!(
        names(&t, &ada, json!({"status": "ACTIVE"}), "NAME")
            .await
            .is_empty()
    );
    assert_eq!(
        names(&t, &ada, json!({"status": "ARCHIVED"}), "NAME").await,
        ["Sprint"]
    );
    let reply = complete(&t, &ada, &id, "2026-01-06").await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));

    let unarchive =
        "mutation($v: HabitIdInput!) { unarchiveHabit(input: $v) { habit { archived } } }";
    let reply = t
        .gql_as(&ada.access, unarchive, json!({"v": {"id": id}}))
        .await;
    assert_eq!(
        (reply.code(), reply.error()["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("endsOn"))
    );

    let update = "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { archived endsOn dueToday } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": id, "endsOn": "2026-01-07"}}),
        )
        .await;
    let revived = &reply.assert_ok()["updateHabit"]["habit"];
    assert_eq!(revived["archived"], false);
    assert_eq!(revived["dueToday"], true);

    // Moving it into the past archives it again; clearing the end revives it.
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": id, "endsOn": "2026-01-06"}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["updateHabit"]["habit"]["archived"], true);
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": id, "endsOn": null}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["updateHabit"]["habit"]["archived"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_job_uses_each_owners_time_zone() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let kiri = t.user("kiri").await;
    t.sql(&format!(
        "UPDATE users SET time_zone = 'Pacific/Auckland' WHERE id = {}",
        kiri.user_id
    ))
    .await;
    at(&t, "2026-01-01T00:00:00Z");
    for who in [&ada, &kiri] {
        create(
            &t,
            who,
            json!({"name": "Short", "schedule": {"daily": true}, "startsOn": "2026-01-01", "endsOn": "2026-01-01"}),
        )
        .await;
    }
    // 2026-01-01T12:00Z: still Jan 1 in UTC, already Jan 2 in Auckland.
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let archived = agora::habits::store::archive_ended(
        &mut conn,
        "2026-01-01T12:00:00Z".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(archived, 1);
    assert_eq!(
        t.text(&format!(
            "SELECT coalesce(archived_at::text, 'active') AS t FROM habits WHERE user_id = {}",
            kiri.user_id
        ))
        .await,
        "2026-01-01 11:00:00+00",
        "midnight of Jan 2 in Auckland (UTC+13)"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM habits WHERE user_id = {} AND archived_at IS NULL",
            ada.user_id
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn archiving_by_hand_stops_the_schedule_and_unarchiving_resumes_it() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-04-10T10:00:00Z");
    let id = create_id(&t, &ada, "Journal", json!({"daily": true}), "2026-04-01").await;
    let archive =
        "mutation($v: HabitIdInput!) { archiveHabit(input: $v) { habit { archived dueToday } } }";
    let reply = t
        .gql_as(&ada.access, archive, json!({"v": {"id": id}}))
        .await;
    let archived = &reply.assert_ok()["archiveHabit"]["habit"];
    assert_eq!(
        (&archived["archived"], &archived["dueToday"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(
        complete(&t, &ada, &id, "2026-04-09").await.code(),
        Some("BAD_USER_INPUT")
    );
    // A manual archive is not undone by editing the end.
    let update =
        "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { archived } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": id, "endsOn": "2026-12-31"}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["updateHabit"]["habit"]["archived"], true);
    let unarchive =
        "mutation($v: HabitIdInput!) { unarchiveHabit(input: $v) { habit { archived dueToday } } }";
    let reply = t
        .gql_as(&ada.access, unarchive, json!({"v": {"id": id}}))
        .await;
    let back = &reply.assert_ok()["unarchiveHabit"]["habit"];
    assert_eq!(
        (&back["archived"], &back["dueToday"]),
        (&json!(false), &json!(true))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_and_fields_are_validated_strictly() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T10:00:00Z");
    for (input, field) in [
        (
            json!({"name": "x", "schedule": {"weekly": {"days": []}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"monthly": {"day": 0}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"monthly": {"day": 32}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"yearly": {"month": 4, "day": 31}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"yearly": {"month": 13, "day": 1}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"interval": {"activeDays": 0, "breakDays": 2}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"interval": {"activeDays": 2, "breakDays": 0}}}),
            "schedule",
        ),
        (
            json!({"name": "x", "schedule": {"daily": false}}),
            "schedule",
        ),
        (json!({"name": "   ", "schedule": {"daily": true}}), "name"),
        (
            json!({"name": "x".repeat(101), "schedule": {"daily": true}}),
            "name",
        ),
        (
            json!({"name": "evil\u{202E}txt", "schedule": {"daily": true}}),
            "name",
        ),
        (
            json!({"name": "x", "description": "d".repeat(1001), "schedule": {"daily": true}}),
            "description",
        ),
        (
            json!({"name": "x", "schedule": {"daily": true}, "startsOn": "2026-01-05", "endsOn": "2026-01-04"}),
            "endsOn",
        ),
    ] {
        let reply = t.gql_as(&ada.access, CREATE, json!({ "v": input })).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{input}");
        assert_eq!(reply.error()["extensions"]["field"], field, "{input}");
    }
    // One kind exactly: two kinds, or none, fail validation before anything runs.
    for schedule in [json!({"daily": true, "monthly": {"day": 1}}), json!({})] {
        let reply = t
            .gql_as(
                &ada.access,
                CREATE,
                json!({"v": {"name": "x", "schedule": schedule}}),
            )
            .await;
        assert_eq!(
            reply.code(),
            Some("GRAPHQL_VALIDATION_FAILED"),
            "{schedule}"
        );
    }
    let reply = t
        .gql_as(
            &ada.access,
            CREATE,
            json!({"v": {"name": "x", "schedule": {"daily": true}, "startsOn": "2026-02-30"}}),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "an impossible date");
    assert_eq!(t.count("SELECT count(*) FROM habits").await, 0);

    // Emoji sequences joined by zero-width joiners are names like any other.
    let family = create(
        &t,
        &ada,
        json!({"name": " 👩\u{200D}👩\u{200D}👧 time ", "schedule": {"weekly": {"days": ["SUNDAY", "MONDAY", "SUNDAY"]}}}),
    )
    .await;
    assert_eq!(family["name"], "👩\u{200D}👩\u{200D}👧 time");
    assert_eq!(family["schedule"]["kind"], "WEEKLY");
    assert_eq!(family["schedule"]["days"], json!(["MONDAY", "SUNDAY"]));
    assert_eq!(family["startsOn"], "2026-01-10");
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_by_status_kind_and_theme_and_sort_by_streak_across_pages() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-20T10:00:00Z");
    let theme = t
        .gql_as(
            &ada.access,
            "mutation { createTheme(input: {name: \"Health\"}) { theme { id } } }",
            json!({}),
        )
        .await;
    let theme_id = theme.assert_ok()["createTheme"]["theme"]["id"].clone();
    // Streaks: h0 has 0, h1 has 1, ... h5 has 5 days ending yesterday.
    for streak in 0..6u32 {
        let id = create(
            &t,
            &ada,
            json!({"name": format!("h{streak}"), "schedule": {"daily": true}, "startsOn": "2026-01-01",
                   "themeId": if streak % 2 == 0 { theme_id.clone() } else { Value::Null }}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for back in 1..=streak {
            let day = 20 - back;
            complete(&t, &ada, &id, &format!("2026-01-{day:02}"))
                .await
                .assert_ok();
        }
    }
    let weekly = create_id(
        &t,
        &ada,
        "w",
        json!({"weekly": {"days": ["TUESDAY"]}}),
        "2026-01-01",
    )
    .await;
    complete(&t, &ada, &weekly, "2026-01-20").await.assert_ok();

    // Walk the streak order two at a time: the order spans pages.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let reply = t
            .gql_as(
                &ada.access,
                "query($after: String) { habits(orderBy: STREAK, first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name currentStreak } } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &reply.assert_ok()["habits"];
        assert_eq!(page["totalCount"], 7);
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["name"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["h5", "h4", "h3", "h2", "h1", "w", "h0"]);

    assert_eq!(
        names(&t, &ada, json!({"status": "DUE_TODAY"}), "NAME").await,
        ["h0", "h1", "h2", "h3", "h4", "h5"]
    );
    assert_eq!(
        names(&t, &ada, json!({"status": "COMPLETED_TODAY"}), "NAME").await,
        ["w"]
    );
    assert_eq!(
        names(&t, &ada, json!({"kind": "WEEKLY"}), "NAME").await,
        ["w"]
    );
    assert_eq!(
        names(&t, &ada, json!({"themeId": theme_id}), "CREATED_AT").await,
        ["h0", "h2", "h4"]
    );
    let reply = t
        .gql_as(
            &ada.access,
            "{ habits(orderBy: NAME, after: \"bogus\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_job_archives_without_any_read() {
    let t = TestApp::with_config(|config| config.archive_interval_secs = 1).await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-01T10:00:00Z");
    create(
        &t,
        &ada,
        json!({"name": "Short", "schedule": {"daily": true}, "endsOn": "2026-01-01"}),
    )
    .await;
    at(&t, "2026-01-02T10:00:00Z");
    let job = tokio::spawn(agora::habits::run_archive_job(t.app.clone()));
    let archived = crate::common::eventually(
        std::time::Duration::from_secs(5),
        "the habit to be archived",
        async || {
            let archived = t
                .count(
                    "SELECT count(*) FROM habits WHERE archived_at IS NOT NULL AND auto_archived",
                )
                .await;
            (archived >= 1).then_some(archived)
        },
    )
    .await;
    job.abort();
    assert_eq!(archived, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_start_of_four_keeps_the_night_on_the_evening_before() {
    let t = TestApp::new().await;
    let owl = t.user("owl").await;
    let profile = "mutation($v: UpdateProfileInput!) { updateProfile(input: $v) { user { timeZone dayStart } } }";
    let set = t
        .gql_as(
            &owl.access,
            profile,
            json!({"v": {"timeZone": "Europe/Berlin", "dayStart": "04:00"}}),
        )
        .await;
    assert_eq!(
        set.assert_ok()["updateProfile"]["user"],
        json!({"timeZone": "Europe/Berlin", "dayStart": "04:00"})
    );
    for bad in ["13:00", "4 am", "24:00"] {
        let refused = t
            .gql_as(&owl.access, profile, json!({"v": {"dayStart": bad}}))
            .await;
        assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{bad}");
        assert_eq!(refused.error()["extensions"]["field"], "dayStart");
    }

    // 02:30 in Berlin on the 10th is still the 9th.
    at(&t, "2026-03-10T01:30:00Z");
    let read = create(
        &t,
        &owl,
        json!({"name": "Read", "schedule": {"daily": true}, "startsOn": "2026-03-01"}),
    )
    .await;
    let ends = create(
        &t,
        &owl,
        json!({"name": "Trial", "schedule": {"daily": true}, "startsOn": "2026-03-01", "endsOn": "2026-03-09"}),
    )
    .await;
    assert_eq!(ends["archived"], false, "its last day is not over yet");
    let id = read["id"].as_str().unwrap();
    let done = t
        .gql_as(&owl.access, COMPLETE, json!({"v": {"habitId": id}}))
        .await;
    let done = &done.assert_ok()["completeHabit"];
    assert_eq!(done["date"], "2026-03-09");
    assert_eq!(done["habit"]["dueToday"], false);
    assert_eq!(
        names(&t, &owl, json!({"status": "DUE_TODAY"}), "NAME").await,
        ["Trial"]
    );

    // 04:30: the 10th has begun. Read is due again, its streak kept; Trial has ended.
    at(&t, "2026-03-10T03:30:00Z");
    let now = habit(&t, &owl, id).await;
    assert_eq!(now["dueToday"], true);
    assert_eq!(now["completedToday"], false);
    assert_eq!(now["currentStreak"], 1);
    let trial = habit(&t, &owl, ends["id"].as_str().unwrap()).await;
    assert_eq!(trial["archived"], true);
    assert_eq!(trial["archivedAt"], "2026-03-10T03:00:00+00:00");
    assert_eq!(
        names(&t, &owl, json!({"status": "DUE_TODAY"}), "NAME").await,
        ["Read"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn skipped_days_keep_the_streak_count_against_a_monthly_cap_and_carry_notes() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-10T12:00:00Z");
    let run = create(
        &t,
        &ada,
        json!({"name": "Run", "description": "Along the river", "schedule": {"daily": true},
               "startsOn": "2026-03-01", "skipsPerMonth": 2}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let skip = "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { date changed habit { currentStreak dueToday skippedToday completionRate } } }";
    let unskip = "mutation($v: UncompleteHabitInput!) { unskipHabit(input: $v) { changed } }";
    for day in ["2026-03-07", "2026-03-09"] {
        complete(&t, &ada, id, day).await.assert_ok();
    }
    let sick = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": id, "date": "2026-03-08", "note": "flu"}}),
        )
        .await;
    let sick = &sick.assert_ok()["skipHabit"];
    assert_eq!(sick["changed"], true);
    assert_eq!(
        sick["habit"]["currentStreak"], 2,
        "the skip bridges the 7th and the 9th"
    );
    // Seven days before the 8th were neither done nor skipped: 2 done of 8 counted.
    assert_eq!(sick["habit"]["completionRate"], 25.0);

    // Today skipped: not due, and the streak stands.
    let today = t
        .gql_as(&ada.access, skip, json!({"v": {"habitId": id}}))
        .await;
    let today = &today.assert_ok()["skipHabit"]["habit"];
    assert_eq!(today["dueToday"], false);
    assert_eq!(today["skippedToday"], true);
    assert_eq!(today["currentStreak"], 2);
    assert_eq!(
        names(&t, &ada, json!({"status": "DUE_TODAY"}), "NAME").await,
        Vec::<String>::new()
    );
    // Two skips this month already: a third is refused, one in April is not.
    let third = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": id, "date": "2026-03-05"}}),
        )
        .await;
    assert_eq!(third.code(), Some("CONFLICT"));
    assert_eq!(third.error()["extensions"]["reason"], "LIMIT_REACHED");
    let planned = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": id, "date": "2026-04-02", "note": "travel"}}),
        )
        .await;
    assert_eq!(planned.assert_ok()["skipHabit"]["changed"], true);
    let too_far = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": id, "date": "2027-04-02"}}),
        )
        .await;
    assert_eq!(too_far.error()["extensions"]["field"], "date");

    // One mark a day: a done day cannot be skipped, a skipped one cannot be completed.
    let on_done = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": id, "date": "2026-03-07"}}),
        )
        .await;
    assert_eq!(on_done.error()["extensions"]["reason"], "COMPLETED");
    let on_skipped = complete(&t, &ada, id, "2026-03-08").await;
    assert_eq!(on_skipped.error()["extensions"]["reason"], "SKIPPED");
    // Taking a skip back frees the cap; taking back what is not there changes nothing.
    let back = t
        .gql_as(&ada.access, unskip, json!({"v": {"habitId": id}}))
        .await;
    assert_eq!(back.assert_ok()["unskipHabit"]["changed"], true, "today's");
    let again = t
        .gql_as(
            &ada.access,
            unskip,
            json!({"v": {"habitId": id, "date": "2026-03-10"}}),
        )
        .await;
    assert_eq!(again.assert_ok()["unskipHabit"]["changed"], false);
    let uncomplete_skip = t
        .gql_as(
            &ada.access,
            UNCOMPLETE,
            json!({"v": {"habitId": id, "date": "2026-03-08"}}),
        )
        .await;
    assert_eq!(
        uncomplete_skip.assert_ok()["uncompleteHabit"]["changed"],
        false,
        "uncompleting leaves a skip alone"
    );

    // Notes on done days too, listed with the skips' reasons, and found by search.
    let noted = t
        .gql_as(
            &ada.access,
            COMPLETE,
            json!({"v": {"habitId": id, "date": "2026-03-09", "note": "5 km, windy"}}),
        )
        .await;
    assert_eq!(noted.assert_ok()["completeHabit"]["changed"], false);
    let days = t
        .gql_as(
            &ada.access,
            "query($id: ID!) { habit(id: $id) { skips(from: \"2026-03-01\", to: \"2026-04-30\") notes(from: \"2026-03-01\", to: \"2026-03-31\") { date skipped note } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        days.assert_ok()["habit"],
        json!({
            "skips": ["2026-03-08", "2026-04-02"],
            "notes": [
                {"date": "2026-03-08", "skipped": true, "note": "flu"},
                {"date": "2026-03-09", "skipped": false, "note": "5 km, windy"},
            ]
        })
    );
    create(
        &t,
        &ada,
        json!({"name": "Stretch", "schedule": {"daily": true}}),
    )
    .await;
    for (search, found) in [
        ("WINDY", vec!["Run"]),
        ("river", vec!["Run"]),
        ("stretch", vec!["Stretch"]),
        ("100%", vec![]),
    ] {
        assert_eq!(
            names(&t, &ada, json!({"search": search}), "NAME").await,
            found,
            "{search}"
        );
    }
    let bad_cap = create_reply(
        &t,
        &ada,
        json!({"name": "X", "schedule": {"daily": true}, "skipsPerMonth": 32}),
    )
    .await;
    assert_eq!(bad_cap.error()["extensions"]["field"], "skipsPerMonth");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_strength_score_rises_with_check_ins_falls_with_misses_and_freezes_on_skips() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-14T12:00:00Z");
    let id = create_id(&t, &ada, "Walk", json!({"daily": true}), "2026-01-01").await;
    for day in 1..=13 {
        complete(&t, &ada, &id, &format!("2026-01-{day:02}"))
            .await
            .assert_ok();
    }
    let query = "query($id: ID!) { habit(id: $id) { score scoreHistory(from: \"2026-01-12\") { date score } } }";
    let read = t.gql_as(&ada.access, query, json!({"id": id})).await;
    // Thirteen days in a row make exactly half, twelve 1 − 0.5^(12/13); today, not yet
    // done, does not count.
    assert_eq!(
        read.assert_ok()["habit"],
        json!({"score": 50.0, "scoreHistory": [
            {"date": "2026-01-12", "score": 47.3},
            {"date": "2026-01-13", "score": 50.0},
            {"date": "2026-01-14", "score": 50.0},
        ]})
    );
    // Two days later, the 14th skipped and the 15th missed: one step down (50 · 0.5^(1/13)).
    at(&t, "2026-01-16T12:00:00Z");
    t.gql_as(
        &ada.access,
        "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { changed } }",
        json!({"v": {"habitId": id, "date": "2026-01-14"}}),
    )
    .await
    .assert_ok();
    let read = t.gql_as(&ada.access, query, json!({"id": id})).await;
    assert_eq!(read.assert_ok()["habit"]["score"], 47.4);
}
