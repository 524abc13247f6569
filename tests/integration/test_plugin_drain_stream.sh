#!/usr/bin/env bash
# timeout: 120
# Preemption of a one-node job with a stream in flight (bench part b's 2
# cut streams): SLURM's SIGTERM reaches the engine and the agent at once;
# the engine drains on its own and refuses the agent's /metrics scrape.
# The agent must take that engine as busy, not signal it again before the
# drain time is over (elastic-sim exits at once on a later SIGTERM), so
# the stream completes; then everything stops before KillWait.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model slow 2
# 3 s of tokens: 300 tokens, 10 ms apart; 8 s to drain.
sed -i 's/^args = .*/args = ["--itl-ms", "10", "--ttft-ms", "10", "--itl-us-per-seq", "0", "--output-len", "300", "--log-level", "debug"]/; s/^drain_timeout = .*/drain_timeout = "8s"/' \
	"$ES_TEST_DIR/slow.toml"
serve_script
job=$(submit --gres=gpu:2 --elastic-serve=slow.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 1 60
node=$(job_field "$job" NodeList)
id=$job.$node.0
url=$(worker_field "$id" url)

curl -sN -m 30 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
	-d '{"model":"slow","messages":[{"role":"user","content":"tell me"}],"max_tokens":300,"stream":true}' \
	>"$ES_TEST_DIR/stream.txt" 2>&1 &
curl_pid=$!
wait_for 5 "the stream to begin" grep -q '"delta"' "$ES_TEST_DIR/stream.txt"
high=$(preempt_node "$node")
log "stream in flight; high job $high takes $node"
wait_for 5 "worker $id to leave the registry" grep -q "worker $id gone" "$REG_LOG"
wait "$curl_pid" || die "the stream failed: $(tail -c 300 "$ES_TEST_DIR/stream.txt")"
grep -q '^data: \[DONE\]' "$ES_TEST_DIR/stream.txt" || die "the stream was cut: $(tail -c 300 "$ES_TEST_DIR/stream.txt")"
[ "$(grep -c '"delta"' "$ES_TEST_DIR/stream.txt")" -ge 300 ] || die "tokens: $(grep -c '"delta"' "$ES_TEST_DIR/stream.txt")"
log "the stream completed: $(grep -c '"delta"' "$ES_TEST_DIR/stream.txt") chunks"

wait_job_state "$job" "PENDING|CONFIGURING|RUNNING" 30
out=$ES_TEST_DIR/out-$job.txt
log_=$ES_TEST_DIR/elastic-serve-$job/$node.slice0.log
grep -q "SIGTERM: stopping" "$log_" || die "the engine never got SLURM's SIGTERM"
! grep -q "second signal\|SIGTERM again" "$log_" ||
	die "the engine was signalled again while draining: $(grep -E 'second signal|SIGTERM again' "$log_")"
! grep -q "SIGKILL\|drain time over" "$out" || die "the drain ran out: $(grep -E 'SIGKILL|drain time' "$out")"
log "drained: the engine finished its stream and stopped on its own"
