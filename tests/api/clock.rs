//! One clock: what the server writes is stamped with the app's now, which tests pin, never with
//! the database's, so a row written and a later comparison with it agree on what time it is.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn rows_written_on_a_pinned_clock_carry_its_instant() {
    let t = TestApp::new().await;
    let pinned: DateTime<Utc> = "2020-02-03T04:05:06Z".parse().unwrap();
    t.app.clock.pin(pinned);
    let ada = t.user("ada").await;

    // The welcome mail is due at the app's now, however far that is from the database's.
    assert_eq!(agora::mail::sender::send_due(&t.app).await.unwrap(), 1);

    let reply = t
        .gql_as(
            &ada.access,
            "{ me { createdAt } mySessions(first: 1) { edges { node { createdAt } } } }",
            json!({}),
        )
        .await;
    let data = reply.assert_ok();
    let instant =
        |value: &serde_json::Value| value.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert_eq!(instant(&data["me"]["createdAt"]), pinned);
    assert_eq!(
        instant(&data["mySessions"]["edges"][0]["node"]["createdAt"]),
        pinned
    );
    for (table, column) in [
        ("users", "created_at"),
        ("users", "updated_at"),
        ("user_roles", "created_at"),
        ("sessions", "created_at"),
        ("refresh_tokens", "created_at"),
        ("audit_log", "created_at"),
        ("email_outbox", "created_at"),
        ("account_tokens", "created_at"),
    ] {
        let stamped = format!(
            "SELECT count(*) FROM {table} WHERE {column} = '{}'::timestamptz",
            pinned.to_rfc3339()
        );
        let all = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            (t.count(&stamped).await, table, column),
            (t.count(&all).await, table, column)
        );
    }
}

/// The database keeps no clock of its own for a column: a migration giving one a default of
/// `now()` (or any of its spellings) again would let an insert that forgets its time pass,
/// stamped by the other clock.
#[tokio::test(flavor = "multi_thread")]
async fn no_column_defaults_to_the_database_clock() {
    let t = TestApp::new().await;
    let defaulted = t
        .text(
            "SELECT coalesce(string_agg(table_name || '.' || column_name, ', '), '') AS t
             FROM information_schema.columns
             WHERE table_schema = 'public'
               -- diesel's record of when each migration ran: no row of ours.
               AND table_name <> '__diesel_schema_migrations'
               AND column_default ~* '(now|timestamp|localtime|current_date|current_time)'",
        )
        .await;
    assert_eq!(defaulted, "");
}
