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
 *                covers at least cache_threshold of the prompt's blocks
 *                and goes beyond the part of the prompt that different
 *                prompts share (a system prompt every conversation starts
 *                with: a prefix the table has seen continued in two or
 *                more ways); otherwise, a new conversation, the least
 *                loaded worker, equals in turn (a counter of new
 *                conversations, so that they spread evenly even when
 *                nothing is in flight). A shared prefix is cheap to
 *                compute once on every worker; following it would send
 *                every new conversation to the first worker that computed
 *                it. (SGLang's router sends them to the worker with the
 *                smallest tree; the table's counts of blocks per worker
 *                keep what engines evicted long ago, and would starve a
 *                worker whose past prompts were longer.) When
 *                the hit's worker is imbalanced against the least loaded
 *                (more than imbalance_abs beyond it, or than the mean
 *                load when that is smaller, and more than imbalance_rel
 *                times it, as in SGLang's router) it is least_load
 *                instead: with 16 requests in flight on 4 workers
 *                imbalance_abs (16) alone could never be exceeded
 *   session      rendezvous hashing of a session key (X-Session-ID or the
 *                "user" field) over the candidates: a session stays on
 *                its worker while that worker is there, and only the
 *                sessions of a worker that leaves move
 *
 * Outlier ejection: a worker that fails `fails` requests in a row is left
 * out of routing for base_ms, doubled for each ejection in a row up to
 * max_ms; a success ends the streak.
 *
 * Each worker also has a failure score, a moving average of its recent
 * outcomes (1/16 weight per outcome, failures while ejected included):
 * retries go only to the workers whose score is within
 * PROXY_RETRY_SLACK of the best one. The streak alone cannot tell a
 * healthy worker from a flaky one (a flaky worker's streak is 0 after
 * each success) nor from one just back from an ejection, and with 3
 * attempts and 3 bad workers a retry that picks by the streak can spend
 * every attempt on bad ones while a healthy worker is there.
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
/* Whether the busiest of the N candidates is imbalanced against the least
 * loaded: more than imbalance_abs beyond it (or the mean load per
 * candidate, rounded up and at least 2, when that is smaller) and more
 * than imbalance_rel times it. */
bool proxy_route_imbalanced(const struct proxy_cand *c, unsigned n,
			    const struct proxy_route_params *p);
/* The same for candidate K instead of the busiest. */
bool proxy_route_overloaded(const struct proxy_cand *c, unsigned n, unsigned k,
			    const struct proxy_route_params *p);
/* NBLOCKS: the prompt's block hashes; c[i].matched filled in by
 * proxy_prefix_match, SHARED its result (the leading blocks different
 * prompts share); SPREAD: a hash of the whole prompt (or a counter), for
 * ties among hits; *NEXT_NEW: the counter of new conversations (the
 * pool's), advanced by each. Sets *WHY. */
unsigned proxy_route_cache_aware(const struct proxy_cand *c, unsigned n, unsigned nblocks,
				 unsigned shared, const struct proxy_route_params *p,
				 uint64_t spread, uint64_t *next_new, enum proxy_why *why);

/* ---------------------------------------------------------------- outliers */

#define PROXY_SCORE_ONE 65536u                 /* a failure score of 100 % */
#define PROXY_RETRY_SLACK (PROXY_SCORE_ONE / 64) /* retries: at most 1.6 % worse than the best */

struct proxy_outlier {
	unsigned fails;     /* failures in a row */
	unsigned ejections; /* ejections in a row (the back-off's exponent) */
	int64_t until_ms;   /* ejected until this monotonic time; 0: never was */
	uint32_t score;     /* recent failure rate, 0..PROXY_SCORE_ONE (moving average) */
};

struct proxy_outlier_params {
	unsigned fails;  /* failures in a row that eject (0: never eject) */
	int64_t base_ms; /* first ejection */
	int64_t max_ms;  /* longest ejection */
};

bool proxy_outlier_ejected(const struct proxy_outlier *o, int64_t now_ms);
/* Counts a success: ends the streak and the back-off, lowers the score. */
void proxy_outlier_success(struct proxy_outlier *o);
/* Counts a failure at NOW_MS; returns true when it ejects the worker (a
 * worker already ejected is not ejected again). */
bool proxy_outlier_failure(struct proxy_outlier *o, int64_t now_ms,
			   const struct proxy_outlier_params *p);

#endif
