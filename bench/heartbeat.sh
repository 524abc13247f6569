#!/usr/bin/env bash
# heartbeat.sh — part c of `make bench`: the heartbeat fallback.
#
# A pool of elastic-sim on the 3 nodes of the local cluster (real SPANK
# plugin, elastic-agent and registry; heartbeat every 1 s, timeout 3 s).
# For each node in turn, the node "dies": its job's slurmstepd and batch
# script are frozen (SIGSTOP, so that neither SLURM nor the plugin can tell
# the registry anything, as when a node loses power), then its
# elastic-agent and engines are killed with SIGKILL. Measured: the time
# from the kill to the registry evicting each of the job's workers
# (gone_at of `elasticctl ls -a`, cause heartbeat_timeout).
# Target: <= 3 heartbeat intervals + 0.5 s.
#
# Runs as root on the local cluster (scripts/cluster.sh), like the
# integration tests whose helpers it uses.
PART=heartbeat
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=tests/integration/registry.sh
. "$ES_REPO/tests/integration/registry.sh"
# shellcheck source=bench/report.sh
. "$ES_REPO/bench/report.sh"
on_exit rm -f "$TARGETS"
need_plugin
cd "$ES_TEST_DIR" || exit

INTERVAL_S=1
TIMEOUT_S=3
POOL=hb-pool
reg_start --heartbeat-interval "${INTERVAL_S}s" --heartbeat-timeout "${TIMEOUT_S}s"
sim_pool pool.toml "$POOL" 3
ctl up pool.toml >/dev/null || die "elasticctl up"
ready_is() { [ "$(jctl 'j["workers"]["ready"]' status)" = "$1" ]; }
wait_for 60 "12 ready workers on 3 nodes" ready_is 12

# descendants PID: every process below PID, one a line.
descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

: >"$ES_TEST_DIR/evictions"
STOPPED=()
thaw() { [ ${#STOPPED[@]} -eq 0 ] || kill -CONT "${STOPPED[@]}" 2>/dev/null || true; }
on_exit thaw
jobs=$(our_jobs R)
for job in $jobs; do
	node=$(job_field "$job" NodeList)
	steps=$(pgrep -f "^slurmstepd: \[$job\." || true)
	[ -n "$steps" ] || die "no slurmstepd for job $job"
	procs=$(for s in $steps; do descendants "$s"; done)
	victims=() frozen=()
	for p in $procs; do
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		if [ "$comm" = elastic-sim ] || { [ "$comm" = elastic-agent ] && [[ "$args" != *--wait* ]]; }; then
			victims+=("$p")
		else
			frozen+=("$p")
		fi
	done
	[ ${#victims[@]} -ge 5 ] || die "job $job: want the agent and 4 engines, found ${#victims[@]} processes"
	# shellcheck disable=SC2206 # pids
	frozen+=($steps)
	kill -STOP "${frozen[@]}"
	STOPPED+=("${frozen[@]}")
	t0=$EPOCHREALTIME
	kill -9 "${victims[@]}"
	log "node $node (job $job): froze ${#frozen[@]} processes, killed the agent and engines (${#victims[@]})"
	gone() {
		[ "$(jctl "sum(1 for w in j['workers'] if w['job_id'] == '$job' and w['state'] != 'gone')" ls -a)" = 0 ]
	}
	wait_for 30 "job $job's workers to be evicted" gone
	jctl "'\n'.join('%s %.3f %.3f %s' % (w['id'], w['gone_at'] - $t0, w['gone_at'] - w['last_heartbeat'], w.get('gone_cause', '')) for w in j['workers'] if w['job_id'] == '$job')" \
		ls -a | tee -a "$ES_TEST_DIR/evictions" >&2
	# The node "comes back": the job notices its agent is gone and ends.
	kill -CONT "${frozen[@]}" 2>/dev/null || true
done

python3 - "$ES_TEST_DIR/evictions" "$INTERVAL_S" "$TIMEOUT_S" >"$ES_TEST_DIR/measured.json" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
after_kill = sorted(float(r[1]) for r in rows)
after_hb = sorted(float(r[2]) for r in rows)
print(json.dumps({
    "title": "heartbeat fallback",
    "heartbeat_interval_s": float(sys.argv[2]), "heartbeat_timeout_s": float(sys.argv[3]),
    "workers": len(rows), "causes": sorted(set(r[3] if len(r) > 3 else "" for r in rows)),
    "evict_after_kill_s": after_kill,
    "evict_after_kill_median_s": statistics.median(after_kill),
    "evict_after_kill_max_s": max(after_kill),
    "evict_after_last_heartbeat_max_s": max(after_hb),
}))
PY
worst=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["evict_after_kill_max_s"])' "$ES_TEST_DIR/measured.json")
target "eviction after kill -9, slowest of the workers" "$worst" s "<=" "$(python3 -c "print(3 * $INTERVAL_S + 0.5)")"
json_out "$RESULTS/heartbeat.json" "json.load(open('$ES_TEST_DIR/measured.json'))"
print_targets "$RESULTS/heartbeat.json"
python3 - "$RESULTS/heartbeat.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  {r['workers']} workers on 3 nodes evicted {r['evict_after_kill_median_s']:.2f} s (median), "
      f"{r['evict_after_kill_max_s']:.2f} s (max) after the kill; at most "
      f"{r['evict_after_last_heartbeat_max_s']:.2f} s after their last heartbeat "
      f"(interval {r['heartbeat_interval_s']:g} s, timeout {r['heartbeat_timeout_s']:g} s); "
      f"cause {', '.join(r['causes'])}")
PY
ctl down "$POOL" >/dev/null 2>&1 || true
