//! Themes: unique names and colours per user, generated colours, counters, deletion.

use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const CREATE: &str = "mutation($v: CreateThemeInput!) { createTheme(input: $v) { theme { id name color tasksCount habitsCount } } }";

async fn create(t: &TestApp, who: &Tokens, input: Value) -> crate::common::Reply {
    t.gql_as(&who.access, CREATE, json!({ "v": input })).await
}

#[tokio::test(flavor = "multi_thread")]
async fn names_and_colours_are_unique_per_user() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let reply = create(&t, &ada, json!({"name": "Work", "color": "#a1b2c3"})).await;
    assert_eq!(
        reply.assert_ok()["createTheme"]["theme"]["color"],
        "#A1B2C3"
    );
    for (input, field) in [
        (json!({"name": "WORK"}), "name"),
        (json!({"name": "Other", "color": "#A1B2C3"}), "color"),
    ] {
        let reply = create(&t, &ada, input).await;
        assert_eq!(reply.code(), Some("CONFLICT"));
        assert_eq!(reply.error()["extensions"]["reason"], "TAKEN");
        assert_eq!(reply.error()["extensions"]["field"], field);
    }
    // Another user may use both.
    create(&t, &bob, json!({"name": "work", "color": "#A1B2C3"}))
        .await
        .assert_ok();
    for (input, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(41)}), "name"),
        (json!({"name": "ok", "color": "red"}), "color"),
        (json!({"name": "ok", "color": "#12345"}), "color"),
    ] {
        let reply = create(&t, &ada, input).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
        assert_eq!(reply.error()["extensions"]["field"], field);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_colours_follow_the_name_and_stay_unique() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let reply = create(&t, &bob, json!({"name": "Home"})).await;
    let home_colour = reply.assert_ok()["createTheme"]["theme"]["color"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(agora::themes::rules::color(&home_colour).is_ok());
    // Ada takes that colour first under another name; her "Home" gets another.
    create(&t, &ada, json!({"name": "Garden", "color": home_colour}))
        .await
        .assert_ok();
    let reply = create(&t, &ada, json!({"name": "home"})).await;
    let ada_home = reply.assert_ok()["createTheme"]["theme"]["color"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(ada_home, home_colour);
    assert!(agora::themes::rules::color(&ada_home).is_ok());
    // Many themes at once still get distinct colours.
    let replies = futures::future::join_all(
        (0..8).map(|i| create(&t, &ada, json!({ "name": format!("Project {i}") }))),
    )
    .await;
    for reply in &replies {
        reply.assert_ok();
    }
    assert_eq!(
        t.count("SELECT count(DISTINCT color) FROM themes WHERE user_id = (SELECT id FROM users WHERE username = 'ada')")
            .await,
        10
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_and_deletion_keep_tasks_and_habits() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let reply = create(&t, &ada, json!({"name": "Health"})).await;
    let theme_id = reply.assert_ok()["createTheme"]["theme"]["id"].clone();
    for title in ["stretch", "walk"] {
        t.gql_as(
            &ada.access,
            "mutation($v: CreateTaskInput!) { createTask(input: $v) { task { id } } }",
            json!({"v": {"title": title, "themeId": theme_id}}),
        )
        .await
        .assert_ok();
    }
    t.gql_as(
        &ada.access,
        "mutation($v: CreateHabitInput!) { createHabit(input: $v) { habit { theme { name } } } }",
        json!({"v": {"name": "Sleep early", "schedule": {"daily": true}, "themeId": theme_id}}),
    )
    .await
    .assert_ok();
    let reply = t
        .gql_as(
            &ada.access,
            "{ themes { totalCount edges { node { name tasksCount habitsCount } } } }",
            json!({}),
        )
        .await;
    let node = &reply.assert_ok()["themes"]["edges"][0]["node"];
    assert_eq!(
        (&node["tasksCount"], &node["habitsCount"]),
        (&json!(2), &json!(1))
    );

    t.gql_as(
        &ada.access,
        "mutation($v: DeleteThemeInput!) { deleteTheme(input: $v) { theme { name } } }",
        json!({"v": {"id": theme_id}}),
    )
    .await
    .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM tasks WHERE theme_id IS NULL")
            .await,
        2
    );
    assert_eq!(
        t.count("SELECT count(*) FROM habits WHERE theme_id IS NULL")
            .await,
        1
    );
    let reply = t
        .gql_as(
            &ada.access,
            "{ habits { edges { node { theme { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["habits"]["edges"][0]["node"]["theme"],
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_and_recolouring_respect_uniqueness_and_ownership() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    let first = create(&t, &ada, json!({"name": "One", "color": "#000001"})).await;
    let first = first.assert_ok()["createTheme"]["theme"]["id"].clone();
    create(&t, &ada, json!({"name": "Two", "color": "#000002"}))
        .await
        .assert_ok();
    let update =
        "mutation($v: UpdateThemeInput!) { updateTheme(input: $v) { theme { name color } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": first, "name": "two"}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["reason"], "TAKEN");
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"v": {"id": first, "name": "Uno", "color": "#abcdef"}}),
        )
        .await;
    let theme = &reply.assert_ok()["updateTheme"]["theme"];
    assert_eq!(
        (&theme["name"], &theme["color"]),
        (&json!("Uno"), &json!("#ABCDEF"))
    );
    let reply = t
        .gql_as(
            &bob.access,
            update,
            json!({"v": {"id": first, "name": "Mine"}}),
        )
        .await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));
    let reply = t
        .gql_as(
            &bob.access,
            "query($id: ID!) { theme(id: $id) { name } }",
            json!({"id": first}),
        )
        .await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));
}
