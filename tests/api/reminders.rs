//! Habit reminders through the API: setting a habit's times, and the job (`send_due`, one tick
//! at the pinned clock) sending each occurrence once, as an outbox mail and as an event on
//! `habitReminders`, in the user's time zone and day, across clock changes and instances.

use serde_json::{Value, json};

use agora::reminders::send_due;

use crate::common::{PASSWORD, Reply, TestApp, Tokens};
use crate::habits::{at, complete, create_id};
use crate::subscriptions::{connect, next, subscribe_as, subscribed};

const SET: &str = "mutation($v: SetHabitRemindersInput!) { setHabitReminders(input: $v) { reminders habit { id name reminders } } }";
const EVENTS: &str = "subscription { habitReminders { habit { id name } habitDay time firesAt } }";

async fn set(t: &TestApp, who: &Tokens, habit: &str, times: &[&str]) -> Reply {
    t.gql_as(
        &who.access,
        SET,
        json!({"v": {"habitId": habit, "times": times}}),
    )
    .await
}

async fn set_ok(t: &TestApp, who: &Tokens, habit: &str, times: &[&str]) -> Value {
    set(t, who, habit, times).await.assert_ok()["setHabitReminders"]["reminders"].clone()
}

async fn daily(t: &TestApp, who: &Tokens, name: &str) -> String {
    create_id(t, who, name, json!({"daily": true}), "2026-01-01").await
}

async fn set_zone(t: &TestApp, who: &Tokens, zone: &str, day_start: &str) {
    t.gql_as(
        &who.access,
        "mutation($z: String!, $d: String!) { updateProfile(input: {timeZone: $z, dayStart: $d}) { user { timeZone } } }",
        json!({"z": zone, "d": day_start}),
    )
    .await
    .assert_ok();
}

/// One tick at `instant`: how many reminders went out.
async fn tick_at(t: &TestApp, instant: &str) -> usize {
    at(t, instant);
    send_due(&t.app).await.unwrap()
}

/// The reminder mails queued, oldest first: `recipient|subject|text`.
async fn mails(t: &TestApp) -> Vec<String> {
    t.text(
        "SELECT coalesce(string_agg(recipient || '|' || subject || '|' || text_body, E'\\n---\\n' ORDER BY id), '') AS t FROM email_outbox WHERE kind = 'habit_reminder'",
    )
    .await
    .split("\n---\n")
    .filter(|mail| !mail.is_empty())
    .map(str::to_owned)
    .collect()
}

/// The habit days reminders went out for, in order.
async fn delivered_days(t: &TestApp) -> String {
    t.text("SELECT coalesce(string_agg(habit_day::text, ',' ORDER BY sent_at, habit_day), '') AS t FROM habit_reminder_deliveries")
        .await
}

/// Gives `who` a habit whose reminder is due and runs the job, so one reminder goes out to
/// them (for the documents of other tests that subscribe to `habitReminders`).
pub(crate) async fn send_one_to(t: &TestApp, who: &Tokens) {
    at(t, "2026-01-10T06:00:00Z");
    let habit = daily(t, who, "Stretch").await;
    set_ok(t, who, &habit, &["07:00"]).await;
    assert_eq!(tick_at(t, "2026-01-10T07:00:00Z").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_habit_s_reminders_are_set_listed_replaced_and_checked() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    at(&t, "2026-01-10T09:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;

    let reply = set(&t, &ada, &walk, &["21:00", "07:30", "21:00"]).await;
    let payload = &reply.assert_ok()["setHabitReminders"];
    assert_eq!(payload["reminders"], json!(["07:30", "21:00"]));
    assert_eq!(payload["habit"]["reminders"], json!(["07:30", "21:00"]));
    let listed = t
        .gql_as(
            &ada.access,
            "{ habits(first: 10) { edges { node { name reminders } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed.assert_ok()["habits"]["edges"][0]["node"],
        json!({"name": "Walk", "reminders": ["07:30", "21:00"]})
    );

    // The list replaces the old one; an empty list clears it.
    assert_eq!(set_ok(&t, &ada, &walk, &["08:00"]).await, json!(["08:00"]));
    assert_eq!(
        t.count("SELECT count(*) FROM habit_reminders").await,
        1,
        "the times left out are gone"
    );
    assert_eq!(set_ok(&t, &ada, &walk, &[]).await, json!([]));

    for bad in ["7:30", "24:00", "07:60", "noon", ""] {
        let refused = set(&t, &ada, &walk, &["08:00", bad]).await;
        assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{bad:?}");
        assert_eq!(refused.error()["extensions"]["field"], "times", "{bad:?}");
    }
    let six = ["01:00", "02:00", "03:00", "04:00", "05:00", "06:00"];
    let too_many = set(&t, &ada, &walk, &six).await;
    assert_eq!(too_many.code(), Some("BAD_USER_INPUT"));
    assert_eq!(too_many.error()["extensions"]["field"], "times");
    // Five distinct times and a repeat are five.
    let five = ["01:00", "02:00", "03:00", "04:00", "05:00", "05:00"];
    assert_eq!(
        set_ok(&t, &ada, &walk, &five)
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Another user's habit answers like one that does not exist.
    let theirs = set(&t, &bob, &walk, &["08:00"]).await;
    let missing = set(&t, &bob, "999999", &["08:00"]).await;
    assert_eq!(theirs.code(), Some("NOT_FOUND"));
    assert_eq!(
        theirs.message_but_id(&walk),
        missing.message_but_id("999999")
    );
    assert_eq!(
        set(&t, &bob, "x", &["08:00"]).await.code(),
        Some("BAD_USER_INPUT")
    );
    let anonymous = t
        .gql(SET, json!({"v": {"habitId": walk, "times": ["08:00"]}}))
        .await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        t.count("SELECT count(*) FROM habit_reminders").await,
        5,
        "refusals changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_goes_out_once_at_its_time_and_not_before() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &walk, &["07:30"]).await;

    assert_eq!(tick_at(&t, "2026-01-10T07:29:59Z").await, 0);
    assert_eq!(mails(&t).await.len(), 0);
    assert_eq!(tick_at(&t, "2026-01-10T07:30:00Z").await, 1);
    assert_eq!(tick_at(&t, "2026-01-10T07:30:30Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-10T12:00:00Z").await, 0);
    let sent = mails(&t).await;
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].starts_with(
            "ada@example.com|Reminder: Walk|Hello ada,\n\nIt is 07:30: time for \"Walk\"."
        ),
        "{}",
        sent[0]
    );
    // Setting the same list again changes nothing: no second mail that day.
    set_ok(&t, &ada, &walk, &["07:30"]).await;
    assert_eq!(tick_at(&t, "2026-01-10T12:01:00Z").await, 0);
    // And the next day again, once.
    assert_eq!(tick_at(&t, "2026-01-11T07:29:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-11T07:30:00Z").await, 1);
    assert_eq!(delivered_days(&t).await, "2026-01-10,2026-01-11");

    // A time set after it passed today starts tomorrow.
    at(&t, "2026-01-11T09:00:00Z");
    set_ok(&t, &ada, &walk, &["07:30", "08:00"]).await;
    assert_eq!(tick_at(&t, "2026-01-11T09:01:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-12T08:00:00Z").await, 2);

    // Their records go with the cleanup after 30 days.
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let later = "2026-02-11T08:00:01Z".parse().unwrap();
    agora::cleanup::delete_expired(&mut conn, later)
        .await
        .unwrap();
    assert_eq!(
        t.count("SELECT count(*) FROM habit_reminder_deliveries")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_reminder_for_a_day_done_or_skipped() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &walk, &["20:00"]).await;

    complete(&t, &ada, &walk, "2026-01-10").await.assert_ok();
    assert_eq!(tick_at(&t, "2026-01-10T20:00:00Z").await, 0);
    t.gql_as(
        &ada.access,
        "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { changed } }",
        json!({"v": {"habitId": walk, "date": "2026-01-11"}}),
    )
    .await
    .assert_ok();
    assert_eq!(tick_at(&t, "2026-01-11T20:00:00Z").await, 0);
    // An open day is reminded.
    assert_eq!(tick_at(&t, "2026-01-12T20:00:00Z").await, 1);
    assert_eq!(delivered_days(&t).await, "2026-01-12");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_measurable_day_is_reminded_until_its_value_meets_the_target() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let water = crate::measurable::water(&t, &ada, "2026-01-01").await;
    set_ok(&t, &ada, &water, &["20:00"]).await;
    let record = |date: &'static str, value: u32| {
        let input = json!({"habitId": water, "date": date, "value": value});
        let (t, ada) = (&t, &ada);
        async move {
            crate::measurable::record(t, ada, input).await.assert_ok();
        }
    };
    // Five of eight glasses still want doing; eight do not.
    record("2026-01-10", 5).await;
    assert_eq!(tick_at(&t, "2026-01-10T20:00:00Z").await, 1);
    at(&t, "2026-01-11T12:00:00Z");
    record("2026-01-11", 8).await;
    assert_eq!(tick_at(&t, "2026-01-11T20:00:00Z").await, 0);
    assert_eq!(delivered_days(&t).await, "2026-01-10");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_reminder_on_unscheduled_days_nor_for_archived_habits() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z"); // a Saturday
    let monday = json!({"weekly": {"days": ["MONDAY"]}});
    let gym = create_id(&t, &ada, "Gym", monday, "2026-01-01").await;
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &gym, &["07:00"]).await;
    set_ok(&t, &ada, &walk, &["07:00"]).await;
    t.gql_as(
        &ada.access,
        "mutation($v: HabitIdInput!) { archiveHabit(input: $v) { habit { archived } } }",
        json!({"v": {"id": walk}}),
    )
    .await
    .assert_ok();

    assert_eq!(tick_at(&t, "2026-01-10T07:00:00Z").await, 0, "Saturday");
    assert_eq!(tick_at(&t, "2026-01-11T07:00:00Z").await, 0, "Sunday");
    assert_eq!(tick_at(&t, "2026-01-12T07:00:00Z").await, 1, "Monday");
    let sent = mails(&t).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("|Reminder: Gym|"), "{}", sent[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_follow_the_user_s_zone_and_day_start() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T12:00:00Z");
    set_zone(&t, &ada, "Europe/Berlin", "04:00").await;
    let read = daily(&t, &ada, "Read").await;
    // 01:00 in a day starting at 04:00 is that day's night: Berlin's 01:00 on the 11th.
    set_ok(&t, &ada, &read, &["01:00", "22:00"]).await;

    assert_eq!(tick_at(&t, "2026-01-10T20:59:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-10T21:00:00Z").await, 1, "22:00 Berlin");
    // Done for the 10th just after midnight: the night's reminder is for the 10th too.
    at(&t, "2026-01-10T23:30:00Z");
    complete(&t, &ada, &read, "2026-01-10").await.assert_ok();
    assert_eq!(tick_at(&t, "2026-01-11T00:00:00Z").await, 0);
    // The next night is open: 01:00 Berlin on the 12th reminds of the 11th.
    assert_eq!(tick_at(&t, "2026-01-11T21:00:00Z").await, 1);
    assert_eq!(tick_at(&t, "2026-01-11T23:59:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-12T00:00:00Z").await, 1);
    assert_eq!(delivered_days(&t).await, "2026-01-10,2026-01-11,2026-01-11");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_berlin_a_half_past_two_reminder_fires_once_on_both_clock_change_nights() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-27T12:00:00Z");
    set_zone(&t, &ada, "Europe/Berlin", "00:00").await;
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &walk, &["02:30"]).await;

    // 28 March, winter time: 02:30 is 01:30 UTC.
    assert_eq!(tick_at(&t, "2026-03-28T01:29:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-03-28T01:30:00Z").await, 1);
    // 29 March skips from 02:00 to 03:00: the reminder fires at 03:00 (01:00 UTC), once.
    assert_eq!(tick_at(&t, "2026-03-29T00:59:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-03-29T01:00:00Z").await, 1);
    for later in ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"] {
        assert_eq!(tick_at(&t, later).await, 0, "{later}");
    }
    // 30 March, summer time: 02:30 is 00:30 UTC.
    assert_eq!(tick_at(&t, "2026-03-30T00:30:00Z").await, 1);

    // 25 October repeats 02:00–03:00: the first 02:30 (00:30 UTC) reminds, the second not.
    at(&t, "2026-10-24T12:00:00Z");
    assert_eq!(tick_at(&t, "2026-10-25T00:29:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-10-25T00:30:00Z").await, 1);
    assert_eq!(tick_at(&t, "2026-10-25T01:30:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-10-26T01:30:00Z").await, 1, "winter time");
    assert_eq!(
        delivered_days(&t).await,
        "2026-03-28,2026-03-29,2026-03-30,2026-10-25,2026-10-26"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_reminder_goes_out_late_within_its_day_and_never_after_it() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    let read = daily(&t, &ada, "Read").await;
    set_ok(&t, &ada, &walk, &["08:00"]).await;
    set_ok(&t, &ada, &read, &["09:00"]).await;

    // No instance ran at 08:00 or 09:00: the first tick after, the same day, sends both.
    assert_eq!(tick_at(&t, "2026-01-10T23:59:00Z").await, 2);
    // Nothing ran on the 11th at all: its reminders are not sent on the 12th.
    assert_eq!(tick_at(&t, "2026-01-12T07:00:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-12T08:00:00Z").await, 1);
    assert_eq!(tick_at(&t, "2026-01-12T09:00:00Z").await, 1);
    assert_eq!(
        delivered_days(&t).await,
        "2026-01-10,2026-01-10,2026-01-12,2026-01-12"
    );
    // A reminder in the last minute of a day still goes out in the first tick after it (one
    // interval, 60 s, later at most).
    set_ok(&t, &ada, &walk, &["23:59"]).await;
    assert_eq!(tick_at(&t, "2026-01-13T00:00:00Z").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_zone_moves_the_reminders_to_its_clock() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T10:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &walk, &["20:00"]).await;
    // 20:00 in Tokyo is 11:00 UTC: the reminder comes then, not at 20:00 UTC.
    set_zone(&t, &ada, "Asia/Tokyo", "00:00").await;
    assert_eq!(tick_at(&t, "2026-01-10T10:59:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-10T11:00:00Z").await, 1);
    // Back to UTC: tomorrow's comes at 20:00 UTC, not at Tokyo's 20:00.
    set_zone(&t, &ada, "UTC", "00:00").await;
    assert_eq!(tick_at(&t, "2026-01-11T11:00:00Z").await, 0);
    assert_eq!(tick_at(&t, "2026-01-11T20:00:00Z").await, 1);
    assert_eq!(delivered_days(&t).await, "2026-01-10,2026-01-11");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_ticking_at_once_send_each_reminder_once() {
    let t = TestApp::new().await;
    let other = agora::App::build(t.app.config.clone()).await.unwrap();
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    for name in ["Walk", "Read", "Swim"] {
        let id = daily(&t, &ada, name).await;
        set_ok(&t, &ada, &id, &["07:00", "07:01"]).await;
    }
    for instant in ["2026-01-10T07:01:00Z", "2026-01-11T07:01:00Z"] {
        t.app.clock.pin(instant.parse().unwrap());
        other.clock.pin(instant.parse().unwrap());
        let (a, b, c, d) = tokio::join!(
            send_due(&t.app),
            send_due(&other),
            send_due(&t.app),
            send_due(&other)
        );
        let sent = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
        assert_eq!(sent, 6, "{instant}");
    }
    assert_eq!(mails(&t).await.len(), 12);
    assert_eq!(
        t.count("SELECT count(*) FROM habit_reminder_deliveries")
            .await,
        12
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_s_subscription_receives_the_reminder_and_nobody_else_s() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    let swim = daily(&t, &bob, "Swim").await;
    set_ok(&t, &ada, &walk, &["07:00"]).await;
    set_ok(&t, &bob, &swim, &["08:00"]).await;
    let address = t.serve().await;
    let mut ada_socket = connect(address).await;
    let mut bob_socket = connect(address).await;
    subscribe_as(&mut ada_socket, &ada.access, EVENTS).await;
    subscribe_as(&mut bob_socket, &bob.access, EVENTS).await;
    subscribed(&mut ada_socket).await;
    subscribed(&mut bob_socket).await;

    assert_eq!(tick_at(&t, "2026-01-10T07:00:00Z").await, 1);
    let event = next(&mut ada_socket).await.unwrap();
    assert_eq!(
        event["payload"]["data"]["habitReminders"],
        json!({"habit": {"id": walk, "name": "Walk"}, "habitDay": "2026-01-10", "time": "07:00", "firesAt": "2026-01-10T07:00:00+00:00"}),
        "{event}"
    );
    // Bob's first event is his own: ada's never reached him.
    assert_eq!(tick_at(&t, "2026-01-10T08:00:00Z").await, 1);
    let his = next(&mut bob_socket).await.unwrap();
    assert_eq!(
        his["payload"]["data"]["habitReminders"]["habit"]["name"], "Swim",
        "{his}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_a_reminder_sent_by_one_instance_reaches_a_subscriber_on_another() {
    let prefix = format!("reminders-{}", crate::common::free_port());
    let t = TestApp::with_redis(|config| config.redis_prefix = prefix.clone()).await;
    let other = agora::App::build(t.app.config.clone()).await.unwrap();
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    set_ok(&t, &ada, &walk, &["07:00"]).await;
    let address = t.serve().await;
    let mut socket = connect(address).await;
    subscribe_as(&mut socket, &ada.access, EVENTS).await;
    subscribed(&mut socket).await;

    // The relay subscribes to Redis in the background: the event is published once it listens.
    other.clock.pin("2026-01-10T07:00:00Z".parse().unwrap());
    crate::common::eventually(
        std::time::Duration::from_secs(5),
        "the relay to subscribe",
        async || {
            let listeners: i64 = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(format!("{prefix}:habit-reminders"))
                .query_async::<(String, i64)>(
                    &mut redis::Client::open(crate::common::redis_url())
                        .unwrap()
                        .get_multiplexed_async_connection()
                        .await
                        .unwrap(),
                )
                .await
                .unwrap()
                .1;
            (listeners >= 2).then_some(())
        },
    )
    .await;
    assert_eq!(send_due(&other).await.unwrap(), 1);
    let event = next(&mut socket).await.unwrap();
    assert_eq!(
        event["payload"]["data"]["habitReminders"]["habit"]["name"], "Walk",
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_are_exported_and_go_with_their_habit_and_account() {
    let t = TestApp::new().await;
    // Not the only administrator, who could not delete their account.
    t.admin("root").await;
    let ada = t.user("ada").await;
    at(&t, "2026-01-10T06:00:00Z");
    let walk = daily(&t, &ada, "Walk").await;
    let read = daily(&t, &ada, "Read").await;
    set_ok(&t, &ada, &walk, &["21:00", "07:30"]).await;
    set_ok(&t, &ada, &read, &["08:00"]).await;
    assert_eq!(tick_at(&t, "2026-01-10T07:30:00Z").await, 1);

    let export = t.gql_as(&ada.access, "{ exportMyData }", json!({})).await;
    let habits = export.assert_ok()["exportMyData"]["habits"].clone();
    assert_eq!(habits[0]["reminders"], json!(["07:30", "21:00"]));
    assert_eq!(habits[1]["reminders"], json!(["08:00"]));

    t.gql_as(
        &ada.access,
        "mutation($v: HabitIdInput!) { deleteHabit(input: $v) { habit { id } } }",
        json!({"v": {"id": walk}}),
    )
    .await
    .assert_ok();
    assert_eq!(t.count("SELECT count(*) FROM habit_reminders").await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM habit_reminder_deliveries")
            .await,
        0
    );
    t.gql_as(
        &ada.access,
        "mutation($v: DeleteAccountInput!) { deleteAccount(input: $v) { deletedUserId } }",
        json!({"v": {"password": PASSWORD}}),
    )
    .await
    .assert_ok();
    assert_eq!(t.count("SELECT count(*) FROM habit_reminders").await, 0);
}
