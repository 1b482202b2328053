//! Rate limits on sign-in, registration and requests per client address.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_attempts_are_limited_per_account_known_or_not() {
    let t = TestApp::with_config(|config| config.rate_login_per_account = 5).await;
    t.user("ada").await; // one successful sign-in so far
    for name in ["ada", "ghost"] {
        let budget = if name == "ada" { 4 } else { 5 };
        for _ in 0..budget {
            let reply = t.login(name, "wrong password entirely").await;
            assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{name}");
        }
        let limited = t.login(name, "wrong password entirely").await;
        assert_eq!(limited.code(), Some("RATE_LIMITED"), "{name}");
        let retry_after = limited.error()["extensions"]["retryAfter"]
            .as_i64()
            .unwrap();
        assert!((1..=12).contains(&retry_after), "{retry_after}");
    }
    // The names are counted as typed, ignoring case and spaces.
    assert_eq!(
        t.login(" ADA ", "whatever it is").await.code(),
        Some("RATE_LIMITED")
    );
    // Another account is untouched.
    t.register("bob", "bob@example.com").await.assert_ok();
    t.login("bob", crate::common::PASSWORD).await.assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        9,
        "refused attempts never reached the password check"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ins_and_registrations_are_limited_per_address() {
    let t = TestApp::with_config(|config| {
        config.rate_login_per_address = 3;
        config.rate_register_per_address = 2;
    })
    .await;
    t.register("ada", "ada@example.com").await.assert_ok();
    t.register("bob", "bob@example.com").await.assert_ok();
    let third = t.register("cy", "cy@example.com").await;
    assert_eq!(third.code(), Some("RATE_LIMITED"));
    assert_eq!(t.count("SELECT count(*) FROM users").await, 2);
    for name in ["ada", "bob", "someone"] {
        assert_ne!(
            t.login(name, "x wrong password").await.code(),
            Some("RATE_LIMITED")
        );
    }
    let fourth = t.login("another", "x wrong password").await;
    assert_eq!(fourth.code(), Some("RATE_LIMITED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_request_budget_gets_429_with_retry_after() {
    let t = TestApp::with_config(|config| config.rate_requests_per_minute = 5).await;
    for _ in 0..5 {
        t.gql("{ __typename }", json!({})).await.assert_ok();
    }
    let refused = t.gql("{ __typename }", json!({})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), Some("RATE_LIMITED"));
    let header: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&header));
    assert_eq!(refused.error()["extensions"]["retryAfter"], header);
    // Health checks are not GraphQL requests and stay open.
    assert_eq!(t.get("/healthz", &[]).await.status, StatusCode::OK);
}
