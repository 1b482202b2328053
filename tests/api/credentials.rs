//! What a password vouches for and how hard it is to guess: a new password ends the API tokens
//! and renews the changer's session, re-checks share the sign-in limits of the account, limits
//! count per account whatever name was typed, and identifiers compare by width and case.

use serde_json::json;

use crate::common::{PASSWORD, TestApp};

const CHANGE: &str = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { sessionsRevoked apiTokensRevoked session { accessToken refreshToken user { username } } } }";
const CREATE_TOKEN: &str =
    "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }";
const BEGIN: &str =
    "mutation($v: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $v) { expiresAt } }";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn api_token(t: &TestApp, access: &str, password: &str) -> String {
    let reply = t
        .gql_as(
            access,
            CREATE_TOKEN,
            json!({"v": {"name": "nightly", "permissions": ["profile:read", "profile:update"], "password": password}}),
        )
        .await;
    reply.assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn outbox_text(t: &TestApp, kind: &str) -> String {
    t.text(&format!(
        "SELECT text_body AS t FROM email_outbox WHERE kind = '{kind}' ORDER BY id DESC LIMIT 1"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_the_api_tokens_and_renews_the_changing_session() {
    let t = TestApp::new().await;
    let (laptop, phone) = t.two_sessions("ada").await;
    let script = api_token(&t, &laptop.access, PASSWORD).await;

    let reply = t
        .gql_as(
            &laptop.access,
            CHANGE,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}),
        )
        .await;
    let changed = reply.assert_ok()["changePassword"].clone();
    assert_eq!(changed["sessionsRevoked"], 1, "the phone");
    assert_eq!(changed["apiTokensRevoked"], 1);
    let renewed = changed["session"]["accessToken"].as_str().unwrap();
    assert_eq!(changed["session"]["user"]["username"], "ada");

    // The changer goes on under a new session id; what was issued before stops working.
    assert_eq!(t.me_refused(renewed).await, None);
    assert_eq!(
        t.me_refused(&laptop.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert!(t.me_refused(&phone.access).await.is_some());
    assert!(t.me_refused(&script).await.is_some());
    let old_refresh = t
        .gql(
            "mutation($v: RefreshSessionInput) { refreshSession(input: $v) { accessToken } }",
            json!({"v": {"refreshToken": laptop.refresh}}),
        )
        .await;
    assert_eq!(old_refresh.code(), Some("UNAUTHENTICATED"));
    assert!(
        outbox_text(&t, "password_changed")
            .await
            .contains("your API token was revoked")
    );

    // Kept on request; and a change made with an API token has no session to renew.
    let kept = api_token(&t, renewed, NEW_PASSWORD).await;
    let reply = t
        .gql_as(
            &kept,
            CHANGE,
            json!({"v": {"currentPassword": NEW_PASSWORD, "newPassword": "yet another passphrase", "keepApiTokens": true}}),
        )
        .await;
    let changed = &reply.assert_ok()["changePassword"];
    assert_eq!(changed["apiTokensRevoked"], 0);
    assert!(changed["session"].is_null());
    assert_eq!(t.me_refused(&kept).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_rechecks_share_the_sign_in_limit_of_the_account() {
    let t = TestApp::with_config(|config| config.rate_login_per_account = 3).await;
    let ada = t.user("ada").await; // one of the three
    let mut answers = Vec::new();
    for _ in 0..3 {
        let reply = t
            .gql_as(
                &ada.access,
                BEGIN,
                json!({"v": {"password": "a wrong guess"}}),
            )
            .await;
        answers.push(reply.code().unwrap_or("ok").to_owned());
    }
    assert_eq!(
        answers,
        ["BAD_USER_INPUT", "BAD_USER_INPUT", "RATE_LIMITED"]
    );
    // The right password, by re-check or by sign-in, waits like any other attempt.
    let right = t
        .gql_as(&ada.access, BEGIN, json!({"v": {"password": PASSWORD}}))
        .await;
    assert_eq!(right.code(), Some("RATE_LIMITED"));
    assert_eq!(t.login("ada", PASSWORD).await.code(), Some("RATE_LIMITED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_limits_count_per_account_whatever_name_is_typed() {
    let t = TestApp::with_config(|config| config.rate_login_per_account = 3).await;
    t.register("ada", "ada@example.com").await.assert_ok();
    for login in ["ada@example.com", "ADA", "ａｄａ@example.com"] {
        let reply = t.login(login, "a wrong guess").await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{login}");
    }
    let reply = t.login("ada", PASSWORD).await;
    assert_eq!(reply.code(), Some("RATE_LIMITED"));

    // A name no account has is limited just the same, so the limit tells nothing.
    for _ in 0..3 {
        let reply = t.login("nobody", "a wrong guess").await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    }
    assert_eq!(
        t.login("NOBODY", "a wrong guess").await.code(),
        Some("RATE_LIMITED")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn identifiers_compare_by_width_and_case_and_never_make_a_password() {
    let t = TestApp::new().await;
    t.register("alice", "alice@x.com").await.assert_ok();
    let twin = t.register("alice2", "ａｌｉｃｅ@x.com").await;
    assert_eq!(twin.code(), Some("CONFLICT"));
    assert_eq!(twin.error()["extensions"]["reason"], "TAKEN");
    let twin = t.register("ａｌｉｃｅ", "other@x.com").await;
    assert_eq!(twin.code(), Some("CONFLICT"));
    t.login("ＡＬＩＣＥ@x.com", PASSWORD).await.assert_ok();

    for (username, email, password) in [
        ("bob.builder", "bob@x.com", "Bob.Builder"),
        (
            "bob.builder",
            "bob.the.builder@x.com",
            "BOB.THE.BUILDER@X.COM",
        ),
    ] {
        let reply = t
            .gql(
                "mutation($v: RegisterInput!) { register(input: $v) { user { id } } }",
                json!({"v": {"username": username, "email": email, "password": password}}),
            )
            .await;
        assert_eq!(
            (reply.code(), reply.error()["extensions"]["field"].as_str()),
            (Some("BAD_USER_INPUT"), Some("password")),
            "{password}"
        );
    }
    let alice = t.sign_in("alice").await;
    let reply = t
        .gql_as(
            &alice.access,
            CHANGE,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": "ALICE@x.com"}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["field"], "newPassword");
}
