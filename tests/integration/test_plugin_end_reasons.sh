#!/usr/bin/env bash
# timeout: 240
# (e) the exit notice tells the registry why a job ended: scancel ->
# cancelled, the time limit -> timeout (and a script that just ends ->
# completed); the workers go at once.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 1
serve_script

# Time limit: 1 minute (Slurm's smallest); slurmctld notices it within 30 s.
tl=$(submit --gres=gpu:1 -t 1 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
sc=$(submit --gres=gpu:1 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
printf '#!/bin/sh\n"$ELASTIC_AGENT" --wait-ready --timeout 60 >/dev/null\n' >"$ES_TEST_DIR/short.sh"
chown "$ES_CLUSTER_USER" "$ES_TEST_DIR/short.sh"
done_job=$(submit --gres=gpu:1 --elastic-serve=tiny.toml -o out-%j.txt short.sh)
wait_workers "$sc" ready 1 60
wait_workers "$tl" ready 1 60

ended() { events | grep -q "job $1 ended on [^ ]* (plugin: $2,"; }

scancel "$sc"
wait_for 15 "job $sc to be reported cancelled ($(events | grep "job $sc ended"))" ended "$sc" cancelled
wait_workers "$sc" gone 1 5
log "scancel: $(events | grep -o "job $sc ended.*")"

wait_for 30 "job $done_job to be reported completed ($(events | grep "job $done_job ended"))" ended "$done_job" completed
log "script ended: $(events | grep -o "job $done_job ended.*")"

wait_for 150 "job $tl to be reported timeout ($(events | grep "job $tl ended"))" ended "$tl" timeout
wait_workers "$tl" gone 1 5
grep -q 'DUE TO TIME LIMIT' "$ES_TEST_DIR/out-$tl.txt" || die "job $tl did not end by its time limit"
log "time limit: $(events | grep -o "job $tl ended.*")"
