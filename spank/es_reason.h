/* es_reason.h — why a job ended, as far as its batch step can tell.
 *
 * In the exit callback the step knows the wait status of the batch script.
 * That alone cannot tell preemption, scancel and a time limit apart: all
 * three send SIGTERM first. slurmctld knows more, so the plugin asks it
 * once (scontrol show job -o, bounded) and decides:
 *
 *   1. the job's restart count grew since the step started, or it has a
 *      PreemptTime, or its state is PREEMPTED        -> "preempted"
 *   2. JobState TIMEOUT, Reason TimeLimit, or RunTime >= TimeLimit
 *                                                     -> "timeout"
 *   3. JobState CANCELLED                             -> "cancelled"
 *      JobState NODE_FAIL                             -> "node_fail"
 *   4. the script exited 0                            -> "completed"
 *   5. the script died of a signal (or exited 128+N after one) and
 *      slurmctld answered                             -> "cancelled"
 *      ... and slurmctld did not answer               -> "unknown"
 *   6. any other exit status                          -> "failed"
 *
 * What cannot be told apart: an administrator's `scontrol requeue` looks
 * like a preemption (both requeue); a signal from outside Slurm (kill,
 * the OOM killer) looks like scancel; a preemption in CANCEL mode without a
 * PreemptTime looks like scancel. While the job is still completing,
 * scontrol shows JobState COMPLETING, so rules 1 and 2 carry the weight.
 */
#ifndef ES_REASON_H
#define ES_REASON_H

#include <stdbool.h>
#include <stddef.h>

/* What scontrol says about the job. */
struct es_jobinfo {
	bool ok;             /* scontrol answered and was understood */
	char state[32];      /* JobState: RUNNING, COMPLETING, CANCELLED, TIMEOUT... */
	char reason[64];     /* Reason: None, TimeLimit, ... */
	long restarts;       /* Restarts */
	long run_s;          /* RunTime in seconds, -1 unknown */
	long limit_s;        /* TimeLimit in seconds, -1 UNLIMITED or unknown */
	bool preempt_time;   /* PreemptTime is set */
};

/* Parses one line of `scontrol show job -o`. Returns 0 (INFO->ok set), or
 * -1 when the text is not such a line. */
int es_jobinfo_parse(const char *text, struct es_jobinfo *info);

/* Parses a Slurm duration ("UNLIMITED", "MM:SS", "HH:MM:SS", "D-HH:MM:SS")
 * into seconds; -1 for UNLIMITED or anything else. */
long es_slurm_duration(const char *s);

/* The reason, by the rules above. STATUS is the script's wait status, or
 * -1 when unknown; START_RESTARTS the restart count when the step began. */
const char *es_reason_decide(const struct es_jobinfo *info, int status, long start_restarts);

/* The script's exit code and signal for the notice: EXIT is WEXITSTATUS
 * (or 128+signal), SIG the terminating signal (or 0). */
void es_status_split(int status, int *exit_code, int *sig);

#endif
