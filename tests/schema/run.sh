#!/usr/bin/env bash
# Contract test: docs/openapi.yaml against the running worker.
#   1. serves a private copy of build/ with `wrangler dev --local` on a free
#      127.0.0.1 port (local D1 with the migrations applied, test secrets,
#      state in a temporary directory);
#   2. points GRAPH_API_BASE and D360_API_BASE at tests/schema/graph_stub.py
#      on loopback, so the routes that call WhatsApp answer as when WhatsApp
#      accepts the call and no request leaves the machine;
#   3. stores signed webhook deliveries of every fixture (tests/schema/seed.py),
#      so the read routes answer with real rows;
#   4. runs Schemathesis with every check over its examples, coverage and
#      fuzzing phases, time-bounded and with a fixed seed;
#   5. stops wrangler and the stub, and exits non-zero on any failure.
# `make test-schema` builds first; this script serves build/ as it is.
#
# Knobs (environment): SCHEMA_MAX_TIME (s of Schemathesis, 100; the whole
# script takes about 15 s more), SCHEMA_SEED (1), KEEP_WORK=1 (keep the
# temporary directory: D1 state, logs, Schemathesis's JUnit and NDJSON reports).
# Only 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

SCHEMATHESIS_VERSION="4.32.*"
MAX_TIME=${SCHEMA_MAX_TIME:-100}
SEED=${SCHEMA_SEED:-1}
ADMIN=schema-admin-token
APP_SECRET=schema-app-secret
PHONE_NUMBER_ID=106540352242922
WABA_ID=102290129340398
WRANGLER=$root/node_modules/.bin/wrangler
export WRANGLER_SEND_METRICS=false
# Miniflare otherwise fetches a Request.cf sample from workers.cloudflare.com.
export CLOUDFLARE_CF_FETCH_ENABLED=false

die() { echo "schema: $*" >&2; exit 1; }
for f in build/index.js build/index_bg.wasm; do
  [ -f "$f" ] || die "$f is missing: run 'make build' (or 'make test-schema') first"
done
[ -x "$WRANGLER" ] || die "$WRANGLER is missing: run 'make setup' (npm ci) first"
has_schemathesis() {
  python3 -c 'import importlib.metadata as m, sys; sys.exit(not m.version("schemathesis").startswith("4.32."))' 2>/dev/null
}
if ! has_schemathesis; then
  echo "schema: installing schemathesis $SCHEMATHESIS_VERSION" >&2
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "pip could not install schemathesis"
  has_schemathesis || die "schemathesis $SCHEMATHESIS_VERSION is not importable after pip install"
fi

work=$(mktemp -d /tmp/wa-edge-schema.XXXXXX)
pids=()
cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do
    # wrangler and the workerd it spawned share the session started below.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -s "$work/dev.log" ]; then
    echo "--- last lines of wrangler dev's log ---" >&2
    tail -n 30 "$work/dev.log" >&2
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "schema: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The Graph stand-in, on a port of its own choosing.
setsid python3 tests/schema/graph_stub.py "$work/stub.port" > "$work/stub.log" 2>&1 < /dev/null &
pids+=($!)
for _ in $(seq 1 40); do [ -s "$work/stub.port" ] && break; sleep 0.1; done
[ -s "$work/stub.port" ] || die "the Graph stub did not start: $(cat "$work/stub.log")"
stub="http://127.0.0.1:$(cat "$work/stub.port")"

# A private copy of the bundle, so a concurrent `make build` cannot reload
# the worker mid-run, served by a config without the [build] step (wrangler
# dev would otherwise rebuild at start), kept outside the repo so the
# developer's .dev.vars is not read.
mkdir -p "$work/build" "$work/state"
cp build/index.js build/index_bg.wasm "$work/build/"
cp -r build/console "$work/build/"
python3 - "$root" "$work" "$stub" "$PHONE_NUMBER_ID" "$WABA_ID" <<'PY'
import re, sys
root, work, stub, pnid, waba = sys.argv[1:]
s = open(f"{root}/wrangler.toml").read()
s = re.sub(r"(?ms)^\[build\]\n.*?(?=^\[|\Z)", "", s)
s, n1 = re.subn(r"(?m)^main\s*=.*$", f'main = "{work}/build/index.js"', s)
s, n2 = re.subn(r"(?m)^migrations_dir\s*=.*$", f'migrations_dir = "{root}/migrations"', s)
assert n1 == 1 and n2 == 1, "wrangler.toml: expected one main and one migrations_dir"
# Outbound API bases point at the loopback stub: nothing may leave the machine.
s = re.sub(r'(?m)^(\w+_API_BASE)\s*=.*$', rf'\1 = "{stub}"', s)
s = re.sub(r'(?m)^WHATSAPP_PHONE_NUMBER_ID\s*=.*$', f'WHATSAPP_PHONE_NUMBER_ID = "{pnid}"', s)
s = re.sub(r'(?m)^WHATSAPP_BUSINESS_ACCOUNT_ID\s*=.*$', f'WHATSAPP_BUSINESS_ACCOUNT_ID = "{waba}"', s)
open(f"{work}/wrangler.toml", "w").write(s)
PY
cat > "$work/schema.env" <<EOF
ADMIN_TOKEN=$ADMIN
WHATSAPP_APP_SECRET=$APP_SECRET
WHATSAPP_VERIFY_TOKEN=schema-verify-token
WHATSAPP_ACCESS_TOKEN=schema-access-token
WHATSAPP_PHONE_NUMBER_ID=$PHONE_NUMBER_ID
WHATSAPP_BUSINESS_ACCOUNT_ID=$WABA_ID
GRAPH_API_BASE=$stub
D360_API_BASE=$stub
GRAPH_TIMEOUT_S=5
EOF
cfg=(-c "$work/wrangler.toml")

"$WRANGLER" d1 migrations apply DB --local --persist-to "$work/state" "${cfg[@]}" > "$work/migrate.log" 2>&1 \
  || { cat "$work/migrate.log" >&2; die "applying migrations failed"; }

PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
base="http://127.0.0.1:$PORT"
# setsid: wrangler leads a new session, so the trap can end it and workerd by id.
setsid "$WRANGLER" dev "${cfg[@]}" --local --persist-to "$work/state" --env-file "$work/schema.env" \
  --ip 127.0.0.1 --port "$PORT" --log-level warn --show-interactive-dev-session=false \
  > "$work/dev.log" 2>&1 < /dev/null &
pids+=($!)
ready=""
for _ in $(seq 1 240); do   # at most ~60 s
  kill -0 "${pids[-1]}" 2>/dev/null || die "wrangler dev exited during start"
  if curl -fs -m 2 "$base/healthz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.25
done
[ -n "$ready" ] || die "the worker did not answer $base/healthz within 60 s"
python3 tests/schema/seed.py "$base" "$APP_SECRET" || die "seeding the worker failed"
echo "schema: worker answering on $base; Schemathesis for up to ${MAX_TIME} s (seed $SEED)"

# A fixed seed, --generation-database none and the cache off in
# tests/schema/schemathesis.toml (nothing carried over from earlier runs): a
# run depends only on the spec, the service and the seed.
# One worker: with more, Python 3.11's ast module (used by Hypothesis) fails
# now and then across threads, and results depend on thread timing.
# tests/schema/hooks.py drops the few generated "valid" requests that break a
# rule JSON Schema cannot state (see the file); docs/openapi.yaml states the rest.
status=0
SCHEMATHESIS_HOOKS=tests/schema/hooks.py python3 -m schemathesis.cli \
  --config-file tests/schema/schemathesis.toml run docs/openapi.yaml --url "$base" \
  --header "Authorization: Bearer $ADMIN" \
  --checks all \
  --phases examples,coverage,fuzzing \
  --max-time "$MAX_TIME" \
  --seed "$SEED" \
  --generation-database none \
  --workers 1 \
  --request-timeout 10 \
  --no-color \
  --report junit,ndjson --report-dir "$work/report" \
  || status=$?
[ "$status" -eq 0 ] || die "Schemathesis found failures (exit $status); KEEP_WORK=1 keeps its reports"
echo "schema: no failures"
