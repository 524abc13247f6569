#!/bin/sh
# elastic-job.sh — the batch script elastic-registry submits for a pool:
#
#   sbatch --elastic-serve=STATE_DIR/pools/POOL.toml [slurm settings] elastic-job.sh
#
# The work is not done here. The elastic_serve SPANK plugin, given
# --elastic-serve, starts elastic-agent in the batch step before this script
# runs (as a child of the job's task, as the job's user); the agent starts
# the engines and registers them with the registry. This script only keeps
# the job alive while the agent serves, and ends it when the agent is gone
# (all engines failed, or the agent was stopped), so that a dead job does
# not hold its nodes until its time limit.
#
# Preemption, scancel and the time limit signal the whole job: the agent
# deregisters and drains, and this script just goes with it.
#
# Which process is the agent: $ELASTIC_AGENT_PID when the plugin exports
# it, otherwise this shell's child named elastic-agent. When neither is
# found the script waits until SLURM ends the job (the registry cancels a
# job without a ready worker after the pool's startup_timeout).
set -u

find_agent() {
	if [ -n "${ELASTIC_AGENT_PID:-}" ]; then
		echo "$ELASTIC_AGENT_PID"
		return
	fi
	pgrep -P "$$" -x elastic-agent 2>/dev/null | head -n 1
}

trap 'exit 143' TERM
trap 'exit 130' INT

pid=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	pid=$(find_agent)
	[ -n "$pid" ] && break
	sleep 1
done
if [ -z "$pid" ]; then
	echo "elastic-job: no elastic-agent found (is the elastic_serve plugin in plugstack.conf?);" \
		"waiting for SLURM to end the job" >&2
	while :; do sleep 60 & wait $!; done
fi
echo "elastic-job: job ${SLURM_JOB_ID:-?} on $(hostname): serving while elastic-agent (pid $pid) runs" >&2
while kill -0 "$pid" 2>/dev/null; do
	sleep 2 & wait $!
done
echo "elastic-job: elastic-agent (pid $pid) is gone: ending the job" >&2
exit 0
