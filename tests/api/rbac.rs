use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const ROLE_COUNTS: &str =
    "SELECT (SELECT count(*) FROM roles) * 1000000 + (SELECT count(*) FROM permissions) * 10000
    + (SELECT count(*) FROM role_permissions) * 100 + (SELECT count(*) FROM user_roles)";

struct Fixture {
    t: TestApp,
    admin: Tokens,
    user: Tokens,
    admin_role: String,
    user_role: String,
}

async fn fixture() -> Fixture {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let user = t.user("ordinary").await;
    let admin_role = t.id_of("SELECT id FROM roles WHERE name = 'admin'").await;
    let user_role = t.id_of("SELECT id FROM roles WHERE name = 'user'").await;
    Fixture {
        t,
        admin,
        user,
        admin_role,
        user_role,
    }
}

async fn permission_id(t: &TestApp, name: &str) -> String {
    t.id_of(&format!("SELECT id FROM permissions WHERE name = '{name}'"))
        .await
}

/// Every admin mutation with arguments that would succeed for an administrator.
fn admin_mutations(f: &Fixture, audit_read: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "mutation($v: CreateRoleInput!) { createRole(input: $v) { role { id } } }",
            json!({"name": "sneaky"}),
        ),
        (
            "mutation($v: UpdateRoleInput!) { updateRole(input: $v) { role { id } } }",
            json!({"id": f.user_role, "description": "x"}),
        ),
        (
            "mutation($v: DeleteInput!) { deleteRole(input: $v) { role { id } } }",
            json!({"id": f.admin_role}),
        ),
        (
            "mutation($v: CreatePermissionInput!) { createPermission(input: $v) { permission { id } } }",
            json!({"name": "x:y"}),
        ),
        (
            "mutation($v: DeleteInput!) { deletePermission(input: $v) { permission { id } } }",
            json!({"id": audit_read}),
        ),
        (
            "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }",
            json!({"roleId": f.user_role, "permissionId": audit_read}),
        ),
        (
            "mutation($v: RolePermissionInput!) { revokePermission(input: $v) { changed } }",
            json!({"roleId": f.admin_role, "permissionId": audit_read}),
        ),
        (
            "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
            json!({"userId": f.user.user_id, "roleId": f.admin_role}),
        ),
        (
            "mutation($v: UserRoleInput!) { unassignRole(input: $v) { changed } }",
            json!({"userId": f.admin.user_id, "roleId": f.admin_role}),
        ),
        (
            "mutation($v: SetUserActiveInput!) { setUserActive(input: $v) { sessionsRevoked } }",
            json!({"userId": f.admin.user_id, "active": false}),
        ),
        (
            "mutation($v: CreateUserInput!) { createUser(input: $v) { user { id } } }",
            json!({"username": "made", "email": "made@example.com", "password": "a fine long password"}),
        ),
        (
            "mutation($v: UpdateUserInput!) { updateUser(input: $v) { user { id } } }",
            json!({"id": f.admin.user_id, "username": "hijacked"}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_and_anonymous_callers_change_nothing() {
    let f = fixture().await;
    let t = &f.t;
    let audit_read = permission_id(t, "audit:read").await;
    let before = (
        t.count(ROLE_COUNTS).await,
        t.count("SELECT count(*) FROM users WHERE is_active").await,
    );
    for (mutation, input) in admin_mutations(&f, &audit_read) {
        let as_user = t
            .gql_as(&f.user.access, mutation, json!({"v": input}))
            .await;
        assert_eq!(
            as_user.code(),
            Some("FORBIDDEN"),
            "{mutation}: {:#}",
            as_user.body
        );
        let anonymous = t.gql(mutation, json!({"v": input})).await;
        assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"), "{mutation}");
    }
    let after = (
        t.count(ROLE_COUNTS).await,
        t.count("SELECT count(*) FROM users WHERE is_active").await,
    );
    assert_eq!(before, after);
    assert_eq!(
        t.count("SELECT count(*) FROM users WHERE username = 'hijacked'")
            .await,
        0
    );
    let denials = t
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor_id = {}",
            f.user.user_id
        ))
        .await;
    assert_eq!(denials, 12);
    for query in [
        "{ roles { id } }",
        "{ permissions { id } }",
        "{ users { totalCount } }",
        "{ auditLog { totalCount } }",
    ] {
        assert_eq!(
            t.gql_as(&f.user.access, query, json!({})).await.code(),
            Some("FORBIDDEN"),
            "{query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_roles_and_permissions() {
    let f = fixture().await;
    let t = &f.t;
    let created = t
        .gql_as(&f.admin.access, "mutation { createPermission(input: {name: \"reports:read\", description: \"Reports\"}) { permission { id name } } }", json!({}))
        .await;
    let permission = created.assert_ok()["createPermission"]["permission"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = t
        .gql_as(
            &f.admin.access,
            "mutation { createRole(input: {name: \"Analyst\"}) { role { id name isSystem } } }",
            json!({}),
        )
        .await;
    let role = role.assert_ok()["createRole"]["role"].clone();
    assert_eq!(role["isSystem"], false);
    let role_id = role["id"].as_str().unwrap().to_owned();

    let duplicate = t
        .gql_as(
            &f.admin.access,
            "mutation { createRole(input: {name: \"analyst\"}) { role { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        (
            duplicate.code(),
            duplicate.error()["extensions"]["reason"].as_str()
        ),
        (Some("CONFLICT"), Some("TAKEN"))
    );

    // A new permission belongs to admin at once, so admins can hand it out.
    let grant = "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed role { permissions { name } } } }";
    let variables = json!({"v": {"roleId": role_id, "permissionId": permission}});
    let first = t.gql_as(&f.admin.access, grant, variables.clone()).await;
    assert_eq!(first.assert_ok()["grantPermission"]["changed"], true);
    assert_eq!(
        first.data()["grantPermission"]["role"]["permissions"],
        json!([{"name": "reports:read"}])
    );
    let again = t.gql_as(&f.admin.access, grant, variables).await;
    assert_eq!(again.assert_ok()["grantPermission"]["changed"], false);

    let assign = "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed user { roles { name } permissions } } }";
    let variables = json!({"v": {"userId": f.user.user_id, "roleId": role_id}});
    assert_eq!(
        t.gql_as(&f.admin.access, assign, variables.clone())
            .await
            .assert_ok()["assignRole"]["changed"],
        true
    );
    let twice = t.gql_as(&f.admin.access, assign, variables).await;
    assert_eq!(twice.assert_ok()["assignRole"]["changed"], false);
    assert_eq!(
        twice.data()["assignRole"]["user"]["roles"],
        json!([{"name": "Analyst"}, {"name": "user"}])
    );
    assert!(
        twice.data()["assignRole"]["user"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:read"))
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM user_roles WHERE user_id = {}",
            f.user.user_id
        ))
        .await,
        2
    );

    let me = t
        .gql_as(
            &f.user.access,
            "{ me { permissions roles { name } } }",
            json!({}),
        )
        .await;
    assert!(
        me.assert_ok()["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:read"))
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action IN ('permission.create', 'role.create', 'role.grant_permission', 'user.assign_role')").await,
        4,
        "each change is audited once; no-ops are not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_hands_out_permissions_they_do_not_hold() {
    let f = fixture().await;
    let t = &f.t;
    // A delegate manages roles but may not read the audit log.
    let delegate = t.user("delegate").await;
    let role = t
        .gql_as(
            &f.admin.access,
            "mutation { createRole(input: {name: \"role managers\"}) { role { id } } }",
            json!({}),
        )
        .await;
    let role_id = role.assert_ok()["createRole"]["role"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles_manage = permission_id(t, "roles:manage").await;
    let grant = "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }";
    t.gql_as(
        &f.admin.access,
        grant,
        json!({"v": {"roleId": role_id, "permissionId": roles_manage}}),
    )
    .await
    .assert_ok();
    let assign = "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }";
    t.gql_as(
        &f.admin.access,
        assign,
        json!({"v": {"userId": delegate.user_id, "roleId": role_id}}),
    )
    .await
    .assert_ok();

    let audit_read = permission_id(t, "audit:read").await;
    let escalate = t
        .gql_as(
            &delegate.access,
            grant,
            json!({"v": {"roleId": role_id, "permissionId": audit_read}}),
        )
        .await;
    assert_eq!(escalate.code(), Some("FORBIDDEN"));
    assert_eq!(escalate.error()["message"], "Missing permission audit:read");
    let to_admin = t
        .gql_as(
            &delegate.access,
            assign,
            json!({"v": {"userId": delegate.user_id, "roleId": f.admin_role}}),
        )
        .await;
    assert_eq!(to_admin.code(), Some("FORBIDDEN"));
    let message = to_admin.error()["message"].as_str().unwrap();
    assert!(
        message.starts_with("Missing permissions ") && message.contains("audit:read"),
        "names what the delegate lacks: {message}"
    );
    let no_such_user = t
        .gql_as(
            &f.admin.access,
            assign,
            json!({"v": {"userId": "999999", "roleId": role_id}}),
        )
        .await;
    assert_eq!(no_such_user.code(), Some("NOT_FOUND"));
    assert_eq!(no_such_user.error()["message"], "User 999999 not found");
    let no_such_role = t
        .gql_as(
            &f.admin.access,
            assign,
            json!({"v": {"userId": delegate.user_id, "roleId": "999999"}}),
        )
        .await;
    assert_eq!(no_such_role.error()["message"], "Role 999999 not found");
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM user_roles WHERE user_id = {}",
            delegate.user_id
        ))
        .await,
        2
    );
    // What they do hold, they may hand on.
    let ok = t
        .gql_as(
            &delegate.access,
            assign,
            json!({"v": {"userId": f.user.user_id, "roleId": role_id}}),
        )
        .await;
    assert_eq!(ok.assert_ok()["assignRole"]["changed"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_role_manager_cannot_be_removed() {
    let f = fixture().await;
    let t = &f.t;
    let roles_manage = permission_id(t, "roles:manage").await;
    let attempts = [
        (
            "mutation($v: UserRoleInput!) { unassignRole(input: $v) { changed } }",
            json!({"userId": f.admin.user_id, "roleId": f.admin_role}),
        ),
        (
            "mutation($v: SetUserActiveInput!) { setUserActive(input: $v) { sessionsRevoked } }",
            json!({"userId": f.admin.user_id, "active": false}),
        ),
        (
            "mutation($v: RolePermissionInput!) { revokePermission(input: $v) { changed } }",
            json!({"roleId": f.admin_role, "permissionId": roles_manage}),
        ),
    ];
    for (mutation, input) in attempts {
        let reply = t
            .gql_as(&f.admin.access, mutation, json!({"v": input}))
            .await;
        assert_eq!(
            reply.code(),
            Some("CONFLICT"),
            "{mutation}: {:#}",
            reply.body
        );
        assert_eq!(reply.error()["extensions"]["reason"], "LAST_ADMIN");
    }
    let delete = t
        .gql_as(
            &f.admin.access,
            "mutation($v: DeleteInput!) { deleteRole(input: $v) { role { id } } }",
            json!({"v": {"id": f.admin_role}}),
        )
        .await;
    assert_eq!(delete.error()["extensions"]["reason"], "SYSTEM");
    assert_eq!(
        t.me_refused(&f.admin.access).await,
        None,
        "the admin is still active and signed in"
    );
    assert_eq!(t.count("SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'admin'").await, 1);

    // With a second admin, one may step down.
    let second = t.admin("second").await;
    let step_down = t
        .gql_as(
            &second.access,
            "mutation($v: UserRoleInput!) { unassignRole(input: $v) { changed } }",
            json!({"v": {"userId": f.admin.user_id, "roleId": f.admin_role}}),
        )
        .await;
    assert_eq!(step_down.assert_ok()["unassignRole"]["changed"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_demoting_each_other_at_once_leave_one() {
    let t = TestApp::new().await;
    let a = t.admin("alpha").await;
    let b = t.admin("bravo").await;
    let admin_role = t.id_of("SELECT id FROM roles WHERE name = 'admin'").await;
    let demote = "mutation($v: UserRoleInput!) { unassignRole(input: $v) { changed } }";
    let admins = "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'admin'";
    for _ in 0..20 {
        t.sql(&format!(
            "INSERT INTO user_roles (user_id, role_id, created_at) VALUES ({}, {admin_role}, now()), ({}, {admin_role}, now()) ON CONFLICT DO NOTHING",
            a.user_id, b.user_id
        ))
        .await;
        let (a_demotes_b, b_demotes_a) = tokio::join!(
            t.gql_as(
                &a.access,
                demote,
                json!({"v": {"userId": b.user_id, "roleId": admin_role}})
            ),
            t.gql_as(
                &b.access,
                demote,
                json!({"v": {"userId": a.user_id, "roleId": admin_role}})
            ),
        );
        let outcomes = [a_demotes_b.code(), b_demotes_a.code()];
        assert!(
            outcomes.contains(&None),
            "one demotion succeeds: {outcomes:?}"
        );
        // The loser is refused by the locked check when the requests overlapped, or by the
        // guard when it started after the winner committed: it no longer holds roles:manage.
        let loser = if a_demotes_b.code().is_some() {
            &a_demotes_b
        } else {
            &b_demotes_a
        };
        match loser.code() {
            Some("CONFLICT") => assert_eq!(loser.error()["extensions"]["reason"], "LAST_ADMIN"),
            other => assert_eq!(
                other,
                Some("FORBIDDEN"),
                "the other is refused: {outcomes:?}"
            ),
        }
        assert_eq!(t.count(admins).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn role_and_permission_changes_act_on_the_next_request() {
    let f = fixture().await;
    let t = &f.t;
    let role = t
        .gql_as(
            &f.admin.access,
            "mutation { createRole(input: {name: \"auditors\"}) { role { id } } }",
            json!({}),
        )
        .await;
    let role_id = role.assert_ok()["createRole"]["role"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit_read = permission_id(t, "audit:read").await;
    let link = json!({"v": {"roleId": role_id, "permissionId": audit_read}});
    t.gql_as(
        &f.admin.access,
        "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }",
        link.clone(),
    )
    .await
    .assert_ok();
    t.gql_as(
        &f.admin.access,
        "mutation($v: UserRoleInput!) { assignRole(input: $v) { changed } }",
        json!({"v": {"userId": f.user.user_id, "roleId": role_id}}),
    )
    .await
    .assert_ok();
    let read_log = "{ auditLog(first: 1) { totalCount } }";
    t.gql_as(&f.user.access, read_log, json!({}))
        .await
        .assert_ok();

    t.gql_as(
        &f.admin.access,
        "mutation($v: RolePermissionInput!) { revokePermission(input: $v) { changed } }",
        link.clone(),
    )
    .await
    .assert_ok();
    assert_eq!(
        t.gql_as(&f.user.access, read_log, json!({})).await.code(),
        Some("FORBIDDEN")
    );

    t.gql_as(
        &f.admin.access,
        "mutation($v: RolePermissionInput!) { grantPermission(input: $v) { changed } }",
        link,
    )
    .await
    .assert_ok();
    t.gql_as(&f.user.access, read_log, json!({}))
        .await
        .assert_ok();
    let deleted = t
        .gql_as(
            &f.admin.access,
            "mutation($v: DeleteInput!) { deleteRole(input: $v) { role { name } } }",
            json!({"v": {"id": role_id}}),
        )
        .await;
    assert_eq!(
        deleted.assert_ok()["deleteRole"]["role"]["name"],
        "auditors"
    );
    assert_eq!(
        t.gql_as(&f.user.access, read_log, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM user_roles WHERE user_id = {}",
            f.user.user_id
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_permission_sets_follow_changes_made_anywhere() {
    let f = fixture().await;
    let t = &f.t;
    let browse = "{ marketItems(first: 1) { nodes { id } } }";
    let statements_for = |token: &str| {
        let token = token.to_owned();
        async move {
            let before = agora::metrics::statements_sent();
            let reply = t.gql_as(&token, browse, json!({})).await;
            (reply, agora::metrics::statements_sent() - before)
        }
    };
    let (first, _) = statements_for(&f.user.access).await;
    first.assert_ok();
    let (again, statements) = statements_for(&f.user.access).await;
    again.assert_ok();
    assert_eq!(
        statements, 2,
        "the session with the epoch, then the page: the permission set was kept"
    );

    // Changed behind the API's back, as another instance or an operator would: the triggers
    // move the epoch on, and the next request reads the set afresh.
    let revoke = "DELETE FROM role_permissions WHERE permission_id =
        (SELECT id FROM permissions WHERE name = 'market:trade')";
    t.sql(revoke).await;
    assert_eq!(
        statements_for(&f.user.access).await.0.code(),
        Some("FORBIDDEN")
    );
    t.sql(&format!(
        "INSERT INTO role_permissions (role_id, permission_id)
         SELECT {}, id FROM permissions WHERE name = 'market:trade'",
        f.user_role
    ))
    .await;
    statements_for(&f.user.access).await.0.assert_ok();
    t.sql(&format!(
        "DELETE FROM user_roles WHERE user_id = {}",
        f.user.user_id
    ))
    .await;
    assert_eq!(
        statements_for(&f.user.access).await.0.code(),
        Some("FORBIDDEN")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn system_roles_and_permissions_stay() {
    let f = fixture().await;
    let t = &f.t;
    let delete_role = "mutation($v: DeleteInput!) { deleteRole(input: $v) { role { id } } }";
    let reply = t
        .gql_as(
            &f.admin.access,
            delete_role,
            json!({"v": {"id": f.user_role}}),
        )
        .await;
    assert_eq!(
        (reply.code(), reply.error()["extensions"]["reason"].as_str()),
        (Some("CONFLICT"), Some("SYSTEM"))
    );
    let profile_read = permission_id(t, "profile:read").await;
    let reply = t
        .gql_as(
            &f.admin.access,
            "mutation($v: DeleteInput!) { deletePermission(input: $v) { permission { id } } }",
            json!({"v": {"id": profile_read}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["reason"], "SYSTEM");
    let rename = t
        .gql_as(
            &f.admin.access,
            "mutation($v: UpdateRoleInput!) { updateRole(input: $v) { role { name } } }",
            json!({"v": {"id": f.admin_role, "name": "boss"}}),
        )
        .await;
    assert_eq!(rename.error()["extensions"]["reason"], "SYSTEM");
    let missing = t
        .gql_as(&f.admin.access, delete_role, json!({"v": {"id": "987654"}}))
        .await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));
    let bad_name = t
        .gql_as(
            &f.admin.access,
            "mutation { createPermission(input: {name: \"Not Valid\"}) { permission { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        (
            bad_name.code(),
            bad_name.error()["extensions"]["field"].as_str()
        ),
        (Some("BAD_USER_INPUT"), Some("name"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_find_create_update_and_deactivate_users() {
    let f = fixture().await;
    let t = &f.t;
    let create = "mutation($v: CreateUserInput!) { createUser(input: $v) { user { id username budget roles { name } } } }";
    for (username, email) in [
        ("pct_50%", "pct@example.com"),
        ("under_score", "u@example.com"),
        ("plain", "plain@example.com"),
    ] {
        let reply = t
            .gql_as(&f.admin.access, create, json!({"v": {"username": username, "email": email, "password": "a fine long password"}}))
            .await;
        if username.contains('%') {
            assert_eq!(reply.error()["extensions"]["field"], "username");
            continue;
        }
        assert_eq!(
            reply.assert_ok()["createUser"]["user"]["roles"],
            json!([{"name": "user"}])
        );
    }
    let search = "query($f: UsersFilter) { users(first: 10, filter: $f) { totalCount edges { node { username roles { name } } } } }";
    let names = |reply: &crate::common::Reply| -> Vec<String> {
        reply.assert_ok()["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["username"].as_str().unwrap().to_owned())
            .collect()
    };
    // `_` is literal: "r_" matches "under_score" only, not "ordinary" or "root".
    assert_eq!(
        names(
            &t.gql_as(&f.admin.access, search, json!({"f": {"search": "r_"}}))
                .await
        ),
        ["under_score"]
    );
    assert_eq!(
        names(
            &t.gql_as(&f.admin.access, search, json!({"f": {"search": "%"}}))
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &t.gql_as(
                &f.admin.access,
                search,
                json!({"f": {"search": "EXAMPLE.com", "roleId": f.admin_role}})
            )
            .await
        ),
        ["root"]
    );

    let update = "mutation($v: UpdateUserInput!) { updateUser(input: $v) { user { username email firstName } } }";
    let changed = t
        .gql_as(
            &f.admin.access,
            update,
            json!({"v": {"id": f.user.user_id, "email": "New@Example.com", "firstName": "Orla"}}),
        )
        .await;
    assert_eq!(
        changed.assert_ok()["updateUser"]["user"],
        json!({"username": "ordinary", "email": "new@example.com", "firstName": "Orla"})
    );
    let taken = t
        .gql_as(
            &f.admin.access,
            update,
            json!({"v": {"id": f.user.user_id, "username": "ROOT"}}),
        )
        .await;
    assert_eq!(taken.error()["extensions"]["reason"], "TAKEN");
    let mass_assignment = t
        .gql_as(
            &f.admin.access,
            update,
            json!({"v": {"id": f.user.user_id, "isActive": false, "budget": 99999}}),
        )
        .await;
    assert_eq!(mass_assignment.code(), Some("GRAPHQL_VALIDATION_FAILED"));

    let deactivate = "mutation($v: SetUserActiveInput!) { setUserActive(input: $v) { sessionsRevoked user { isActive } } }";
    let reply = t
        .gql_as(
            &f.admin.access,
            deactivate,
            json!({"v": {"userId": f.user.user_id, "active": false}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["setUserActive"]["sessionsRevoked"], 1);
    assert_eq!(
        t.me_refused(&f.user.access).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let inactive = t
        .gql_as(&f.admin.access, search, json!({"f": {"active": false}}))
        .await;
    assert_eq!(names(&inactive), ["ordinary"]);
    let single = t
        .gql_as(
            &f.admin.access,
            "query($id: ID!) { user(id: $id) { isActive } }",
            json!({"id": f.user.user_id}),
        )
        .await;
    assert_eq!(single.assert_ok()["user"]["isActive"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_see_only_their_own_access() {
    let f = fixture().await;
    let t = &f.t;
    let me = t
        .gql_as(
            &f.user.access,
            "{ me { roles { name } permissions } }",
            json!({}),
        )
        .await;
    let me = &me.assert_ok()["me"];
    assert_eq!(me["roles"], json!([{"name": "user"}]));
    assert!(
        !me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("roles:manage"))
    );
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("profile:read"))
    );
}
