/* reg_workers.h — the worker table: every engine the registry knows, its
 * state and its load.
 *
 * A worker is one engine (one TP slice of a job's GPUs), registered by its
 * job's agent and kept alive by heartbeats. States:
 *
 *   starting  registered, engine not ready yet          not routable
 *   ready     serving                                   routable
 *   draining  finishes its in-flight requests, no new   not routable
 *   gone      deregistered, evicted or its job ended    kept for `ls --all`
 *
 * The transitions are a pure function (reg_wstate_next) so that they can
 * be tested as a table. Only `ready` workers receive requests.
 *
 * For the OpenAI proxy: reg_workers_ready() lists the ready workers of a
 * model; each worker has an `inflight` counter the proxy maintains and a
 * reference count (reg_worker_ref/unref) that keeps a gone worker's memory
 * alive while a request still uses it; reg_workers_set_hook() reports every
 * state change. Pointers stay valid while a worker is in the table: a
 * registration with a known id updates the record in place.
 */
#ifndef ES_REG_WORKERS_H
#define ES_REG_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

enum reg_wstate {
	REG_W_STARTING,
	REG_W_READY,
	REG_W_DRAINING,
	REG_W_GONE,
};
#define REG_W_NSTATES 4

/* What happens to a worker. */
enum reg_wevent {
	REG_WEV_REGISTER_STARTING, /* (re)registration saying "starting" */
	REG_WEV_REGISTER_READY,    /* (re)registration saying "ready" */
	REG_WEV_HB_STARTING,       /* heartbeat: the engine is not ready */
	REG_WEV_HB_READY,          /* heartbeat: the engine is ready */
	REG_WEV_DRAIN,             /* operator drain, scale-down, renewal */
	REG_WEV_DEREGISTER,        /* the agent deregistered it */
	REG_WEV_EVICT,             /* heartbeats stopped */
	REG_WEV_JOB_ENDED,         /* its job ended */
};

/* The load an agent reports with each heartbeat, scraped from the engine. */
struct reg_load {
	int64_t running;        /* requests being generated */
	int64_t waiting;        /* requests queued in the engine */
	double kv_usage;        /* KV-cache use, 0..1 */
	int64_t prefix_queries; /* prefix-cache queries (tokens, counter) */
	int64_t prefix_hits;    /* prefix-cache hits (tokens, counter) */
	int64_t requests;       /* requests finished (counter), -1 if unknown */
};

struct reg_worker {
	char *id;              /* JOB.NODE.SLICE */
	char *model;           /* served model name; also the pool's name */
	char *url;             /* http://HOST:PORT */
	char *host;            /* engine host */
	int port;              /* engine port */
	char *job_id;          /* SLURM job id */
	char *node;            /* SLURM node of rank 0 */
	char **nodes;          /* every node of the worker (NULL-terminated) */
	size_t nnodes;
	int slice;             /* slice index on its node */
	char *gpus;            /* CUDA_VISIBLE_DEVICES of the slice */
	int tp;                /* tensor-parallel size */
	double job_end;        /* job's time limit end (Unix s), 0 unknown */
	enum reg_wstate state;
	struct reg_load load;  /* from the last heartbeat */
	uid_t uid;             /* who registered it */
	double registered_at;  /* Unix s */
	double last_heartbeat; /* Unix s */
	int64_t last_hb_mono;  /* monotonic ms of the last heartbeat */
	double gone_at;        /* Unix s when it became gone */
	int64_t gone_mono;     /* monotonic ms when it became gone */
	char gone_cause[32];   /* why: heartbeat_timeout, job_ended, sigterm... */
	unsigned inflight;     /* proxy: requests in flight to it */
	unsigned refs;         /* proxy: references held (see reg_worker_ref) */
	void *proxy;           /* proxy: its own per-worker data, one allocation
				  freed with the worker (reg_worker_free) */
	struct reg_worker *hnext; /* hash chain (internal) */
};

/* Called after every state change of W (FROM is the old state). */
typedef void (*reg_worker_hook_fn)(struct reg_worker *w, enum reg_wstate from, void *arg);

struct reg_workers {
	struct reg_worker **v;     /* every worker, gone ones included; read-only */
	size_t n, cap;
	struct reg_worker **hash;  /* by id (internal) */
	size_t hcap;
	reg_worker_hook_fn hook;
	void *hook_arg;
};

/* "starting", "ready", "draining", "gone". */
const char *reg_wstate_name(enum reg_wstate s);
/* Parses a state name; returns 0, or -1. */
int reg_wstate_parse(const char *s, enum reg_wstate *out);

/* The state after EV happens to a worker in state CUR. */
enum reg_wstate reg_wstate_next(enum reg_wstate cur, enum reg_wevent ev);

void reg_workers_init(struct reg_workers *t);
/* Frees every worker (references are ignored: only at exit). */
void reg_workers_free(struct reg_workers *t);
void reg_workers_set_hook(struct reg_workers *t, reg_worker_hook_fn fn, void *arg);

/* A new worker record with every string empty, to fill and pass to
 * reg_workers_put(), or to free with reg_worker_free(). */
struct reg_worker *reg_worker_new(void);
void reg_worker_free(struct reg_worker *w);

/* Registers W (ownership passes to the table). A worker with the same id is
 * updated in place from W (W is freed) and keeps its proxy data,
 * references and in-flight count; a draining one stays draining. WANT is
 * the state asked for (REG_W_STARTING or REG_W_READY). Returns the record
 * in the table. */
struct reg_worker *reg_workers_put(struct reg_workers *t, struct reg_worker *w,
				   enum reg_wstate want, double now, int64_t mono);

/* The worker ID (gone ones included), or NULL. */
struct reg_worker *reg_workers_find(const struct reg_workers *t, const char *id);

/* Applies EV to W, recording CAUSE when it becomes gone. Returns whether
 * the state changed (the hook ran). */
bool reg_workers_apply(struct reg_workers *t, struct reg_worker *w, enum reg_wevent ev,
		       const char *cause, double now, int64_t mono);

/* A heartbeat for ID: updates load and time and applies HB_READY or
 * HB_STARTING. Returns the worker, or NULL when ID is unknown or gone (the
 * agent must register it again). LOAD may be NULL. */
struct reg_worker *reg_workers_heartbeat(struct reg_workers *t, const char *id, bool ready,
					 const struct reg_load *load, double now, int64_t mono);

/* Evicts (REG_WEV_EVICT, cause "heartbeat_timeout") every worker not gone
 * whose last heartbeat is older than TIMEOUT_MS at MONO. Returns how many. */
size_t reg_workers_evict_stale(struct reg_workers *t, int64_t timeout_ms, double now,
			       int64_t mono);

/* Gives every worker not gone a fresh heartbeat timeout from MONO (its
 * last_heartbeat, what users see, is left alone): after a time in which
 * the registry could not take heartbeats (munged down), workers are not
 * evicted for what they could not do. Returns how many. */
size_t reg_workers_grace(struct reg_workers *t, int64_t mono);

/* Applies EV to every worker of JOB_ID not gone (and, when NODE is not
 * NULL, on that node only). Returns how many changed. */
size_t reg_workers_apply_job(struct reg_workers *t, const char *job_id, const char *node,
			     enum reg_wevent ev, const char *cause, double now, int64_t mono);

/* Frees gone workers gone for longer than KEEP_MS that hold no references,
 * and the oldest gone ones beyond MAX_GONE. Returns how many were freed. */
size_t reg_workers_reap(struct reg_workers *t, int64_t keep_ms, size_t max_gone,
			int64_t mono);

/* Fills OUT (room for MAX) with the ready workers of MODEL; returns how
 * many there are (possibly more than MAX). */
size_t reg_workers_ready(const struct reg_workers *t, const char *model,
			 struct reg_worker **out, size_t max);

/* Workers of MODEL (NULL: all) in STATE. */
size_t reg_workers_count(const struct reg_workers *t, const char *model, enum reg_wstate state);

/* A reference keeps a worker in the table (and its memory valid) after it
 * is gone: reg_workers_reap() skips workers that hold references. */
void reg_worker_ref(struct reg_worker *w);
void reg_worker_unref(struct reg_worker *w);

/* Appends the worker as a JSON object (registry/API.md, Worker). */
void reg_worker_json(const struct reg_worker *w, struct buf *out);

#endif
