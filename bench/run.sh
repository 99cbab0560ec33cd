#!/usr/bin/env bash
# Bundle size and ack latency of the release worker, measured in one run on
# loopback: a trivial GET and signed ~2 KB notification POSTs against the same
# local worker (wrangler dev, local D1). Writes docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
BODIES=${BODIES:-12000}
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
SECRET=bench-app-secret
ADMIN=bench-admin-token
VERIFY=bench-verify-token
WRANGLER=node_modules/.bin/wrangler
export WRANGLER_SEND_METRICS=false

[ -f build/index.js ] && [ -f build/index_bg.wasm ] || { echo "build/ is missing: run make build" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work" .wrangler-bench.toml; }
trap cleanup EXIT

# The bundle: what `wrangler deploy` uploads.
wasm_raw=$(stat -c %s build/index_bg.wasm); js_raw=$(stat -c %s build/index.js)
wasm_gz=$(gzip -9 -c build/index_bg.wasm | wc -c); js_gz=$(gzip -9 -c build/index.js | wc -c)
total_gz=$((wasm_gz + js_gz))

# Serve the existing build (no rebuild) with a local D1 under $work.
sed -e '/^\[build\]/,/^$/d' wrangler.toml > .wrangler-bench.toml
$WRANGLER d1 migrations apply DB --local --persist-to "$work" -c .wrangler-bench.toml >/dev/null
$WRANGLER dev -c .wrangler-bench.toml --local --persist-to "$work" --ip 127.0.0.1 --port "$PORT" \
  --log-level warn --var "WHATSAPP_APP_SECRET:$SECRET" --var "ADMIN_TOKEN:$ADMIN" \
  --var "WHATSAPP_VERIFY_TOKEN:$VERIFY" > "$work/dev.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  curl -fs -m 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs -m 5 "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$work/dev.log" >&2; exit 1; }

mix=$(python3 bench/bodies.py "$BODIES" "$SECRET" "$work/bodies.tsv")
avg_body=$(awk -F'\t' '{ n += length($2) } END { printf "%d", n / NR }' "$work/bodies.tsv")

# Warm the isolate, then measure both variants back to back.
wrk -t1 -c4 -d2s "http://127.0.0.1:$PORT/healthz" >/dev/null
get=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/get.lua \
  "http://127.0.0.1:$PORT/webhook?hub.mode=subscribe&hub.verify_token=$VERIFY&hub.challenge=123" | grep '^RESULT')
post=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/post.lua \
  "http://127.0.0.1:$PORT" -- "$work/bodies.tsv" | grep '^RESULT')

field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
get_rps=$(field "$get" rps); post_rps=$(field "$post" rps)
post_requests=$(field "$post" requests); post_non2xx=$(field "$post" non2xx)
ratio=$(python3 -c "print(f'{$post_rps / $get_rps:.2f}')")

# Nothing acknowledged is lost: every body carries one item, so the stored
# messages and statuses must cover every 2xx answer.
count() {
  $WRANGLER d1 execute DB --local --persist-to "$work" -c .wrangler-bench.toml --json \
    --command "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM statuses) AS n" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["results"][0]["n"])'
}
stored=$(count)
acked=$((post_requests - post_non2xx))
if [ "$post_requests" -gt "$BODIES" ]; then acked=$BODIES; fi
lost=$(( acked > stored ? acked - stored : 0 ))

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" non2xx)"; }

python3 - "$work/section.md" <<PY
import sys
open(sys.argv[1], "w").write("""## Latest run

$(date -u +%Y-%m-%d) on commit \`$commit\`; wrk -t1 -c$CONNECTIONS, ${DURATION} s per variant, one after the other against the same worker.

### Bundle

| file | raw | gzip -9 |
|---|---|---|
| build/index_bg.wasm | $wasm_raw | $wasm_gz |
| build/index.js | $js_raw | $js_gz |
| **total** | | **$total_gz** (target ≤ 358400) |

### Ack latency

| variant | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
$(row "GET /webhook (verification, no D1)" "$get")
$(row "POST /webhook (verify HMAC, parse, one D1 batch)" "$post")

- POST/GET throughput ratio: **$ratio** (the figure to compare between runs; absolute numbers move with the machine's load).
- POST bodies: $BODIES distinct signed notifications, average $avg_body bytes, mix $mix, every one with its own wamid (each request is a real insert, not a dedupe).
- Stored items after the run: $stored for $acked acknowledged deliveries; acknowledged but not stored: **$lost**.
""")
PY

{
  cat <<'HEAD'
# Benchmarks

`make bench` (which runs `bench/run.sh` after a release build) measures, in one run:

- the size of what `wrangler deploy` uploads (`build/index_bg.wasm` + `build/index.js`, gzip -9), against a target of at most 350 KB;
- the webhook's acknowledgement latency on the local worker (`wrangler dev --local`, local D1, loopback, `--log-level warn`): a trivial GET beside signed ~2 KB notification POSTs at 16 concurrent connections, reporting req/s, p50, p99 and non-2xx. Targets: p99 under 250 ms, zero non-2xx, nothing acknowledged lost.

The machine is 2 shared cores; absolute figures are noisy, so compare the POST/GET ratio between runs. Local D1 (SQLite behind wrangler's dev server) is the ceiling for POSTs: each delivery is one D1 batch.

HEAD
  cat "$work/section.md"
} > docs/BENCHMARKS.md

cat "$work/section.md"
[ "$lost" -eq 0 ] || { echo "acknowledged deliveries missing from D1: $lost" >&2; exit 1; }
