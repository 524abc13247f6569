#!/usr/bin/env bash
# timeout: 120
# (b) two gpu:4 jobs on one node do not collide: disjoint GPUs, distinct
# ports, every engine answers; ports derive from the global GPU ids. The
# second job is submitted with --export=NONE: the configuration travels in
# the job record, not in the exported environment.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 2
serve_script
j1=$(submit --gres=gpu:4 -w n2 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
j2=$(submit --gres=gpu:4 -w n2 --export=NONE --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
log "jobs $j1 and $j2 on n2"
wait_workers "$j1" ready 2 60
wait_workers "$j2" ready 2 60
{ workers "$j1" ready; workers "$j2" ready; } | sort >"$ES_TEST_DIR/ready"
cat "$ES_TEST_DIR/ready" >&2
[ "$(cut -d' ' -f2 "$ES_TEST_DIR/ready" | sort -u | wc -l)" -eq 4 ] || die "ports collide"
[ "$(cut -d' ' -f3 "$ES_TEST_DIR/ready" | tr ',' '\n' | sort -u | wc -l)" -eq 8 ] || die "GPUs overlap"
for url in $(cut -d' ' -f2 "$ES_TEST_DIR/ready"); do
	curl -sf -m 5 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
		-d '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2}' >/dev/null ||
		die "$url does not answer"
	curl -sf -m 5 "$url/v1/models" | grep -q '"id":"tiny"' || die "$url serves something else"
done
log "four engines of two jobs answer"
