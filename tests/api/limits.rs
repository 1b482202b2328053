//! Rate limits on sign-in, registration and requests per client address, each shown with the
//! in-process buckets and with the Redis-counted ones; then the Redis path's own promises:
//! growing back-off, limits shared between instances, and falling back when Redis is away.

use axum::http::StatusCode;
use serde_json::json;

use agora::config::Config;

use crate::common::{TestApp, free_port};

#[derive(Clone, Copy, Debug)]
enum Counted {
    InProcess,
    InRedis,
}

async fn app(counted: Counted, adjust: impl FnOnce(&mut Config)) -> TestApp {
    match counted {
        Counted::InProcess => TestApp::with_config(adjust).await,
        Counted::InRedis => TestApp::with_redis(adjust).await,
    }
}

/// One test per backend from one body.
macro_rules! on_both_backends {
    ($body:ident: $in_process:ident, $in_redis:ident) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $in_process() {
            $body(Counted::InProcess).await
        }
        #[tokio::test(flavor = "multi_thread")]
        async fn $in_redis() {
            $body(Counted::InRedis).await
        }
    };
}

on_both_backends!(limited_per_account: sign_in_attempts_are_limited_per_account_in_process, sign_in_attempts_are_limited_per_account_in_redis);
on_both_backends!(limited_per_address: sign_ins_and_registrations_are_limited_per_address_in_process, sign_ins_and_registrations_are_limited_per_address_in_redis);
on_both_backends!(request_budget: a_client_over_its_request_budget_gets_429_in_process, a_client_over_its_request_budget_gets_429_in_redis);

/// Known and unknown account names alike: five attempts, then a wait of one minute.
async fn limited_per_account(counted: Counted) {
    let t = app(counted, |config| config.rate_login_per_account = 5).await;
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
        assert_eq!(
            retry_after, 60,
            "{name}: the first exhaustion waits one window"
        );
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

async fn limited_per_address(counted: Counted) {
    let t = app(counted, |config| {
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

async fn request_budget(counted: Counted) {
    let t = app(counted, |config| config.rate_requests_per_minute = 5).await;
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
    assert!((1..=60).contains(&header), "{header}");
    assert_eq!(refused.error()["extensions"]["retryAfter"], header);
    // Health checks are not GraphQL requests and stay open.
    assert_eq!(t.get("/healthz", &[]).await.status, StatusCode::OK);
}

fn redis_key(t: &TestApp, guarded: &str, key: &str, part: &str) -> String {
    format!(
        "{}:rl:{guarded}:{}:{part}",
        t.app.config.redis_prefix,
        agora::ratelimit::hashed_key(key)
    )
}

async fn redis_command(args: &[&str]) -> i64 {
    let client = redis::Client::open(crate::common::redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async(&mut connection).await.unwrap()
}

async fn retry_after_of_refusal(t: &TestApp, login: &str, allowed: usize) -> i64 {
    for attempt in 0..allowed {
        let reply = t.login(login, "wrong password entirely").await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "attempt {attempt}");
    }
    let refused = t.login(login, "wrong password entirely").await;
    assert_eq!(refused.code(), Some("RATE_LIMITED"));
    refused.error()["extensions"]["retryAfter"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_exhaustion_of_an_accounts_budget_doubles_the_wait_until_a_correct_password() {
    let t = TestApp::with_redis(|config| config.rate_login_per_account = 3).await;
    let ada = t.register("ada", "ada@example.com").await;
    let ada_id = ada.assert_ok()["register"]["user"]["id"].as_str().unwrap();
    let block = redis_key(&t, "login_account", &format!("user:{ada_id}"), "block");
    assert_eq!(retry_after_of_refusal(&t, "ada", 3).await, 60);
    // While shut out, even the right password is refused, and refusals do not lengthen it.
    let blocked = t.login("ada", crate::common::PASSWORD).await;
    assert_eq!(blocked.code(), Some("RATE_LIMITED"));
    assert!(
        blocked.error()["extensions"]["retryAfter"]
            .as_i64()
            .unwrap()
            <= 60
    );
    // Let the wait pass (rather than sleep a minute): the next exhaustion waits twice as long.
    assert_eq!(redis_command(&["DEL", &block]).await, 1);
    assert_eq!(retry_after_of_refusal(&t, "ada", 3).await, 120);
    redis_command(&["DEL", &block]).await;
    assert_eq!(retry_after_of_refusal(&t, "ada", 3).await, 240);
    // The owner signing in clears the record: the next exhaustion is a first offence again.
    redis_command(&["DEL", &block]).await;
    t.login("ada", crate::common::PASSWORD).await.assert_ok();
    assert_eq!(retry_after_of_refusal(&t, "ada", 2).await, 60);
    // Redis holds hashes, never the name typed.
    let client = redis::Client::open(crate::common::redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", t.app.config.redis_prefix))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|key| key.split(':').all(|part| part != "ada")),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_sharing_redis_share_their_limits() {
    let prefix = format!("shared-{}", free_port());
    let shared = |config: &mut Config| {
        config.rate_login_per_account = 3;
        config.redis_prefix = prefix.clone();
    };
    let a = TestApp::with_redis(shared).await;
    let b = TestApp::with_redis(shared).await;
    for _ in 0..3 {
        assert_eq!(
            a.login("ghost", "wrong password entirely").await.code(),
            Some("UNAUTHENTICATED")
        );
    }
    assert_eq!(
        b.login("ghost", "wrong password entirely").await.code(),
        Some("RATE_LIMITED"),
        "attempts counted on A apply on B"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_limits_fall_back_to_the_instance_and_readiness_says_degraded() {
    let mut redis = crate::common::OwnRedis::start().await;
    let t = TestApp::with_config(|config| {
        config.redis_url = Some(redis.url());
        config.rate_login_per_account = 3;
    })
    .await;
    let ready = t.get("/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["rateLimits"], "redis");
    for _ in 0..2 {
        t.login("ghost", "wrong password entirely").await;
    }

    redis.stop().await;
    // The instance never fails open: its own buckets count now, with the same budget.
    assert_eq!(retry_after_of_refusal(&t, "ghost", 3).await, 60);
    let degraded = t.get("/readyz", &[]).await;
    assert_eq!(degraded.status, StatusCode::OK, "still serving");
    assert_eq!(degraded.body["status"], "degraded");
    assert_eq!(degraded.body["redis"], "unreachable");
    assert_eq!(degraded.body["rateLimits"], "degraded");
    t.gql("{ __typename }", json!({})).await.assert_ok();

    redis.restart().await;
    crate::common::eventually(
        std::time::Duration::from_secs(5),
        "limits to go back to Redis when it answers again",
        async || {
            t.login("casper", "wrong password entirely").await;
            (t.get("/readyz", &[]).await.body["rateLimits"] == "redis").then_some(())
        },
    )
    .await;
    assert_eq!(t.get("/readyz", &[]).await.body["status"], "ready");
}
