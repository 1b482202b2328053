//! The one-machine default, on the real binary: no `DATABASE_URL` and nothing at the default
//! address, so `agora serve` runs a private PostgreSQL in its data folder, as an unprivileged
//! user (PostgreSQL refuses root), keeps data across restarts and stops it on exit.
//!
//! "Nothing at the default address" is made true with a network namespace of the test's own
//! (the machine's PostgreSQL listens on 127.0.0.1:5432 outside it), which needs root to create;
//! the server itself then runs as `nobody`. Without root the test says so and passes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SCRIPT: &str = r#"
set -eu
ip link set lo up
# Call it in a subshell: it execs, so `$!` is the server itself.
as_nobody() {
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env -i PATH=/usr/bin:/bin HOME="$DIR" AGORA_DATA_DIR="$DIR/data" AGORA_LISTEN=127.0.0.1:18080 \
    AGORA_ARGON2_M_KIB=256 AGORA_ARGON2_T=1 RUST_LOG=info "$DIR/agora" "$@"
}
run() {
  (as_nobody serve 2>>"$DIR/server.log") &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf http://127.0.0.1:18080/readyz >"$DIR/ready-$1.json" && break
    sleep 0.1
  done
  curl -s -H 'content-type: application/json' http://127.0.0.1:18080/graphql -d "$2" >"$DIR/answer-$1.json"
  (as_nobody admin list-users >"$DIR/users-$1.txt" 2>>"$DIR/server.log")
  kill -TERM "$pid"
  wait "$pid" && echo 0 >"$DIR/exit-$1" || echo $? >"$DIR/exit-$1"
}
run first '{"query":"mutation { register(input: {username: \"solo\", email: \"solo@example.com\", password: \"correct horse battery staple\"}) { user { username } } }"}'
run second '{"query":"mutation { login(input: {login: \"solo\", password: \"correct horse battery staple\"}) { __typename } }"}'
env -i PATH=/usr/bin:/bin HOME="$DIR" AGORA_DATA_DIR="$DIR/as-root" "$DIR/agora" serve \
  2>"$DIR/root.log" && echo 0 >"$DIR/exit-root" || echo $? >"$DIR/exit-root"
"#;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[test]
fn without_a_database_serve_runs_its_own_postgres_as_an_unprivileged_user() {
    let is_root = std::fs::metadata("/proc/self")
        .map(|process| std::os::unix::fs::MetadataExt::uid(&process) == 0)
        .unwrap_or(false);
    if !is_root {
        eprintln!("skipped: needs root for a network namespace (and to switch to `nobody`)");
        return;
    }
    let namespaces = Command::new("unshare").args(["--net", "true"]).status();
    if !namespaces.is_ok_and(|status| status.success()) {
        eprintln!(
            "skipped: this machine refuses a network namespace (`unshare --net`) even to root"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("agora_embedded_{}", crate::common::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    // The binary and the folder must be reachable for `nobody`.
    std::fs::copy(env!("CARGO_BIN_EXE_agora"), dir.join("agora")).unwrap();
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("unshare")
        .args(["--net", "sh", "-c", SCRIPT])
        .env("DIR", &dir)
        .status()
        .unwrap();
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(status.success(), "{log}");

    let ready = read_json(&dir.join("ready-first.json"));
    assert_eq!(ready["status"], "ready", "{log}");
    assert_eq!(
        read_json(&dir.join("answer-first.json"))["data"]["register"]["user"]["username"],
        "solo",
        "{log}"
    );
    // Restarted on the same folder: the account is still there.
    assert_eq!(
        read_json(&dir.join("answer-second.json"))["data"]["login"]["__typename"],
        "AuthPayload",
        "{log}"
    );
    // An admin command while the server runs uses the server's cluster.
    let users = std::fs::read_to_string(dir.join("users-first.txt")).unwrap_or_default();
    assert!(users.contains("solo"), "{users}\n{log}");
    for run in ["first", "second"] {
        let code = std::fs::read_to_string(dir.join(format!("exit-{run}"))).unwrap();
        assert_eq!(code.trim(), "0", "{run} exit: {log}");
    }
    assert_eq!(
        log.matches("started an embedded PostgreSQL").count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("stopped the embedded PostgreSQL").count(), 2);
    assert!(
        !dir.join("data/postgres/postmaster.pid").exists(),
        "the cluster was stopped"
    );
    // As root it refuses at once, saying why and what to do instead.
    let root_log = std::fs::read_to_string(dir.join("root.log")).unwrap();
    assert_ne!(
        std::fs::read_to_string(dir.join("exit-root"))
            .unwrap()
            .trim(),
        "0"
    );
    assert!(root_log.contains("refuses to run as root"), "{root_log}");
    let _ = std::fs::remove_dir_all(&dir);
}
