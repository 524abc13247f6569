#!/usr/bin/env bash
# timeout: 120
# (f) kill -9 of one engine: its worker is deregistered at once, the agent
# restarts the engine (bounded backoff, 1 s first) and registers it again;
# the other engines keep serving meanwhile.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 2
serve_script
job=$(submit --gres=gpu:4 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 2 60
victim=$(status_field "$job" slices.1.pid)
url=$(status_field "$job" slices.1.url)
node=$(job_field "$job" NodeList)
log "killing engine $victim of $job.$node.1 ($url)"
kill -9 "$victim"
wait_for 5 "worker $job.$node.1 to leave the registry" \
	sh -c "! $(printf '%q ' "$ES_CTL") --registry $REG_URL -o json ls 2>/dev/null | grep -q '\"id\": \"$job.$node.1\"'"
grep -q "worker $job.$node.1 gone (engine_exit)" "$REG_LOG" || die "not deregistered as engine_exit: $(grep "$job.$node.1" "$REG_LOG")"
# The other one served all along.
[ "$(workers "$job" ready | wc -l)" -eq 1 ] || die "the other worker is not ready"
wait_workers "$job" ready 2 30
new=$(status_field "$job" slices.1.pid)
[ "$new" != "$victim" ] && kill -0 "$new" || die "the engine was not restarted"
[ "$(status_field "$job" slices.1.restarts)" -eq 1 ] || die "restarts: $(status_field "$job" slices.1.restarts)"
curl -sf -m 5 "$url/v1/models" | grep -q '"id":"tiny"' || die "the restarted engine does not answer"
grep -q "slice 1: restarting in 1.0 s" "$ES_TEST_DIR/out-$job.txt" || die "no restart message in the job output"
grep -c "==== elastic-agent .* slice 1 " "$ES_TEST_DIR/elastic-serve-$job/$node.slice1.log" | grep -qx 2 ||
	die "the slice log does not show two starts"
log "engine restarted as $new and registered again: $(grep "$job.$node.1" "$REG_LOG" | sed 's/.*info: //' | tr '\n' ';')"
