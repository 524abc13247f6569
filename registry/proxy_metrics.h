/* proxy_metrics.h — the proxy's counters and latency histograms, and
 * their Prometheus text (appended to the registry's /metrics).
 *
 * Counting costs a few increments on the hot path: every pool and every
 * worker has a struct proxy_stats; the text is only made at scrape time.
 * Families (all `elastic_proxy_`):
 *
 *   requests_total{pool,code}            finished requests by status class
 *   errors_total{pool,cause}             requests that failed, by cause
 *   retries_total{pool,cause}            attempts retried, by the cause
 *   routing_total{pool,decision}         policy decisions (cache_hit...)
 *   migrations_total{pool,outcome}       generations moved to another worker
 *                                        after theirs failed mid-answer (ok,
 *                                        failed, refused: see proxy_migrate.h)
 *   inflight{pool}, waiting{pool}        gauges
 *   ttft_seconds{pool}, e2e_seconds{pool}  histograms, measured at the
 *                                        proxy: request received -> first
 *                                        body byte from the worker / last
 *   worker_requests_total{pool,worker,code}, worker_errors_total{...,cause},
 *   worker_inflight, worker_ejected, worker_ejections_total,
 *   worker_prefix_blocks (the cache-aware table's estimate of its cache),
 *   worker_ttft_seconds, worker_e2e_seconds    the same per worker
 *
 * Requests refused before a pool is known (bad JSON, unknown model,
 * missing key) count under pool="".
 */
#ifndef ES_PROXY_METRICS_H
#define ES_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proxy_route.h"

/* Why a request (or an attempt) failed. */
enum proxy_cause {
	PROXY_C_BAD_REQUEST,   /* 400: not JSON, no model... */
	PROXY_C_UNAUTHORIZED,  /* 401: no or wrong API key */
	PROXY_C_UNKNOWN_MODEL, /* 404 */
	PROXY_C_NO_WORKER,     /* 503: no ready worker in time */
	PROXY_C_CONNECT,       /* upstream connect refused, failed or timed out */
	PROXY_C_RESET,         /* upstream closed or reset the connection */
	PROXY_C_TIMEOUT,       /* no response head in time */
	PROXY_C_STREAM_IDLE,   /* the response body stalled */
	PROXY_C_STATUS,        /* the worker answered 500, 502, 503 or 504 */
	PROXY_C_PROTOCOL,      /* malformed response */
	PROXY_C_STREAM_CUT,    /* failed after bytes reached the client */
	PROXY_C_CLIENT_GONE,   /* the client closed its connection */
	PROXY_C_SHUTDOWN,      /* the registry stopped */
	PROXY_C_BAD_RESPONSE,  /* a 2xx whose body is not JSON, or a broken event stream */
};
#define PROXY_C_N 14

/* "bad_request", "unauthorized", ... */
const char *proxy_cause_name(enum proxy_cause c);

/* What became of a generation whose worker failed after its first event. */
enum proxy_mig {
	PROXY_MIG_OK,      /* a continuation took over on another worker */
	PROXY_MIG_FAILED,  /* no worker could continue it */
	PROXY_MIG_REFUSED, /* not migratable, or max_migrations reached */
};
#define PROXY_MIG_N 3

/* "ok", "failed", "refused". */
const char *proxy_mig_name(enum proxy_mig o);

#define PROXY_HIST_N 20 /* finite buckets */

/* A latency histogram in seconds, with fixed buckets from 0.5 ms to 10 min. */
struct proxy_hist {
	uint64_t b[PROXY_HIST_N + 1]; /* per bucket (not cumulative); last: +Inf */
	uint64_t count;
	double sum;
};

/* The upper bounds of the finite buckets. */
extern const double proxy_hist_bounds[PROXY_HIST_N];

void proxy_hist_observe(struct proxy_hist *h, double seconds);

struct proxy_stats {
	uint64_t codes[6];             /* finished requests by status: [1..5] for
					  1xx..5xx, [0] for none (client gone) */
	uint64_t errors[PROXY_C_N];    /* failed requests (pool) or attempts (worker) */
	uint64_t retries[PROXY_C_N];   /* attempts retried, by cause (pool) */
	uint64_t routed[PROXY_WHY_N];  /* routing decisions (pool) */
	uint64_t migrations[PROXY_MIG_N]; /* stream migrations (pool) */
	uint64_t ejections;            /* outlier ejections (worker) */
	struct proxy_hist ttft, e2e;
};

/* One row of the rendering: a pool (WORKER NULL) or a worker. */
struct proxy_metrics_row {
	const char *pool;
	const char *worker;            /* NULL: the pool's row */
	const struct proxy_stats *st;
	int64_t inflight;
	int64_t waiting;               /* pools: requests waiting for a worker */
	bool ejected;                  /* workers: ejected now */
	uint64_t prefix_blocks;        /* workers: blocks the prefix table credits */
};

/* Appends every family with HELP and TYPE: the pool rows (NPOOLS), then
 * the worker rows (NWORKERS). */
void proxy_metrics_render(struct buf *out, const struct proxy_metrics_row *pools, size_t npools,
			  const struct proxy_metrics_row *workers, size_t nworkers);

#endif
