#!/usr/bin/env bash
# test_proxy_limits.sh — the proxy's limits and timeouts: body size (413),
# slow request heads and bodies (408), a stream that stalls (ended after
# stream_idle_timeout) while a long but steady one is never cut, a worker
# that never answers (504 after its attempts), and the connection limit.
# timeout: 180
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

px_sim a --served-model-name sim --time-scale 0
px_sim steady --served-model-name steady --ttft-ms 10 --itl-ms 200
px_sim stall --served-model-name stall --ttft-ms 10 --itl-ms 4000
px_sim mute --served-model-name mute --time-scale 0 --hang-after 1
px_registry '[proxy]' 'max_body = "64KiB"' 'header_timeout = "1s"' 'body_timeout = "1s"' \
	'response_timeout = "1s"' 'stream_idle_timeout = "1500ms"' 'max_connections = 24' \
	'wait_for_worker = "1s"'
px_register 1.n1.0 a sim
px_register 2.n1.0 steady steady
px_register 3.n1.0 stall stall
px_register 4.n1.0 mute mute
HOSTPORT=${PX_URL#http://}

# ---------------------------------------------------------------- body size
python3 -c 'import json; print(json.dumps({"model": "sim", "prompt": "x" * 100000}))' >"$PX_DIR/big.json"
out=$(curl -sS -w '\n%{http_code}' "$PX_URL/v1/completions" -H 'Content-Type: application/json' \
	--data-binary @"$PX_DIR/big.json")
[ "${out##*$'\n'}" = 413 ] || die "a 100 kB body: ${out##*$'\n'}, want 413"
grep -q '"code":413' <<<"$out" || die "413 not in OpenAI's JSON: $out"
out=$(curl -sS -w '\n%{http_code}' "$PX_URL/v1/completions" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$PX_DIR/big.json")
[ "${out##*$'\n'}" = 413 ] || die "a 100 kB chunked body: ${out##*$'\n'}, want 413"
python3 -c 'import json; print(json.dumps({"model": "sim", "prompt": "x" * 50000, "max_tokens": 1}))' >"$PX_DIR/ok.json"
curl -sS -o /dev/null -D "$PX_DIR/hdr" "$PX_URL/v1/completions" --data-binary @"$PX_DIR/ok.json"
grep -qi '^X-Elastic-Worker: 1.n1.0' "$PX_DIR/hdr" || die "a 50 kB body under the limit did not reach the worker"
log "ok: bodies over max_body get 413 (Content-Length and chunked); under it pass"

# ---------------------------------------------------------------- slow clients
slow_client() { # WHAT: head | body -> "STATUS SECONDS"
	python3 - "$HOSTPORT" "$1" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
if sys.argv[2] == "head":
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
else:
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\"")
t0 = time.monotonic()
s.settimeout(5)
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(data.split(b" ")[1].decode(), "%.1f" % (time.monotonic() - t0))
EOF
}
read -r st secs < <(slow_client head)
[ "$st" = 408 ] || die "a head that never ends: $st"
python3 -c "assert 0.8 <= $secs <= 2.5, $secs" || die "408 after $secs s, want about 1"
read -r st secs < <(slow_client body)
[ "$st" = 408 ] || die "a body that never ends: $st"
python3 -c "assert 0.8 <= $secs <= 2.5, $secs" || die "408 after $secs s, want about 1"
log "ok: a head or a body that does not arrive in time gets 408 and the connection closes"

# ---------------------------------------------------------------- generation time
# 15 tokens 200 ms apart: 3 s in all, longer than response_timeout and
# stream_idle_timeout, never silent for long: not cut.
t0=$(date +%s%N)
curl -sS -N "$PX_URL/v1/completions" -d '{"model":"steady","prompt":"x","max_tokens":15,"stream":true}' \
	>"$PX_DIR/steady.sse"
ms=$((($(date +%s%N) - t0) / 1000000))
tail -c 14 "$PX_DIR/steady.sse" | grep -q 'data: \[DONE\]' || die "a steady 3 s stream was cut"
[ "$ms" -ge 2500 ] || die "the steady stream took only $ms ms"
# A stream silent for 4 s fails after 1.5 s of silence; its generation
# would move to another worker (stream migration), but there is none: after
# wait_for_worker (1 s) the stream ends with an error event and [DONE].
t0=$(date +%s%N)
rc=0
curl -sS -N "$PX_URL/v1/completions" -d '{"model":"stall","prompt":"x","max_tokens":5,"stream":true}' \
	>"$PX_DIR/stall.sse" 2>"$PX_DIR/stall.err" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 0 ] || die "a stalled stream: curl exit $rc ($(cat "$PX_DIR/stall.err")), want 0 (ended properly)"
python3 - "$PX_DIR/stall.sse" <<'EOF' || die "the stalled stream's end: $(cat "$PX_DIR/stall.sse")"
import json, sys
evs = [e[6:] for e in open(sys.argv[1]).read().split("\n\n") if e.startswith("data: ")]
assert evs[-1] == "[DONE]" and len(evs) >= 3, evs
assert "choices" in json.loads(evs[0]), evs[0]
err = json.loads(evs[-2])["error"]
assert err["code"] == 503 and "no other worker" in err["message"], err
EOF
if [ "$ms" -lt 2400 ] || [ "$ms" -gt 4500 ]; then die "the stalled stream ended after $ms ms"; fi
log "ok: no total timeout on a steady 3 s stream; a stream silent for 1.5 s ends with an error event when no other worker can take it ($ms ms)"

# ---------------------------------------------------------------- a worker that never answers
curl -sS -o /dev/null "$PX_URL/v1/completions" -d '{"model":"mute","prompt":"x","max_tokens":1}'
t0=$(date +%s%N)
out=$(curl -sS -w '\n%{http_code}' "$PX_URL/v1/completions" -d '{"model":"mute","prompt":"x","max_tokens":1}')
ms=$((($(date +%s%N) - t0) / 1000000))
[ "${out##*$'\n'}" = 504 ] || die "a worker that never answers: ${out##*$'\n'}, want 504: $out"
grep -q 'after 3 attempts' <<<"$out" || die "504 message: $out"
if [ "$ms" -lt 2800 ] || [ "$ms" -gt 6000 ]; then die "504 after $ms ms, want about 3 x 1 s"; fi
log "ok: a worker that never answers: 504 after 3 attempts of 1 s ($ms ms)"

# ---------------------------------------------------------------- connections
# 24 connections at most: with 24 busy (a slow stream each), the next waits
# in the backlog and is served once one closes. Silent connections do not
# keep it out: the oldest idle one is closed to make room (lib/httpd.h).
python3 - "$HOSTPORT" <<'EOF' || die "max_connections"
import socket, sys, time
host, port = sys.argv[1].split(":")
body = b'{"model":"stall","prompt":"x","max_tokens":5,"stream":true}'
busy_req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
req = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
held = []
for _ in range(24):
    h = socket.create_connection((host, int(port)))
    h.sendall(busy_req)
    held.append(h)
time.sleep(0.3)
s = socket.create_connection((host, int(port)))
s.sendall(req)
s.settimeout(0.5)
try:
    d = s.recv(100)
    raise SystemExit("served beyond max_connections: %r" % d)
except socket.timeout:
    pass
held.pop().close()
s.settimeout(3.0)
d = s.recv(100)
assert d.startswith(b"HTTP/1.1 200"), d
s.close()
for h in held:
    h.close()
time.sleep(0.3)
# 24 silent connections: the next is served at once, the oldest silent one closed.
held = [socket.create_connection((host, int(port))) for _ in range(24)]
time.sleep(0.1)
s = socket.create_connection((host, int(port)))
s.sendall(req)
s.settimeout(2.0)
d = s.recv(100)
assert d.startswith(b"HTTP/1.1 200"), d
held[0].settimeout(2.0)
assert held[0].recv(100) == b"", "the oldest idle connection is still open"
for h in held:
    h.close()
EOF
log "ok: beyond max_connections a client waits until a busy connection closes; idle ones make room"
px_wait_idle 5
px_check_no_leak
