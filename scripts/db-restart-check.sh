#!/usr/bin/env bash
# Restarts the machine's real PostgreSQL (pg_ctlcluster, fast mode) while a client sends a
# request every 50 ms to a running Agora, then prints what the client saw: each request either
# succeeded or got the retryable SERVICE_UNAVAILABLE, and the same server answers afterwards.
# It disturbs every other user of that PostgreSQL: run it on a development machine only.
# (tests/api/faults.rs shows the same by cutting a proxy, without touching the server.)
set -euo pipefail
cd "$(dirname "$0")/.."
db=agora_restart_check
port=18090
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --bin agora
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db AGORA_LISTEN=127.0.0.1:$port \
  AGORA_DATA_DIR="$work" RUST_LOG=warn target/debug/agora serve 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

gql() { curl -s -H 'content-type: application/json' ${2:+-H "authorization: Bearer $2"} "http://127.0.0.1:$port/graphql" -d "$1"; }
gql '{"query":"mutation { register(input: {username: \"restart\", email: \"restart@example.com\", password: \"correct horse battery staple\"}) { user { username } } }"}' >/dev/null
token=$(gql '{"query":"mutation { login(input: {login: \"restart\", password: \"correct horse battery staple\"}) { ... on AuthPayload { accessToken } } }"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
outcome() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["errors"][0]["extensions"]["code"] if "errors" in d else "ok")'; }

for _ in $(seq 1 120); do gql '{"query":"{ me { username } }"}' "$token" | outcome; sleep 0.05; done \
  | sort | uniq -c >"$work/outcomes" &
load=$!
sleep 1
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "restarting PostgreSQL $version under load"
pg_ctlcluster --skip-systemctl-redirect "$version" main restart -m fast
wait "$load"
echo "what 120 requests got:"; cat "$work/outcomes"
echo "afterwards: $(gql '{"query":"{ me { username } }"}' "$token")"
echo "readyz: $(curl -s "http://127.0.0.1:$port/readyz")"
echo "internal errors logged: $(grep -c ERROR "$work/server.log" || true)"
