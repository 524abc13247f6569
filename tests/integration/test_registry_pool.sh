#!/usr/bin/env bash
# test_registry_pool.sh — a pool of elastic-sim engines on the local
# cluster, with the real SPANK plugin and elastic-agent:
#   - `elasticctl up` with max_nodes = 2: two jobs, 8 workers ready (4 per
#     8-GPU node); ls, status and top show them;
#   - one node preempted: its workers leave routing at once, its job is
#     requeued and runs again elsewhere; back at target with the same two
#     jobs, nothing submitted twice, one preemption counted;
#   - the registry killed with SIGKILL and restarted: the same jobs adopted,
#     the workers back within two heartbeats, nothing submitted;
#   - scale to 0: every job cancelled, no worker left; down removes the pool.
# timeout: 300
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

POOL=sim-pool
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
sim_pool pool.toml "$POOL" 2

ready() { jctl 'j["workers"]["ready"]' status; }
ready_is() { [ "$(ready)" = "$1" ]; }
running_is() { [ "$(jctl 'j["pools"][0]["running"]' status)" = "$1" ]; }
njobs() { our_jobs | grep -c . || true; }

# ------------------------------------------------------------ up: two jobs, eight workers
t0=$EPOCHREALTIME
ctl up pool.toml || die "elasticctl up"
wait_for 30 "2 running jobs" running_is 2
wait_for 60 "8 ready workers" ready_is 8
log "2 jobs running and 8 workers ready $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s after up"
jobs=$(our_jobs)
[ "$(njobs)" = 2 ] || die "want 2 jobs in SLURM, have: $(our_jobs | tr '\n' ' ')"
[ "$(metric "elastic_job_submissions_total{pool=\"$POOL\"}")" = 2 ] || die "submissions: not 2"

# What elasticctl shows is the cluster's real state.
ls_out=$(ctl ls)
log "elasticctl ls:"$'\n'"$ls_out"
[ "$(grep -c " ready " <<<"$ls_out")" = 8 ] || die "ls does not show 8 ready workers"
for id in $jobs; do
	node=$(squeue -h -j "$id" -o %N)
	[ "$(awk -v j="$id" -v n="$node" '$4 == j && $3 == n' <<<"$ls_out" | wc -l)" = 4 ] ||
		die "ls does not show 4 workers of job $id on $node"
done
status_out=$(ctl status)
grep -Eq "^$POOL +2 +0 +2 +8 +2 " <<<"$status_out" || die "status: $status_out"
top_out=$(ctl top --once)
grep -q "workers 8 ready" <<<"$top_out" || die "top: $top_out"
grep -q "pool $POOL: target 2/2, 0 pending, 2 running, 8 ready" <<<"$top_out" || die "top: $top_out"
# A worker's URL is a live engine serving the pool's model.
url=$(jctl 'j["workers"][0]["url"]' ls)
curl -fsS -m 5 "$url/v1/models" | grep -q "\"$POOL\"" || die "worker $url does not serve $POOL"

# ------------------------------------------------------------ preemption
victim=$(head -n 1 <<<"$jobs")
node=$(squeue -h -j "$victim" -o %N)
log "preempting $node (job $victim)"
t0=$EPOCHREALTIME
hi=$(preempt_node "$node")
not_routed() { ! ctl ls | awk -v j="$victim" '$4 == j && $6 == "ready"' | grep -q .; }
wait_for 15 "job $victim's workers out of routing" not_routed
log "job $victim's workers out of routing $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s after the preempting submission"
wait_job_state "$hi" RUNNING 30
# Back at target: the requeued job runs again elsewhere, 8 ready.
back() { ready_is 8 && running_is 2; }
wait_for 90 "8 ready workers again" back
log "back at target $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s after the preemption; job $victim now on $(squeue -h -j "$victim" -o %N)"
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed: $(our_jobs | tr '\n' ' ') (was $(tr '\n' ' ' <<<"$jobs"))"
[ "$(metric "elastic_job_submissions_total{pool=\"$POOL\"}")" = 2 ] || die "a job was submitted twice"
[ "$(metric "elastic_job_preemptions_total{pool=\"$POOL\"}")" = 1 ] ||
	die "preemptions: $(metric "elastic_job_preemptions_total{pool=\"$POOL\"}"), want 1"
scancel "$hi"

# ------------------------------------------------------------ kill -9 and restart
reg_kill9
sleep 2
t0=$EPOCHREALTIME
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
wait_for 10 "8 ready workers after the restart" ready_is 8
dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
log "8 workers back $dt s after the restart"
awk -v d="$dt" 'BEGIN { exit !(d <= 3.0) }' || die "workers took $dt s to come back (two heartbeats: 2 s, + 1 s margin)"
sleep 3 # let squeue answer and the acquirer decide
[ "$(our_jobs)" = "$jobs" ] || die "after the restart: $(our_jobs | tr '\n' ' ') (was $(tr '\n' ' ' <<<"$jobs"))"
[ "$(metric "elastic_job_submissions_total{pool=\"$POOL\"}")" = 0 ] || die "submitted after the restart"
[ "$(grep -c "submitted job" "$REG_LOG")" = 2 ] || die "submissions in the log: $(grep "submitted job" "$REG_LOG")"
grep -q "state loaded: 1 pool(s), 2 job(s) to adopt" "$REG_LOG" || die "the state was not loaded"

# ------------------------------------------------------------ scale to 0
ctl scale "$POOL" 0 || die "scale to 0"
none() { [ "$(njobs)" = 0 ]; }
wait_for 60 "every job cancelled" none
no_workers() { [ "$(jctl 'j["workers"]["ready"] + j["workers"]["starting"] + j["workers"]["draining"]' status)" = 0 ]; }
wait_for 20 "no worker left" no_workers
[ "$(metric "elastic_job_cancellations_total{pool=\"$POOL\",reason=\"drained\"}")" = 2 ] ||
	die "cancellations: $(curl -fsS "$REG_URL/metrics" | grep cancellations)"
ctl down "$POOL" || die "down"
gone() { ! ctl status | grep -q "^$POOL "; }
wait_for 10 "the pool removed" gone
log "scale to 0 cancelled both jobs; down removed the pool"
