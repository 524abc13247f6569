/* reg_body.h — the control API's request bodies (registry/API.md): JSON
 * text to validated structs, with no socket and no registry around, so
 * that every rule can be unit-tested and fuzzed (tests/fuzz/fuzz_reg_api.c).
 *
 * Each parser takes the raw body, returns 0 with its struct filled, or -1
 * with ERR: "'field' must ..." where a field is at fault (reg_api turns the
 * quoted name into the error's `param`), or what is wrong with the body
 * itself ("request body is not valid JSON: ..."). A body is a JSON object
 * in UTF-8 (RFC 8259, json-c's strict mode); unknown fields are ignored.
 * Nothing in a parsed struct points into the body or into json-c objects.
 */
#ifndef ES_REG_BODY_H
#define ES_REG_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "reg_pools.h"
#include "reg_workers.h"

#define REG_BODY_MAX_ID 200          /* worker ids, node names */
#define REG_BODY_MAX_HB_WORKERS 4096 /* workers in one heartbeat */
#define REG_BODY_MAX_NODES 1024      /* nodes of one worker */

/* POST /api/v1/workers: a new worker record (uid, times and state not set)
 * and the state it asks for (REG_W_STARTING or REG_W_READY). The URL's
 * host and port are the worker's; `host` and `port`, when given, must
 * agree with them. */
struct reg_body_register {
	struct reg_worker *w;  /* owned: pass to reg_workers_put or free */
	enum reg_wstate want;
};
int reg_body_register(const char *body, size_t len, struct reg_body_register *out, char *err,
		      size_t errlen);

/* One entry of a heartbeat. */
struct reg_body_hb_worker {
	char *id;
	int state;            /* -1: not given; or REG_W_STARTING, _READY, _DRAINING */
	bool has_load;        /* a load object was sent */
	struct reg_load load; /* requests -1 when not sent */
};

/* POST /api/v1/heartbeat. A heartbeat with any invalid entry is refused
 * whole. */
struct reg_body_heartbeat {
	char *job_id;         /* may be NULL */
	char *node;           /* may be NULL */
	struct reg_body_hb_worker *v;
	size_t n;
};
int reg_body_heartbeat(const char *body, size_t len, struct reg_body_heartbeat *out, char *err,
		       size_t errlen);
void reg_body_heartbeat_free(struct reg_body_heartbeat *hb);

/* POST /api/v1/deregister. */
struct reg_body_deregister {
	char job_id[REG_JOB_ID_MAX];
	char node[REG_BODY_MAX_ID + 1]; /* "" when not given */
	char reason[32];                /* sigterm, engine_exit, startup_failed, shutdown */
	bool has_ids;                   /* `ids` was given (else: every worker of the job) */
	char **ids;
	size_t nids;
};
int reg_body_deregister(const char *body, size_t len, struct reg_body_deregister *out,
			char *err, size_t errlen);
void reg_body_deregister_free(struct reg_body_deregister *d);

/* POST /api/v1/jobs/ended. */
struct reg_body_ended {
	char job_id[REG_JOB_ID_MAX];
	char node[64];        /* "?" when not given */
	char reason[16];      /* preempted ... unknown (default) */
	int64_t exit_status;
	int64_t sig;
};
int reg_body_ended(const char *body, size_t len, struct reg_body_ended *out, char *err,
		   size_t errlen);

/* POST /api/v1/pools: a validated model.toml. ERRS receives the
 * "FILE:LINE:COL: message" lines when the config itself is wrong (then
 * *CONFIG_BAD is set and ERR says "'config' ..."). */
struct reg_body_pool {
	struct model_config *cfg; /* owned */
	char *filename;           /* owned; "model.toml" by default */
};
int reg_body_pool(const char *body, size_t len, struct reg_body_pool *out, struct buf *errs,
		  bool *config_bad, char *err, size_t errlen);
void reg_body_pool_free(struct reg_body_pool *p);

/* POST /api/v1/pools/NAME/scale: {"target": N}, 0..100000. */
int reg_body_scale(const char *body, size_t len, int *target, char *err, size_t errlen);

/* POST /api/v1/drain: exactly one of a worker id or a job id. */
struct reg_body_drain {
	char worker[REG_BODY_MAX_ID + 1]; /* "" when a job is named */
	char job_id[REG_JOB_ID_MAX];      /* "" when a worker is named */
};
int reg_body_drain(const char *body, size_t len, struct reg_body_drain *out, char *err,
		   size_t errlen);

/* Whether S is a SLURM job id ("1234", "1234_7", "1234+1"). */
bool reg_body_job_id_valid(const char *s);

#endif
