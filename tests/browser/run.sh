#!/usr/bin/env bash
# Browser end-to-end tests: builds the demo server, starts it on a free
# loopback port, runs tests/browser/*.test.js against it in headless Chromium
# (Debian's /usr/bin/chromium, driven by playwright-core from js/), and stops
# the server again, whatever happens.
#
#   tests/browser/run.sh                 # everything
#   tests/browser/run.sh demo.test.js    # some files only
#
# Needs: cargo, node >= 20, npm (for js/'s devDependencies), chromium. Works
# with CARGO_TARGET_DIR set: binaries are found where cargo says it put them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "run.sh: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM)" >&2
  exit 1
fi

if [[ ! -d js/node_modules/playwright-core || ! -d js/node_modules/jquery ]]; then
  (cd js && npm ci --no-audit --no-fund)
fi

# The release build by default; RIVULET_PROFILE=dev tests a debug build (quicker
# to compile, slower to run).
profile="${RIVULET_PROFILE:-release}"
cargo build --profile "$profile"
# The example apps, for examples.test.js.
cargo build --profile "$profile" -p rivulet-http --all-features --examples
# Where cargo put them: target/ unless CARGO_TARGET_DIR or a cargo config says
# otherwise; cargo itself answers, as an absolute path. The tests that start
# binaries of their own (h2.test.js, examples.test.js) read it from here.
RIVULET_BIN_DIR="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')/$([[ $profile == dev ]] && echo debug || echo "$profile")"
export RIVULET_BIN_DIR

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
url="http://127.0.0.1:$port"
log="$(mktemp -t rivulet-demo.XXXXXX.log)"

"$RIVULET_BIN_DIR/rivulet" demo --addr "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

# Up to 30 s for the server to answer.
for _ in $(seq 1 300); do
  if curl -fsS -o /dev/null --max-time 1 "$url/metrics"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "run.sh: the demo server exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS -o /dev/null --max-time 5 "$url/metrics"

files=()
if [[ $# -gt 0 ]]; then
  for f in "$@"; do files+=("tests/browser/${f#tests/browser/}"); done
else
  files=(tests/browser/*.test.js)
fi

status=0
# One file at a time (they share the server's metrics); no test may run past
# 60 s, and the runner exits even if a browser were left open.
RIVULET_URL="$url" CHROMIUM="$chromium" \
  node --test --test-concurrency=1 --test-timeout=60000 --test-force-exit "${files[@]}" || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- demo server log ($log) ---" >&2
  tail -n 50 "$log" >&2
fi
exit $status
