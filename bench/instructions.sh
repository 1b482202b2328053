#!/usr/bin/env bash
# The server's own CPU instructions per request, counted by callgrind: unlike requests/s on this
# shared 2-core machine, the count for one binary and one request repeats within about 1 %
# whatever else the machine does, so a change's effect on the server shows even when run-to-run
# noise in the load test is larger than it.
#
#   bench/instructions.sh [BINARY] [OPERATIONS]
#       BINARY      defaults to target/release/agora (built if missing)
#       OPERATIONS  defaults to "Q1 Q2 Q3 H1"; prints "operation instructions/request"
#   KEEP_DUMP=/tmp/cg bench/instructions.sh ...
#       also keeps each operation's callgrind profile as /tmp/cg.Q1 and so on, to see where the
#       instructions go: callgrind_annotate --inclusive=yes /tmp/cg.Q1
#
# Needs the database bench/run.sh seeded (BENCH_DB, default agora_bench; run that first) and valgrind, jq, curl; oha
# drives the requests when it is installed, else curl (4 at a time either way).
set -euo pipefail
cd "$(dirname "$0")/.."
AGORA=${1:-target/release/agora}
OPERATIONS=${2:-Q1 Q2 Q3 H1}
REQUESTS=${BENCH_REQUESTS:-200}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PORT=${BENCH_PORT:-18090}
[ -x "$AGORA" ] || cargo build --release --quiet
for needed in valgrind callgrind_control callgrind_annotate jq curl; do
  command -v "$needed" >/dev/null || { echo "instructions: $needed is required" >&2; exit 1; }
done
source bench/lib.sh

export DATABASE_URL=$PG/${BENCH_DB:-agora_bench} AGORA_DATA_DIR=$WORK RUST_LOG=warn
agora_env "$PORT"
BASE=$AGORA_BASE

# Logging in hashes a password, which under callgrind takes minutes: sign in first, natively.
start_agora
USER_TOKEN=$(token_of demo00001 "agora demo password")
ADMIN_TOKEN=$(token_of benchadmin "bench admin password")
stop_agora
start_agora valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out"

count() { # count NAME OPFILE OPNAME TOKEN
  local body dump
  body=$(body_of "$2" "$3")
  for _ in 1 2 3 4 5; do gql "$body" "$4" >/dev/null; done # parse cache, pool, loaders warm
  callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
  if command -v oha >/dev/null; then
    oha --no-tui -n "$REQUESTS" -c 4 -m POST -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $4" -d "$body" "$BASE/graphql" > /dev/null
  else
    # Four clients, each one kept-alive connection: the same shape as oha's.
    local urls clients=()
    mapfile -t urls < <(yes "$BASE/graphql" | head -n $((REQUESTS / 4)))
    for _ in 1 2 3 4; do
      curl -sS -H 'Content-Type: application/json' -H "Authorization: Bearer $4" \
        --data-binary "$body" "${urls[@]}" > /dev/null &
      clients+=($!)
    done
    wait "${clients[@]}"
  fi
  callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
  dump=$(ls -t "$WORK"/callgrind.out.* | head -1)
  callgrind_annotate "$dump" 2>/dev/null | awk -v name="$1" -v n="$REQUESTS" \
    '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%s %d\n", name, $1 / n }'
  [ -n "${KEEP_DUMP:-}" ] && cp "$dump" "$KEEP_DUMP.$1"; rm -f "$WORK"/callgrind.out.*
}
for operation in $OPERATIONS; do
  case $operation in
    Q1) count Q1 bench/ops/q1.graphql Me "$USER_TOKEN" ;;
    Q2) count Q2 bench/ops/q2.graphql MarketItems "$USER_TOKEN" ;;
    Q3) count Q3 bench/ops/q3.graphql OwnedItems "$ADMIN_TOKEN" ;;
    H1) count "H1-due" bench/ops/h1-due.graphql DueToday "$USER_TOKEN"
        count "H1-stats" bench/ops/h1-stats.graphql Stats30 "$USER_TOKEN" ;;
    *) echo "instructions: no operation $operation (Q1 Q2 Q3 H1)" >&2; exit 1 ;;
  esac
done
