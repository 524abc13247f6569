#!/usr/bin/env bash
# test_fault_node_kill.sh — a node gone without callbacks under load: its
# slurmd, the job's slurmstepd, job script, agent and engines all killed
# with SIGKILL at once, so neither the agent nor the plugin says anything.
#   - the registry evicts the node's four workers when their heartbeats
#     stop (heartbeat timeout 3 s), and the proxy routes around them;
#   - clients: streams on those engines are cut, and a request whose every
#     attempt met one of them before it left routing gets a 502; nothing
#     else fails;
#   - slurmd comes back (as a rebooted node would); SLURM still counts the
#     job as running, so the acquirer cancels and replaces it once it has had
#     no ready worker for engine.startup_timeout (20 s here); back at 8
#     ready workers, the other job untouched.
# timeout: 300
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fn-kill
FAULT_STARTUP=20s
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
fault_model pool.toml "$FAULT_MODEL" 2
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)
victim=$(head -n 1 <<<"$jobs")
other=$(tail -n 1 <<<"$jobs")
node=$(squeue -h -j "$victim" -o %N)
slurmd=$(cat "$ES_CLUSTER_DIR/run/slurmd-$node.pid")
grep -qzFx "ES_CLUSTER_DAEMON=$ES_CLUSTER_DIR" "/proc/$slurmd/environ" || die "no slurmd for $node"
# slurmd comes back however the test ends, or the next test finds n? down.
revive() {
	local p
	p=$(cat "$ES_CLUSTER_DIR/run/slurmd-$node.pid" 2>/dev/null) || p=
	if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
		ES_CLUSTER_DAEMON=$ES_CLUSTER_DIR slurmd -f "$SLURM_CONF" -N "$node" 9>&- ||
			log "cannot start slurmd $node again"
	fi
}
on_exit revive

# Everything of the job: its slurmstepd (named by the job id) and every
# process that carries the job id in its environment.
job_pids() {
	local p
	for p in $(ps -e -o pid=,args= | awk -v j="[$victim.batch]" 'index($0, j) { print $1 }'); do
		echo "$p"
	done
	for p in $(grep -lzFx "SLURM_JOB_ID=$victim" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
		echo "$p"
	done
}
pids=$(job_pids | sort -u | tr '\n' ' ')
[ -n "$pids" ] || die "no process of job $victim"

load_start a -c 8 --stream 0.6 --max-tokens 40
sleep 3
log "node $node gone: SIGKILL to slurmd $slurmd and job $victim's processes $pids"
t0=$EPOCHREALTIME
# shellcheck disable=SC2086 # one pid a word
kill -9 "$slurmd" $pids 2>/dev/null || true
no_victim_ready() { ctl ls | awk -v j="$victim" '$4 == j && $6 == "ready" { f = 1 } END { exit f }'; }
wait_for 10 "job $victim's workers evicted" no_victim_ready
dt=$(since "$t0")
log "job $victim's workers evicted $dt s after the node went"
awk -v d="$dt" 'BEGIN { exit !(d >= 2.0 && d <= 6.0) }' ||
	die "evicted after $dt s: not by the 3 s heartbeat timeout"
events=$(jctl '"\n".join(e["text"] for e in j["events"])' status)
grep -q "worker $victim\.$node\.[0-3] evicted: no heartbeat" <<<"$events" || die "no eviction event: $events"
sleep 3
log "slurmd $node comes back"
revive
wait_ready 8 120
log "8 workers ready again $(since "$t0") s after the node went: jobs $(our_jobs | tr '\n' ' ')"
sleep 2
load_stop a
load_show a

load_assert_job_lost a
our_jobs | grep -qx "$other" || die "job $other is gone"
[ "$(our_jobs | grep -c .)" = 2 ] || die "jobs: $(our_jobs | tr '\n' ' ')"
grep -q "cancelling job $victim (startup_timeout)" "$REG_LOG" ||
	log "job $victim: $(job_state "$victim") ($(job_field "$victim" Reason)), not cancelled by the registry"
