//! Errors and nulls as the GraphQL spec has them: an erroring field answers null with its key
//! present, and a null in a non-null position moves to the nearest nullable parent, up to
//! `data: null`. Both execution paths are covered: async-graphql's containers (`me`, `item`)
//! and `graphql::flat` (page nodes and item owners).

use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

/// `ada` may manage items but not read other users; `bea` holds the first of two items.
async fn stocker_and_holder(t: &TestApp) -> (Tokens, String) {
    let ada = t.user("ada").await;
    let bea = t.user("bea").await;
    let statements = [
        "INSERT INTO roles (name, created_at) VALUES ('stocker', now())".to_owned(),
        "INSERT INTO role_permissions (role_id, permission_id)
           SELECT r.id, p.id FROM roles r, permissions p
           WHERE r.name = 'stocker' AND p.name IN ('items:manage', 'market:trade')"
            .to_owned(),
        format!(
            "INSERT INTO user_roles (user_id, role_id, created_at) SELECT {}, id, now() FROM roles WHERE name = 'stocker'",
            ada.user_id
        ),
        format!(
            "INSERT INTO items (name, price, barcode, owner_id, created_at, updated_at) VALUES ('held', 5, '000000000001', {}, now(), now())",
            bea.user_id
        ),
        "INSERT INTO items (name, price, barcode, created_at, updated_at) VALUES ('free', 7, '000000000002', now(), now())".to_owned(),
    ];
    for statement in statements {
        t.sql(&statement).await;
    }
    let held = t
        .id_of("SELECT id::text AS t FROM items WHERE name = 'held'")
        .await;
    (ada, held)
}

fn errors(body: &Value) -> &Vec<Value> {
    body["errors"].as_array().expect("errors")
}

/// Every error's path leads to a null in the answer, or stops at a null on the way there.
#[track_caller]
fn each_error_lands_on_a_null(body: &Value) {
    for error in errors(body) {
        let mut at = &body["data"];
        for step in error["path"].as_array().expect("a path") {
            if at.is_null() {
                break;
            }
            at = match step {
                Value::String(key) => at
                    .get(key)
                    .unwrap_or_else(|| panic!("key {key} missing: {body:#}")),
                Value::Number(index) => &at[index.as_u64().unwrap() as usize],
                _ => unreachable!(),
            };
        }
        assert!(at.is_null(), "{error} does not end at a null: {body:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_non_null_root_field_nulls_data() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let reply = t
        .gql_as(
            &ada.access,
            "{ me { id } users(first: 2) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"], Value::Null, "{:#}", reply.body);
    assert!(reply.body.get("data").is_some(), "data is present, as null");
    assert_eq!(errors(&reply.body).len(), 1, "{:#}", reply.body);
    assert_eq!(reply.code(), Some("FORBIDDEN"));
    assert_eq!(reply.error()["path"], json!(["users"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_nullable_field_answers_null_and_keeps_its_siblings() {
    let t = TestApp::new().await;
    let (ada, held) = stocker_and_holder(&t).await;
    // `lastLoginAt` is nullable: it alone is null, with its key.
    let reply = t
        .gql_as(
            &ada.access,
            "query($id: ID!) { item(id: $id) { name owner { username lastLoginAt } } }",
            json!({ "id": held }),
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"item": {"name": "held", "owner": {"username": "bea", "lastLoginAt": null}}}),
        "{:#}",
        reply.body
    );
    assert_eq!(
        reply.error()["path"],
        json!(["item", "owner", "lastLoginAt"])
    );
    assert_eq!(reply.code(), Some("FORBIDDEN"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_non_null_field_nulls_the_nearest_nullable_parent() {
    let t = TestApp::new().await;
    let (ada, held) = stocker_and_holder(&t).await;
    // `email` is non-null, so `owner` (nullable) becomes null; `item` keeps its other fields.
    let reply = t
        .gql_as(
            &ada.access,
            "query($id: ID!) { item(id: $id) { name owner { username email } } }",
            json!({ "id": held }),
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"item": {"name": "held", "owner": null}}),
        "{:#}",
        reply.body
    );
    assert_eq!(reply.error()["path"], json!(["item", "owner", "email"]));
    each_error_lands_on_a_null(&reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_inside_pages_through_fragments_and_aliases() {
    let t = TestApp::new().await;
    let (ada, _) = stocker_and_holder(&t).await;
    let reply = t
        .gql_as(
            &ada.access,
            "query {
               stock: items(first: 10) {
                 totalCount
                 edges { node { name ...Holder } }
                 nodes { name holder: owner { username address: email } }
               }
             }
             fragment Holder on Item { owner { ... on User { id email } } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let stock = &reply.body["data"]["stock"];
    assert_eq!(stock["totalCount"], 2, "{:#}", reply.body);
    let names = |list: &Value, key: &str| -> Vec<(String, Value)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                let item = if key == "node" { &entry["node"] } else { entry };
                let holder = item.get("owner").or_else(|| item.get("holder"));
                (
                    item["name"].as_str().unwrap().to_owned(),
                    holder.cloned().expect("the owner's key is present"),
                )
            })
            .collect()
    };
    let mut edges = names(&stock["edges"], "node");
    let mut nodes = names(&stock["nodes"], "");
    edges.sort_by(|a, b| a.0.cmp(&b.0));
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = vec![
        ("free".to_owned(), Value::Null),
        ("held".to_owned(), Value::Null),
    ];
    assert_eq!(edges, expected, "{:#}", reply.body);
    assert_eq!(nodes, expected, "{:#}", reply.body);
    // One error per failed `email` (the held item's, once through edges and once through nodes),
    // under the aliases the query used.
    let paths: Vec<&Value> = errors(&reply.body).iter().map(|e| &e["path"]).collect();
    assert_eq!(paths.len(), 2, "{:#}", reply.body);
    assert!(
        paths
            .iter()
            .any(|p| p[0] == "stock" && p[1] == "edges" && p[3] == "node" && p[5] == "email"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p[0] == "stock" && p[1] == "nodes" && p[3] == "holder" && p[4] == "address"),
        "{paths:?}"
    );
    each_error_lands_on_a_null(&reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_a_login_or_register_signs_in_to_reads_its_own_fields() {
    let t = TestApp::new().await;
    let register = t
        .gql(
            "mutation($input: RegisterInput!) { register(input: $input) { user { id email twoFactorEnabled permissions roles { name } } } }",
            json!({ "input": { "username": "ada", "email": "ada@example.com", "password": crate::common::PASSWORD } }),
        )
        .await;
    let user = &register.assert_ok()["register"]["user"];
    assert_eq!(user["twoFactorEnabled"], false);
    assert!(
        user["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "profile:read"),
        "{user}"
    );
    let login = t
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) { ... on AuthPayload { user { id twoFactorEnabled recoveryCodesLeft permissions } } } }",
            json!({ "input": { "login": "ada", "password": crate::common::PASSWORD } }),
        )
        .await;
    let user = &login.assert_ok()["login"]["user"];
    assert_eq!(user["twoFactorEnabled"], false);
    assert_eq!(user["recoveryCodesLeft"], 0);
    assert!(user["permissions"].as_array().is_some(), "{user}");
}
