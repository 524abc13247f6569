#!/usr/bin/env bash
# test_fault_engine_garbage.sh — an engine of each job starts answering
# garbage under load (elastic-sim --garbage-after 15 on the slice of GPUs
# 0,1: a 200 whose body is not JSON, or a stream with a broken event and
# no [DONE]), while it stays healthy to every probe.
#   - clients: a 200 that is no answer (a body that is not JSON, a stream
#     whose first event is not one) is retried on another worker before
#     any byte reaches the client, and counts as a failure of its worker;
#     three in a row eject it from routing (outlier detection), so the
#     garbage workers draw little traffic. Only a stream that breaks after
#     its first events, which are already the client's, is cut (no
#     [DONE]), as it would be by the engine itself;
#   - nothing else breaks: the registry, the proxy and the agents go on,
#     no worker is evicted, the jobs stay, and the pool stays at target.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fg-garbage
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
fault_model pool.toml "$FAULT_MODEL" 2 "$(fault_command 0,1 "--garbage-after 15")"
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)

load_start a -c 8 --stream 0.5 --max-tokens 24
sleep 10
load_stop a
load_show a

load_assert a 'c["ok"] > 100'
load_assert a 'c["broken"] == 0'                          # garbage never passed on
share=$(python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["counts"]; n = sum(c.values()); print("%.0f" % (100.0 * c.get("cut", 0) / n))' "$ES_TEST_DIR/load-a.json")
log "streams cut after their first events: $share% of all requests"
[ "$share" -le 10 ] || die "$share% of the requests were cut: the garbage workers drew the traffic"
ejections=$(curl -sS -m 5 "$REG_URL/metrics" | awk '/^elastic_proxy_worker_ejections_total/ { n += $2 } END { print n + 0 }')
[ "$ejections" -ge 1 ] || die "no garbage worker was ejected from routing"
log "garbage workers ejected from routing $ejections time(s)"
load_assert a 'c["error"] + c["refused"] + c["timeout"] == 0'
# Round robin over every worker, garbage ones included: each answer is JSON.
for i in 1 2 3 4 5 6 7 8; do
	curl -sS -m 5 "$REG_URL/v1/chat/completions" -H 'X-Elastic-Policy: round_robin' \
		-d "{\"model\":\"$FAULT_MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"x$i\"}],\"max_tokens\":2}" >reply.json
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))["choices"]' reply.json ||
		die "reply $i is not a chat completion: $(head -c 200 reply.json)"
done
log "8 round-robin replies, each a chat completion"
[ "$(ready)" = 8 ] || die "ready workers: $(ready)"
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed"
[ "$(metric 'elastic_evictions_total{cause="heartbeat_timeout"}')" = 0 ] || die "workers evicted"
