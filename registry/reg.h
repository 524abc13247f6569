/* reg.h — elastic-registry: the daemon's parts and how they fit.
 *
 *   reg_config   configuration (file + flags)
 *   reg_workers  the worker table and its state machine
 *   reg_pools    pools and their jobs
 *   reg_acquirer what to submit, cancel or drain (pure)
 *   reg_jobs     the acquirer's I/O: squeue polling, sbatch, scancel
 *   reg_slurm    SLURM command lines and output parsers (pure)
 *   reg_proc     asynchronous child processes on the event loop
 *   reg_state    persistence
 *   reg_api      the HTTP control API (registry/API.md)
 *   reg_auth     who may call what
 *   reg_metrics  /metrics
 *   reg_events   recent events
 *   proxy        the OpenAI-compatible proxy on /v1/ (proxy.h)
 *
 * One struct reg holds them all; everything runs on one libevent loop and
 * nothing on it blocks: SLURM commands run as child processes read through
 * pipes, and the only disk I/O is the state file's atomic write.
 */
#ifndef ES_REG_H
#define ES_REG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "reg_config.h"
#include "reg_events.h"
#include "reg_metrics.h"
#include "reg_pools.h"
#include "reg_workers.h"

struct event;
struct event_base;
struct httpd;
struct reg_jobs;
struct reg_procs;
struct reg_pending;
struct reg_pending_reg;
struct reg_resolver;
struct proxy;

struct reg {
	struct event_base *base;
	struct reg_config *cfg;     /* borrowed; outlives the reg */
	struct httpd *httpd;
	struct auth_server auth;    /* credential checks (lib/auth) */
	enum auth_mode auth_mode;
	uid_t self_uid;             /* the registry's own uid */
	struct reg_workers workers;
	struct reg_pools pools;
	struct reg_events *events;
	struct reg_metrics metrics;
	struct reg_procs *procs;    /* SLURM commands running */
	struct reg_jobs *jobs;      /* the acquirer's I/O state */
	struct reg_pending *pending;/* API requests waiting for a command */
	struct reg_pending_reg *pending_regs; /* registrations waiting for a
					  name lookup (reg_peer.h) */
	struct reg_resolver *resolver; /* worker host names */
	struct proxy *proxy;        /* the OpenAI proxy (registry/proxy.h) */
	char instance[13];          /* this registry's id in job comments */
	char api_key[80];           /* the OpenAI side's generated key */
	char url[300];              /* where jobs reach us (advertised) */
	int port;                   /* the port bound */
	double started_at;          /* Unix s */
	int64_t started_mono;       /* monotonic ms */
	struct event *tick_ev;      /* 250 ms: evictions, reaping */
	struct event *save_ev;      /* deferred state write */
	bool dirty;                 /* pools or jobs changed since the last write */
	unsigned save_failures;     /* state writes failed in a row (disk full...) */
	double saved_at;            /* Unix s of the last state written (or the start) */
	int64_t auth_down_mono;     /* munged unreachable since (monotonic ms);
				       0 while it answers (reg_auth_seen) */
	int64_t auth_probe_mono;    /* last probe of munged while it is down */
	bool stopping;
	uint64_t proxy_requests;    /* OpenAI requests (for the proxy to count) */
	uint64_t proxy_errors;      /* of which failed */
};

/* Creates the registry on BASE from CFG (finished with reg_config_finish):
 * state directory, state file (adopting pools and jobs; a corrupt file is
 * moved aside and reported), auth, listening socket, timers. Returns NULL
 * with ERR on failure. */
struct reg *reg_new(struct event_base *base, struct reg_config *cfg, char *err, size_t errlen);

/* Stops gracefully: writes the state, stops accepting, then leaves the
 * loop once the connections are gone. */
void reg_stop(struct reg *r);

/* Frees everything (after the loop has returned). */
void reg_free(struct reg *r);

/* Notes that pools or jobs changed: the state file is written shortly. */
void reg_mark_dirty(struct reg *r);
/* Writes the state file now. Returns 0, or -1 (logged). */
int reg_save_now(struct reg *r);

/* The config file path of POOL (for sbatch). */
void reg_pool_path(const struct reg *r, const struct reg_pool *pool, char *out, size_t len);

/* Notes the result AR of a credential check (ERR its reason). While
 * munged cannot be reached the registry cannot take heartbeats, so it
 * stops evicting workers for missing ones; when munged answers again
 * (a check, or the registry's own probe each second), every worker gets a
 * fresh heartbeat timeout. Evicting every worker because the registry
 * cannot authenticate would turn a munged restart into an outage of
 * every pool. */
void reg_auth_seen(struct reg *r, enum auth_result ar, const char *err);

/* Recomputes the gauges and appends the /metrics page. */
void reg_render_metrics(struct reg *r, struct buf *out);

#endif
