use serde_json::json;

use crate::common::{PASSWORD, Reply, TestApp};

const CREATE: &str = "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token apiToken { id name permissions expiresAt lastUsedAt } } }";

pub(crate) async fn create(
    t: &TestApp,
    access: &str,
    permissions: &[&str],
    days: Option<i32>,
    password: &str,
) -> Reply {
    t.gql_as(
        access,
        CREATE,
        json!({"v": {"name": "ci script", "permissions": permissions, "expiresInDays": days, "password": password}}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_shown_once_scoped_and_revocable() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let reply = create(&t, &ada.access, &["profile:read"], Some(30), PASSWORD).await;
    let created = reply.assert_ok()["createApiToken"].clone();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("agora_pat_") && token.len() > 40);
    assert_eq!(created["apiToken"]["permissions"], json!(["profile:read"]));
    assert!(created["apiToken"]["expiresAt"].is_string());

    assert_eq!(
        t.gql_as(&token, "{ me { username } }", json!({}))
            .await
            .assert_ok()["me"]["username"],
        "ada"
    );
    let out_of_scope = t
        .gql_as(&token, "{ mySessions { totalCount } }", json!({}))
        .await;
    assert_eq!(out_of_scope.code(), Some("FORBIDDEN"));
    let me = t.gql_as(&token, "{ me { permissions } }", json!({})).await;
    assert_eq!(me.assert_ok()["me"]["permissions"], json!(["profile:read"]));
    let logout = t
        .gql_as(&token, "mutation { logout { sessionsRevoked } }", json!({}))
        .await;
    assert_eq!(logout.code(), Some("BAD_USER_INPUT"));

    let list = t
        .gql_as(
            &ada.access,
            "{ apiTokens { totalCount edges { node { id name lastUsedAt revokedAt } } } }",
            json!({}),
        )
        .await;
    let node = list.assert_ok()["apiTokens"]["edges"][0]["node"].clone();
    assert!(node["lastUsedAt"].is_string(), "use is recorded: {node}");
    assert!(
        !list.body.to_string().contains(&token),
        "the secret is never listed"
    );
    let stored = t
        .text("SELECT string_agg(api_tokens::text, ' ') AS t FROM api_tokens")
        .await;
    assert!(!stored.contains(&token) && !stored.contains(token.trim_start_matches("agora_pat_")));

    let revoke = "mutation($v: RevokeApiTokenInput!) { revokeApiToken(input: $v) { apiToken { revokedAt } } }";
    let eve = t.user("eve").await;
    let by_other = t
        .gql_as(&eve.access, revoke, json!({"v": {"id": node["id"]}}))
        .await;
    assert_eq!(by_other.code(), Some("NOT_FOUND"));
    t.gql_as(&ada.access, revoke, json!({"v": {"id": node["id"]}}))
        .await
        .assert_ok();
    assert_eq!(
        t.me_refused(&token).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let again = t
        .gql_as(&ada.access, revoke, json!({"v": {"id": node["id"]}}))
        .await;
    assert_eq!(again.code(), Some("NOT_FOUND"));

    let audit = t.text("SELECT string_agg(action || ' ' || metadata::text, ' ') AS t FROM audit_log WHERE action LIKE 'api_token.%'").await;
    assert!(audit.contains("api_token.create") && audit.contains("api_token.revoke"));
    assert!(!audit.contains(&token));
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_requires_the_password_and_held_known_permissions() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let cases = [
        (
            create(&t, &ada.access, &["profile:read"], None, "not my password").await,
            "password",
        ),
        (
            create(&t, &ada.access, &["roles:manage"], None, PASSWORD).await,
            "permissions",
        ),
        (
            create(&t, &ada.access, &["made:up"], None, PASSWORD).await,
            "permissions",
        ),
        (
            create(&t, &ada.access, &[], None, PASSWORD).await,
            "permissions",
        ),
        (
            create(&t, &ada.access, &["profile:read"], Some(0), PASSWORD).await,
            "expiresInDays",
        ),
    ];
    for (reply, field) in cases {
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{:#}", reply.body);
        assert_eq!(reply.error()["extensions"]["field"], field);
    }
    assert_eq!(t.count("SELECT count(*) FROM api_tokens").await, 0);
    assert_eq!(
        create(&t, "", &["profile:read"], None, PASSWORD)
            .await
            .code(),
        Some("UNAUTHENTICATED")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tokens_and_lost_permissions_stop_working() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let reply = create(
        &t,
        &admin.access,
        &["roles:manage", "profile:read"],
        None,
        PASSWORD,
    )
    .await;
    let token = reply.assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let create_role = "mutation { createRole(input: {name: \"scripted\"}) { role { id } } }";
    t.gql_as(&token, create_role, json!({})).await.assert_ok();
    let row = t
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'role.create' AND actor_id IS NOT NULL",
        )
        .await;
    assert_eq!(
        row, 1,
        "scripted changes are audited under the token's owner"
    );

    // The owner loses roles:manage (another admin keeps it): the token loses it too.
    t.admin("second").await;
    t.sql(&format!(
        "DELETE FROM user_roles WHERE user_id = {} AND role_id = (SELECT id FROM roles WHERE name = 'admin')",
        admin.user_id
    ))
    .await;
    assert_eq!(
        t.gql_as(&token, create_role, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    t.gql_as(&token, "{ me { id } }", json!({}))
        .await
        .assert_ok();

    t.sql("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        .await;
    assert_eq!(
        t.me_refused(&token).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        t.me_refused("agora_pat_not-a-real-token").await.as_deref(),
        Some("UNAUTHENTICATED")
    );
}
