#!/usr/bin/env bash
# timeout: 120
# kill -9 of the rank-1 engine of a worker spanning 2 nodes: the node agent
# on rank 1's node deregisters the whole worker within a second; rank 0 goes
# too, and rank 0's agent restarts the worker as a whole (both ranks), which
# registers again and serves.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model_mn big 2 4
serve_script
job=$(submit -N 2 --gres=gpu:4 --elastic-serve=big.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 1 60
mapfile -t nodes < <(job_nodes "$job")
id=$job.${nodes[0]}.0
r0=$(rank_field "$job" "${nodes[0]}" 0 slices.0.pid)
r1=$(rank_field "$job" "${nodes[1]}" 1 slices.0.pid)
log "worker $id: rank 0 pid $r0 on ${nodes[0]}, rank 1 pid $r1 on ${nodes[1]}"

t_kill=$(date +%s.%N)
kill -9 "$r1"
wait_for 5 "worker $id to leave the registry" grep -q "worker $id gone" "$REG_LOG"
t_gone=$(log_epoch "$REG_LOG" "worker $id gone")
python3 -c '
import sys
dt = float(sys.argv[2]) - float(sys.argv[1])
print("worker out of routing %.3f s after the kill" % dt, file=sys.stderr)
assert dt < 1.0, "%.3f s" % dt
' "$t_kill" "$t_gone" || die "the worker left the registry too late"
grep -q "worker $id gone (engine_exit)" "$REG_LOG" || die "not deregistered as engine_exit: $(grep "$id gone" "$REG_LOG")"
grep -q "elastic-agent@${nodes[1]} warn: worker $id: engine (rank 1) killed by signal 9: out of routing" \
	"$ES_TEST_DIR/out-$job.txt" || die "rank 1's agent did not say so"

# The whole worker restarts: both ranks anew, registered again, serving.
wait_for 30 "worker $id to be ready again" sh -c "[ \$(grep -c 'worker $id ready' '$REG_LOG') -ge 2 ]"
wait_workers "$job" ready 1 10
n0=$(rank_field "$job" "${nodes[0]}" 0 slices.0.pid)
n1=$(rank_field "$job" "${nodes[1]}" 1 slices.0.pid)
[ "$n0" != "$r0" ] && [ "$n1" != "$r1" ] && kill -0 "$n0" && kill -0 "$n1" || die "ranks not restarted: $r0 -> $n0, $r1 -> $n1"
! kill -0 "$r0" 2>/dev/null || die "the old rank 0 ($r0) is still there"
[ "$(rank_field "$job" "${nodes[0]}" 0 slices.0.restarts)" -eq 1 ] || die "rank 0 restarts: $(rank_field "$job" "${nodes[0]}" 0 slices.0.restarts)"
url=$(worker_field "$id" url)
curl -sf -m 5 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
	-d '{"model":"big","messages":[{"role":"user","content":"again"}],"max_tokens":4}' | grep -q chat.completion ||
	die "the restarted worker does not answer"
log "worker $id restarted (rank 0 $r0 -> $n0, rank 1 $r1 -> $n1) and serves"
