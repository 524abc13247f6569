#!/usr/bin/env bash
# serve-time.sh — part e of `make bench`: time to serve.
#
# From `sbatch --elastic-serve=model.toml` to the first token streamed
# through the registry's proxy, with elastic-sim as the engine (tp 2: 4
# engines on an 8-GPU node) on the local cluster with the real SPANK plugin,
# elastic-agent and registry. A client polls the proxy every 20 ms from
# just before the sbatch (404 "model does not exist" until a worker has
# registered); the figure is the time of the first content chunk of the
# first answer. SERVE_TRIALS (3) runs; between them the job is cancelled.
# Reported beside it, from the logs: sbatch -> agent started (SLURM
# scheduling, the job's start, the plugin), agent -> first engine ready
# (its /health and /v1/models), ready -> first token (registration, the
# proxy's routing, the request).
# Target: <= 3 s (the median trial).
PART=serve-time
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=tests/integration/registry.sh
. "$ES_REPO/tests/integration/registry.sh"
# shellcheck source=bench/report.sh
. "$ES_REPO/bench/report.sh"
on_exit rm -f "$TARGETS"
need_plugin
cd "$ES_TEST_DIR" || exit

TRIALS=${SERVE_TRIALS:-3}
MODEL=serve-sim
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
cat >model.toml <<EOF
[model]
path = "elastic/$MODEL"
name = "$MODEL"

[engine]
kind = "sim"
args = ["--ttft-ms", "20", "--itl-ms", "5"]
startup_timeout = "60s"
drain_timeout = "1s"

[parallel]
tp = 2

[registry]
url = "$REG_URL"
EOF
chown "$ES_CLUSTER_USER" model.toml

# first_token URL MODEL TIMEOUT: polls until a streamed answer's first
# content chunk; prints its Unix time.
first_token() {
	python3 - "$@" <<'PY'
import http.client, json, sys, time, urllib.parse
url, model, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
u = urllib.parse.urlparse(url)
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}],
                   "max_tokens": 4, "stream": True})
deadline = time.time() + timeout
while time.time() < deadline:
    try:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status == 200:
            for line in r:
                line = line.strip()
                if line.startswith(b"data:") and line != b"data: [DONE]":
                    d = json.loads(line[5:])
                    ch = d.get("choices") or [{}]
                    if (ch[0].get("delta") or {}).get("content"):
                        print("%.6f" % time.time())
                        sys.exit(0)
        else:
            r.read()
        c.close()
    except OSError:
        pass
    time.sleep(0.02)
sys.exit(1)
PY
}

log_epoch() {
	python3 -c '
import datetime, re, sys
for line in open(sys.argv[1], errors="replace"):
    if re.search(sys.argv[2], line):
        t = line.split()[0].rstrip("Z")
        d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        print("%.3f" % d.timestamp())
        break
' "$1" "$2" 2>/dev/null
}

: >"$ES_TEST_DIR/trials"
for trial in $(seq "$TRIALS"); do
	out=$ES_TEST_DIR/out-$trial.txt
	first_token "$REG_URL" "$MODEL" 30 >"$ES_TEST_DIR/first-$trial" &
	poller=$!
	sleep 0.3 # the poller is polling
	t0=$EPOCHREALTIME
	job=$(submit --gres=gpu:8 --elastic-serve=model.toml -o "$out" "$ES_REPO/etc/elastic-job.sh")
	wait "$poller" || die "trial $trial: no first token within 30 s (job $job: $(job_state "$job"))"
	t1=$(cat "$ES_TEST_DIR/first-$trial")
	agent=$(log_epoch "$out" 'elastic-agent info: job ')
	ready=$(log_epoch "$out" 'elastic-agent info: slice [0-9]+ ready')
	echo "$trial $job $t0 $t1 ${agent:-nan} ${ready:-nan}" >>"$ES_TEST_DIR/trials"
	log "trial $trial: job $job, first token $(python3 -c "print('%.2f' % ($t1 - $t0))") s after sbatch"
	scancel "$job"
	wait_job_state "$job" "COMPLETED|CANCELLED|FAILED" 30
	gone() { [ "$(jctl "sum(1 for w in j['workers'] if w['state'] != 'gone')" ls -a)" = 0 ]; }
	wait_for 15 "the workers to be gone" gone
done

python3 - "$ES_TEST_DIR/trials" >"$ES_TEST_DIR/measured.json" <<'PY'
import json, math, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
trials = []
for trial, job, t0, t1, agent, ready in rows:
    t0, t1, agent, ready = float(t0), float(t1), float(agent), float(ready)
    trials.append({"job": job, "first_token_s": t1 - t0,
                   "sbatch_to_agent_s": agent - t0 if not math.isnan(agent) else None,
                   "agent_to_ready_s": ready - agent if not math.isnan(ready) else None,
                   "ready_to_first_token_s": t1 - ready if not math.isnan(ready) else None})
ft = [t["first_token_s"] for t in trials]
print(json.dumps({"title": "time to serve (sbatch to first token through the proxy)",
                  "trials": trials, "first_token_median_s": statistics.median(ft),
                  "first_token_max_s": max(ft)}))
PY
med=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["first_token_median_s"])' "$ES_TEST_DIR/measured.json")
target "sbatch to first token through the proxy (median of $TRIALS)" "$med" s "<=" 3
json_out "$RESULTS/serve-time.json" "json.load(open('$ES_TEST_DIR/measured.json'))"
print_targets "$RESULTS/serve-time.json"
python3 - "$RESULTS/serve-time.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = lambda v: "?" if v is None else f"{v:.2f} s"
for i, t in enumerate(r["trials"], 1):
    print(f"  trial {i}: first token {t['first_token_s']:.2f} s after sbatch = sbatch -> agent "
          f"{f(t['sbatch_to_agent_s'])} + agent -> engine ready {f(t['agent_to_ready_s'])} + "
          f"ready -> first token {f(t['ready_to_first_token_s'])}")
PY
