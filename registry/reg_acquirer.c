/* reg_acquirer.c — see reg_acquirer.h. Pure: no I/O, no clock, no globals. */
#include "reg_acquirer.h"

#include <stdlib.h>

bool reg_acq_retiring(const struct reg_job *j, int64_t renew_before_ms, double now)
{
	if (renew_before_ms <= 0 || j->state != REG_J_RUNNING || j->end_time <= 0)
		return false;
	double lead = (double)renew_before_ms / 1000.0;
	if (j->started_at > 0 && j->end_time > j->started_at) {
		double half = (j->end_time - j->started_at) / 2;
		if (lead > half)
			lead = half;
	}
	return now >= j->end_time - lead;
}

struct ctx {
	const struct reg_acq_input *in;
	struct reg_acq_action *out;
	size_t n, max;
	unsigned char *acted; /* per job: cancelled or drained in this pass */
};

static void emit(struct ctx *c, enum reg_acq_kind kind, size_t job, const char *why)
{
	if (c->n < c->max)
		c->out[c->n++] = (struct reg_acq_action){kind, job, why};
	if (kind != REG_ACQ_SUBMIT)
		c->acted[job] = 1;
}

static bool is_live(const struct reg_job *j)
{
	return j->state != REG_J_ENDED && !j->cancel_sent;
}

static double max3(double a, double b, double c)
{
	double m = a > b ? a : b;
	return m > c ? m : c;
}

size_t reg_acq_decide(const struct reg_acq_input *in, struct reg_acq_action *out, size_t max)
{
	if (!in->synced || max == 0)
		return 0;
	struct ctx c = {in, out, 0, max, calloc(in->njobs ? in->njobs : 1, 1)};
	if (!c.acted)
		abort();
	double now = in->now;

	/* 1. Draining jobs: cancel when idle or when the drain times out. */
	for (size_t i = 0; i < in->njobs; i++) {
		const struct reg_job *j = in->jobs[i];
		if (!is_live(j) || !j->draining)
			continue;
		if (j->state == REG_J_PENDING || (j->state == REG_J_RUNNING && j->load == 0))
			emit(&c, REG_ACQ_CANCEL, i, "drained");
		else if (j->state == REG_J_RUNNING &&
			 (now - j->drain_started_at) * 1000.0 >= (double)in->drain_timeout_ms)
			emit(&c, REG_ACQ_CANCEL, i, "drain_timeout");
	}

	/* 2. Running jobs that never got (or lost every) ready worker. */
	for (size_t i = 0; i < in->njobs; i++) {
		const struct reg_job *j = in->jobs[i];
		if (!is_live(j) || c.acted[i] || j->draining || j->state != REG_J_RUNNING ||
		    j->ready > 0)
			continue;
		double base = max3(j->started_at, j->last_ready_at, in->since);
		if (base > 0 && (now - base) * 1000.0 >= (double)in->startup_timeout_ms)
			emit(&c, REG_ACQ_CANCEL, i, "startup_timeout");
	}

	/* Classify what is left. */
	int counted = 0, pending = 0, occupying = 0, ready_counted = 0;
	for (size_t i = 0; i < in->njobs; i++) {
		const struct reg_job *j = in->jobs[i];
		if (j->state == REG_J_ENDED)
			continue;
		bool retiring = !j->draining && !j->cancel_sent && !c.acted[i] &&
				reg_acq_retiring(j, in->renew_before_ms, now);
		if (retiring)
			continue;
		/* Until SLURM says it ended, a job holds its nodes: also one
		 * being drained or cancelled. */
		occupying++;
		if (!is_live(j) || c.acted[i] || j->draining)
			continue;
		counted++;
		if (j->state == REG_J_SUBMITTING || j->state == REG_J_PENDING)
			pending++;
		if (j->state == REG_J_RUNNING && j->ready > 0)
			ready_counted++;
	}

	if (counted > in->target) {
		/* 3a. Scale down: pending jobs first, newest first. */
		int excess = counted - in->target;
		while (excess > 0) {
			size_t best = in->njobs;
			for (size_t i = 0; i < in->njobs; i++) {
				const struct reg_job *j = in->jobs[i];
				if (!is_live(j) || c.acted[i] || j->draining || j->state != REG_J_PENDING)
					continue;
				if (best == in->njobs || j->submitted_at > in->jobs[best]->submitted_at)
					best = i;
			}
			if (best == in->njobs)
				break;
			emit(&c, REG_ACQ_CANCEL, best, "scale_down");
			excess--;
		}
		/* 3b. Then running ones, least loaded first. */
		while (excess > 0) {
			size_t best = in->njobs;
			for (size_t i = 0; i < in->njobs; i++) {
				const struct reg_job *j = in->jobs[i];
				if (!is_live(j) || c.acted[i] || j->draining || j->state != REG_J_RUNNING ||
				    reg_acq_retiring(j, in->renew_before_ms, now))
					continue;
				if (best == in->njobs) {
					best = i;
					continue;
				}
				const struct reg_job *b = in->jobs[best];
				if (j->load < b->load ||
				    (j->load == b->load &&
				     (j->ready < b->ready ||
				      (j->ready == b->ready && j->started_at > b->started_at))))
					best = i;
			}
			if (best == in->njobs)
				break; /* the rest is submitting or completing */
			emit(&c, REG_ACQ_DRAIN, best, "scale_down");
			ready_counted -= in->jobs[best]->ready > 0;
			excess--;
		}
	}

	/* 5. Retiring jobs: keep only as many serving as the target lacks. */
	int keep = in->target - ready_counted;
	if (keep < 0)
		keep = 0;
	int nretiring = 0;
	for (size_t i = 0; i < in->njobs; i++) {
		const struct reg_job *j = in->jobs[i];
		if (is_live(j) && !c.acted[i] && !j->draining &&
		    reg_acq_retiring(j, in->renew_before_ms, now))
			nretiring++;
	}
	while (nretiring > keep) {
		size_t first = in->njobs;
		for (size_t i = 0; i < in->njobs; i++) {
			const struct reg_job *j = in->jobs[i];
			if (!is_live(j) || c.acted[i] || j->draining ||
			    !reg_acq_retiring(j, in->renew_before_ms, now))
				continue;
			if (first == in->njobs || j->end_time < in->jobs[first]->end_time)
				first = i;
		}
		if (first == in->njobs)
			break;
		emit(&c, REG_ACQ_DRAIN, first, "renewed");
		nretiring--;
	}

	/* 4. Scale up. */
	if (counted < in->target && now >= in->backoff_until) {
		int want = in->target - counted;
		if (want > in->max_pending - pending)
			want = in->max_pending - pending;
		if (want > in->max_jobs - occupying)
			want = in->max_jobs - occupying;
		for (int k = 0; k < want; k++)
			emit(&c, REG_ACQ_SUBMIT, (size_t)-1, "below_target");
	}
	free(c.acted);
	return c.n;
}
