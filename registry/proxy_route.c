/* proxy_route.c — see proxy_route.h. */
#include "proxy_route.h"

static const char *const why_names[PROXY_WHY_N] = {
	"round_robin", "least_load", "cache_hit", "cache_miss", "imbalanced", "session",
};

const char *proxy_why_name(enum proxy_why w)
{
	return (unsigned)w < PROXY_WHY_N ? why_names[w] : "unknown";
}

void proxy_route_params_default(struct proxy_route_params *p)
{
	p->imbalance_abs = 16;
	p->imbalance_rel = 1.5;
	p->cache_threshold = 0.5;
}

/* splitmix64's finalizer: rendezvous scores and tie-breaks. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

unsigned proxy_route_round_robin(unsigned n, uint64_t *next)
{
	return (unsigned)((*next)++ % n);
}

unsigned proxy_route_least_load(const struct proxy_cand *c, unsigned n, uint64_t spread)
{
	unsigned start = (unsigned)(spread % n), best = start;
	for (unsigned k = 1; k < n; k++) {
		unsigned i = (start + k) % n;
		if (c[i].load < c[best].load)
			best = i;
	}
	return best;
}

unsigned proxy_route_session(const struct proxy_cand *c, unsigned n, uint64_t key)
{
	unsigned best = 0;
	uint64_t top = mix(key ^ c[0].id_hash);
	for (unsigned i = 1; i < n; i++) {
		uint64_t s = mix(key ^ c[i].id_hash);
		if (s > top) {
			top = s;
			best = i;
		}
	}
	return best;
}

/* Whether LOAD is imbalanced against the least load LO of the N
 * candidates whose loads sum to SUM: more than imbalance_abs beyond LO,
 * or beyond the mean load (rounded up, at least 2) when that is smaller,
 * so that the bound means something with few requests in flight; and
 * more than imbalance_rel times LO. */
static bool over(int64_t load, int64_t lo, int64_t sum, unsigned n,
		 const struct proxy_route_params *p)
{
	int64_t abs = p->imbalance_abs, mean = sum > 0 ? (sum + n - 1) / n : 0;
	if (mean < 2)
		mean = 2;
	if (mean < abs)
		abs = mean;
	return load - lo > abs && (double)load > p->imbalance_rel * (double)lo;
}

bool proxy_route_imbalanced(const struct proxy_cand *c, unsigned n,
			    const struct proxy_route_params *p)
{
	int64_t lo = c[0].load, hi = c[0].load, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		if (c[i].load < lo)
			lo = c[i].load;
		if (c[i].load > hi)
			hi = c[i].load;
		sum += c[i].load > 0 ? c[i].load : 0;
	}
	return over(hi, lo, sum, n, p);
}

bool proxy_route_overloaded(const struct proxy_cand *c, unsigned n, unsigned k,
			    const struct proxy_route_params *p)
{
	int64_t lo = c[0].load, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		if (c[i].load < lo)
			lo = c[i].load;
		sum += c[i].load > 0 ? c[i].load : 0;
	}
	return over(c[k].load, lo, sum, n, p);
}

unsigned proxy_route_cache_aware(const struct proxy_cand *c, unsigned n, unsigned nblocks,
				 unsigned shared, const struct proxy_route_params *p,
				 uint64_t spread, uint64_t *next_new, enum proxy_why *why)
{
	/* The longest match; among equals the least loaded, then a hash. */
	unsigned best = 0;
	for (unsigned i = 1; i < n; i++) {
		if (c[i].matched > c[best].matched ||
		    (c[i].matched == c[best].matched &&
		     (c[i].load < c[best].load ||
		      (c[i].load == c[best].load &&
		       mix(spread ^ c[i].id_hash) > mix(spread ^ c[best].id_hash)))))
			best = i;
	}
	if (nblocks && c[best].matched > shared &&
	    (double)c[best].matched >= p->cache_threshold * (double)nblocks) {
		if (n > 1 && proxy_route_overloaded(c, n, best, p)) {
			*why = PROXY_WHY_IMBALANCED;
			return proxy_route_least_load(c, n, spread);
		}
		*why = PROXY_WHY_CACHE_HIT;
		return best;
	}
	/* A new prefix, or only one that many prompts share: the least loaded,
	 * equals in turn. */
	*why = PROXY_WHY_CACHE_MISS;
	return proxy_route_least_load(c, n, (*next_new)++);
}

/* ---------------------------------------------------------------- outliers */

bool proxy_outlier_ejected(const struct proxy_outlier *o, int64_t now_ms)
{
	return o->until_ms > now_ms;
}

void proxy_outlier_success(struct proxy_outlier *o)
{
	o->fails = 0;
	o->ejections = 0;
	o->score -= (o->score + 15) / 16; /* reaches 0 */
}

bool proxy_outlier_failure(struct proxy_outlier *o, int64_t now_ms,
			   const struct proxy_outlier_params *p)
{
	o->score += (PROXY_SCORE_ONE - o->score + 15) / 16;
	if (o->score > PROXY_SCORE_ONE)
		o->score = PROXY_SCORE_ONE;
	if (proxy_outlier_ejected(o, now_ms))
		return false; /* requests sent before the ejection */
	o->fails++;
	if (!p->fails || o->fails < p->fails)
		return false;
	int64_t t = p->base_ms;
	for (unsigned k = 0; k < o->ejections && t < p->max_ms; k++)
		t *= 2;
	if (t > p->max_ms)
		t = p->max_ms;
	o->until_ms = now_ms + t;
	o->ejections++;
	o->fails = 0;
	return true;
}
