#!/usr/bin/env bash
# timeout: 120
# A worker spanning 2 nodes (elastic-sim, tp = 8 over 2 nodes of gpu:4):
# the hub in the batch step starts a node agent on each node (srun); rank 0's
# agent registers the one worker, with both nodes, once every rank has
# joined; it answers chat requests; the job script's --wait-ready prints
# its URL; rank 1 runs headless on the other node; no port collides
# although both nodes share this host.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model_mn big 2 4
serve_script
job=$(submit -N 2 --gres=gpu:4 --elastic-serve=big.toml -o out-%j.txt serve.sh)
log "job $job submitted"
wait_workers "$job" ready 1 60
mapfile -t nodes < <(job_nodes "$job")
[ "${#nodes[@]}" -eq 2 ] || die "the job runs on ${nodes[*]}"
id=$job.${nodes[0]}.0
workers "$job" >&2

# One worker, registered by rank 0 with every node of the worker.
[ "$(workers "$job" | cut -d' ' -f1)" = "$id" ] || die "workers: $(workers "$job" | tr '\n' ';')"
[ "$(worker_field "$id" nodes)" = "${nodes[0]},${nodes[1]}" ] || die "nodes: $(worker_field "$id" nodes)"
[ "$(worker_field "$id" node)" = "${nodes[0]}" ] || die "node: $(worker_field "$id" node)"
[ "$(worker_field "$id" tp)" = 8 ] || die "tp: $(worker_field "$id" tp)"
[ "$(grep -c "registered" "$REG_LOG")" -eq 1 ] && grep -q "worker $id registered (starting)" "$REG_LOG" ||
	die "registrations: $(grep registered "$REG_LOG")"
url=$(worker_field "$id" url)

# It serves.
for i in 1 2 3; do
	out=$(curl -sf -m 5 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
		-d '{"model":"big","messages":[{"role":"user","content":"hello '$i'"}],"max_tokens":4}') ||
		die "$url does not answer"
	case $out in *'"object":"chat.completion"'*) ;; *) die "$url answered: $out" ;; esac
done
log "$url answers"

# The job script waited for it and sees it.
wait_for 10 "the job script's ready= line" grep -q '^ready=' "$ES_TEST_DIR/out-$job.txt"
grep -qx "ready=$url" "$ES_TEST_DIR/out-$job.txt" || die "--wait-ready: $(grep '^ready=' "$ES_TEST_DIR/out-$job.txt")"

# Rank 0 waited for rank 1, which serves no HTTP, on the other node.
logs=$ES_TEST_DIR/elastic-serve-$job
grep -q "multinode: all 2 nodes joined" "$logs/${nodes[0]}.slice0.log" || die "rank 0 did not see rank 1 join"
grep -q "joined rank 0 at .* as rank 1" "$logs/${nodes[1]}.slice0.log" || die "rank 1 did not join"
grep -q -- "--node-rank 1 .*--headless" "$logs/${nodes[1]}.slice0.log" || die "rank 1 is not headless"
[ "$(rank_field "$job" "${nodes[1]}" 1 slices.0.state)" = starting ] || die "rank 1: $(rank_field "$job" "${nodes[1]}" 1 slices.0.state)"
kill -0 "$(rank_field "$job" "${nodes[1]}" 1 slices.0.pid)" || die "rank 1's engine is not running"

# Ports: both nodes live on this host; each rank's ports are its own.
p0=$(sed -n 's/.* --port \([0-9]*\) .*/\1/p' "$logs/${nodes[0]}.slice0.log" | head -n 1)
m0=$(sed -n 's/.* --master-port \([0-9]*\) .*/\1/p' "$logs/${nodes[0]}.slice0.log" | head -n 1)
p1=$(sed -n 's/.* --port \([0-9]*\) .*/\1/p' "$logs/${nodes[1]}.slice0.log" | head -n 1)
m1=$(sed -n 's/.* --master-port \([0-9]*\) .*/\1/p' "$logs/${nodes[1]}.slice0.log" | head -n 1)
[ "$m1" = "$m0" ] || die "rank 1 looks for rank 0 at port $m1, rank 0 listens at $m0"
[ "$(printf '%s\n' "$p0" "$m0" "$p1" | sort -u | wc -l)" -eq 3 ] || die "ports collide: $p0 $m0 $p1"
[ "$url" = "http://$(hostname):$p0" ] || die "url $url, rank 0's port $p0"
log "rank 0 on ${nodes[0]} (port $p0, rendezvous $m0), rank 1 on ${nodes[1]} (port $p1)"
