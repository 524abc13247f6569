#!/usr/bin/env bash
# test_proxy_policies.sh — each routing policy on four elastic-sim workers,
# measured where it matters: the sims' own prefix-cache hit rate for the
# same multi-turn conversations (cache_aware far above round_robin), the
# load from heartbeats (least_load, and cache_aware's fallback when the
# load is imbalanced), sessions that stick, a pool's own policy from its
# model.toml, and the per-request header over it.
# timeout: 240
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

CONVS=$PX_REPO/tests/integration/proxy_convs.py
px_registry "[proxy]"
for i in 1 2 3 4; do
	px_sim "s$i" --served-model-name chat --time-scale 0
	px_register "7.n$i.0" "s$i" chat
done

# Token counters summed over the four sims.
cache_counts() {
	local q=0 h=0 i
	for i in 1 2 3 4; do
		q=$(python3 -c "print(int($q + $(px_sim_metric "s$i" 'vllm:prefix_cache_queries_total{model_name="chat"}')))")
		h=$(python3 -c "print(int($h + $(px_sim_metric "s$i" 'vllm:prefix_cache_hits_total{model_name="chat"}')))")
	done
	echo "$q $h"
}

declare -A RATE=()
for policy in round_robin cache_aware least_load; do
	read -r q0 h0 < <(cache_counts)
	out=$(python3 "$CONVS" "$PX_URL" chat "$policy" --convs 16 --turns 6 -c 4 --salt "$policy")
	read -r q1 h1 < <(cache_counts)
	python3 - "$out" <<'EOF' || die "$policy: $out"
import json, sys
r = json.loads(sys.argv[1])
assert not r["failed"] and r["sent"] == 96, r
EOF
	RATE[$policy]=$(python3 -c "print('%.3f' % (($h1 - $h0) / ($q1 - $q0)))")
	if [ "$policy" = cache_aware ]; then
		python3 - "$out" <<'EOF' || die "cache_aware moved conversations or left a worker out: $out"
import json, sys
r = json.loads(sys.argv[1])
assert r["home_changes"] == 0, r["home_changes"]
assert len(r["workers"]) == 4, r["workers"]
EOF
	fi
	moves=$(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r['home_changes'], sorted(r['workers'].values()))" "$out")
	log "$policy: prefix-cache hit rate ${RATE[$policy]} ($((h1 - h0)) of $((q1 - q0)) prompt tokens); conversation moves, requests per worker: $moves"
done
python3 - "${RATE[cache_aware]}" "${RATE[round_robin]}" <<'EOF' ||
import sys
ca, rr = float(sys.argv[1]), float(sys.argv[2])
# This workload's best possible rate is about 0.74: each turn can reuse the
# previous turn's prompt, never its own new messages.
assert ca >= 0.65 and ca >= 1.5 * rr, (ca, rr)
EOF
	die "cache_aware's hit rate ${RATE[cache_aware]} is not far above round_robin's ${RATE[round_robin]}"
hits=$(px_metric 'elastic_proxy_routing_total{pool="chat",decision="cache_hit"}')
[ "$hits" -ge 70 ] || die "cache_hit decisions: $hits"
log "ok: cache_aware ${RATE[cache_aware]} vs round_robin ${RATE[round_robin]} (least_load ${RATE[least_load]}); $hits cache hits"

# ---------------------------------------------------------------- round robin
workers_of() { # N POLICY [HEADER...] -> the X-Elastic-Worker of N requests
	local n=$1 policy=$2 i
	shift 2
	for i in $(seq "$n"); do
		curl -sS -o /dev/null -D - -H "X-Elastic-Policy: $policy" "$@" "$PX_URL/v1/chat/completions" \
			-d "$(px_chat chat "rr $i")" | tr -d '\r' | awk 'tolower($1) == "x-elastic-worker:" {print $2}'
	done
}
got=$(workers_of 8 round_robin | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')
[ "$got" = "2 " ] || die "round_robin: 8 requests are not 2 per worker ($got)"
log "ok: round_robin takes the workers in turn"

# ---------------------------------------------------------------- least load
# The engine of 7.n1.0 reports a long queue: least_load avoids it.
hb() { # ID WAITING
	local id=$1 node
	node=${id#*.}
	node=${node%%.*}
	px_api POST /api/v1/heartbeat "{\"job_id\":\"7\",\"node\":\"$node\",\"workers\":[{\"id\":\"$id\",\"state\":\"ready\",\"load\":{\"running\":4,\"waiting\":$2,\"kv_usage\":0.5,\"prefix_queries\":0,\"prefix_hits\":0}}]}" >/dev/null
}
hb 7.n1.0 60
got=$(workers_of 12 least_load | sort | uniq -c)
grep -q '7.n1.0' <<<"$got" && die "least_load sent requests to the busy worker: $got"
[ "$(wc -l <<<"$got")" = 3 ] || die "least_load should spread over the three others: $got"
log "ok: least_load avoids the worker whose engine has 60 requests waiting"

# cache_aware falls back to least_load when the load is imbalanced: a
# conversation whose home is busy moves.
body='{"model":"chat","messages":[{"role":"system","content":"'$(printf 'imbalance test %.0s' $(seq 30))'"},{"role":"user","content":"hi"}],"max_tokens":2}'
home=$(curl -sS -o /dev/null -D - "$PX_URL/v1/chat/completions" -d "$body" | tr -d '\r' |
	awk 'tolower($1) == "x-elastic-worker:" {print $2}')
again=$(curl -sS -o /dev/null -D - "$PX_URL/v1/chat/completions" -d "$body" | tr -d '\r' |
	awk 'tolower($1) == "x-elastic-worker:" {print $2}')
[ "$home" = "$again" ] || die "cache_aware: the same prompt moved from $home to $again"
hb 7.n1.0 0
hb "$home" 80
before=$(px_metric 'elastic_proxy_routing_total{pool="chat",decision="imbalanced"}')
moved=$(curl -sS -o /dev/null -D - "$PX_URL/v1/chat/completions" -d "$body" | tr -d '\r' |
	awk 'tolower($1) == "x-elastic-worker:" {print $2}')
[ "$moved" != "$home" ] || die "cache_aware kept a prompt on its overloaded home $home"
[ "$(px_metric 'elastic_proxy_routing_total{pool="chat",decision="imbalanced"}')" -gt "$before" ] ||
	die "no imbalanced decision counted"
hb "$home" 0
log "ok: cache_aware keeps a prompt on $home, and moves it to $moved when $home is overloaded"

# ---------------------------------------------------------------- sessions
got=$(workers_of 10 session -H 'X-Session-ID: alice' | sort -u)
[ "$(wc -l <<<"$got")" = 1 ] || die "a session moved: $got"
all=$(for s in $(seq 24); do workers_of 1 session -H "X-Session-ID: user-$s"; done | sort -u | wc -l)
[ "$all" -ge 3 ] || die "24 sessions on only $all workers"
u1=$(for _ in 1 2 3 4 5; do
	curl -sS -o /dev/null -D - -H 'X-Elastic-Policy: session' "$PX_URL/v1/chat/completions" \
		-d "$(px_chat chat hi '"user":"bob"')" | tr -d '\r' | awk 'tolower($1) == "x-elastic-worker:" {print $2}'
done | sort -u | wc -l)
[ "$u1" = 1 ] || die "the \"user\" field as session key: $u1 workers"
log "ok: session: a session (X-Session-ID or \"user\") stays on $got; 24 sessions spread over $all workers"

# ---------------------------------------------------------------- the pool's policy
# A pool whose model.toml says round_robin: routed so without the header.
cfg='[model]\npath = \"sim/rr\"\nname = \"rrpool\"\n\n[engine]\nkind = \"sim\"\n\n[scale]\nmax_nodes = 1\n\n[routing]\npolicy = \"round_robin\"\n'
out=$(px_api POST /api/v1/pools "{\"config\":\"$cfg\",\"filename\":\"rr.toml\"}")
grep -q '"name":"rrpool"' <<<"$out" || die "cannot create the pool: $out"
px_sim r1 --served-model-name rrpool --time-scale 0
px_sim r2 --served-model-name rrpool --time-scale 0
px_register 8.n1.0 r1 rrpool
px_register 8.n2.0 r2 rrpool
seq_w=$(for i in 1 2 3 4; do
	curl -sS -o /dev/null -D - "$PX_URL/v1/chat/completions" \
		-d '{"model":"rrpool","messages":[{"role":"user","content":"the same prompt each time, long enough for a block or two of the prefix table"}],"max_tokens":2}' |
		tr -d '\r' | awk 'tolower($1) == "x-elastic-worker:" {print $2}'
done | tr '\n' ' ')
case "$seq_w" in
"8.n1.0 8.n2.0 8.n1.0 8.n2.0 " | "8.n2.0 8.n1.0 8.n2.0 8.n1.0 ") ;;
*) die "the pool's round_robin was not applied: $seq_w" ;;
esac
log "ok: a pool's [routing] policy applies ($seq_w)"
px_wait_idle 5
px_check_no_leak
