//! `marketEvents` resumed: a subscriber that disconnects and comes back with its last cursor,
//! to another instance, while purchases go on on both, receives what it missed in order, then
//! live events, with none missing and none twice.

use std::collections::HashSet;

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::common::{FreshDatabase, Instances, Server, make_admin, sql_at};
use crate::instances::sign_in;
use crate::subscriptions::{Socket, connect, next, subscribe_as, subscribed};

const EVENT_FIELDS: &str = "cursor kind item { name owner { username } }";

/// The event a `marketEvents` subscription on `socket` sends next.
async fn event(socket: &mut Socket) -> Value {
    let message = next(socket).await.expect("an event");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["marketEvents"].clone()
}

/// Lists an item named `name` (three letters) as `admin` on `server`; the item's id.
async fn list(server: &Server, admin: &str, name: &str) -> Value {
    let digits: String = name.bytes().map(|byte| format!("{byte:03}")).collect();
    let barcode = format!("{digits:0>12}");
    let reply = server
        .gql(
            Some(admin),
            "mutation($i: CreateItemInput!) { createItem(input: $i) { item { id } } }",
            json!({ "i": { "name": name, "price": 10, "barcode": barcode } }),
        )
        .await;
    reply.assert_ok()["createItem"]["item"]["id"].clone()
}

async fn buy(server: &Server, buyer: &str, item: &Value) {
    server
        .gql(
            Some(buyer),
            "mutation($v: PurchaseItemInput!) { purchaseItem(input: $v) { budget } }",
            json!({ "v": { "itemId": item } }),
        )
        .await
        .assert_ok();
}

/// A `marketEvents` subscription on `server` from `cursor` on.
async fn resume(server: &Server, token: &str, cursor: &str) -> Socket {
    let mut socket = connect(server.address).await;
    subscribe_as(
        &mut socket,
        token,
        &format!("subscription {{ marketEvents(after: \"{cursor}\") {{ {EVENT_FIELDS} }} }}"),
    )
    .await;
    socket
}

/// (kind, item name) of every logged event, in the log's order.
async fn log(database_url: &str) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query("SELECT kind, item->>'name' AS name FROM market_events ORDER BY tx, id")
        .load::<Row>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.kind, row.name))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_resuming_on_another_instance_misses_nothing_and_sees_nothing_twice() {
    let Instances {
        a, b, database_url, ..
    } = &Instances::start(&[], true).await;
    for name in ["root", "bob", "ada"] {
        a.register(name).await;
    }
    let (root, root_id) = sign_in(a, "root").await;
    make_admin(database_url, root_id).await;
    let (bob, _) = sign_in(a, "bob").await;
    let (watcher, _) = sign_in(b, "ada").await;

    // A watcher on B sees a listing made on A, with its cursor, and goes away.
    let mut socket = connect(b.address).await;
    subscribe_as(
        &mut socket,
        &watcher,
        &format!("subscription {{ marketEvents {{ {EVENT_FIELDS} }} }}"),
    )
    .await;
    subscribed(&mut socket).await;
    list(a, &root, "Lamp").await;
    let first = event(&mut socket).await;
    assert_eq!(first["kind"], "LISTED");
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    drop(socket);

    // Meanwhile, listings on A and purchases on both instances at once.
    let mut away = Vec::new();
    for name in ["Cup", "Pen", "Ink"] {
        away.push(list(a, &root, name).await);
    }
    tokio::join!(
        buy(a, &bob, &away[0]),
        buy(b, &bob, &away[1]),
        buy(a, &bob, &away[2])
    );

    // It comes back to A: what it missed arrives, though nothing else happens.
    let mut socket = resume(a, &watcher, &cursor).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(event(&mut socket).await);
    }
    drop(socket);

    // Away again; it comes back to B while trading goes on, on both instances.
    let cursor_now = seen[5]["cursor"].as_str().unwrap().to_owned();
    let trading = async {
        for (round, name) in ["Mug", "Nib", "Pad", "Jar", "Box", "Fan"]
            .iter()
            .enumerate()
        {
            let at = if round % 2 == 0 { &a } else { &b };
            let item = list(at, &root, name).await;
            buy(if round % 3 == 0 { b } else { a }, &bob, &item).await;
        }
    };
    let ((), mut socket) = tokio::join!(trading, resume(b, &watcher, &cursor_now));
    for _ in 0..12 {
        seen.push(event(&mut socket).await);
    }
    let cursors: HashSet<&str> = seen
        .iter()
        .map(|event| event["cursor"].as_str().unwrap())
        .collect();
    assert_eq!(cursors.len(), seen.len(), "an event came twice: {seen:#?}");
    assert!(!cursors.contains(cursor.as_str()));
    let received: Vec<(String, String)> = seen
        .iter()
        .map(|event| {
            (
                event["kind"].as_str().unwrap().to_owned(),
                event["item"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let logged = log(database_url).await;
    assert_eq!(logged.len(), 19, "{logged:?}");
    assert_eq!(received, logged[1..], "missed or out of order");
    // Purchases came as they were, item and all.
    let bought: Vec<&Value> = seen
        .iter()
        .filter(|event| event["kind"] == "PURCHASED")
        .collect();
    assert_eq!(bought.len(), 9);
    assert!(
        bought
            .iter()
            .all(|event| event["item"]["owner"]["username"] == "bob")
    );

    // Then live: a sale on B arrives next, after everything above.
    b.gql(
        Some(&bob),
        "mutation($v: SellItemInput!) { sellItem(input: $v) { budget } }",
        json!({ "v": { "itemId": away[1] } }),
    )
    .await
    .assert_ok();
    let sold = event(&mut socket).await;
    assert_eq!(sold["kind"], "SOLD");
    assert_eq!(sold["item"]["name"], "Pen");
    assert_eq!(sold["item"]["owner"], Value::Null);
}

/// What a subscription to `marketEvents(after: cursor)` is refused with.
async fn refusal(server: &Server, token: &str, cursor: &str) -> Value {
    let mut socket = connect(server.address).await;
    subscribe_as(
        &mut socket,
        token,
        &format!("subscription {{ marketEvents(after: \"{cursor}\") {{ cursor }} }}"),
    )
    .await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    message["payload"]["errors"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_the_server_did_not_give_or_no_longer_keeps_is_refused() {
    let database = FreshDatabase::new();
    let database_url = database.url();
    let mut server = Server::spawn(&[("DATABASE_URL", database_url.as_str())]);
    server.listening().await;
    for name in ["root", "ada"] {
        server.register(name).await;
    }
    let (root, root_id) = sign_in(&server, "root").await;
    make_admin(&database_url, root_id).await;
    let (ada, _) = sign_in(&server, "ada").await;
    let mut socket = connect(server.address).await;
    subscribe_as(
        &mut socket,
        &ada,
        "subscription { marketEvents { cursor } }",
    )
    .await;
    subscribed(&mut socket).await;
    list(&server, &root, "Lamp").await;
    let cursor = event(&mut socket).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    for nonsense in ["", "bm9wZQ", "ZXY6MTox", "not base64!"] {
        let refused = refusal(&server, &ada, nonsense).await;
        assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
        assert_eq!(refused["extensions"]["field"], "after", "{refused}");
    }
    // Kept events resume; events the cleanup deleted are said to be gone, not skipped silently.
    sql_at(&database_url, "DELETE FROM market_events").await;
    let refused = refusal(&server, &ada, &cursor).await;
    assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("no longer kept"),
        "{refused}"
    );
}
