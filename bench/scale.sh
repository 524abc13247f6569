#!/usr/bin/env bash
# scale.sh — part d of `make bench`: control-plane scale.
#
# One elastic-registry (MUNGE authentication, as on a cluster) and 2,000
# simulated workers: `elasticctl bench-agents` plays 250 agents of 8
# workers (one 8-GPU node each), each with its own keep-alive connection,
# registering, then heartbeating every second (one batched heartbeat per
# agent with a load per worker, as registry/API.md says), spread evenly
# over the second. Measured, once every worker is registered:
#   - the registry's CPU use over SCALE_WINDOW seconds (utime + stime from
#     /proc/PID/stat), and munged's beside it (MUNGE decodes happen there);
#   - `elasticctl ls` wall time (process start to exit, 2,000 lines of
#     output to a file), SCALE_LS runs during the heartbeats.
# Targets: registry CPU <= 10 % of a core; elasticctl ls <= 100 ms (the
# median run; the slowest is reported beside it: on this shared 2-core
# machine one run in ten may wait for a CPU).
#
#   bench/scale.sh      (SCALE_WORKERS=2000 SCALE_WINDOW=15 SCALE_LS=10)
. "$(dirname "$0")/lib.sh"

WORKERS=${SCALE_WORKERS:-2000}
PER_AGENT=${SCALE_PER_AGENT:-8}
WINDOW=${SCALE_WINDOW:-15}
NLS=${SCALE_LS:-10}
AUTH=${SCALE_AUTH:-munge}
bench_tmp

if [ "$AUTH" = munge ] && ! pgrep -x munged >/dev/null; then
	"$ES_REPO/scripts/cluster.sh" munge >&2 || die "munged is not running"
fi
# The simulated workers' URLs (10.x.y.z) name no machine: the check that a
# worker's URL is its caller's (registry/reg_peer.h) is off.
REG_AUTH=$AUTH start_registry --no-check-worker-host
log "registry $REG_URL (pid $REG_PID, --auth $AUTH); $WORKERS workers in agents of $PER_AGENT"
export ELASTIC_REGISTRY_URL=$REG_URL ELASTIC_AUTH=$AUTH

duration=$((WINDOW + NLS + 8))
start_bg agents "$CTL" bench-agents --workers "$WORKERS" --per-agent "$PER_AGENT" \
	--duration "$duration" --json "$BT/agents.json"
AGENTS_PID=$BG_PID
for _ in $(seq 200); do
	grep -q 'registered in' "$BT/agents.log" && break
	kill -0 "$AGENTS_PID" 2>/dev/null || { cat "$BT/agents.log" >&2; die "bench-agents exited"; }
	sleep 0.1
done
grep -q 'registered in' "$BT/agents.log" || die "the workers did not register"
sleep 3 # every agent has sent a few heartbeats

# CPU over the window.
munged=$(pgrep -x munged | head -n 1 || true)
r0=$(cpu_ticks "$REG_PID")
m0=$([ -n "$munged" ] && cpu_ticks "$munged" || echo 0)
t0=$(now_s)
sleep "$WINDOW"
r1=$(cpu_ticks "$REG_PID")
m1=$([ -n "$munged" ] && cpu_ticks "$munged" || echo 0)
t1=$(now_s)
hz=$(getconf CLK_TCK)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$REG_PID/status")
log "registry CPU measured over $WINDOW s"

# elasticctl ls, while the heartbeats go on.
: >"$BT/ls_ms"
for _ in $(seq "$NLS"); do
	a=$(date +%s%N)
	"$CTL" ls >"$BT/ls.out" 2>"$BT/ls.err" || { cat "$BT/ls.err" >&2; die "elasticctl ls failed"; }
	b=$(date +%s%N)
	echo $(((b - a) / 1000)) >>"$BT/ls_ms"
	sleep 0.5
done
lines=$(($(wc -l <"$BT/ls.out") - 1))
log "elasticctl ls listed $lines workers"

wait "$AGENTS_PID" || die "bench-agents failed: $(tail -n 5 "$BT/agents.log")"
cat "$BT/agents.log" >&2

python3 - "$BT" "$r0" "$r1" "$m0" "$m1" "$t0" "$t1" "$hz" "$lines" "$rss_kb" "$AUTH" >"$BT/measured.json" <<'PY'
import json, sys, statistics
bt, r0, r1, m0, m1, t0, t1, hz, lines, rss, auth = sys.argv[1:12]
secs = float(t1) - float(t0)
ls = sorted(int(x) / 1000 for x in open(bt + "/ls_ms").read().split())
a = json.load(open(bt + "/agents.json"))
print(json.dumps({
    "auth": auth,
    "window_s": round(secs, 2),
    "registry_cpu_pct": 100 * (int(r1) - int(r0)) / int(hz) / secs,
    "munged_cpu_pct": 100 * (int(m1) - int(m0)) / int(hz) / secs,
    "ticks": [int(r0), int(r1), int(m0), int(m1)],
    "registry_rss_mb": int(rss) / 1024,
    "ls_ms": ls, "ls_median_ms": statistics.median(ls), "ls_max_ms": max(ls),
    "ls_workers": int(lines),
    "agents": a,
}))
PY
cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["registry_cpu_pct"])' "$BT/measured.json")
lsmed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ls_median_ms"])' "$BT/measured.json")
target "registry CPU, $WORKERS workers heartbeating" "$cpu" "%" "<=" 10
target "elasticctl ls, $WORKERS workers (median of $NLS)" "$lsmed" ms "<=" 100
json_out "$RESULTS/scale.json" "dict(title='control-plane scale', **json.load(open('$BT/measured.json')))"
print_targets "$RESULTS/scale.json"
python3 - "$RESULTS/scale.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["agents"]
print(f"  workers {a['workers']} in {a['agents']} agents; {a['heartbeat_rate']:.0f} heartbeats/s "
      f"({a['heartbeats_failed']} failed); heartbeat latency p50 {a['median_heartbeat_ms']:.2f} ms, "
      f"p99 {a['p99_heartbeat_ms']:.2f} ms")
print(f"  registry CPU {r['registry_cpu_pct']:.2f} % over {r['window_s']} s, munged {r['munged_cpu_pct']:.2f} %, "
      f"registry RSS {r['registry_rss_mb']:.1f} MiB; elasticctl ls median {r['ls_median_ms']:.1f} ms, "
      f"max {r['ls_max_ms']:.1f} ms ({r['ls_workers']} workers listed)")
PY
[ "$lines" -ge "$WORKERS" ] || die "elasticctl ls listed $lines workers, want $WORKERS"
