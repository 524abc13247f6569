#!/usr/bin/env bash
# timeout: 150
# A `high` job preempts the rank-1 node of a worker spanning 2 nodes: SLURM
# requeues the whole job; the worker leaves the registry within 1 s of the
# SIGTERM; no agent or engine survives on either node; the job's end is
# reported as preempted; the requeued job runs again on two free nodes and
# its worker comes back.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model_mn big 2 4
serve_script
job=$(submit -N 2 --gres=gpu:4 --open-mode=append --elastic-serve=big.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 1 60
mapfile -t nodes < <(job_nodes "$job")
id=$job.${nodes[0]}.0
out=$ES_TEST_DIR/out-$job.txt
hub=$(sed -n 's/.* agent_pid=\([0-9]*\) .*/\1/p' "$out" | head -n 1)
pids="$hub"
for r in 0 1; do
	pids="$pids $(rank_field "$job" "${nodes[r]}" $r pid slices.0.pid | tr '\n' ' ')"
done
port=$(worker_field "$id" port)
log "worker $id on ${nodes[*]}; hub, node agents and engines: $pids"

high=$(preempt_node "${nodes[1]}")
log "high job $high takes ${nodes[1]}"
wait_for 20 "worker $id to leave the registry" grep -q "worker $id gone" "$REG_LOG"
wait_job_state "$job" "PENDING|CONFIGURING|RUNNING" 30
t_sig=$(log_epoch "$out" 'elastic-agent(@[^ ]*)? info: got SIGTERM')
[ -n "$t_sig" ] || die "no agent logged its SIGTERM"
t_gone=$(log_epoch "$REG_LOG" "worker $id gone")
python3 -c '
import sys
dt = float(sys.argv[2]) - float(sys.argv[1])
print("worker out of routing %.3f s after the first SIGTERM" % dt, file=sys.stderr)
assert dt < 1.0, "%.3f s" % dt
' "$t_sig" "$t_gone" || die "the worker left the registry too late"

# Nothing of the preempted run survives, on either node.
for pid in $pids; do
	! kill -0 "$pid" 2>/dev/null || die "process $pid survived the preemption"
done
[ -z "$(ss -Hltn "sport = :$port")" ] || die "port $port still listens after the preemption"
grep -q "ended on ${nodes[0]} (plugin: preempted" <(events) || die "the exit notice did not say preempted: $(events | grep ended)"
grep -q "elastic-agent info: the node agents are done" "$out" || die "the hub did not wait for the node agents"
log "preempted run: worker out of routing, processes gone, reason preempted"

# Requeued: it runs again on the two other nodes, and the worker is back.
wait_job_state "$job" RUNNING 60
wait_workers "$job" ready 1 60
mapfile -t again < <(job_nodes "$job")
[[ " ${again[*]} " != *" ${nodes[1]} "* ]] || die "requeued job runs on ${nodes[1]} beside the high job"
[ "$(job_field "$job" Restarts)" -ge 1 ] || die "the job was not requeued"
[ "$(worker_field "$job.${again[0]}.0" nodes)" = "${again[0]},${again[1]}" ] ||
	die "nodes after the requeue: $(worker_field "$job.${again[0]}.0" nodes)"
log "requeued job $job serves again on ${again[*]}"
