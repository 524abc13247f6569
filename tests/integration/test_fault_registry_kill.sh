#!/usr/bin/env bash
# test_fault_registry_kill.sh — kill -9 of the registry (and its proxy) in
# the middle of streams, then a restart.
#   - clients: the streams in flight are cut (they had their first bytes),
#     requests in flight get a reset and new ones are refused while it is
#     down; nothing fails once it is back;
#   - the restarted registry loads its state, adopts its two jobs from SLURM
#     (submits nothing) and the agents register their workers again on their
#     next heartbeat: 8 ready within 3 s, the same jobs.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fr-kill
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
fault_model pool.toml "$FAULT_MODEL" 2 'args = ["--ttft-ms", "20", "--itl-ms", "25"]'
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)

# Long streams (about 2 s each): the kill lands in the middle of them.
load_start a -c 8 --stream 1 --max-tokens 80
sleep 4
t0=$EPOCHREALTIME
reg_kill9
sleep 2
t1=$EPOCHREALTIME
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
wait_ready 8 10
dt=$(since "$t1")
log "8 workers ready $dt s after the restart"
awk -v d="$dt" 'BEGIN { exit !(d <= 3.0) }' || die "workers took $dt s to come back"
sleep 4
load_stop a
load_show a

# Clients: cut streams and refusals around the kill only, then success.
load_assert a 'c["ok"] > 30'
load_assert a 'c["cut"] >= 1 and c["cut"] <= 8'
load_assert a 'c["error"] + c["broken"] + c["timeout"] == 0'
# The load started 4 s before the kill, the registry was back 2 s later:
# no failure from a second after that on.
load_assert a 'r["last_failure"] <= 4 + 2 + 1'
# No state lost: the same jobs, adopted, none submitted after the restart.
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed: $(our_jobs | tr '\n' ' ') (was $(tr '\n' ' ' <<<"$jobs"))"
[ "$(metric "elastic_job_submissions_total{pool=\"$FAULT_MODEL\"}")" = 0 ] || die "submitted after the restart"
grep -q "state loaded: 1 pool(s), 2 job(s) to adopt" "$REG_LOG" || die "the state was not loaded"
