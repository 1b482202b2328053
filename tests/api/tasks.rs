//! The task board: dense positions, completion times, filters and ownership.

use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const CREATE: &str = "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id title status position priority completedAt dueOn } } }";
const MOVE: &str = "mutation($v: MoveTaskInput!) { moveTask(input: $v) { task { id status position completedAt } } }";

async fn create(t: &TestApp, who: &Tokens, input: Value) -> Value {
    let reply = t.gql_as(&who.access, CREATE, json!({ "v": input })).await;
    reply.assert_ok()["createTask"]["task"].clone()
}

async fn create_id(t: &TestApp, who: &Tokens, title: &str) -> String {
    create(t, who, json!({ "title": title })).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn move_task(
    t: &TestApp,
    who: &Tokens,
    id: &str,
    status: &str,
    position: i32,
) -> crate::common::Reply {
    t.gql_as(
        &who.access,
        MOVE,
        json!({"v": {"taskId": id, "status": status, "position": position}}),
    )
    .await
}

/// Titles per column from the board, top to bottom.
async fn board(t: &TestApp, who: &Tokens) -> Vec<(String, i64, Vec<String>)> {
    let reply = t
        .gql_as(
            &who.access,
            "{ board { status totalCount tasks { title position } } }",
            json!({}),
        )
        .await;
    reply.assert_ok()["board"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| {
            let tasks = column["tasks"].as_array().unwrap();
            for (index, task) in tasks.iter().enumerate() {
                assert_eq!(task["position"], index, "positions are dense: {column}");
            }
            (
                column["status"].as_str().unwrap().to_owned(),
                column["totalCount"].as_i64().unwrap(),
                tasks
                    .iter()
                    .map(|task| task["title"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// Every column of every user holds positions 0..n exactly.
async fn assert_dense(t: &TestApp) {
    let broken = t
        .count(
            "SELECT count(*) FROM (
                 SELECT user_id, status FROM tasks GROUP BY user_id, status
                 HAVING min(position) <> 0 OR max(position) <> count(*) - 1
                     OR count(DISTINCT position) <> count(*)
             ) AS broken",
        )
        .await;
    assert_eq!(broken, 0, "every column is 0..n without gaps or repeats");
}

fn columns(entries: [(&str, &[&str]); 3]) -> Vec<(String, i64, Vec<String>)> {
    entries
        .into_iter()
        .map(|(status, titles)| {
            (
                status.to_owned(),
                titles.len() as i64,
                titles.iter().map(|title| (*title).to_owned()).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_reorder_columns_densely_and_track_completion() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.app.clock.pin("2026-05-01T09:00:00Z".parse().unwrap());
    let a = create_id(&t, &ada, "a").await;
    let b = create_id(&t, &ada, "b").await;
    let c = create_id(&t, &ada, "c").await;
    let d = create_id(&t, &ada, "d").await;
    assert_eq!(
        board(&t, &ada).await,
        columns([
            ("TODO", &["a", "b", "c", "d"]),
            ("IN_PROGRESS", &[]),
            ("DONE", &[])
        ])
    );

    // Down and up within a column.
    move_task(&t, &ada, &a, "TODO", 2).await.assert_ok();
    move_task(&t, &ada, &d, "TODO", 0).await.assert_ok();
    assert_eq!(
        board(&t, &ada).await,
        columns([
            ("TODO", &["d", "b", "c", "a"]),
            ("IN_PROGRESS", &[]),
            ("DONE", &[])
        ])
    );

    // Across columns; entering DONE stamps the time.
    move_task(&t, &ada, &b, "IN_PROGRESS", 0).await.assert_ok();
    let reply = move_task(&t, &ada, &c, "DONE", 0).await;
    let done = &reply.assert_ok()["moveTask"]["task"];
    assert_eq!(done["completedAt"], "2026-05-01T09:00:00+00:00");
    t.app.clock.pin("2026-05-02T09:00:00Z".parse().unwrap());
    move_task(&t, &ada, &a, "DONE", 0).await.assert_ok();
    // Within DONE the stamp stays.
    let reply = move_task(&t, &ada, &c, "DONE", 0).await;
    assert_eq!(
        reply.assert_ok()["moveTask"]["task"]["completedAt"],
        "2026-05-01T09:00:00+00:00"
    );
    assert_eq!(
        board(&t, &ada).await,
        columns([
            ("TODO", &["d"]),
            ("IN_PROGRESS", &["b"]),
            ("DONE", &["c", "a"])
        ])
    );
    // Leaving DONE clears it.
    let reply = move_task(&t, &ada, &c, "TODO", 1).await;
    let back = &reply.assert_ok()["moveTask"]["task"];
    assert_eq!(
        (&back["completedAt"], &back["position"]),
        (&Value::Null, &json!(1))
    );

    // Past the end of the column is refused and changes nothing.
    let reply = move_task(&t, &ada, &b, "TODO", 3).await;
    assert_eq!(
        (reply.code(), reply.error()["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("position"))
    );
    assert_eq!(
        board(&t, &ada).await,
        columns([
            ("TODO", &["d", "c"]),
            ("IN_PROGRESS", &["b"]),
            ("DONE", &["a"])
        ])
    );

    // Deleting closes the gap.
    t.gql_as(
        &ada.access,
        "mutation($v: DeleteTaskInput!) { deleteTask(input: $v) { task { id } } }",
        json!({"v": {"id": d}}),
    )
    .await
    .assert_ok();
    assert_eq!(
        board(&t, &ada).await,
        columns([("TODO", &["c"]), ("IN_PROGRESS", &["b"]), ("DONE", &["a"])])
    );
    assert_dense(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_moves_and_creates_keep_positions_dense() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(create_id(&t, &ada, &format!("t{i}")).await);
    }
    let statuses = ["TODO", "IN_PROGRESS", "DONE"];
    let moves = ids.iter().enumerate().map(|(i, id)| {
        let t = &t;
        let ada = &ada;
        async move {
            move_task(t, ada, id, statuses[i % 3], 0).await.assert_ok();
        }
    });
    let creates = (0..6).map(|i| {
        let t = &t;
        let ada = &ada;
        async move {
            create(
                t,
                ada,
                json!({"title": format!("new{i}"), "status": statuses[i % 3]}),
            )
            .await;
        }
    });
    futures::future::join(
        futures::future::join_all(moves),
        futures::future::join_all(creates),
    )
    .await;
    assert_eq!(t.count("SELECT count(*) FROM tasks").await, 18);
    assert_dense(&t).await;
    let done_without_stamp = t
        .count("SELECT count(*) FROM tasks WHERE (status = 'DONE') <> (completed_at IS NOT NULL)")
        .await;
    assert_eq!(done_without_stamp, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_filter_sort_and_page() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let theme = t
        .gql_as(
            &ada.access,
            "mutation { createTheme(input: {name: \"Work\"}) { theme { id } } }",
            json!({}),
        )
        .await;
    let theme_id = theme.assert_ok()["createTheme"]["theme"]["id"].clone();
    for (title, priority, due, themed) in [
        ("report", "HIGH", Some("2026-06-01"), true),
        ("email", "LOW", None, false),
        ("review", "HIGH", Some("2026-05-20"), true),
        ("plan", "MEDIUM", Some("2026-07-01"), false),
    ] {
        let mut input = json!({"title": title, "priority": priority, "dueOn": due});
        if themed {
            input["themeId"] = theme_id.clone();
        }
        create(&t, &ada, input).await;
    }
    let list = |filter: Value, order: &'static str| {
        let t = &t;
        let ada = &ada;
        async move {
            let query = format!(
                "query($f: TasksFilter) {{ tasks(filter: $f, orderBy: {order}) {{ totalCount edges {{ node {{ title }} }} }} }}"
            );
            let reply = t.gql_as(&ada.access, &query, json!({ "f": filter })).await;
            reply.assert_ok()["tasks"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(json!(null), "POSITION").await,
        ["report", "email", "review", "plan"]
    );
    assert_eq!(
        list(json!(null), "CREATED_AT").await,
        ["plan", "review", "email", "report"]
    );
    assert_eq!(
        list(json!(null), "DUE_ON").await,
        ["review", "report", "plan", "email"]
    );
    assert_eq!(
        list(json!({"priority": "HIGH"}), "POSITION").await,
        ["report", "review"]
    );
    assert_eq!(
        list(json!({"themeId": theme_id}), "DUE_ON").await,
        ["review", "report"]
    );
    assert_eq!(
        list(json!({"dueBefore": "2026-06-01"}), "DUE_ON").await,
        ["review"]
    );
    assert_eq!(
        list(json!({"status": "DONE"}), "POSITION").await,
        Vec::<String>::new()
    );

    // Pages of one in due order, then a cursor from another order is refused.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let cursor = loop {
        let reply = t
            .gql_as(
                &ada.access,
                "query($a: String) { tasks(orderBy: DUE_ON, first: 1, after: $a) { pageInfo { hasNextPage endCursor } edges { node { title } } } }",
                json!({ "a": after }),
            )
            .await;
        let page = &reply.assert_ok()["tasks"];
        seen.push(
            page["edges"][0]["node"]["title"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        if page["pageInfo"]["hasNextPage"] == false {
            break cursor;
        }
        after = json!(cursor);
    };
    assert_eq!(seen, ["review", "report", "plan", "email"]);
    let reply = t
        .gql_as(
            &ada.access,
            "query($a: String) { tasks(orderBy: POSITION, after: $a) { totalCount } }",
            json!({ "a": cursor }),
        )
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_change_fields_and_null_clears() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let id = create(&t, &ada, json!({"title": "draft", "dueOn": "2026-05-05"})).await["id"].clone();
    let update = "mutation($v: UpdateTaskInput!) { updateTask(input: $v) { task { title priority dueOn status position } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": id, "title": " final ", "priority": "HIGH"}}),
        )
        .await;
    let task = &reply.assert_ok()["updateTask"]["task"];
    assert_eq!(task["title"], "final");
    assert_eq!(task["priority"], "HIGH");
    assert_eq!(task["dueOn"], "2026-05-05", "left out: kept");
    let reply = t
        .gql_as(&ada.access, update, json!({"v": {"id": id, "dueOn": null}}))
        .await;
    assert_eq!(
        reply.assert_ok()["updateTask"]["task"]["dueOn"],
        Value::Null
    );
    for (input, field) in [
        (json!({"id": id, "title": ""}), "title"),
        (json!({"id": id, "title": "t".repeat(201)}), "title"),
        (
            json!({"id": id, "description": "d".repeat(5001)}),
            "description",
        ),
    ] {
        let reply = t.gql_as(&ada.access, update, json!({ "v": input })).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
        assert_eq!(reply.error()["extensions"]["field"], field);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_tasks_and_themes_are_not_found() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let task = create_id(&t, &ada, "private").await;
    let bobs_theme = t
        .gql_as(
            &bob.access,
            "mutation { createTheme(input: {name: \"Bob's\"}) { theme { id } } }",
            json!({}),
        )
        .await;
    let bobs_theme = bobs_theme.assert_ok()["createTheme"]["theme"]["id"].clone();
    let missing = t
        .gql_as(&bob.access, "{ task(id: \"999999\") { id } }", json!({}))
        .await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    let theirs = t
        .gql_as(
            &bob.access,
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": task }),
        )
        .await;
    let missing = missing.message_but_id("999999");
    assert_eq!(theirs.message_but_id(&task), missing);
    let reply = move_task(&t, &bob, &task, "DONE", 0).await;
    assert_eq!(reply.message_but_id(&task), missing);
    // Ada cannot file a task under Bob's theme.
    let reply = t
        .gql_as(
            &ada.access,
            CREATE,
            json!({"v": {"title": "sneaky", "themeId": bobs_theme}}),
        )
        .await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));
    assert_eq!(t.count("SELECT count(*) FROM tasks").await, 1);
    assert_eq!(
        t.text("SELECT status AS t FROM tasks").await,
        "TODO",
        "Bob's move changed nothing"
    );
}
