/* reg_acquirer.h — what the acquirer does for a pool: a pure function of
 * the pool's target and limits, its jobs (as SLURM last reported them,
 * with their ready workers and load) and the clock.
 *
 * The rules, in order:
 *  1. A draining job is cancelled once its workers are idle (load 0), or
 *     after drain_timeout; a pending job marked draining at once.
 *  2. A running job without a ready worker for startup_timeout (counted
 *     from its start, its last ready worker, or the registry's own start,
 *     whichever is latest) is cancelled; rule 4 then replaces it.
 *  3. Counted jobs are the live ones (submitting, pending, running,
 *     completing) not cancelled, not draining and not retiring. Above the
 *     target, pending jobs are cancelled first (newest first), then running
 *     ones are drained (least loaded first; rule 1 cancels them).
 *  4. Below the target, and past any sbatch backoff, jobs are submitted:
 *     never more than max_pending submitting + pending at once, and never
 *     more than max_jobs jobs occupying nodes (every job SLURM has not
 *     ended yet: draining ones and ones being cancelled included).
 *  5. Make before break: a running job within renew_before of its time
 *     limit (at most half its run) is retiring. It no longer counts, so
 *     rule 4 submits its replacement, which may briefly exceed max_jobs by
 *     the retiring jobs. Retiring jobs are drained, those ending first
 *     first, as soon as enough counted jobs have ready workers to meet the
 *     target without them.
 * Nothing is decided before the first squeue answer (synced): without
 * SLURM's view the registry could submit duplicates.
 */
#ifndef ES_REG_ACQUIRER_H
#define ES_REG_ACQUIRER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reg_pools.h"

struct reg_acq_input {
	int target;                  /* jobs wanted (target nodes / slurm.nodes) */
	int max_jobs;                /* jobs occupying nodes, at most
					(scale.max_nodes / slurm.nodes) */
	int max_pending;             /* jobs submitting or pending, at most */
	int64_t startup_timeout_ms;  /* a running job needs a ready worker within */
	int64_t renew_before_ms;     /* lead before a time limit; 0: no renewal */
	int64_t drain_timeout_ms;    /* a draining job is cancelled after this */
	double now;                  /* Unix s */
	double since;                /* startup timeouts never count from before */
	double backoff_until;        /* no submission before this */
	bool synced;                 /* SLURM's view is known */
	struct reg_job *const *jobs; /* the pool's jobs; ready, workers, load set */
	size_t njobs;
};

enum reg_acq_kind {
	REG_ACQ_SUBMIT, /* submit one job */
	REG_ACQ_CANCEL, /* scancel jobs[job] */
	REG_ACQ_DRAIN,  /* drain jobs[job]'s workers, then rule 1 cancels it */
};

struct reg_acq_action {
	enum reg_acq_kind kind;
	size_t job;      /* index into jobs (not for SUBMIT) */
	const char *why; /* static: below_target, scale_down, startup_timeout,
			    drained, drain_timeout, renewed */
};

/* Decides for one pool. Writes at most MAX actions to OUT (cancellations
 * and drains first, then submissions) and returns how many. */
size_t reg_acq_decide(const struct reg_acq_input *in, struct reg_acq_action *out, size_t max);

/* Whether J is retiring at NOW (rule 5). */
bool reg_acq_retiring(const struct reg_job *j, int64_t renew_before_ms, double now);

#endif
