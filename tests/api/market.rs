use serde_json::{Value, json};

use crate::common::{self, Reply, TestApp, Tokens};

pub(crate) const PURCHASE: &str = "mutation($v: PurchaseItemInput!) { purchaseItem(input: $v) { budget item { id onMarket owner { id username } } } }";
const SELL: &str = "mutation($v: SellItemInput!) { sellItem(input: $v) { budget item { id onMarket owner { id } } } }";
const CREATE: &str = "mutation($v: CreateItemInput!) { createItem(input: $v) { item { id name price barcode onMarket } } }";

/// Puts an item on the market through the API and returns its id.
pub async fn list_item(t: &TestApp, admin: &Tokens, name: &str, price: i64) -> String {
    let barcode = format!(
        "{:012}",
        t.count("SELECT count(*) FROM items").await + 100_000_000_000
    );
    let reply = t
        .gql_as(
            &admin.access,
            CREATE,
            json!({"v": {"name": name, "price": price, "barcode": barcode}}),
        )
        .await;
    reply.assert_ok()["createItem"]["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn reason(reply: &Reply) -> Option<&str> {
    reply.error()["extensions"]["reason"].as_str()
}

/// The two money invariants: budgets plus the prices of held items never change through
/// trades (only top-ups add and refunds take away), and budgets move exactly as the ledger
/// says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Money {
    pub budgets_plus_holdings: i64,
    pub budgets_minus_ledger: i64,
}

pub(crate) async fn money(t: &TestApp) -> Money {
    let budgets = t.count("SELECT coalesce(sum(budget), 0) FROM users").await;
    let holdings = t
        .count("SELECT coalesce(sum(price), 0) FROM items WHERE owner_id IS NOT NULL")
        .await;
    let ledger = t
        .count("SELECT coalesce(sum(CASE WHEN kind IN ('SALE', 'TOP_UP') THEN amount ELSE -amount END), 0) FROM market_transactions")
        .await;
    Money {
        budgets_plus_holdings: budgets + holdings,
        budgets_minus_ledger: budgets - ledger,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_buyers_one_item_one_winner() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let item = list_item(&t, &admin, "Golden lamp", 300).await;
    let mut buyers = Vec::new();
    for i in 0..50 {
        buyers.push(t.user(&format!("buyer{i:02}")).await);
    }
    let before = money(&t).await;
    let attempts = buyers
        .iter()
        .map(|buyer| t.gql_as(&buyer.access, PURCHASE, json!({"v": {"itemId": item}})));
    let replies = futures::future::join_all(attempts).await;
    let winners: Vec<&Reply> = replies
        .iter()
        .filter(|reply| reply.code().is_none())
        .collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].data()["purchaseItem"]["budget"], 700);
    for reply in replies.iter().filter(|reply| reply.code().is_some()) {
        assert_eq!(
            (reply.code(), reason(reply)),
            (Some("CONFLICT"), Some("NOT_AVAILABLE")),
            "{:#}",
            reply.body
        );
    }
    assert_eq!(
        t.count("SELECT count(*) FROM items WHERE owner_id IS NOT NULL")
            .await,
        1
    );
    assert_eq!(t.count("SELECT count(*) FROM market_transactions").await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'market.purchase'")
            .await,
        1,
        "the winner's purchase only"
    );
    assert_eq!(money(&t).await, before);
}

/// The audit entries of `action`, as an administrator reads them, oldest first.
async fn audited(t: &TestApp, admin: &Tokens, action: &str) -> Vec<Value> {
    let reply = t
        .gql_as(
            &admin.access,
            "query($f: AuditLogFilter) { auditLog(first: 100, filter: $f) { edges { node { action actorId targetType targetId metadata ipAddress userAgent requestId } } } }",
            json!({"f": {"action": action}}),
        )
        .await;
    let mut entries: Vec<Value> = reply.assert_ok()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    entries.reverse();
    entries
}

#[tokio::test(flavor = "multi_thread")]
async fn purchases_and_sales_are_audited_with_actor_address_and_request_id() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let lamp = list_item(&t, &admin, "Desk lamp", 30).await;
    let yacht = list_item(&t, &admin, "Yacht", 5_000).await;
    let bought = t
        .gql_as(
            &ada.access,
            PURCHASE,
            json!({"v": {"itemId": lamp, "idempotencyKey": "lamp-1"}}),
        )
        .await;
    bought.assert_ok();
    // A replay charges nothing and records nothing.
    t.gql_as(
        &ada.access,
        PURCHASE,
        json!({"v": {"itemId": lamp, "idempotencyKey": "lamp-1"}}),
    )
    .await
    .assert_ok();
    let sold = t
        .gql_as(&ada.access, SELL, json!({"v": {"itemId": lamp}}))
        .await;
    sold.assert_ok();
    let refused = t
        .gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": yacht}}))
        .await;
    assert_eq!(reason(&refused), Some("INSUFFICIENT_FUNDS"));
    let not_held = t
        .gql_as(&ada.access, SELL, json!({"v": {"itemId": yacht}}))
        .await;
    assert_eq!(reason(&not_held), Some("NOT_OWNER"));

    let request_id = |reply: &Reply| reply.headers["x-request-id"].to_str().unwrap().to_owned();
    for (action, reply, budget_after) in [
        ("market.purchase", &bought, 970),
        ("market.sale", &sold, 1000),
    ] {
        let entries = audited(&t, &admin, action).await;
        assert_eq!(
            entries,
            [json!({
                "action": action,
                "actorId": ada.user_id,
                "targetType": "item",
                "targetId": lamp,
                "metadata": {"price": 30, "budgetAfter": budget_after},
                "ipAddress": "203.0.113.7",
                "userAgent": "agora-tests",
                "requestId": request_id(reply),
            })],
            "{action}: refused and replayed trades write none"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_of_100_buys_exactly_three_items_of_30() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let buyer = t.user("thrifty").await;
    t.sql(&format!(
        "UPDATE users SET budget = 100 WHERE id = {}",
        buyer.user_id
    ))
    .await;
    let mut items = Vec::new();
    for i in 0..10 {
        items.push(list_item(&t, &admin, &format!("Widget {i}"), 30).await);
    }
    let before = money(&t).await;
    let replies = futures::future::join_all(
        items
            .iter()
            .map(|item| t.gql_as(&buyer.access, PURCHASE, json!({"v": {"itemId": item}}))),
    )
    .await;
    assert_eq!(
        replies
            .iter()
            .filter(|reply| reply.code().is_none())
            .count(),
        3
    );
    for reply in replies.iter().filter(|reply| reply.code().is_some()) {
        assert_eq!(
            reason(reply),
            Some("INSUFFICIENT_FUNDS"),
            "{:#}",
            reply.body
        );
    }
    assert_eq!(
        t.count(&format!(
            "SELECT budget FROM users WHERE id = {}",
            buyer.user_id
        ))
        .await,
        10
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM items WHERE owner_id = {}",
            buyer.user_id
        ))
        .await,
        3
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'market.purchase'")
            .await,
        3
    );
    assert_eq!(money(&t).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_trades_and_bad_items_change_nothing() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let lamp = list_item(&t, &admin, "Lamp", 400).await;
    let pricey = list_item(&t, &admin, "Chair", 1000).await;
    t.gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": lamp}}))
        .await
        .assert_ok();
    let before = (
        money(&t).await,
        t.count("SELECT count(*) FROM market_transactions").await,
    );

    let own = t
        .gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": lamp}}))
        .await;
    assert_eq!(
        (own.code(), reason(&own)),
        (Some("CONFLICT"), Some("OWN_ITEM"))
    );
    let taken = t
        .gql_as(&bob.access, PURCHASE, json!({"v": {"itemId": lamp}}))
        .await;
    assert_eq!(reason(&taken), Some("NOT_AVAILABLE"));
    // Ada has 600 left: a price of budget + 1 is refused.
    t.sql(&format!("UPDATE items SET price = 601 WHERE id = {pricey}"))
        .await;
    let short = t
        .gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": pricey}}))
        .await;
    assert_eq!(reason(&short), Some("INSUFFICIENT_FUNDS"));
    let not_mine = t
        .gql_as(&bob.access, SELL, json!({"v": {"itemId": lamp}}))
        .await;
    assert_eq!(
        (not_mine.code(), reason(&not_mine)),
        (Some("CONFLICT"), Some("NOT_OWNER"))
    );
    let on_market = t
        .gql_as(&bob.access, SELL, json!({"v": {"itemId": pricey}}))
        .await;
    assert_eq!(reason(&on_market), Some("NOT_OWNER"));
    let missing = t
        .gql_as(&bob.access, PURCHASE, json!({"v": {"itemId": "999999"}}))
        .await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    let garbage = t
        .gql_as(&bob.access, PURCHASE, json!({"v": {"itemId": "lamp"}}))
        .await;
    assert_eq!(garbage.code(), Some("BAD_USER_INPUT"));
    assert_eq!(
        before,
        (
            money(&t).await,
            t.count("SELECT count(*) FROM market_transactions").await
        )
    );

    let items_before = t.count("SELECT count(*) FROM items").await;
    let bad_items = [
        (
            json!({"name": "Zero", "price": 0, "barcode": "123456789012"}),
            "price",
        ),
        (
            json!({"name": "Negative", "price": -1, "barcode": "123456789012"}),
            "price",
        ),
        (
            json!({"name": "Short code", "price": 5, "barcode": "12345678901"}),
            "barcode",
        ),
        (
            json!({"name": "Letters", "price": 5, "barcode": "12345678901a"}),
            "barcode",
        ),
        (
            json!({"name": "", "price": 5, "barcode": "123456789012"}),
            "name",
        ),
        (
            json!({"name": "lamp", "price": 5, "barcode": "123456789012"}),
            "name",
        ),
    ];
    for (input, field) in bad_items {
        let reply = t.gql_as(&admin.access, CREATE, json!({"v": input})).await;
        assert_eq!(
            reply.error()["extensions"]["field"],
            field,
            "{input}: {:#}",
            reply.body
        );
    }
    // 2^63 is not an Int the schema accepts: refused before any resolver runs.
    let huge = t
        .gql_as(&admin.access, CREATE, json!({"v": {"name": "Huge", "price": 9_223_372_036_854_775_808u64, "barcode": "123456789012"}}))
        .await;
    assert_eq!(
        huge.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        huge.body
    );
    assert_eq!(t.count("SELECT count(*) FROM items").await, items_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_racing_a_purchase_ends_consistently() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let seller = t.user("seller").await;
    let buyer = t.user("buyer").await;
    let item = list_item(&t, &admin, "Clock", 50).await;
    let before = money(&t).await;
    for _ in 0..15 {
        if t.count(&format!(
            "SELECT count(*) FROM items WHERE id = {item} AND owner_id = {}",
            seller.user_id
        ))
        .await
            == 0
        {
            // Put the item back with the seller through trades, never by editing budgets.
            if t.count(&format!(
                "SELECT count(*) FROM items WHERE id = {item} AND owner_id = {}",
                buyer.user_id
            ))
            .await
                == 1
            {
                t.gql_as(&buyer.access, SELL, json!({"v": {"itemId": item}}))
                    .await
                    .assert_ok();
            }
            t.gql_as(&seller.access, PURCHASE, json!({"v": {"itemId": item}}))
                .await
                .assert_ok();
        }
        let (sale, purchase) = tokio::join!(
            t.gql_as(&seller.access, SELL, json!({"v": {"itemId": item}})),
            t.gql_as(&buyer.access, PURCHASE, json!({"v": {"itemId": item}})),
        );
        sale.assert_ok();
        let owner = t
            .text(&format!(
                "SELECT coalesce(owner_id::text, 'market') AS t FROM items WHERE id = {item}"
            ))
            .await;
        match purchase.code() {
            None => assert_eq!(owner, buyer.user_id),
            Some(_) => {
                assert_eq!(
                    reason(&purchase),
                    Some("NOT_AVAILABLE"),
                    "{:#}",
                    purchase.body
                );
                assert_eq!(owner, "market");
            }
        }
        assert_eq!(money(&t).await, before);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_idempotency_keys_charge_once() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let lamp = list_item(&t, &admin, "Lamp", 250).await;
    let desk = list_item(&t, &admin, "Desk", 100).await;
    let variables = json!({"v": {"itemId": lamp, "idempotencyKey": "order-0001"}});
    let replies = futures::future::join_all(
        (0..6).map(|_| t.gql_as(&ada.access, PURCHASE, variables.clone())),
    )
    .await;
    for reply in &replies {
        assert_eq!(
            reply.assert_ok()["purchaseItem"]["budget"],
            750,
            "{:#}",
            reply.body
        );
    }
    assert_eq!(t.count("SELECT count(*) FROM market_transactions").await, 1);
    assert_eq!(
        t.count(&format!(
            "SELECT budget FROM users WHERE id = {}",
            ada.user_id
        ))
        .await,
        750
    );
    let reused = t
        .gql_as(
            &ada.access,
            PURCHASE,
            json!({"v": {"itemId": desk, "idempotencyKey": "order-0001"}}),
        )
        .await;
    assert_eq!(reason(&reused), Some("IDEMPOTENCY_KEY_REUSED"));
    let bad_key = t
        .gql_as(
            &ada.access,
            PURCHASE,
            json!({"v": {"itemId": desk, "idempotencyKey": "has space"}}),
        )
        .await;
    assert_eq!(bad_key.error()["extensions"]["field"], "idempotencyKey");

    let sold = t
        .gql_as(&ada.access, SELL, json!({"v": {"itemId": lamp}}))
        .await;
    assert_eq!(sold.assert_ok()["sellItem"]["budget"], 1000);
    assert_eq!(sold.data()["sellItem"]["item"]["onMarket"], true);
    let ledger = t.gql_as(&ada.access, "{ myTransactions { totalCount edges { node { kind amount balanceAfter item { name } } } } }", json!({})).await;
    assert_eq!(
        ledger.assert_ok()["myTransactions"]["edges"],
        json!([
            {"node": {"kind": "SALE", "amount": 250, "balanceAfter": 1000, "item": {"name": "Lamp"}}},
            {"node": {"kind": "PURCHASE", "amount": 250, "balanceAfter": 750, "item": {"name": "Lamp"}}},
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn browsing_filters_and_who_sees_what() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let cheap = list_item(&t, &admin, "100% cotton_shirt", 20).await;
    let mid = list_item(&t, &admin, "Cotton hat", 60).await;
    list_item(&t, &admin, "Steel pan", 200).await;
    t.gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": mid}}))
        .await
        .assert_ok();

    let browse = "query($f: MarketFilter) { marketItems(first: 10, filter: $f) { totalCount edges { node { name price owner { id } } } } }";
    let names = |reply: &Reply| -> Vec<String> {
        reply.assert_ok()["marketItems"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&t.gql_as(&bob.access, browse, json!({})).await),
        ["100% cotton_shirt", "Steel pan"]
    );
    assert_eq!(
        names(
            &t.gql_as(&bob.access, browse, json!({"f": {"search": "% COTTON_"}}))
                .await
        ),
        ["100% cotton_shirt"]
    );
    assert_eq!(
        names(
            &t.gql_as(
                &bob.access,
                browse,
                json!({"f": {"minPrice": 21, "maxPrice": 500}})
            )
            .await
        ),
        ["Steel pan"]
    );
    let inverted = t
        .gql_as(
            &bob.access,
            browse,
            json!({"f": {"minPrice": 50, "maxPrice": 10}}),
        )
        .await;
    assert_eq!(inverted.error()["extensions"]["field"], "minPrice");

    // Another trader sees who holds an item, but not their private fields.
    let seen = t
        .gql_as(
            &admin.access,
            "query($id: ID!) { item(id: $id) { owner { username } } }",
            json!({"id": mid}),
        )
        .await;
    assert_eq!(seen.assert_ok()["item"]["owner"]["username"], "ada");
    let hidden = t
        .gql_as(
            &bob.access,
            "query($id: ID!) { item(id: $id) { name } }",
            json!({"id": mid}),
        )
        .await;
    assert_eq!(
        hidden.code(),
        Some("NOT_FOUND"),
        "a held item is invisible to other traders by id"
    );
    let owned_list = "{ items(first: 10, filter: {owned: true}) { edges { node { name owner { username email budget } } } } }";
    let as_admin = t.gql_as(&admin.access, owned_list, json!({})).await;
    assert_eq!(
        as_admin.assert_ok()["items"]["edges"][0]["node"]["owner"]["budget"],
        940
    );
    assert_eq!(
        t.gql_as(&bob.access, owned_list, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    let mine = t
        .gql_as(
            &ada.access,
            "{ myItems { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.assert_ok()["myItems"]["totalCount"], 1);

    let delete = "mutation($v: DeleteItemInput!) { deleteItem(input: $v) { item { id } } }";
    let held = t
        .gql_as(&admin.access, delete, json!({"v": {"id": mid}}))
        .await;
    assert_eq!(reason(&held), Some("OWNED"));
    t.gql_as(&admin.access, delete, json!({"v": {"id": cheap}}))
        .await
        .assert_ok();
    let reprice = "mutation($v: UpdateItemInput!) { updateItem(input: $v) { item { price } } }";
    let repriced_held = t
        .gql_as(
            &admin.access,
            reprice,
            json!({"v": {"id": mid, "price": 1}}),
        )
        .await;
    assert_eq!(reason(&repriced_held), Some("OWNED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_with_its_owners_costs_two_statements_whatever_its_size() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let mut buyers = Vec::new();
    for i in 0..6 {
        buyers.push(t.user(&format!("holder{i}")).await);
    }
    for i in 0..30 {
        let item = list_item(&t, &admin, &format!("Thing {i:02}"), 5).await;
        let buyer: &Tokens = &buyers[i % buyers.len()];
        t.gql_as(&buyer.access, PURCHASE, json!({"v": {"itemId": item}}))
            .await
            .assert_ok();
    }
    let mut per_request = Vec::new();
    for first in [2, 30] {
        let query = format!(
            "{{ items(first: {first}, filter: {{owned: true}}) {{ edges {{ node {{ name owner {{ id username }} }} }} }} }}"
        );
        let before = agora::metrics::statements_sent();
        let reply = t.gql_as(&admin.access, &query, json!({})).await;
        let owners: Vec<&Value> = reply.assert_ok()["items"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| &edge["node"]["owner"])
            .collect();
        assert_eq!(owners.len(), first);
        assert!(owners.iter().all(|owner| owner["username"].is_string()));
        per_request.push(agora::metrics::statements_sent() - before);
    }
    assert_eq!(
        per_request,
        [2, 2],
        "the session and permissions in one statement, the page with its owners in another"
    );
}

/// Pages resolve their nodes on a path of their own (`graphql::flat`), so they must answer any
/// selection (fragments, aliases, `__typename`, a field asked twice) exactly as the item does on
/// its own, and report a field's error at its place in the page.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_answers_any_selection_as_the_item_itself_does() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    for i in 0..3 {
        let item = list_item(&t, &admin, &format!("Held {i}"), 10).await;
        t.gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": item}}))
            .await
            .assert_ok();
    }
    let selection = "__typename kind: __typename id n: name ...Priced \
        ... on Item { onMarket owner { username } } owner { id } owner { __typename }";
    let fragment = "fragment Priced on Item { price barcode }";
    let page_reply = t
        .gql_as(
            &admin.access,
            &format!(
                "{{ items(first: 10, filter: {{owned: true}}) {{ nodes {{ {selection} }} \
                 edges {{ cursor node {{ {selection} }} }} }} }} {fragment}"
            ),
            json!({}),
        )
        .await;
    let page = &page_reply.assert_ok()["items"];
    let nodes = page["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let first_node = &page_reply.text[page_reply.text.find("{\"__typename\"").unwrap()..];
    let first_node = &first_node[..first_node.find('}').unwrap()];
    let at = |key: &str| first_node.find(&format!("\"{key}\":")).unwrap();
    let order = [
        "__typename",
        "kind",
        "id",
        "n",
        "price",
        "barcode",
        "onMarket",
        "owner",
    ];
    assert!(
        order.windows(2).all(|pair| at(pair[0]) < at(pair[1])),
        "fields in the order asked, fragments spread in place: {first_node}"
    );
    assert_eq!(
        nodes[0]["owner"],
        json!({"username": "ada", "id": ada.user_id, "__typename": "User"})
    );
    for (node, edge) in nodes.iter().zip(page["edges"].as_array().unwrap()) {
        assert_eq!(node, &edge["node"]);
        let alone = t
            .gql_as(
                &admin.access,
                &format!("query($id: ID!) {{ item(id: $id) {{ {selection} }} }} {fragment}"),
                json!({"id": node["id"]}),
            )
            .await;
        assert_eq!(node, &alone.assert_ok()["item"]);
    }

    // A stock keeper may list held items but not read their holders' private fields.
    let stocker = t.user("stocker").await;
    let role = t
        .gql_as(
            &admin.access,
            "mutation { createRole(input: {name: \"Stocker\"}) { role { id } } }",
            json!({}),
        )
        .await;
    let role = role.assert_ok()["createRole"]["role"]["id"].clone();
    let items_manage = t
        .id_of("SELECT id FROM permissions WHERE name = 'items:manage'")
        .await;
    t.gql_as(
        &admin.access,
        "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }",
        json!({"v": {"roleId": role, "permissionId": items_manage}}),
    )
    .await
    .assert_ok();
    t.gql_as(
        &admin.access,
        "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
        json!({"v": {"userId": stocker.user_id, "roleId": role}}),
    )
    .await
    .assert_ok();
    let reply = t
        .gql_as(
            &stocker.access,
            "{ items(first: 10, filter: {owned: true}) { nodes { name owner { username email } } } }",
            json!({}),
        )
        .await;
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    for (index, error) in errors.iter().enumerate() {
        assert_eq!(error["extensions"]["code"], "FORBIDDEN");
        assert_eq!(
            error["path"],
            json!(["items", "nodes", index, "owner", "email"])
        );
    }
    let nodes = reply.data()["items"]["nodes"].as_array().unwrap();
    // `email` is non-null, so each owner (nullable) answers null in its place.
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.iter().all(|node| node["owner"].is_null()),
        "{nodes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trade_is_one_statement_and_a_budget_may_reach_zero() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let buyer = t.user("exact").await;
    t.sql(&format!(
        "UPDATE users SET budget = 40 WHERE id = {}",
        buyer.user_id
    ))
    .await;
    let item = list_item(&t, &admin, "Exactly affordable", 40).await;
    // The first request reads the buyer's permission set; trades below find it kept.
    t.gql_as(&buyer.access, "{ me { id } }", json!({}))
        .await
        .assert_ok();
    let before = money(&t).await;
    let mut per_trade = Vec::new();
    for (mutation, budget) in [("purchaseItem", 0), ("sellItem", 40)] {
        let query = format!(
            "mutation($id: ID!) {{ {mutation}(input: {{itemId: $id}}) {{ budget item {{ id onMarket }} }} }}"
        );
        let statements = agora::metrics::statements_sent();
        let reply = t.gql_as(&buyer.access, &query, json!({"id": item})).await;
        per_trade.push(agora::metrics::statements_sent() - statements);
        assert_eq!(reply.assert_ok()[mutation]["budget"], budget);
    }
    assert_eq!(
        per_trade,
        [2, 2],
        "the session in one statement, the whole trade (lock, move, budget, ledger) in another"
    );
    assert_eq!(money(&t).await, before);
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM market_transactions WHERE item_id = {item} AND amount = 40"
        ))
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_that_would_overflow_the_budget_is_refused_whole() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let rich = t.user("rich").await;
    let item = list_item(&t, &admin, "Heirloom", 50).await;
    t.gql_as(&rich.access, PURCHASE, json!({"v": {"itemId": item}}))
        .await
        .assert_ok();
    t.sql(&format!(
        "UPDATE users SET budget = {} WHERE id = {}",
        i64::MAX - 10,
        rich.user_id
    ))
    .await;
    let reply = t
        .gql_as(&rich.access, SELL, json!({"v": {"itemId": item}}))
        .await;
    assert_eq!(
        (reply.code(), reply.error()["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("itemId"))
    );
    assert_eq!(
        t.count(&format!(
            "SELECT budget FROM users WHERE id = {}",
            rich.user_id
        ))
        .await,
        i64::MAX - 10
    );
    assert_eq!(
        t.text(&format!(
            "SELECT owner_id::text AS t FROM items WHERE id = {item}"
        ))
        .await,
        rich.user_id
    );
    assert_eq!(
        t.count("SELECT count(*) FROM market_transactions WHERE kind = 'SALE'")
            .await,
        0
    );
}

/// `kill -9` in the middle of a burst of purchases, then a restart: every purchase the client
/// saw acknowledged is stored, nothing is half-written, and no money appeared or vanished.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_server_loses_no_acknowledged_purchase_and_no_money() {
    let t = TestApp::new().await;
    t.sql(
        "INSERT INTO items (name, price, barcode, description, created_at, updated_at)
         SELECT 'Item ' || n, n, lpad(n::text, 12, '0'), '', now(), now() FROM generate_series(1, 300) n",
    )
    .await;
    let mut buyers = Vec::new();
    for n in 0..8 {
        buyers.push(t.user(&format!("buyer{n}")).await);
    }
    let first_id = t.count("SELECT min(id) FROM items").await;
    let item_ids: Vec<i64> = (first_id..first_id + 300).collect();
    let before = money(&t).await;

    let mut server = t.binary(&[]).await;
    let address = server.address;
    let http = common::http_client();
    let mut burst = tokio::task::JoinSet::new();
    for (n, item) in item_ids.iter().enumerate() {
        let item = item.to_string();
        let buyer = &buyers[n % buyers.len()];
        let (http, access, buyer_id) = (http.clone(), buyer.access.clone(), buyer.user_id.clone());
        burst.spawn(async move {
            let response = http
                .post(format!("http://{address}/graphql"))
                .bearer_auth(access)
                .json(&json!({
                    "query": PURCHASE,
                    "variables": {"v": {"itemId": item, "idempotencyKey": format!("burst-{item}")}},
                }))
                .send()
                .await
                .ok()?;
            let body: Value = response.json().await.ok()?;
            body["data"]["purchaseItem"]["item"]["owner"]["id"]
                .as_str()
                .filter(|owner| *owner == buyer_id)
                .map(|_| (item, buyer_id))
        });
    }
    let mut acknowledged = Vec::new();
    let mut killed = false;
    while let Some(outcome) = burst.join_next().await {
        acknowledged.extend(outcome.unwrap());
        if acknowledged.len() >= 10 && !killed {
            server.process.start_kill().unwrap(); // SIGKILL: no drain, no cleanup
            killed = true;
        }
    }
    assert!(killed, "the burst produced acknowledgements");
    assert!(
        acknowledged.len() < item_ids.len(),
        "the kill landed mid-burst ({} of {} acknowledged)",
        acknowledged.len(),
        item_ids.len()
    );

    let restarted = t.binary(&[]).await;
    assert_eq!(restarted.get("/readyz").await.0, axum::http::StatusCode::OK);
    for (item, buyer_id) in &acknowledged {
        assert_eq!(
            t.count(&format!(
                "SELECT coalesce(owner_id, 0) FROM items WHERE id = {item}"
            ))
            .await
            .to_string(),
            *buyer_id,
            "acknowledged purchase of item {item} is stored"
        );
    }
    assert_eq!(money(&t).await, before, "no money appeared or vanished");
    assert_eq!(
        t.count("SELECT count(*) FROM items WHERE owner_id IS NOT NULL")
            .await,
        t.count("SELECT count(*) FROM market_transactions WHERE kind = 'PURCHASE'")
            .await,
        "every owned item has its ledger row and no ledger row lacks its item"
    );
}
