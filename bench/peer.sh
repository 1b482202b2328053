#!/usr/bin/env bash
# Agora beside the GraphQL layer people would otherwise generate over the same database:
# PostGraphile 4 (with postgraphile-plugin-connection-filter) and 5, each as one process and as
# two cluster workers, and pgbench on the SQL each read amounts to. Same seeded database, same
# load generator, 32 connections; rounds alternate (Agora, each PostGraphile, pgbench) so that a
# change in the shared machine's load hits all of them alike, and each figure is the median of
# the rounds. CPU per request is read from /proc around each measured run: the server's
# processes (every cluster worker) and PostgreSQL's.
#
#   bench/peer.sh           full run (release build unless BENCH_AGORA, 3 rounds of 3 s warm-up +
#                           BENCH_SECONDS (10) measured per server and operation, about 15 min);
#                           writes the table into bench/RESULTS.md under today's date
#   bench/peer.sh --smoke   the same path in under a minute (small seed, 1 round, 1 s per run, no warm-up):
#                           checks the script and the answers, judges nothing, writes nothing
#
# Needs what bench/run.sh needs, plus npm: PostGraphile is installed with `npm ci` from the
# lockfiles in bench/peer/ into target/tmp/peer/ (once; again when a lockfile changes), with the
# Node.js 22 that PostGraphile 5 requires (the npm package `node`, pinned there too).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=false
[ "${1:-}" = --smoke ] && SMOKE=true
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_PEER_DB:-agora_peer}
PORT=${BENCH_PORT:-18300}
CONNS=32
POOL=16 # PostGraphile's pool per process, as Agora's default AGORA_DB_POOL_SIZE
PEER=target/tmp/peer
if $SMOKE; then
  PROFILE=debug WARMUP=0 MEASURE=1 ROUNDS=1 USERS=100 ITEMS=1000 HABITS=30 TASKS=50
else
  PROFILE=release WARMUP=3 MEASURE=${BENCH_SECONDS:-10} ROUNDS=3 USERS=1000 ITEMS=10000 HABITS=300 TASKS=500
fi
source bench/lib.sh
load_tools false
command -v npm >/dev/null || { echo "peer: npm is required" >&2; exit 1; }

# --- PostGraphile ------------------------------------------------------------------------------
for version in v4 v5; do
  dir=$PEER/$version
  if ! cmp -s "bench/peer/$version/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules" ]; then
    say "installing PostGraphile $version into $dir (npm ci)"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "bench/peer/$version/package.json" "bench/peer/$version/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  cp bench/peer/"$version"/*.mjs "$dir/" 2>/dev/null || true
done

# --- database, Agora ---------------------------------------------------------------------------
agora_binary "$PROFILE"
export DATABASE_URL=$PG/$DB AGORA_DATA_DIR=$WORK RUST_LOG=warn
# The seed of bench/run.sh, less the stock M1 buys: Q1–Q3 never reach those rows.
seed "$USERS" "$ITEMS" "$HABITS" "$TASKS"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE" >/dev/null
agora_env "$PORT" AGORA_METRICS_LISTEN=off
start_agora
GRAPHQL=$AGORA_BASE/graphql
USER_TOKEN=$(token_of demo00001 "agora demo password")
ADMIN_TOKEN=$(token_of benchadmin "bench admin password")
stop_agora

# --- the servers -------------------------------------------------------------------------------
# Each server runs only for its turn in a round: five at once would hold more PostgreSQL
# connections than max_connections allows, and idle ones would still share the two cores.
SERVERS=(agora pg4 pg4x2 pg5 pg5x2)
declare -A LABEL=([agora]="Agora" [pg4]="PostGraphile 4, 1 process" [pg4x2]="PostGraphile 4, 2 workers"
  [pg5]="PostGraphile 5, 1 process" [pg5x2]="PostGraphile 5, 2 workers" [pgbench]="pgbench (the SQL)"
  [pgrate]="pgbench at Agora's rate")
start_server() { # start_server NAME: sets SERVER_PID and GRAPHQL, waits until it answers
  local workers=1
  case $1 in
    agora) start_agora; GRAPHQL=$AGORA_BASE/graphql; return ;;
    *x2) workers=2 ;;
  esac
  local port=$((PORT + 10))
  GRAPHQL=http://127.0.0.1:$port/graphql
  case $1 in
    pg4*)
      local cluster=(); [ "$workers" -gt 1 ] && cluster=(--cluster-workers "$workers")
      # Production: no GraphiQL, no query log, errors without stacks.
      (cd "$PEER/v4" && NODE_ENV=production exec node_modules/.bin/node node_modules/postgraphile/cli.js \
        -c "$DATABASE_URL" --schema public --host 127.0.0.1 --port "$port" --max-pool-size "$POOL" \
        --disable-graphiql --disable-query-log --no-setof-functions-contain-nulls \
        --append-plugins postgraphile-plugin-connection-filter "${cluster[@]}") >>"$WORK/peer.log" 2>&1 &
      ;;
    pg5*)
      (cd "$PEER/v5" && NODE_ENV=production GRAPHILE_ENV=production PEER_HOST=127.0.0.1 PEER_PORT=$port \
        PEER_WORKERS=$workers PEER_POOL_SIZE=$POOL exec node_modules/.bin/node server.mjs) >>"$WORK/peer.log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    # With two workers, both must be listening before the run: wait for both to have started.
    if curl -sf -H 'Content-Type: application/json' --data '{"query":"{__typename}"}' "$GRAPHQL" >/dev/null \
      && [ "$workers" -eq 1 -o "$(pgrep -c -P "$SERVER_PID" || true)" -ge "$workers" ]; then
      sleep 1 # the second worker may still be introspecting when the first answers
      return
    fi
    sleep 0.2
  done
  tail -20 "$WORK/peer.log" >&2; exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }

# The queries: Q1 reads the demo user's row (Agora through `me` with a token; PostGraphile has no
# authentication configured here, so it reads the row by id: the data path compared, not the
# auth), Q2 the first 50 items on the market, Q3 the first 50 owned items with their owner.
body() { # body SERVER OP -> request body
  case $1 in
    agora) case $2 in
             Q1) body_of bench/ops/q1.graphql Me ;;
             Q2) body_of bench/ops/q2.graphql MarketItems ;;
             Q3) body_of bench/ops/q3.graphql OwnedItems ;;
           esac ;;
    pg*) local vars=null; [ "$2" = Q1 ] && vars="{\"id\": \"$USER_ID\"}"
         body_of "bench/peer/v${1:2:1}/${2,,}.graphql" "$2" "$vars" ;;
  esac
}
token() { # token SERVER OP
  [ "$1" = agora ] || return 0
  if [ "$2" = Q3 ]; then echo "$ADMIN_TOKEN"; else echo "$USER_TOKEN"; fi
}

# --- same rows ---------------------------------------------------------------------------------
# Each answer as a list of flat rows with every value a string (PostGraphile sends bigints as
# strings, v5 calls the column `id` `rowId`, owners are nested): what the SQL returns, compared.
CANON='.data | to_entries[0].value | (if type == "object" and has("nodes") then .nodes else [.] end)
  | map(to_entries | map(if .key == "rowId" then .key = "id" else . end
        | if (.value | type) == "object" then (.value | to_entries[]) else . end | .value |= tostring) | from_entries)'
declare -A EXPECTED
for op in Q1 Q2 Q3; do
  EXPECTED[$op]=$({ printf 'SELECT coalesce(json_agg(t), $$[]$$) FROM ('; sed 's/;[[:space:]]*$//' "bench/sql/${op,,}.sql"; echo ') t;'; } \
    | psql "$DATABASE_URL" -v user_id="$USER_ID" -tA -f - | jq -c 'map(map_values(tostring))')
done
check_rows() { # check_rows SERVER OP: fails loudly unless the server answers the SQL's rows
  local got
  got=$(gql "$(body "$1" "$2")" "$(token "$1" "$2")" | jq -c "$CANON")
  jq -en --argjson got "$got" --argjson want "${EXPECTED[$2]}" '
    ($want | length) > 0 and ($got | length) == ($want | length)
    and ([$got, $want] | transpose | all(.[0] as $g | .[1] | to_entries | all(.value == $g[.key])))' >/dev/null \
    || { printf 'peer: %s answers other rows for %s than the SQL:\n  got  %s\n  want %s\n' \
           "$1" "$2" "$got" "${EXPECTED[$2]}" >&2; exit 1; }
  [ "$1" = agora ] && AGORA_ROWS[$2]=$got
  # Beyond the SQL's columns (Q1's id), the peers must agree with Agora too.
  [ "$got" = "${AGORA_ROWS[$2]}" ] \
    || { printf 'peer: %s and Agora differ on %s:\n  %s\n  %s\n' "$1" "$2" "$got" "${AGORA_ROWS[$2]}" >&2; exit 1; }
}
declare -A AGORA_ROWS

# --- CPU from /proc ----------------------------------------------------------------------------
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
POSTMASTER=$(head -1 "$(psql "$PG/postgres" -tAc 'SHOW data_directory')/postmaster.pid")
ticks() { # ticks PID: utime + stime of that process, 0 once gone
  local f
  read -r -a f < "/proc/$1/stat" 2>/dev/null || { echo 0; return; }
  echo $(( f[13] + f[14] ))
}
server_ticks() { # the server and, for a cluster, its workers
  local sum=0 pid
  [ -n "$SERVER_PID" ] || { echo 0; return; }
  for pid in "$SERVER_PID" $(pgrep -P "$SERVER_PID"); do sum=$(( sum + $(ticks "$pid") )); done
  echo "$sum"
}
pg_ticks() {
  # This database's live backends, plus what the postmaster has reaped (its children's times):
  # pgbench's backends end with each run, so only the latter still holds their CPU at the end.
  local f sum pid line
  read -r -a f < "/proc/$POSTMASTER/stat"
  sum=$(( f[15] + f[16] ))
  for pid in $(pgrep -P "$POSTMASTER"); do
    line=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ "$line" == *" $DB "* ]] && sum=$(( sum + $(ticks "$pid") ))
  done
  echo "$sum"
}
# Backends of a finished pgbench may take a moment to exit and be reaped.
wait_for_backends() {
  for _ in $(seq 1 50); do
    [ "$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()")" -eq 0 ] && return
    sleep 0.1
  done
}

# --- the rounds --------------------------------------------------------------------------------
# One line per run: server op round rps p50 p99 errors server_us pg_us (µs of CPU per request).
RUNS=$WORK/runs
: > "$RUNS"
record() { # record SERVER OP ROUND RPS P50 P99 ERRORS SERVER_TICKS PG_TICKS
  awk -v s="$1" -v o="$2" -v r="$3" -v rps="$4" -v p50="$5" -v p99="$6" -v e="$7" -v st="$8" -v pt="$9" \
    -v secs="$MEASURE" -v us="$TICK_US" 'BEGIN {
      n = rps * secs; printf "%s %s %s %d %.2f %.2f %d %.0f %.0f\n", s, o, r, rps, p50, p99, e,
      n ? st * us / n : 0, n ? pt * us / n : 0 }' >> "$RUNS"
  say "$(tail -1 "$RUNS")"
}
load_now() { cut -d' ' -f1 /proc/loadavg; }
LOADS=()
say "measuring with $TOOL: $CONNS connections, $ROUNDS rounds of ${WARMUP} s warm-up + ${MEASURE} s measured"
for round in $(seq 1 "$ROUNDS"); do
  LOADS+=("$(load_now)")
  for server in "${SERVERS[@]}"; do
    say "round $round: ${LABEL[$server]} (load $(load_now))"
    start_server "$server"
    for op in Q1 Q2 Q3; do
      check_rows "$server" "$op"
      b=$(body "$server" "$op") t=$(token "$server" "$op")
      [ "$WARMUP" -eq 0 ] || drive "$server-$op-warmup" "$CONNS" "$WARMUP" "$b" "$t" >/dev/null
      s0=$(server_ticks) p0=$(pg_ticks)
      read -r rps p50 p99 bad < <(drive "$server-$op" "$CONNS" "$MEASURE" "$b" "$t")
      s1=$(server_ticks) p1=$(pg_ticks)
      check_rows "$server" "$op" # still the same rows under load's aftermath
      record "$server" "$op" "$round" "$rps" "$p50" "$p99" "$bad" $((s1 - s0)) $((p1 - p0))
    done
    stop_server
  done
  say "round $round: pgbench"
  # Flat out, and held to the rate Agora reached this round: PostgreSQL's CPU per statement falls
  # as its backends get busier (fewer wake-ups per statement), so only the second compares the
  # SQL's cost at Agora's load.
  for op in Q1 Q2 Q3; do
    agora_rps=$(awk -v o="$op" -v r="$round" '$1 == "agora" && $2 == o && $3 == r { print $4 }' "$RUNS")
    for server in pgbench pgrate; do
      wait_for_backends
      p0=$(pg_ticks)
      rate=; [ "$server" = pgrate ] && rate=$agora_rps
      read -r tps latency < <(pgbench_run "bench/sql/${op,,}.sql" "$CONNS" "$MEASURE" $rate)
      wait_for_backends
      p1=$(pg_ticks)
      record "$server" "$op" "$round" "$tps" "$latency" 0 0 0 $((p1 - p0))
    done
  done
done
LOADS+=("$(load_now)")

# --- the table ---------------------------------------------------------------------------------
# Medians over rounds, each column on its own, and the range of requests/s over the rounds (how
# much the shared machine moved them); ratios against Agora's medians.
MEDIANS=$WORK/medians
awk '{ k = $1 " " $2; n[k]++; for (c = 4; c <= 9; c++) v[k, c, n[k]] = $c
       if (n[k] == 1 || $4 < a4[k, "min"]) a4[k, "min"] = $4; if (n[k] == 1 || $4 > a4[k, "max"]) a4[k, "max"] = $4 }
  END { for (k in n) { line = k
          for (c = 4; c <= 9; c++) { m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, c, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            line = line " " (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2) }
          print line, a4[k, "min"], a4[k, "max"] } }' "$RUNS" > "$MEDIANS"
med() { awk -v k="$1 $2" -v c="$3" '$1 " " $2 == k { print $(c - 1) }' "$MEDIANS"; } # med SERVER OP COLUMN(4..9; 10, 11: min, max of 4)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
judge() { if $SMOKE; then echo -; else awk "BEGIN { exit !($1) }" && echo met || echo MISSED; fi; }

TABLE=$WORK/table.md
{
  echo "Agora against PostGraphile, $(date -u +%Y-%m-%d): $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), Agora $BUILD, load by $TOOL at $CONNS connections, $ROUNDS rounds of ${WARMUP} s warm-up + ${MEASURE} s per server and operation, medians; PostgreSQL $(psql "$PG/postgres" -tAc 'SHOW server_version'); PostGraphile $(jq -r '.packages["node_modules/postgraphile"].version' bench/peer/v4/package-lock.json) and $(jq -r '.packages["node_modules/postgraphile"].version' bench/peer/v5/package-lock.json) on Node.js $("$PEER/v5/node_modules/.bin/node" --version), pool $POOL per process. 1-minute load average before the first round: ${LOADS[0]} (the rounds' own load keeps it above 2 afterwards, so the spread of each row's requests/s over the rounds is the better measure of noise)."
  echo
  echo "PostGraphile runs without authentication here: its Q1 reads the user by id where Agora's \`me\` checks a session token first, so Q1 compares the data path plus Agora's auth against PostGraphile's data path alone. CPU is µs per request from /proc (utime + stime; the server's processes, every cluster worker; PostgreSQL's backends of this database and the backends reaped during the run); \"×\" columns are Agora's advantage (its requests/s over theirs, their CPU over Agora's)."
  echo
  echo "| operation | server | requests/s | range over rounds | p50 ms | p99 ms | errors | server CPU µs/req | PostgreSQL CPU µs/req | total CPU µs/req | Agora × req/s | Agora × CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for op in Q1 Q2 Q3; do
    for server in "${SERVERS[@]}" pgbench pgrate; do
      rps=$(med "$server" "$op" 4) srv=$(med "$server" "$op" 8) pgc=$(med "$server" "$op" 9)
      total=$(awk -v a="$srv" -v b="$pgc" 'BEGIN { print a + b }')
      agora_total=$(awk -v a="$(med agora "$op" 8)" -v b="$(med agora "$op" 9)" 'BEGIN { print a + b }')
      if [[ " agora pgbench pgrate " == *" $server "* ]]; then x_rps=- x_cpu=-; else
        x_rps=$(ratio "$(med agora "$op" 4)" "$rps") x_cpu=$(ratio "$total" "$agora_total"); fi
      p50=$(med "$server" "$op" 5) p99=$(med "$server" "$op" 6)
      [[ "$server" == pgbench || "$server" == pgrate ]] && srv=- p50="avg $p50" p99=-
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$op" "${LABEL[$server]}" "$rps" \
        "$(med "$server" "$op" 10)–$(med "$server" "$op" 11)" \
        "$p50" "$p99" "$(med "$server" "$op" 7)" "$srv" "$pgc" "$total" "$x_rps" "$x_cpu"
    done
  done
  echo
  echo "| target | figures | |"
  echo "|---|---|---|"
  for op in Q1 Q2 Q3; do
    best=$(for s in pg4 pg4x2 pg5 pg5x2; do med "$s" "$op" 4; done | sort -n | tail -1)
    best_cpu=$(for s in pg4 pg4x2 pg5 pg5x2; do awk -v a="$(med "$s" "$op" 8)" -v b="$(med "$s" "$op" 9)" 'BEGIN { print a + b }'; done | sort -n | head -1)
    a_rps=$(med agora "$op" 4) a_total=$(awk -v a="$(med agora "$op" 8)" -v b="$(med agora "$op" 9)" 'BEGIN { print a + b }')
    a_pg=$(med agora "$op" 9) b_pg=$(med pgbench "$op" 9) r_pg=$(med pgrate "$op" 9) a_p99=$(med agora "$op" 6)
    echo "| $op requests/s ≥ 3 × the better PostGraphile row | $a_rps vs $best ($(ratio "$a_rps" "$best")×) | $(judge "$a_rps >= 3 * $best") |"
    echo "| $op total CPU/request ≤ 1/3 of PostGraphile's (its cheapest row) | $a_total vs $best_cpu µs ($(ratio "$a_total" "$best_cpu")) | $(judge "$a_total * 3 <= $best_cpu") |"
    # Judged at the same rate: flat out, pgbench's backends never sleep between statements, and
    # the wake-ups Agora's load pays for are then missing from the SQL's side (shown beside it).
    echo "| $op PostgreSQL CPU/request ≤ 1.5 × pgbench's at Agora's rate | $a_pg vs $r_pg µs ($(ratio "$a_pg" "$r_pg")×; flat out $b_pg µs, $(ratio "$a_pg" "$b_pg")×) | $(judge "$a_pg <= 1.5 * $r_pg") |"
    echo "| $op p99 < 10 ms at $CONNS connections | $a_p99 ms | $(judge "$a_p99 < 10") |"
  done
} > "$TABLE"
cat "$TABLE"
awk '$7 > 0 { print "peer: " $1 " " $2 " round " $3 ": " $7 " errors (non-2xx or socket errors)"; bad = 1 }
  END { exit bad }' "$RUNS" >&2 || exit 1

# bench/RESULTS.md: this comparison under a dated heading, below run.sh's table (which run.sh
# rewrites from its top down to the first "## " heading) and above the earlier history.
if ! $SMOKE; then
  heading="## Against PostGraphile ($(date -u +%Y-%m-%d))"
  awk -v heading="$heading" -v table="$TABLE" '
    !done && /^## / { print heading; print ""; while ((getline l < table) > 0) print l; print ""; done = 1 }
    { print }
    END { if (!done) { print ""; print heading; print ""; while ((getline l < table) > 0) print l } }' \
    bench/RESULTS.md > "$WORK/results.md"
  mv "$WORK/results.md" bench/RESULTS.md
fi
