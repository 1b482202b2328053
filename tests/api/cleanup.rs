//! The cleanup job deletes what expired long ago and keeps everything live, even when every
//! instance runs it at once.

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn expired_rows_go_live_ones_stay_and_instances_may_clean_together() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let id = &ada.user_id;
    t.sql(&format!(
        "INSERT INTO sessions (user_id, expires_at, created_at, last_seen_at, proved_at) VALUES
           ({id}, now() - interval '40 days', now(), now(), now()),
           ({id}, now() - interval '1 day', now(), now(), now())"
    ))
    .await;
    t.sql(&format!(
        "INSERT INTO sessions (user_id, expires_at, revoked_at, created_at, last_seen_at, proved_at) VALUES
           ({id}, now() + interval '1 day', now() - interval '31 days', now(), now(), now())"
    ))
    .await;
    t.sql(
        "INSERT INTO rate_events (bucket, key, at) VALUES
           ('reset', 'old', now() - interval '2 days'), ('reset', 'new', now())",
    )
    .await;
    t.sql(
        "INSERT INTO email_outbox (kind, recipient, subject, sent_at, created_at, next_attempt_at) VALUES
           ('welcome', 'a@example.com', 's', now() - interval '31 days', now(), now()),
           ('welcome', 'b@example.com', 's', now() - interval '1 day', now(), now())",
    )
    .await;
    let sessions_before = t.count("SELECT count(*) FROM sessions").await;
    let outbox_before = t.count("SELECT count(*) FROM email_outbox").await;

    let now = t.app.clock.now();
    let mut first = agora::db::conn(&t.app.pool).await.unwrap();
    let mut second = agora::db::conn(&t.app.pool).await.unwrap();
    let (one, two) = tokio::join!(
        agora::cleanup::delete_expired(&mut first, now),
        agora::cleanup::delete_expired(&mut second, now)
    );
    assert_eq!(one.unwrap() + two.unwrap(), 4, "each old row deleted once");

    assert_eq!(
        t.count("SELECT count(*) FROM sessions").await,
        sessions_before - 2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM sessions WHERE expires_at > now() - interval '2 days'")
            .await,
        sessions_before - 2,
        "the live session and the recently ended one stay"
    );
    assert_eq!(t.count("SELECT count(*) FROM rate_events").await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox").await,
        outbox_before - 1
    );
    // The user is still signed in.
    assert_eq!(t.me_refused(&ada.access).await, None);
}
