#!/usr/bin/env bash
# test_bad_input.sh — the bad-input matrix against the real programs: the
# registry (control API and OpenAI proxy on one port), elasticctl, and the
# plugin through sbatch. Each input gets a clear error (FILE:LINE:COL, or
# OpenAI's error JSON with the field), nothing is created or changed, and
# the registry keeps serving everyone else.
#
#   model.toml   malformed, huge, invalid UTF-8, inline tables nested 10000
#                deep (elasticctl validate, elasticctl up, sbatch)
#   HTTP         bad JSON, missing or non-string "model", an oversized body,
#                slowloris heads, invalid chunked coding, 3000 idle connections
#   control API  a registration naming another machine's host:port; path
#                traversal in pool names, file names, job ids and log dirs
#                (replayed and foreign-uid MUNGE credentials:
#                test_registry_cli.sh)
# timeout: 300
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

cat >registry.toml <<'TOML'
[proxy]
header_timeout = "2s"
max_body = "1MiB"
TOML
chown "$ES_CLUSTER_USER" registry.toml
reg_start --auth none --config "$ES_TEST_DIR/registry.toml"
CTL=$ES_BIN/cli/elasticctl
files_before=$(cd "$REG_DIR" && find . | sort)

# ---------------------------------------------------------------- model.toml
as_file() { # NAME: stdin to NAME, owned by the test user
	cat >"$1"
	chown "$ES_CLUSTER_USER" "$1"
}
# expect_bad FILE PATTERN: validate and up both refuse FILE with PATTERN.
expect_bad() {
	local f=$1 pat=$2 out
	if out=$(as_user "$CTL" validate "$f" 2>&1); then die "validate accepted $f"; fi
	grep -Eq "$pat" <<<"$out" || die "validate $f: $out (want $pat)"
	if out=$(ctl up "$f" 2>&1); then die "up accepted $f"; fi
	grep -Eq "$pat" <<<"$out" || die "up $f: $out (want $pat)"
	log "ok: $f refused: $(head -n 1 <<<"$out" | cut -c1-150)"
}
printf '[model\npath = "x/y"\n' | as_file malformed.toml
expect_bad malformed.toml 'malformed.toml:1:7: '
{
	printf '[model]\npath = "x/y"\n'
	for i in $(seq 2000); do printf '# padding line %05d to make the file larger than 64 KiB\n' "$i"; done
} | as_file huge.toml
expect_bad huge.toml 'huge.toml: .*at most 65536'
printf '[model]\npath = "x/\xc3\x28y"\n' | as_file utf8.toml
expect_bad utf8.toml 'utf8.toml:2:11: invalid UTF-8'
printf '[model]\npath = "x/\xed\xa0\x80"\n' | as_file surrogate.toml
expect_bad surrogate.toml 'surrogate.toml:2:11: invalid UTF-8: encoded surrogate'
python3 -c 'import sys; n = 10000; sys.stdout.write("[model]\npath = \"x/y\"\n[engine]\nenv = " + "{a = " * n + "1" + "}" * n + "\n")' |
	as_file nested.toml
expect_bad nested.toml 'nested.toml:4:[0-9]+: .*(nest|deep)'
# elasticctl refuses a file over 64 KiB itself; the registry, sent one over
# its 1 MiB body limit anyway, answers 413 in OpenAI's error JSON.
python3 -c 'import json, sys; sys.stdout.write(json.dumps({"config": "[model]\npath = \"x/y\"\n" + "#" * (2 << 20)}))' >toolarge.json
code=$(curl -sS -m 10 -o reply.json -w '%{http_code}' "$REG_URL/api/v1/pools" --data-binary @toolarge.json)
[ "$code" = 413 ] && grep -q '"code":413' reply.json || die "a 2 MiB pool body: $code $(cat reply.json)"
log "ok: a 2 MiB body to /api/v1/pools: 413"
# The plugin refuses the same at sbatch time; no job is created.
if as_user sbatch --parsable --gres=gpu:2 --elastic-serve=utf8.toml --wrap true >sbatch.out 2>sbatch.err; then
	track_job "$(cat sbatch.out)"
	die "sbatch accepted a model.toml that is not UTF-8"
fi
grep -q 'elastic_serve: utf8.toml:2:11: invalid UTF-8' sbatch.err || die "sbatch: $(cat sbatch.err)"
log "ok: sbatch refused utf8.toml: $(grep elastic_serve sbatch.err | head -n 1)"

# ---------------------------------------------------------------- HTTP
# code_of METHOD PATH BODY_FILE: "STATUS PARAM" of the answer.
answer() {
	local body=$1 out
	shift
	out=$(curl -sS -m 10 -o reply.json -w '%{http_code}' "$@" --data-binary "@$body" "$REG_URL/v1/chat/completions") || true
	printf '%s %s\n' "$out" "$(python3 -c 'import json, sys; e = json.load(open("reply.json"))["error"]; print(e["param"], e["type"])' 2>/dev/null || echo -)"
}
printf '{"model": "m", "messages": [' >bad.json
[ "$(answer bad.json)" = "400 None BadRequestError" ] || die "bad JSON: $(answer bad.json) $(cat reply.json)"
printf '{"messages": []}' >nomodel.json
[ "$(answer nomodel.json)" = "400 model BadRequestError" ] || die "no model: $(answer nomodel.json)"
printf '{"model": 7, "messages": []}' >intmodel.json
[ "$(answer intmodel.json)" = "400 model BadRequestError" ] || die "model 7: $(answer intmodel.json)"
printf '{"model": ["m"], "messages": []}' >arraymodel.json
[ "$(answer arraymodel.json)" = "400 model BadRequestError" ] || die "model [m]: $(answer arraymodel.json)"
printf '{"model": "m\xff", "messages": []}' >utf8.json
[ "$(answer utf8.json | cut -d' ' -f1)" = 400 ] || die "model not UTF-8: $(answer utf8.json)"
# A model name too long to be one, cut in the middle of a character, or with
# a NUL: a 404 whose message is still UTF-8 and holds nothing of the body
# after the name.
python3 -c 'import json, sys; sys.stdout.write(json.dumps({"model": "\u00e9" * 150, "prompt": "secret"}, ensure_ascii=False))' >longmodel.json
[ "$(answer longmodel.json)" = "404 model NotFoundError" ] || die "a 300-byte model: $(answer longmodel.json)"
printf '{"model": "m\\u0000", "prompt": "secret prompt"}' >nulmodel.json
[ "$(answer nulmodel.json)" = "404 model NotFoundError" ] || die "model with NUL: $(answer nulmodel.json)"
grep -q secret reply.json && die "the error message holds the body: $(cat reply.json)"
python3 -c 'import sys; sys.stdout.write("{\"model\": \"m\", \"prompt\": \"" + "x" * (2 << 20) + "\"}")' >big.json
[ "$(answer big.json | cut -d' ' -f1)" = 413 ] || die "2 MiB body: $(answer big.json)"
grep -q '"code":413' reply.json || die "413 body: $(cat reply.json)"
log "ok: bad JSON, no model, model 7, model [\"m\"], model not UTF-8: 400; overlong model, model with NUL: 404; 2 MiB: 413"

# Raw HTTP: invalid chunked coding, slowloris heads, idle connections.
python3 - "$REG_PORT" <<'EOF' || die "raw HTTP checks failed"
import socket, sys, time, resource
port = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

def talk(data, wait=3.0):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(wait)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out

def health(limit):
    t = time.monotonic()
    r = talk(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", limit)
    dt = time.monotonic() - t
    assert r.startswith(b"HTTP/1.1 200"), r[:80]
    assert dt < limit, dt
    return dt

for bad in (b"5\r\nhello\r\nZZ\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"fffffffffffffffff\r\n"):
    r = talk(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad)
    assert r.startswith(b"HTTP/1.1 400"), (bad, r[:100])
r = talk(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
assert r.startswith(b"HTTP/1.1 400"), r[:100]
print("invalid chunked coding and smuggling framings: 400", file=sys.stderr)

# Slowloris: 100 heads trickling in a byte a second; each is dropped at the
# 2 s header timeout (408), and others are served meanwhile.
slow = []
for i in range(100):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /health HTTP/1.1\r\n")
    slow.append(s)
t0 = time.monotonic()
dts = []
while time.monotonic() - t0 < 4:
    for s in slow:
        try:
            s.sendall(b"X")
        except OSError:
            pass
    dts.append(health(1.0))
    time.sleep(0.5)
timed_out = 0
for s in slow:
    s.settimeout(1)
    try:
        if s.recv(100).startswith(b"HTTP/1.1 408"):
            timed_out += 1
    except OSError:
        timed_out += 1
    s.close()
assert timed_out == 100, timed_out
print("slowloris: 100 heads dropped with 408; /health answered in at most %.3f s meanwhile" % max(dts), file=sys.stderr)

# 3000 idle connections: the registry keeps answering.
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3000)]
dt = health(2.0)
for s in idle:
    s.close()
print("3000 idle connections: /health in %.3f s" % dt, file=sys.stderr)
EOF
curl -fsS -m 5 "$REG_URL/health" >/dev/null || die "the registry is gone"

# ---------------------------------------------------------------- control API
reg() { # ID URL: POST a registration, print the status
	curl -sS -m 10 -o reply.json -w '%{http_code}' "$REG_URL/api/v1/workers" -H 'Content-Type: application/json' \
		-d "{\"id\":\"$1\",\"model\":\"m\",\"url\":\"$2\",\"job_id\":\"1\",\"node\":\"n1\"}"
}
[ "$(reg 1.n1.0 http://198.51.100.7:8000)" = 403 ] || die "another machine's address: $(cat reply.json)"
grep -q '"param":"url"' reply.json || die "403 without param url: $(cat reply.json)"
[ "$(reg 1.n1.1 http://127.0.0.1:8000)" = 200 ] || die "our own address: $(cat reply.json)"
log "ok: a registration naming 198.51.100.7 from 127.0.0.1: 403; 127.0.0.1: 200"

# Pool names become file names: nothing outside STATE_DIR/pools.
for name in "../../escape" "a/../../b" ".hidden" "-rf" "x/./../y" "a\\b" "a b"; do
	printf '[model]\npath = "x/y"\nname = "%s"\n' "$name" | as_file traversal.toml
	if out=$(ctl up traversal.toml 2>&1); then die "up accepted the pool name '$name'"; fi
	grep -q "traversal.toml:3:8: " <<<"$out" || die "pool name '$name': $out"
done
printf '[model]\npath = "x/y"\nname = "org/model"\n[scale]\nmax_nodes = 0\n' | as_file slash.toml
ctl up slash.toml >/dev/null || die "up of org/model"
[ -f "$REG_DIR/pools/org%2Fmodel.toml" ] || die "pool org/model is not in pools/org%2Fmodel.toml: $(ls "$REG_DIR/pools")"
[ ! -e "$REG_DIR/pools/org" ] || die "pool org/model made a directory"
# The file name a client gives is a label in messages, never a path.
body=$(python3 -c 'import json; print(json.dumps({"config": "[model]\npath = \"x/label\"\n[scale]\nmax_nodes = 0\n", "filename": "../../../../tmp/es-pwned.toml"}))')
code=$(curl -sS -m 10 -o reply.json -w '%{http_code}' "$REG_URL/api/v1/pools" -d "$body")
[ "$code" = 201 ] || die "pool with a path as filename: $code $(cat reply.json)"
[ ! -e /tmp/es-pwned.toml ] || die "the filename label wrote /tmp/es-pwned.toml"
# Job ids go to scancel and into file names: digits only.
for path in deregister jobs/ended drain; do
	for id in "../1" "1/../../2" "1;rm" "-1" "1 2"; do
		b=$(python3 -c 'import json, sys; print(json.dumps({"job_id": sys.argv[1], "reason": "sigterm" if sys.argv[2] == "deregister" else "unknown"}))' "$id" "$path")
		code=$(curl -sS -m 10 -o reply.json -w '%{http_code}' "$REG_URL/api/v1/$path" -d "$b")
		[ "$code" = 400 ] || die "$path with job id '$id': $code $(cat reply.json)"
	done
done
files_after=$(cd "$REG_DIR" && find . | sort)
new=$(comm -13 <(echo "$files_before") <(echo "$files_after") | grep -v '^./pools/\(org%2Fmodel\|label\)\.toml$' | grep -v '^./state.json$' || true)
[ -z "$new" ] || die "files appeared in the state directory: $new"
log "ok: pool names with .., a leading dot or dash refused; org/model in pools/org%2Fmodel.toml; filename a label; job ids checked"

# Log directories: the plugin takes ELASTIC_SERVE_LOG_DIR only when absolute,
# and makes it as the job's user (a relative one falls back to the default).
set_plugstack "agent=$ES_BIN/agent/elastic-agent" "registry=$REG_URL"
printf '[model]\npath = "sim/tiny"\nname = "tiny"\n[engine]\nkind = "sim"\nargs = ["--time-scale", "0"]\n[parallel]\ntp = 8\n' |
	as_file tiny.toml
job=$(ELASTIC_SERVE_LOG_DIR=../../../../tmp/es-logs-escape submit --gres=gpu:8 --elastic-serve=tiny.toml \
	-o out-%j.txt --wrap 'echo "logs=$ELASTIC_SERVE_LOG_DIR"; exec "$ELASTIC_AGENT" --wait-ready --timeout 60')
wait_job_state "$job" "COMPLETED|FAILED" 60
grep -q "^logs=$ES_TEST_DIR/elastic-serve-$job\$" "out-$job.txt" || die "log dir: $(cat "out-$job.txt")"
[ ! -e /tmp/es-logs-escape ] || die "a relative ELASTIC_SERVE_LOG_DIR was used"
log "ok: a relative ELASTIC_SERVE_LOG_DIR is ignored: $(head -n 1 "out-$job.txt")"
