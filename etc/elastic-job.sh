#!/bin/sh
# elastic-job.sh — the batch script elastic-registry submits for a pool:
#
#   sbatch --elastic-serve=STATE_DIR/pools/POOL.toml [slurm settings] elastic-job.sh
#
# The work is not done here. The elastic_serve SPANK plugin, given
# --elastic-serve, starts elastic-agent in the batch step before this script
# runs (as the job's user) and exports ELASTIC_AGENT (its path) and
# ELASTIC_AGENT_PID; the agent starts the engines and registers them with
# the registry. This script only keeps the job alive while the agent
# serves, and ends it when the agent is gone (all engines failed, or the
# agent stopped), so that a dead job does not hold its nodes until its time
# limit.
#
# Preemption, scancel and the time limit signal every process of the job at
# once. The job must not end before the agent has drained its engines (the
# end of the batch script kills what is left), so the script outlives
# SIGTERM and waits for the agent: `elastic-agent --wait` does exactly that.
set -u

if [ -n "${ELASTIC_AGENT:-}" ] && [ -x "$ELASTIC_AGENT" ] && [ -n "${ELASTIC_AGENT_PID:-}" ]; then
	exec "$ELASTIC_AGENT" --wait
fi

# Without the plugin's variables: follow the agent process ourselves.
trap ':' TERM INT
pid=${ELASTIC_AGENT_PID:-}
if [ -z "$pid" ]; then
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pid=$(pgrep -P "$$" -x elastic-agent 2>/dev/null | head -n 1)
		[ -n "$pid" ] && break
		sleep 1
	done
fi
if [ -z "$pid" ]; then
	echo "elastic-job: no elastic-agent found (is the elastic_serve plugin in plugstack.conf?);" \
		"waiting for SLURM to end the job" >&2
	while :; do sleep 60 & wait $!; done
fi
echo "elastic-job: job ${SLURM_JOB_ID:-?} on $(hostname): serving while elastic-agent (pid $pid) runs" >&2
while kill -0 "$pid" 2>/dev/null; do
	sleep 1 & wait $!
done
echo "elastic-job: elastic-agent (pid $pid) is gone: ending the job" >&2
exit 0
