#!/usr/bin/env bash
# test_registry_cli.sh — elastic-registry and elasticctl on the local
# cluster, without jobs: --help and the man pages, config errors with
# positions, exit codes and git-style messages, and authentication: 401
# without a credential or with a replayed one, 403 for another uid, root
# allowed for job-ended notices only, token mode.
# timeout: 120
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
cd "$ES_TEST_DIR" || exit

REG=$ES_BIN/registry/elastic-registry
CTL=$ES_BIN/cli/elasticctl

# expect_rc RC CMD...: runs CMD, checks its exit status, keeps its output in $out.
expect_rc() {
	local want=$1 rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || die "exit status $rc, want $want: $* => $out"
}

# ------------------------------------------------------------ help and man pages
help=$("$REG" --help)
for f in --config --listen --advertise-url --state-dir --auth --allow-uid --heartbeat-interval \
	--heartbeat-timeout --max-pending --poll-interval --drain-timeout --backoff-min --backoff-max \
	--job-script --output-dir --sbatch --squeue --scancel --sacct --slurm-timeout --log-level \
	--log-file --check --help --version; do
	grep -q -- "$f" <<<"$help" || die "elastic-registry --help does not document $f"
	grep -q -- "${f#--}" "$ES_REPO/man/elastic-registry.8" || die "elastic-registry(8) does not document $f"
done
for v in ls status up scale down drain top validate; do
	"$CTL" --help | grep -q "^  $v " || die "elasticctl --help does not list $v"
	grep -q "^\.It Cm $v" "$ES_REPO/man/elasticctl.1" || die "elasticctl(1) does not document $v"
	"$CTL" "$v" --help >/dev/null || die "elasticctl $v --help fails"
done
if command -v mandoc >/dev/null && command -v makewhatis >/dev/null; then
	# The project's pages on the manual path, so that .Xr between them resolve.
	mp=$ES_TEST_DIR/manpath
	mkdir -p "$mp/man1" "$mp/man5" "$mp/man8"
	for m in "$ES_REPO"/man/*.[158]; do cp "$m" "$mp/man${m##*.}/"; done
	makewhatis "$mp"
	mandoc -Tlint -Wstyle -M "$mp" "$ES_REPO/man/elastic-registry.8" "$ES_REPO/man/elasticctl.1" ||
		die "mandoc -Tlint: the man pages are not clean"
	log "man pages lint clean"
fi

# ------------------------------------------------------------ config, usage, exit codes
printf 'listen = 1\nauth = "kerberos"\n[health]\nheartbeat = "1s"\n' >bad.toml
expect_rc 1 "$REG" --config bad.toml --check
grep -qx 'bad.toml:1:10: listen must be a string, not an integer' <<<"$out" || die "config error: $out"
grep -qx 'bad.toml:2:8: unknown auth "kerberos"; expected munge, token:PATH or none' <<<"$out" || die "config error: $out"
grep -qx 'bad.toml:4:1: unknown key "heartbeat" in \[health\] (did you mean "heartbeat_interval"?)' <<<"$out" ||
	die "config error: $out"
expect_rc 1 "$REG" --auth none --listen 0.0.0.0:0 --state-dir "$ES_TEST_DIR/x" --check
grep -q "auth none is only allowed on a loopback address" <<<"$out" || die "none off loopback: $out"
expect_rc 0 "$REG" --auth none --listen 127.0.0.1:0 --state-dir "$ES_TEST_DIR/x" --check
expect_rc 2 "$REG" --no-such-flag
expect_rc 2 "$REG" --heartbeat-timeout soon
expect_rc 2 "$CTL" no-such-verb
expect_rc 2 "$CTL" scale onlyname
expect_rc 2 "$CTL" scale name -1
expect_rc 2 "$CTL" -o yaml status
expect_rc 1 "$CTL" --registry http://127.0.0.1:1 ls
[ "$out" = "error: cannot reach registry at http://127.0.0.1:1: connection refused" ] || die "message: $out"
expect_rc 1 env ELASTIC_REGISTRY_URL=http://127.0.0.1:1 "$CTL" status
grep -q "^error: cannot reach registry at http://127.0.0.1:1: connection refused$" <<<"$out" || die "env URL: $out"

# ------------------------------------------------------------ MUNGE: the test user's registry
reg_start
ctl status >/dev/null || die "elasticctl status fails for the registry's own user"
[ "$(ctl ls | head -n 1 | tr -s ' ')" = "WORKER MODEL NODE JOB GPUS STATE RUN WAIT KV% AGE" ] ||
	die "ls header: $(ctl ls | head -n 1)"
[ "$(jctl 'len(j["pools"])' status)" = 0 ] || die "status -o json"

# No credential: 401 in OpenAI's error JSON. /metrics and /health need none.
code=$(curl -s -o body.json -w '%{http_code}' "$REG_URL/api/v1/status")
[ "$code" = 401 ] || die "no credential: HTTP $code"
grep -q '"type":"AuthenticationError"' body.json || die "401 body: $(cat body.json)"
metrics=$(curl -fsS "$REG_URL/metrics") || die "/metrics"
grep -q '^elastic_build_info' <<<"$metrics" || die "/metrics: no elastic_build_info"
# The OpenAI side (the proxy: no API key on loopback) lists no model yet.
code=$(curl -s -o body.json -w '%{http_code}' "$REG_URL/v1/models")
{ [ "$code" = 200 ] && grep -q '"object":"list","data":\[\]' body.json; } || die "/v1/models: $code $(cat body.json)"

# Another uid (root here): 403, exit 1, the registry's message.
expect_rc 1 "$CTL" --registry "$REG_URL" status
grep -q "^error: uid 0 may not GET /api/v1/status on this registry (running as uid $(id -u "$ES_CLUSTER_USER"))$" <<<"$out" ||
	die "403 message: $out"
expect_rc 1 "$CTL" --registry "$REG_URL" scale x 1
grep -q "uid 0 may not POST" <<<"$out" || die "403 message: $out"

# Root may send the job-ended notice (the plugin, from slurmstepd), with a
# credential bound to this very request, and only once.
body='{"job_id":"4242","node":"n1","reason":"completed","exit_status":0}'
bh=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
digest=$(printf 'ES1\nPOST\n/api/v1/jobs/ended\n%s' "$bh" | sha256sum | cut -d' ' -f1)
cred=$(munge -s "$digest")
code=$(curl -s -o body.json -w '%{http_code}' -H "Authorization: MUNGE $cred" \
	-H 'Content-Type: application/json' -d "$body" "$REG_URL/api/v1/jobs/ended")
[ "$code" = 200 ] || die "root's job-ended notice: HTTP $code $(cat body.json)"
grep -q '"removed":0' body.json || die "job-ended reply: $(cat body.json)"
code=$(curl -s -o body.json -w '%{http_code}' -H "Authorization: MUNGE $cred" \
	-H 'Content-Type: application/json' -d "$body" "$REG_URL/api/v1/jobs/ended")
[ "$code" = 401 ] || die "replayed credential: HTTP $code $(cat body.json)"
# The same credential for another body: refused.
cred=$(munge -s "$digest")
code=$(curl -s -o body.json -w '%{http_code}' -H "Authorization: MUNGE $cred" \
	-d '{"job_id":"1"}' "$REG_URL/api/v1/jobs/ended")
[ "$code" = 401 ] || die "credential of another body: HTTP $code $(cat body.json)"
log "401 without or with a replayed credential, 403 for root on control, 200 for root's job-ended notice"

# Operator errors: exit 1 with the registry's message.
sim_pool bad-pool.toml "x" 1
sed -i 's/^max_nodes = 1$/max_nodes = "two"/' bad-pool.toml
expect_rc 1 ctl up bad-pool.toml
grep -q "bad-pool.toml:.*max_nodes" <<<"$out" || die "up of a bad file: $out"
expect_rc 1 ctl scale nope 1
[ "$out" = "error: no pool named 'nope'" ] || die "scale of an unknown pool: $out"
expect_rc 1 ctl drain 1.n9.0
[ "$out" = "error: no worker '1.n9.0'" ] || die "drain of an unknown worker: $out"
expect_rc 1 ctl down nope

# ------------------------------------------------------------ token mode
tok=$ES_TEST_DIR/registry-token
REG_PORT2=$(free_port)
(cd "$ES_TEST_DIR" && runuser -u "$ES_CLUSTER_USER" -- env SLURM_CONF="$SLURM_CONF" "$REG" \
	--listen "127.0.0.1:$REG_PORT2 " --state-dir "$ES_TEST_DIR/registry2" --auth "token:$tok" \
	>>"$ES_TEST_DIR/registry2.log" 2>&1 &) || true
# (the listen value above has a trailing blank on purpose: refused)
sleep 0.5
(cd "$ES_TEST_DIR" && runuser -u "$ES_CLUSTER_USER" -- env SLURM_CONF="$SLURM_CONF" "$REG" \
	--listen "127.0.0.1:$REG_PORT2" --state-dir "$ES_TEST_DIR/registry2" --auth "token:$tok" \
	>>"$ES_TEST_DIR/registry2.log" 2>&1 &)
up2() { curl -fsS -m 2 "http://127.0.0.1:$REG_PORT2/health" >/dev/null 2>&1; }
wait_for 10 "the token registry" up2
stop2() { pkill -u "$ES_CLUSTER_USER" -f "elastic-registry --listen 127.0.0.1:$REG_PORT2" || true; }
on_exit stop2
[ "$(stat -c %a "$tok")" = 600 ] || die "token file mode $(stat -c %a "$tok")"
ctl --registry "http://127.0.0.1:$REG_PORT2" --auth "token:$tok" status >/dev/null || die "token auth"
expect_rc 1 ctl --registry "http://127.0.0.1:$REG_PORT2" status
grep -q "authentication required" <<<"$out" || die "munge against a token registry: $out"
grep -q "bad port in listen address" "$ES_TEST_DIR/registry2.log" || die "a bad --listen was not refused"
log "token mode works; the token file is 0600"
