# Shared by the bench scripts (run.sh, peer.sh, instructions.sh), sourced after `cd` to the
# checkout. A scratch directory and the processes they start, all gone on exit.
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  # errexit off: a server that ends by the signal makes `wait` fail, which would cut this short
  # (and turn the script's own exit status into 143).
  set +e
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '==> %s\n' "$*" >&2; }

# load_tools [INSTALL_OHA]: wrk always (Debian), oha from crates.io only when asked; sets TOOL to
# the generator that drives fixed requests (oha if present, else wrk).
load_tools() {
  if ! command -v wrk >/dev/null; then
    say "installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  if ! command -v oha >/dev/null && [ "${1:-false}" = true ]; then
    say "installing oha from crates.io (a few minutes, once)"
    cargo install oha --locked --quiet
  fi
  TOOL=$(command -v oha >/dev/null && echo oha || echo wrk)
  local needed
  for needed in jq curl pgbench psql; do
    command -v "$needed" >/dev/null || { echo "bench: $needed is required" >&2; exit 1; }
  done
}

# agora_binary PROFILE: sets AGORA to BENCH_AGORA if given, else builds this checkout; BUILD
# says which, for the tables.
agora_binary() {
  if [ -n "${BENCH_AGORA:-}" ]; then
    AGORA=$BENCH_AGORA BUILD="binary $BENCH_AGORA"
    return
  fi
  BUILD="$1 build"
  say "building ($1)"
  if [ "$1" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
  AGORA=target/$1/agora
}

# seed USERS ITEMS HABITS TASKS: a fresh database at DATABASE_URL with the demo data (the same
# for the same numbers: seed-demo is deterministic) and the admin benchadmin. Sets USER_ID.
seed() {
  psql "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS ${DATABASE_URL##*/} WITH (FORCE)" >/dev/null
  say "seeding: $1 users, $2 items, demo00001 with $3 habits and $4 tasks"
  "$AGORA" admin seed-demo --users "$1" --items "$2" --habits "$3" --tasks "$4" >&2
  echo "bench admin password" | "$AGORA" admin create-user --username benchadmin \
    --email benchadmin@example.com --role admin >/dev/null
  USER_ID=$(psql "$DATABASE_URL" -tAc "SELECT id FROM users WHERE username = 'demo00001'")
}

# agora_env PORT [NAME=VALUE...]: the server's production settings, in AGORA_ENV_VARS, with the per-address
# limits raised: every request here comes from one loopback address, and a limit refusing the
# load generator would measure nothing. One secret per script, so tokens outlive a restart.
agora_env() {
  AGORA_BASE=http://127.0.0.1:$1
  AGORA_ENV_VARS=(AGORA_ENV=production AGORA_SECRET="$(head -c 48 /dev/urandom | base64)"
    AGORA_LISTEN=127.0.0.1:$1 AGORA_PUBLIC_URL=$AGORA_BASE RUST_LOG=info
    AGORA_RATE_REQUESTS_PER_MINUTE=1000000000 AGORA_RATE_LOGIN_PER_ADDRESS=1000000000
    AGORA_RATE_LOGIN_PER_ACCOUNT=1000000000 AGORA_MAX_CONNECTIONS_PER_ADDRESS=4096 "${@:2}")
}
# start_agora [WRAPPER...]: the server with AGORA_ENV_VARS, waited for (up to 2 min: callgrind
# is slow to start) until ready; sets SERVER_PID.
start_agora() {
  env "${AGORA_ENV_VARS[@]}" "$@" "$AGORA" serve 2>>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do curl -sf "$AGORA_BASE/readyz" >/dev/null && return; sleep 0.2; done
  tail -20 "$WORK/server.log" >&2; exit 1
}
stop_agora() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }

# gql BODY_JSON [TOKEN] -> answer from GRAPHQL (default BASE/graphql); fails unless the answer
# has data and no errors
gql() {
  local auth=(); [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  local answer
  answer=$(curl -sS -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$1" "${GRAPHQL:-$BASE/graphql}")
  jq -e '(.data != null) and (.errors == null)' >/dev/null <<<"$answer" \
    || { echo "bench: request failed: $1 -> $answer" >&2; return 1; }
  echo "$answer"
}
login_body() { jq -nc --arg login "$1" --arg password "$2" \
  '{query: "mutation Login($login: String!, $password: String!) { login(input: {login: $login, password: $password}) { ... on AuthPayload { accessToken } } }",
    operationName: "Login", variables: {login: $login, password: $password}}'; }
token_of() { gql "$(login_body "$1" "$2")" | jq -r .data.login.accessToken; }
# body_of FILE OPERATION [VARIABLES_JSON]
body_of() { jq -Rsc --arg op "$2" --argjson vars "${3:-null}" \
  '{query: ., operationName: $op} + (if $vars == null then {} else {variables: $vars} end)' < "$1"; }

# drive NAME CONNS SECONDS BODY TOKEN [LUA] -> "rps p50_ms p99_ms bad" from the load generator,
# against GRAPHQL (default BASE/graphql)
drive() {
  local name=$1 conns=$2 secs=$3 body=$4 token=$5 lua=${6:-} url=${GRAPHQL:-$BASE/graphql}
  if [ "$TOOL" = oha ] && [ -z "$lua" ]; then
    printf '%s' "$body" > "$WORK/$name.json"
    local auth=(); [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
    oha --no-tui -c "$conns" -z "${secs}s" -m POST -H 'Content-Type: application/json' \
      "${auth[@]}" -D "$WORK/$name.json" --output-format json "$url" \
      > "$WORK/$name.out"
    jq -r '[(((.statusCodeDistribution["200"] // 0) / .summary.total) | round),
            (.latencyPercentiles.p50 * 100000 | round / 100), (.latencyPercentiles.p99 * 100000 | round / 100),
            (([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0)
             + ([.errorDistribution | to_entries[] | select(.key != "aborted due to deadline") | .value] | add // 0))]
           | map(tostring) | join(" ")' "$WORK/$name.out"
  else
    if [ -z "$lua" ]; then
      lua=$WORK/$name.lua
      jq -rn --arg body "$body" --arg token "$token" '
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        + (if $token == "" then "" else "wrk.headers[\"Authorization\"] = \"Bearer \($token)\"\n" end)
        + "wrk.body = \($body | tojson)"' > "$lua"
    fi
    local threads=$(( conns < 2 ? conns : 2 ))
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 30s --latency -s "$lua" "$url" > "$WORK/$name.out"
    awk '
      function ms(v) { n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u);
                       return n * (u == "us" ? 0.001 : u == "ms" ? 1 : u == "s" ? 1000 : 60000) }
      /^Requests\/sec:/ { rps = $2 }  $1 == "50%" { p50 = ms($2) }  $1 == "99%" { p99 = ms($2) }
      /Non-2xx/ { bad += $NF }  /Socket errors/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
      END { printf "%d %.2f %.2f %d\n", rps, p50, p99, bad }' "$WORK/$name.out"
  fi
}

# pgbench_run SQL_FILE CONNS SECONDS [RATE] -> "tps latency_average_ms", prepared statements, for
# user USER_ID; with RATE, held to that many transactions a second. (Not percentiles: pgbench's
# per-transaction log reads a clock cached across its event loop, so at these rates most logged
# latencies are 0.)
pgbench_run() {
  pgbench -n -M prepared -c "$2" -j 2 -T "$3" ${4:+-R "$4"} -D user_id="$USER_ID" -f "$1" "$DATABASE_URL" 2>/dev/null \
    | awk '/^latency average = /{ latency = $4 } /^tps = /{ tps = $3 } END { printf "%d %s\n", tps, latency }'
}
