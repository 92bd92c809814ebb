#!/usr/bin/env bash
# API conformance: schemathesis (every check) against a running hirebridge — the sandbox's
# simulated Connecteam behind it — once on SQLite and once on a fresh PostgreSQL database.
# The server and openapi.yaml must agree: any failure fails the run.
#
#   .ci/api_conformance.sh [BINARY]       (default target/debug/hirebridge)
#
# SCHEMATHESIS_SECONDS bounds each backend's run (default 60). One worker: hypothesis describes
# its strategies from shared caches that two threads can corrupt (KeyError / FlakyFailure). The
# filter_too_much health check is a warning about generation efficiency (the hire's
# email-or-phone rule and patterns reject some drawn bodies), not about the API.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/hirebridge}
venv=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
seconds=${SCHEMATHESIS_SECONDS:-60}
pg_admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Debian's interpreter: CPython 3.11.7's AST recursion check misfires inside hypothesis while it
# describes a strategy (SystemError "AST constructor recursion depth mismatch").
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if [ ! -x "$venv/bin/schemathesis" ]; then
  "$python" -m venv "$venv" || { apt-get install -y -qq python3-venv > /dev/null && "$python" -m venv "$venv"; }
  "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

admin_secret="conformance-admin-secret"
token=$(python3 - "$admin_secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "conformance", "exp": int(time.time()) + 3600}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)

run_backend() {
  local backend=$1 database_url=$2 dir port pid
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$dir/config.yaml" <<YAML
listen: "127.0.0.1:$port"
database_url: "$database_url"
rules_file: "examples/rules.yaml"
admin:
  jwt: { hs256_secret: "$admin_secret" }
sources:
  acme-hris:
    kind: generic
    allow_unauthenticated: true
    auth: { none: {} }
YAML
  RUST_LOG=error "$bin" serve --sandbox --config "$dir/config.yaml" > "$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.1
  done
  echo "schemathesis against $backend (at most $seconds s)"
  local status=0
  PYTHONPATH=.ci SCHEMATHESIS_HOOKS=schemathesis_hooks "$venv/bin/schemathesis" run openapi.yaml \
    --url "http://127.0.0.1:$port" \
    --checks all \
    --suppress-health-check=filter_too_much \
    -H "Authorization: Bearer $token" \
    --max-time "$seconds" \
    --workers 1 \
    --seed 1 \
    --no-color \
    --report-dir "$dir/report" || status=$?
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "schemathesis failed against $backend; the server's log:" >&2
    tail -n 50 "$dir/server.log" >&2
    return "$status"
  fi
  rm -rf "$dir"
}

run_backend sqlite "sqlite://$(mktemp -d)/conformance.db"
pg_db="hb_test_conformance_$$"
psql "$pg_admin" -qc "CREATE DATABASE $pg_db"
trap 'psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" || true' EXIT
run_backend postgres "postgres://postgres@127.0.0.1:5432/$pg_db"
