//! Every paged list, in every order and through every filter that changes its statement, returns
//! each row exactly once when read page by page: rows are arranged with ties in the sort key and
//! nulls where the key may be null, then read at page sizes 1, 2 and 3 and compared with the
//! list read whole.

use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, Tokens};

/// Reads `field(args)` whole (`first: 100`), then page by page at sizes 1, 2 and 3 following
/// `endCursor`, and checks that every walk gives the whole list, each row once, in its order.
/// Returns the length of the whole list.
async fn assert_each_row_once(t: &TestApp, token: &str, field: &str, args: &str) -> usize {
    let context = format!("{field}({args})");
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(", {args}")
    };
    let query = format!(
        "query($first: Int, $after: String) {{ list: {field}(first: $first, after: $after{args}) {{
             totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ id }} }} }} }}"
    );
    let read = async |first: i64, after: &Value| {
        let reply = t
            .gql_as(token, &query, json!({ "first": first, "after": after }))
            .await;
        let list = reply.assert_ok()["list"].clone();
        let ids: Vec<String> = list["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        (list, ids)
    };
    let (whole, all) = read(100, &Value::Null).await;
    assert_eq!(whole["pageInfo"]["hasNextPage"], false, "{context}");
    assert_eq!(whole["totalCount"], all.len(), "{context}: {all:?}");
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{context} repeats a row: {all:?}");
    for size in 1..=3 {
        let mut walked = Vec::new();
        let mut after = Value::Null;
        loop {
            let (page, ids) = read(size, &after).await;
            assert_eq!(page["totalCount"], all.len(), "{context}, pages of {size}");
            let more = page["pageInfo"]["hasNextPage"].as_bool().unwrap();
            if more {
                assert_eq!(
                    ids.len() as i64,
                    size,
                    "{context}: a full page before the end"
                );
            }
            walked.extend(ids);
            assert!(
                walked.len() <= all.len(),
                "{context}, pages of {size}, repeats rows: {walked:?} (whole: {all:?})"
            );
            if !more {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(walked, all, "{context}, pages of {size}");
    }
    all.len()
}

/// [`assert_each_row_once`] for `field` in each of `orders`, alone (listing all `rows`) and with
/// each of `filters`.
async fn assert_every_order_and_filter(
    t: &TestApp,
    who: &Tokens,
    field: &str,
    orders: &[&str],
    filters: &[String],
    rows: usize,
) {
    for order in orders {
        let all = assert_each_row_once(t, &who.access, field, &format!("orderBy: {order}")).await;
        assert_eq!(all, rows, "{field}(orderBy: {order})");
        for filter in filters {
            let args = format!("orderBy: {order}, filter: {filter}");
            assert_each_row_once(t, &who.access, field, &args).await;
        }
    }
}

/// Runs mutation `name` with `input` (of type `<Name>Input`); its payload's `selection`.
async fn mutate(t: &TestApp, token: &str, name: &str, selection: &str, input: Value) -> Value {
    let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    let mutation =
        format!("mutation($v: {input_type}!) {{ payload: {name}(input: $v) {{ {selection} }} }}");
    let reply = t.gql_as(token, &mutation, json!({ "v": input })).await;
    reply.assert_ok()["payload"].clone()
}

/// Creates a theme; its id.
async fn theme(t: &TestApp, who: &Tokens, name: &str) -> Value {
    mutate(
        t,
        &who.access,
        "createTheme",
        "theme { id }",
        json!({ "name": name }),
    )
    .await["theme"]["id"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_in_every_order_and_filter() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let theme_id = theme(&t, &ada, "Home").await;
    // Undated tasks among dated ones, shared due dates, and each column's positions from 0.
    let due = [
        Some("2026-07-01"),
        None,
        Some("2026-06-20"),
        None,
        Some("2026-07-01"),
        None,
        None,
        Some("2026-06-20"),
        Some("2026-07-01"),
        None,
    ];
    for (index, due_on) in due.into_iter().enumerate() {
        let status = ["TODO", "IN_PROGRESS", "DONE"][index % 3];
        let priority = ["HIGH", "LOW"][index % 2];
        let input = json!({
            "title": format!("task {index}"),
            "dueOn": due_on,
            "status": status,
            "priority": priority,
            "themeId": if index % 4 == 0 { theme_id.clone() } else { Value::Null },
        });
        mutate(&t, &ada.access, "createTask", "task { id }", input).await;
    }
    // Ties in creation time, as a burst of requests within a clock tick would leave.
    t.sql("UPDATE tasks SET created_at = '2026-06-01T00:00:00Z' WHERE id % 3 <> 0")
        .await;
    let filters = [
        "{status: TODO}".to_owned(),
        "{priority: LOW}".to_owned(),
        format!("{{themeId: {theme_id}}}"),
        "{dueBefore: \"2026-07-01\"}".to_owned(),
    ];
    let orders = ["POSITION", "CREATED_AT", "DUE_ON"];
    assert_every_order_and_filter(&t, &ada, "tasks", &orders, &filters, due.len()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn habits_in_every_order_and_filter() {
    let t = TestApp::new().await;
    t.app.clock.pin("2026-06-15T12:00:00Z".parse().unwrap());
    let ada = t.user("ada").await;
    let theme_id = theme(&t, &ada, "Health").await;
    // Names equal but for case, equal streaks, one habit ended (archived), one done today.
    let habits = [
        ("Run", json!({"daily": true}), None, 2),
        ("run", json!({"daily": true}), None, 2),
        ("Read", json!({"weekly": {"days": ["MONDAY"]}}), None, 0),
        ("read", json!({"daily": true}), Some("2026-06-10"), 0),
        ("Walk", json!({"daily": true}), None, 0),
        (
            "walk",
            json!({"interval": {"activeDays": 1, "breakDays": 1}}),
            None,
            1,
        ),
        ("Swim", json!({"daily": true}), None, 2),
    ];
    let count = habits.len();
    for (index, (name, schedule, ends_on, streak)) in habits.into_iter().enumerate() {
        let input = json!({
            "name": name,
            "schedule": schedule,
            "startsOn": "2026-06-01",
            "endsOn": ends_on,
            "themeId": if index % 2 == 0 { theme_id.clone() } else { Value::Null },
        });
        let habit = mutate(&t, &ada.access, "createHabit", "habit { id }", input).await;
        let id = habit["habit"]["id"].as_str().unwrap();
        t.sql(&format!(
            "INSERT INTO habit_completions (habit_id, completed_on, created_at)
             SELECT {id}, DATE '2026-06-15' - day, now() FROM generate_series(1, {streak}) AS day"
        ))
        .await;
    }
    t.sql(
        "INSERT INTO habit_completions (habit_id, completed_on, created_at)
         SELECT id, DATE '2026-06-15', now() FROM habits WHERE name = 'Swim'",
    )
    .await;
    let filters = [
        "{status: DUE_TODAY}".to_owned(),
        "{status: ACTIVE}".to_owned(),
        "{status: COMPLETED_TODAY}".to_owned(),
        "{status: ARCHIVED}".to_owned(),
        "{kind: DAILY}".to_owned(),
        format!("{{themeId: {theme_id}}}"),
    ];
    let orders = ["CREATED_AT", "NAME", "STREAK"];
    assert_every_order_and_filter(&t, &ada, "habits", &orders, &filters, count).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_sessions_tokens_and_themes() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    for name in ["pam", "pat", "paul", "quinn", "rita"] {
        t.user(name).await;
    }
    t.sql("UPDATE users SET is_active = FALSE WHERE username IN ('pat', 'quinn')")
        .await;
    assert_eq!(assert_each_row_once(&t, &root.access, "users", "").await, 6);
    let admin_role = t.id_of("SELECT id FROM roles WHERE name = 'admin'").await;
    for filter in [
        "{search: \"pa\"}".to_owned(),
        format!("{{roleId: {admin_role}}}"),
        "{active: false}".to_owned(),
        "{search: \"a\", active: true}".to_owned(),
    ] {
        assert_each_row_once(&t, &root.access, "users", &format!("filter: {filter}")).await;
    }

    let mut ada = t.user("ada").await;
    for _ in 0..4 {
        ada = t.sign_in("ada").await;
    }
    for name in ["one", "two", "three", "four"] {
        let input = json!({"name": name, "permissions": ["profile:read"], "password": PASSWORD});
        mutate(&t, &ada.access, "createApiToken", "token", input).await;
    }
    t.sql("UPDATE api_tokens SET revoked_at = now() WHERE name = 'two'")
        .await;
    for name in ["Home", "Work", "Garden", "Sport", "Music"] {
        theme(&t, &ada, name).await;
    }
    for (field, rows) in [("mySessions", 5), ("apiTokens", 4), ("themes", 5)] {
        assert_eq!(assert_each_row_once(&t, &ada.access, field, "").await, rows);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn market_lists_and_the_ledger() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let mut items = Vec::new();
    for (index, price) in [10, 20, 20, 30, 10, 20, 40].into_iter().enumerate() {
        let input = json!({"name": format!("lamp {index}"), "price": price, "barcode": format!("{index:012}")});
        let created = mutate(&t, &root.access, "createItem", "item { id }", input).await;
        items.push(created["item"]["id"].clone());
    }
    // Four bought, two of them sold back and one of those bought again.
    for (mutation, item) in [
        ("purchaseItem", &items[0]),
        ("purchaseItem", &items[1]),
        ("purchaseItem", &items[2]),
        ("purchaseItem", &items[3]),
        ("sellItem", &items[0]),
        ("sellItem", &items[1]),
        ("purchaseItem", &items[0]),
    ] {
        mutate(
            &t,
            &ada.access,
            mutation,
            "budget",
            json!({ "itemId": item }),
        )
        .await;
    }
    for (who, field, rows) in [
        (&ada, "marketItems", 4),
        (&ada, "myItems", 3),
        (&ada, "myTransactions", 7),
        (&root, "items", 7),
    ] {
        assert_eq!(assert_each_row_once(&t, &who.access, field, "").await, rows);
    }
    for filter in [
        "{search: \"lamp\"}",
        "{minPrice: 20}",
        "{maxPrice: 20}",
        "{minPrice: 10, maxPrice: 20, search: \"1\"}",
    ] {
        assert_each_row_once(&t, &ada.access, "marketItems", &format!("filter: {filter}")).await;
    }
    for filter in [
        format!("{{ownerId: {}}}", ada.user_id),
        "{owned: true}".to_owned(),
        "{owned: false}".to_owned(),
    ] {
        assert_each_row_once(&t, &root.access, "items", &format!("filter: {filter}")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_and_the_audit_log() {
    let t = TestApp::new().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    // What Ada did, what was done to her account, and what others did, all in one second.
    t.sql(&format!(
        "INSERT INTO audit_log (actor_id, action, target_type, target_id, created_at)
         SELECT CASE WHEN n % 3 = 0 THEN {ada} WHEN n % 3 = 1 THEN {root} END,
                CASE WHEN n % 2 = 0 THEN 'auth.login' ELSE 'user.update' END,
                CASE WHEN n % 4 = 0 THEN 'user' END,
                CASE WHEN n % 4 = 0 THEN {ada} END,
                TIMESTAMPTZ '2026-06-01T00:00:00Z' + (n / 4) * INTERVAL '1 hour'
         FROM generate_series(1, 24) AS n",
        ada = ada.user_id,
        root = root.user_id
    ))
    .await;
    assert!(assert_each_row_once(&t, &ada.access, "myActivity", "").await > 10);
    assert!(assert_each_row_once(&t, &root.access, "auditLog", "").await > 24);
    for filter in [
        format!("{{actorId: {}}}", ada.user_id),
        "{action: \"auth.login\"}".to_owned(),
        "{since: \"2026-06-01T02:00:00Z\"}".to_owned(),
        "{until: \"2026-06-01T04:00:00Z\"}".to_owned(),
        format!(
            "{{actorId: {}, action: \"user.update\", since: \"2026-06-01T01:00:00Z\", until: \"2026-06-01T05:00:00Z\"}}",
            root.user_id
        ),
    ] {
        assert_each_row_once(&t, &root.access, "auditLog", &format!("filter: {filter}")).await;
    }
}

/// A cursor from another list, another order, or no list at all is the client's mistake.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_cursors_are_bad_input() {
    let t = TestApp::new().await;
    let ada: Tokens = t.user("ada").await;
    for title in ["one", "two"] {
        mutate(
            &t,
            &ada.access,
            "createTask",
            "task { id }",
            json!({ "title": title }),
        )
        .await;
    }
    let page = t
        .gql_as(
            &ada.access,
            "{ tasks(orderBy: DUE_ON, first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let due_cursor = page.assert_ok()["tasks"]["pageInfo"]["endCursor"].clone();
    let encode = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    for (field, args, cursor) in [
        ("tasks", "orderBy: CREATED_AT", due_cursor.clone()),
        ("habits", "", due_cursor.clone()),
        ("themes", "", due_cursor),
        ("tasks", "", json!("not a cursor")),
        (
            "tasks",
            "orderBy: DUE_ON",
            json!(encode(r#"{"DueOn":{"on":"-200000-01-01","id":1}}"#)),
        ),
        (
            "tasks",
            "orderBy: CREATED_AT",
            json!(encode(
                r#"{"CreatedAt":{"at":"-200000-01-01T00:00:00Z","id":1}}"#
            )),
        ),
    ] {
        let query = if args.is_empty() {
            format!("query($after: String) {{ {field}(after: $after) {{ totalCount }} }}")
        } else {
            format!("query($after: String) {{ {field}(after: $after, {args}) {{ totalCount }} }}")
        };
        let reply = t
            .gql_as(&ada.access, &query, json!({ "after": cursor }))
            .await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{field}({args}): {:#}",
            reply.body
        );
        assert_eq!(reply.error()["extensions"]["field"], "after");
    }
}
