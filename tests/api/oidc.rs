//! Sign-in with an OpenID provider, against a real one (oidc-provider, `common::oidc`): the
//! browser flow over HTTP routes and the SPA flow over GraphQL; state, code and ID-token checks
//! with tokens no honest provider sends; no automatic linking; unlinking; 2FA; open redirects;
//! a provider that is down.

use serde_json::{Value, json};

use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, OidcAccount, OidcProvider};
use crate::common::{PASSWORD, Reply, TestApp, Tokens};

const AGORA: &str = "http://agora.test";
const CALLBACK: &str = "http://agora.test/auth/oidc/test/callback";
const SPA_CALLBACK: &str = "http://agora.test/oidc-callback";
const BROWSER_COOKIE: &str = "__Host-agora_oidc";

const BEGIN: &str =
    "mutation($v: BeginOidcInput!) { beginOidcSignIn(input: $v) { authorizationUrl expiresAt } }";
const BEGIN_LINK: &str =
    "mutation($v: BeginOidcInput!) { beginOidcLink(input: $v) { authorizationUrl } }";
const COMPLETE: &str =
    "mutation($v: CompleteOidcSignInInput!) { completeOidcSignIn(input: $v) { __typename
    ... on AuthPayload { accessToken user { id username email emailVerified } }
    ... on MfaChallenge { challengeToken }
    ... on IdentityLinkRequired { linkToken provider }
    ... on IdentityLinked { identity { id provider email } }
    ... on ReauthenticatePayload { provedWith } } }";
const CONFIRM: &str = "mutation($v: ConfirmIdentityLinkInput!) { confirmIdentityLink(input: $v) { accessToken user { id username } } }";
const ME: &str = "{ me { id username email emailVerified identities { id provider email } } }";

const ALICE: OidcAccount = OidcAccount {
    sub: "alice-sub",
    email: "alice@example.com",
    email_verified: true,
    name: "Alice Liddell",
    preferred_username: "alice",
};

/// Bob's account at the provider, with the verified address of Bob's Agora account.
const BOB_AT_PROVIDER: OidcAccount = OidcAccount {
    sub: "bob-sub",
    email: "bob@example.com",
    email_verified: true,
    name: "",
    preferred_username: "",
};

struct Rig {
    provider: OidcProvider,
    app: TestApp,
}

fn provider_config(id: &str, name: &str, issuer: &str) -> Value {
    json!({
        "id": id, "displayName": name, "issuer": issuer,
        "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
        "scopes": ["openid", "email", "profile"],
    })
}

async fn rig(accounts: &[OidcAccount]) -> Rig {
    rig_with(accounts, &[]).await
}

/// A provider `test` knowing `accounts`, and an app configured with it and `more` providers.
async fn rig_with(accounts: &[OidcAccount], more: &[Value]) -> Rig {
    rig_configured(accounts, more, |_| {}).await
}

async fn rig_configured(
    accounts: &[OidcAccount],
    more: &[Value],
    adjust: impl FnOnce(&mut agora::config::Config),
) -> Rig {
    let provider = OidcProvider::start(&[CALLBACK, SPA_CALLBACK], accounts).await;
    let mut providers = vec![provider_config("test", "Test ID", &provider.issuer())];
    providers.extend_from_slice(more);
    let list = Value::Array(providers).to_string();
    let app = TestApp::with_config(|config| {
        config.public_url = Some(AGORA.to_owned());
        config.oidc_providers = Some(list);
        adjust(config);
    })
    .await;
    Rig { provider, app }
}

fn cookie_header(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// The binding cookie an answer set.
fn browser_of(reply: &Reply) -> String {
    reply
        .cookies()
        .into_iter()
        .find(|cookie| cookie.name() == BROWSER_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .expect("a binding cookie")
}

fn location(reply: &Reply) -> String {
    reply.headers["location"].to_str().unwrap().to_owned()
}

/// The code and state in the provider's redirect to `url`.
fn code_and_state(url: &str) -> (String, String) {
    let url = url::Url::parse(url).unwrap();
    let find = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {url}"))
    };
    (find("code"), find("state"))
}

/// The fragment of a redirect, as pairs.
fn fragment(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn fact(location: &str, name: &str) -> Option<String> {
    fragment(location)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

impl Rig {
    /// `beginOidcSignIn` over GraphQL (as an SPA does) with the provider's redirect to
    /// `redirect_uri`; the authorization URL and the browser's binding cookie.
    async fn begin(&self, redirect_uri: Option<&str>, browser: Option<&str>) -> (String, String) {
        let cookie = browser.map(|value| cookie_header(BROWSER_COOKIE, value));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        let reply = self
            .app
            .post(
                BEGIN,
                json!({"v": {"provider": "test", "redirectUri": redirect_uri}}),
                &headers,
            )
            .await;
        let url = reply.assert_ok()["beginOidcSignIn"]["authorizationUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let browser = browser.map_or_else(|| browser_of(&reply), str::to_owned);
        (url, browser)
    }

    /// The SPA flow to its end for `sub`: `completeOidcSignIn`'s answer.
    async fn sign_in_over_graphql(&self, sub: &str) -> Reply {
        let (url, browser) = self.begin(Some(SPA_CALLBACK), None).await;
        let back = self.provider.authorize(&url, sub).await;
        self.complete(&back, &browser).await
    }

    async fn complete(&self, back: &str, browser: &str) -> Reply {
        let (code, state) = code_and_state(back);
        self.app
            .post(
                COMPLETE,
                json!({"v": {"code": code, "state": state}}),
                &[("cookie", &cookie_header(BROWSER_COOKIE, browser))],
            )
            .await
    }

    /// The browser flow over the HTTP routes for `sub`, from `/start` to the callback's answer.
    async fn sign_in_over_http(&self, sub: &str, return_to: &str) -> Reply {
        let start = self
            .app
            .get(
                &format!(
                    "/auth/oidc/test/start?returnTo={}",
                    url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
                ),
                &[],
            )
            .await;
        assert_eq!(start.status, 303, "{}", start.text);
        let browser = browser_of(&start);
        let back = self.provider.authorize(&location(&start), sub).await;
        assert!(back.starts_with(CALLBACK), "{back}");
        let path = back.strip_prefix(AGORA).unwrap();
        self.app
            .get(
                path,
                &[("cookie", &cookie_header(BROWSER_COOKIE, &browser))],
            )
            .await
    }

    async fn users(&self) -> i64 {
        self.app.count("SELECT count(*) FROM users").await
    }
}

fn access_cookie(reply: &Reply) -> String {
    reply
        .cookies()
        .into_iter()
        .find(|cookie| cookie.name() == "__Host-agora_access")
        .map(|cookie| cookie.value().to_owned())
        .expect("an access cookie")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_flow_makes_an_account_then_signs_into_it() {
    let rig = rig(&[ALICE]).await;
    let before = rig.users().await;
    let reply = rig
        .sign_in_over_http("alice-sub", "/habits?tab=today")
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    assert_eq!(location(&reply), "http://agora.test/habits?tab=today");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let access = access_cookie(&reply);
    let me = rig.app.gql_as(&access, ME, json!({})).await;
    let me = &me.assert_ok()["me"];
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(
        me["emailVerified"], true,
        "the provider said email_verified"
    );
    assert_eq!(me["identities"][0]["provider"], "test");
    assert_eq!(rig.users().await, before + 1);
    // The new account has no password: password sign-in cannot reach it.
    let login = rig.app.login("alice", "any password at all").await;
    assert_eq!(login.code(), Some("UNAUTHENTICATED"));

    // Again: the same account, no second one.
    let again = rig.sign_in_over_http("alice-sub", "/").await;
    let me_again = rig.app.gql_as(&access_cookie(&again), ME, json!({})).await;
    assert_eq!(me_again.assert_ok()["me"]["id"], me["id"]);
    assert_eq!(rig.users().await, before + 1);
    let user_id = me["id"].as_str().unwrap();
    assert_eq!(
        rig.app
            .count(&format!("SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND actor_id = {user_id} AND metadata->>'provider' = 'test'"))
            .await,
        2
    );
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM email_outbox WHERE kind = 'oidc_sign_in' AND recipient = 'alice@example.com'")
            .await,
        2,
        "each provider sign-in is mailed as a notice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spa_flow_completes_over_graphql_and_sets_the_cookies() {
    let rig = rig(&[ALICE]).await;
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    let payload = &reply.assert_ok()["completeOidcSignIn"];
    assert_eq!(payload["__typename"], "AuthPayload");
    assert_eq!(payload["user"]["username"], "alice");
    let access = access_cookie(&reply);
    assert_eq!(
        rig.app.gql_as(&access, ME, json!({})).await.assert_ok()["me"]["username"],
        "alice"
    );
    let providers = rig
        .app
        .gql("{ oidcProviders { id displayName } }", json!({}))
        .await;
    assert_eq!(
        providers.assert_ok()["oidcProviders"],
        json!([{"id": "test", "displayName": "Test ID"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_works_once_and_only_in_the_browser_that_began() {
    let rig = rig(&[ALICE]).await;
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let back = rig.provider.authorize(&url, "alice-sub").await;
    // Another browser (an attacker handing the victim their own code and state).
    let elsewhere = rig.complete(&back, &"x".repeat(43)).await;
    assert_eq!(elsewhere.code(), Some("BAD_USER_INPUT"));
    assert_eq!(elsewhere.error()["extensions"]["field"], "state");
    // A made-up state.
    let (code, _) = code_and_state(&back);
    let forged = rig
        .app
        .post(
            COMPLETE,
            json!({"v": {"code": code, "state": "forged"}}),
            &[("cookie", &cookie_header(BROWSER_COOKIE, &browser))],
        )
        .await;
    assert_eq!(forged.code(), Some("BAD_USER_INPUT"));
    // The right browser, once.
    rig.complete(&back, &browser).await.assert_ok();
    let replayed = rig.complete(&back, &browser).await;
    assert_eq!(replayed.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_expires_after_ten_minutes() {
    let rig = rig(&[ALICE]).await;
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let back = rig.provider.authorize(&url, "alice-sub").await;
    rig.app
        .sql("UPDATE oidc_flows SET expires_at = created_at - interval '1 second'")
        .await;
    let late = rig.complete(&back, &browser).await;
    assert_eq!(late.code(), Some("BAD_USER_INPUT"));
    // The cleanup job deletes it a day later.
    let mut conn = agora::db::conn(&rig.app.app.pool).await.unwrap();
    let now = rig.app.app.clock.now();
    agora::cleanup::delete_expired(&mut conn, now)
        .await
        .unwrap();
    assert_eq!(rig.app.count("SELECT count(*) FROM oidc_flows").await, 1);
    agora::cleanup::delete_expired(&mut conn, now + chrono::Duration::days(2))
        .await
        .unwrap();
    assert_eq!(rig.app.count("SELECT count(*) FROM oidc_flows").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_spent_once_is_refused_by_the_provider() {
    let rig = rig(&[ALICE]).await;
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let first = rig.provider.authorize(&url, "alice-sub").await;
    rig.complete(&first, &browser).await.assert_ok();
    // A new flow of the same browser, finished with the old code.
    let (url, _) = rig.begin(Some(SPA_CALLBACK), Some(&browser)).await;
    let second = rig.provider.authorize(&url, "alice-sub").await;
    let (old_code, _) = code_and_state(&first);
    let (_, new_state) = code_and_state(&second);
    let reply = rig
        .app
        .post(
            COMPLETE,
            json!({"v": {"code": old_code, "state": new_state}}),
            &[("cookie", &cookie_header(BROWSER_COOKIE, &browser))],
        )
        .await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    assert!(
        reply.error()["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn id_tokens_failing_a_check_are_refused_and_audited() {
    let rig = rig(&[ALICE]).await;
    let before = rig.users().await;
    let cases = [
        (json!({"aud": "someone-else"}), "aud"),
        (json!({"aud": ["someone-else", CLIENT_ID]}), "azp"),
        (json!({"azp": "someone-else"}), "azp"),
        (json!({"nonce": "wrong"}), "nonce"),
        (json!({"nonce": null}), "nonce"),
        (json!({"exp": 1_000_000_000, "iat": 999_999_000}), "exp"),
        (json!({"iss": "http://evil.test"}), "iss"),
        (json!({"signWith": "rogue"}), "key not in the set"),
        (json!({"signWith": "none"}), "unsigned"),
    ];
    for (changes, what) in cases {
        rig.provider.tamper(changes.clone()).await;
        let reply = rig.sign_in_over_graphql("alice-sub").await;
        assert_eq!(
            reply.code(),
            Some("UNAUTHENTICATED"),
            "{what}: {changes} → {}",
            reply.body
        );
        assert!(
            reply.error()["message"]
                .as_str()
                .unwrap()
                .starts_with("Sign-in with Test ID failed"),
            "{}",
            reply.body
        );
    }
    assert_eq!(rig.users().await, before, "no account was made");
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM audit_log WHERE action = 'auth.oidc_rejected'")
            .await,
        9
    );
    // And the provider, honest again, signs in.
    rig.sign_in_over_graphql("alice-sub").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_keys_are_fetched_again() {
    let mut rig = rig(&[ALICE]).await;
    rig.sign_in_over_graphql("alice-sub").await.assert_ok();
    let old = rig.provider.kids().to_vec();
    rig.provider.restart_with_rotated_keys().await;
    assert_ne!(rig.provider.kids(), old.as_slice());
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    assert_eq!(
        reply.assert_ok()["completeOidcSignIn"]["__typename"],
        "AuthPayload"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverified_address_is_taken_but_not_trusted() {
    let unverified = OidcAccount {
        sub: "mallory-sub",
        email: "mallory@example.com",
        email_verified: false,
        ..Default::default()
    };
    let squatter = OidcAccount {
        sub: "squatter-sub",
        email: "bob@example.com",
        email_verified: false,
        ..Default::default()
    };
    let rig = rig(&[unverified, squatter]).await;
    let reply = rig.sign_in_over_graphql("mallory-sub").await;
    let user = &reply.assert_ok()["completeOidcSignIn"]["user"];
    assert_eq!(user["email"], "mallory@example.com");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM email_outbox WHERE kind = 'welcome' AND recipient = 'mallory@example.com'")
            .await,
        1,
        "the address is to be verified by mail, as after registering"
    );
    // An unverified claim to someone else's address gets nothing of theirs.
    rig.app.user("bob").await;
    let reply = rig.sign_in_over_graphql("squatter-sub").await;
    assert_eq!(reply.code(), Some("CONFLICT"));
    assert_eq!(reply.error()["extensions"]["reason"], "TAKEN");
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM oidc_pending_links")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_address_of_an_account_is_never_linked_without_its_password() {
    let rig = rig(&[BOB_AT_PROVIDER]).await;
    let bob = rig.app.user("bob").await;
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let back = rig.provider.authorize(&url, "bob-sub").await;
    let reply = rig.complete(&back, &browser).await;
    let required = &reply.assert_ok()["completeOidcSignIn"];
    assert_eq!(required["__typename"], "IdentityLinkRequired");
    assert!(
        reply
            .cookies()
            .iter()
            .all(|c| c.name() != "__Host-agora_access"),
        "not signed in"
    );
    assert_eq!(
        rig.app.count("SELECT count(*) FROM user_identities").await,
        0
    );
    let token = required["linkToken"].as_str().unwrap();
    let app = &rig.app;
    let confirm = |password: &str, browser: &str| {
        let variables = json!({"v": {"linkToken": token, "password": password}});
        let cookie = cookie_header(BROWSER_COOKIE, browser);
        async move { app.post(CONFIRM, variables, &[("cookie", &cookie)]).await }
    };
    let wrong = confirm("not bob's password", &browser).await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"));
    let elsewhere = confirm(PASSWORD, &"y".repeat(43)).await;
    assert_eq!(elsewhere.code(), Some("BAD_USER_INPUT"));
    assert_eq!(elsewhere.error()["extensions"]["field"], "linkToken");
    assert_eq!(
        rig.app.count("SELECT count(*) FROM user_identities").await,
        0
    );
    let linked = confirm(PASSWORD, &browser).await;
    assert_eq!(
        linked.assert_ok()["confirmIdentityLink"]["user"]["id"],
        bob.user_id.as_str()
    );
    assert_eq!(
        confirm(PASSWORD, &browser).await.code(),
        Some("BAD_USER_INPUT"),
        "single use"
    );
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM email_outbox WHERE kind = 'identity_linked' AND recipient = 'bob@example.com'")
            .await,
        1
    );
    // From now on the provider signs in as bob directly.
    let reply = rig.sign_in_over_graphql("bob-sub").await;
    assert_eq!(
        reply.assert_ok()["completeOidcSignIn"]["user"]["id"],
        bob.user_id.as_str()
    );
}

/// The pinned clock that `mfa::enable` leaves is ten months behind the provider's tokens: put it
/// back at the real time.
fn real_time(t: &TestApp) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    crate::mfa::at(t, now);
    now
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_authentication_applies_after_the_provider() {
    let rig = rig(&[ALICE]).await;
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    let access = reply.assert_ok()["completeOidcSignIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // 2FA needs a password to turn on: give the account one through the database's own hash.
    let ada = rig.app.user("ada").await;
    rig.app
        .sql("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'ada') WHERE username = 'alice'")
        .await;
    let alice = Tokens {
        access,
        refresh: String::new(),
        user_id: String::new(),
    };
    let (totp, _) = crate::mfa::enable(&rig.app, &alice).await;
    let now = real_time(&rig.app);
    drop(ada);
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    let challenge = &reply.assert_ok()["completeOidcSignIn"];
    assert_eq!(challenge["__typename"], "MfaChallenge");
    assert!(
        reply
            .cookies()
            .iter()
            .all(|c| c.name() != "__Host-agora_access")
    );
    let verified = rig
        .app
        .gql(
            "mutation($v: VerifyMfaInput!) { verifyMfa(input: $v) { user { username } } }",
            json!({"v": {"challengeToken": challenge["challengeToken"], "code": crate::mfa::code(&totp, now)}}),
        )
        .await;
    assert_eq!(
        verified.assert_ok()["verifyMfa"]["user"]["username"],
        "alice"
    );
    let factors = rig
        .app
        .text("SELECT metadata->>'factors' AS t FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(factors, r#"["oidc:test", "totp"]"#);
    // The browser flow hands the challenge to the front end in the fragment.
    let reply = rig.sign_in_over_http("alice-sub", "/").await;
    let to = location(&reply);
    assert!(fact(&to, "mfaChallenge").is_some(), "{to}");
    assert!(
        reply
            .cookies()
            .iter()
            .all(|c| c.name() != "__Host-agora_access")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let rig = rig(&[ALICE]).await;
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    let access = reply.assert_ok()["completeOidcSignIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = rig.app.gql_as(&access, ME, json!({})).await;
    let identity = me.assert_ok()["me"]["identities"][0]["id"].clone();
    let unlink = "mutation($v: UnlinkIdentityInput!) { unlinkIdentity(input: $v) { identity { provider } } }";
    let refused = rig
        .app
        .gql_as(&access, unlink, json!({"v": {"id": identity}}))
        .await;
    assert_eq!(refused.code(), Some("CONFLICT"));
    assert_eq!(refused.error()["extensions"]["reason"], "LAST_CREDENTIAL");
    // Nor by an administrator.
    let admin = rig.app.admin("root").await;
    let remove = "mutation($v: UnlinkIdentityInput!) { removeUserIdentity(input: $v) { identity { provider } } }";
    let refused = rig
        .app
        .gql_as(&admin.access, remove, json!({"v": {"id": identity}}))
        .await;
    assert_eq!(refused.error()["extensions"]["reason"], "LAST_CREDENTIAL");
    // Administrators see it.
    let user_id = me.data()["me"]["id"].as_str().unwrap();
    let seen = rig
        .app
        .gql_as(
            &admin.access,
            "query($id: ID!) { user(id: $id) { identities { id provider email } } }",
            json!({"id": user_id}),
        )
        .await;
    assert_eq!(
        seen.assert_ok()["user"]["identities"][0]["email"],
        "alice@example.com"
    );
    // With a password it can go, and the owner is told.
    rig.app
        .sql("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'root') WHERE username = 'alice'")
        .await;
    let removed = rig
        .app
        .gql_as(&admin.access, remove, json!({"v": {"id": identity}}))
        .await;
    assert_eq!(
        removed.assert_ok()["removeUserIdentity"]["identity"]["provider"],
        "test"
    );
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM email_outbox WHERE kind = 'identity_unlinked' AND recipient = 'alice@example.com'")
            .await,
        1
    );
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM audit_log WHERE action = 'identity.unlink'")
            .await,
        1
    );
    // A user's own identity is not another's to remove.
    let other = rig.app.user("eve").await;
    let theirs = rig
        .app
        .gql_as(&other.access, unlink, json!({"v": {"id": identity}}))
        .await;
    assert_eq!(theirs.code(), Some("NOT_FOUND"));
}

/// `who` links the provider account `sub` over GraphQL: `completeOidcSignIn`'s answer.
async fn link_as(rig: &Rig, who: &Tokens, sub: &str) -> Reply {
    let reply = rig
        .app
        .post(
            BEGIN_LINK,
            json!({"v": {"provider": "test", "redirectUri": SPA_CALLBACK}}),
            &[("authorization", &format!("Bearer {}", who.access))],
        )
        .await;
    let url = reply.assert_ok()["beginOidcLink"]["authorizationUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = rig.provider.authorize(&url, sub).await;
    rig.complete(&back, &browser_of(&reply)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_user_links_a_provider_once() {
    let rig = rig(&[ALICE]).await;
    let carol = rig.app.user("carol").await;
    let linked = link_as(&rig, &carol, "alice-sub").await;
    let linked = &linked.assert_ok()["completeOidcSignIn"];
    assert_eq!(linked["__typename"], "IdentityLinked");
    assert_eq!(linked["identity"]["email"], "alice@example.com");
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM email_outbox WHERE kind = 'identity_linked' AND recipient = 'carol@example.com'")
            .await,
        1,
        "the owner is told"
    );
    let me = rig.app.gql_as(&carol.access, ME, json!({})).await;
    assert_eq!(me.assert_ok()["me"]["identities"][0]["provider"], "test");
    // The provider now signs in as carol, and nobody else may link it.
    let signed = rig.sign_in_over_graphql("alice-sub").await;
    assert_eq!(
        signed.assert_ok()["completeOidcSignIn"]["user"]["username"],
        "carol"
    );
    let dave = rig.app.user("dave").await;
    let taken = link_as(&rig, &dave, "alice-sub").await;
    assert_eq!(taken.code(), Some("CONFLICT"));
    assert_eq!(taken.error()["extensions"]["reason"], "IDENTITY_IN_USE");
}

#[tokio::test(flavor = "multi_thread")]
async fn return_to_never_leaves_the_front_end() {
    let rig = rig(&[ALICE]).await;
    let refused = [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "javascript:alert(1)",
        "http://agora.test@evil.example/",
    ];
    for raw in refused {
        let reply = rig.sign_in_over_http("alice-sub", raw).await;
        assert_eq!(location(&reply), "http://agora.test/", "{raw}");
    }
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM audit_log WHERE action = 'auth.return_to_refused'")
            .await,
        refused.len() as i64
    );
    // A redirect URI elsewhere is refused outright.
    let reply = rig
        .app
        .gql(
            BEGIN,
            json!({"v": {"provider": "test", "redirectUri": "https://evil.example/cb"}}),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert_eq!(reply.error()["extensions"]["field"], "redirectUri");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_is_down_fails_alone() {
    let down = format!("http://127.0.0.1:{}", crate::common::free_port());
    let mut rig = rig_with(&[ALICE], &[provider_config("down", "Down ID", &down)]).await;
    let reply = rig.app.gql(BEGIN, json!({"v": {"provider": "down"}})).await;
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert!(
        reply.error()["message"]
            .as_str()
            .unwrap()
            .contains("Down ID")
    );
    rig.sign_in_over_graphql("alice-sub").await.assert_ok();
    let unknown = rig.app.gql(BEGIN, json!({"v": {"provider": "nope"}})).await;
    assert_eq!(unknown.code(), Some("NOT_FOUND"));

    // Stopped between the start and the callback.
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let back = rig.provider.authorize(&url, "alice-sub").await;
    rig.provider.stop().await;
    let reply = rig.complete(&back, &browser).await;
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"), "{}", reply.body);
    // The browser flow's start sends the browser back with the error. (The stopped provider's
    // discovery is still fresh in the cache, so its start would send the browser on to it.)
    let start = rig.app.get("/auth/oidc/down/start", &[]).await;
    assert_eq!(start.status, 303);
    assert_eq!(
        fact(&location(&start), "error").as_deref(),
        Some("SERVICE_UNAVAILABLE")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_cancelling_returns_with_an_error() {
    let rig = rig(&[ALICE]).await;
    let start = rig.app.get("/auth/oidc/test/start", &[]).await;
    let back = rig.provider.deny(&location(&start), "alice-sub").await;
    let path = back.strip_prefix(AGORA).unwrap();
    let reply = rig
        .app
        .get(
            path,
            &[(
                "cookie",
                &cookie_header(BROWSER_COOKIE, &browser_of(&start)),
            )],
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        fact(&location(&reply), "error").as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        fact(&location(&reply), "message")
            .unwrap()
            .contains("access_denied")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_userinfo_endpoint_is_asked_when_the_id_token_has_no_address() {
    let rig = rig(&[ALICE]).await;
    rig.provider
        .tamper(json!({"email": null, "email_verified": null}))
        .await;
    let reply = rig.sign_in_over_graphql("alice-sub").await;
    let user = &reply.assert_ok()["completeOidcSignIn"]["user"];
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["emailVerified"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_to_an_account_with_two_factors_needs_both() {
    let rig = rig(&[BOB_AT_PROVIDER]).await;
    let bob = rig.app.user("bob").await;
    let (totp, _) = crate::mfa::enable(&rig.app, &bob).await;
    let now = real_time(&rig.app);
    let (url, browser) = rig.begin(Some(SPA_CALLBACK), None).await;
    let back = rig.provider.authorize(&url, "bob-sub").await;
    let reply = rig.complete(&back, &browser).await;
    let token = reply.assert_ok()["completeOidcSignIn"]["linkToken"].clone();
    let cookie = cookie_header(BROWSER_COOKIE, &browser);
    let password_only = rig
        .app
        .post(
            CONFIRM,
            json!({"v": {"linkToken": token, "password": PASSWORD}}),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(password_only.code(), Some("BAD_USER_INPUT"));
    assert_eq!(password_only.error()["extensions"]["field"], "code");
    let both = rig
        .app
        .post(
            CONFIRM,
            json!({"v": {"linkToken": token, "password": PASSWORD, "code": crate::mfa::code(&totp, now)}}),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(
        both.assert_ok()["confirmIdentityLink"]["user"]["username"],
        "bob"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn providers_come_from_a_file_and_a_bad_list_stops_the_start() {
    let database = crate::common::FreshDatabase::new();
    let dir = std::env::temp_dir().join(format!("agora-oidc-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("providers.json");
    let list = json!([provider_config(
        "work",
        "Work login",
        "https://sso.example.com/realms/staff"
    )]);
    std::fs::write(&file, list.to_string()).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let server = crate::common::Server::start(&[
        ("DATABASE_URL", database.url().as_str()),
        ("AGORA_OIDC_PROVIDERS_FILE", file.as_str()),
    ])
    .await;
    let reply = server
        .gql(None, "{ oidcProviders { id displayName } }", json!({}))
        .await;
    assert_eq!(
        reply.assert_ok()["oidcProviders"],
        json!([{"id": "work", "displayName": "Work login"}])
    );
    drop(server);
    for (bad, said) in [
        ("[{\"id\": \"x\"}]", "documented shape"),
        (
            &json!([provider_config("Bad Id", "X", "https://x.example")]).to_string()[..],
            "[a-z0-9-]",
        ),
        (
            &json!([provider_config("x", "X", "http://sso.example.com")]).to_string()[..],
            "https",
        ),
    ] {
        let mut server = crate::common::Server::spawn(&[
            ("DATABASE_URL", database.url().as_str()),
            ("AGORA_OIDC_PROVIDERS", bad),
        ]);
        let (status, logs) = server.exit_logs(std::time::Duration::from_secs(30)).await;
        assert!(!status.success(), "{bad} must stop the start");
        assert!(logs.join("\n").contains(said), "{bad}: {logs:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_account_takes_a_free_username() {
    let namesake = OidcAccount {
        sub: "other-alice",
        email: "alice.other@example.com",
        email_verified: true,
        preferred_username: "ada",
        ..Default::default()
    };
    let rig = rig(&[namesake]).await;
    rig.app.user("ada").await;
    rig.app.user("ada-2").await;
    let reply = rig.sign_in_over_graphql("other-alice").await;
    assert_eq!(
        reply.assert_ok()["completeOidcSignIn"]["user"]["username"],
        "ada-3"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_made_by_a_provider_count_against_the_sign_up_budget() {
    let bea = OidcAccount {
        sub: "bea",
        email: "bea@example.com",
        email_verified: true,
        ..Default::default()
    };
    let rig = rig_configured(&[ALICE, bea], &[], |config| {
        config.rate_register_per_address = 1;
    })
    .await;
    rig.sign_in_over_graphql("alice-sub").await.assert_ok();
    let second = rig.sign_in_over_graphql("bea").await;
    assert_eq!(second.code(), Some("RATE_LIMITED"));
    // Signing in to an account that exists makes nothing and is not limited by it.
    rig.sign_in_over_graphql("alice-sub").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_users_reads_their_identities_in_one_statement() {
    let accounts = ["p1", "p2", "p3", "p4", "p5"].map(|sub| OidcAccount {
        sub,
        email: Box::leak(format!("{sub}@example.com").into_boxed_str()),
        email_verified: true,
        ..Default::default()
    });
    let rig = rig(&accounts).await;
    for account in &accounts {
        rig.sign_in_over_graphql(account.sub).await.assert_ok();
    }
    let admin = rig.app.admin("root").await;
    let measured = async |selection: &str| {
        let query = format!("{{ users(first: 20) {{ edges {{ node {{ id {selection} }} }} }} }}");
        let before = agora::metrics::statements_sent();
        let reply = rig.app.gql_as(&admin.access, &query, json!({})).await;
        let sent = agora::metrics::statements_sent() - before;
        (reply, sent)
    };
    // Once first, so what a request reads only once (the permission set) is read already.
    measured("").await;
    let (_, without) = measured("").await;
    let (reply, with) = measured("identities { provider }").await;
    let edges = reply.assert_ok()["users"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let linked = edges
        .iter()
        .filter(|edge| edge["node"]["identities"][0]["provider"] == "test")
        .count();
    assert_eq!(linked, 5);
    assert_eq!(
        with,
        without + 1,
        "one statement for every user's identities"
    );
}

/// `access`'s session begins a provider re-authentication and `sub` signs in at the provider:
/// the authorization's answer, the provider's redirect back, and the browser's cookie.
async fn begin_reauthentication(
    rig: &Rig,
    access: &str,
    sub: &str,
    input: Value,
) -> (Reply, String, String) {
    let begin = "mutation($v: BeginOidcReauthenticationInput!) { beginOidcReauthentication(input: $v) { authorizationUrl } }";
    let reply = rig
        .app
        .post(
            begin,
            json!({ "v": input }),
            &[("authorization", &format!("Bearer {access}"))],
        )
        .await;
    let Some(url) = reply.data()["beginOidcReauthentication"]["authorizationUrl"].as_str() else {
        return (reply, String::new(), String::new());
    };
    let back = rig.provider.authorize(url, sub).await;
    let browser = browser_of(&reply);
    (reply, back, browser)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_linked_provider_proves_the_user_again_in_the_same_session() {
    let rig = rig(&[ALICE, BOB_AT_PROVIDER]).await;
    let signed = rig.sign_in_over_graphql("alice-sub").await;
    let access = signed.assert_ok()["completeOidcSignIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // The account the provider made has no password, and its sign-in is long past.
    rig.app
        .sql("UPDATE sessions SET proved_at = proved_at - interval '11 minutes'")
        .await;
    let create = "mutation { createApiToken(input: {name: \"s\", permissions: [\"profile:read\"]}) { token } }";
    let refused = rig.app.gql_as(&access, create, json!({})).await;
    assert_eq!(
        refused.error()["extensions"]["reason"],
        "REAUTHENTICATION_REQUIRED"
    );
    // A provider the account has not linked is refused before the provider is asked.
    let unlinked = rig
        .app
        .gql_as(
            &access,
            "mutation { beginOidcReauthentication(input: {provider: \"nope\"}) { authorizationUrl } }",
            json!({}),
        )
        .await;
    assert_eq!(unlinked.code(), Some("NOT_FOUND"));
    // Signing in at the provider as someone else proves nothing.
    let spa = json!({"provider": "test", "redirectUri": SPA_CALLBACK});
    let (_, back, browser) = begin_reauthentication(&rig, &access, "bob-sub", spa.clone()).await;
    let someone_else = rig.complete(&back, &browser).await;
    assert_eq!(
        someone_else.code(),
        Some("UNAUTHENTICATED"),
        "{}",
        someone_else.body
    );
    assert_eq!(
        rig.app.gql_as(&access, create, json!({})).await.error()["extensions"]["reason"],
        "REAUTHENTICATION_REQUIRED"
    );
    // Over GraphQL, as an SPA completes it.
    let (_, back, browser) = begin_reauthentication(&rig, &access, "alice-sub", spa).await;
    let proved = rig.complete(&back, &browser).await;
    let proved = &proved.assert_ok()["completeOidcSignIn"];
    assert_eq!(proved["__typename"], "ReauthenticatePayload");
    assert_eq!(proved["provedWith"], json!(["oidc:test"]));
    rig.app.gql_as(&access, create, json!({})).await.assert_ok();
    // Over Agora's own callback route, as a browser does: the fragment says until when.
    rig.app
        .sql("UPDATE sessions SET proved_at = proved_at - interval '11 minutes'")
        .await;
    let (_, back, browser) = begin_reauthentication(
        &rig,
        &access,
        "alice-sub",
        json!({"provider": "test", "returnTo": "/settings"}),
    )
    .await;
    let path = back.strip_prefix(AGORA).unwrap();
    let landed = rig
        .app
        .get(
            path,
            &[("cookie", &cookie_header(BROWSER_COOKIE, &browser))],
        )
        .await;
    assert_eq!(landed.status, 303, "{}", landed.text);
    assert!(
        fact(&location(&landed), "reauthenticated").is_some(),
        "{}",
        location(&landed)
    );
    rig.app.gql_as(&access, create, json!({})).await.assert_ok();
    assert_eq!(
        rig.app.count("SELECT count(*) FROM sessions").await,
        1,
        "the same session throughout"
    );
    assert_eq!(
        rig.app
            .count("SELECT count(*) FROM audit_log WHERE action = 'auth.reauthenticate'")
            .await,
        2
    );

    // Within its proof, the account turns 2FA on without a password; a provider's
    // re-authentication then takes the second factor too.
    let setup = rig
        .app
        .gql_as(
            &access,
            "mutation { beginTwoFactorSetup { otpauthUri } }",
            json!({}),
        )
        .await;
    let uri = setup.assert_ok()["beginTwoFactorSetup"]["otpauthUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let totp = totp_rs::Totp::from_url(&uri).unwrap();
    let now = real_time(&rig.app);
    rig.app
        .gql_as(
            &access,
            "mutation($v: ConfirmTwoFactorSetupInput!) { confirmTwoFactorSetup(input: $v) { recoveryCodes } }",
            json!({"v": {"code": crate::mfa::code(&totp, now)}}),
        )
        .await
        .assert_ok();
    let spa = json!({"provider": "test", "redirectUri": SPA_CALLBACK});
    let (no_code, _, _) = begin_reauthentication(&rig, &access, "alice-sub", spa.clone()).await;
    assert_eq!(
        no_code.error()["extensions"]["field"],
        "code",
        "{}",
        no_code.body
    );
    let mut with_code = spa;
    with_code["code"] = json!(crate::mfa::code(&totp, now + 30));
    let (_, back, browser) = begin_reauthentication(&rig, &access, "alice-sub", with_code).await;
    let proved = rig.complete(&back, &browser).await;
    assert_eq!(
        proved.assert_ok()["completeOidcSignIn"]["provedWith"],
        json!(["oidc:test", "totp"])
    );

    // An account that has not linked the provider cannot prove itself with it.
    let carol = rig.app.user("carol").await;
    let (unlinked, _, _) = begin_reauthentication(
        &rig,
        &carol.access,
        "alice-sub",
        json!({"provider": "test"}),
    )
    .await;
    assert_eq!(unlinked.error()["extensions"]["field"], "provider");
}
