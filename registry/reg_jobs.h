/* reg_jobs.h — the acquirer's I/O: everything between the pure decisions
 * of reg_acquirer and SLURM.
 *
 * Every poll_interval (sooner when something happened) it runs squeue for
 * the registry user's jobs and reconciles: state changes, runs (a
 * requeued job runs again under the same id), preemptions (counted once
 * per run, whether the plugin's notice, a requeue or a PREEMPTED state
 * tells first), jobs that ended (their workers leave routing), jobs of
 * ours it did not know (adopted: a restart, or an sbatch whose reply was
 * lost). Every second, and whenever kicked, it derives each job's ready
 * workers and load from the worker table, asks reg_acq_decide() what to
 * do, and does it: sbatch, scancel, drain. Commands run through reg_proc;
 * nothing waits. Until the first squeue answer nothing is submitted.
 */
#ifndef ES_REG_JOBS_H
#define ES_REG_JOBS_H

#include <stdbool.h>

struct reg;
struct reg_pool;
struct reg_job;

/* Starts polling and deciding. */
void reg_jobs_start(struct reg *r);
void reg_jobs_free(struct reg *r);

/* Decide again soon (a pool or a worker changed). */
void reg_jobs_kick(struct reg *r);
/* Ask squeue again soon (a job ended, a job was cancelled). */
void reg_jobs_poll_soon(struct reg *r);
/* Whether squeue has answered since the start. */
bool reg_jobs_synced(const struct reg *r);

/* The plugin's notice that JOB_ID's batch step ended, with the reason it
 * gave ("unknown" when it could not tell). */
void reg_jobs_notice_ended(struct reg *r, const char *job_id, const char *reason);

/* Drains JOB of POOL (its workers leave routing; the acquirer cancels it
 * once idle and replaces it). WHY: operator, scale_down, renewed. Returns
 * how many workers changed state. */
int reg_jobs_drain(struct reg *r, struct reg_pool *pool, struct reg_job *job, const char *why);

/* Asks squeue about one job, at most TIMEOUT_MS: CB gets its SLURM state
 * ("" when unknown) and reason. Returns 0, or -1 (CB will not run). */
int reg_jobs_lookup(struct reg *r, const char *job_id, int timeout_ms,
		    void (*cb)(const char *state, const char *reason, void *arg), void *arg);

/* The reason to report for a job-ended notice, refined with SLURM's
 * STATE and REASON for JOB_ID: preempted, cancelled, timeout, completed,
 * failed, node_fail or unknown. */
const char *reg_jobs_refine_reason(struct reg *r, const char *job_id, const char *state,
				   const char *reason);

#endif
