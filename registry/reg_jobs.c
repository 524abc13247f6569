/* reg_jobs.c — see reg_jobs.h. */
#include "reg_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "reg.h"
#include "reg_acquirer.h"
#include "reg_proc.h"
#include "reg_slurm.h"
#include "reg_state.h"
#include "reg_util.h"

#define TICK_MS 1000             /* decisions at least this often */
#define POLL_SOON_MS 300         /* a requested poll waits this long */
#define SQUEUE_MAX_OUT (8u << 20)
#define CMD_MAX_OUT (64u << 10)
#define ENDED_KEEP_S 600         /* ended jobs shown this long */
#define ENDED_KEEP_MAX 16        /* and at most this many per pool */
#define ORPHANS_MAX 64

struct reg_jobs {
	struct reg *reg;
	struct event *poll_ev;     /* next squeue */
	struct event *tick_ev;     /* next decision round */
	bool squeue_running;       /* one squeue at a time */
	bool poll_again;           /* poll once more after the running one */
	bool synced;               /* squeue answered since the start */
	bool no_sacct;             /* sacct failed once (no accounting): not used again */
	unsigned squeue_failures;  /* consecutive */
	char orphans[ORPHANS_MAX][REG_JOB_ID_MAX]; /* reported once each */
	size_t norphans;
};

static struct reg_jobs *J(const struct reg *r)
{
	return r->jobs;
}

static void schedule(struct event *ev, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	event_del(ev);
	event_add(ev, &tv);
}

bool reg_jobs_synced(const struct reg *r)
{
	return r->jobs && r->jobs->synced;
}

void reg_jobs_kick(struct reg *r)
{
	if (r->jobs && !r->stopping)
		schedule(r->jobs->tick_ev, 0);
}

void reg_jobs_poll_soon(struct reg *r)
{
	struct reg_jobs *js = J(r);
	if (!js || r->stopping)
		return;
	if (js->squeue_running) {
		js->poll_again = true;
		return;
	}
	struct timeval left;
	if (event_pending(js->poll_ev, EV_TIMEOUT, &left)) {
		struct timeval now;
		event_base_gettimeofday_cached(r->base, &now);
		int64_t ms = ((int64_t)left.tv_sec - now.tv_sec) * 1000 +
			     ((int64_t)left.tv_usec - now.tv_usec) / 1000;
		if (ms <= POLL_SOON_MS)
			return;
	}
	schedule(js->poll_ev, POLL_SOON_MS);
}

/* ---------------------------------------------------------------- bookkeeping */

static void count_preemption(struct reg *r, struct reg_pool *pool, struct reg_job *j,
			     const char *how)
{
	if (j->runs == 0 || j->preempted_runs >= j->runs)
		return;
	j->preempted_runs = j->runs;
	char l[200];
	reg_metrics_add(&r->metrics, "elastic_job_preemptions_total",
			reg_metrics_labels(l, sizeof l, "pool", pool->name, NULL), 1);
	reg_events_add(r->events, reg_now(), pool->name, "job %s preempted (%s)", j->id, how);
}

static void mark_ended(struct reg *r, struct reg_pool *pool, struct reg_job *j,
		       const char *reason)
{
	double now = reg_now();
	char l[300];
	const char *why = "";
	if (strcmp(reason, "cancelled") == 0 && j->cancel_sent)
		why = j->cancel_why; /* ours */
	else if ((strcmp(reason, "cancelled") == 0 || strcmp(reason, "unknown") == 0) &&
		 j->notice[0] && strcmp(j->notice, "unknown") != 0)
		reason = j->notice; /* the plugin knew better */
	if (strcmp(reason, "preempted") == 0)
		count_preemption(r, pool, j, "cancelled by SLURM");
	j->state = REG_J_ENDED;
	j->ended_at = now;
	reg_strlcpy(j->reason, reason, sizeof j->reason);
	reg_metrics_add(&r->metrics, "elastic_jobs_ended_total",
			reg_metrics_labels(l, sizeof l, "pool", pool->name, "reason", reason, NULL), 1);
	size_t n = reg_workers_apply_job(&r->workers, j->id, NULL, REG_WEV_JOB_ENDED, "job_gone",
					 now, reg_mono_ms());
	reg_events_add(r->events, now, pool->name, "job %s ended: %s%s%s%s%s", j->id, reason,
		       why[0] ? " (" : "", why, why[0] ? ")" : "",
		       n ? "; its workers left routing" : "");
	reg_mark_dirty(r);
	reg_jobs_kick(r);
}

struct cmd_ctx {
	struct reg *reg;
	char pool[130];
	char id[REG_JOB_ID_MAX];
	unsigned seq;
};

static struct cmd_ctx *cmd_ctx(struct reg *r, const char *pool, const char *id, unsigned seq)
{
	struct cmd_ctx *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->reg = r;
	reg_strlcpy(c->pool, pool, sizeof c->pool);
	reg_strlcpy(c->id, id ? id : "", sizeof c->id);
	c->seq = seq;
	return c;
}

static void on_sacct(const struct reg_proc_result *res, void *arg)
{
	struct cmd_ctx *c = arg;
	struct reg *r = c->reg;
	char state[32];
	if (res->cancelled) {
		free(c);
		return;
	}
	struct reg_pool *pool = reg_pools_find(&r->pools, c->pool);
	struct reg_job *j = pool ? reg_pool_find_job(pool, c->id) : NULL;
	if (res->status == 0 && reg_slurm_parse_sacct(res->out.data, c->id, state, sizeof state) == 0) {
		const char *why = reg_slurm_end_reason(state);
		if (j && j->state == REG_J_ENDED && strcmp(j->reason, "unknown") == 0 &&
		    strcmp(why, "unknown") != 0) {
			reg_strlcpy(j->reason, why, sizeof j->reason);
			if (strcmp(why, "preempted") == 0)
				count_preemption(r, pool, j, "sacct");
			reg_events_add(r->events, reg_now(), c->pool, "job %s ended: %s (sacct)", c->id, why);
			reg_mark_dirty(r);
		}
	} else if (res->status != 0 && r->jobs && !r->jobs->no_sacct) {
		/* Clusters without accounting storage: say so once, then rely
		 * on squeue (which keeps ended jobs for MinJobAge) alone. */
		char l[100], d[300];
		reg_proc_describe(res, d, sizeof d);
		r->jobs->no_sacct = true;
		reg_metrics_add(&r->metrics, "elastic_acquirer_errors_total",
				reg_metrics_labels(l, sizeof l, "command", "sacct", NULL), 1);
		reg_events_add(r->events, reg_now(), NULL,
			       "sacct does not work here (%s): not used again; end reasons come from "
			       "squeue and the plugin",
			       d);
	}
	free(c);
}

/* Asks sacct how a job that left squeue ended (only for the record). */
static void run_sacct(struct reg *r, const struct reg_pool *pool, const struct reg_job *j)
{
	if (!r->cfg->sacct || !r->cfg->sacct[0] || r->jobs->no_sacct)
		return;
	struct reg_argv a = {0};
	char err[256];
	reg_slurm_sacct_argv(r->cfg, j->id, &a);
	struct cmd_ctx *c = cmd_ctx(r, pool->name, j->id, 0);
	if (reg_proc_run(r->procs, a.v, reg_slurm_env, r->cfg->command_timeout_ms, CMD_MAX_OUT,
			 on_sacct, c, err, sizeof err) < 0) {
		log_warn("%s", err);
		free(c);
	}
	reg_argv_free(&a);
}

/* ---------------------------------------------------------------- squeue */

static void update_job(struct reg *r, struct reg_pool *pool, struct reg_job *j,
		       const struct reg_sq_job *sq)
{
	enum reg_jstate to = reg_slurm_jstate(sq->state), from = j->state;
	double now = reg_now();
	reg_strlcpy(j->slurm_state, sq->state, sizeof j->slurm_state);
	if (to != REG_J_ENDED)
		reg_strlcpy(j->reason, strcmp(sq->reason, "None") ? sq->reason : "", sizeof j->reason);
	if (sq->nodes[0] && to != REG_J_PENDING)
		reg_strlcpy(j->nodes, sq->nodes, sizeof j->nodes);
	if (!j->submitted_at && sq->submit)
		j->submitted_at = sq->submit;

	switch (to) {
	case REG_J_RUNNING:
		if (from == REG_J_RUNNING && sq->start > j->started_at + 1 && j->started_at > 0) {
			/* Requeued and started again between two polls. */
			count_preemption(r, pool, j, "requeued");
			from = REG_J_PENDING;
		}
		if (from != REG_J_RUNNING) {
			j->runs++;
			j->started_at = sq->start ? sq->start : now;
			j->last_ready_at = 0;
			reg_events_add(r->events, now, pool->name, "job %s running on %s", j->id,
				       sq->nodes[0] ? sq->nodes : "?");
			reg_mark_dirty(r);
		}
		j->end_time = sq->end;
		j->state = REG_J_RUNNING;
		break;
	case REG_J_PENDING:
		if (from == REG_J_RUNNING || from == REG_J_COMPLETING) {
			count_preemption(r, pool, j, "requeued");
			reg_workers_apply_job(&r->workers, j->id, NULL, REG_WEV_JOB_ENDED, "job_gone", now,
					      reg_mono_ms());
			j->started_at = 0;
			j->end_time = 0;
			j->nodes[0] = '\0';
			reg_events_add(r->events, now, pool->name, "job %s requeued (%s)", j->id,
				       j->reason[0] ? j->reason : "pending");
			reg_mark_dirty(r);
		} else if (from != REG_J_PENDING) {
			reg_mark_dirty(r);
		}
		j->state = REG_J_PENDING;
		break;
	case REG_J_COMPLETING:
		if (from != REG_J_COMPLETING)
			reg_mark_dirty(r);
		j->state = REG_J_COMPLETING;
		break;
	case REG_J_ENDED:
		if (from != REG_J_ENDED) {
			if (from == REG_J_PENDING && j->runs == 0 && !sq->start)
				(void)0; /* never ran: no preemption to count */
			mark_ended(r, pool, j, reg_slurm_end_reason(sq->state));
		}
		break;
	case REG_J_SUBMITTING:
		break;
	}
}

static bool orphan_seen(struct reg_jobs *js, const char *id)
{
	for (size_t i = 0; i < js->norphans; i++)
		if (strcmp(js->orphans[i], id) == 0)
			return true;
	reg_strlcpy(js->orphans[js->norphans % ORPHANS_MAX], id, REG_JOB_ID_MAX);
	js->norphans++;
	if (js->norphans >= ORPHANS_MAX * 2)
		js->norphans = ORPHANS_MAX;
	return false;
}

static void adopt(struct reg *r, struct reg_pool *pool, const struct reg_sq_job *sq)
{
	struct reg_job *j = reg_pool_add_job(pool);
	char l[200];
	reg_strlcpy(j->id, sq->id, sizeof j->id);
	j->state = REG_J_PENDING;
	j->submitted_at = sq->submit ? sq->submit : reg_now();
	j->known_mono = reg_mono_ms();
	update_job(r, pool, j, sq);
	reg_metrics_add(&r->metrics, "elastic_job_adoptions_total",
			reg_metrics_labels(l, sizeof l, "pool", pool->name, NULL), 1);
	reg_events_add(r->events, reg_now(), pool->name, "adopted job %s (%s) from SLURM", j->id,
		       sq->state);
	reg_mark_dirty(r);
}

struct poll_ctx {
	struct reg *reg;
	int64_t started_mono; /* jobs known before this and not listed are gone */
};

static void on_squeue(const struct reg_proc_result *res, void *arg)
{
	struct poll_ctx *pc = arg;
	struct reg *r = pc->reg;
	if (res->cancelled) {
		free(pc);
		return;
	}
	struct reg_jobs *js = J(r);
	int64_t started = pc->started_mono;
	free(pc);
	js->squeue_running = false;
	schedule(js->poll_ev, js->poll_again ? POLL_SOON_MS : r->cfg->poll_ms);
	js->poll_again = false;

	if (res->status != 0 || res->truncated) {
		char d[400], l[100];
		if (res->truncated)
			snprintf(d, sizeof d, "squeue output larger than %u bytes", SQUEUE_MAX_OUT);
		else
			reg_proc_describe(res, d, sizeof d);
		reg_metrics_add(&r->metrics, "elastic_acquirer_errors_total",
				reg_metrics_labels(l, sizeof l, "command", "squeue", NULL), 1);
		if (js->squeue_failures++ % 30 == 0)
			reg_events_add(r->events, reg_now(), NULL, "squeue failed: %s", d);
		return;
	}
	if (js->squeue_failures) {
		reg_events_add(r->events, reg_now(), NULL, "squeue works again");
		js->squeue_failures = 0;
	}

	struct reg_sq_job *sq;
	size_t bad;
	size_t n = reg_slurm_parse_squeue(res->out.data, r->instance, &sq, &bad);
	if (bad)
		log_warn("squeue: %zu line(s) not understood", bad);
	for (size_t p = 0; p < r->pools.n; p++)
		for (size_t k = 0; k < r->pools.v[p]->njobs; k++)
			r->pools.v[p]->jobs[k]->seen = false;

	for (size_t i = 0; i < n; i++) {
		struct reg_pool *pool = NULL;
		struct reg_job *j = reg_pools_find_job(&r->pools, sq[i].id, &pool);
		if (j) {
			j->seen = true;
			if (j->state != REG_J_ENDED)
				update_job(r, pool, j, &sq[i]);
			continue;
		}
		if (reg_slurm_jstate(sq[i].state) == REG_J_ENDED)
			continue; /* an old job of ours, already forgotten */
		pool = reg_pools_find(&r->pools, sq[i].pool);
		if (!pool) {
			if (!orphan_seen(js, sq[i].id))
				reg_events_add(r->events, reg_now(), sq[i].pool,
					       "job %s belongs to no known pool (%s): left alone; "
					       "elasticctl up its model.toml to adopt it, or scancel it",
					       sq[i].id, sq[i].pool);
			continue;
		}
		bool submitting = false;
		for (size_t k = 0; k < pool->njobs; k++)
			if (pool->jobs[k]->state == REG_J_SUBMITTING)
				submitting = true;
		if (submitting)
			continue; /* may be the one being submitted: its reply will say */
		adopt(r, pool, &sq[i]);
		pool->jobs[pool->njobs - 1]->seen = true;
	}
	free(sq);

	for (size_t p = 0; p < r->pools.n; p++) {
		struct reg_pool *pool = r->pools.v[p];
		for (size_t k = 0; k < pool->njobs; k++) {
			struct reg_job *j = pool->jobs[k];
			if (j->seen || !j->id[0] || j->state == REG_J_ENDED || j->known_mono >= started)
				continue;
			mark_ended(r, pool, j, j->notice[0] ? j->notice : "unknown");
			if (strcmp(j->reason, "unknown") == 0)
				run_sacct(r, pool, j);
		}
		if (pool->recovered) {
			int live = (int)reg_pool_live(pool) * pool->cfg->nodes; /* nodes */
			pool->target = live < pool->cfg->min_nodes   ? pool->cfg->min_nodes
				       : live > pool->cfg->max_nodes ? pool->cfg->max_nodes
								     : live;
			pool->recovered = false;
			reg_events_add(r->events, reg_now(), pool->name,
				       "pool recovered with target %d (the jobs found in SLURM)",
				       pool->target);
			reg_mark_dirty(r);
		}
	}
	if (!js->synced) {
		js->synced = true;
		log_info("squeue answered: %zu job(s) of this registry in SLURM", n);
	}
	reg_jobs_kick(r);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg *r = arg;
	struct reg_jobs *js = J(r);
	if (js->squeue_running || r->stopping)
		return;
	struct reg_argv a = {0};
	char err[256];
	reg_slurm_squeue_argv(r->cfg, r->self_uid, NULL, &a);
	struct poll_ctx *pc = calloc(1, sizeof *pc);
	if (!pc)
		abort();
	pc->reg = r;
	pc->started_mono = reg_mono_ms();
	if (reg_proc_run(r->procs, a.v, reg_slurm_env, r->cfg->command_timeout_ms, SQUEUE_MAX_OUT,
			 on_squeue, pc, err, sizeof err) < 0) {
		log_warn("cannot run squeue: %s", err);
		free(pc);
		schedule(js->poll_ev, r->cfg->poll_ms);
	} else {
		js->squeue_running = true;
	}
	reg_argv_free(&a);
}

/* ---------------------------------------------------------------- sbatch */

static void on_scancel(const struct reg_proc_result *res, void *arg);

static void scancel(struct reg *r, const char *pool, const char *id)
{
	struct reg_argv a = {0};
	char err[256];
	reg_slurm_scancel_argv(r->cfg, id, &a);
	struct cmd_ctx *c = cmd_ctx(r, pool, id, 0);
	if (reg_proc_run(r->procs, a.v, NULL, r->cfg->command_timeout_ms, CMD_MAX_OUT, on_scancel, c,
			 err, sizeof err) < 0) {
		log_warn("cannot run scancel: %s", err);
		free(c);
	}
	reg_argv_free(&a);
}

static void backoff(struct reg *r, struct reg_pool *pool)
{
	pool->sbatch_failures++;
	if (pool->backoff_ms <= 0)
		pool->backoff_ms = r->cfg->backoff_min_ms;
	else
		pool->backoff_ms *= 2;
	if (pool->backoff_ms > r->cfg->backoff_max_ms)
		pool->backoff_ms = r->cfg->backoff_max_ms;
	pool->backoff_until = reg_now() + (double)pool->backoff_ms / 1000.0;
}

static void on_sbatch(const struct reg_proc_result *res, void *arg)
{
	struct cmd_ctx *c = arg;
	struct reg *r = c->reg;
	if (res->cancelled) {
		free(c);
		return;
	}
	struct reg_pool *pool = reg_pools_find(&r->pools, c->pool);
	struct reg_job *j = NULL;
	char id[REG_JOB_ID_MAX], l[200], d[400];
	double now = reg_now();
	for (size_t k = 0; pool && k < pool->njobs; k++)
		if (pool->jobs[k]->state == REG_J_SUBMITTING && pool->jobs[k]->submit_seq == c->seq)
			j = pool->jobs[k];

	bool ok = res->status == 0 && !res->timed_out &&
		  reg_slurm_parse_sbatch(res->out.data, id, sizeof id) == 0;
	if (ok && (!pool || !j)) {
		/* The pool went away while sbatch ran. */
		reg_events_add(r->events, now, c->pool, "cancelling job %s: its pool is gone", id);
		scancel(r, c->pool, id);
	} else if (ok) {
		struct reg_job *dup = reg_pool_find_job(pool, id);
		if (dup) {
			reg_pool_remove_job(pool, j); /* adopted meanwhile */
		} else {
			reg_strlcpy(j->id, id, sizeof j->id);
			j->state = REG_J_PENDING;
			reg_strlcpy(j->slurm_state, "PENDING", sizeof j->slurm_state);
			j->known_mono = reg_mono_ms();
			reg_metrics_add(&r->metrics, "elastic_job_submissions_total",
					reg_metrics_labels(l, sizeof l, "pool", pool->name, NULL), 1);
			reg_events_add(r->events, now, pool->name, "submitted job %s", id);
		}
		pool->sbatch_failures = 0;
		pool->backoff_ms = 0;
		pool->backoff_until = 0;
		reg_mark_dirty(r);
		reg_jobs_poll_soon(r);
	} else {
		if (res->status == 0 && !res->timed_out)
			snprintf(d, sizeof d, "cannot find a job id in sbatch's output \"%.100s\"",
				 res->out.data);
		else
			reg_proc_describe(res, d, sizeof d);
		reg_metrics_add(&r->metrics, "elastic_acquirer_errors_total",
				reg_metrics_labels(l, sizeof l, "command", "sbatch", NULL), 1);
		if (pool) {
			if (j)
				reg_pool_remove_job(pool, j);
			backoff(r, pool);
			reg_events_add(r->events, now, pool->name, "sbatch failed (retrying in %llds): %s",
				       (long long)(pool->backoff_ms / 1000), d);
		}
		/* A job may exist anyway (a timeout after slurmctld took it):
		 * the next squeue adopts it by its comment. */
		reg_jobs_poll_soon(r);
	}
	free(c);
	reg_jobs_kick(r);
}

static void submit(struct reg *r, struct reg_pool *pool, const char *why, int retiring)
{
	char path[4200], err[300];
	reg_pool_path(r, pool, path, sizeof path);
	if (access(path, R_OK) != 0 && reg_state_write_pool(r->cfg->state_dir, pool, err, sizeof err) < 0) {
		char l[100];
		reg_metrics_add(&r->metrics, "elastic_acquirer_errors_total",
				reg_metrics_labels(l, sizeof l, "command", "sbatch", NULL), 1);
		backoff(r, pool);
		reg_events_add(r->events, reg_now(), pool->name, "cannot submit: %s", err);
		return;
	}
	struct reg_job *j = reg_pool_add_job(pool);
	j->submit_seq = ++pool->next_seq;
	j->submitted_at = reg_now();
	struct reg_argv a = {0};
	reg_slurm_sbatch_argv(r->cfg, pool, path, r->instance, &a);
	struct cmd_ctx *c = cmd_ctx(r, pool->name, NULL, j->submit_seq);
	if (reg_proc_run(r->procs, a.v, NULL, r->cfg->command_timeout_ms, CMD_MAX_OUT, on_sbatch, c,
			 err, sizeof err) < 0) {
		reg_pool_remove_job(pool, j);
		free(c);
		backoff(r, pool);
		reg_events_add(r->events, reg_now(), pool->name, "cannot run sbatch: %s", err);
	} else {
		log_debug("%s: submitting a job (%s%s)", pool->name, why,
			  retiring ? ", replacing a job near its time limit" : "");
	}
	reg_argv_free(&a);
}

/* ---------------------------------------------------------------- scancel */

static void on_scancel(const struct reg_proc_result *res, void *arg)
{
	struct cmd_ctx *c = arg;
	struct reg *r = c->reg;
	if (res->cancelled) {
		free(c);
		return;
	}
	if (res->status != 0 || res->timed_out) {
		const char *e = res->err.data ? res->err.data : "";
		bool gone = strstr(e, "Invalid job id") || strstr(e, "already completing") ||
			    strstr(e, "completed");
		if (!gone) {
			char d[400], l[100];
			reg_proc_describe(res, d, sizeof d);
			reg_metrics_add(&r->metrics, "elastic_acquirer_errors_total",
					reg_metrics_labels(l, sizeof l, "command", "scancel", NULL), 1);
			reg_events_add(r->events, reg_now(), c->pool, "scancel %s failed: %s", c->id, d);
			struct reg_pool *pool = reg_pools_find(&r->pools, c->pool);
			struct reg_job *j = pool ? reg_pool_find_job(pool, c->id) : NULL;
			if (j && j->state != REG_J_ENDED)
				j->cancel_sent = false; /* decide again */
		}
	}
	free(c);
	reg_jobs_poll_soon(r);
}

static void cancel(struct reg *r, struct reg_pool *pool, struct reg_job *j, const char *why)
{
	char l[300];
	j->cancel_sent = true;
	reg_strlcpy(j->cancel_why, why, sizeof j->cancel_why);
	/* Out of routing at once; the agent deregisters on SIGTERM anyway. */
	reg_workers_apply_job(&r->workers, j->id, NULL, REG_WEV_DRAIN, NULL, reg_now(),
			      reg_mono_ms());
	reg_metrics_add(&r->metrics, "elastic_job_cancellations_total",
			reg_metrics_labels(l, sizeof l, "pool", pool->name, "reason", why, NULL), 1);
	reg_events_add(r->events, reg_now(), pool->name, "cancelling job %s (%s)", j->id, why);
	scancel(r, pool->name, j->id);
}

int reg_jobs_drain(struct reg *r, struct reg_pool *pool, struct reg_job *j, const char *why)
{
	double now = reg_now();
	if (!j->draining) {
		j->draining = true;
		j->drain_started_at = now;
		reg_strlcpy(j->drain_why, why, sizeof j->drain_why);
		reg_events_add(r->events, now, pool->name, "draining job %s (%s)", j->id, why);
		reg_mark_dirty(r);
	}
	int n = (int)reg_workers_apply_job(&r->workers, j->id, NULL, REG_WEV_DRAIN, NULL, now,
					   reg_mono_ms());
	reg_jobs_kick(r);
	return n;
}

/* ---------------------------------------------------------------- decisions */

static void derive(struct reg *r, struct reg_pool *pool, double now)
{
	for (size_t k = 0; k < pool->njobs; k++) {
		struct reg_job *j = pool->jobs[k];
		j->ready = j->workers = 0;
		j->load = 0;
	}
	for (size_t i = 0; i < r->workers.n; i++) {
		const struct reg_worker *w = r->workers.v[i];
		if (w->state == REG_W_GONE)
			continue;
		struct reg_job *j = reg_pool_find_job(pool, w->job_id);
		if (!j)
			continue;
		j->workers++;
		if (w->state == REG_W_READY)
			j->ready++;
		j->load += w->load.running + w->load.waiting + w->inflight;
	}
	for (size_t k = 0; k < pool->njobs; k++)
		if (pool->jobs[k]->ready > 0)
			pool->jobs[k]->last_ready_at = now;
}

static void forget_ended(struct reg *r, struct reg_pool *pool, double now)
{
	(void)r;
	size_t ended = reg_pool_count(pool, REG_J_ENDED);
	for (size_t k = 0; k < pool->njobs;) {
		struct reg_job *j = pool->jobs[k];
		if (j->state == REG_J_ENDED &&
		    (now - j->ended_at > ENDED_KEEP_S || ended > ENDED_KEEP_MAX)) {
			reg_pool_remove_job(pool, j);
			ended--;
			reg_mark_dirty(r);
			continue;
		}
		k++;
	}
}

static void decide_pool(struct reg *r, struct reg_pool *pool, double now)
{
	derive(r, pool, now);
	struct reg_acq_input in = {
		/* The pool counts nodes (as model.toml does); the acquirer jobs of
		 * slurm.nodes nodes each. */
		.target = pool->deleting ? 0 : pool->target / pool->cfg->nodes,
		.max_jobs = pool->cfg->max_nodes / pool->cfg->nodes,
		.max_pending = r->cfg->max_pending,
		.startup_timeout_ms = pool->cfg->startup_timeout_ms + r->cfg->heartbeat_timeout_ms,
		.renew_before_ms = pool->cfg->renew_before_ms,
		.drain_timeout_ms = r->cfg->drain_timeout_ms,
		.now = now,
		.since = r->started_at,
		.backoff_until = pool->backoff_until,
		.synced = J(r)->synced,
		.jobs = pool->jobs,
		.njobs = pool->njobs,
	};
	size_t max = pool->njobs + (size_t)r->cfg->max_pending + 1;
	struct reg_acq_action *acts = calloc(max, sizeof *acts);
	if (!acts)
		abort();
	size_t n = reg_acq_decide(&in, acts, max);
	int retiring = 0;
	for (size_t k = 0; k < pool->njobs; k++)
		if (reg_acq_retiring(pool->jobs[k], pool->cfg->renew_before_ms, now))
			retiring++;
	/* Act on job pointers: submissions append to pool->jobs. */
	struct reg_job **targets = calloc(n ? n : 1, sizeof *targets);
	if (!targets)
		abort();
	for (size_t i = 0; i < n; i++)
		targets[i] = acts[i].kind == REG_ACQ_SUBMIT ? NULL : pool->jobs[acts[i].job];
	for (size_t i = 0; i < n; i++) {
		switch (acts[i].kind) {
		case REG_ACQ_CANCEL:
			cancel(r, pool, targets[i], acts[i].why);
			break;
		case REG_ACQ_DRAIN:
			reg_jobs_drain(r, pool, targets[i], acts[i].why);
			break;
		case REG_ACQ_SUBMIT:
			submit(r, pool, acts[i].why, retiring);
			break;
		}
	}
	free(targets);
	free(acts);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg *r = arg;
	struct reg_jobs *js = J(r);
	double now = reg_now();
	schedule(js->tick_ev, TICK_MS);
	if (r->stopping)
		return;
	for (size_t p = 0; p < r->pools.n;) {
		struct reg_pool *pool = r->pools.v[p];
		forget_ended(r, pool, now);
		if (pool->deleting && reg_pool_live(pool) == 0) {
			reg_events_add(r->events, now, pool->name, "pool removed");
			reg_state_remove_pool(r->cfg->state_dir, pool->name);
			reg_pools_remove(&r->pools, pool);
			reg_mark_dirty(r);
			continue;
		}
		decide_pool(r, pool, now);
		p++;
	}
}

/* ---------------------------------------------------------------- notices */

void reg_jobs_notice_ended(struct reg *r, const char *job_id, const char *reason)
{
	struct reg_pool *pool = NULL;
	struct reg_job *j = reg_pools_find_job(&r->pools, job_id, &pool);
	if (j && j->state != REG_J_ENDED) {
		reg_strlcpy(j->notice, reason, sizeof j->notice);
		if (strcmp(reason, "preempted") == 0)
			count_preemption(r, pool, j, "plugin notice");
		reg_mark_dirty(r);
	}
	reg_jobs_poll_soon(r);
	reg_jobs_kick(r);
}

const char *reg_jobs_refine_reason(struct reg *r, const char *job_id, const char *state,
				   const char *reason)
{
	struct reg_job *j = reg_pools_find_job(&r->pools, job_id, NULL);
	if (j && j->cancel_sent)
		return "cancelled";
	if (state[0]) {
		if (strcmp(reason, "TimeLimit") == 0)
			return "timeout";
		enum reg_jstate s = reg_slurm_jstate(state);
		if (s == REG_J_ENDED)
			return reg_slurm_end_reason(state);
		if (s == REG_J_PENDING)
			return "preempted"; /* requeued */
	}
	if (j && j->end_time > 0 && reg_now() >= j->end_time - 5)
		return "timeout";
	return "unknown";
}

struct lookup_ctx {
	char id[REG_JOB_ID_MAX];
	void (*cb)(const char *, const char *, void *);
	void *arg;
};

static void on_lookup(const struct reg_proc_result *res, void *arg)
{
	struct lookup_ctx *c = arg;
	struct reg_sq_job *sq = NULL;
	size_t bad, n = 0;
	if (res->status == 0)
		n = reg_slurm_parse_squeue(res->out.data, NULL, &sq, &bad);
	const char *state = "", *reason = "";
	for (size_t i = 0; i < n; i++) {
		if (strcmp(sq[i].id, c->id) == 0) {
			state = sq[i].state;
			reason = sq[i].reason;
		}
	}
	c->cb(state, reason, c->arg);
	free(sq);
	free(c);
}

int reg_jobs_lookup(struct reg *r, const char *job_id, int timeout_ms,
		    void (*cb)(const char *, const char *, void *), void *arg)
{
	struct reg_argv a = {0};
	char err[256];
	reg_slurm_squeue_argv(r->cfg, r->self_uid, job_id, &a);
	struct lookup_ctx *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	reg_strlcpy(c->id, job_id, sizeof c->id);
	c->cb = cb;
	c->arg = arg;
	int rc = reg_proc_run(r->procs, a.v, reg_slurm_env, timeout_ms, CMD_MAX_OUT, on_lookup, c,
			      err, sizeof err);
	if (rc < 0) {
		log_warn("cannot run squeue: %s", err);
		free(c);
	}
	reg_argv_free(&a);
	return rc;
}

/* ---------------------------------------------------------------- life */

void reg_jobs_start(struct reg *r)
{
	struct reg_jobs *js = calloc(1, sizeof *js);
	if (!js)
		abort();
	js->reg = r;
	js->poll_ev = evtimer_new(r->base, poll_cb, r);
	js->tick_ev = evtimer_new(r->base, tick_cb, r);
	if (!js->poll_ev || !js->tick_ev)
		abort();
	r->jobs = js;
	schedule(js->poll_ev, 0);
	schedule(js->tick_ev, TICK_MS);
}

void reg_jobs_free(struct reg *r)
{
	struct reg_jobs *js = r->jobs;
	if (!js)
		return;
	event_free(js->poll_ev);
	event_free(js->tick_ev);
	free(js);
	r->jobs = NULL;
}
