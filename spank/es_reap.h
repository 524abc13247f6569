/* es_reap.h — make sure no engine of a job survives its batch step.
 *
 * The agent and every engine it starts carry ELASTIC_SERVE_RUN=TOKEN in
 * their environment; TOKEN is random, made by slurmstepd for this step.
 * When the step ends, the exit callback (root) kills every process of the
 * job's user whose environment holds that exact token: whatever left
 * Slurm's process tracking (a child re-parented to init when the script
 * ended first, a process group of its own) is found this way.
 */
#ifndef ES_REAP_H
#define ES_REAP_H

#include <sys/types.h>

#define ES_RUN_VAR "ELASTIC_SERVE_RUN"

/* Kills (SIGKILL) the processes of UID with ES_RUN_VAR=TOKEN under PROC
 * ("/proc"), in passes until none is left or PASSES are done. Returns how
 * many were killed. */
int es_reap(const char *proc, uid_t uid, const char *token, int passes);

#endif
