#!/usr/bin/env bash
# timeout: 120
# (a) sbatch --elastic-serve with tp = 2 on gpu:8: four engines on disjoint
# GPU pairs with distinct ports register with the registry, the job script
# sees their URLs, and each answers a chat request.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 2
serve_script
job=$(submit --gres=gpu:8 -w n1 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
log "job $job submitted"
wait_workers "$job" ready 4 60
workers "$job" ready | sort >"$ES_TEST_DIR/ready"
cat "$ES_TEST_DIR/ready" >&2

# Disjoint GPU pairs, distinct ports, ids JOB.NODE.SLICE.
[ "$(cut -d' ' -f3 "$ES_TEST_DIR/ready" | tr '\n' ' ')" = "0,1 2,3 4,5 6,7 " ] ||
	die "GPU slices: $(cut -d' ' -f3 "$ES_TEST_DIR/ready" | tr '\n' ' ')"
[ "$(cut -d' ' -f2 "$ES_TEST_DIR/ready" | sort -u | wc -l)" -eq 4 ] || die "ports are not distinct"
[ "$(cut -d' ' -f1 "$ES_TEST_DIR/ready" | tr '\n' ' ')" = "$job.n1.0 $job.n1.1 $job.n1.2 $job.n1.3 " ] ||
	die "worker ids: $(cut -d' ' -f1 "$ES_TEST_DIR/ready" | tr '\n' ' ')"

# The job script saw the same URLs, in slice order, and the registry.
urls=$(sed -n 's/^urls=\([^ ]*\) .*/\1/p' "$ES_TEST_DIR/out-$job.txt")
[ "$urls" = "$(cut -d' ' -f2 "$ES_TEST_DIR/ready" | paste -sd,)" ] || die "ELASTIC_SERVE_URLS=$urls"
grep -q "registry=$REG_URL " "$ES_TEST_DIR/out-$job.txt" || die "ELASTIC_REGISTRY_URL not exported"

# elastic-agent --wait-ready in the job script agrees.
wait_for 10 "the job script's ready= line" grep -q '^ready=' "$ES_TEST_DIR/out-$job.txt"
grep -qx "ready=$urls" "$ES_TEST_DIR/out-$job.txt" || die "--wait-ready: $(grep '^ready=' "$ES_TEST_DIR/out-$job.txt")"

# Every engine answers a chat request for the model.
for url in ${urls//,/ }; do
	out=$(curl -sf -m 5 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
		-d '{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":4}') ||
		die "$url does not answer"
	case $out in *'"object":"chat.completion"'*) ;; *) die "$url answered: $out" ;; esac
	log "$url answers"
done

# Engine logs are where the man page says, one per slice.
for i in 0 1 2 3; do
	[ -s "$ES_TEST_DIR/elastic-serve-$job/n1.slice$i.log" ] || die "no log for slice $i"
done
