//! Measurable habits through the API: a unit, a target and a direction; a value per day; done
//! when the value meets the target, with partial credit below an `AT_LEAST` target.

use serde_json::{Value, json};

use crate::common::{Reply, TestApp, Tokens};

const CREATE: &str = "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id measure { unit target direction } } } }";
const RECORD: &str = "mutation($v: RecordHabitValueInput!) { recordHabitValue(input: $v) { date changed habit { todayValue completedToday dueToday currentStreak } } }";
const READ: &str = "query($id: ID!) { habit(id: $id) { todayValue completedToday dueToday currentStreak longestStreak completionRate score completions(from: \"2026-03-01\") values(from: \"2026-03-01\") { date value met note } } }";

fn at(t: &TestApp, instant: &str) {
    t.app.clock.pin(instant.parse().unwrap());
}

async fn create(t: &TestApp, who: &Tokens, name: &str, measure: Value) -> (String, Value) {
    let input = json!({"name": name, "schedule": {"daily": true}, "startsOn": "2026-03-01", "measure": measure});
    let reply = t.gql_as(&who.access, CREATE, json!({ "v": input })).await;
    let habit = reply.assert_ok()["createHabit"]["habit"].clone();
    (
        habit["id"].as_str().unwrap().to_owned(),
        habit["measure"].clone(),
    )
}

/// A daily habit of at least 8 glasses from `starts_on`: its id.
pub(crate) async fn water(t: &TestApp, who: &Tokens, starts_on: &str) -> String {
    let input = json!({"name": "Water", "schedule": {"daily": true}, "startsOn": starts_on,
                       "measure": {"unit": "glasses", "target": 8, "direction": "AT_LEAST"}});
    let reply = t.gql_as(&who.access, CREATE, json!({ "v": input })).await;
    reply.assert_ok()["createHabit"]["habit"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn record(t: &TestApp, who: &Tokens, input: Value) -> Reply {
    t.gql_as(&who.access, RECORD, json!({ "v": input })).await
}

async fn read(t: &TestApp, who: &Tokens, id: &str) -> Value {
    let reply = t.gql_as(&who.access, READ, json!({ "id": id })).await;
    reply.assert_ok()["habit"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_meeting_an_at_least_target_is_done_and_one_below_earns_its_fraction() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-05T12:00:00Z");
    let (id, measure) = create(
        &t,
        &ada,
        "Water",
        json!({"unit": " glasses ", "target": 8, "direction": "AT_LEAST"}),
    )
    .await;
    assert_eq!(
        measure,
        json!({"unit": "glasses", "target": 8.0, "direction": "AT_LEAST"})
    );
    for (date, value) in [
        ("2026-03-01", 8.0),
        ("2026-03-02", 4.0),
        ("2026-03-03", 10.0),
        ("2026-03-04", 8.0),
    ] {
        record(
            &t,
            &ada,
            json!({"habitId": id, "date": date, "value": value}),
        )
        .await
        .assert_ok();
    }
    // Today holds 6 of 8: recorded, not yet done, still due, and not counted until it is.
    let today = record(
        &t,
        &ada,
        json!({"habitId": id, "value": 6, "note": "slow day"}),
    )
    .await;
    assert_eq!(
        today.assert_ok()["recordHabitValue"],
        json!({"date": "2026-03-05", "changed": true, "habit": {
            "todayValue": 6.0, "completedToday": false, "dueToday": true, "currentStreak": 2}})
    );
    let seen = read(&t, &ada, &id).await;
    // 1 + 0.5 + 1 + 1 of four days.
    assert_eq!(seen["completionRate"], 87.5);
    assert_eq!(seen["longestStreak"], 2);
    assert_eq!(
        seen["completions"],
        json!(["2026-03-01", "2026-03-03", "2026-03-04"])
    );
    assert_eq!(
        seen["values"],
        json!([
            {"date": "2026-03-01", "value": 8.0, "met": true, "note": ""},
            {"date": "2026-03-02", "value": 4.0, "met": false, "note": ""},
            {"date": "2026-03-03", "value": 10.0, "met": true, "note": ""},
            {"date": "2026-03-04", "value": 8.0, "met": true, "note": ""},
            {"date": "2026-03-05", "value": 6.0, "met": false, "note": "slow day"},
        ])
    );

    // A value is edited by recording it again; the same value again changes nothing.
    let edited = record(
        &t,
        &ada,
        json!({"habitId": id, "date": "2026-03-02", "value": 9}),
    )
    .await;
    assert_eq!(edited.assert_ok()["recordHabitValue"]["changed"], true);
    let again = record(
        &t,
        &ada,
        json!({"habitId": id, "date": "2026-03-02", "value": 9}),
    )
    .await;
    assert_eq!(again.assert_ok()["recordHabitValue"]["changed"], false);
    let done_today = record(&t, &ada, json!({"habitId": id, "value": 8})).await;
    assert_eq!(
        done_today.assert_ok()["recordHabitValue"]["habit"],
        json!({"todayValue": 8.0, "completedToday": true, "dueToday": false, "currentStreak": 5})
    );
    let seen = read(&t, &ada, &id).await;
    assert_eq!(seen["completionRate"], 100.0);
    // The note stays when a value is recorded without one.
    assert_eq!(seen["values"][4]["note"], "slow day");

    // Today's value taken back leaves the day open again.
    let cleared = t
        .gql_as(
            &ada.access,
            "mutation($v: UncompleteHabitInput!) { uncompleteHabit(input: $v) { changed habit { todayValue dueToday } } }",
            json!({"v": {"habitId": id}}),
        )
        .await;
    assert_eq!(
        cleared.assert_ok()["uncompleteHabit"],
        json!({"changed": true, "habit": {"todayValue": null, "dueToday": true}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_at_most_target_is_met_at_or_below_it_with_no_partial_credit_above() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-04T12:00:00Z");
    let (id, _) = create(
        &t,
        &ada,
        "Coffee",
        json!({"unit": "cups", "target": 2, "direction": "AT_MOST"}),
    )
    .await;
    for (date, value) in [
        ("2026-03-01", 1.0),
        ("2026-03-02", 3.0),
        ("2026-03-03", 0.0),
    ] {
        record(
            &t,
            &ada,
            json!({"habitId": id, "date": date, "value": value}),
        )
        .await
        .assert_ok();
    }
    let seen = read(&t, &ada, &id).await;
    assert_eq!(seen["completions"], json!(["2026-03-01", "2026-03-03"]));
    assert_eq!(seen["currentStreak"], 1);
    // Two of three: three cups is a miss, not two thirds of a success.
    assert_eq!(seen["completionRate"], 66.7);
    assert_eq!(
        seen["values"][1],
        json!({"date": "2026-03-02", "value": 3.0, "met": false, "note": ""})
    );
    // A day with nothing recorded is not met by itself: it is still due.
    assert_eq!(seen["dueToday"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_values_count_as_their_fraction_in_the_score_and_the_statistics() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-14T12:00:00Z");
    let (id, _) = create(
        &t,
        &ada,
        "Pages",
        json!({"unit": "pages", "target": 20, "direction": "AT_LEAST"}),
    )
    .await;
    for day in 1..=13 {
        record(
            &t,
            &ada,
            json!({"habitId": id, "date": format!("2026-03-{day:02}"), "value": 10}),
        )
        .await
        .assert_ok();
    }
    // Thirteen half days: half of the score thirteen full days give (0.5 · 0.5).
    assert_eq!(read(&t, &ada, &id).await["score"], 25.0);
    let stats = t
        .gql_as(
            &ada.access,
            "{ stats(range: LAST_7_DAYS) { habits { successRate completions { completed scheduled rate } } } }",
            json!({}),
        )
        .await;
    let habits = stats.assert_ok()["stats"]["habits"].clone();
    assert_eq!(habits["successRate"], 50.0);
    // Yesterday's half day; today, with nothing recorded yet, waits.
    let days = habits["completions"].as_array().unwrap();
    assert_eq!(
        days[days.len() - 2..],
        [
            json!({"completed": 0, "scheduled": 1, "rate": 50.0}),
            json!({"completed": 0, "scheduled": 0, "rate": 0.0}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn values_and_measures_are_checked_and_kinds_keep_to_their_check_ins() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-05T12:00:00Z");
    let (water, _) = create(
        &t,
        &ada,
        "Water",
        json!({"unit": "glasses", "target": 8, "direction": "AT_LEAST"}),
    )
    .await;
    let plain = t
        .gql_as(
            &ada.access,
            CREATE,
            json!({"v": {"name": "Walk", "schedule": {"daily": true}, "startsOn": "2026-03-01"}}),
        )
        .await;
    let walk = plain.assert_ok()["createHabit"]["habit"].clone();
    assert_eq!(walk["measure"], Value::Null);
    let walk = walk["id"].as_str().unwrap().to_owned();

    for (measure, field) in [
        (
            json!({"unit": "glasses", "target": 0, "direction": "AT_LEAST"}),
            "measure.target",
        ),
        (
            json!({"unit": "glasses", "target": -1, "direction": "AT_MOST"}),
            "measure.target",
        ),
        (
            json!({"unit": "glasses", "target": 1e10, "direction": "AT_MOST"}),
            "measure.target",
        ),
        (
            json!({"unit": "x".repeat(21), "target": 1, "direction": "AT_MOST"}),
            "measure.unit",
        ),
    ] {
        let input = json!({"name": "Bad", "schedule": {"daily": true}, "measure": measure});
        let reply = t.gql_as(&ada.access, CREATE, json!({ "v": input })).await;
        assert_eq!(
            reply.error()["extensions"]["code"],
            "BAD_USER_INPUT",
            "{measure}"
        );
        assert_eq!(reply.error()["extensions"]["field"], field, "{measure}");
    }
    for (input, field) in [
        (json!({"habitId": water, "value": -1}), "value"),
        (json!({"habitId": water, "value": 1e10}), "value"),
        (
            json!({"habitId": water, "value": 1, "date": "2026-03-06"}),
            "date",
        ),
        (
            json!({"habitId": water, "value": 1, "date": "2026-02-28"}),
            "date",
        ),
        (
            json!({"habitId": water, "value": 1, "note": "n".repeat(1001)}),
            "note",
        ),
        (json!({"habitId": walk, "value": 1}), "habitId"),
    ] {
        let reply = record(&t, &ada, input.clone()).await;
        assert_eq!(
            reply.error()["extensions"]["code"],
            "BAD_USER_INPUT",
            "{input}"
        );
        assert_eq!(reply.error()["extensions"]["field"], field, "{input}");
    }
    // A measurable day is a value, not a tick.
    let ticked = t
        .gql_as(
            &ada.access,
            "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { changed } }",
            json!({"v": {"habitId": water}}),
        )
        .await;
    assert_eq!(ticked.error()["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(ticked.error()["extensions"]["field"], "habitId");
    // A yes/no habit does not become measurable, nor the other way round.
    let update = "mutation($v: UpdateHabitInput!) { updateHabit(input: $v) { habit { measure { unit target direction } completionRate } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": walk, "measure": {"unit": "km", "target": 3, "direction": "AT_LEAST"}}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["field"], "measure");

    // One mark a day: a skipped day takes no value, a day with a value is not skipped.
    let skip = "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { changed } }";
    t.gql_as(
        &ada.access,
        skip,
        json!({"v": {"habitId": water, "date": "2026-03-01"}}),
    )
    .await
    .assert_ok();
    let on_skip = record(
        &t,
        &ada,
        json!({"habitId": water, "date": "2026-03-01", "value": 3}),
    )
    .await;
    assert_eq!(on_skip.error()["extensions"]["code"], "CONFLICT");
    assert_eq!(on_skip.error()["extensions"]["reason"], "SKIPPED");
    record(
        &t,
        &ada,
        json!({"habitId": water, "date": "2026-03-02", "value": 3}),
    )
    .await
    .assert_ok();
    let on_value = t
        .gql_as(
            &ada.access,
            skip,
            json!({"v": {"habitId": water, "date": "2026-03-02"}}),
        )
        .await;
    assert_eq!(on_value.error()["extensions"]["reason"], "COMPLETED");

    // A new target applies to every day already recorded: 3 of 4 now meets it.
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": water, "measure": {"unit": "cups", "target": 3, "direction": "AT_LEAST"}}}),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["updateHabit"]["habit"],
        json!({"measure": {"unit": "cups", "target": 3.0, "direction": "AT_LEAST"}, "completionRate": 33.3})
    );
    // Nothing was stored by the refused calls.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM habit_completions WHERE habit_id = {water}"
        ))
        .await,
        2
    );
}
