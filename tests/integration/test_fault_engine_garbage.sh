#!/usr/bin/env bash
# test_fault_engine_garbage.sh — an engine of each job starts answering
# garbage under load (elastic-sim --garbage-after 15 on the slice of GPUs
# 0,1: a 200 whose body is not JSON, or a stream with a broken event and
# no [DONE]), while it stays healthy to every probe.
#   - clients: the proxy passes an engine's answer on as it is (it does not
#     parse them), so the clients whose requests that engine took see the
#     garbage, as they would from the engine itself; the other workers'
#     answers are fine;
#   - nothing else breaks: the registry, the proxy and the agents go on,
#     no worker is evicted, the jobs stay, and the pool stays at target.
# Known issue (the proxy, registry/proxy.c): a garbage answer comes at once,
# so the garbage worker always looks the least loaded and draws most of the
# traffic (a "black hole"): the proxy counts a 200 as a success whatever its
# body. It should check a non-streamed 200's JSON (and a stream's first
# event) before passing it on, retry elsewhere and eject the worker, as it
# does for a 500. With ES_STRICT_PROXY=1 this test fails until it does.
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
load_assert a 'c["broken"] + c["cut"] > 0'                 # the garbage reached them
share=$(python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["counts"]; n = sum(c.values()); print("%.0f" % (100.0 * (c.get("broken", 0) + c.get("cut", 0)) / n))' "$ES_TEST_DIR/load-a.json")
if [ "$share" -gt 50 ]; then
	log "KNOWN ISSUE (proxy): $share% of all requests went to the 2 garbage workers of 8"
	[ -z "${ES_STRICT_PROXY:-}" ] || die "garbage workers drew $share% of the requests"
fi
load_assert a 'c["error"] + c["refused"] + c["timeout"] == 0'
# The proxy passed the bytes as they were: a garbage body is the engine's.
body=$(curl -sS -m 5 "$REG_URL/v1/chat/completions" -H 'X-Elastic-Policy: round_robin' \
	-d "{\"model\":\"$FAULT_MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2}" | od -An -c | head -n 1)
log "a reply: $body"
[ "$(ready)" = 8 ] || die "ready workers: $(ready)"
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed"
[ "$(metric 'elastic_evictions_total{cause="heartbeat_timeout"}')" = 0 ] || die "workers evicted"
