use serde_json::json;

use crate::common::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn register_creates_a_user_with_default_budget_and_role() {
    let t = TestApp::new().await;
    let reply = t.register("Ada_L", "  Ada@Example.COM ").await;
    let user = &reply.assert_ok()["register"]["user"];
    assert_eq!(user["username"], "Ada_L");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["budget"], 1000);
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = {id} AND r.name = 'user'"
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn default_budget_comes_from_config() {
    let t = TestApp::with_config(|config| config.default_budget = 250).await;
    assert_eq!(
        t.register("budgeted", "b@example.com").await.assert_ok()["register"]["user"]["budget"],
        250
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_conflict_case_insensitively_and_store_nothing() {
    let t = TestApp::new().await;
    t.register("Grace", "grace@example.com").await.assert_ok();

    let same_name = t.register("gRACE", "other@example.com").await;
    assert_eq!(same_name.code(), Some("CONFLICT"));
    assert_eq!(same_name.error()["extensions"]["reason"], "TAKEN");
    assert_eq!(same_name.error()["extensions"]["field"], "username");

    let same_email = t.register("grace2", "GRACE@example.com").await;
    assert_eq!(same_email.code(), Some("CONFLICT"));
    assert_eq!(same_email.error()["extensions"]["field"], "email");

    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(t.count("SELECT count(*) FROM user_roles").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn register_validates_every_field() {
    let t = TestApp::new().await;
    let long_name = "x".repeat(101);
    let cases = [
        (
            json!({"username": "ab", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "has space", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "valid", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "valid", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "valid", "email": "a@example.com", "password": "password123"}),
            "password",
        ),
        (
            json!({"username": "valid", "email": "a@example.com", "password": "x".repeat(257)}),
            "password",
        ),
        (
            json!({"username": "valid", "email": "a@example.com", "password": PASSWORD, "firstName": long_name}),
            "firstName",
        ),
        (
            json!({"username": "valid", "email": "a@example.com", "password": PASSWORD, "lastName": "a\u{202E}b"}),
            "lastName",
        ),
    ];
    for (input, field) in cases {
        let reply = t
            .gql(
                "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{input}: {:#}",
            reply.body
        );
        assert_eq!(reply.error()["extensions"]["field"], field, "{input}");
    }
    let missing = t
        .gql(
            "mutation { register(input: {username: \"x\"}) { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(missing.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(t.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_updates_names_and_time_zone() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let update = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { firstName lastName timeZone } } }";
    let reply = t
        .gql_as(
            &ada.access,
            update,
            json!({"input": {"firstName": " Ada ", "timeZone": "Europe/Berlin"}}),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["updateProfile"]["user"],
        json!({"firstName": "Ada", "lastName": "", "timeZone": "Europe/Berlin"})
    );
    let bad_zone = t
        .gql_as(
            &ada.access,
            update,
            json!({"input": {"timeZone": "Mars/Base"}}),
        )
        .await;
    assert_eq!(bad_zone.code(), Some("BAD_USER_INPUT"));
    assert_eq!(bad_zone.error()["extensions"]["field"], "timeZone");
    let me = t
        .gql_as(&ada.access, "{ me { firstName timeZone } }", json!({}))
        .await;
    assert_eq!(
        me.assert_ok()["me"],
        json!({"firstName": "Ada", "timeZone": "Europe/Berlin"})
    );

    let anonymous = t.gql(update, json!({"input": {"firstName": "Eve"}})).await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_come_from_roles_on_every_request() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.gql_as(&ada.access, "{ me { id } }", json!({}))
        .await
        .assert_ok();
    t.sql("DELETE FROM role_permissions WHERE permission_id = (SELECT id FROM permissions WHERE name = 'profile:read')")
        .await;
    let reply = t.gql_as(&ada.access, "{ me { id } }", json!({})).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_registrations_of_one_name_create_exactly_one_user() {
    let t = TestApp::new().await;
    let attempts = (0..8).map(|i| {
        let t = &t;
        async move {
            t.register(
                if i % 2 == 0 { "Racer" } else { "racer" },
                &format!("racer{i}@example.com"),
            )
            .await
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let winners = replies
        .iter()
        .filter(|reply| reply.body.get("errors").is_none())
        .count();
    assert_eq!(winners, 1);
    for reply in replies
        .iter()
        .filter(|reply| reply.body.get("errors").is_some())
    {
        assert_eq!(reply.code(), Some("CONFLICT"), "{:#}", reply.body);
        assert_eq!(reply.error()["extensions"]["reason"], "TAKEN");
    }
    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(t.count("SELECT count(*) FROM user_roles").await, 1);
}
