#!/usr/bin/env bash
# routing.sh — part a of `make bench`: routing quality of the proxy.
#
# Setup (no SLURM needed): one elastic-registry on loopback and one
# elastic-agent serving 4 elastic-sim workers (one fake GPU each). Each
# worker's KV cache holds ROUTING_BLOCKS (1,280) blocks of 16 tokens, about
# 20,000 tokens: enough for the histories of a quarter of the conversations,
# a quarter of what all of them need. So a policy that keeps a conversation
# on one worker finds its history in that worker's prefix cache, and one
# that spreads it finds little.
#
# Workload (elasticctl bench --dataset multiturn, streamed, seed 1): 32
# conversations of 8 turns; a system prompt shared by every conversation;
# user turns of 128 tokens and answers of 128 tokens, both +-50 %; each
# turn resends the whole history (about 2,100 tokens at the last turn);
# 16 requests in flight. Two variants, which differ only in the length of
# the shared system prompt:
#   short-system  64 tokens: the conversations' own histories dominate
#   long-system   1,024 tokens: an agent's long instructions and tools
# The timing model makes uncached prompt tokens cost what they cost a large
# model (--prefill-us-per-token 100: 10,000 tokens/s of prefill per
# worker, --ttft-ms 10, --itl-ms 5), so that cache hits show in TTFT.
#
# Each policy (X-Elastic-Policy) runs on fresh engines with the same
# prompts. Measured: prefix-cache hit rate (hit tokens / queried tokens,
# the sims' vllm:prefix_cache_* counters), TTFT p50 and p99, output
# throughput, load imbalance (max / mean requests per worker, the sims'
# vllm:request_success_total).
# Targets, for each variant: cache_aware hit rate >= 2 x round_robin's and
# >= 0.9 x session's; cache_aware TTFT p50 <= 0.6 x round_robin's;
# cache_aware imbalance <= 1.3.
. "$(dirname "$0")/lib.sh"

POLICIES=${ROUTING_POLICIES:-round_robin least_load cache_aware session}
BLOCKS=${ROUTING_BLOCKS:-1280}
CONV=${ROUTING_CONVERSATIONS:-32}
TURNS=${ROUTING_TURNS:-8}
VARIANTS=${ROUTING_VARIANTS:-short-system:64 long-system:1024}
INPUT=${ROUTING_INPUT_LEN:-128}
OUTPUT=${ROUTING_OUTPUT_LEN:-128}
RATIO=${ROUTING_RANGE_RATIO:-0.5}
CONC=${ROUTING_CONCURRENCY:-16}
MODEL=sim-route
SIM_ARGS='"--num-gpu-blocks", "'$BLOCKS'", "--ttft-ms", "10", "--prefill-us-per-token", "100", "--itl-ms", "5", "--max-num-seqs", "64"'
bench_tmp

start_registry --heartbeat-interval 1s --heartbeat-timeout 3s
log "registry $REG_URL"
cat >"$BT/model.toml" <<EOF
[model]
path = "elastic/$MODEL"
name = "$MODEL"

[engine]
kind = "sim"
args = [$SIM_ARGS]
startup_timeout = "30s"
drain_timeout = "1s"

[parallel]
tp = 1
EOF

ready_workers() {
	curl -s --max-time 2 "$REG_URL/api/v1/workers" |
		python3 -c 'import json, sys; print(sum(1 for w in json.load(sys.stdin)["workers"] if w["state"] == "ready"))' 2>/dev/null ||
		echo 0
}

AGENT_PID=
stop_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
}
on_exit stop_agent

# start_agent JOB: 4 fresh engines, registered as job JOB.
PORTS=()
start_agent() {
	local job=$1 slices=() i
	PORTS=()
	for i in 0 1 2 3; do
		PORTS+=("$(free_port)")
		slices+=(--slice "$i@${PORTS[i]}")
	done
	mkdir -p "$BT/agent-$job"
	start_bg "agent-$job" "$AGENT" --config "$BT/model.toml" "${slices[@]}" --job-id "$job" \
		--node local --host 127.0.0.1 --bind 127.0.0.1 --registry "$REG_URL" --auth none \
		--sim "$SIM" --log-dir "$BT/agent-$job" --job-end "$(($(date +%s) + 3600))" --probe-ms 100
	AGENT_PID=$BG_PID
	for _ in $(seq 200); do
		[ "$(ready_workers)" = 4 ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$BT/agent-$job.log" >&2
	die "the 4 workers did not become ready"
}

# sim_totals: "HITS QUERIES REQ0 REQ1 REQ2 REQ3" over the 4 engines.
sim_totals() {
	local hits=0 queries=0 reqs=() p
	for p in "${PORTS[@]}"; do
		local url=http://127.0.0.1:$p
		hits=$(python3 -c "print($hits + $(metric "$url" vllm:prefix_cache_hits_total))")
		queries=$(python3 -c "print($queries + $(metric "$url" vllm:prefix_cache_queries_total))")
		reqs+=("$(metric "$url" vllm:request_success_total)")
	done
	echo "$hits $queries ${reqs[*]}"
}

# run_variant NAME SYSTEM_LEN: every policy on this workload; writes
# $BT/NAME.json.
job=0
run_variant() {
	local variant=$1 system=$2 policy
	for policy in $POLICIES; do
		job=$((job + 1))
		stop_agent
		start_agent "$job"
		log "$variant, policy $policy: 4 fresh workers (job $job); $CONV conversations x $TURNS turns"
		"$CTL" bench --base-url "$REG_URL" --model "$MODEL" --dataset multiturn \
			--conversations "$CONV" --turns "$TURNS" --random-prefix-len "$system" \
			--random-input-len "$INPUT" --random-output-len "$OUTPUT" --random-range-ratio "$RATIO" \
			--ignore-eos --stream \
			--max-concurrency "$CONC" --seed 1 --header "X-Elastic-Policy: $policy" \
			--json "$BT/bench-$variant-$policy.json" >"$BT/bench-$variant-$policy.txt" 2>>"$BT/bench.log" ||
			die "elasticctl bench under $policy failed: $(tail -n 3 "$BT/bench.log")"
		read -r hits queries r0 r1 r2 r3 <<<"$(sim_totals)"
		python3 - "$BT/bench-$variant-$policy.json" "$policy" "$hits" "$queries" "$r0" "$r1" "$r2" "$r3" \
			>"$BT/policy-$variant-$policy.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
policy = sys.argv[2]
hits, queries = float(sys.argv[3]), float(sys.argv[4])
reqs = [float(x) for x in sys.argv[5:9]]
mean = sum(reqs) / len(reqs)
print(json.dumps({
    "policy": policy,
    "hit_rate": hits / queries if queries else 0.0,
    "hit_tokens": hits, "queried_tokens": queries,
    "ttft_p50_ms": b["median_ttft_ms"], "ttft_p99_ms": b["p99_ttft_ms"],
    "ttft_mean_ms": b["mean_ttft_ms"], "e2el_p50_ms": b["median_e2el_ms"],
    "output_throughput": b["output_throughput"], "request_throughput": b["request_throughput"],
    "completed": b["completed"], "failed": b["failed"], "duration_s": b["duration"],
    "requests_per_worker": reqs, "imbalance": max(reqs) / mean if mean else 0.0,
    "proxy_worker_counts": b["workers"],
}))
PY
		python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %(policy)-12s hit rate %(hit_rate).3f, TTFT p50 %(ttft_p50_ms).1f ms p99 %(ttft_p99_ms).1f ms, %(output_throughput).0f tok/s, imbalance %(imbalance).2f, failed %(failed)d" % r)' \
			"$BT/policy-$variant-$policy.json" >&2
	done
	stop_agent
	# shellcheck disable=SC2086 # one policy a word
	python3 - "$BT" "$variant" "$system" $POLICIES >"$BT/$variant.json" <<'PY'
import json, sys
bt, variant, system, policies = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
print(json.dumps({"system_len": system,
                  "policies": {p: json.load(open(f"{bt}/policy-{variant}-{p}.json")) for p in policies}}))
PY
}

for v in $VARIANTS; do
	run_variant "${v%%:*}" "${v#*:}"
done

# shellcheck disable=SC2086 # one variant a word
python3 - "$BT" $VARIANTS >"$BT/measured.json" <<'PY'
import json, sys
bt, variants = sys.argv[1], [v.split(":")[0] for v in sys.argv[2:]]
print(json.dumps({"title": "routing quality (4 sims, limited KV cache, multiturn)",
                  "variants": {v: json.load(open(f"{bt}/{v}.json")) for v in variants}}))
PY
has() { [[ " $POLICIES " == *" $1 "* ]]; }
for v in $VARIANTS; do
	v=${v%%:*}
	val() { python3 -c "import json; r=json.load(open('$BT/measured.json'))['variants']['$v']['policies']; print($1)" 2>/dev/null || echo nan; }
	if has cache_aware && has round_robin; then
		target "$v: cache_aware hit rate / round_robin's" "$(val "r['cache_aware']['hit_rate'] / r['round_robin']['hit_rate']")" x ">=" 2
		target "$v: cache_aware TTFT p50 / round_robin's" "$(val "r['cache_aware']['ttft_p50_ms'] / r['round_robin']['ttft_p50_ms']")" x "<=" 0.6
	fi
	if has cache_aware && has session; then
		target "$v: cache_aware hit rate / session's" "$(val "r['cache_aware']['hit_rate'] / r['session']['hit_rate']")" x ">=" 0.9
	fi
	if has cache_aware; then
		target "$v: cache_aware imbalance (max/mean requests)" "$(val "r['cache_aware']['imbalance']")" x "<=" 1.3
	fi
done
json_out "$RESULTS/routing.json" "dict(json.load(open('$BT/measured.json')), workload=dict(conversations=$CONV, turns=$TURNS, input_len=$INPUT, output_len=$OUTPUT, range_ratio=$RATIO, concurrency=$CONC, kv_blocks_per_worker=$BLOCKS, block_size=16, workers=4, sim_args='$SIM_ARGS'))"
print_targets "$RESULTS/routing.json"
python3 - "$RESULTS/routing.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for v, w in r["variants"].items():
    print(f"  {v} (shared system prompt of {w['system_len']} tokens):")
    print(f"    {'policy':<12} {'hit rate':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'tok/s':>7} {'imbalance':>9} {'failed':>6}")
    for p, x in w["policies"].items():
        print(f"    {p:<12} {x['hit_rate']:>8.3f} {x['ttft_p50_ms']:>7.1f}ms {x['ttft_p99_ms']:>7.1f}ms "
              f"{x['output_throughput']:>7.0f} {x['imbalance']:>9.2f} {x['failed']:>6}")
PY
