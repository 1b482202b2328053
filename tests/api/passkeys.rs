//! Passkeys through the API, with software authenticators (`webauthn-authenticator-rs`): a
//! `SoftPasskey` for the usual ceremonies, a `SoftToken` (which can be copied) for a cloned
//! credential. The soft authenticators keep no discoverable credentials, so a sign-in names the
//! credential in `allowCredentials` and the answer carries the user handle, as a browser's
//! discoverable passkey would.

use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};
use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

use crate::common::{PASSWORD, Reply, TestApp, Tokens};

const ORIGIN: &str = "http://localhost:8080";
const BEGIN_REGISTRATION: &str = "mutation($v: BeginPasskeyRegistrationInput!) { beginPasskeyRegistration(input: $v) { ceremonyId options expiresAt } }";
const FINISH_REGISTRATION: &str = "mutation($v: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $v) { id name backupEligible backedUp createdAt } }";
const BEGIN_SIGN_IN: &str = "mutation { beginPasskeySignIn { ceremonyId options } }";
const FINISH_SIGN_IN: &str = "mutation($v: FinishPasskeySignInInput!) { finishPasskeySignIn(input: $v) { accessToken user { username } } }";
const LIST: &str = "{ myPasskeys { id name lastUsedAt possiblyClonedAt } }";

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

/// A registered passkey: its id in Agora and its credential id.
struct Registered {
    id: String,
    credential_id: Vec<u8>,
}

/// A registration begun by `who` with the right password: its id and options.
async fn begin_registration(t: &TestApp, who: &Tokens) -> (String, CreationChallengeResponse) {
    begin_registration_with(t, who, json!({"password": PASSWORD})).await
}

/// A registration begun by `who` with `proof` (`{}` within a recent proof).
async fn begin_registration_with(
    t: &TestApp,
    who: &Tokens,
    proof: Value,
) -> (String, CreationChallengeResponse) {
    let begun = t
        .gql_as(&who.access, BEGIN_REGISTRATION, json!({ "v": proof }))
        .await;
    let begun = &begun.assert_ok()["beginPasskeyRegistration"];
    (
        begun["ceremonyId"].as_str().unwrap().to_owned(),
        serde_json::from_value(begun["options"].clone()).unwrap(),
    )
}

async fn register(
    t: &TestApp,
    who: &Tokens,
    authenticator: &mut impl AuthenticatorBackend,
    name: &str,
) -> Registered {
    let (ceremony, options) = begin_registration(t, who).await;
    let credential = authenticator.do_registration(origin(), options).unwrap();
    let credential_id = credential.raw_id.to_vec();
    let finished = t
        .gql_as(
            &who.access,
            FINISH_REGISTRATION,
            json!({"v": {"ceremonyId": ceremony, "credential": credential, "name": name}}),
        )
        .await;
    let id = finished.assert_ok()["finishPasskeyRegistration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Registered { id, credential_id }
}

/// The options of a new sign-in ceremony, and its id.
async fn begin_sign_in(t: &TestApp) -> (String, RequestChallengeResponse) {
    let begun = t.gql(BEGIN_SIGN_IN, json!({})).await;
    let begun = &begun.assert_ok()["beginPasskeySignIn"];
    (
        begun["ceremonyId"].as_str().unwrap().to_owned(),
        serde_json::from_value(begun["options"].clone()).unwrap(),
    )
}

/// What a browser's discoverable passkey answers for `username`'s credential.
async fn answer(
    t: &TestApp,
    username: &str,
    passkey: &Registered,
    mut options: RequestChallengeResponse,
    respond: impl FnOnce(RequestChallengeResponse) -> PublicKeyCredential,
) -> Value {
    options.public_key.allow_credentials = vec![AllowCredentials {
        type_: "public-key".to_owned(),
        id: passkey.credential_id.clone(),
        transports: None,
    }];
    let mut credential = respond(options);
    let handle = t
        .text(&format!(
            "SELECT webauthn_handle AS t FROM users WHERE username = '{username}'"
        ))
        .await;
    let handle = uuid::Uuid::parse_str(&handle).unwrap();
    credential.response.user_handle = Some(handle.as_bytes().to_vec());
    serde_json::to_value(&credential).unwrap()
}

async fn finish_sign_in(t: &TestApp, ceremony: &str, credential: Value) -> Reply {
    t.gql(
        FINISH_SIGN_IN,
        json!({"v": {"ceremonyId": ceremony, "credential": credential}}),
    )
    .await
}

/// A full passwordless sign-in of `username` with `authenticator`.
async fn sign_in(
    t: &TestApp,
    username: &str,
    passkey: &Registered,
    authenticator: &mut impl AuthenticatorBackend,
) -> Reply {
    let (ceremony, options) = begin_sign_in(t).await;
    let credential = answer(t, username, passkey, options, |options| {
        authenticator.do_authentication(origin(), options).unwrap()
    })
    .await;
    finish_sign_in(t, &ceremony, credential).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_is_registered_then_signs_in_without_a_password() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let passkey = register(&t, &ada, &mut authenticator, "laptop").await;
    let list = t.gql_as(&ada.access, LIST, json!({})).await;
    assert_eq!(list.assert_ok()["myPasskeys"][0]["name"], "laptop");
    let reply = sign_in(&t, "ada", &passkey, &mut authenticator).await;
    assert_eq!(
        reply.assert_ok()["finishPasskeySignIn"]["user"]["username"],
        "ada"
    );
    assert!(
        reply
            .cookies()
            .iter()
            .any(|c| c.name() == "__Host-agora_access")
    );
    let factors = t
        .text("SELECT metadata->>'factors' AS t FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(factors, r#"["passkey"]"#);
    // Again: the counter moves on and is kept.
    sign_in(&t, "ada", &passkey, &mut authenticator)
        .await
        .assert_ok();
    assert!(t.count("SELECT counter FROM passkeys").await >= 2);
    let list = t.gql_as(&ada.access, LIST, json!({})).await;
    assert!(list.assert_ok()["myPasskeys"][0]["lastUsedAt"].is_string());
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE kind = 'passkey_added'")
            .await,
        1
    );
    // Each use is mailed to the owner, as a provider sign-in is.
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE kind = 'passkey_used'")
            .await,
        2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'passkey.register'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_needs_a_proof_and_a_session() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let wrong = t
        .gql_as(
            &ada.access,
            BEGIN_REGISTRATION,
            json!({"v": {"password": "not it at all"}}),
        )
        .await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"));
    // Someone else's ceremony is not yours to finish.
    let bob = t.user("bob").await;
    let (ceremony, options) = begin_registration(&t, &ada).await;
    let credential = SoftPasskey::new(true)
        .do_registration(origin(), options)
        .unwrap();
    let stolen = t
        .gql_as(
            &bob.access,
            FINISH_REGISTRATION,
            json!({"v": {"ceremonyId": ceremony, "credential": credential, "name": "x"}}),
        )
        .await;
    assert_eq!(stolen.code(), Some("BAD_USER_INPUT"));
    assert_eq!(t.count("SELECT count(*) FROM passkeys").await, 0);
    // Garbage as the credential is refused as input, not a crash.
    let (id, _) = begin_registration(&t, &ada).await;
    let garbage = t
        .gql_as(
            &ada.access,
            FINISH_REGISTRATION,
            json!({"v": {"ceremonyId": id, "credential": {"id": 1}, "name": "x"}}),
        )
        .await;
    assert_eq!(garbage.code(), Some("BAD_USER_INPUT"));
    assert_eq!(garbage.error()["extensions"]["field"], "credential");
    // An answer made for another site is refused as input too: UNAUTHENTICATED would send a
    // signed-in client to refresh its session and replay a spent ceremony.
    let (id, options) = begin_registration(&t, &ada).await;
    let phished = AuthenticatorBackend::perform_register(
        &mut SoftPasskey::new(true),
        Url::parse("https://evil.test").unwrap(),
        options.public_key,
        60_000,
    )
    .unwrap();
    let refused = t
        .gql_as(
            &ada.access,
            FINISH_REGISTRATION,
            json!({"v": {"ceremonyId": id, "credential": phished, "name": "x"}}),
        )
        .await;
    assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    assert_eq!(refused.error()["extensions"]["field"], "credential");
    assert_eq!(t.count("SELECT count(*) FROM passkeys").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_proves_a_passwordless_account_again() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut laptop = SoftPasskey::new(true);
    let first = register(&t, &ada, &mut laptop, "laptop").await;
    // As an account made by a provider: no password, and a sign-in long past.
    t.sql("UPDATE users SET password_hash = '' WHERE username = 'ada'")
        .await;
    t.sql("UPDATE sessions SET proved_at = proved_at - interval '11 minutes'")
        .await;
    let no_proof = t
        .gql_as(
            &ada.access,
            "mutation { beginPasskeyRegistration { ceremonyId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        no_proof.error()["extensions"]["reason"],
        "REAUTHENTICATION_REQUIRED"
    );
    let begun = t
        .gql_as(
            &ada.access,
            "mutation { beginPasskeyReauthentication { ceremonyId options } }",
            json!({}),
        )
        .await;
    let begun = &begun.assert_ok()["beginPasskeyReauthentication"];
    let options = serde_json::from_value(begun["options"].clone()).unwrap();
    let credential = laptop.do_authentication(origin(), options).unwrap();
    let reauthenticate =
        "mutation($v: ReauthenticateInput!) { reauthenticate(input: $v) { provedWith } }";
    let answer =
        json!({"v": {"passkeyCeremonyId": begun["ceremonyId"], "passkeyCredential": credential}});
    let proved = t.gql_as(&ada.access, reauthenticate, answer.clone()).await;
    assert_eq!(
        proved.assert_ok()["reauthenticate"]["provedWith"],
        json!(["passkey"])
    );
    let replayed = t.gql_as(&ada.access, reauthenticate, answer).await;
    assert_eq!(replayed.code(), Some("BAD_USER_INPUT"), "{}", replayed.body);
    // Proved, the account adds a passkey without a password, and may remove one but not both.
    let (ceremony, options) = begin_registration_with(&t, &ada, json!({})).await;
    let mut phone = SoftPasskey::new(true);
    let credential = phone.do_registration(origin(), options).unwrap();
    t.gql_as(
        &ada.access,
        FINISH_REGISTRATION,
        json!({"v": {"ceremonyId": ceremony, "credential": credential, "name": "phone"}}),
    )
    .await
    .assert_ok();
    let delete = "mutation($v: DeletePasskeyInput!) { deletePasskey(input: $v) { name } }";
    t.gql_as(&ada.access, delete, json!({"v": {"id": first.id}}))
        .await
        .assert_ok();
    let list = t.gql_as(&ada.access, LIST, json!({})).await;
    let last = list.assert_ok()["myPasskeys"][0]["id"].clone();
    let refused = t
        .gql_as(&ada.access, delete, json!({"v": {"id": last}}))
        .await;
    assert_eq!(refused.error()["extensions"]["reason"], "LAST_CREDENTIAL");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ceremony_works_once_and_expires() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let passkey = register(&t, &ada, &mut authenticator, "laptop").await;
    let (ceremony, options) = begin_sign_in(&t).await;
    let credential = answer(&t, "ada", &passkey, options, |options| {
        authenticator.do_authentication(origin(), options).unwrap()
    })
    .await;
    finish_sign_in(&t, &ceremony, credential.clone())
        .await
        .assert_ok();
    let replayed = finish_sign_in(&t, &ceremony, credential).await;
    assert_eq!(replayed.code(), Some("BAD_USER_INPUT"));
    assert_eq!(replayed.error()["extensions"]["field"], "ceremonyId");

    let (ceremony, options) = begin_sign_in(&t).await;
    let credential = answer(&t, "ada", &passkey, options, |options| {
        authenticator.do_authentication(origin(), options).unwrap()
    })
    .await;
    t.sql("UPDATE webauthn_ceremonies SET expires_at = created_at")
        .await;
    let late = finish_sign_in(&t, &ceremony, credential).await;
    assert_eq!(late.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_for_another_site_or_without_user_verification_are_refused() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let passkey = register(&t, &ada, &mut authenticator, "laptop").await;
    let evil = Url::parse("https://evil.test").unwrap();
    // Another origin (a phishing page relaying the challenge).
    let (ceremony, options) = begin_sign_in(&t).await;
    let credential = answer(&t, "ada", &passkey, options, |options| {
        AuthenticatorBackend::perform_auth(
            &mut authenticator,
            evil.clone(),
            options.public_key,
            60_000,
        )
        .unwrap()
    })
    .await;
    let reply = finish_sign_in(&t, &ceremony, credential).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    // Another relying party's id.
    let (ceremony, mut options) = begin_sign_in(&t).await;
    options.public_key.rp_id = "evil.test".to_owned();
    let credential = answer(&t, "ada", &passkey, options, |options| {
        AuthenticatorBackend::perform_auth(&mut authenticator, origin(), options.public_key, 60_000)
            .unwrap()
    })
    .await;
    let reply = finish_sign_in(&t, &ceremony, credential).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    // User verification asked for but not done.
    let (ceremony, mut options) = begin_sign_in(&t).await;
    options.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let credential = answer(&t, "ada", &passkey, options, |options| {
        authenticator.do_authentication(origin(), options).unwrap()
    })
    .await;
    let reply = finish_sign_in(&t, &ceremony, credential).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    assert_eq!(
        t.count("SELECT count(*) FROM sessions").await,
        1,
        "only ada's first"
    );
    // The honest answer still works.
    sign_in(&t, "ada", &passkey, &mut authenticator)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_backup_flags_are_refused_but_mark_nothing() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let passkey = register(&t, &ada, &mut authenticator, "laptop").await;
    // The flags byte follows the 32-byte RP id hash: BE is 0x08, BS 0x10.
    for flipped in [0x08_u8, 0x10] {
        let (ceremony, options) = begin_sign_in(&t).await;
        let credential = answer(&t, "ada", &passkey, options, |options| {
            let mut credential = authenticator.do_authentication(origin(), options).unwrap();
            credential.response.authenticator_data[32] ^= flipped;
            credential
        })
        .await;
        let reply = finish_sign_in(&t, &ceremony, credential).await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    }
    // webauthn-rs compares the flags before it checks the signature, so a changed flag proves
    // nothing about the key: anyone could send one, and marking the passkey on it would let
    // them lock its owner out.
    let list = t.gql_as(&ada.access, LIST, json!({})).await;
    assert_eq!(
        list.assert_ok()["myPasskeys"][0]["possiblyClonedAt"],
        Value::Null
    );
    sign_in(&t, "ada", &passkey, &mut authenticator)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_that_goes_back_marks_the_passkey_and_refuses_it() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let (mut original, _) = SoftToken::new(true).unwrap();
    let passkey = register(&t, &ada, &mut original, "key").await;
    let mut copy = SoftToken::from_cbor(&original.to_cbor().unwrap()).unwrap();
    sign_in(&t, "ada", &passkey, &mut original)
        .await
        .assert_ok();
    sign_in(&t, "ada", &passkey, &mut original)
        .await
        .assert_ok();
    let cloned = sign_in(&t, "ada", &passkey, &mut copy).await;
    assert_eq!(cloned.code(), Some("UNAUTHENTICATED"), "{}", cloned.body);
    assert!(
        cloned.error()["message"]
            .as_str()
            .unwrap()
            .contains("counter")
    );
    let list = t.gql_as(&ada.access, LIST, json!({})).await;
    assert!(list.assert_ok()["myPasskeys"][0]["possiblyClonedAt"].is_string());
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'passkey.possibly_cloned'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE kind = 'passkey_refused'")
            .await,
        1
    );
    // From then on the credential is refused, whoever holds it.
    let again = sign_in(&t, "ada", &passkey, &mut original).await;
    assert_eq!(again.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_way_in_cannot_be_removed() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let laptop = register(&t, &ada, &mut authenticator, "laptop").await;
    let mut phone_authenticator = SoftPasskey::new(true);
    let phone = register(&t, &ada, &mut phone_authenticator, "phone").await;
    let rename = t
        .gql_as(
            &ada.access,
            "mutation($v: RenamePasskeyInput!) { renamePasskey(input: $v) { name } }",
            json!({"v": {"id": phone.id, "name": "old phone"}}),
        )
        .await;
    assert_eq!(rename.assert_ok()["renamePasskey"]["name"], "old phone");
    // Without a password, the last passkey is the account's last way in.
    t.sql("UPDATE users SET password_hash = '' WHERE username = 'ada'")
        .await;
    let delete = "mutation($v: DeletePasskeyInput!) { deletePasskey(input: $v) { name } }";
    let removed = t
        .gql_as(&ada.access, delete, json!({"v": {"id": phone.id}}))
        .await;
    assert_eq!(removed.assert_ok()["deletePasskey"]["name"], "old phone");
    let refused = t
        .gql_as(&ada.access, delete, json!({"v": {"id": laptop.id}}))
        .await;
    assert_eq!(refused.code(), Some("CONFLICT"));
    assert_eq!(refused.error()["extensions"]["reason"], "LAST_CREDENTIAL");
    // Someone else's passkey is not found.
    let bob = t.user("bob").await;
    let theirs = t
        .gql_as(&bob.access, delete, json!({"v": {"id": laptop.id}}))
        .await;
    assert_eq!(theirs.code(), Some("NOT_FOUND"));
    assert_eq!(
        t.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('passkey.rename', 'passkey.remove')"
        )
        .await,
        2
    );
    sign_in(&t, "ada", &laptop, &mut authenticator)
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_is_both_factors_when_two_factor_is_on() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    let passkey = register(&t, &ada, &mut authenticator, "laptop").await;
    crate::mfa::enable(&t, &ada).await;
    let reply = sign_in(&t, "ada", &passkey, &mut authenticator).await;
    assert_eq!(
        reply.assert_ok()["finishPasskeySignIn"]["user"]["username"],
        "ada"
    );
}

/// The `MfaChallenge` a password login of `username` (2FA on) answers.
async fn challenge_for(t: &TestApp, username: &str) -> Value {
    let login = t
        .gql(
            "mutation($v: LoginInput!) { login(input: $v) { ... on MfaChallenge { challengeToken } } }",
            json!({"v": {"login": username, "password": PASSWORD}}),
        )
        .await;
    login.assert_ok()["login"]["challengeToken"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_answers_the_second_factor_challenge() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut authenticator = SoftPasskey::new(true);
    register(&t, &ada, &mut authenticator, "laptop").await;
    crate::mfa::enable(&t, &ada).await;
    let challenge = challenge_for(&t, "ada").await;
    let begin =
        "mutation($v: BeginMfaPasskeyInput!) { beginMfaPasskey(input: $v) { ceremonyId options } }";
    let verify = "mutation($v: VerifyMfaInput!) { verifyMfa(input: $v) { user { username } } }";
    let begun = t
        .gql(begin, json!({"v": {"challengeToken": challenge}}))
        .await;
    let begun = &begun.assert_ok()["beginMfaPasskey"];
    let options: RequestChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    // An answer from another site is a wrong factor, counted as one.
    let evil = Url::parse("https://evil.test").unwrap();
    let wrong = AuthenticatorBackend::perform_auth(
        &mut authenticator,
        evil,
        options.public_key.clone(),
        60_000,
    )
    .unwrap();
    let refused = t
        .gql(
            verify,
            json!({"v": {"challengeToken": challenge, "passkeyCeremonyId": begun["ceremonyId"], "passkeyCredential": wrong}}),
        )
        .await;
    assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    assert_eq!(refused.error()["extensions"]["field"], "passkeyCredential");
    // The ceremony was spent by that answer: a new one, answered rightly.
    let begun = t
        .gql(begin, json!({"v": {"challengeToken": challenge}}))
        .await;
    let begun = &begun.assert_ok()["beginMfaPasskey"];
    let options: RequestChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let right = authenticator.do_authentication(origin(), options).unwrap();
    let verified = t
        .gql(
            verify,
            json!({"v": {"challengeToken": challenge, "passkeyCeremonyId": begun["ceremonyId"], "passkeyCredential": right}}),
        )
        .await;
    assert_eq!(verified.assert_ok()["verifyMfa"]["user"]["username"], "ada");
    let factors = t
        .text("SELECT metadata->>'factors' AS t FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(factors, r#"["password", "passkey"]"#);
    // A code and a passkey together is not a factor.
    let both = t
        .gql(
            verify,
            json!({"v": {"challengeToken": challenge, "code": "123456", "passkeyCeremonyId": "x", "passkeyCredential": {}}}),
        )
        .await;
    assert_eq!(both.code(), Some("BAD_USER_INPUT"));
    // An account without passkeys is told to use a code.
    let bob = t.user("bob").await;
    crate::mfa::enable(&t, &bob).await;
    let challenge = challenge_for(&t, "bob").await;
    let none = t
        .gql(begin, json!({"v": {"challengeToken": challenge}}))
        .await;
    assert_eq!(none.code(), Some("BAD_USER_INPUT"));
}
