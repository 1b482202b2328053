//! The one-machine default, on the real binary: no `DATABASE_URL` and nothing at the default
//! address, so `agora serve` runs a private PostgreSQL in its data folder, as an unprivileged
//! user (PostgreSQL refuses root), keeps data across restarts and stops it on exit.
//!
//! "Nothing at the default address" is made true with a network namespace of the test's own
//! (the machine's PostgreSQL listens on 127.0.0.1:5432 outside it), which needs root to create;
//! the server itself then runs as `nobody`. Without root the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What every scenario starts with: loopback up, and `as_nobody` to run the binary as `nobody`
/// with the folder's data (`AGORA_PATH` replaces `PATH`, to hide the installed PostgreSQL;
/// `DATA` names another data folder).
const PRELUDE: &str = r#"
set -eu
ip link set lo up
# Call it in a subshell: it execs, so `$!` is the server itself.
as_nobody() {
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env -i PATH="${AGORA_PATH:-/usr/bin:/bin}" HOME="$DIR" AGORA_DATA_DIR="$DIR/${DATA:-data}" \
    AGORA_LISTEN=127.0.0.1:18080 AGORA_METRICS_LISTEN=off \
    AGORA_ARGON2_M_KIB=256 AGORA_ARGON2_T=1 RUST_LOG=info "$DIR/agora" "$@"
}
ready() {
  for _ in $(seq 1 300); do
    curl -sf http://127.0.0.1:18080/readyz >"$DIR/ready-$1.json" && return 0
    sleep 0.1
  done
}
"#;

const SCRIPT: &str = r#"
run() {
  (as_nobody serve 2>>"$DIR/server.log") &
  pid=$!
  ready "$1"
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

/// Runs `script` as root in a network namespace of its own with `DIR` a folder `nobody` owns
/// (holding a copy of the binary), and returns the folder; `None`, having said why, where this
/// machine cannot.
fn in_a_namespace(script: &str) -> Option<PathBuf> {
    let is_root = std::fs::metadata("/proc/self")
        .map(|process| std::os::unix::fs::MetadataExt::uid(&process) == 0)
        .unwrap_or(false);
    if !is_root {
        eprintln!("skipped: needs root for a network namespace (and to switch to `nobody`)");
        return None;
    }
    let namespaces = Command::new("unshare").args(["--net", "true"]).status();
    if !namespaces.is_ok_and(|status| status.success()) {
        eprintln!(
            "skipped: this machine refuses a network namespace (`unshare --net`) even to root"
        );
        return None;
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
        .args(["--net", "sh", "-c", &format!("{PRELUDE}{script}")])
        .env("DIR", &dir)
        .status()
        .unwrap();
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(status.success(), "{log}");
    Some(dir)
}

#[test]
fn without_a_database_serve_runs_its_own_postgres_as_an_unprivileged_user() {
    let Some(dir) = in_a_namespace(SCRIPT) else {
        return;
    };
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
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

/// `kill -9` leaves the cluster running with nobody to stop it; the next `serve` adopts it and
/// stops it on exit. With no PostgreSQL installed and no network, the error says what to do.
const ORPHAN_AND_OFFLINE: &str = r#"
(as_nobody serve 2>>"$DIR/server.log") &
pid=$!
ready killed
kill -KILL "$pid"
wait "$pid" || true
head -1 "$DIR/data/postgres/postmaster.pid" >"$DIR/orphan.pid"
# Running, not a zombie that nobody has reaped yet.
running() {
  state=$(awk '/^State:/ {print $2}' "/proc/$(cat "$DIR/orphan.pid")/status" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ]
}
running && echo alive >"$DIR/orphan-after-kill"
(as_nobody serve 2>>"$DIR/server.log") &
pid=$!
ready adopter
kill -TERM "$pid"
wait "$pid" && echo 0 >"$DIR/exit-adopter" || echo $? >"$DIR/exit-adopter"
running && echo alive >"$DIR/orphan-after-adopter" || true
# Whatever the outcome, leave no cluster behind.
running && kill "$(cat "$DIR/orphan.pid")" || true
mkdir -p "$DIR/nothing"
(AGORA_PATH="$DIR/nothing" DATA=offline as_nobody serve 2>"$DIR/offline.log"; echo $? >"$DIR/exit-offline") || true
"#;

#[test]
fn an_orphaned_cluster_is_adopted_and_an_offline_machine_is_told_what_to_install() {
    let Some(dir) = in_a_namespace(ORPHAN_AND_OFFLINE) else {
        return;
    };
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert_eq!(
        read_json(&dir.join("ready-killed.json"))["status"],
        "ready",
        "{log}"
    );
    assert_eq!(
        read("orphan-after-kill").trim(),
        "alive",
        "kill -9 left it running: {log}"
    );
    assert_eq!(
        read_json(&dir.join("ready-adopter.json"))["status"],
        "ready",
        "{log}"
    );
    assert!(
        log.contains("stopping it to start it as this process's own"),
        "{log}"
    );
    assert_eq!(read("exit-adopter").trim(), "0", "{log}");
    assert_eq!(
        read("orphan-after-adopter"),
        "",
        "the orphan was stopped: {log}"
    );
    assert!(
        !dir.join("data/postgres/postmaster.pid").exists(),
        "the adopted cluster was stopped on exit: {log}"
    );
    let offline = read("offline.log");
    assert_ne!(read("exit-offline").trim(), "0", "{offline}");
    assert!(offline.contains("install PostgreSQL"), "{offline}");
    assert!(offline.contains("DATABASE_URL"), "{offline}");
    let _ = std::fs::remove_dir_all(&dir);
}
