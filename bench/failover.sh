#!/usr/bin/env bash
# failover.sh — part b of `make bench`: failover under preemption.
#
# A pool of elastic-sim on the 3 nodes of the local cluster (real SPANK
# plugin, elastic-agent and registry with its proxy; one job per 8-GPU
# node, 4 workers of 2 GPUs each, 12 workers; drain_timeout 5 s, the
# cluster's KillWait 10 s). Steady load through the proxy for the whole
# run, from two `elasticctl bench` processes:
#   non-streaming  FAILOVER_RATE (20) requests/s, Poisson, 32 tokens each
#   streaming      FAILOVER_STREAM_RATE (5) requests/s, 64 tokens each
# After a few seconds of steady state, for FAILOVER_SECONDS (120) a node is
# preempted every FAILOVER_EVERY (20) seconds, in turn: a `high` job takes
# its 8 GPUs for 10 s; SLURM sends the pool's job there SIGTERM and requeues
# it (it may start again about 11 s later, once its node or another is
# free); the registry's acquirer must not submit another.
#
# Measured:
#   - failed requests of each kind (target: 0 non-streaming; streaming
#     ones only where a stream outlived the grace time, none here: streams
#     last well under the 5 s drain);
#   - preemption (the agent's "got SIGTERM" log line) to removal from
#     routing (the registry's "worker ... draining/gone" event), per worker
#     (target p99 <= 100 ms);
#   - preemption to a ready replacement: SIGTERM to the 4th worker ready
#     again in the pool (reported; no target).
#
# Then preemption with no grace time (hard kills), twice: with the pool's
# stream migration off ([routing] migrate = false), then on. For
# FAILOVER_HARD_SECONDS (45) a node is preempted every FAILOVER_HARD_EVERY
# (15) seconds as above, and its job's engines get SIGKILL at the same
# moment, under FAILOVER_HARD_STREAM_RATE (10) streams/s of
# FAILOVER_HARD_OUTPUT_LEN (256) tokens (about 1.4 s each) and half the
# non-streaming rate. Measured: failed streams and requests with migration
# off and on (target with it on: 0 streams), migrations counted.
# Runs as root on the local cluster, like the integration tests.
PART=failover
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=tests/integration/registry.sh
. "$ES_REPO/tests/integration/registry.sh"
# shellcheck source=bench/report.sh
. "$ES_REPO/bench/report.sh"
on_exit rm -f "$TARGETS"
need_plugin
cd "$ES_TEST_DIR" || exit

SECONDS_PREEMPT=${FAILOVER_SECONDS:-120}
EVERY=${FAILOVER_EVERY:-20}
RATE=${FAILOVER_RATE:-20}
SRATE=${FAILOVER_STREAM_RATE:-5}
HIGH_S=${FAILOVER_HIGH_SECONDS:-10}
WARM=5
POOL=fo-pool
CTL=$ES_REPO/cli/elasticctl

reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
cat >pool.toml <<EOF
[model]
path = "elastic/$POOL"
name = "$POOL"

[engine]
kind = "sim"
args = ["--ttft-ms", "20", "--itl-ms", "5"]
startup_timeout = "60s"
drain_timeout = "5s"

[parallel]
tp = 2

[slurm]
partition = "low"
gpus_per_node = 8

[scale]
max_nodes = 3
EOF
chown "$ES_CLUSTER_USER" pool.toml
ctl up pool.toml >/dev/null || die "elasticctl up"
ready() { jctl 'j["workers"]["ready"]' status; }
ready_is() { [ "$(ready)" = "$1" ]; }
wait_for 60 "12 ready workers" ready_is 12
log "pool $POOL: 12 workers ready on 3 nodes"

# The load, long enough to cover the preemptions and the last replacement.
load_s=$((WARM + SECONDS_PREEMPT + 20))
"$CTL" bench --base-url "$REG_URL" --model "$POOL" --request-rate "$RATE" \
	--num-prompts $((RATE * load_s)) --random-input-len 64 --random-output-len 32 --ignore-eos \
	--timeout 60 --seed 1 --json "$ES_TEST_DIR/plain.json" >"$ES_TEST_DIR/plain.txt" 2>&1 &
PLAIN=$!
"$CTL" bench --base-url "$REG_URL" --model "$POOL" --request-rate "$SRATE" --stream \
	--num-prompts $((SRATE * load_s)) --random-input-len 64 --random-output-len 64 --ignore-eos \
	--timeout 60 --seed 2 --json "$ES_TEST_DIR/stream.json" >"$ES_TEST_DIR/stream.txt" 2>&1 &
STREAM=$!
on_exit kill "$PLAIN" "$STREAM"
sleep "$WARM"

# pick_victim: sets victim (a job) and node to the first of n1..n3, from
# the I-th in turn, whose low-priority job has its 4 workers ready; both
# empty when none has.
pick_victim() {
	victim='' node=''
	local try cand job
	for try in 0 1 2; do
		cand=n$(((i + try) % 3 + 1))
		job=$(squeue -h -t R -w "$cand" -p low -o %i 2>/dev/null | head -n 1)
		[ -n "$job" ] || continue
		[ "$(jctl "sum(1 for w in j['workers'] if w['job_id'] == '$job' and w['state'] == 'ready')" ls)" = 4 ] || continue
		victim=$job node=$cand
		return
	done
}

# Preempt a node every EVERY seconds, in turn, choosing one whose job serves.
: >"$ES_TEST_DIR/preemptions"
t_end=$((SECONDS + SECONDS_PREEMPT))
i=0
while [ "$SECONDS" -lt "$t_end" ]; do
	t_next=$((SECONDS + EVERY))
	pick_victim
	i=$((i + 1))
	if [ -z "$victim" ]; then
		log "no serving node to preempt now"
	else
		t0=$EPOCHREALTIME
		high=$(submit -p high -w "$node" --gres=gpu:8 -n 1 -J es-preempt-"$node" -o /dev/null \
			--wrap "exec sleep $HIGH_S")
		echo "$victim $node $t0 $high" >>"$ES_TEST_DIR/preemptions"
		log "preempting $node (job $victim) with high job $high"
	fi
	while [ "$SECONDS" -lt "$t_next" ] && [ "$SECONDS" -lt "$t_end" ]; do sleep 0.5; done
done
log "preemptions done; waiting for the pool to be whole again and the load to end"
wait_for 60 "12 ready workers again" ready_is 12
wait "$PLAIN" || true
wait "$STREAM" || true
cat "$ES_TEST_DIR/plain.txt" "$ES_TEST_DIR/stream.txt" >&2
submissions=$(metric "elastic_job_submissions_total{pool=\"$POOL\"}")
preemptions=$(metric "elastic_job_preemptions_total{pool=\"$POOL\"}")

# ---------------------------------------------------------------- hard kills
HARD_S=${FAILOVER_HARD_SECONDS:-45}
HEVERY=${FAILOVER_HARD_EVERY:-15}
HSRATE=${FAILOVER_HARD_STREAM_RATE:-10}
HLEN=${FAILOVER_HARD_OUTPUT_LEN:-256}

# descendants PID: every process below PID, one a line.
descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

# kill_engines JOB: SIGKILL to the job's engines (its elastic-sim processes);
# prints how many.
kill_engines() {
	local steps p n=0 pids=()
	steps=$(pgrep -f "^slurmstepd: \[$1\." || true)
	for p in $(for s in $steps; do descendants "$s"; done); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = elastic-sim ] && pids+=("$p")
	done
	[ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}" 2>/dev/null || true
	n=${#pids[@]}
	echo "$n"
}

# hard_phase NAME MIGRATE: the pool with [routing] migrate = MIGRATE, load,
# and a hard kill every HEVERY s for HARD_S s; writes hard-NAME.json.
hard_phase() {
	local name=$1 mig=$2 ok0 ok1 t_end t_next i=0 victim node cand job try n kills=0
	{
		cat pool.toml
		printf '\n[routing]\nmigrate = %s\n' "$mig"
	} >"pool-$name.toml"
	chown "$ES_CLUSTER_USER" "pool-$name.toml"
	ctl up "pool-$name.toml" >/dev/null || die "elasticctl up (migrate = $mig)"
	wait_for 120 "12 ready workers before the hard kills ($name)" ready_is 12
	ok0=$(metric "elastic_proxy_migrations_total{pool=\"$POOL\",outcome=\"ok\"}")
	local hload_s=$((3 + HARD_S + 8)) prate=$((RATE / 2))
	"$CTL" bench --base-url "$REG_URL" --model "$POOL" --request-rate "$HSRATE" --stream \
		--num-prompts $((HSRATE * hload_s)) --random-input-len 64 --random-output-len "$HLEN" \
		--ignore-eos --timeout 60 --seed 3 --json "$ES_TEST_DIR/hard-$name-stream.json" \
		>"$ES_TEST_DIR/hard-$name-stream.txt" 2>&1 &
	local hs=$!
	"$CTL" bench --base-url "$REG_URL" --model "$POOL" --request-rate "$prate" \
		--num-prompts $((prate * hload_s)) --random-input-len 64 --random-output-len 128 \
		--ignore-eos --timeout 60 --seed 4 --json "$ES_TEST_DIR/hard-$name-plain.json" \
		>"$ES_TEST_DIR/hard-$name-plain.txt" 2>&1 &
	local hp=$!
	sleep 3
	t_end=$((SECONDS + HARD_S))
	while [ "$SECONDS" -lt "$t_end" ]; do
		t_next=$((SECONDS + HEVERY))
		pick_victim
		i=$((i + 1))
		if [ -z "$victim" ]; then
			log "hard kills ($name): no serving node to preempt now"
		else
			n=$(kill_engines "$victim")
			submit -p high -w "$node" --gres=gpu:8 -n 1 -J es-preempt-"$node" -o /dev/null \
				--wrap "exec sleep $HIGH_S" >/dev/null
			kills=$((kills + 1))
			log "hard kill ($name): SIGKILL to $n engines of job $victim on $node, and a high job there"
		fi
		while [ "$SECONDS" -lt "$t_next" ] && [ "$SECONDS" -lt "$t_end" ]; do sleep 0.5; done
	done
	wait "$hs" || true
	wait "$hp" || true
	ok1=$(metric "elastic_proxy_migrations_total{pool=\"$POOL\",outcome=\"ok\"}")
	python3 - "$ES_TEST_DIR" "$name" "$mig" "$kills" "$ok0" "$ok1" "$HLEN" >"$ES_TEST_DIR/hard-$name.json" <<'PY'
import json, sys
d, name, mig, kills, ok0, ok1, hlen = sys.argv[1:8]
out = {"migrate": mig == "true", "kills": int(kills), "migrations_ok": float(ok1) - float(ok0),
       "stream_output_len": int(hlen)}
for kind in ("stream", "plain"):
    b = json.load(open("%s/hard-%s-%s.json" % (d, name, kind)))
    out[kind] = {"completed": b["completed"], "failed": b["failed"],
                 "sent": b["completed"] + b["failed"],
                 "failures": [f["message"] for f in b.get("failures", [])][:5]}
print(json.dumps(out))
PY
	log "hard kills, migration $name: $(cat "$ES_TEST_DIR/hard-$name.json")"
}
if [ "$HARD_S" -gt 0 ]; then
	hard_phase off false
	hard_phase on true
else
	echo '{}' >"$ES_TEST_DIR/hard-off.json"
	echo '{}' >"$ES_TEST_DIR/hard-on.json"
fi

python3 - "$ES_TEST_DIR" "$REG_LOG" "$REG_DIR/jobs" "$submissions" "$preemptions" \
	>"$ES_TEST_DIR/measured.json" <<'PY'
import datetime, json, re, statistics, sys
d, reglog, jobdir, submissions, preemptions = sys.argv[1:6]

def epoch(line):
    t = line.split()[0].rstrip("Z")
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()

events = []  # (time, kind, worker id)
for line in open(reglog, errors="replace"):
    m = re.search(r"worker (\S+) (draining|gone \(\w+\)|evicted|ready at)", line)
    if m:
        events.append((epoch(line), m.group(2).split()[0], m.group(1)))

pre = [l.split() for l in open(d + "/preemptions") if l.strip()]
removal, replacement, details = [], [], []
for job, node, t_submit, high in pre:
    t_submit = float(t_submit)
    sig = []
    try:
        for line in open(f"{jobdir}/es-{job}.out", errors="replace"):
            if "elastic-agent info: got SIGTERM" in line:
                sig.append(epoch(line))
    except OSError:
        pass
    sig = [t for t in sig if t >= t_submit - 0.5]
    if not sig:
        details.append({"job": job, "node": node, "error": "no SIGTERM logged"})
        continue
    t_sig = sig[0]
    prefix = f"{job}.{node}."
    out = {}
    for t, kind, w in events:
        if w.startswith(prefix) and kind in ("draining", "gone") and t >= t_sig - 0.5 and w not in out:
            out[w] = t - t_sig
    removal += list(out.values())
    ready = [t for t, kind, w in events if kind == "ready" and t > t_sig]
    rep = ready[3] - t_sig if len(ready) >= 4 else None
    if rep is not None:
        replacement.append(rep)
    details.append({"job": job, "node": node, "high_job": high, "t_sig": t_sig,
                    "sigterm_after_submit_s": t_sig - t_submit,
                    "removal_ms": sorted(round(v * 1000, 2) for v in out.values()),
                    "replacement_ready_s": rep})

def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    r = p / 100 * (len(v) - 1)
    lo = int(r)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (r - lo)

plain = json.load(open(d + "/plain.json"))
stream = json.load(open(d + "/stream.json"))
# Each failure beside the preemption before it.
sigterms = sorted((x.get("t_sig"), x["job"], x["node"]) for x in details if x.get("t_sig"))
failures = []
for kind, b in (("plain", plain), ("stream", stream)):
    for f in b.get("failures", []):
        sent, failed = b["start_time"] + f["t_start"], b["start_time"] + f["t_end"]
        prev = [s for s in sigterms if s[0] <= failed]
        e = {"kind": kind, "worker": f["worker"], "message": f["message"],
             "duration_s": round(failed - sent, 3)}
        if prev:
            t, job, node = prev[-1]
            e.update(preempted_job=job, node=node, sent_after_sigterm_s=round(sent - t, 3),
                     failed_after_sigterm_s=round(failed - t, 3))
        failures.append(e)
print(json.dumps({
    "failures": failures,
    "title": "failover under preemption",
    "preemptions": len(pre), "pool_submissions": float(submissions),
    "pool_preemptions_counted": float(preemptions),
    "plain": {k: plain[k] for k in ("completed", "failed", "errors", "median_e2el_ms", "p99_e2el_ms",
                                    "request_throughput", "duration")},
    "stream": {k: stream[k] for k in ("completed", "failed", "errors", "median_ttft_ms", "p99_ttft_ms",
                                      "median_e2el_ms", "request_throughput", "duration")},
    "removal_ms_p50": pct(removal, 50) * 1000, "removal_ms_p99": pct(removal, 99) * 1000,
    "removal_ms_max": max(removal) * 1000 if removal else float("nan"),
    "removal_samples": len(removal),
    "replacement_s_median": statistics.median(replacement) if replacement else float("nan"),
    "replacement_s_max": max(replacement) if replacement else float("nan"),
    "hard_kills": {"off": json.load(open(d + "/hard-off.json")),
                   "on": json.load(open(d + "/hard-on.json"))},
    "details": details,
}))
PY
val() { python3 -c "import json; r=json.load(open('$ES_TEST_DIR/measured.json')); print($1)"; }
target "failed non-streaming requests ($(val "r['plain']['completed'] + r['plain']['failed']") sent)" "$(val "r['plain']['failed']")" "" "<=" 0
target "failed streams ($(val "r['stream']['completed'] + r['stream']['failed']") sent; none outlives the grace)" "$(val "r['stream']['failed']")" "" "<=" 0
target "SIGTERM to out of routing, p99 ($(val "r['removal_samples']") workers)" "$(val "r['removal_ms_p99']")" ms "<=" 100
target "acquirer submissions beyond the 3 jobs" "$(val "r['pool_submissions'] - 3")" "" "<=" 0
if [ "$HARD_S" -gt 0 ]; then
	target "failed streams, hard kills, migration on ($(val "r['hard_kills']['on']['stream']['sent']") sent; off: $(val "r['hard_kills']['off']['stream']['failed']") of $(val "r['hard_kills']['off']['stream']['sent']"))" \
		"$(val "r['hard_kills']['on']['stream']['failed']")" "" "<=" 0
	target "failed non-streaming requests, hard kills, migration on ($(val "r['hard_kills']['on']['plain']['sent']") sent)" \
		"$(val "r['hard_kills']['on']['plain']['failed']")" "" "<=" 0
fi
json_out "$RESULTS/failover.json" "json.load(open('$ES_TEST_DIR/measured.json'))"
print_targets "$RESULTS/failover.json"
python3 - "$RESULTS/failover.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p, s = r["plain"], r["stream"]
print(f"  {r['preemptions']} preemptions in {r['plain']['duration']:.0f} s of load; non-streaming "
      f"{p['completed']} ok / {p['failed']} failed (p99 E2E {p['p99_e2el_ms']:.0f} ms), streaming "
      f"{s['completed']} ok / {s['failed']} failed (p99 TTFT {s['p99_ttft_ms']:.0f} ms)")
print(f"  SIGTERM -> out of routing: p50 {r['removal_ms_p50']:.1f} ms, p99 {r['removal_ms_p99']:.1f} ms, "
      f"max {r['removal_ms_max']:.1f} ms; SIGTERM -> ready replacement: median "
      f"{r['replacement_s_median']:.1f} s, max {r['replacement_s_max']:.1f} s")
for f in r["failures"]:
    where = (f" (sent {f['sent_after_sigterm_s']:+.3f} s, failed {f['failed_after_sigterm_s']:+.3f} s "
             f"after the SIGTERM of job {f['preempted_job']} on {f['node']})" if "node" in f else "")
    print(f"  failed {f['kind']} request on {f['worker']}: {f['message']}{where}")
for name in ("off", "on"):
    h = r["hard_kills"][name]
    if not h:
        continue
    print(f"  hard kills, migration {name}: {h['kills']} kills; streams {h['stream']['failed']} failed "
          f"of {h['stream']['sent']}, non-streaming {h['plain']['failed']} failed of "
          f"{h['plain']['sent']}; {h['migrations_ok']:.0f} migrations")
    for m in h["stream"]["failures"] + h["plain"]["failures"]:
        print(f"    {m}")
PY
ctl down "$POOL" >/dev/null 2>&1 || true
