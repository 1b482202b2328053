#!/usr/bin/env bash
# The deploy/ topology without Docker, on this machine: two Agora instances on one Postgres and
# one Redis, behind nginx with deploy/nginx.conf (upstream names rewritten to local ports).
# Prints what it checks; stops everything on exit. Needs nginx (apt-get install nginx-light).
#   deploy/try-locally.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS agora_deploy_check WITH (FORCE)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --bin agora
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/agora_deploy_check
export REDIS_URL=redis://127.0.0.1:6379 AGORA_REDIS_PREFIX=agora_deploy_check
export AGORA_ENV=production AGORA_SECRET=deploy-check-secret-that-is-long-enough
export AGORA_TRUSTED_PROXIES=127.0.0.1 AGORA_DATA_DIR="$work" RUST_LOG=warn
for port in 18081 18082; do
  AGORA_LISTEN=127.0.0.1:$port AGORA_METRICS_LISTEN=127.0.0.1:$((port + 100)) AGORA_PUBLIC_URL=http://127.0.0.1:18080 \
    target/debug/agora serve 2>>"$work/agora-$port.log" &
  pids+=($!)
done

sed -e 's/agora-a:8080/127.0.0.1:18081/' -e 's/agora-b:8080/127.0.0.1:18082/' \
    -e 's/listen 80;/listen 127.0.0.1:18080;/' deploy/nginx.conf \
  | sed "s|^events {}|pid $work/nginx.pid;\nerror_log $work/nginx-error.log;\nevents {}|" \
  | sed "s|^http {|http {\n    access_log off;\n    client_body_temp_path $work; proxy_temp_path $work;|" \
  > "$work/nginx.conf"
nginx -t -q -p "$work" -c "$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf"

for port in 18081 18082; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  echo "instance :$port readyz: $(curl -s "http://127.0.0.1:$port/readyz")"
done
query() {
  curl -s -H 'content-type: application/json' http://127.0.0.1:18080/graphql -d "$1"
}
echo "through nginx: $(query '{"query":"{ __typename }"}')"
echo "register:      $(query '{"query":"mutation { register(input: {username: \"deploy\", email: \"deploy@example.com\", password: \"correct horse battery staple\"}) { user { username } } }"}')"
for _ in 1 2; do
  echo "login:         $(query '{"query":"mutation { login(input: {login: \"deploy\", password: \"correct horse battery staple\"}) { __typename } }"}')"
done
echo "metrics via nginx: HTTP $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/metrics) (not public)"
echo "requests per instance (each instance's metrics listener):"
for port in 18081 18082; do
  echo "  :$((port + 100)) $(curl -s "http://127.0.0.1:$((port + 100))/metrics" | grep -c '^agora_requests_total') series"
done
