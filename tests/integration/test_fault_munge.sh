#!/usr/bin/env bash
# test_fault_munge.sh — munged stops answering the registry for 8 s (more
# than twice the heartbeat timeout) under load. (munged is shared by every
# cluster on this machine and by SLURM, so the registry is pointed at it
# through a link of its own, --munge-socket, and the link is turned to a
# socket nobody listens on, as munged killed with SIGKILL leaves it.)
#   - heartbeats are answered 503 at once, and the registry evicts nobody:
#     it cannot tell a dead node from a heartbeat it cannot check;
#   - clients: the OpenAI side needs no MUNGE, nothing fails;
#   - munged back: the registry notices within a second by itself, every
#     worker gets a fresh heartbeat timeout, heartbeats are accepted again;
#     8 ready workers throughout, no eviction, no state lost.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fm-munge
sock=$ES_TEST_DIR/munge.sock
dead=$ES_TEST_DIR/dead.sock
runuser -u "$ES_CLUSTER_USER" -- ln -sfn /run/munge/munge.socket.2 "$sock"
runuser -u "$ES_CLUSTER_USER" -- python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$dead"
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s --munge-socket "$sock"
fault_model pool.toml "$FAULT_MODEL" 2
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)
ev0=$(metric 'elastic_evictions_total{cause="heartbeat_timeout"}')

load_start a -c 8 --stream 0.5 --max-tokens 24
sleep 2
log "munged unreachable for the registry"
runuser -u "$ES_CLUSTER_USER" -- ln -sfn "$dead" "$sock"
t0=$EPOCHREALTIME
down() { [ "$(metric elastic_auth_unavailable)" = 1 ]; }
wait_for 5 "the registry to notice" down
log "noticed $(since "$t0") s later"
# 503 at once, with Retry-After (libmunge alone would take 2 s on this socket).
code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$REG_URL/api/v1/status" -H 'Authorization: MUNGE x')
[ "${code%% *}" = 503 ] || die "a control request got $code, want 503"
awk -v t="${code#* }" 'BEGIN { exit !(t < 0.5) }' || die "the 503 took ${code#* } s"
sleep 8
# Nobody evicted: ready workers as before (metrics need no credential).
[ "$(metric "elastic_workers{pool=\"$FAULT_MODEL\",state=\"ready\"}")" = 8 ] ||
	die "ready workers during the outage: $(metric "elastic_workers{pool=\"$FAULT_MODEL\",state=\"ready\"}")"
[ "$(metric 'elastic_evictions_total{cause="heartbeat_timeout"}')" = "$ev0" ] || die "workers evicted during the outage"
log "munged back"
runuser -u "$ES_CLUSTER_USER" -- ln -sfn /run/munge/munge.socket.2 "$sock"
t1=$EPOCHREALTIME
up() { [ "$(metric elastic_auth_unavailable)" = 0 ]; }
wait_for 5 "the registry to notice munged again" up
log "munged answers again: noticed $(since "$t1") s later"
sleep 5 # beyond the fresh heartbeat timeout: heartbeats must have been accepted
[ "$(ready)" = 8 ] || die "ready workers after the outage: $(ready)"
[ "$(metric 'elastic_evictions_total{cause="heartbeat_timeout"}')" = "$ev0" ] || die "workers evicted after the outage"
load_stop a
load_show a

load_assert a 'c["ok"] > 100'
load_assert a 'sum(v for k, v in c.items() if k != "ok") == 0'
[ "$(our_jobs)" = "$jobs" ] || die "jobs changed"
events=$(jctl '"\n".join(e["text"] for e in j["events"])' status)
grep -q "munged unreachable" <<<"$events" || die "no event about the outage"
grep -q "munged answers again after" <<<"$events" || die "no event about the recovery"
grep -q "evictions for missing heartbeats paused" "$REG_LOG" || die "the log does not say evictions are paused"
