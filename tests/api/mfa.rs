//! Two-factor authentication through the API, with a pinned clock so codes are predictable.

use serde_json::{Value, json};
use totp_rs::Totp;

use crate::common::{PASSWORD, Reply, TestApp, Tokens, tallied, tally};

const BEGIN: &str = "mutation($v: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $v) { otpauthUri qrCode expiresAt } }";
const CONFIRM: &str = "mutation($v: ConfirmTwoFactorSetupInput!) { confirmTwoFactorSetup(input: $v) { recoveryCodes user { twoFactorEnabled recoveryCodesLeft } } }";
const LOGIN: &str = "mutation($v: LoginInput!) { login(input: $v) { __typename ... on MfaChallenge { challengeToken expiresAt } ... on AuthPayload { accessToken } } }";
const VERIFY: &str =
    "mutation($v: VerifyMfaInput!) { verifyMfa(input: $v) { accessToken user { username } } }";
const STATUS: &str = "{ me { twoFactorEnabled recoveryCodesLeft } }";

/// Seconds since the epoch of the pinned clock.
pub(crate) const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub(crate) fn at(t: &TestApp, unix: i64) {
    t.app
        .clock
        .pin(chrono::DateTime::from_timestamp(unix, 0).unwrap());
}

pub(crate) fn code(totp: &Totp, unix: i64) -> String {
    totp.generate(u64::try_from(unix).unwrap()).to_string()
}

/// Turns 2FA on for `who` at `T0` and returns the authenticator and the recovery codes.
pub(crate) async fn enable(t: &TestApp, who: &Tokens) -> (Totp, Vec<String>) {
    at(t, T0);
    let reply = t
        .gql_as(&who.access, BEGIN, json!({"v": {"password": PASSWORD}}))
        .await;
    let uri = reply.assert_ok()["beginTwoFactorSetup"]["otpauthUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let totp = Totp::from_url(&uri).unwrap();
    let reply = t
        .gql_as(
            &who.access,
            CONFIRM,
            json!({"v": {"code": code(&totp, T0)}}),
        )
        .await;
    let codes = reply.assert_ok()["confirmTwoFactorSetup"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    (totp, codes)
}

async fn challenge(t: &TestApp, username: &str) -> String {
    let reply = t
        .gql(
            LOGIN,
            json!({"v": {"login": username, "password": PASSWORD}}),
        )
        .await;
    let login = &reply.assert_ok()["login"];
    assert_eq!(login["__typename"], "MfaChallenge");
    login["challengeToken"].as_str().unwrap().to_owned()
}

async fn verify(t: &TestApp, challenge: &str, factor: Value) -> Reply {
    let mut input = json!({ "challengeToken": challenge });
    input
        .as_object_mut()
        .unwrap()
        .extend(factor.as_object().unwrap().clone());
    t.gql(VERIFY, json!({ "v": input })).await
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_then_sign_in_with_a_code() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, T0);
    let wrong = t
        .gql_as(
            &ada.access,
            BEGIN,
            json!({"v": {"password": "not my password"}}),
        )
        .await;
    assert_eq!(wrong.error()["extensions"]["field"], "password");

    let first = t
        .gql_as(&ada.access, BEGIN, json!({"v": {"password": PASSWORD}}))
        .await;
    let setup = &first.assert_ok()["beginTwoFactorSetup"];
    let uri = setup["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Agora:ada?"), "{uri}");
    assert!(
        setup["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let abandoned = Totp::from_url(uri).unwrap();
    assert_eq!(abandoned.secret().as_bytes().len(), 20, "160 bits");
    let hex: String = abandoned
        .secret()
        .as_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let in_clear = format!(
        "SELECT count(*) FROM two_factor WHERE position('\\x{hex}'::bytea IN pending_secret) > 0"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM two_factor WHERE pending_secret IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        t.count(&in_clear).await,
        0,
        "the secret is not stored in the clear"
    );

    // Beginning again replaces the pending secret: the first one no longer confirms.
    let second = t
        .gql_as(&ada.access, BEGIN, json!({"v": {"password": PASSWORD}}))
        .await;
    let totp = Totp::from_url(
        second.assert_ok()["beginTwoFactorSetup"]["otpauthUri"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let stale = t
        .gql_as(
            &ada.access,
            CONFIRM,
            json!({"v": {"code": code(&abandoned, T0)}}),
        )
        .await;
    assert_eq!(stale.error()["extensions"]["field"], "code");
    let status = t.gql_as(&ada.access, STATUS, json!({})).await;
    assert_eq!(status.assert_ok()["me"]["twoFactorEnabled"], false);

    let confirmed = t
        .gql_as(
            &ada.access,
            CONFIRM,
            json!({"v": {"code": code(&totp, T0)}}),
        )
        .await;
    let payload = &confirmed.assert_ok()["confirmTwoFactorSetup"];
    assert_eq!(payload["recoveryCodes"].as_array().unwrap().len(), 10);
    assert_eq!(
        payload["user"],
        json!({"twoFactorEnabled": true, "recoveryCodesLeft": 10})
    );

    // The password alone no longer signs in; the challenge is no access token.
    at(&t, T0 + 30);
    let token = challenge(&t, "ada").await;
    assert!(t.me_refused(&token).await.is_some());
    let reply = verify(&t, &token, json!({"code": code(&totp, T0 + 30)})).await;
    let session = &reply.assert_ok()["verifyMfa"];
    assert_eq!(session["user"]["username"], "ada");
    assert!(
        t.me_refused(session["accessToken"].as_str().unwrap())
            .await
            .is_none()
    );
    // A challenge works once.
    let again = verify(&t, &token, json!({"code": code(&totp, T0 + 60)})).await;
    assert_eq!(again.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action IN ('auth.mfa_enable', 'auth.login')")
            .await,
        3,
        "enable, the first login and the one through verifyMfa"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_work_once_and_only_within_one_step() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (totp, _) = enable(&t, &ada).await;
    let now = T0 + 300;
    at(&t, now);
    // The setup's own code (step of T0) is spent, and is also too old now.
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": code(&totp, T0)}),
    )
    .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    // Two steps old: refused; one step old: accepted.
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": code(&totp, now - 60)}),
    )
    .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert_eq!(reply.error()["message"], "Invalid code");
    verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": code(&totp, now - 30)}),
    )
    .await
    .assert_ok();
    // The same code again, and a code of an earlier step, are replays: the owner is told the
    // code was used, not that it is wrong.
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": code(&totp, now - 30)}),
    )
    .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert!(
        reply.error()["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{:#}",
        reply.body
    );

    // Two sign-ins racing with one fresh code: exactly one gets a session.
    let (first, second) = (challenge(&t, "ada").await, challenge(&t, "ada").await);
    let fresh = code(&totp, now);
    let (a, b) = futures::future::join(
        verify(&t, &first, json!({"code": fresh})),
        verify(&t, &second, json!({"code": fresh})),
    )
    .await;
    let wins = [&a, &b]
        .iter()
        .filter(|reply| reply.code().is_none())
        .count();
    assert_eq!(wins, 1, "{:#} {:#}", a.body, b.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_codes_are_single_use_even_in_parallel() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (_, codes) = enable(&t, &ada).await;
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"recoveryCode": codes[0].to_uppercase()}),
    )
    .await;
    let access = reply.assert_ok()["verifyMfa"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = t.gql_as(&access, STATUS, json!({})).await;
    assert_eq!(status.assert_ok()["me"]["recoveryCodesLeft"], 9);
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"recoveryCode": codes[0]}),
    )
    .await;
    assert_eq!(
        (reply.code(), reply.error()["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("recoveryCode"))
    );
    let (first, second) = (challenge(&t, "ada").await, challenge(&t, "ada").await);
    let (a, b) = futures::future::join(
        verify(&t, &first, json!({"recoveryCode": codes[1]})),
        verify(&t, &second, json!({"recoveryCode": codes[1]})),
    )
    .await;
    let wins = [&a, &b]
        .iter()
        .filter(|reply| reply.code().is_none())
        .count();
    assert_eq!(wins, 1);
    let both = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": "123456", "recoveryCode": codes[2]}),
    )
    .await;
    assert_eq!(both.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_is_stopped_per_challenge_and_per_account() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (totp, _) = enable(&t, &ada).await;
    let now = T0 + 600;
    at(&t, now);
    let wrong = |totp: &Totp| {
        let right = code(totp, now);
        format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000)
    };
    // Five wrong codes end a challenge: even the right code is refused afterwards.
    let token = challenge(&t, "ada").await;
    for _ in 0..5 {
        let reply = verify(&t, &token, json!({"code": wrong(&totp)})).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    }
    let reply = verify(&t, &token, json!({"code": code(&totp, now)})).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));

    // Ten wrong codes in fifteen minutes lock the account's code checks.
    let token = challenge(&t, "ada").await;
    for _ in 0..4 {
        verify(&t, &token, json!({"code": wrong(&totp)})).await;
    }
    let token = challenge(&t, "ada").await;
    let eleventh = verify(&t, &token, json!({"code": wrong(&totp)})).await;
    assert_eq!(
        eleventh.code(),
        Some("BAD_USER_INPUT"),
        "the tenth wrong code"
    );
    let locked = verify(&t, &token, json!({"code": code(&totp, now)})).await;
    assert_eq!(locked.code(), Some("RATE_LIMITED"));
    let retry_after = locked.error()["extensions"]["retryAfter"].as_i64().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(t.count("SELECT count(*) FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = 'ada')").await, 1);

    // Once the window has passed, the right code works again.
    let later = now + 901;
    at(&t, later);
    verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"code": code(&totp, later)}),
    )
    .await
    .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn challenges_and_pending_setups_expire() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (totp, _) = enable(&t, &ada).await;
    at(&t, T0 + 60);
    let token = challenge(&t, "ada").await;
    let late = T0 + 60 + 301;
    at(&t, late);
    let reply = verify(&t, &token, json!({"code": code(&totp, late)})).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));

    let bob = t.user("bob").await;
    at(&t, T0);
    let reply = t
        .gql_as(&bob.access, BEGIN, json!({"v": {"password": PASSWORD}}))
        .await;
    let pending = Totp::from_url(
        reply.assert_ok()["beginTwoFactorSetup"]["otpauthUri"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let late = T0 + 601;
    at(&t, late);
    let reply = t
        .gql_as(
            &bob.access,
            CONFIRM,
            json!({"v": {"code": code(&pending, late)}}),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert_eq!(
        t.count("SELECT count(*) FROM two_factor WHERE enabled_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_and_regenerating_need_both_factors() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let other_device = t.sign_in("ada").await;
    let (totp, codes) = enable(&t, &ada).await;
    let regenerate = "mutation($v: BothFactorsInput!) { regenerateRecoveryCodes(input: $v) { recoveryCodes user { recoveryCodesLeft } } }";
    let disable = "mutation($v: BothFactorsInput!) { disableTwoFactor(input: $v) { sessionsRevoked user { twoFactorEnabled } } }";
    let now = T0 + 120;
    at(&t, now);
    let reply = t
        .gql_as(
            &ada.access,
            regenerate,
            json!({"v": {"password": "wrong password!", "code": code(&totp, now)}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["field"], "password");
    let reply = t
        .gql_as(
            &ada.access,
            regenerate,
            json!({"v": {"password": PASSWORD}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["field"], "code");
    let reply = t
        .gql_as(
            &ada.access,
            regenerate,
            json!({"v": {"password": PASSWORD, "code": code(&totp, now)}}),
        )
        .await;
    let fresh: Vec<String> = reply.assert_ok()["regenerateRecoveryCodes"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert!(fresh.iter().all(|code| !codes.contains(code)));
    // Old codes died with the regeneration.
    let reply = verify(
        &t,
        &challenge(&t, "ada").await,
        json!({"recoveryCode": codes[3]}),
    )
    .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));

    let reply = t
        .gql_as(
            &ada.access,
            disable,
            json!({"v": {"password": PASSWORD, "recoveryCode": fresh[0]}}),
        )
        .await;
    let payload = &reply.assert_ok()["disableTwoFactor"];
    assert_eq!(payload["user"]["twoFactorEnabled"], false);
    assert!(payload["sessionsRevoked"].as_i64().unwrap() >= 1);
    assert!(t.me_refused(&other_device.access).await.is_some());
    assert!(t.me_refused(&ada.access).await.is_none());
    let reply = t
        .gql(LOGIN, json!({"v": {"login": "ada", "password": PASSWORD}}))
        .await;
    assert_eq!(reply.assert_ok()["login"]["__typename"], "AuthPayload");
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_reset_a_lost_factor_and_it_is_audited() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    enable(&t, &ada).await;
    let reset = "mutation($v: ResetTwoFactorInput!) { resetTwoFactor(input: $v) { changed user { twoFactorEnabled } } }";
    let reply = t
        .gql_as(&bob.access, reset, json!({"v": {"userId": ada.user_id}}))
        .await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
    let reply = t
        .gql_as(&root.access, reset, json!({"v": {"userId": ada.user_id}}))
        .await;
    assert_eq!(
        reply.assert_ok()["resetTwoFactor"],
        json!({"changed": true, "user": {"twoFactorEnabled": false}})
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.mfa_reset' AND actor_id = {} AND target_id = {}",
            root.user_id, ada.user_id
        ))
        .await,
        1
    );
    let reply = t
        .gql(LOGIN, json!({"v": {"login": "ada", "password": PASSWORD}}))
        .await;
    assert_eq!(reply.assert_ok()["login"]["__typename"], "AuthPayload");
}

#[tokio::test(flavor = "multi_thread")]
async fn sensitive_changes_ask_for_the_second_factor_too() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (totp, codes) = enable(&t, &ada).await;
    let now = T0 + 90;
    at(&t, now);
    let change =
        "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { sessionsRevoked } }";
    let token = "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }";
    let email = "mutation($v: ChangeEmailInput!) { changeEmail(input: $v) { user { email } } }";
    let password_only = [
        (
            change,
            json!({"currentPassword": PASSWORD, "newPassword": "another fine passphrase"}),
        ),
        (
            token,
            json!({"name": "ci", "permissions": ["profile:read"], "password": PASSWORD}),
        ),
        (
            email,
            json!({"newEmail": "ada@new.example", "password": PASSWORD}),
        ),
    ];
    for (mutation, input) in &password_only {
        let reply = t.gql_as(&ada.access, mutation, json!({ "v": input })).await;
        assert_eq!(
            (reply.code(), reply.error()["extensions"]["field"].as_str()),
            (Some("BAD_USER_INPUT"), Some("code")),
            "{mutation}"
        );
    }
    let mut with_code = password_only[1].1.clone();
    with_code["code"] = json!(code(&totp, now));
    t.gql_as(&ada.access, token, json!({ "v": with_code }))
        .await
        .assert_ok();
    let mut with_recovery = password_only[2].1.clone();
    with_recovery["recoveryCode"] = json!(codes[0]);
    let reply = t
        .gql_as(&ada.access, email, json!({ "v": with_recovery }))
        .await;
    assert_eq!(
        reply.assert_ok()["changeEmail"]["user"]["email"],
        "ada@new.example"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_sent_together_are_counted_before_they_are_checked() {
    let t = TestApp::new().await;
    let wrong = json!({"code": "000000"});
    let wrong_recovery = json!({"recoveryCode": "aaaa-bbbb-cccc-dddd"});

    // Fifty wrong codes on one challenge: five are checked, the challenge is spent for the rest.
    let ada = t.user("ada").await;
    enable(&t, &ada).await;
    let token = challenge(&t, "ada").await;
    let replies =
        futures::future::join_all((0..50).map(|_| verify(&t, &token, wrong.clone()))).await;
    assert_eq!(
        tally(&replies),
        tallied(&[("BAD_USER_INPUT", 5), ("UNAUTHENTICATED", 45)])
    );

    // Fifty wrong codes, or recovery codes, spread over enough challenges: the account's ten.
    for (username, factor) in [("bob", &wrong), ("carol", &wrong_recovery)] {
        let who = t.user(username).await;
        enable(&t, &who).await;
        let mut tokens = Vec::new();
        for _ in 0..13 {
            tokens.push(challenge(&t, username).await);
        }
        let replies = futures::future::join_all(
            (0..50).map(|n| verify(&t, &tokens[n % tokens.len()], factor.clone())),
        )
        .await;
        assert_eq!(
            tally(&replies),
            tallied(&[("BAD_USER_INPUT", 10), ("RATE_LIMITED", 40)]),
            "{username}"
        );
    }

    // Re-authentication with a wrong second factor draws on the same ten.
    let dave = t.user("dave").await;
    enable(&t, &dave).await;
    let replies = futures::future::join_all((0..50).map(|_| {
        t.gql_as(
            &dave.access,
            "mutation($v: BothFactorsInput!) { regenerateRecoveryCodes(input: $v) { recoveryCodes } }",
            json!({"v": {"password": PASSWORD, "code": "000000"}}),
        )
    }))
    .await;
    assert_eq!(
        tally(&replies),
        tallied(&[("BAD_USER_INPUT", 10), ("RATE_LIMITED", 40)])
    );
}
