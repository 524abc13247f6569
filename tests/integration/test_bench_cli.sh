#!/usr/bin/env bash
# test_bench_cli.sh — elasticctl bench against a real elastic-sim (no cluster
# needed): the measured TTFT, ITL, TPOT and E2E match the simulator's timing
# model, nothing fails, token counts are the server's (and the generator's
# words are exactly elastic-sim tokens), streamed and not, chat and
# completions, Poisson arrivals at the asked rate, multiturn conversations
# that hit the prefix cache, a JSONL file, --json, and the errors: bad
# flags exit 2, an unreachable server exits 1; bench-agents against a
# registry; elasticctl(1) documents every flag.
# timeout: 180
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=sim/elastic-sim
CTL=cli/elasticctl
if [ ! -x "$SIM" ] || [ ! -x "$CTL" ]; then make -s sim/elastic-sim cli/elasticctl; fi
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# start_sim NAME ARGS...: elastic-sim on an ephemeral port; sets PORT.
start_sim() {
	local name=$1; shift
	"$SIM" --host 127.0.0.1 --port 0 --port-file "$TMP/$name.port" \
		--served-model-name sim --log-level warn "$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -s "$TMP/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$TMP/$name.port" ] || { cat "$TMP/$name.log"; fail "$name: no port file"; }
	PORT=$(cat "$TMP/$name.port")
}

# field FILE EXPR: a value of the JSON report (a Python expression over j).
field() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# check FILE EXPR MSG: fails unless the Python expression over j holds.
check() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" ||
		{ python3 -m json.tool "$1" >&2; fail "$3"; }
}

# A simulator with a plain timing model: the first token 50 ms after
# admission (no prefill cost), then one every 10 ms.
start_sim timing --ttft-ms 50 --prefill-us-per-token 0 --itl-ms 10 --itl-us-per-seq 0
BASE=http://127.0.0.1:$PORT

# ---------------------------------------------------------------- streamed chat
"$CTL" bench --base-url "$BASE" --stream --num-prompts 40 --max-concurrency 8 \
	--random-input-len 64 --random-output-len 16 --ignore-eos --seed 1 \
	--json "$TMP/stream.json" >"$TMP/stream.txt" 2>"$TMP/stream.err" ||
	{ cat "$TMP/stream.err"; fail "bench --stream exited $?"; }
grep -q '^Successful requests: *40' "$TMP/stream.txt" || fail "table: $(cat "$TMP/stream.txt")"
grep -q '^Mean TTFT (ms):' "$TMP/stream.txt" || fail "no TTFT in the table"
check "$TMP/stream.json" 'j["completed"] == 40 and j["failed"] == 0' "streamed: not all completed"
check "$TMP/stream.json" 'j["model"] == "sim" and j["stream"] is True' "model from /v1/models"
# Token counts are the server's: 64 words + 4 chat-template tokens each.
check "$TMP/stream.json" 'j["usage_from_server"] and j["total_input_tokens"] == 40 * 68' \
	"input tokens: $(field "$TMP/stream.json" 'j["total_input_tokens"]') (want 2720)"
check "$TMP/stream.json" 'j["total_output_tokens"] == 40 * 16' "output tokens"
check "$TMP/stream.json" '48 <= j["median_ttft_ms"] <= 90' \
	"median TTFT $(field "$TMP/stream.json" 'j["median_ttft_ms"]') ms, want about 50"
check "$TMP/stream.json" '9 <= j["median_itl_ms"] <= 20' \
	"median ITL $(field "$TMP/stream.json" 'j["median_itl_ms"]') ms, want about 10"
check "$TMP/stream.json" '9 <= j["median_tpot_ms"] <= 20' \
	"median TPOT $(field "$TMP/stream.json" 'j["median_tpot_ms"]') ms, want about 10"
# E2E = TTFT + 15 gaps of 10 ms = 200 ms.
check "$TMP/stream.json" '195 <= j["median_e2el_ms"] <= 320' \
	"median E2E $(field "$TMP/stream.json" 'j["median_e2el_ms"]') ms, want about 200"
check "$TMP/stream.json" 'j["peak_inflight"] == 8' "concurrency limit"
check "$TMP/stream.json" 'j["mean_ttft_ms"] <= j["p90_ttft_ms"] * 1.5 and j["p90_ttft_ms"] <= j["p99_ttft_ms"]' \
	"percentiles out of order"
ok "streamed chat: TTFT $(field "$TMP/stream.json" 'round(j["median_ttft_ms"], 1)') ms," \
	"ITL $(field "$TMP/stream.json" 'round(j["median_itl_ms"], 1)') ms," \
	"E2E $(field "$TMP/stream.json" 'round(j["median_e2el_ms"], 1)') ms"

# ---------------------------------------------------------------- not streamed, completions
"$CTL" bench --base-url "$BASE/v1" --endpoint completions --num-prompts 20 --max-concurrency 10 \
	--random-input-len 32 --random-output-len 8 --ignore-eos -o json >"$TMP/plain.json" 2>/dev/null ||
	fail "bench completions exited $?"
check "$TMP/plain.json" 'j["completed"] == 20 and j["failed"] == 0 and j["endpoint"] == "completions"' \
	"completions: not all completed"
check "$TMP/plain.json" 'j["total_output_tokens"] == 160 and j["total_input_tokens"] >= 20 * 32' \
	"completions token counts"
check "$TMP/plain.json" 'j["median_ttft_ms"] == 0 and 115 <= j["median_e2el_ms"] <= 250' \
	"non-streamed E2E $(field "$TMP/plain.json" 'j["median_e2el_ms"]') ms, want about 120"
ok "completions, not streamed: E2E $(field "$TMP/plain.json" 'round(j["median_e2el_ms"], 1)') ms"

# ---------------------------------------------------------------- Poisson arrivals
"$CTL" bench --base-url "$BASE" --num-prompts 60 --request-rate 30 --random-input-len 8 \
	--random-output-len 2 --ignore-eos --seed 3 -o json >"$TMP/rate.json" 2>/dev/null ||
	fail "bench --request-rate exited $?"
# 60 arrivals at 30/s span about 2 s (59 exponential gaps: +-40 % is > 3 sigma).
check "$TMP/rate.json" 'j["completed"] == 60 and 1.2 <= j["duration"] <= 3.5' \
	"60 requests at 30/s took $(field "$TMP/rate.json" 'j["duration"]') s"
check "$TMP/rate.json" 'j["peak_inflight"] < 20' "Poisson arrivals should not pile up"
ok "Poisson arrivals: 60 requests at 30/s in $(field "$TMP/rate.json" 'round(j["duration"], 2)') s"

# ---------------------------------------------------------------- multiturn
start_sim cache --time-scale 0
"$CTL" bench --base-url "http://127.0.0.1:$PORT" --dataset multiturn --conversations 6 --turns 5 \
	--random-prefix-len 400 --random-input-len 40 --random-output-len 20 --stream \
	--max-concurrency 3 -o json >"$TMP/multi.json" 2>/dev/null || fail "bench multiturn exited $?"
check "$TMP/multi.json" 'j["completed"] == 30 and j["failed"] == 0 and j["turns"] == 5' \
	"multiturn: not all completed"
page=$(curl -s "http://127.0.0.1:$PORT/metrics")
q=$(awk '$1 ~ /^vllm:prefix_cache_queries_total[{]/ {print $2}' <<<"$page")
h=$(awk '$1 ~ /^vllm:prefix_cache_hits_total[{]/ {print $2}' <<<"$page")
python3 -c "import sys; sys.exit(0 if $h / $q > 0.6 else 1)" ||
	fail "multiturn: prefix-cache hit rate $h / $q, want > 0.6 (history resent)"
ok "multiturn: 6 x 5 turns, prefix-cache hits $h of $q tokens"

# ---------------------------------------------------------------- a JSONL file
cat >"$TMP/prompts.jsonl" <<'EOF'
{"prompt": "tell me a story", "max_tokens": 5}

{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
EOF
"$CTL" bench --base-url "http://127.0.0.1:$PORT" --dataset "$TMP/prompts.jsonl" --num-prompts 10 \
	--random-output-len 3 --ignore-eos -o json >"$TMP/file.json" 2>/dev/null || fail "bench FILE exited $?"
check "$TMP/file.json" 'j["completed"] == 10 and j["total_output_tokens"] == 5 * 5 + 5 * 3' \
	"JSONL dataset: $(cat "$TMP/file.json")"
ok "JSONL dataset, prompts and messages"

# ---------------------------------------------------------------- errors
set +e
"$CTL" bench --base-url "$BASE" --num-prompts zero >/dev/null 2>"$TMP/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad --num-prompts: exit $rc, want 2"
grep -q 'usage: elasticctl bench' "$TMP/err" || fail "no usage line: $(cat "$TMP/err")"
for bad in "--request-rate -1" "--random-range-ratio 1" "--endpoint nope" "--bogus" \
	"--header NoColon" "--dataset multiturn --turns 0"; do
	set +e
	# shellcheck disable=SC2086 # one flag and its value
	"$CTL" bench --base-url "$BASE" $bad >/dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "'$bad': exit $rc, want 2"
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set +e
"$CTL" bench --base-url "http://127.0.0.1:$port" --num-prompts 3 >/dev/null 2>"$TMP/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "unreachable server: exit $rc, want 1"
grep -q "cannot reach http://127.0.0.1:$port/v1/models: .*refused" "$TMP/err" ||
	fail "unreachable server: $(cat "$TMP/err")"
set +e
"$CTL" bench --base-url "$BASE" --model nope --num-prompts 3 --random-input-len 4 >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "every request failed: exit $rc, want 1"
# shellcheck disable=SC2016 # backquotes of the message
grep -q '3 x HTTP 404: The model `nope` does not exist' "$TMP/out" || fail "failures: $(cat "$TMP/out")"
ok "errors: usage exits 2, unreachable and all-failed exit 1"

# ---------------------------------------------------------------- bench-agents
REGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The simulated workers' URLs (10.x.y.z) name no machine: the check that a
# worker's URL is its caller's is off.
registry/elastic-registry --listen "127.0.0.1:$REGPORT" --auth none --state-dir "$TMP/reg" \
	--no-check-worker-host --log-level warn >"$TMP/reg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$REGPORT/health" >/dev/null && break; sleep 0.05; done
"$CTL" --registry "http://127.0.0.1:$REGPORT" --auth none bench-agents --workers 40 --per-agent 8 \
	--duration 3 --keep --json "$TMP/agents.json" >"$TMP/agents.txt" 2>&1 || fail "bench-agents: $(cat "$TMP/agents.txt")"
# 5 agents, one heartbeat a second each for 3 s; the registry lists all 40.
check "$TMP/agents.json" 'j["registrations_ok"] == 40 and j["agents"] == 5 and 12 <= j["heartbeats_ok"] <= 16 and j["heartbeats_failed"] == 0 and j["unknown"] == 0' \
	"bench-agents: $(cat "$TMP/agents.json")"
n=$("$CTL" --registry "http://127.0.0.1:$REGPORT" --auth none -o json ls |
	python3 -c 'import json, sys; print(sum(1 for w in json.load(sys.stdin)["workers"] if w["state"] == "ready"))')
[ "$n" = 40 ] || fail "the registry lists $n ready workers, want 40"
ok "bench-agents: 40 workers in 5 agents registered and heartbeating"

# ---------------------------------------------------------------- documentation
"$CTL" --help | grep -q '^  bench ' || fail "elasticctl --help does not list bench"
"$CTL" --help | grep -q '^  bench-agents ' || fail "elasticctl --help does not list bench-agents"
if command -v mandoc >/dev/null; then
	page=$(mandoc -Tascii man/elasticctl.1 | sed $'s/.\b//g')
	for f in $("$CTL" bench --help | grep -o -- '--[a-z][a-z-]*' | sort -u) \
		$("$CTL" bench-agents --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		[ "$f" = --help ] || [ "$f" = --registry ] || grep -q -- "$f" <<<"$page" ||
			fail "elasticctl(1) does not document $f"
	done
	ok "elasticctl(1) documents every flag of bench and bench-agents"
fi
