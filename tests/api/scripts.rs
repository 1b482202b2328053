//! The admin scripts in `examples/scripts/` run as a person runs them, against a served app that
//! runs only trusted documents: first run makes the changes, a second run changes nothing, and
//! refusals carry their code.

use std::process::Output;

use serde_json::json;

use crate::common::{PASSWORD, TestApp};

async fn run(program: &str, args: &[&str], url: &str, token: &str) -> Output {
    tokio::process::Command::new(program)
        .args(args)
        .env("AGORA_URL", url)
        .env("AGORA_TOKEN", token)
        .output()
        .await
        .unwrap_or_else(|error| panic!("{program} did not start: {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_and_shell_scripts_provision_a_role_idempotently() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    for name in ["ada", "grace"] {
        t.user(name).await;
    }
    let created = t
        .gql_as(
            &admin.access,
            "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }",
            json!({"v": {"name": "provisioning", "permissions": ["roles:manage", "users:read"], "password": PASSWORD}}),
        )
        .await;
    let token = created.assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Served with trusted documents on, as production would: the token does not hold
    // documents:any, so every document the scripts send must be in the manifest.
    let trusted = t
        .instance_with(|config| {
            config.trusted_documents = Some("examples/trusted-documents.json".into());
        })
        .await;
    let url = format!("http://{}/graphql", trusted.serve().await);
    let dir = std::env::temp_dir().join(format!("agora-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("users.csv");
    std::fs::write(&csv, "team,username\nops,ada\nops, grace \nops,nobody\n").unwrap();
    let csv = csv.to_str().unwrap();
    let python = "examples/scripts/grant_role.py";
    let shell = "examples/scripts/grant_role.sh";
    let runs: [(&str, Vec<&str>); 2] = [
        (
            "python3",
            vec![
                python,
                "--role",
                "support",
                "--permission",
                "users:read",
                "--permission",
                "audit:read",
                csv,
            ],
        ),
        (
            "bash",
            vec![shell, "helpdesk", "users:read audit:read", csv],
        ),
    ];
    for (program, args) in &runs {
        let first = run(program, args, &url, &token).await;
        let (out, err) = (text(&first.stdout), text(&first.stderr));
        assert_eq!(first.status.code(), Some(1), "{program}: {out}{err}");
        assert!(out.contains(": created"), "{program}: {out}");
        assert!(
            out.contains("users:read to") && out.contains(": granted"),
            "{program}: {out}"
        );
        assert!(
            out.contains("to ada: assigned") && out.contains("to grace: assigned"),
            "{program}: {out}"
        );
        assert!(out.ends_with("4 changed, 2 failed\n"), "{program}: {out}");
        // The token holds roles:manage and users:read, so granting audit:read is refused by the
        // server; an unknown username is the script's own finding.
        assert!(
            err.contains("audit:read to") && err.contains("FORBIDDEN"),
            "{program}: {err}"
        );
        assert!(err.contains("to nobody: NOT_FOUND"), "{program}: {err}");

        let again = run(program, args, &url, &token).await;
        let out = text(&again.stdout);
        assert!(
            out.contains(": exists") && out.contains("to ada: already held"),
            "{program}: {out}"
        );
        assert!(out.ends_with("0 changed, 2 failed\n"), "{program}: {out}");
    }
    for role in ["support", "helpdesk"] {
        assert_eq!(
            t.count(&format!(
                "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                 JOIN role_permissions rp ON rp.role_id = r.id
                 JOIN permissions p ON p.id = rp.permission_id
                 WHERE r.name = '{role}' AND p.name = 'users:read'"
            ))
            .await,
            2,
            "{role}: held by ada and grace, granted users:read once"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
