#!/usr/bin/env bash
# sim-throughput.sh — elastic-sim's request rate at --time-scale 0.
#
#   bench/sim-throughput.sh [DURATION] [CONNECTIONS]
#
# elastic-sim runs pinned to CPU 0, wrk (one thread, keep-alive, a Lua
# script that POSTs a small chat completion) pinned to CPU 1. Prints wrk's
# report, the sim's CPU use during the run and what else was busy.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
CONNS=${2:-64}
SIM=sim/elastic-sim
[ -x "$SIM" ] || make -s sim/elastic-sim
command -v wrk >/dev/null || { echo "wrk is missing (scripts/deps.sh installs it)" >&2; exit 1; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

taskset -c 0 "$SIM" --host 127.0.0.1 --port 0 --port-file "$TMP/port" \
	--served-model-name sim --time-scale 0 --log-level warn &
PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
URL=http://127.0.0.1:$PORT/v1/chat/completions
echo "== $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -s -d @- "$URL" <<<'{"model":"sim","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8}'
echo
taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s bench/sim-post.lua "$URL" >/dev/null # warm-up
t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
taskset -c 1 wrk -t1 -c"$CONNS" -d"$DUR" --latency -s bench/sim-post.lua "$URL"
t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
secs=${DUR%s}
echo "== elastic-sim CPU: $(( (t1 - t0) * 100 / $(getconf CLK_TCK) / secs ))% of one core"
echo "== other busy processes (top):"
top -bn1 -o %CPU | sed -n '7,12p'
