//! Request budgets per role and per API token: each ceiling enforced for a role's holders and for
//! a token (the tighter of the two), everyone else on the server's limits, statement timeouts
//! that leave nothing half-written, two instances, and bad input refused.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::{Value, json};

use crate::common::{Instances, PASSWORD, Reply, TestApp, Tokens, sql_at};
use crate::instances::sign_in;
use crate::market::list_item;

const SET: &str = "mutation($v: SetRequestBudgetInput!) { setRequestBudget(input: $v) { requestBudget { requestsPerMinute maxComplexity maxDepth statementTimeoutMs } } }";
const LIMITS: &str =
    "{ myRequestLimits { requestsPerMinute maxComplexity maxDepth statementTimeoutMs } }";
/// A purchase whose answer needs no DataLoader (the pool of the timeout test has one connection).
const PURCHASE: &str = "mutation($v: PurchaseItemInput!) { purchaseItem(input: $v) { budget } }";
/// Three fields deep.
const DEEP: &str = "{ me { roles { name } } }";
/// Two deep, and cheap: `me` reads no database.
const SHALLOW: &str = "{ me { id } }";
/// One root field that reads the database: it costs over 100.
const COSTLY: &str = "{ myItems(first: 1) { totalCount } }";

async fn role_id(t: &TestApp, name: &str) -> String {
    t.id_of(&format!("SELECT id FROM roles WHERE name = '{name}'"))
        .await
}

async fn set(t: &TestApp, admin: &Tokens, input: Value) -> Reply {
    t.gql_as(&admin.access, SET, json!({ "v": input })).await
}

fn limits(reply: &Reply) -> Value {
    reply.assert_ok()["myRequestLimits"].clone()
}

fn refusal(reply: &Reply) -> (Option<String>, String) {
    (
        reply.code().map(str::to_owned),
        reply.error()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roles_budget_limits_its_holders_and_roles_combine_generously() {
    let t = TestApp::new().await;
    let ada = t.admin("ada").await;
    let grace = t.user("grace").await;
    let user_role = role_id(&t, "user").await;
    set(
        &t,
        &ada,
        json!({ "roleId": user_role, "maxDepth": 2, "maxComplexity": 50 }),
    )
    .await
    .assert_ok();

    // The same documents from ada first: their validation outcomes are kept, and must not
    // carry grace past her own ceilings.
    for query in [DEEP, COSTLY, SHALLOW] {
        t.gql_as(&ada.access, query, json!({})).await.assert_ok();
    }
    let (code, message) = refusal(&t.gql_as(&grace.access, DEEP, json!({})).await);
    assert_eq!(code.as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(message.contains("at most 2"), "{message}");
    let (code, message) = refusal(&t.gql_as(&grace.access, COSTLY, json!({})).await);
    assert_eq!(code.as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(message.contains("at most 50"), "{message}");
    t.gql_as(&grace.access, SHALLOW, json!({}))
        .await
        .assert_ok();
    assert_eq!(
        limits(&t.gql_as(&grace.access, LIMITS, json!({})).await),
        json!({ "requestsPerMinute": null, "maxComplexity": 50, "maxDepth": 2, "statementTimeoutMs": 30000 })
    );
    // ada holds only `admin`, which has no budget: the server's limits.
    assert_eq!(
        limits(&t.gql_as(&ada.access, LIMITS, json!({})).await),
        json!({ "requestsPerMinute": null, "maxComplexity": 5000, "maxDepth": 12, "statementTimeoutMs": 30000 })
    );

    // A second role: per limit the more generous, and a limit it leaves unset is the server's.
    let analyst = t
        .gql_as(
            &ada.access,
            "mutation { createRole(input: { name: \"analyst\" }) { role { id } } }",
            json!({}),
        )
        .await;
    let analyst = analyst.assert_ok()["createRole"]["role"]["id"].clone();
    set(&t, &ada, json!({ "roleId": analyst, "maxDepth": 4 }))
        .await
        .assert_ok();
    t.gql_as(
        &ada.access,
        "mutation($u: ID!, $r: ID!) { assignRole(input: { userId: $u, roleId: $r }) { changed } }",
        json!({ "u": grace.user_id, "r": analyst }),
    )
    .await
    .assert_ok();
    assert_eq!(
        limits(&t.gql_as(&grace.access, LIMITS, json!({})).await),
        json!({ "requestsPerMinute": null, "maxComplexity": 5000, "maxDepth": 4, "statementTimeoutMs": 30000 })
    );
    t.gql_as(&grace.access, DEEP, json!({})).await.assert_ok();
    t.gql_as(&grace.access, COSTLY, json!({})).await.assert_ok();

    // Shown on the role, and audited.
    let roles = t
        .gql_as(
            &ada.access,
            "{ roles { name requestBudget { maxDepth maxComplexity } } }",
            json!({}),
        )
        .await;
    let roles = roles.assert_ok()["roles"].as_array().unwrap().clone();
    let budget_of = |name: &str| {
        roles.iter().find(|role| role["name"] == name).unwrap()["requestBudget"].clone()
    };
    assert_eq!(
        budget_of("user"),
        json!({ "maxDepth": 2, "maxComplexity": 50 })
    );
    assert_eq!(
        budget_of("analyst"),
        json!({ "maxDepth": 4, "maxComplexity": null })
    );
    assert_eq!(budget_of("admin"), Value::Null);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'request_budget.set'")
            .await,
        2
    );

    // All limits null removes the budget.
    set(&t, &ada, json!({ "roleId": user_role }))
        .await
        .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM request_budgets").await,
        1,
        "only analyst's is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_runs_under_the_tighter_of_its_budget_and_its_owners() {
    let t = TestApp::new().await;
    let ada = t.admin("ada").await;
    let grace = t.user("grace").await;
    set(
        &t,
        &ada,
        json!({ "roleId": role_id(&t, "user").await, "maxDepth": 5, "maxComplexity": 300, "requestsPerMinute": 5 }),
    )
    .await
    .assert_ok();
    let created = crate::api_tokens::create(
        &t,
        &grace.access,
        &["profile:read", "market:trade"],
        None,
        PASSWORD,
    )
    .await;
    let created = created.assert_ok()["createApiToken"].clone();
    let token = created["token"].as_str().unwrap().to_owned();
    let token_id = created["apiToken"]["id"].clone();
    set(
        &t,
        &ada,
        json!({ "apiTokenId": token_id, "maxDepth": 2, "maxComplexity": 5000, "requestsPerMinute": 3 }),
    )
    .await
    .assert_ok();

    // Depth from the token, complexity and nothing looser from the owner.
    assert_eq!(
        limits(&t.gql_as(&token, LIMITS, json!({})).await),
        json!({ "requestsPerMinute": 3, "maxComplexity": 300, "maxDepth": 2, "statementTimeoutMs": 30000 })
    );
    assert_eq!(
        t.gql_as(&token, DEEP, json!({})).await.code(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    // The session is held to the role's depth only.
    t.gql_as(&grace.access, DEEP, json!({})).await.assert_ok();

    // The owner sees the token's own budget.
    let listed = t
        .gql_as(
            &grace.access,
            "{ apiTokens(first: 5) { edges { node { id requestBudget { maxDepth requestsPerMinute } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed.assert_ok()["apiTokens"]["edges"][0]["node"]["requestBudget"],
        json!({ "maxDepth": 2, "requestsPerMinute": 3 })
    );

    // Requests per minute: the token's own count (3; the first above was its first request,
    // the refused one its second), apart from the session's (5; three used so far).
    t.gql_as(&token, SHALLOW, json!({})).await.assert_ok();
    let refused = t.gql_as(&token, SHALLOW, json!({})).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.code(), Some("RATE_LIMITED"));
    let wait = refused.error()["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        refused.headers["retry-after"].to_str().unwrap(),
        wait.to_string()
    );
    for _ in 0..2 {
        t.gql_as(&grace.access, SHALLOW, json!({}))
            .await
            .assert_ok();
    }
    assert_eq!(
        t.gql_as(&grace.access, SHALLOW, json!({})).await.code(),
        Some("RATE_LIMITED")
    );
    // Others are not counted at all.
    for _ in 0..10 {
        t.gql_as(&ada.access, SHALLOW, json!({})).await.assert_ok();
    }
}

/// Holds a lock on one item's row from a connection of the test's own, as a slow transaction
/// elsewhere would.
async fn lock_item(t: &TestApp, item: &str) -> AsyncPgConnection {
    let mut conn = AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    conn.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM items WHERE id = {item} FOR UPDATE"
    ))
    .await
    .unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_its_statement_timeout_is_undone_and_others_keep_the_default() {
    // One connection, so the one grace's budget set is the one everyone else uses next.
    let t = TestApp::with_config(|config| config.db_pool_size = 1).await;
    let ada = t.admin("ada").await;
    let grace = t.user("grace").await;
    set(
        &t,
        &ada,
        json!({ "roleId": role_id(&t, "user").await, "statementTimeoutMs": 150 }),
    )
    .await
    .assert_ok();
    let lamp = list_item(&t, &ada, "Desk lamp", 120).await;
    let purchase = json!({ "v": { "itemId": lamp } });

    let mut lock = lock_item(&t, &lamp).await;
    let started = std::time::Instant::now();
    let timed_out = t.gql_as(&grace.access, PURCHASE, purchase.clone()).await;
    assert_eq!(
        timed_out.code(),
        Some("SERVICE_UNAVAILABLE"),
        "{:#}",
        timed_out.body
    );
    assert_eq!(timed_out.error()["extensions"]["reason"], "TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing of it stayed: the budget, the item, the ledger, the audit log.
    let budget = |id: &str| format!("SELECT budget FROM users WHERE id = {id}");
    assert_eq!(t.count(&budget(&grace.user_id)).await, 1000);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM items WHERE id = {lamp} AND owner_id IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(t.count("SELECT count(*) FROM market_transactions").await, 0);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'market.purchase'")
            .await,
        0
    );

    // ada has the server's timeout on the same (only) connection: she waits for the lock, which
    // is let go after longer than grace's budget, and buys.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        lock.batch_execute("ROLLBACK").await.unwrap();
        lock
    });
    let started = std::time::Instant::now();
    let bought = t.gql_as(&ada.access, PURCHASE, purchase.clone()).await;
    assert_eq!(bought.assert_ok()["purchaseItem"]["budget"], 880);
    assert!(started.elapsed() >= Duration::from_millis(500));
    release.await.unwrap();

    // Without a lock, grace's purchases go through within her budget.
    let vase = list_item(&t, &ada, "Vase", 30).await;
    let bought = t
        .gql_as(&grace.access, PURCHASE, json!({ "v": { "itemId": vase } }))
        .await;
    assert_eq!(bought.assert_ok()["purchaseItem"]["budget"], 970);
    assert_eq!(t.count("SELECT count(*) FROM market_transactions").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_budgets_are_refused_and_change_nothing() {
    let t = TestApp::new().await;
    let ada = t.admin("ada").await;
    let grace = t.user("grace").await;
    let user_role = role_id(&t, "user").await;
    let cases = [
        (json!({ "roleId": user_role, "maxDepth": 13 }), "maxDepth"),
        (json!({ "roleId": user_role, "maxDepth": 0 }), "maxDepth"),
        (
            json!({ "roleId": user_role, "maxComplexity": 5001 }),
            "maxComplexity",
        ),
        (
            json!({ "roleId": user_role, "requestsPerMinute": -1 }),
            "requestsPerMinute",
        ),
        (
            json!({ "roleId": user_role, "requestsPerMinute": 60001 }),
            "requestsPerMinute",
        ),
        (
            json!({ "roleId": user_role, "statementTimeoutMs": 9 }),
            "statementTimeoutMs",
        ),
        (
            json!({ "roleId": user_role, "statementTimeoutMs": 30001 }),
            "statementTimeoutMs",
        ),
        (json!({ "maxDepth": 3 }), "roleId"),
        (
            json!({ "roleId": user_role, "apiTokenId": "1", "maxDepth": 3 }),
            "roleId",
        ),
        (json!({ "roleId": "x", "maxDepth": 3 }), "roleId"),
    ];
    for (input, field) in cases {
        let reply = set(&t, &ada, input.clone()).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{input}");
        assert_eq!(reply.error()["extensions"]["field"], field, "{input}");
    }
    let missing = set(&t, &ada, json!({ "roleId": "999999", "maxDepth": 3 })).await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    let missing = set(&t, &ada, json!({ "apiTokenId": "999999", "maxDepth": 3 })).await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    let forbidden = set(&t, &grace, json!({ "roleId": user_role, "maxDepth": 12 })).await;
    assert_eq!(forbidden.code(), Some("FORBIDDEN"));
    assert_eq!(t.count("SELECT count(*) FROM request_budgets").await, 0);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'request_budget.set'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_enforce_a_budget_set_on_either_and_share_the_count() {
    let Instances {
        a, b, database_url, ..
    } = &Instances::start(&[], true).await;
    a.register("ada").await;
    a.register("grace").await;
    sql_at(
        database_url,
        "INSERT INTO user_roles (user_id, role_id, created_at)
         SELECT u.id, r.id, now() FROM users u, roles r WHERE u.username = 'ada' AND r.name = 'admin'",
    )
    .await;
    let (ada, _) = sign_in(a, "ada").await;
    let (grace, _) = sign_in(b, "grace").await;
    // B has grace's permissions (and her roles' budget: none) in memory.
    b.gql(Some(&grace), DEEP, json!({})).await.assert_ok();

    let user_role = a.gql(Some(&ada), "{ roles { id name } }", json!({})).await;
    let user_role = user_role.assert_ok()["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "user")
        .unwrap()["id"]
        .clone();
    a.gql(
        Some(&ada),
        SET,
        json!({ "v": { "roleId": user_role, "maxDepth": 2, "requestsPerMinute": 4 } }),
    )
    .await
    .assert_ok();

    // Set on A, enforced on B at once.
    assert_eq!(
        b.gql(Some(&grace), DEEP, json!({})).await.code(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    // That was grace's first request under the budget; three more, on either instance.
    a.gql(Some(&grace), SHALLOW, json!({})).await.assert_ok();
    b.gql(Some(&grace), SHALLOW, json!({})).await.assert_ok();
    a.gql(Some(&grace), SHALLOW, json!({})).await.assert_ok();
    for server in [&a, &b] {
        let refused = server.gql(Some(&grace), SHALLOW, json!({})).await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.code(), Some("RATE_LIMITED"));
    }
    a.gql(Some(&ada), SHALLOW, json!({})).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_change_of_statement_timeout_costs_a_statement() {
    // One connection, so every checkout finds what the request before left.
    let t = TestApp::with_config(|config| config.db_pool_size = 1).await;
    let ada = t.admin("ada").await;
    let grace = t.user("grace").await;
    set(
        &t,
        &ada,
        json!({ "roleId": role_id(&t, "user").await, "statementTimeoutMs": 5000 }),
    )
    .await
    .assert_ok();
    let sent = async |tokens: &Tokens| {
        let before = agora::metrics::statements_sent();
        t.gql_as(&tokens.access, COSTLY, json!({}))
            .await
            .assert_ok();
        agora::metrics::statements_sent() - before
    };
    // Both users' permission sets read again after the change, the connection left at the
    // default by ada.
    sent(&grace).await;
    sent(&ada).await;
    let ada_alone = sent(&ada).await;
    assert_eq!(sent(&ada).await, ada_alone, "the default costs no SET");
    let grace_first = sent(&grace).await;
    // Her authentication finds the connection at the default; her resolver sets it to hers.
    // Next time her authentication sets it back first, and her resolver to hers again.
    assert_eq!(sent(&grace).await, grace_first + 1);
    assert_eq!(
        sent(&ada).await,
        ada_alone + 1,
        "one SET back to the default"
    );
    assert_eq!(sent(&ada).await, ada_alone);
}
