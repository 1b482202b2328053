use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

const MY_ACTIVITY: &str = "{ myActivity(first: 50) { totalCount edges { node { action actorId targetType ipAddress userAgent requestId metadata } } } }";

fn actions(reply: &crate::common::Reply, field: &str) -> Vec<String> {
    reply.assert_ok()[field]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn account_events_are_recorded_and_readable_by_their_owner() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    assert_eq!(
        t.login("ada", "wrong password!").await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        t.login("nobody-here", "wrong password!").await.code(),
        Some("UNAUTHENTICATED")
    );
    let change = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { session { refreshToken } } }";
    let changed = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": "another long secret"}}),
        )
        .await;
    let renewed = changed.assert_ok()["changePassword"]["session"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh =
        "mutation($v: RefreshSessionInput!) { refreshSession(input: $v) { refreshToken } }";
    t.gql(refresh, json!({"v": {"refreshToken": renewed}}))
        .await
        .assert_ok();
    t.sql(
        "UPDATE refresh_tokens SET used_at = now() - interval '1 minute' WHERE used_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        t.gql(refresh, json!({"v": {"refreshToken": renewed}}))
            .await
            .code(),
        Some("UNAUTHENTICATED")
    );

    let again = t.login("ada", "another long secret").await;
    let access = again.assert_ok()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let activity = t.gql_as(&access, MY_ACTIVITY, json!({})).await;
    let mine = actions(&activity, "myActivity");
    for expected in [
        "user.register",
        "auth.login",
        "auth.login_failed",
        "auth.password_change",
        "auth.refresh_reuse",
    ] {
        assert!(
            mine.contains(&expected.to_owned()),
            "{expected} missing from {mine:?}"
        );
    }
    // The failure against an unknown account concerns nobody's account: no user reads it.
    assert_eq!(
        mine.iter()
            .filter(|action| *action == "auth.login_failed")
            .count(),
        1
    );
    let newest = &activity.data()["myActivity"]["edges"][0]["node"];
    assert_eq!(newest["ipAddress"], "203.0.113.7");
    assert_eq!(newest["userAgent"], "agora-tests");
    assert!(
        newest["requestId"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );

    t.gql_as(
        &access,
        "mutation { logout { sessionsRevoked } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.logout'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        2
    );
    let failures: Vec<Value> = serde_json::from_str(
        &t.text("SELECT json_agg(json_build_object('keys', (SELECT json_agg(k) FROM jsonb_object_keys(metadata) k), 'actor', actor_id))::text AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
    )
    .unwrap();
    assert_eq!(
        failures[0], failures[1],
        "known and unknown accounts fail with rows of one shape"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auditors_read_and_filter_the_whole_log() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let query = "query($f: AuditLogFilter) { auditLog(first: 100, filter: $f) { totalCount edges { node { action actorId } } } }";
    let all = t.gql_as(&admin.access, query, json!({})).await;
    assert!(all.assert_ok()["auditLog"]["totalCount"].as_i64().unwrap() >= 4);
    let logins = t
        .gql_as(&admin.access, query, json!({"f": {"action": "auth.login"}}))
        .await;
    assert_eq!(actions(&logins, "auditLog"), ["auth.login", "auth.login"]);
    let by_ada = t
        .gql_as(&admin.access, query, json!({"f": {"actorId": ada.user_id}}))
        .await;
    assert_eq!(
        actions(&by_ada, "auditLog"),
        ["auth.login", "user.register"]
    );
    let future = t
        .gql_as(
            &admin.access,
            query,
            json!({"f": {"since": "2199-12-31T00:00:00Z"}}),
        )
        .await;
    assert_eq!(future.assert_ok()["auditLog"]["totalCount"], 0);
    let past = t
        .gql_as(
            &admin.access,
            query,
            json!({"f": {"until": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(past.assert_ok()["auditLog"]["totalCount"], 0);
    let bad = t
        .gql_as(&admin.access, query, json!({"f": {"since": "yesterday"}}))
        .await;
    assert!(bad.code().is_some());
    assert_eq!(
        t.gql_as(&ada.access, query, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    // No mutation edits or deletes audit rows.
    let schema = agora::graphql::sdl();
    assert!(!schema.contains("deleteAudit") && !schema.contains("updateAudit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let direct = TestApp::new().await;
    direct.register("ada", "ada@example.com").await.assert_ok();
    direct
        .post(
            "{ __typename }",
            json!({}),
            &[("x-forwarded-for", "198.51.100.23")],
        )
        .await;
    direct
        .post(
            "mutation { login(input: {login: \"ada\", password: \"nope nope nope\"}) { ... on AuthPayload { accessToken } } }",
            json!({}),
            &[("x-forwarded-for", "198.51.100.23")],
        )
        .await;
    assert_eq!(
        direct
            .text("SELECT host(ip) AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        "203.0.113.7"
    );

    let proxied =
        TestApp::with_config(|config| config.trusted_proxies = vec!["203.0.113.7".into()]).await;
    proxied.register("ada", "ada@example.com").await.assert_ok();
    proxied
        .post(
            "mutation { login(input: {login: \"ada\", password: \"nope nope nope\"}) { ... on AuthPayload { accessToken } } }",
            json!({}),
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.23")],
        )
        .await;
    assert_eq!(
        proxied
            .text("SELECT host(ip) AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        "198.51.100.23"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_an_audit_row() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let new_password = "a very different secret";
    let change = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { session { refreshToken } } }";
    let changed = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": new_password}}),
        )
        .await;
    let renewed = changed.assert_ok()["changePassword"]["session"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    t.login("ada", PASSWORD).await;
    let refresh =
        "mutation($v: RefreshSessionInput!) { refreshSession(input: $v) { refreshToken } }";
    let rotated = t
        .gql(refresh, json!({"v": {"refreshToken": &renewed}}))
        .await;
    let successor = rotated.assert_ok()["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash = t
        .text("SELECT password_hash AS t FROM users WHERE username = 'ada'")
        .await;
    let everything = t
        .text("SELECT coalesce(string_agg(audit_log::text, ' '), '') AS t FROM audit_log")
        .await;
    assert!(everything.contains("auth.password_change"));
    for secret in [
        PASSWORD,
        new_password,
        &ada.access,
        &ada.refresh,
        &renewed,
        &successor,
        &hash,
    ] {
        assert!(
            !everything.contains(secret),
            "a secret reached the audit log"
        );
    }
}
