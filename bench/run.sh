#!/usr/bin/env bash
# Agora's benchmark: builds the server, seeds a fresh database deterministically, starts the
# server with production settings, drives each operation with a closed-loop load generator on
# loopback, runs pgbench on the SQL each read amounts to, and prints one table.
#
#   bench/run.sh           full run (release build, 32 connections, 3 s warm-up + 15 s measured);
#                          writes the table to bench/RESULTS.md
#   bench/run.sh --smoke   what CI runs: debug build, a smaller seed, 1 + 2 s per operation,
#                          same checks, no targets judged, nothing written
#   bench/run.sh --only "M1 H1"
#                          just those operations (Q1 Q2 Q3 M1 H1 L1 T1), full length, nothing
#                          written: for trying a change (L1 compares against Q1, so runs it too)
#   BENCH_AGORA=/tmp/agora-old bench/run.sh --only Q2
#                          measures that binary instead of building this checkout: before and
#                          after a change on the same machine in the same hour
#
# Needs PostgreSQL at BENCH_PG (default postgres://postgres@127.0.0.1:5432, trust auth; database
# BENCH_DB, default agora_bench, dropped and seeded afresh), jq,
# curl, pgbench; installs oha (crates.io) and wrk (Debian) when missing. Every answer is checked:
# the load generator's non-200s and socket errors plus the server's own count of answers that
# were not "ok" for that operation (from /metrics) make the errors column.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=false
ONLY=
case "${1:-}" in
  --smoke) SMOKE=true ;;
  --only) ONLY=" ${2:?--only takes a list of operations} " ;;
esac
# wants OP: whether this run measures OP
wants() { [ -z "$ONLY" ] || [[ "$ONLY" == *" $1 "* ]] || { [ "$1" = Q1 ] && [[ "$ONLY" == *" L1 "* ]]; }; }
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-agora_bench}
PORT=${BENCH_PORT:-18080}
BASE=http://127.0.0.1:$PORT
METRICS_LISTEN=127.0.0.1:$((PORT + 1))
METRICS=http://$METRICS_LISTEN/metrics
CONNS=32
if $SMOKE; then
  PROFILE=debug MEASURE=2 WARMUP=1 USERS=100 ITEMS=1000 HABITS=30 TASKS=50 BUYERS=20 STOCK=20000
else
  PROFILE=release MEASURE=15 WARMUP=3 USERS=1000 ITEMS=10000 HABITS=300 TASKS=500 BUYERS=200 STOCK=100000
fi
source bench/lib.sh

# --- tools -------------------------------------------------------------------------------------
# oha sends one fixed request; M1 needs a different buyer and item on every request, which wrk's
# Lua hook gives. Without oha (CI), wrk drives every operation.
if $SMOKE; then load_tools false; else load_tools true; fi

# --- build, database, seed ---------------------------------------------------------------------
agora_binary "$PROFILE"
export DATABASE_URL=$PG/$DB AGORA_DATA_DIR=$WORK RUST_LOG=warn
SEED_START=$(date +%s)
seed "$USERS" "$ITEMS" "$HABITS" "$TASKS"
# M1 buys each of these once; priced 1 so every buyer's budget lasts the whole run.
psql "$DATABASE_URL" -qc "INSERT INTO items (name, price, barcode, created_at, updated_at)
  SELECT format('Bench stock %s', n), 1, lpad((700000000000 + n)::text, 12, '0'), now(), now()
  FROM generate_series(1, $STOCK) AS n" >/dev/null
psql "$DATABASE_URL" -qc "VACUUM ANALYZE" >/dev/null
say "seeded in $(( $(date +%s) - SEED_START )) s"

# --- server ------------------------------------------------------------------------------------
agora_env "$PORT" AGORA_METRICS_LISTEN="$METRICS_LISTEN"
start_agora
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$SERVER_PID/status"; }
peak_kib() { awk '/^VmHWM/{print $2}' "/proc/$SERVER_PID/status"; }
reset_peak() { echo 5 > "/proc/$SERVER_PID/clear_refs"; }
IDLE_KIB=$(rss_kib)

DEMO_PASSWORD="agora demo password"
USER_TOKEN=$(token_of demo00001 "$DEMO_PASSWORD")
ADMIN_TOKEN=$(token_of benchadmin "bench admin password")

# --- measuring ---------------------------------------------------------------------------------
scrape() { curl -sf "$METRICS"; } # each scrape runs one statement (the outbox backlog)
metric() { # metric SCRAPE NAME [LABEL_FILTER] -> sum of the matching samples in that scrape
  awk -v name="$2" -v filter="${3:-}" '
    index($0, name) == 1 && (filter == "" || index($0, filter)) { sum += $NF }
    END { printf "%d", sum }' <<<"$1"
}

ROWS=()
# measure NAME OPERATION CONNS BODY TOKEN [LUA [WARMUP_LUA]]: warm-up, then the measured run with
# the server's counters and peak RSS read around it. Sets RPS P50 P99 OK ERRORS STATEMENTS PEAK_MB.
measure() {
  local name=$1 operation=$2 conns=$3 body=$4 token=$5 lua=${6:-} warmup_lua=${7:-${6:-}}
  drive "$name-warmup" "$conns" "$WARMUP" "$body" "$token" "$warmup_lua" >/dev/null
  local before after
  before=$(scrape)
  reset_peak
  read -r RPS P50 P99 BAD < <(drive "$name" "$conns" "$MEASURE" "$body" "$token" "$lua")
  PEAK_MB=$(( $(peak_kib) / 1024 ))
  after=$(scrape)
  local ok="operation=\"$operation\",outcome=\"ok\"" failed statements
  OK=$(( $(metric "$after" agora_requests_total "$ok") - $(metric "$before" agora_requests_total "$ok") ))
  failed=$(( $(metric "$after" agora_requests_total "operation=\"$operation\"")
             - $(metric "$before" agora_requests_total "operation=\"$operation\"") - OK ))
  statements=$(( $(metric "$after" agora_db_statements_total) - $(metric "$before" agora_db_statements_total) ))
  ERRORS=$(( BAD + failed ))
  # Less the statement the second scrape ran for itself.
  STATEMENTS=$(awk -v s="$statements" -v n="$OK" 'BEGIN { printf "%.1f", n ? (s - 1) / n : 0 }')
  [ "$OK" -gt 0 ] || { echo "bench: $name: no successful answers" >&2; tail -5 "$WORK/server.log" >&2; exit 1; }
}

pgbench_tps() { pgbench_run "$1" "$CONNS" "$MEASURE" | cut -d" " -f1; }

row() { # row OP RPS P50 P99 ERRORS STATEMENTS PEAK_MB PGBENCH TARGET_TEXT MET
  ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$@")")
}
judge() { # judge CONDITION_FOR_AWK -> "met" / "MISSED" ("-" in smoke runs)
  if $SMOKE; then echo -; else awk "BEGIN { exit !($1) }" && echo met || echo MISSED; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

say "measuring with $TOOL: $CONNS connections, ${WARMUP} s warm-up, ${MEASURE} s measured"
if wants Q1; then
say "Q1"
measure q1 Me "$CONNS" "$(body_of bench/ops/q1.graphql Me)" "$USER_TOKEN"
Q1_P99=$P99
PG_Q1=$(pgbench_tps bench/sql/q1.sql)
row "Q1 me" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "$PG_Q1 ($(ratio "$RPS" "$PG_Q1"))" \
  "≥ 0.25 of pgbench, p99 < 15 ms" "$(judge "$(ratio "$RPS" "$PG_Q1") >= 0.25 && $P99 < 15 && $ERRORS == 0")"
fi

if wants Q2; then
say "Q2"
measure q2 MarketItems "$CONNS" "$(body_of bench/ops/q2.graphql MarketItems)" "$USER_TOKEN"
PG_Q2=$(pgbench_tps bench/sql/q2.sql)
row "Q2 marketItems(first: 50)" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" \
  "$PG_Q2 ($(ratio "$RPS" "$PG_Q2"))" "≥ 0.30 of pgbench" \
  "$(judge "$(ratio "$RPS" "$PG_Q2") >= 0.30 && $ERRORS == 0")"
fi

if wants Q3; then
say "Q3"
measure q3 OwnedItems "$CONNS" "$(body_of bench/ops/q3.graphql OwnedItems)" "$ADMIN_TOKEN"
PG_Q3=$(pgbench_tps bench/sql/q3.sql)
row "Q3 items(owned) + owner" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" \
  "$PG_Q3 ($(ratio "$RPS" "$PG_Q3"))" "≥ 0.40 of pgbench, RSS < 150 MB" \
  "$(judge "$(ratio "$RPS" "$PG_Q3") >= 0.40 && $PEAK_MB < 150 && $ERRORS == 0")"
fi

if wants M1; then
say "M1"
# Each request buys the next stock item as the next buyer: distinct items, many users.
mapfile -t BUYER_TOKENS < <(for n in $(seq 2 $((BUYERS + 1))); do
  token_of "$(printf 'demo%05d' "$n")" "$DEMO_PASSWORD"; done)
FIRST_STOCK=$(psql "$DATABASE_URL" -tAc "SELECT min(id) FROM items WHERE name LIKE 'Bench stock %'")
# Money in the system: budgets plus what held items cost. Purchases move it, never make it.
money() { psql "$DATABASE_URL" -tAc "SELECT (SELECT sum(budget) FROM users) + (SELECT sum(price) FROM items WHERE owner_id IS NOT NULL)"; }
MONEY_BEFORE=$(money)
{
  echo "local tokens = {"
  printf '  "%s",\n' "${BUYER_TOKENS[@]}"
  echo "}"
  cat <<LUA
local first_item, stock = $FIRST_STOCK, $STOCK
local query = "mutation Buy(\$id: ID!) { purchaseItem(input: {itemId: \$id}) { budget } }"
local next = 0
local threads = 0
function setup(thread) thread:set("lane", threads); threads = threads + 1 end
function request()
  -- drive runs two threads; each takes every second item, so no item is asked for twice.
  local n = next * 2 + lane
  next = next + 1
  if n >= stock then n = n % stock end
  local body = '{"operationName":"Buy","query":"' .. query .. '","variables":{"id":"' .. (first_item + n) .. '"}}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
  }, body)
end
LUA
} > "$WORK/m1.lua"
# Warm-up and measured run share one stock, so the warm-up takes the upper half of each lane.
sed "s/local next = 0/local next = $((STOCK / 4))/" "$WORK/m1.lua" > "$WORK/m1-warmup.lua"
measure m1 Buy "$CONNS" "" "" "$WORK/m1.lua" "$WORK/m1-warmup.lua"
MONEY_AFTER=$(money)
LEDGER_OK=$(psql "$DATABASE_URL" -tAc "SELECT count(*) = 0 FROM items i WHERE i.name LIKE 'Bench stock %' AND i.owner_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM market_transactions t WHERE t.item_id = i.id AND t.buyer_id = i.owner_id AND t.kind = 'PURCHASE')")
MONEY="money $MONEY_BEFORE → $MONEY_AFTER, ledger $([ "$LEDGER_OK" = t ] && echo complete || echo MISSING ROWS)"
row "M1 purchaseItem" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "$MONEY; $OK bought" \
  "no errors, money kept, ≥ 1000/s" \
  "$(judge "$ERRORS == 0 && $MONEY_BEFORE == $MONEY_AFTER && \"$LEDGER_OK\" == \"t\" && $RPS >= 1000")"
fi

if wants H1; then
say "H1"
measure h1-stats Stats30 1 "$(body_of bench/ops/h1-stats.graphql Stats30)" "$USER_TOKEN"
row "H1 stats(LAST_30_DAYS), 1 conn" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "-" \
  "p50 < 20 ms" "$(judge "$P50 < 20 && $ERRORS == 0")"
measure h1-due DueToday 1 "$(body_of bench/ops/h1-due.graphql DueToday)" "$USER_TOKEN"
row "H1 habits(DUE_TODAY), 1 conn" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "-" \
  "p50 < 20 ms" "$(judge "$P50 < 20 && $ERRORS == 0")"
fi

if wants L1; then
say "L1"
# Logins at 64 connections for the whole Q1 run (warm-up included), then Q1 measured under them.
drive l1 64 $((WARMUP + MEASURE + 1)) "$(login_body demo00002 "$DEMO_PASSWORD")" "" > "$WORK/l1.result" &
STORM=$!
sleep 0.5
measure l1-q1 Me "$CONNS" "$(body_of bench/ops/q1.graphql Me)" "$USER_TOKEN"
wait "$STORM"
read -r L_RPS L_P50 L_P99 L_BAD < "$WORK/l1.result"
HASHES_MAX=$(metric "$(scrape)" agora_password_hashes_running_max)
CORES=$(nproc)
row "L1 login, 64 conns" "$L_RPS" "$L_P50" "$L_P99" "$L_BAD" "-" "$PEAK_MB" "-" \
  "≤ $CORES hashes at once (most: $HASHES_MAX), RSS < 300 MB" \
  "$(judge "$HASHES_MAX <= $CORES && $PEAK_MB < 300 && $L_BAD == 0")"
row "Q1 during L1" "$RPS" "$P50" "$P99" "$ERRORS" "-" "$PEAK_MB" "-" \
  "p99 < 3 × $Q1_P99 ms" "$(judge "$P99 < 3 * $Q1_P99 && $ERRORS == 0")"
fi

row "idle" "-" "-" "-" "-" "-" "$((IDLE_KIB / 1024))" "-" "RSS < 50 MB" "$(judge "$IDLE_KIB / 1024 < 50")"

if wants T1; then
say "T1"
# What traces cost: Q2 on the server as it runs (no OTEL_EXPORTER_OTLP_ENDPOINT: nothing traced),
# then on the same server restarted to export every request's spans to a local OTLP/HTTP sink.
# Last, since it restarts the server (the errors listed below the table are then T1's only).
Q2_BODY=$(body_of bench/ops/q2.graphql MarketItems)
measure t1-off MarketItems "$CONNS" "$Q2_BODY" "$USER_TOKEN"
row "T1 Q2, traces off" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "-" "-" "-"
OFF_RPS=$RPS
SINK_PORT=$((PORT + 2))
python3 bench/otlp-sink.py "$SINK_PORT" 2>"$WORK/sink.log" &
SINK_PID=$!
stop_agora
AGORA_ENV_VARS+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT")
start_agora
measure t1-on MarketItems "$CONNS" "$Q2_BODY" "$USER_TOKEN"
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
row "T1 Q2, traces exported" "$RPS" "$P50" "$P99" "$ERRORS" "$STATEMENTS" "$PEAK_MB" "-" \
  "$(ratio "$RPS" "$OFF_RPS") of off's requests/s; sink got $(tail -1 "$WORK/sink.log")" "-"
fi

{
  echo "Agora benchmark, $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $BUILD, load by $TOOL (M1 by wrk), $CONNS connections, ${WARMUP} s warm-up + ${MEASURE} s each, PostgreSQL $(psql "$PG/postgres" -tAc 'SHOW server_version')."
  echo
  echo "| operation | requests/s | p50 ms | p99 ms | errors | statements/request | peak RSS MB | pgbench tps (ratio) | target | |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$WORK/table.md"
# What went wrong, by operation and error code, if anything did.
curl -sf "$METRICS" | grep '^agora_requests_total' | grep -v 'outcome="ok"' >&2 || true
# bench/RESULTS.md: this run's table on top, the hand-kept history (from its "## " heading on) kept.
if ! $SMOKE && [ -z "$ONLY" ]; then
  { cat "$WORK/table.md"; echo; [ -f bench/RESULTS.md ] && sed -n '/^## /,$p' bench/RESULTS.md; } > "$WORK/results.md"
  mv "$WORK/results.md" bench/RESULTS.md
fi
