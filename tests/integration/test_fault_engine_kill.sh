#!/usr/bin/env bash
# test_fault_engine_kill.sh — kill -9 of one engine under load.
#   - clients: only streams that were running on that engine are cut (they
#     had their first bytes); requests without a byte yet are retried on
#     another worker by the proxy: nothing else fails;
#   - the agent deregisters the worker at once and restarts the engine;
#   - the pool is back at 8 ready workers with the same two jobs: nothing
#     submitted again, no state lost.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fe-kill
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
fault_model pool.toml "$FAULT_MODEL" 2
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)

load_start a -c 8 --stream 0.6 --max-tokens 40
sleep 3
victim=$(jctl 'j["workers"][0]["id"] + " " + j["workers"][0]["url"]' ls)
id=${victim%% *}
url=${victim#* }
pid=$(engine_pid "$url")
[ -n "$pid" ] || die "no engine listens for $url"
log "killing engine $pid of worker $id ($url) with SIGKILL"
t0=$EPOCHREALTIME
kill -9 "$pid"
out_of_routing() { [ "$(jctl "[w['state'] for w in j['workers'] if w['id'] == '$id'] or ['gone']" ls)" != "['ready']" ]; }
wait_for 5 "worker $id out of routing" out_of_routing
log "worker $id out of routing $(since "$t0") s after the kill"
wait_ready 8 60
log "8 workers ready again $(since "$t0") s after the kill"
sleep 2
load_stop a
load_show a

# What clients saw: successes throughout, at most the streams in flight on
# the engine cut (8 clients: at most 8), no error answer, nothing refused.
load_assert a 'c["ok"] > 50'
load_assert a 'c["cut"] <= 8'
load_assert a 'c["error"] + c["refused"] + c["broken"] + c["timeout"] == 0'
# No state lost: the same jobs, none submitted again; the restart counted.
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed: $(our_jobs | tr '\n' ' ') (was $(tr '\n' ' ' <<<"$jobs"))"
[ "$(metric "elastic_job_submissions_total{pool=\"$FAULT_MODEL\"}")" = 2 ] || die "a job was submitted again"
[ "$(metric 'elastic_evictions_total{cause="engine_exit"}')" -ge 1 ] || die "no engine_exit deregistration"
