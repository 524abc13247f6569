/* reg_pools.h — pools and the SLURM jobs that serve them.
 *
 * A pool is one model.toml (its model name is the pool's name) kept at a
 * target number of jobs (one job = `[slurm] nodes` nodes) by the acquirer.
 * Each pool knows the jobs the registry submitted or adopted for it, with
 * what squeue last said about them. The acquirer's decisions
 * (reg_acquirer.h) read these records; its I/O (reg_jobs.h) writes them;
 * reg_state.h persists them.
 */
#ifndef ES_REG_POOLS_H
#define ES_REG_POOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"

/* A job as the registry sees it. */
enum reg_jstate {
	REG_J_SUBMITTING, /* sbatch in flight: no id yet */
	REG_J_PENDING,    /* queued, requeued, held or suspended */
	REG_J_RUNNING,    /* running (or configuring) */
	REG_J_COMPLETING, /* ending; may still be requeued, so still counted */
	REG_J_ENDED,      /* finished for good; kept a while for display */
};
#define REG_J_NSTATES 5

#define REG_JOB_ID_MAX 32

struct reg_job {
	char id[REG_JOB_ID_MAX];  /* SLURM job id; "" while submitting */
	enum reg_jstate state;
	char slurm_state[24];     /* as squeue said: "PENDING", "RUNNING"... */
	char reason[64];          /* squeue's reason, or why it ended */
	char nodes[256];          /* nodes it runs on (SLURM's list form) */
	double submitted_at;      /* Unix s */
	double started_at;        /* start of the current run, 0 if none */
	double end_time;          /* time limit's end of the current run, 0 unknown */
	double ended_at;          /* when it ended (REG_J_ENDED) */
	int runs;                 /* runs seen (a requeued job runs again) */
	int preempted_runs;       /* runs already counted as preempted */
	bool draining;            /* being drained before its cancellation */
	double drain_started_at;  /* Unix s */
	char drain_why[24];       /* scale_down, renewed, operator */
	bool cancel_sent;         /* scancel issued (not persisted) */
	char cancel_why[24];      /* why we cancelled it */
	char notice[16];          /* reason from the plugin's job-ended notice */
	double last_ready_at;     /* last time it had a ready worker */
	int64_t known_mono;       /* monotonic ms when its id became known */
	unsigned submit_seq;      /* identifies its sbatch while submitting */
	/* Derived from the worker table before each decision (not persisted): */
	int ready;                /* ready workers */
	int workers;              /* workers not gone */
	int64_t load;             /* running + waiting + in flight over its workers */
	bool seen;                /* scratch: listed by the last squeue */
};

struct reg_pool {
	char *name;               /* the model name */
	struct model_config *cfg; /* the resolved config */
	char *config_text;        /* model_dump(cfg): stored and given to sbatch */
	char *filename;           /* the client's file name, for messages */
	int target;               /* jobs wanted, min_nodes..max_nodes */
	bool deleting;            /* `down`: removed once its jobs are gone */
	bool recovered;           /* rebuilt from its config file after a lost
				     state: target follows the jobs found */
	double created_at;        /* Unix s */
	struct reg_job **jobs;    /* its jobs, oldest first */
	size_t njobs, capjobs;
	/* acquirer bookkeeping (not persisted) */
	double backoff_until;     /* no sbatch before this (Unix s) */
	int64_t backoff_ms;       /* current backoff, doubled per failure */
	int sbatch_failures;      /* consecutive */
	unsigned next_seq;        /* for submit_seq */
};

struct reg_pools {
	struct reg_pool **v; /* in creation order */
	size_t n, cap;
};

const char *reg_jstate_name(enum reg_jstate s);
/* Parses "submitting", "pending"...; returns 0, or -1. */
int reg_jstate_parse(const char *s, enum reg_jstate *out);

void reg_pools_init(struct reg_pools *p);
void reg_pools_free(struct reg_pools *p);

/* Creates a pool from CFG (ownership passes) with TARGET; the dump of CFG
 * becomes its config text. Returns it. The name must be new. */
struct reg_pool *reg_pools_add(struct reg_pools *p, struct model_config *cfg,
			       const char *filename, int target, double now);
/* Replaces the pool's config (ownership of CFG passes); clamps the target
 * into the new min..max. */
void reg_pool_set_config(struct reg_pool *pool, struct model_config *cfg, const char *filename);
struct reg_pool *reg_pools_find(const struct reg_pools *p, const char *name);
/* Removes and frees POOL. */
void reg_pools_remove(struct reg_pools *p, struct reg_pool *pool);

/* A new job record appended to POOL, state SUBMITTING, every field zero. */
struct reg_job *reg_pool_add_job(struct reg_pool *pool);
/* The job with ID in POOL, or NULL. */
struct reg_job *reg_pool_find_job(const struct reg_pool *pool, const char *id);
/* The job with ID in any pool (and its pool), or NULL. */
struct reg_job *reg_pools_find_job(const struct reg_pools *p, const char *id,
				   struct reg_pool **pool);
/* Removes and frees J from POOL. */
void reg_pool_remove_job(struct reg_pool *pool, struct reg_job *j);

/* Jobs of POOL in STATE. */
size_t reg_pool_count(const struct reg_pool *pool, enum reg_jstate state);
/* Jobs not ended. */
size_t reg_pool_live(const struct reg_pool *pool);

/* Appends the pool as JSON (API.md, Pool): READY is its ready workers,
 * LAST_EVENT its newest event text (may be NULL). WITH_CONFIG includes the
 * config text. */
void reg_pool_json(const struct reg_pool *pool, size_t ready, const char *last_event,
		   bool with_config, struct buf *out);
void reg_job_json(const struct reg_job *j, struct buf *out);

#endif
