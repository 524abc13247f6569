/* proxy_route.h — the proxy's routing policies and outlier ejection, as
 * pure functions over a set of candidate workers.
 *
 * The proxy builds one struct proxy_cand per worker that may take the
 * request (ready, not ejected, not tried yet by this request) and asks a
 * policy for an index into that array:
 *
 *   round_robin  the next one in turn
 *   least_load   the smallest load: the proxy's requests in flight to it
 *                plus the requests waiting in the engine (from the last
 *                heartbeat); ties go round in turn
 *   cache_aware  (the default) the worker whose cache holds the longest
 *                prefix of the prompt (proxy_prefix), when that prefix
 *                covers at least cache_threshold of the prompt's blocks;
 *                otherwise the least loaded, equals chosen by a hash of
 *                the whole prompt (so that new conversations spread evenly
 *                and a repeated prompt goes where it went). When the
 *                load is imbalanced (max - min > imbalance_abs and max >
 *                imbalance_rel * min, as in SGLang's router) it is
 *                least_load instead
 *   session      rendezvous hashing of a session key (X-Session-ID or the
 *                "user" field) over the candidates: a session stays on
 *                its worker while that worker is there, and only the
 *                sessions of a worker that leaves move
 *
 * Outlier ejection: a worker that fails `fails` requests in a row is left
 * out of routing for base_ms, doubled for each ejection in a row up to
 * max_ms; a success ends the streak.
 */
#ifndef ES_PROXY_ROUTE_H
#define ES_PROXY_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

struct proxy_cand {
	uint32_t owner;   /* prefix-table owner id (0: not tracked) */
	uint64_t id_hash; /* stable hash of the worker's id */
	int64_t load;     /* in flight from the proxy + waiting in the engine */
	unsigned matched; /* cache_aware input: leading blocks of this prompt it holds */
};

struct proxy_route_params {
	int64_t imbalance_abs;  /* load difference that may count as imbalance */
	double imbalance_rel;   /* and the ratio max / min beyond which it does */
	double cache_threshold; /* fraction of the prompt's blocks a match must cover */
};

/* Why a worker was chosen (a metrics label). */
enum proxy_why {
	PROXY_WHY_ROUND_ROBIN,
	PROXY_WHY_LEAST_LOAD,
	PROXY_WHY_CACHE_HIT,   /* cache_aware: the longest cached prefix */
	PROXY_WHY_CACHE_MISS,  /* cache_aware: no match good enough: least load */
	PROXY_WHY_IMBALANCED,  /* cache_aware: load imbalanced: least load */
	PROXY_WHY_SESSION,
};
#define PROXY_WHY_N 6

/* "round_robin", "least_load", "cache_hit", "cache_miss", "imbalanced", "session". */
const char *proxy_why_name(enum proxy_why w);

void proxy_route_params_default(struct proxy_route_params *p);

/* Each returns an index below N (N must be at least 1). */
unsigned proxy_route_round_robin(unsigned n, uint64_t *next);
/* SPREAD picks among equals (e.g. a request counter). */
unsigned proxy_route_least_load(const struct proxy_cand *c, unsigned n, uint64_t spread);
unsigned proxy_route_session(const struct proxy_cand *c, unsigned n, uint64_t key);
bool proxy_route_imbalanced(const struct proxy_cand *c, unsigned n,
			    const struct proxy_route_params *p);
/* NBLOCKS: the prompt's block hashes; c[i].matched filled in by
 * proxy_prefix_match; SPREAD: a hash of the whole prompt (or a counter).
 * Sets *WHY. */
unsigned proxy_route_cache_aware(const struct proxy_cand *c, unsigned n, unsigned nblocks,
				 const struct proxy_route_params *p, uint64_t spread,
				 enum proxy_why *why);

/* ---------------------------------------------------------------- outliers */

struct proxy_outlier {
	unsigned fails;     /* failures in a row */
	unsigned ejections; /* ejections in a row (the back-off's exponent) */
	int64_t until_ms;   /* ejected until this monotonic time; 0: never was */
};

struct proxy_outlier_params {
	unsigned fails;  /* failures in a row that eject (0: never eject) */
	int64_t base_ms; /* first ejection */
	int64_t max_ms;  /* longest ejection */
};

bool proxy_outlier_ejected(const struct proxy_outlier *o, int64_t now_ms);
void proxy_outlier_success(struct proxy_outlier *o);
/* Counts a failure at NOW_MS; returns true when it ejects the worker (a
 * worker already ejected is not ejected again). */
bool proxy_outlier_failure(struct proxy_outlier *o, int64_t now_ms,
			   const struct proxy_outlier_params *p);

#endif
