#!/usr/bin/env bash
# test_fault_engine_hang.sh — an engine of each job hangs mid-stream under
# load (elastic-sim --hang-after 20 on the slice of GPUs 0,1: once it has
# answered 20 requests it answers nothing more, and its streams in flight
# stop where they are); the other six workers serve.
#   - the proxy cuts a stream silent for stream_idle_timeout (2 s here) and
#     retries a request without a response head after response_timeout;
#   - the agent sees the engine answer nothing (not even /metrics) for
#     engine.hang_timeout (3 s here): it takes the worker out of routing,
#     kills the engine and restarts it;
#   - clients: only streams that had started on a hung engine are cut;
#   - back at 8 ready workers with the same jobs once the load stops.
# timeout: 300
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fh-hang
cat >registry.toml <<'TOML'
[proxy]
response_timeout = "2s"
stream_idle_timeout = "2s"
TOML
chown "$ES_CLUSTER_USER" registry.toml
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s --config "$ES_TEST_DIR/registry.toml"
fault_model pool.toml "$FAULT_MODEL" 2 "$(fault_command 0,1 "--hang-after 20")" 'hang_timeout = "3s"'
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)

load_start a -c 16 --stream 0.8 --max-tokens 60
t0=$EPOCHREALTIME
hung() { [ "$(metric 'elastic_evictions_total{cause="engine_exit"}')" -ge 2 ]; }
wait_for 90 "both hung engines taken out" hung
log "$(metric 'elastic_evictions_total{cause="engine_exit"}') hung engines taken out and restarted in $(since "$t0") s"
load_stop a
load_show a
wait_ready 8 60
log "8 workers ready again"

load_assert a 'c["ok"] > 100'
# A stream that started on an engine that then hung is cut; nothing else
# reaches a client.
load_assert a 'c["error"] + c["refused"] + c["broken"] + c["timeout"] == 0'
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed: $(our_jobs | tr '\n' ' ')"
[ "$(metric "elastic_job_submissions_total{pool=\"$FAULT_MODEL\"}")" = 2 ] || die "a job was submitted again"
grep -q "answered nothing for .* (engine.hang_timeout): killing it" "$REG_DIR"/jobs/es-*.out ||
	die "no agent says it killed a hung engine"
