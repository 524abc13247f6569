#!/usr/bin/env bash
# test_sim_http.sh — elastic-sim end to end over HTTP (no cluster needed).
#
# Checks issue 3's done-when: a repeated 3,000-token system prompt hits the
# prefix cache and gets a lower time to first token; 64 concurrent streams
# with --max-num-seqs 16 show 16 running and 48 waiting; SIGTERM drains;
# --crash-after, --hang-after, --fail-rate, --startup-delay; a generation
# continued from the text so far (issue 11); tool calls (issue 12);
# multi-node.
# timeout: 180
set -euo pipefail
cd "$(dirname "$0")/../.."
SIM=${ES_BIN:-.}/sim/elastic-sim
[ -x "$SIM" ] || make -s sim/elastic-sim
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# start_sim NAME ARGS...: starts elastic-sim on an ephemeral port; sets
# PORT and PID.
start_sim() {
	local name=$1; shift
	rm -f "$TMP/$name.port"
	"$SIM" --host 127.0.0.1 --port 0 --port-file "$TMP/$name.port" \
		--served-model-name sim "$@" >"$TMP/$name.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 100); do
		[ -s "$TMP/$name.port" ] && break
		kill -0 "$PID" 2>/dev/null || { cat "$TMP/$name.log"; fail "$name: sim died"; }
		sleep 0.05
	done
	[ -s "$TMP/$name.port" ] || fail "$name: no port file"
	PORT=$(cat "$TMP/$name.port")
}

metric() { # metric PORT NAME: the value of NAME's first sample
	local page
	page=$(curl -s "http://127.0.0.1:$1/metrics")
	awk -v n="$2" '$1 ~ "^"n"[{]" {print $2; exit}' <<<"$page"
}

chat() { # chat PORT BODYFILE: prints status, time_total
	curl -s -o "$TMP/out.json" -w '%{http_code} %{time_total}' \
		-H 'Content-Type: application/json' --data-binary @"$2" \
		"http://127.0.0.1:$1/v1/chat/completions"
}

# ---------------------------------------------------------------- prefix cache
start_sim prefix --time-scale 1 --ttft-ms 5 --prefill-us-per-token 200 --itl-ms 5
python3 - "$TMP/sys.json" <<'PY'
import json, sys
system = "".join(" tok" for _ in range(3000))  # 3,000 tokens
body = {"model": "sim", "max_tokens": 1,
        "messages": [{"role": "system", "content": system},
                     {"role": "user", "content": "What is this?"}]}
open(sys.argv[1], "w").write(json.dumps(body))
PY
read -r st1 t1 <<<"$(chat "$PORT" "$TMP/sys.json")"
[ "$st1" = 200 ] || fail "first request: $st1"
ttft1=$(metric "$PORT" vllm:time_to_first_token_seconds_sum)
hits1=$(metric "$PORT" vllm:prefix_cache_hits_total)
read -r st2 t2 <<<"$(chat "$PORT" "$TMP/sys.json")"
[ "$st2" = 200 ] || fail "second request: $st2"
cached=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usage"]["prompt_tokens_details"]["cached_tokens"])' "$TMP/out.json")
ttft_sum=$(metric "$PORT" vllm:time_to_first_token_seconds_sum)
hits2=$(metric "$PORT" vllm:prefix_cache_hits_total)
queries=$(metric "$PORT" vllm:prefix_cache_queries_total)
echo "first: ${t1}s (server TTFT ${ttft1}s), second: ${t2}s; cached tokens $cached; hits $hits1 -> $hits2 of $queries"
python3 - "$ttft1" "$ttft_sum" "$hits1" "$hits2" "$t1" "$t2" "$cached" <<'PY' || fail "prefix cache did not help"
import sys
ttft1, total, h1, h2, t1, t2, cached = map(float, sys.argv[1:])
ttft2 = total - ttft1
print(f"server TTFT: first {ttft1:.4f}s, second {ttft2:.4f}s")
assert h1 == 0 and h2 >= 2900, (h1, h2)
assert cached >= 2900
assert ttft2 < ttft1 / 4, (ttft1, ttft2)
assert t2 < t1, (t1, t2)
PY
ok "prefix cache: hits in /metrics and a lower TTFT the second time"
kill -TERM "$PID"; wait "$PID" || fail "prefix sim exit status $?"

# ---------------------------------------------------------------- batching
start_sim batch --time-scale 1 --max-num-seqs 16 --ttft-ms 5 --itl-ms 50 --itl-us-per-seq 0
body='{"model":"sim","messages":[{"role":"user","content":"Count."}],"max_tokens":60,"ignore_eos":true,"stream":true}'
CURLS=()
for i in $(seq 64); do
	curl -sN -H 'Content-Type: application/json' -d "$body" \
		"http://127.0.0.1:$PORT/v1/chat/completions" >"$TMP/stream.$i" &
	CURLS+=($!)
done
ok_seen=0
for _ in $(seq 100); do
	sleep 0.1
	r=$(metric "$PORT" vllm:num_requests_running); w=$(metric "$PORT" vllm:num_requests_waiting)
	if [ "$r" = 16.0 ] && [ "$w" = 48.0 ]; then ok_seen=1; break; fi
done
echo "running=$r waiting=$w"
[ $ok_seen = 1 ] || fail "expected 16 running and 48 waiting"
ok "64 streams, --max-num-seqs 16: 16 running, 48 waiting"
for p in "${CURLS[@]}"; do wait "$p" || fail "a stream failed"; done
for i in $(seq 64); do
	tail -c 14 "$TMP/stream.$i" | grep -q 'data: \[DONE\]' || fail "stream $i did not end with [DONE]"
	n=$(grep -c '"content"' "$TMP/stream.$i")
	[ "$n" = 61 ] || fail "stream $i: $n content chunks, want 61"
done
[ "$(metric "$PORT" vllm:num_requests_running)" = 0.0 ] || fail "running after the streams"
ok "all 64 streams complete"

# ---------------------------------------------------------------- SIGTERM drains
body='{"model":"sim","prompt":"Go","max_tokens":40,"ignore_eos":true,"stream":true}'
curl -sN -H 'Content-Type: application/json' -d "$body" \
	"http://127.0.0.1:$PORT/v1/completions" >"$TMP/drain.out" &
CP=$!
sleep 0.3
kill -TERM "$PID"
sleep 0.1
if curl -s -m 2 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then
	fail "still accepting after SIGTERM"
fi
wait "$CP" || fail "in-flight stream failed during drain"
tail -c 14 "$TMP/drain.out" | grep -q 'data: \[DONE\]' || fail "drained stream incomplete"
st=0; wait "$PID" || st=$?
[ "$st" = 0 ] || fail "exit status $st after SIGTERM"
ok "SIGTERM: stops accepting, finishes in-flight streams, exits 0"

# ---------------------------------------------------------------- faults
start_sim crash --time-scale 0 --crash-after 2
req='{"model":"sim","prompt":"x","max_tokens":2}'
for i in 1 2; do
	s=$(curl -s -o /dev/null -w '%{http_code}' -d "$req" "http://127.0.0.1:$PORT/v1/completions")
	[ "$s" = 200 ] || fail "crash-after: request $i got $s"
done
st=0; wait "$PID" || st=$?
[ "$st" = 70 ] || fail "crash-after: exit status $st, want 70"
ok "--crash-after 2: two answers, then exit 70"

start_sim hang --time-scale 0 --hang-after 1
s=$(curl -s -o /dev/null -w '%{http_code}' -d "$req" "http://127.0.0.1:$PORT/v1/completions")
[ "$s" = 200 ] || fail "hang-after: first request got $s"
s=0; curl -s -m 1 -o /dev/null -d "$req" "http://127.0.0.1:$PORT/v1/completions" || s=$?
[ "$s" = 28 ] || fail "hang-after: second request: curl status $s, want 28 (timeout)"
s=0; curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/health" || s=$?
[ "$s" = 28 ] || fail "hang-after: health: curl status $s, want 28"
kill -0 "$PID" || fail "hang-after: process gone"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
ok "--hang-after 1: connections accepted, never answered"

start_sim failr --time-scale 0 --fail-rate 1
s=$(curl -s -o "$TMP/f.json" -w '%{http_code}' -d "$req" "http://127.0.0.1:$PORT/v1/completions")
[ "$s" = 500 ] || fail "fail-rate: got $s"
grep -q '"type":"InternalServerError"' "$TMP/f.json" || fail "fail-rate body: $(cat "$TMP/f.json")"
kill -TERM "$PID"; wait "$PID"
ok "--fail-rate 1: 500 in OpenAI's error JSON"

start_sim delay --startup-delay 1
s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
[ "$s" = 503 ] || fail "startup-delay: health $s at start, want 503"
sleep 1.2
s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
[ "$s" = 200 ] || fail "startup-delay: health $s after the delay"
kill -TERM "$PID"; wait "$PID"
ok "--startup-delay 1: 503, then healthy"


# ---------------------------------------------------------------- continuation
# A stream cut after some tokens and resent as a continuation (what the
# proxy does when a worker dies) gives the uninterrupted text.
start_sim cont --time-scale 0 --output-len 20
python3 - "$PORT" <<'PY' || fail "continuation"
import json, sys, urllib.request
port = sys.argv[1]
def call(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        raw = r.read().decode()
    if not body.get("stream"):
        return json.loads(raw)
    deltas, usage, finish = [], None, None
    for ev in raw.split("\n\n"):
        if not ev.startswith("data: ") or ev == "data: [DONE]":
            continue
        c = json.loads(ev[6:])
        if not c["choices"]:
            usage = c["usage"]
            continue
        ch = c["choices"][0]
        t = ch["delta"].get("content") if "delta" in ch else ch["text"]
        if "delta" in ch and "role" in ch["delta"]:
            continue
        deltas.append(t)
        finish = ch["finish_reason"] or finish
    return deltas, usage, finish
msgs = [{"role": "user", "content": "Write a line."}]
for seed in (3, 99):
    stream = {"stream": True, "stream_options": {"include_usage": True}}
    deltas, usage, finish = call("/v1/chat/completions",
                                 {"messages": msgs, "seed": seed, "max_tokens": 15, **stream})
    assert len(deltas) == 15 and finish == "length", (deltas, finish)
    whole = "".join(deltas)
    for cut in (0, 1, 7, 14):
        sofar = "".join(deltas[:cut])
        d, u, f = call("/v1/chat/completions", {
            "messages": msgs + [{"role": "assistant", "content": sofar}],
            "continue_final_message": True, "add_generation_prompt": False,
            "seed": seed, "max_tokens": 15 - cut, **stream})
        assert sofar + "".join(d) == whole, (cut, sofar + "".join(d), whole)
        assert f == finish and u["prompt_tokens"] == usage["prompt_tokens"] + cut, (f, u)
        assert u["completion_tokens"] + cut == 15, u
    full = call("/v1/completions", {"prompt": "Go:", "seed": seed})
    text = full["choices"][0]["text"]
    words = [text.split(" ")[0]] + [" " + w for w in text.split(" ")[1:]]
    assert len(words) == 20 and full["choices"][0]["finish_reason"] == "stop", full
    for cut in (3, 19):
        part = call("/v1/completions", {"prompt": "Go:" + "".join(words[:cut]), "seed": seed})
        assert "".join(words[:cut]) + part["choices"][0]["text"] == text, (cut, part)
        assert part["usage"]["completion_tokens"] == 20 - cut, part["usage"]
print("continuations match the uninterrupted text")
PY
kill -TERM "$PID"; wait "$PID"
ok "continuation: a generation resent at any token gives the uninterrupted text"

# ---------------------------------------------------------------- tool calls
# A chat with tools: a search call, then (--tool-rounds 1) the answer from
# the tool's result; streamed, the call comes in vLLM's chunks.
start_sim tools --time-scale 0 --tool-rounds 1
python3 - "$PORT" <<'PY' || fail "tool calls"
import json, sys, urllib.request
port = sys.argv[1]
def call(body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions",
                                 json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()
tools = [{"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
msgs = [{"role": "user", "content": "capital of Peru?"}]
first = json.loads(call({"messages": msgs, "tools": tools}))
c = first["choices"][0]
assert c["finish_reason"] == "tool_calls" and c["message"]["content"] is None, c
tc = c["message"]["tool_calls"][0]
assert tc["function"]["name"] == "search", tc
assert json.loads(tc["function"]["arguments"]) == {"q": "capital of Peru?"}, tc
raw = call({"messages": msgs, "tools": tools, "stream": True})
chunks = [json.loads(e[6:]) for e in raw.split("\n\n") if e.startswith("data: {")]
assert raw.endswith("data: [DONE]\n\n"), raw[-40:]
head = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
assert head["id"] == tc["id"] and head["function"] == {"name": "search", "arguments": ""}, head
args = "".join(ch["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
               for ch in chunks[2:-1])
assert args == tc["function"]["arguments"], args
assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls", chunks[-1]
msgs += [{"role": "assistant", "content": None, "tool_calls": [tc]},
         {"role": "tool", "tool_call_id": tc["id"], "content": "Lima is the capital of Peru."}]
ans = json.loads(call({"messages": msgs, "tools": tools}))["choices"][0]
assert ans["message"]["content"] == "Answer: Lima is the capital of Peru.", ans
assert ans["finish_reason"] == "stop", ans
print("search call, then the answer")
PY
kill -TERM "$PID"; wait "$PID"
ok "tool calls: a search call, streamed and not, then the answer from its result"

# ---------------------------------------------------------------- multi-node
MP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -f "$TMP/r0.port"
"$SIM" --host 127.0.0.1 --port 0 --port-file "$TMP/r0.port" --nnodes 2 --node-rank 0 \
	--master-addr 127.0.0.1 --master-port "$MP" >"$TMP/r0.log" 2>&1 &
R0=$!; PIDS+=("$R0")
sleep 0.5
[ ! -s "$TMP/r0.port" ] || fail "rank 0 serves HTTP before rank 1 joined"
"$SIM" --headless --nnodes 2 --node-rank 1 --master-addr 127.0.0.1 --master-port "$MP" \
	>"$TMP/r1.log" 2>&1 &
R1=$!; PIDS+=("$R1")
for _ in $(seq 100); do [ -s "$TMP/r0.port" ] && break; sleep 0.05; done
[ -s "$TMP/r0.port" ] || fail "rank 0 does not serve after rank 1 joined"
s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$TMP/r0.port")/health")
[ "$s" = 200 ] || fail "rank 0 health $s"
kill -9 "$R1"; wait "$R1" 2>/dev/null || true
st=0; wait "$R0" || st=$?
[ "$st" = 1 ] || fail "rank 0 exit status $st after rank 1 went away, want 1"
grep -q "node rank 1 went away" "$TMP/r0.log" || fail "rank 0 log: $(cat "$TMP/r0.log")"
ok "multi-node: rank 0 serves only with rank 1, exits 1 when it goes"

"$SIM" --host 127.0.0.1 --port 0 --nnodes 2 --node-rank 0 --master-addr 127.0.0.1 \
	--master-port "$MP" >"$TMP/r0b.log" 2>&1 &
R0=$!; PIDS+=("$R0")
"$SIM" --headless --nnodes 2 --node-rank 1 --master-addr 127.0.0.1 --master-port "$MP" \
	>"$TMP/r1b.log" 2>&1 &
R1=$!; PIDS+=("$R1")
for _ in $(seq 100); do grep -q "all 2 nodes joined" "$TMP/r0b.log" && break; sleep 0.05; done
kill -TERM "$R0"
st=0; wait "$R0" || st=$?
[ "$st" = 0 ] || fail "rank 0 exit status $st after SIGTERM"
st=0; wait "$R1" || st=$?
[ "$st" = 0 ] || fail "rank 1 exit status $st after rank 0 stopped cleanly, want 0"
"$SIM" --headless --nnodes 2 --node-rank 1 --master-addr 127.0.0.1 --master-port "$MP" \
	>"$TMP/r1c.log" 2>&1 &
R1=$!; PIDS+=("$R1")
"$SIM" --host 127.0.0.1 --port 0 --nnodes 2 --node-rank 0 --master-addr 127.0.0.1 \
	--master-port "$MP" >"$TMP/r0c.log" 2>&1 &
R0=$!; PIDS+=("$R0")
for _ in $(seq 100); do grep -q "all 2 nodes joined" "$TMP/r0c.log" && break; sleep 0.1; done
grep -q "all 2 nodes joined" "$TMP/r0c.log" || fail "rank 1 started first did not join"
kill -9 "$R0"; wait "$R0" 2>/dev/null || true
st=0; wait "$R1" || st=$?
[ "$st" = 1 ] || fail "rank 1 exit status $st after rank 0 vanished, want 1"
ok "multi-node: other ranks exit when rank 0 goes (0 on a clean stop, 1 otherwise)"

# ---------------------------------------------------------------- flags
help=$("$SIM" --help)
grep -q -- '--max-num-seqs' <<<"$help" || fail "--help"
st=0; "$SIM" --no-such-flag 2>/dev/null || st=$?
[ "$st" = 2 ] || fail "unknown flag: status $st"
st=0; "$SIM" --port 70000 2>/dev/null || st=$?
[ "$st" = 2 ] || fail "bad port: status $st"
# Every flag of --help is in the manual, and the manual is lint-clean.
for f in $(grep -o -- '^  --[a-z-]*' <<<"$help" | sed 's/^  --//'); do
	grep -q -- "$f" man/elastic-sim.1 || fail "--$f is not in man/elastic-sim.1"
done
if command -v mandoc >/dev/null; then
	mandoc -Tlint man/elastic-sim.1 || fail "mandoc -Tlint man/elastic-sim.1"
fi
ok "flags, --help and the manual"
echo "all elastic-sim HTTP checks passed"
