#!/usr/bin/env bash
# timeout: 90
# (g) a job of the non-root test user runs its agent and engines as that
# user (the plugin never starts them as root for someone else), inside the
# job (a child of its task, tracked), each engine in its own process group;
# their logs belong to the user.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model tiny 1
serve_script
job=$(submit --gres=gpu:2 --elastic-serve=tiny.toml -o out-%j.txt serve.sh)
wait_workers "$job" ready 2 60
agent=$(sed -n 's/.* agent_pid=\([0-9]*\) .*/\1/p' "$ES_TEST_DIR/out-$job.txt" | head -n 1)
uid=$(id -u "$ES_CLUSTER_USER")
for pid in "$agent" $(status_field "$job" slices.0.pid slices.1.pid); do
	read -r ruid euid < <(awk '/^Uid:/ {print $2, $3}' "/proc/$pid/status")
	[ "$ruid" = "$uid" ] && [ "$euid" = "$uid" ] || die "process $pid runs as uid $ruid/$euid, not $uid"
	log "pid $pid ($(ps -o comm= -p "$pid")): uid $ruid, pgid $(ps -o pgid= -p "$pid" | tr -d ' ')"
done
# The agent is the job script's child (tracked by Slurm), engines lead their
# groups. The script execs `elastic-agent --wait` once --wait-ready returns,
# which may be a moment after the registry saw the workers ready.
script_waits() { pgrep -u "$ES_CLUSTER_USER" -f -x "$ES_AGENT --wait" >/dev/null; }
wait_for 20 "the job script's exec of elastic-agent --wait" script_waits
[ "$(ps -o ppid= -p "$agent" | tr -d ' ')" = "$(pgrep -u "$ES_CLUSTER_USER" -f -x "$ES_AGENT --wait" | head -n 1)" ] ||
	die "the agent is not a child of the job script"
for pid in $(status_field "$job" slices.0.pid slices.1.pid); do
	[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] || die "engine $pid is not in its own process group"
done
[ "$(stat -c %U "$ES_TEST_DIR/elastic-serve-$job/$(job_field "$job" NodeList).slice0.log")" = "$ES_CLUSTER_USER" ] ||
	die "the engine log is not the user's"
