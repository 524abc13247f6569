#!/usr/bin/env bash
# timeout: 120
# Preemption of a worker spanning 2 nodes with a request in flight: the
# worker leaves the registry at once, the request still completes (rank 0
# finishes it, and rank 1 stays until rank 0 is done although SLURM signals
# every process of the job), then every rank stops before KillWait.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model_mn slow 2 4
# 3 s of tokens: 300 tokens, 10 ms apart.
sed -i 's/^args = .*/args = ["--itl-ms", "10", "--ttft-ms", "10", "--itl-us-per-seq", "0", "--output-len", "300"]/; s/^drain_timeout = .*/drain_timeout = "8s"/' \
	"$ES_TEST_DIR/slow.toml"
serve_script
job=$(submit -N 2 --gres=gpu:4 --elastic-serve=slow.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 1 60
mapfile -t nodes < <(job_nodes "$job")
id=$job.${nodes[0]}.0
url=$(worker_field "$id" url)
r1=$(rank_field "$job" "${nodes[1]}" 1 slices.0.pid)

curl -sN -m 30 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
	-d '{"model":"slow","messages":[{"role":"user","content":"tell me"}],"max_tokens":300,"stream":true}' \
	>"$ES_TEST_DIR/stream.txt" 2>&1 &
curl_pid=$!
wait_for 5 "the stream to begin" grep -q '"delta"' "$ES_TEST_DIR/stream.txt"
high=$(preempt_node "${nodes[1]}")
log "request in flight; high job $high takes ${nodes[1]}"
wait_for 5 "worker $id to leave the registry" grep -q "worker $id gone" "$REG_LOG"
wait "$curl_pid" || die "the request in flight failed: $(tail -c 300 "$ES_TEST_DIR/stream.txt")"
grep -q '^data: \[DONE\]' "$ES_TEST_DIR/stream.txt" || die "the stream was cut: $(tail -c 300 "$ES_TEST_DIR/stream.txt")"
[ "$(grep -c '"delta"' "$ES_TEST_DIR/stream.txt")" -ge 300 ] || die "tokens: $(grep -c '"delta"' "$ES_TEST_DIR/stream.txt")"
log "the request in flight completed: $(grep -c '"delta"' "$ES_TEST_DIR/stream.txt") chunks"

# Rank 1 outlived SLURM's SIGTERM until rank 0 was done; nothing is left.
out=$ES_TEST_DIR/out-$job.txt
grep -q "node rank 1 stays until rank 0 stops" "$ES_TEST_DIR/elastic-serve-$job/${nodes[1]}.slice0.log" ||
	die "rank 1 did not wait for rank 0"
wait_job_state "$job" "PENDING|CONFIGURING|RUNNING" 30
! kill -0 "$r1" 2>/dev/null || die "rank 1 ($r1) survived"
grep -q "elastic-agent info: the node agents are done" "$out" || die "the hub did not see the node agents finish"
! grep -q "SIGKILL\|drain time over" "$out" || die "the drain ran out: $(grep -E 'SIGKILL|drain time' "$out")"
log "drained: rank 0 finished its request, then every rank stopped"
