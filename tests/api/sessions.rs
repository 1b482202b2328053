use agora::auth::tokens::AccessSubject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

const ME: &str = "{ me { id username } }";
const REFRESH: &str = "mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { accessToken refreshToken user { id } } }";

/// The parts of an error that must not differ between failure causes.
fn comparable(error: &Value) -> Value {
    json!({ "message": error["message"], "code": error["extensions"]["code"], "extensions": error["extensions"].as_object().unwrap().keys().collect::<Vec<_>>() })
}

#[tokio::test(flavor = "multi_thread")]
async fn login_by_username_in_any_case_or_by_email() {
    let t = TestApp::new().await;
    t.register("Ada", "ada@example.com").await.assert_ok();
    for login in ["Ada", "ADA", " ada ", "ADA@example.com"] {
        let reply = t.login(login, PASSWORD).await;
        let login_data = &reply.assert_ok()["login"];
        assert_eq!(login_data["user"]["username"], "Ada");
        assert!(login_data["user"]["lastLoginAt"].is_string());
        assert!(
            login_data["accessToken"]
                .as_str()
                .unwrap()
                .split('.')
                .count()
                == 3
        );
    }
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE last_login_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_failures_are_indistinguishable() {
    let t = TestApp::new().await;
    t.register("ada", "ada@example.com").await.assert_ok();
    t.register("dora", "dora@example.com").await.assert_ok();
    t.sql("UPDATE users SET is_active = FALSE WHERE username = 'dora'")
        .await;

    let unknown = t.login("nobody", PASSWORD).await;
    let wrong = t.login("ada", "wrong password here").await;
    let disabled = t.login("dora", PASSWORD).await;
    for reply in [&unknown, &wrong, &disabled] {
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
        assert_eq!(reply.error()["message"], "Invalid credentials");
        assert!(reply.cookies().is_empty());
    }
    assert_eq!(comparable(unknown.error()), comparable(wrong.error()));
    assert_eq!(comparable(wrong.error()), comparable(disabled.error()));
    assert_eq!(t.count("SELECT count(*) FROM sessions").await, 0);
}

/// The auth cookies an answer sets, by name, after checking the attributes every one must have:
/// HttpOnly, SameSite=Lax, Path=/, no Domain, and Secure exactly when `secure`.
fn auth_cookies(reply: &crate::common::Reply, secure: bool) -> Vec<cookie::Cookie<'static>> {
    let cookies = reply.cookies();
    for cookie in &cookies {
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax), "{cookie}");
        assert_eq!(cookie.path(), Some("/"), "{cookie}");
        assert_eq!(cookie.domain(), None, "{cookie}");
        assert_eq!(cookie.secure().unwrap_or(false), secure, "{cookie}");
    }
    cookies
}

fn names(cookies: &[cookie::Cookie<'static>]) -> Vec<String> {
    cookies
        .iter()
        .map(|cookie| cookie.name().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_cookies_are_host_prefixed_on_login_refresh_and_logout() {
    let t = TestApp::new().await;
    t.register("ada", "ada@example.com").await.assert_ok();
    let login = t.login("ada", PASSWORD).await;
    login.assert_ok();
    let cookies = auth_cookies(&login, true);
    assert_eq!(
        names(&cookies),
        ["__Host-agora_access", "__Host-agora_refresh"]
    );
    let (access, refresh) = (cookies[0].value(), cookies[1].value());
    let by_cookie = t
        .post(
            ME,
            json!({}),
            &[("cookie", &format!("__Host-agora_access={access}"))],
        )
        .await;
    assert_eq!(by_cookie.assert_ok()["me"]["username"], "ada");
    // Any host of the site may plant a cookie without the prefix: it is not read.
    let planted = t
        .post(
            ME,
            json!({}),
            &[("cookie", &format!("agora_access={access}"))],
        )
        .await;
    assert_eq!(planted.code(), Some("UNAUTHENTICATED"));

    let refreshed = t
        .post(
            "mutation { refreshSession { refreshToken } }",
            json!({}),
            &[("cookie", &format!("__Host-agora_refresh={refresh}"))],
        )
        .await;
    refreshed.assert_ok();
    let rotated = auth_cookies(&refreshed, true);
    assert_eq!(
        names(&rotated),
        ["__Host-agora_access", "__Host-agora_refresh"]
    );
    assert_eq!(
        rotated[1].value(),
        refreshed.data()["refreshSession"]["refreshToken"]
    );

    let logout = t
        .post(
            "mutation { logout { sessionsRevoked } }",
            json!({}),
            &[(
                "cookie",
                &format!("__Host-agora_access={}", rotated[0].value()),
            )],
        )
        .await;
    assert_eq!(logout.assert_ok()["logout"]["sessionsRevoked"], 1);
    let cleared = auth_cookies(&logout, true);
    assert_eq!(
        names(&cleared),
        ["__Host-agora_access", "__Host-agora_refresh"]
    );
    for cookie in &cleared {
        assert_eq!(cookie.value(), "");
        assert_eq!(cookie.max_age(), Some(cookie::time::Duration::ZERO));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_development_uses_unprefixed_cookies() {
    let t = TestApp::with_config(|config| config.cookie_secure = false).await;
    t.register("ada", "ada@example.com").await.assert_ok();
    let login = t.login("ada", PASSWORD).await;
    login.assert_ok();
    // Browsers refuse a `__Host-` cookie without Secure, and Secure ones over plain http.
    let cookies = auth_cookies(&login, false);
    assert_eq!(names(&cookies), ["agora_access", "agora_refresh"]);
    let by_cookie = t
        .post(
            ME,
            json!({}),
            &[("cookie", &format!("agora_access={}", cookies[0].value()))],
        )
        .await;
    assert_eq!(by_cookie.assert_ok()["me"]["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;

    let first = t
        .gql(REFRESH, json!({"input": {"refreshToken": ada.refresh}}))
        .await;
    let rotated = first.assert_ok()["refreshSession"].clone();
    let successor = rotated["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(successor, ada.refresh);
    let new_access = rotated["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(t.me_refused(&new_access).await, None);

    // Within the grace window (two tabs refreshing at once) the same successor comes back.
    let again = t
        .gql(REFRESH, json!({"input": {"refreshToken": ada.refresh}}))
        .await;
    assert_eq!(
        again.assert_ok()["refreshSession"]["refreshToken"],
        successor.as_str()
    );

    // Outside it, the old token is a stolen copy: the whole session dies.
    t.sql("UPDATE refresh_tokens SET used_at = now() - interval '11 seconds' WHERE used_at IS NOT NULL").await;
    let replay = t
        .gql(REFRESH, json!({"input": {"refreshToken": ada.refresh}}))
        .await;
    assert_eq!(replay.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        t.me_refused(&new_access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let successor_after = t
        .gql(REFRESH, json!({"input": {"refreshToken": successor}}))
        .await;
    assert_eq!(successor_after.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_reads_the_cookie_and_refuses_garbage() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let by_cookie = t
        .post(
            "mutation { refreshSession { refreshToken } }",
            json!({}),
            &[("cookie", &format!("__Host-agora_refresh={}", ada.refresh))],
        )
        .await;
    assert!(by_cookie.assert_ok()["refreshSession"]["refreshToken"].is_string());
    let unknown = t
        .gql(REFRESH, json!({"input": {"refreshToken": "not-a-token"}}))
        .await;
    assert_eq!(unknown.code(), Some("UNAUTHENTICATED"));
    let missing = t
        .gql("mutation { refreshSession { refreshToken } }", json!({}))
        .await;
    assert_eq!(missing.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_this_session_at_once() {
    let t = TestApp::new().await;
    let (laptop, phone) = t.two_sessions("ada").await;
    let reply = t
        .gql_as(
            &laptop.access,
            "mutation { logout { sessionsRevoked } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.assert_ok()["logout"]["sessionsRevoked"], 1);
    assert!(
        reply
            .cookies()
            .iter()
            .all(|cookie| cookie.value().is_empty())
    );
    assert_eq!(
        t.me_refused(&laptop.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let refresh = t
        .gql(REFRESH, json!({"input": {"refreshToken": laptop.refresh}}))
        .await;
    assert_eq!(refresh.code(), Some("UNAUTHENTICATED"));
    assert_eq!(t.me_refused(&phone.access).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_ends_every_session() {
    let t = TestApp::new().await;
    let (laptop, phone) = t.two_sessions("ada").await;
    let reply = t
        .gql_as(
            &laptop.access,
            "mutation { logoutAll { sessionsRevoked } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.assert_ok()["logoutAll"]["sessionsRevoked"], 2);
    for tokens in [&laptop, &phone] {
        assert_eq!(
            t.me_refused(&tokens.access).await.as_deref(),
            Some("UNAUTHENTICATED")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn change_password_renews_this_session_and_ends_the_others() {
    let t = TestApp::new().await;
    let (laptop, phone) = t.two_sessions("ada").await;
    let change = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { sessionsRevoked session { accessToken } user { id } } }";

    let wrong = t
        .gql_as(&laptop.access, change, json!({"input": {"currentPassword": "nope nope nope", "newPassword": "a brand new secret"}}))
        .await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"));
    assert_eq!(wrong.error()["extensions"]["field"], "currentPassword");
    let weak = t
        .gql_as(
            &laptop.access,
            change,
            json!({"input": {"currentPassword": PASSWORD, "newPassword": "12345678"}}),
        )
        .await;
    assert_eq!(weak.error()["extensions"]["field"], "newPassword");
    assert_eq!(t.me_refused(&phone.access).await, None);

    let reply = t
        .gql_as(
            &laptop.access,
            change,
            json!({"input": {"currentPassword": PASSWORD, "newPassword": "a brand new secret"}}),
        )
        .await;
    let changed = &reply.assert_ok()["changePassword"];
    assert_eq!(changed["sessionsRevoked"], 1);
    let renewed = changed["session"]["accessToken"].as_str().unwrap();
    assert_eq!(t.me_refused(renewed).await, None);
    for old in [&laptop, &phone] {
        assert_eq!(
            t.me_refused(&old.access).await.as_deref(),
            Some("UNAUTHENTICATED")
        );
    }
    assert_eq!(
        t.login("ada", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    t.login("ada", "a brand new secret").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_paged_and_revocable_only_by_their_owner() {
    let t = TestApp::new().await;
    t.register("ada", "ada@example.com").await.assert_ok();
    let first = t.sign_in("ada").await;
    t.sign_in("ada").await;
    let current = t.sign_in("ada").await;
    let eve = t.user("eve").await;

    let list = "query($after: String) { mySessions(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id current ipAddress userAgent } } } }";
    let page1 = t.gql_as(&current.access, list, json!({})).await;
    let sessions = &page1.assert_ok()["mySessions"];
    assert_eq!(sessions["totalCount"], 3);
    assert_eq!(sessions["pageInfo"]["hasNextPage"], true);
    assert_eq!(sessions["edges"][0]["node"]["current"], true);
    assert_eq!(sessions["edges"][0]["node"]["ipAddress"], "203.0.113.7");
    assert_eq!(sessions["edges"][0]["node"]["userAgent"], "agora-tests");
    let cursor = sessions["pageInfo"]["endCursor"].clone();
    let page2 = t
        .gql_as(&current.access, list, json!({"after": cursor}))
        .await;
    let rest = &page2.assert_ok()["mySessions"];
    assert_eq!(rest["edges"].as_array().unwrap().len(), 1);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    let oldest_id = rest["edges"][0]["node"]["id"].as_str().unwrap().to_owned();

    let too_many = t
        .gql_as(
            &current.access,
            "{ mySessions(first: 101) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(too_many.code(), Some("BAD_USER_INPUT"));
    assert_eq!(too_many.error()["extensions"]["field"], "first");

    let revoke =
        "mutation($id: ID!) { revokeSession(input: {id: $id}) { session { id current } } }";
    let by_other = t
        .gql_as(&eve.access, revoke, json!({"id": oldest_id}))
        .await;
    assert_eq!(by_other.code(), Some("NOT_FOUND"));
    let random = t.gql_as(&eve.access, revoke, json!({"id": "999999"})).await;
    assert_eq!(
        random.message_but_id("999999"),
        by_other.message_but_id(&oldest_id)
    );
    let garbage = t.gql_as(&eve.access, revoke, json!({"id": "abc"})).await;
    assert_eq!(garbage.code(), Some("BAD_USER_INPUT"));
    assert_eq!(t.me_refused(&first.access).await, None);

    let own = t
        .gql_as(&current.access, revoke, json!({"id": oldest_id}))
        .await;
    assert_eq!(
        own.assert_ok()["revokeSession"]["session"]["current"],
        false
    );
    assert_eq!(
        t.me_refused(&first.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_users_and_idle_sessions_are_refused_on_the_next_request() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    t.sql("UPDATE users SET is_active = FALSE WHERE username = 'ada'")
        .await;
    assert_eq!(
        t.me_refused(&ada.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    t.sql("UPDATE sessions SET last_seen_at = now() - interval '8 days' WHERE user_id = (SELECT id FROM users WHERE username = 'bob')")
        .await;
    assert_eq!(
        t.me_refused(&bob.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let refresh = t
        .gql(REFRESH, json!({"input": {"refreshToken": bob.refresh}}))
        .await;
    assert_eq!(refresh.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tampered_and_unsigned_tokens_are_refused() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let subject = AccessSubject {
        user_id: ada.user_id.parse().unwrap(),
        session_id: t.count("SELECT max(id) FROM sessions").await,
    };
    let fresh = t.app.tokens.issue_access(subject, Utc::now()).unwrap();
    t.gql_as(&fresh.token, ME, json!({})).await.assert_ok();

    let expired = t
        .app
        .tokens
        .issue_access(subject, Utc::now() - chrono::Duration::minutes(16))
        .unwrap();
    let mut tampered = ada.access.clone();
    let flipped = if tampered.ends_with('A') { 'B' } else { 'A' };
    tampered.pop();
    tampered.push(flipped);
    let payload = ada.access.split('.').nth(1).unwrap();
    let unsigned = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let other_user_claims = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"sub": "999", "sid": subject.session_id.to_string(), "iat": 0, "exp": 4_000_000_000i64, "typ": "access"})).unwrap(),
    );
    let mut parts = ada.access.split('.');
    let header_part = parts.next().unwrap();
    let signature = ada.access.split('.').nth(2).unwrap();
    let swapped_claims = format!("{header_part}.{other_user_claims}.{signature}");

    for token in [
        expired.token.as_str(),
        &tampered,
        &unsigned,
        &swapped_claims,
        "garbage",
    ] {
        let reply = t.gql_as(token, ME, json!({})).await;
        assert_eq!(
            reply.code(),
            Some("UNAUTHENTICATED"),
            "token {token} was accepted"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_with_one_token_share_one_successor() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let variables = json!({"input": {"refreshToken": ada.refresh}});
    let replies =
        futures::future::join_all((0..8).map(|_| t.gql(REFRESH, variables.clone()))).await;
    let successors: std::collections::HashSet<_> = replies
        .iter()
        .map(|reply| {
            reply.assert_ok()["refreshSession"]["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "every racing refresh must get the same successor"
    );
    assert_eq!(t.count("SELECT count(*) FROM refresh_tokens").await, 2);
    assert_eq!(
        t.count("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
}
