#!/usr/bin/env bash
# timeout: 150
# (d) a `high` job preempts a serving `low` job: its workers leave the
# registry within 1 s of the SIGTERM, no engine process survives, and once
# the job is requeued and runs again its workers come back.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 2
serve_script
job=$(submit --gres=gpu:8 --open-mode=append --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 4 60
node=$(job_field "$job" NodeList)
agent=$(sed -n 's/.* agent_pid=\([0-9]*\) .*/\1/p' "$ES_TEST_DIR/out-$job.txt" | head -n 1)
ports=$(workers "$job" ready | sed 's/.*:\([0-9]*\) .*/\1/')
engines=$(status_field "$job" slices.0.pid slices.1.pid slices.2.pid slices.3.pid)
log "job $job serving on $node; agent $agent, engines $(echo $engines), ports $(echo $ports)"

high=$(preempt_node "$node")
log "high job $high submitted"
wait_workers "$job" gone 4 20
wait_job_state "$job" "PENDING|CONFIGURING|RUNNING" 30

t_sig=$(log_epoch "$ES_TEST_DIR/out-$job.txt" 'elastic-agent info: got SIGTERM')
[ -n "$t_sig" ] || die "the agent never logged its SIGTERM"
workers_json | python3 -c '
import json, sys
job, t_sig = sys.argv[1], float(sys.argv[2])
gone = [w for w in json.load(sys.stdin)["workers"] if w["job_id"] == job and w["state"] == "gone"]
assert len(gone) == 4, gone
for w in gone:
    dt = w["gone_at"] - t_sig
    print("%s gone %.3f s after SIGTERM (%s)" % (w["id"], dt, w.get("gone_cause", "?")), file=sys.stderr)
    assert dt < 1.0, "%s left the registry %.3f s after the SIGTERM" % (w["id"], dt)
' "$job" "$t_sig" || die "workers left the registry too late"

# No engine, no agent survives the preempted run.
for pid in $agent $engines; do
	! kill -0 "$pid" 2>/dev/null || die "process $pid survived the preemption"
done
for p in $ports; do
	[ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p still listens after the preemption"
done
grep -q "ended on $node (plugin: preempted" <(events) || die "the exit notice did not say preempted: $(events | grep ended)"
log "preempted run: workers out of routing, processes gone, reason preempted"

# Requeued: it runs again (elsewhere: its node is taken) and serves again.
wait_job_state "$job" RUNNING 60
wait_workers "$job" ready 4 60
again=$(job_field "$job" NodeList)
[ "$again" != "$node" ] || die "requeued job runs on $node beside the high job"
[ "$(job_field "$job" Restarts)" -ge 1 ] || die "the job was not requeued"
log "requeued job $job serves again on $again: $(workers "$job" ready | cut -d' ' -f1 | tr '\n' ' ')"
