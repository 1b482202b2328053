//! Account deletion (`deleteAccount`, `deleteUser`) and the data export (`exportMyData`).

use serde_json::{Value, json};

use crate::common::{PASSWORD, Reply, TestApp, Tokens};
use crate::market::{PURCHASE, list_item, money};

const DELETE_ACCOUNT: &str = "mutation($v: DeleteAccountInput!) { deleteAccount(input: $v) { deletedUserId sessionsEnded apiTokensEnded itemsReturned } }";
const DELETE_USER: &str =
    "mutation($v: DeleteUserInput!) { deleteUser(input: $v) { deletedUserId itemsReturned } }";
const EXPORT: &str = "{ exportMyData }";
const ME: &str = "{ me { username } }";

async fn delete_account(t: &TestApp, access: &str, factor: Value) -> Reply {
    let mut input = json!({"password": PASSWORD});
    input
        .as_object_mut()
        .unwrap()
        .extend(factor.as_object().unwrap().clone());
    t.gql_as(access, DELETE_ACCOUNT, json!({"v": input})).await
}

async fn delete_user(t: &TestApp, access: &str, id: &str) -> Reply {
    t.gql_as(access, DELETE_USER, json!({"v": {"id": id}}))
        .await
}

fn reason(reply: &Reply) -> Option<&str> {
    reply.error()["extensions"]["reason"].as_str()
}

async fn buy(t: &TestApp, who: &Tokens, item: &str) {
    t.gql_as(&who.access, PURCHASE, json!({"v": {"itemId": item}}))
        .await
        .assert_ok();
}

/// A new API token of `who` with `scopes`.
async fn api_token(t: &TestApp, who: &Tokens, scopes: &[&str]) -> String {
    let reply = crate::api_tokens::create(t, &who.access, scopes, None, PASSWORD).await;
    reply.assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Gives `who` a theme, a task, and a habit completed today.
async fn plan_things(t: &TestApp, who: &Tokens) {
    let mutations = [
        (
            "mutation($v: CreateThemeInput!) { createTheme(input: $v) { theme { id } } }",
            json!({"name": "Health"}),
        ),
        (
            "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id } } }",
            json!({"title": "Write the will"}),
        ),
    ];
    for (mutation, input) in mutations {
        t.gql_as(&who.access, mutation, json!({"v": input}))
            .await
            .assert_ok();
    }
    let habit = t
        .gql_as(
            &who.access,
            "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id } } }",
            json!({"v": {"name": "Walk", "schedule": {"daily": true}}}),
        )
        .await;
    let id = habit.assert_ok()["createHabit"]["habit"]["id"].clone();
    t.gql_as(
        &who.access,
        "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { changed } }",
        json!({"v": {"habitId": id, "note": "brisk"}}),
    )
    .await
    .assert_ok();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    t.gql_as(
        &who.access,
        "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { changed } }",
        json!({"v": {"habitId": id, "date": tomorrow.to_string(), "note": "trip"}}),
    )
    .await
    .assert_ok();
    let measure = json!({"unit": "glasses", "target": 8, "direction": "AT_LEAST"});
    let water = t
        .gql_as(
            &who.access,
            "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id } } }",
            json!({"v": {"name": "Water", "schedule": {"daily": true}, "measure": measure}}),
        )
        .await;
    let id = water.assert_ok()["createHabit"]["habit"]["id"].clone();
    t.gql_as(
        &who.access,
        "mutation($v: RecordHabitValueInput!) { recordHabitValue(input: $v) { changed } }",
        json!({"v": {"habitId": id, "value": 5.5}}),
    )
    .await
    .assert_ok();
}

/// Rows of `user_id` left in the tables that hold an account's own things and credentials.
async fn rows_left(t: &TestApp, user_id: &str) -> i64 {
    let mut left = 0;
    for table in [
        "sessions",
        "api_tokens",
        "two_factor",
        "recovery_codes",
        "mfa_challenges",
        "account_tokens",
        "user_roles",
        "habits",
        "tasks",
        "themes",
    ] {
        left += t
            .count(&format!(
                "SELECT count(*) FROM {table} WHERE user_id = {user_id}"
            ))
            .await;
    }
    left + t
        .count(&format!(
            "SELECT count(*) FROM items WHERE owner_id = {user_id}"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_ones_account_erases_it_and_keeps_the_books() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let (ada, phone) = t.two_sessions("ada").await;
    let bob = t.user("bob").await;
    let lamp = list_item(&t, &root, "Desk lamp", 30).await;
    let chair = list_item(&t, &root, "Chair", 45).await;
    buy(&t, &ada, &lamp).await;
    buy(&t, &ada, &chair).await;
    plan_things(&t, &ada).await;
    let token = api_token(&t, &ada, &["profile:read"]).await;
    let before = money(&t).await;
    let id = ada.user_id.clone();

    let wrong = t
        .gql_as(
            &ada.access,
            DELETE_ACCOUNT,
            json!({"v": {"password": "not the password"}}),
        )
        .await;
    assert_eq!(wrong.code(), Some("BAD_USER_INPUT"));
    assert_eq!(wrong.error()["extensions"]["field"], "password");
    assert_eq!(
        t.text(&format!("SELECT username AS t FROM users WHERE id = {id}"))
            .await,
        "ada"
    );
    assert!(rows_left(&t, &id).await > 0);
    assert!(
        t.me_refused(&phone.access).await.is_none(),
        "nothing changed"
    );

    let reply = delete_account(&t, &ada.access, json!({})).await;
    let deleted = &reply.assert_ok()["deleteAccount"];
    assert_eq!(
        deleted,
        &json!({"deletedUserId": id, "sessionsEnded": 2, "apiTokensEnded": 1, "itemsReturned": 2})
    );

    // Every way in is closed at once.
    for access in [&ada.access, &phone.access, &token] {
        assert_eq!(
            t.gql_as(access, ME, json!({})).await.code(),
            Some("UNAUTHENTICATED")
        );
    }
    let refresh = t
        .gql(
            "mutation($v: RefreshSessionInput) { refreshSession(input: $v) { accessToken } }",
            json!({"v": {"refreshToken": ada.refresh}}),
        )
        .await;
    assert_eq!(refresh.code(), Some("UNAUTHENTICATED"));
    for login in ["ada", "ada@example.com", &format!("deleted:{id}")] {
        assert_eq!(
            t.login(login, PASSWORD).await.code(),
            Some("UNAUTHENTICATED")
        );
    }

    // Personal data is gone; the row stays as a tombstone with its budget.
    assert_eq!(rows_left(&t, &id).await, 0);
    assert_eq!(
        t.text(&format!(
            "SELECT concat_ws('|', username, email, password_hash, first_name, is_active, deleted_at IS NOT NULL) AS t FROM users WHERE id = {id}"
        ))
        .await,
        format!("deleted:{id}|deleted-{id}@invalid|||f|t")
    );
    let shown = t
        .gql_as(
            &root.access,
            "query($id: ID!) { user(id: $id) { username isActive deletedAt budget } }",
            json!({"id": id}),
        )
        .await;
    let shown = &shown.assert_ok()["user"];
    assert_eq!(shown["username"], format!("deleted:{id}"));
    assert_eq!(shown["isActive"], false);
    assert!(shown["deletedAt"].is_string());
    assert_eq!(shown["budget"], 1000, "sold back at the price paid");

    // Money is conserved: the held items were sold back to the market, in the ledger.
    assert_eq!(money(&t).await, before);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM market_transactions WHERE seller_id = {id} AND kind = 'SALE'"
        ))
        .await,
        2
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM market_transactions WHERE buyer_id = {id}"
        ))
        .await,
        2,
        "the purchases stay, naming the tombstone"
    );

    // The items are on the market again, and the ledger reads well for whoever trades next.
    buy(&t, &bob, &lamp).await;
    let ledger = t
        .gql_as(
            &bob.access,
            "{ myTransactions { edges { node { kind amount item { name onMarket } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ledger.assert_ok()["myTransactions"]["edges"][0]["node"],
        json!({"kind": "PURCHASE", "amount": 30, "item": {"name": "Desk lamp", "onMarket": false}})
    );

    // The audit log keeps what the account did, and records the deletion.
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM audit_log WHERE actor_id = {id} AND action IN ('market.purchase', 'api_token.create', 'auth.login')"
        ))
        .await,
        5
    );
    let event = t
        .text(
            "SELECT concat_ws('|', actor_id, target_type, target_id, metadata->>'itemsReturned', metadata->>'habitsDeleted') AS t FROM audit_log WHERE action = 'account.delete'",
        )
        .await;
    assert_eq!(event, format!("{id}|user|{id}|2|2"));

    // The notice is queued for the old address, and is all that is left to send there.
    assert_eq!(
        t.count(
            "SELECT count(*) FROM email_outbox WHERE recipient = 'ada@example.com' AND sent_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        t.text("SELECT kind AS t FROM email_outbox WHERE recipient = 'ada@example.com' AND sent_at IS NULL")
            .await,
        "account_deleted"
    );
    agora::mail::sender::send_due(&t.app).await.unwrap();
    assert_eq!(
        t.count(
            "SELECT count(*) FROM email_outbox WHERE kind = 'account_deleted' AND sent_at IS NOT NULL"
        )
        .await,
        1,
        "delivered although the account's address is erased"
    );

    // The username and the address are free again, for a new account.
    let again = t.register("ada", "ada@example.com").await;
    assert_ne!(again.assert_ok()["register"]["user"]["id"], json!(id));
    t.sign_in("ada").await;
    // A deleted account cannot be deleted again.
    assert_eq!(
        delete_user(&t, &root.access, &id).await.code(),
        Some("NOT_FOUND")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_two_factor_on_a_code_is_needed() {
    let t = TestApp::new().await;
    let _root = t.admin("root").await;
    let ada = t.user("ada").await;
    let (totp, _) = crate::mfa::enable(&t, &ada).await;
    let now = crate::mfa::T0 + 30;
    crate::mfa::at(&t, now);
    let refused = delete_account(&t, &ada.access, json!({})).await;
    assert_eq!(refused.code(), Some("BAD_USER_INPUT"));
    assert_eq!(refused.error()["extensions"]["field"], "code");
    assert!(t.me_refused(&ada.access).await.is_none());
    let code = crate::mfa::code(&totp, now);
    delete_account(&t, &ada.access, json!({"code": code}))
        .await
        .assert_ok();
    assert_eq!(rows_left(&t, &ada.user_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_can_neither_delete_nor_export() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let token = api_token(&t, &ada, &["profile:read", "profile:update"]).await;
    assert_eq!(
        delete_account(&t, &token, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        t.gql_as(&token, EXPORT, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    assert!(t.me_refused(&ada.access).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_delete_accounts_but_never_the_last_administrator() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;

    let refused = delete_user(&t, &bob.access, &ada.user_id).await;
    assert_eq!(refused.code(), Some("FORBIDDEN"));
    assert_eq!(
        delete_user(&t, &root.access, "987654").await.code(),
        Some("NOT_FOUND")
    );

    let reply = delete_user(&t, &root.access, &ada.user_id).await;
    assert_eq!(
        reply.assert_ok()["deleteUser"]["deletedUserId"],
        json!(ada.user_id)
    );
    assert_eq!(
        t.gql_as(&ada.access, ME, json!({})).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        t.text(
            "SELECT concat_ws('|', actor_id, target_id) AS t FROM audit_log WHERE action = 'user.delete'"
        )
        .await,
        format!("{}|{}", root.user_id, ada.user_id)
    );
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE kind = 'account_deleted' AND recipient = 'ada@example.com'")
            .await,
        1
    );
    // A tombstone cannot be brought back, or renamed.
    let revive = t
        .gql_as(
            &root.access,
            "mutation($v: SetUserActiveInput!) { setUserActive(input: $v) { user { id } } }",
            json!({"v": {"userId": ada.user_id, "active": true}}),
        )
        .await;
    assert_eq!(revive.code(), Some("NOT_FOUND"));
    let rename = t
        .gql_as(
            &root.access,
            "mutation($v: UpdateUserInput!) { updateUser(input: $v) { user { id } } }",
            json!({"v": {"id": ada.user_id, "username": "ada2"}}),
        )
        .await;
    assert_eq!(rename.code(), Some("NOT_FOUND"));

    // The last holder of roles:manage stays, whoever asks.
    let own = delete_user(&t, &root.access, &root.user_id).await;
    assert_eq!(
        (own.code(), reason(&own)),
        (Some("CONFLICT"), Some("LAST_ADMIN"))
    );
    let own = delete_account(&t, &root.access, json!({})).await;
    assert_eq!(
        (own.code(), reason(&own)),
        (Some("CONFLICT"), Some("LAST_ADMIN"))
    );
    assert!(
        t.me_refused(&root.access).await.is_none(),
        "nothing changed"
    );

    // With another administrator, the first may go.
    let carol = t.admin("carol").await;
    delete_account(&t, &root.access, json!({}))
        .await
        .assert_ok();
    assert!(t.me_refused(&carol.access).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_holds_every_section_and_no_secret() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let lamp = list_item(&t, &root, "Desk lamp", 30).await;
    buy(&t, &ada, &lamp).await;
    plan_things(&t, &ada).await;
    let token = api_token(&t, &ada, &["profile:read"]).await;
    let (_totp, recovery_codes) = crate::mfa::enable(&t, &ada).await;

    let reply = t.gql_as(&ada.access, EXPORT, json!({})).await;
    let export = reply.assert_ok()["exportMyData"].clone();
    assert_eq!(export["format"], "agora-export/1");
    assert_eq!(export["profile"]["username"], "ada");
    assert_eq!(export["profile"]["email"], "ada@example.com");
    assert_eq!(export["profile"]["twoFactorEnabled"], true);
    assert_eq!(export["profile"]["dayStart"], "00:00");
    assert_eq!(export["roles"][0]["name"], "user");
    assert_eq!(export["sessions"]["total"], 1);
    assert_eq!(export["apiTokens"]["entries"][0]["name"], "ci script");
    assert_eq!(
        export["apiTokens"]["entries"][0]["permissions"],
        json!(["profile:read"])
    );
    assert_eq!(export["habits"][0]["name"], "Walk");
    // Done and skipped days apart, with their notes.
    let walk = &export["habits"][0];
    assert_eq!(walk["completions"]["total"], 1);
    assert_eq!(walk["skips"]["total"], 1);
    assert_eq!(walk["skips"]["dates"], json!([walk["notes"][0]["date"]]));
    assert_eq!(walk["notes"][0]["note"], "trip");
    assert_eq!(walk["notes"][1]["note"], "brisk");
    assert_eq!(walk["notes"][1]["skipped"], false);
    assert_eq!(walk["measure"], Value::Null);
    // A measurable habit's measure and values.
    let water = &export["habits"][1];
    assert_eq!(
        water["measure"],
        json!({"unit": "glasses", "target": 8.0, "direction": "AT_LEAST"})
    );
    assert_eq!(water["values"][0]["value"], 5.5);
    assert_eq!(water["completions"]["total"], 1);
    assert_eq!(export["tasks"][0]["title"], "Write the will");
    assert_eq!(export["themes"][0]["name"], "Health");
    assert_eq!(export["itemsHeld"]["entries"][0]["name"], "Desk lamp");
    assert_eq!(export["ledger"]["entries"][0]["kind"], "PURCHASE");
    let actions: Vec<&str> = export["auditLog"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    for action in [
        "user.register",
        "market.purchase",
        "api_token.create",
        "auth.mfa_enable",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    let text = export.to_string();
    let id = &ada.user_id;
    let mut secrets = vec![
        PASSWORD.to_owned(),
        token,
        ada.refresh.clone(),
        t.text(&format!(
            "SELECT password_hash AS t FROM users WHERE id = {id}"
        ))
        .await,
    ];
    for (table, column) in [
        ("api_tokens", "token_hash"),
        (
            "refresh_tokens JOIN sessions s ON s.id = session_id",
            "token_hash",
        ),
        ("two_factor", "secret"),
        ("recovery_codes", "code_hash"),
    ] {
        for encoding in ["hex", "base64"] {
            secrets.push(
                t.text(&format!(
                    "SELECT encode({column}, '{encoding}') AS t FROM {table} WHERE user_id = {id} LIMIT 1"
                ))
                .await,
            );
        }
    }
    secrets.extend(recovery_codes);
    for secret in secrets {
        assert!(!text.contains(&secret), "the export holds {secret:?}");
    }
}

/// A purchase and a deletion of the same account, at once, many times: whichever commits
/// first, no money appears or vanishes and the tombstone holds nothing. An administrator's
/// deletion (no password to hash) often wins the race; the user's own usually loses it.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_while_buying_conserves_money() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    for round in 0..12 {
        let buyer = t.user(&format!("buyer{round}")).await;
        let item = list_item(&t, &root, &format!("Vase {round}"), 100).await;
        let before = money(&t).await;
        let deletion = async {
            if round % 2 == 0 {
                delete_user(&t, &root.access, &buyer.user_id).await
            } else {
                delete_account(&t, &buyer.access, json!({})).await
            }
        };
        let (purchase, deletion) = tokio::join!(
            t.gql_as(&buyer.access, PURCHASE, json!({"v": {"itemId": item}})),
            deletion,
        );
        deletion.assert_ok();
        // A purchase that lost is refused however far it got: at sign-in (UNAUTHENTICATED),
        // at the permission check once the roles are gone (FORBIDDEN), or at the market.
        if let Some(code) = purchase.code() {
            assert!(
                matches!(code, "UNAUTHENTICATED" | "FORBIDDEN" | "CONFLICT"),
                "{:#}",
                purchase.body
            );
        }
        assert_eq!(money(&t).await, before, "round {round}");
        assert_eq!(rows_left(&t, &buyer.user_id).await, 0, "round {round}");
        assert_eq!(
            t.count(&format!(
                "SELECT count(*) FROM items WHERE id = {item} AND owner_id IS NULL"
            ))
            .await,
            1,
            "round {round}: the vase is on the market"
        );
    }
}

/// The other order, made certain: a purchase whose request was let in before the deletion
/// committed reaches the market after it, and finds a tombstone that trades nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_let_in_before_the_deletion_buys_nothing_after_it() {
    use diesel_async::AsyncConnection;
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let item = list_item(&t, &root, "Vase", 100).await;
    delete_user(&t, &root.access, &ada.user_id)
        .await
        .assert_ok();
    let before = money(&t).await;
    let mut conn = diesel_async::AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    let bought = agora::market::buy(
        &mut conn,
        &agora::request::RequestInfo::default(),
        ada.user_id.parse().unwrap(),
        item.parse().unwrap(),
        None,
        t.app.clock.now(),
    )
    .await;
    assert!(
        matches!(bought, Err(agora::error::AppError::Unauthenticated)),
        "{:?}",
        bought.map(|trade| trade.item)
    );
    assert_eq!(money(&t).await, before);
    assert_eq!(rows_left(&t, &ada.user_id).await, 0);
}

/// Waits until `n` advisory locks are waited for in this test's database.
async fn lock_waiters(t: &TestApp, n: i64) {
    let sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    crate::common::eventually(
        std::time::Duration::from_secs(10),
        &format!("{n} waiting for an advisory lock"),
        async || (t.count(sql).await == n).then_some(()),
    )
    .await;
}

/// A habit created while the account's deletion runs is deleted with it, or refused after it:
/// never left behind on the tombstone. Here the deletion comes first to the habits' lock (held
/// by the test until both wait), and the creation waits behind it.
#[tokio::test(flavor = "multi_thread")]
async fn a_creation_that_waited_for_a_deletion_is_refused() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let mut holder = diesel_async::AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    let hold = format!(
        "SELECT pg_advisory_xact_lock({}, hashint8({}))",
        agora::db::quota::HABITS_LOCK,
        ada.user_id
    );
    for statement in ["BEGIN", hold.as_str()] {
        diesel::sql_query(statement)
            .execute(&mut holder)
            .await
            .unwrap();
    }
    let deletion = delete_user(&t, &root.access, &ada.user_id);
    let creation = async {
        lock_waiters(&t, 1).await;
        t.gql_as(
            &ada.access,
            "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { id } } }",
            json!({"v": {"name": "Walk", "schedule": {"daily": true}}}),
        )
        .await
    };
    let release = async {
        lock_waiters(&t, 2).await;
        diesel::sql_query("COMMIT")
            .execute(&mut holder)
            .await
            .unwrap();
    };
    let (deleted, created, ()) = tokio::join!(deletion, creation, release);
    deleted.assert_ok();
    assert_eq!(
        created.code(),
        Some("UNAUTHENTICATED"),
        "{:#}",
        created.body
    );
    assert_eq!(rows_left(&t, &ada.user_id).await, 0);
}
