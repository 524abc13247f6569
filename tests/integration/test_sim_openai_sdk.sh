#!/usr/bin/env bash
# test_sim_openai_sdk.sh — the official OpenAI SDK (npm "openai", pinned in
# tests/node/package.json) as the client of elastic-sim, streaming and not.
# The SDK is installed into build/node (never committed) on first use.
# timeout: 300
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=${ES_BIN:-.}/sim/elastic-sim
[ -x "$SIM" ] || make -s sim/elastic-sim
command -v node >/dev/null || { echo "FAIL: node is missing (scripts/deps.sh installs it)" >&2; exit 1; }

SDK=build/node
want=$(python3 -c 'import json; print(json.load(open("tests/node/package.json"))["dependencies"]["openai"])')
have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
	"$SDK/node_modules/openai/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	echo "installing openai $want into $SDK"
	mkdir -p "$SDK"
	cp tests/node/package.json tests/node/package-lock.json "$SDK/"
	(cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
fi

TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$SIM" --host 127.0.0.1 --port 0 --port-file "$TMP/port" --served-model-name sim \
	--time-scale 0.2 >"$TMP/sim.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { cat "$TMP/sim.log"; echo "FAIL: sim did not start" >&2; exit 1; }
SDK_DIR=$SDK BASE_URL="http://127.0.0.1:$(cat "$TMP/port")/v1" MODEL=sim node tests/node/sdk_test.js
# The aborted stream shows up as an abort in the engine's metrics.
want='vllm:request_success_total{finished_reason="abort",model_name="sim"} 1.0'
page=
for _ in $(seq 50); do
	page=$(curl -s "http://127.0.0.1:$(cat "$TMP/port")/metrics")
	grep -qF "$want" <<<"$page" && break
	sleep 0.1
done
grep -qF "$want" <<<"$page" ||
	{ echo "FAIL: the aborted stream was not cancelled in the engine" >&2; exit 1; }
echo "ok: the abandoned stream was cancelled in the engine"
kill -TERM "$PID"
wait "$PID"
PID=
echo "ok: elastic-sim exits 0 on SIGTERM"
