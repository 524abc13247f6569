#!/usr/bin/env bash
# test_fault_agent_kill.sh — kill -9 of one job's elastic-agent under load.
#   - the job's script (elastic-agent --wait) sees its agent gone and ends;
#     the plugin kills the job's engines and tells the registry, which takes
#     the job's four workers out of routing (or they are evicted when their
#     heartbeats stop, whichever comes first);
#   - clients: streams on those engines are cut, and a request whose every
#     attempt met one of them before it left routing gets a 502; nothing
#     else fails: the other job serves;
#   - the acquirer replaces the ended job: back at 8 ready workers, one job
#     submitted, the other job untouched.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fa-kill
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
fault_model pool.toml "$FAULT_MODEL" 2
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)
victim=$(head -n 1 <<<"$jobs")
other=$(tail -n 1 <<<"$jobs")
status=$(ls "$ES_TEST_DIR/elastic-serve-$victim"/*.status)
agent=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$status")
[ -n "$agent" ] && kill -0 "$agent" || die "no agent for job $victim ($status)"

load_start a -c 8 --stream 0.6 --max-tokens 40
sleep 3
log "killing the agent (pid $agent) of job $victim with SIGKILL"
t0=$EPOCHREALTIME
kill -9 "$agent"
no_victim_ready() { ctl ls | awk -v j="$victim" '$4 == j && $6 == "ready" { f = 1 } END { exit f }'; }
wait_for 10 "job $victim's workers out of routing" no_victim_ready
log "job $victim's workers out of routing $(since "$t0") s after the kill"
wait_job_state "$victim" "COMPLETED|FAILED|CANCELLED|UNKNOWN" 30
log "job $victim ended ($(job_state "$victim")) $(since "$t0") s after the kill"
wait_ready 8 90
log "8 workers ready again $(since "$t0") s after the kill: jobs $(our_jobs | tr '\n' ' ')"
sleep 2
load_stop a
load_show a

# Clients: the other job served throughout; only streams running on the
# victim's engines may be cut.
load_assert_job_lost a
# Back at target: the other job untouched, exactly one replacement.
our_jobs | grep -qx "$other" || die "job $other is gone"
[ "$(our_jobs | grep -c .)" = 2 ] || die "jobs: $(our_jobs | tr '\n' ' ')"
[ "$(metric "elastic_job_submissions_total{pool=\"$FAULT_MODEL\"}")" = 3 ] ||
	die "submissions: $(metric "elastic_job_submissions_total{pool=\"$FAULT_MODEL\"}"), want 3"
