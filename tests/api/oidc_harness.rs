//! The test OpenID Provider (common::oidc) on its own, as a relying party would drive it: the
//! authorization code flow with PKCE by hand, the tamper switch, a key rotation and a stop.
//! Agora's own OpenID Connect tests build on it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::http_client;
use crate::common::oidc::{OidcAccount, OidcProvider};

const REDIRECT: &str = "http://127.0.0.1:9/oidc/callback";

const ALICE: OidcAccount = OidcAccount {
    sub: "alice",
    email: "alice@example.com",
    email_verified: true,
    name: "Alice Liddell",
    preferred_username: "alice",
};

const BOB: OidcAccount = OidcAccount {
    sub: "bob",
    email: "bob@example.com",
    email_verified: false,
    name: "",
    preferred_username: "",
};

/// One authorization request's secrets, kept by the relying party until the callback.
struct Attempt {
    url: String,
    state: String,
    nonce: String,
    verifier: String,
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn discovery(op: &OidcProvider) -> Value {
    let response = http_client().get(op.discovery_url()).send().await.unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

fn attempt(discovery: &Value, client_id: &str) -> Attempt {
    let (state, nonce, verifier) = (random(), random(), random());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Attempt {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// The callback's query parameters.
fn callback(url: &str) -> std::collections::HashMap<String, String> {
    assert!(url.starts_with(REDIRECT), "{url}");
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The code exchange at the token endpoint, as a confidential client (HTTP Basic).
async fn exchange(
    op: &OidcProvider,
    discovery: &Value,
    code: &str,
    verifier: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    let response = http_client()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(op.client_id(), Some(op.client_secret()))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Signs in as `account` and returns the token response.
async fn sign_in(op: &OidcProvider, account: &str) -> (Attempt, Value) {
    let discovery = discovery(op).await;
    let attempt = attempt(&discovery, op.client_id());
    let back = callback(&op.authorize(&attempt.url, account).await);
    assert_eq!(back["state"], attempt.state);
    let (status, tokens) = exchange(op, &discovery, &back["code"], Some(&attempt.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    (attempt, tokens)
}

/// A JWT's header (0) or payload (1), unverified.
fn jwt_part(token: &Value, part: usize) -> Value {
    let encoded = token.as_str().unwrap().split('.').nth(part).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

async fn jwks_kids(op: &OidcProvider) -> Vec<String> {
    let discovery = discovery(op).await;
    let jwks: Value = http_client()
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_code_flow_with_pkce_gives_an_id_token_with_the_accounts_claims() {
    let op = OidcProvider::start(&[REDIRECT], &[ALICE, BOB]).await;
    let discovery = discovery(&op).await;
    assert_eq!(discovery["issuer"], op.issuer());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );

    let (attempt, tokens) = sign_in(&op, "alice").await;
    let header = jwt_part(&tokens["id_token"], 0);
    let claims = jwt_part(&tokens["id_token"], 1);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(jwks_kids(&op).await, [header["kid"].as_str().unwrap()]);
    assert_eq!(claims["iss"], op.issuer());
    assert_eq!(claims["aud"], op.client_id());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], attempt.nonce);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["preferred_username"], "alice");

    // An account's empty fields are not claimed at all.
    let (_, tokens) = sign_in(&op, "bob").await;
    let claims = jwt_part(&tokens["id_token"], 1);
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["email_verified"], false);
    assert!(claims.get("name").is_none(), "{claims}");
    assert!(claims.get("preferred_username").is_none(), "{claims}");
}

#[tokio::test]
async fn the_provider_refuses_what_a_real_one_refuses() {
    let op = OidcProvider::start(&[REDIRECT], &[ALICE]).await;
    let discovery = discovery(&op).await;

    // A code exchanged without its PKCE verifier.
    let attempt = attempt(&discovery, op.client_id());
    let back = callback(&op.authorize(&attempt.url, "alice").await);
    let (status, answer) = exchange(&op, &discovery, &back["code"], None).await;
    assert_eq!((status, &answer["error"]), (400, &json!("invalid_grant")));

    // The user says no at the consent page.
    let attempt = self::attempt(&discovery, op.client_id());
    let back = callback(&op.deny(&attempt.url, "alice").await);
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], attempt.state);
}

#[tokio::test]
async fn tamper_changes_the_next_id_token_only() {
    let op = OidcProvider::start(&[REDIRECT], &[ALICE]).await;
    let kid = op.kids()[0].clone();

    op.tamper(json!({ "aud": "x", "nonce": null })).await;
    let (_, tokens) = sign_in(&op, "alice").await;
    let claims = jwt_part(&tokens["id_token"], 1);
    assert_eq!(claims["aud"], "x");
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert_eq!(claims["email"], "alice@example.com");
    // Re-signed by the provider's own key: only the claim is wrong.
    assert_eq!(jwt_part(&tokens["id_token"], 0)["kid"], kid.as_str());

    let (attempt, tokens) = sign_in(&op, "alice").await;
    let claims = jwt_part(&tokens["id_token"], 1);
    assert_eq!(claims["aud"], op.client_id());
    assert_eq!(claims["nonce"], attempt.nonce);

    op.tamper(json!({ "iss": "http://evil", "exp": 1, "iat": 0 }))
        .await;
    let (_, tokens) = sign_in(&op, "alice").await;
    let claims = jwt_part(&tokens["id_token"], 1);
    assert_eq!(
        (&claims["iss"], &claims["exp"]),
        (&json!("http://evil"), &json!(1))
    );

    op.tamper(json!({ "signWith": "none" })).await;
    let (_, tokens) = sign_in(&op, "alice").await;
    assert_eq!(jwt_part(&tokens["id_token"], 0)["alg"], "none");
    assert!(tokens["id_token"].as_str().unwrap().ends_with('.'));

    op.tamper(json!({ "signWith": "rogue" })).await;
    let (_, tokens) = sign_in(&op, "alice").await;
    let rogue = jwt_part(&tokens["id_token"], 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!jwks_kids(&op).await.contains(&rogue), "{rogue}");

    op.tamper(json!({ "signWith": "none" })).await;
    op.reset().await;
    let (_, tokens) = sign_in(&op, "alice").await;
    assert_eq!(jwt_part(&tokens["id_token"], 0)["alg"], "RS256");
}

#[tokio::test]
async fn a_restart_with_rotated_keys_serves_a_new_kid_and_a_stop_refuses_connections() {
    let mut op = OidcProvider::start(&[REDIRECT], &[ALICE]).await;
    let before = jwks_kids(&op).await;

    op.restart().await;
    assert_eq!(jwks_kids(&op).await, before);

    op.restart_with_rotated_keys().await;
    let after = jwks_kids(&op).await;
    assert_eq!(after, op.kids());
    assert!(after.iter().all(|kid| !before.contains(kid)), "{after:?}");
    let (_, tokens) = sign_in(&op, "alice").await;
    assert_eq!(jwt_part(&tokens["id_token"], 0)["kid"], after[0].as_str());

    op.stop().await;
    assert!(http_client().get(op.discovery_url()).send().await.is_err());
}
