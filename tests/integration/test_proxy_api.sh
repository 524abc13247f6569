#!/usr/bin/env bash
# test_proxy_api.sh — the registry's OpenAI-compatible proxy against real
# elastic-sim workers: endpoints and errors, SSE byte-identical to direct
# and passed on chunk by chunk, waiting for a worker, draining, a client
# that leaves, backpressure with bounded memory, metrics.
# timeout: 240
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

px_sim a --served-model-name sim --time-scale 0
px_sim b --served-model-name sim --time-scale 0
px_sim slow --served-model-name slow --ttft-ms 40 --itl-ms 100
# Two sims in the same state (ids come from a per-engine sequence): one
# asked directly, the other through the proxy.
px_sim sse1 --served-model-name sse --time-scale 0
px_sim sse2 --served-model-name sse --time-scale 0
px_sim big --served-model-name big --time-scale 0 --output-len 400000 --max-model-len 500000 \
	--num-gpu-blocks 40000
px_registry '[proxy]' 'wait_for_worker = "1s"'
px_register 1.n1.0 a sim
px_register 1.n2.0 b sim
px_register 2.n1.0 slow slow
px_register 3.n1.0 big big
px_register 4.n1.0 sse2 sse
P=$PX_URL

# ---------------------------------------------------------------- endpoints
models=$(curl -sS "$P/v1/models")
python3 - "$models" <<'EOF' || die "bad /v1/models: $models"
import json, sys
m = json.loads(sys.argv[1])
assert m["object"] == "list", m
ids = sorted(x["id"] for x in m["data"])
assert ids == ["big", "sim", "slow", "sse"], ids
assert all(x["object"] == "model" for x in m["data"])
EOF
curl -sS "$P/v1/models/sim" | grep -q '"id":"sim"' || die "GET /v1/models/sim"
log "ok: /v1/models lists the models with a ready worker"

hdrs=$PX_DIR/h
body=$(curl -sS -D "$hdrs" "$P/v1/chat/completions" -d "$(px_chat sim 'Say hello.')")
grep -q '"object":"chat.completion"' <<<"$body" || die "chat: $body"
grep -Eqi '^X-Elastic-Worker: 1\.n[12]\.0' "$hdrs" || die "no X-Elastic-Worker: $(cat "$hdrs")"
grep -qi '^Content-Length:' "$hdrs" || die "a whole response keeps its Content-Length"
body=$(curl -sS "$P/v1/completions" -d '{"model":"sim","prompt":"Once upon a time","max_tokens":4}')
grep -q '"object":"text_completion"' <<<"$body" || die "completions: $body"
body=$(curl -sS "$P/v1/embeddings" -d '{"model":"sim","input":"hello"}')
grep -q '"embedding"' <<<"$body" || die "embeddings: $body"
log "ok: chat, completions and embeddings through the proxy"

expect_error() { # STATUS PARAM METHOD PATH [BODY]
	local want=$1 param=$2 method=$3 path=$4 data=${5:-} out st
	if [ -n "$data" ]; then
		out=$(curl -sS -X "$method" -w '\n%{http_code}' "$P$path" -d "$data")
	else
		out=$(curl -sS -X "$method" -w '\n%{http_code}' "$P$path")
	fi
	st=${out##*$'\n'}
	out=${out%$'\n'*}
	[ "$st" = "$want" ] || die "$method $path: status $st, want $want: $out"
	python3 - "$out" "$want" "$param" <<'EOF' || die "$method $path: not OpenAI's error JSON: $out"
import json, sys
e = json.loads(sys.argv[1])["error"]
assert e["code"] == int(sys.argv[2]) and e["message"] and e["type"], e
assert (e["param"] or "") == sys.argv[3], e
EOF
}
expect_error 404 model POST /v1/chat/completions "$(px_chat nosuch hi)"
expect_error 400 model POST /v1/chat/completions '{"messages":[]}'
expect_error 400 "" POST /v1/chat/completions '{"model":"sim",'
expect_error 400 model POST /v1/chat/completions '{"model":7}'
expect_error 400 "" POST /v1/completions '{"model":"sim","model":"other","prompt":"x"}'
expect_error 405 "" GET /v1/chat/completions
expect_error 404 "" GET /v1
expect_error 404 model GET /v1/models/nosuch
out=$(curl -sS -w '\n%{http_code}' -H 'X-Elastic-Policy: fastest' "$P/v1/chat/completions" \
	-d "$(px_chat sim hi)")
[ "${out##*$'\n'}" = 400 ] || die "an unknown X-Elastic-Policy is a 400: $out"
log "ok: errors in OpenAI's JSON (404 model, 400 JSON/model/duplicate, 405)"

# Other /v1/ paths go to a worker of the model (the sim has none of them).
out=$(curl -sS -D "$hdrs" -w '\n%{http_code}' "$P/v1/responses" -H 'Content-Type: application/json' \
	-d '{"model":"sim","input":"x"}')
[ "${out##*$'\n'}" = 404 ] || die "pass-through: $out"
grep -qi '^X-Elastic-Worker: 1\.n' "$hdrs" || die "pass-through did not reach a worker"
out=$(curl -sS -D "$hdrs" -w '\n%{http_code}' "$P/v1/tokenize?model=slow")
grep -qi '^X-Elastic-Worker: 2\.n1\.0' "$hdrs" || die "?model= did not route: $out"
log "ok: other /v1/ paths are passed to a worker of the model"

# ---------------------------------------------------------------- SSE
req='{"model":"sse","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":40,"seed":5,"stream":true,"stream_options":{"include_usage":true}}'
for _ in 1 2 3; do
	curl -sS -N "http://127.0.0.1:${PX_PORT[sse1]}/v1/chat/completions" -d "$req" >"$PX_DIR/direct.sse"
	curl -sS -N -D "$hdrs" "$P/v1/chat/completions" -d "$req" >"$PX_DIR/proxy.sse"
	# The same second: "created" matches too.
	cmp -s "$PX_DIR/direct.sse" "$PX_DIR/proxy.sse" && break
done
cmp "$PX_DIR/direct.sse" "$PX_DIR/proxy.sse" || die "SSE through the proxy differs from direct"
grep -qi '^Content-Type: text/event-stream' "$hdrs" || die "SSE content type lost"
[ "$(grep -c '^data: ' "$PX_DIR/proxy.sse")" -ge 42 ] || die "too few events"
tail -c 14 "$PX_DIR/proxy.sse" | grep -q 'data: \[DONE\]' || die "no [DONE]"
log "ok: SSE through the proxy is byte-identical to direct ($(wc -c <"$PX_DIR/proxy.sse") bytes)"

# Chunk by chunk: events 100 ms apart upstream arrive 100 ms apart.
timing() { # URL -> arrival times of each event (s since the request)
	python3 - "$1" <<'EOF'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
body = json.dumps({"model": "slow", "prompt": "Count", "max_tokens": 8, "stream": True, "seed": 1})
t0 = time.monotonic()
c.request("POST", u.path, body, {"Content-Type": "application/json"})
r = c.getresponse()
buf, times = b"", []
while True:
    d = r.read1(65536)
    if not d:
        break
    buf += d
    while b"\n\n" in buf:
        ev, buf = buf.split(b"\n\n", 1)
        times.append(time.monotonic() - t0)
print(" ".join("%.4f" % t for t in times))
EOF
}
direct=$(timing "http://127.0.0.1:${PX_PORT[slow]}/v1/completions")
proxied=$(timing "$P/v1/completions")
python3 - "$direct" "$proxied" <<'EOF' || die "events were held back: direct $direct, proxied $proxied"
import sys
d = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
assert len(d) == len(p) >= 9, (d, p)
gaps = [b - a for a, b in zip(p, p[1:-1])]
# Each event left on its own, about itl apart (not bunched at the end).
assert min(gaps) > 0.05, gaps
# And as soon as direct: within 30 ms of the same offset.
assert all(abs(a - b) < 0.03 for a, b in zip(d, p)), list(zip(d, p))
EOF
log "ok: events pass one by one as they arrive ($proxied)"

# ---------------------------------------------------------------- workers come and go
# Drain the only "slow" worker while it streams: the stream finishes; new
# requests wait for a worker, then get 503 with Retry-After.
curl -sS -N "$P/v1/completions" -d '{"model":"slow","prompt":"x","max_tokens":10,"stream":true}' \
	>"$PX_DIR/drained.sse" &
cpid=$!
sleep 0.3
px_api POST /api/v1/drain '{"worker":"2.n1.0"}' | grep -q '"drained":1' || die "drain"
t0=$(date +%s%N)
out=$(curl -sS -D "$hdrs" -w '\n%{http_code}' "$P/v1/completions" -d '{"model":"slow","prompt":"x","max_tokens":2}')
ms=$((($(date +%s%N) - t0) / 1000000))
[ "${out##*$'\n'}" = 503 ] || die "no ready worker: $out"
grep -qi '^Retry-After:' "$hdrs" || die "503 without Retry-After"
[ "$ms" -ge 900 ] || die "gave up after $ms ms, before wait_for_worker (1 s)"
wait "$cpid"
tail -c 14 "$PX_DIR/drained.sse" | grep -q 'data: \[DONE\]' || die "the draining worker's stream was cut"
log "ok: a draining worker finishes its stream and gets no new request; 503 after ${ms} ms"

# A worker that becomes ready while requests wait takes them.
curl -sS -w '\n%{http_code}' "$P/v1/completions" -d '{"model":"slow","prompt":"x","max_tokens":2}' \
	>"$PX_DIR/waited" &
cpid=$!
sleep 0.3
[ "$(px_metric 'elastic_proxy_waiting{pool="slow"}')" = 1 ] || die "the request is not waiting"
px_register 2.n2.0 slow slow # the same engine, as a new worker
wait "$cpid"
[ "$(tail -n 1 "$PX_DIR/waited")" = 200 ] || die "the waiting request failed: $(cat "$PX_DIR/waited")"
log "ok: a request waits for a worker and is served when one is ready"

# ---------------------------------------------------------------- client leaves
aborts() { px_sim_metric slow 'vllm:request_success_total{finished_reason="abort",model_name="slow"}'; }
before=$(aborts)
curl -sS -N --max-time 0.5 "$P/v1/completions" \
	-d '{"model":"slow","prompt":"x","max_tokens":50,"stream":true}' >/dev/null 2>&1 || true
for _ in $(seq 40); do
	[ "$(aborts)" != "$before" ] && break
	sleep 0.1
done
[ "$(aborts)" != "$before" ] || die "the engine did not see the client leave"
px_wait_idle 5
log "ok: a client that leaves cancels its request in the engine ($(aborts) aborts)"

# ---------------------------------------------------------------- backpressure
# A client that reads nothing: the proxy stops reading the worker; its memory
# stays bounded while the stream is tens of megabytes.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PX_REG_PID/status"; }
rss0=$(rss)
python3 - "$P" "$PX_REG_PID" <<'EOF' >"$PX_DIR/bp" || die "backpressure: $(cat "$PX_DIR/bp")"
import http.client, json, socket, sys, time
host, port = sys.argv[1][7:].split(":")
pid = sys.argv[2]
def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
body = json.dumps({"model": "big", "prompt": "go", "max_tokens": 200000, "stream": True}).encode()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
r0 = rss()
time.sleep(2.0)  # not reading
peak = rss()
total, tail, first = 0, b"", b""
s.settimeout(30)
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    if not first:
        first = d[:12]
        assert first == b"HTTP/1.1 200", d[:300]
    total += len(d)
    tail = (tail + d)[-64:]
    if tail.endswith(b"0\r\n\r\n"):
        break
print(r0, peak, total)
assert b"data: [DONE]" in tail, tail
assert total > 20 << 20, total
assert peak - r0 < 16 << 10, (r0, peak)  # kB
EOF
read -r r0 peak total <"$PX_DIR/bp"
log "ok: backpressure: registry RSS $r0 -> $peak kB while a client ignored a $((total >> 20)) MiB stream (RSS at start $rss0 kB)"

# ---------------------------------------------------------------- metrics
px_wait_idle 5
px_check_no_leak
m=$(curl -sS "$P/metrics")
for s in 'elastic_proxy_requests_total{pool="sim",code="2xx"}' \
	'elastic_proxy_errors_total{pool="slow",cause="no_worker"} 1' \
	'elastic_proxy_errors_total{pool="",cause="unknown_model"}' \
	'elastic_proxy_errors_total{pool="slow",cause="client_gone"} 1' \
	'elastic_proxy_ttft_seconds_bucket{pool="slow",le="+Inf"}' \
	'elastic_proxy_e2e_seconds_count{pool="sim"}' \
	'elastic_proxy_worker_requests_total{pool="sim",worker="1.n1.0",code="2xx"}' \
	'elastic_proxy_worker_ttft_seconds_count{pool="slow",worker="2.n2.0"}' \
	'elastic_proxy_routing_total{pool="sim",decision="cache_'; do
	grep -qF "$s" <<<"$m" || die "metrics lack $s"
done
# TTFT of the slow model is measured at the proxy: at least its 40 ms.
python3 - "$m" <<'EOF' || die "TTFT histogram of slow is off"
import re, sys
m = sys.argv[1]
s = float(re.search(r'^elastic_proxy_ttft_seconds_sum\{pool="slow"\} (\S+)', m, re.M).group(1))
n = float(re.search(r'^elastic_proxy_ttft_seconds_count\{pool="slow"\} (\S+)', m, re.M).group(1))
assert n >= 3 and s / n >= 0.03, (s, n)
EOF
log "ok: metrics (requests, errors by cause, TTFT, per worker) and nothing left in flight"
