#!/usr/bin/env bash
# test_registry_renew.sh — make before break at a job's time limit, with the
# real plugin and agent: a pool of one job with `time = "1"` (a minute) and
# `renew_before = "30s"`: before the job's end the registry submits its
# replacement, waits until the replacement's workers are ready, then drains
# and cancels the old job. The pool never has zero ready workers, and the old
# job is cancelled before its time limit.
# timeout: 240
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
need_plugin
cd "$ES_TEST_DIR" || exit

POOL=sim-renew
reg_start --heartbeat-interval 1s --heartbeat-timeout 3s
sim_pool pool.toml "$POOL" 1 'time = "1"' 'renew_before = "30s"'

ready() { jctl 'j["workers"]["ready"]' status; }
ready_is() { [ "$(ready)" = "$1" ]; }

ctl up pool.toml || die "elasticctl up"
wait_for 60 "4 ready workers" ready_is 4
old=$(our_jobs)
[ "$(wc -l <<<"$old")" = 1 ] || die "want one job, have: $(tr '\n' ' ' <<<"$old")"
end=$(SLURM_TIME_FORMAT=%s squeue -h -j "$old" -o %e)
start=$(SLURM_TIME_FORMAT=%s squeue -h -j "$old" -o %S)
log "job $old runs $start..$end ($((end - start)) s); its replacement is due at $((end - 30))"

# Watch the switch: ready workers sampled until the old job is gone.
min=4
new=
while :; do
	r=$(ready)
	[ "$r" -lt "$min" ] && min=$r
	now=$(date +%s)
	[ "$now" -le "$((end + 5))" ] || die "job $old still there after its time limit ($(job_state "$old"))"
	if [ -z "$new" ]; then
		new=$(our_jobs | grep -vx "$old" || true)
		if [ -n "$new" ]; then
			log "replacement job $new submitted at $now ($((end - now)) s before the end of job $old)"
			[ "$now" -ge "$((end - 32))" ] || die "replaced too early: $((end - now)) s before the end"
		fi
	fi
	st=$(job_state "$old")
	case $st in
	CANCELLED | COMPLETED | UNKNOWN) break ;;
	TIMEOUT) die "job $old reached its time limit: it was not replaced in time" ;;
	esac
	sleep 0.3
done
gone_at=$(date +%s)
[ -n "$new" ] || die "no replacement was submitted"
log "job $old ended ($st) at $gone_at, $((end - gone_at)) s before its time limit; fewest ready workers meanwhile: $min"
[ "$st" != TIMEOUT ] || die "job $old timed out"
[ "$min" -ge 4 ] || die "ready workers fell to $min during the renewal"
[ "$gone_at" -lt "$end" ] || die "job $old ended at its time limit, not before"
ready_is 4 || die "after the renewal: $(ready) ready workers, want 4"
grep -q "draining job $old (renewed)" "$REG_LOG" || die "no drain of job $old for its renewal in the log"
grep -q "cancelling job $old (drained)" "$REG_LOG" || die "job $old was not cancelled after its drain"
seen_ended() { grep -q "job $old ended: cancelled (drained)" "$REG_LOG"; }
wait_for 10 "the registry to see job $old end" seen_ended
awk -v j="$new" '$4 == j && $6 == "ready"' <<<"$(ctl ls)" | grep -q . || die "job $new serves no ready worker"

ctl scale "$POOL" 0 >/dev/null || die "scale to 0"
none() { [ -z "$(our_jobs)" ]; }
wait_for 60 "every job cancelled" none
