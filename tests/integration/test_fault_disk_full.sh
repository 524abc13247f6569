#!/usr/bin/env bash
# test_fault_disk_full.sh — the registry's state directory (a 1 MiB tmpfs)
# fills up while the registry has changes to save, under load.
#   - the save fails (elastic_state_writes_total{result="error"}, an event),
#     the registry keeps running from memory and retries every second;
#   - the state file on disk is the previous one, whole, and no temporary
#     file is left behind; clients notice nothing;
#   - space back: the next retry writes the current state;
#   - killed with SIGKILL while the disk is full, it restarts from the last
#     state it could write (what changed since is lost: the target set while
#     full), adopts its jobs from SLURM, and keeps serving.
# timeout: 300
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/fault_lib.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

FAULT_MODEL=fd-full
fs=$ES_TEST_DIR/statefs
mkdir -p "$fs" "$ES_TEST_DIR/out"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$fs" || die "cannot mount a tmpfs on $fs"
on_exit umount -l "$fs"
chown "$ES_CLUSTER_USER" "$fs" "$ES_TEST_DIR/out"
REG_DIR=$fs/registry
REG_INSTANCE=$(printf '%s:%s' "$(id -u "$ES_CLUSTER_USER")" "$REG_DIR" | sha256sum | cut -c1-12)
state=$REG_DIR/state.json
target_on_disk() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pools"][0]["target"])' "$state"; }
fill() { dd if=/dev/zero of="$fs/filler" bs=64k status=none 2>/dev/null || true; }
writes() { metric "elastic_state_writes_total{result=\"$1\"}"; }

reg_start --heartbeat-interval 1s --heartbeat-timeout 3s --output-dir "$ES_TEST_DIR/out"
fault_model pool.toml "$FAULT_MODEL" 2
ctl up pool.toml >/dev/null || die "elasticctl up"
wait_ready 8 90
jobs=$(our_jobs)
wait_for 5 "the state on disk" test -s "$state"
[ "$(target_on_disk)" = 2 ] || die "target on disk: $(target_on_disk)"

load_start a -c 8 --stream 0.5 --max-tokens 24
sleep 2
fill
log "disk full: $(df -h --output=used,avail "$fs" | tail -n 1)"
err0=$(writes error)
ctl scale "$FAULT_MODEL" 1 >/dev/null || die "scale while the disk is full"
failing() { [ "$(writes error)" -gt "$err0" ]; }
wait_for 5 "a failed save" failing
cp "$state" "$ES_TEST_DIR/state.before" # the last one written before the disk filled
sleep 3 # retries every second, all failing
log "saves failed: $(($(writes error) - err0)), the registry still answers"
cmp -s "$state" "$ES_TEST_DIR/state.before" || die "the state file changed while the disk is full"
[ "$(target_on_disk)" = 2 ] || die "the previous state does not survive"
[ -z "$(find "$REG_DIR" -name '.*tmp*')" ] || die "temporary files left: $(find "$REG_DIR" -name '.*tmp*')"
events=$(jctl '"\n".join(e["text"] for e in j["events"])' status)
grep -q "cannot save the state" <<<"$events" || die "no event about the failed save"
wait_ready 4 60 # the scale-down went on from memory

rm -f "$fs/filler"
ok0=$(writes ok)
saved() { [ "$(writes ok)" -gt "$ok0" ] && [ "$(target_on_disk)" = 1 ]; }
wait_for 5 "the state saved once there is space" saved
log "space back: the state on disk says target 1"

# Full again, a change, then SIGKILL: the restart has the last saved state.
fill
ctl scale "$FAULT_MODEL" 2 >/dev/null || die "scale"
wait_for 5 "a failed save" failing
reg_kill9
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s --output-dir "$ES_TEST_DIR/out"
[ "$(jctl 'j["pools"][0]["target"]' status)" = 1 ] || die "after the restart: target $(jctl 'j["pools"][0]["target"]' status), want the saved 1"
grep -q "state loaded: 1 pool(s)" "$REG_LOG" || die "the state was not loaded"
wait_ready 4 30
rm -f "$fs/filler"
sleep 2
load_stop a
load_show a
load_assert a 'c["ok"] > 100'
# Only the registry's restart may have cost clients anything.
load_assert a 'c["error"] + c["broken"] + c["timeout"] == 0'
[ "$(our_jobs | grep -c .)" -ge 1 ] || die "no job left"
for j in $(our_jobs); do grep -qx "$j" <<<"$jobs" || die "job $j was submitted after the restart"; done
