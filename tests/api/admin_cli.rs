use agora::admin::{AdminCommand, run};
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

pub(crate) async fn admin(
    t: &TestApp,
    command: AdminCommand,
    password: &str,
) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let password = password.to_owned();
    run(
        &t.app,
        command,
        move || Ok(format!("{password}\n")),
        &mut out,
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_is_made_from_the_shell() {
    let t = TestApp::new().await;
    let create = AdminCommand::CreateUser {
        username: "root".into(),
        email: "root@example.com".into(),
        roles: vec!["Admin".into()],
        first_name: String::new(),
        last_name: String::new(),
    };
    let said = admin(&t, create, PASSWORD).await.unwrap();
    assert!(said.starts_with("created user root"), "{said}");
    let root = t.sign_in("root").await;
    let roles = t
        .gql_as(&root.access, "{ me { roles { name } } }", json!({}))
        .await;
    assert_eq!(
        roles.assert_ok()["me"]["roles"],
        json!([{"name": "admin"}, {"name": "user"}])
    );
    t.gql_as(&root.access, "{ auditLog { totalCount } }", json!({}))
        .await
        .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'user.create' AND actor_id IS NULL AND metadata->>'via' = 'cli'").await,
        1
    );

    t.user("ada").await;
    let grant = AdminCommand::GrantRole {
        user: "ADA".into(),
        role: "admin".into(),
    };
    assert_eq!(
        admin(&t, grant, "").await.unwrap(),
        "ADA: granted role admin\n"
    );
    let again = AdminCommand::GrantRole {
        user: "ada@example.com".into(),
        role: "admin".into(),
    };
    assert_eq!(
        admin(&t, again, "").await.unwrap(),
        "ada@example.com: already had role admin\n"
    );

    let listed = admin(&t, AdminCommand::ListUsers { search: None }, "")
        .await
        .unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].ends_with("\troot\troot@example.com\tactive\tadmin,user"),
        "{listed}"
    );
    assert!(lines[1].contains("\tada\t"));
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_administration_refuses_bad_input_without_writing() {
    let t = TestApp::new().await;
    let weak = AdminCommand::CreateUser {
        username: "root".into(),
        email: "root@example.com".into(),
        roles: vec![],
        first_name: String::new(),
        last_name: String::new(),
    };
    let error = admin(&t, weak, "password1").await.unwrap_err().to_string();
    assert!(error.contains("too common"), "{error}");
    let no_such_role = AdminCommand::CreateUser {
        username: "root".into(),
        email: "root@example.com".into(),
        roles: vec!["emperor".into()],
        first_name: String::new(),
        last_name: String::new(),
    };
    let error = admin(&t, no_such_role, PASSWORD)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(error, "Role \"emperor\" not found");
    assert_eq!(
        t.count("SELECT count(*) FROM users").await,
        0,
        "the failed create left nothing behind"
    );
    let missing = AdminCommand::GrantRole {
        user: "ghost".into(),
        role: "admin".into(),
    };
    assert_eq!(
        admin(&t, missing, "").await.unwrap_err().to_string(),
        "User \"ghost\" not found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_data_is_deterministic_consistent_and_rerunnable() {
    let t = TestApp::new().await;
    for _ in 0..2 {
        let said = admin(
            &t,
            AdminCommand::SeedDemo {
                users: 5,
                items: 40,
                habits: 10,
                tasks: 7,
            },
            "",
        )
        .await
        .unwrap();
        assert!(
            said.starts_with(
                "demo data: 5 users, 40 items, 20 held by users, demo00001 has 10 habits"
            ),
            "{said}"
        );
        assert!(said.contains(" and 7 tasks"), "{said}");
    }
    assert_eq!(t.count("SELECT count(*) FROM habits").await, 10);
    assert_eq!(
        t.count("SELECT count(DISTINCT kind) FROM habits").await,
        5,
        "every kind of schedule"
    );
    // Two years of the daily habit, four of five days done.
    let daily_done = t
        .count("SELECT count(*) FROM habit_completions c JOIN habits h ON h.id = c.habit_id WHERE h.name = 'Demo habit 001'")
        .await;
    assert!((580..=590).contains(&daily_done), "{daily_done}");
    assert_eq!(
        t.count("SELECT count(*) FROM tasks WHERE status = 'DONE' AND completed_at IS NOT NULL")
            .await,
        2
    );
    assert_eq!(t.count("SELECT count(*) FROM users").await, 5);
    assert_eq!(t.count("SELECT count(*) FROM items").await, 40);
    assert_eq!(
        t.count("SELECT count(*) FROM market_transactions WHERE kind = 'PURCHASE'")
            .await,
        20
    );
    let holdings = t
        .count("SELECT sum(price) FROM items WHERE owner_id IS NOT NULL")
        .await;
    assert_eq!(
        t.count("SELECT sum(budget) FROM users").await + holdings,
        5 * 1000
    );
    let demo = t.login("demo00003", agora::admin::DEMO_PASSWORD).await;
    demo.assert_ok();
}

/// The binary as a script runs it: the database named on the command line, no AGORA_SECRET (an
/// admin command signs no tokens, so it has nothing to warn about).
#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_take_the_database_url_and_do_not_warn_about_the_secret() {
    let t = TestApp::new().await;
    t.user("ada").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["admin", "--database-url", &t.app.config.database_url])
        .args(["list-users"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("ada"), "{stdout}");
    assert!(!stderr.contains("AGORA_SECRET"), "{stderr}");
}
