//! Recent authentication: sensitive changes need a proof of who the user is younger than the
//! window (10 minutes by default). Signing in is one; `reauthenticate` makes a new one in the
//! same session; a password given with a change is one made then. A session is made stale by
//! moving its proof back, so the rule is read against the server's own clock.

use serde_json::{Value, json};

use crate::common::{PASSWORD, Reply, TestApp, Tokens};
use crate::mfa::{T0, at, code, enable};

const REAUTHENTICATE: &str = "mutation($v: ReauthenticateInput!) { reauthenticate(input: $v) { provedAt validUntil provedWith } }";
const CREATE_TOKEN: &str =
    "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }";
const CURRENT_SESSION: &str = "{ mySessions { nodes { current provedAt provedWith } } }";

/// Moves every proof of `who`'s sessions eleven minutes back.
async fn stale(t: &TestApp, who: &Tokens) {
    t.sql(&format!(
        "UPDATE sessions SET proved_at = proved_at - interval '11 minutes' WHERE user_id = {}",
        who.user_id
    ))
    .await;
}

#[track_caller]
fn needs_reauthentication(reply: &Reply) {
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    assert_eq!(
        reply.error()["extensions"]["reason"],
        "REAUTHENTICATION_REQUIRED",
        "{}",
        reply.body
    );
}

async fn create_token(t: &TestApp, access: &str, extra: Value) -> Reply {
    let mut input = json!({"name": "script", "permissions": ["profile:read"]});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t.gql_as(access, CREATE_TOKEN, json!({ "v": input })).await
}

async fn reauthenticate(t: &TestApp, access: &str, input: Value) -> Reply {
    t.gql_as(access, REAUTHENTICATE, json!({ "v": input }))
        .await
}

/// The sensitive changes of a user and of an administrator, each as it would be sent without
/// a password.
fn sensitive(user_id: &str, role_id: &str, permission_id: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "mutation($v: ChangeEmailInput!) { changeEmail(input: $v) { user { email } } }",
            json!({"v": {"newEmail": "new@example.com"}}),
        ),
        ("mutation { beginTwoFactorSetup { otpauthUri } }", json!({})),
        (
            "mutation { beginPasskeyRegistration { ceremonyId } }",
            json!({}),
        ),
        ("mutation { deleteAccount { sessionsEnded } }", json!({})),
        (
            "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
            json!({"v": {"userId": user_id, "roleId": role_id}}),
        ),
        (
            "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }",
            json!({"v": {"roleId": role_id, "permissionId": permission_id}}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_session_proves_itself_again_before_a_sensitive_change() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    // Just signed in: no password needed.
    create_token(&t, &ada.access, json!({})).await.assert_ok();

    let moderator = t
        .gql_as(
            &root.access,
            "mutation { createRole(input: {name: \"moderator\"}) { role { id } } }",
            json!({}),
        )
        .await;
    let moderator = moderator.assert_ok()["createRole"]["role"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    stale(&t, &ada).await;
    stale(&t, &root).await;
    needs_reauthentication(&create_token(&t, &ada.access, json!({})).await);
    let audit_read = t
        .id_of("SELECT id FROM permissions WHERE name = 'audit:read'")
        .await;
    for (query, variables) in sensitive(&ada.user_id, &moderator, &audit_read) {
        let caller = if query.contains("Role") || query.contains("Permission(") {
            &root
        } else {
            &ada
        };
        needs_reauthentication(&t.gql_as(&caller.access, query, variables).await);
    }
    // Nothing was changed by the refusals.
    assert_eq!(t.count("SELECT count(*) FROM api_tokens").await, 1);
    assert_eq!(
        t.count(
            "SELECT count(*) FROM users WHERE email = 'ada@example.com' AND deleted_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(t.count("SELECT count(*) FROM user_roles WHERE role_id = (SELECT id FROM roles WHERE name = 'moderator')").await, 0);
    assert_eq!(t.count("SELECT count(*) FROM two_factor").await, 0);

    // A wrong password is no proof.
    let wrong = reauthenticate(&t, &ada.access, json!({"password": "not it at all"})).await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"));
    assert_eq!(wrong.error()["extensions"]["field"], "password");
    needs_reauthentication(&create_token(&t, &ada.access, json!({})).await);

    let proved = reauthenticate(&t, &ada.access, json!({"password": PASSWORD})).await;
    let proved = &proved.assert_ok()["reauthenticate"];
    assert_eq!(proved["provedWith"], json!(["password"]));
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(proved[field].as_str().unwrap()).unwrap()
    };
    assert_eq!((at("validUntil") - at("provedAt")).num_seconds(), 600);
    create_token(&t, &ada.access, json!({})).await.assert_ok();
    let sessions = t.gql_as(&ada.access, CURRENT_SESSION, json!({})).await;
    let current = &sessions.assert_ok()["mySessions"]["nodes"][0];
    assert_eq!(current["provedAt"], proved["provedAt"]);
    assert_eq!(current["provedWith"], json!(["password"]));

    // The administrator proves too, and may then grant.
    reauthenticate(&t, &root.access, json!({"password": PASSWORD}))
        .await
        .assert_ok();
    t.gql_as(
        &root.access,
        "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
        json!({"v": {"userId": ada.user_id, "roleId": moderator}}),
    )
    .await
    .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.reauthenticate'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_given_with_the_change_is_a_proof_made_then() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    stale(&t, &ada).await;
    let wrong = create_token(&t, &ada.access, json!({"password": "not it at all"})).await;
    assert_eq!(wrong.error()["extensions"]["field"], "password");
    create_token(&t, &ada.access, json!({"password": PASSWORD}))
        .await
        .assert_ok();
    // The session's proof was renewed by it.
    create_token(&t, &ada.access, json!({})).await.assert_ok();
    assert_eq!(t.count("SELECT count(*) FROM api_tokens").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_two_factor_on_a_proof_takes_both_factors() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (totp, _) = enable(&t, &ada).await;
    stale(&t, &ada).await;
    at(&t, T0 + 60);
    let disable = "mutation { disableTwoFactor { user { twoFactorEnabled } } }";
    needs_reauthentication(&t.gql_as(&ada.access, disable, json!({})).await);
    let password_only = reauthenticate(&t, &ada.access, json!({"password": PASSWORD})).await;
    assert_eq!(password_only.error()["extensions"]["field"], "code");
    let proved = reauthenticate(
        &t,
        &ada.access,
        json!({"password": PASSWORD, "code": code(&totp, T0 + 60)}),
    )
    .await;
    assert_eq!(
        proved.assert_ok()["reauthenticate"]["provedWith"],
        json!(["password", "totp"])
    );
    let disabled = t.gql_as(&ada.access, disable, json!({})).await;
    assert_eq!(
        disabled.assert_ok()["disableTwoFactor"]["user"]["twoFactorEnabled"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_give_the_password_with_each_change_but_may_grant_roles() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let token_of = |reply: Reply| {
        reply.assert_ok()["createApiToken"]["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ada_script = token_of(
        create_token(
            &t,
            &ada.access,
            json!({"permissions": ["api_tokens:manage", "profile:read"]}),
        )
        .await,
    );
    needs_reauthentication(&create_token(&t, &ada_script, json!({})).await);
    create_token(&t, &ada_script, json!({"password": PASSWORD}))
        .await
        .assert_ok();
    let no_session = reauthenticate(&t, &ada_script, json!({"password": PASSWORD})).await;
    assert_eq!(no_session.code(), Some("BAD_USER_INPUT"));
    assert_eq!(no_session.error()["extensions"]["field"], "authorization");

    let root_script =
        token_of(create_token(&t, &root.access, json!({"permissions": ["roles:manage"]})).await);
    // A session this stale would be refused; the script is not asked.
    stale(&t, &root).await;
    let moderator = t
        .gql_as(
            &root_script,
            "mutation { createRole(input: {name: \"moderator\"}) { role { id } } }",
            json!({}),
        )
        .await;
    let moderator = &moderator.assert_ok()["createRole"]["role"]["id"];
    let assigned = t
        .gql_as(
            &root_script,
            "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
            json!({"v": {"userId": ada.user_id, "roleId": moderator}}),
        )
        .await;
    assert_eq!(assigned.assert_ok()["assignRole"]["changed"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_is_configurable() {
    let t = TestApp::with_config(|config| config.reauth_window_secs = 60).await;
    let ada = t.user("ada").await;
    let signed_in = chrono::Utc::now();
    t.app.clock.pin(signed_in + chrono::Duration::seconds(30));
    create_token(&t, &ada.access, json!({})).await.assert_ok();
    t.app.clock.pin(signed_in + chrono::Duration::seconds(90));
    needs_reauthentication(&create_token(&t, &ada.access, json!({})).await);
}
