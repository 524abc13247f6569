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

bool proxy_route_imbalanced(const struct proxy_cand *c, unsigned n,
			    const struct proxy_route_params *p)
{
	int64_t lo = c[0].load, hi = c[0].load;
	for (unsigned i = 1; i < n; i++) {
		if (c[i].load < lo)
			lo = c[i].load;
		if (c[i].load > hi)
			hi = c[i].load;
	}
	return hi - lo > p->imbalance_abs && (double)hi > p->imbalance_rel * (double)lo;
}

unsigned proxy_route_cache_aware(const struct proxy_cand *c, unsigned n, unsigned nblocks,
				 const struct proxy_route_params *p, uint64_t spread,
				 enum proxy_why *why)
{
	if (n > 1 && proxy_route_imbalanced(c, n, p)) {
		*why = PROXY_WHY_IMBALANCED;
		return proxy_route_least_load(c, n, spread);
	}
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
	if (nblocks && c[best].matched &&
	    (double)c[best].matched >= p->cache_threshold * (double)nblocks) {
		*why = PROXY_WHY_CACHE_HIT;
		return best;
	}
	/* A new prefix: the least loaded; among equals, rendezvous on SPREAD. */
	*why = PROXY_WHY_CACHE_MISS;
	best = 0;
	for (unsigned i = 1; i < n; i++) {
		if (c[i].load < c[best].load ||
		    (c[i].load == c[best].load &&
		     mix(spread ^ c[i].id_hash) > mix(spread ^ c[best].id_hash)))
			best = i;
	}
	return best;
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
}

bool proxy_outlier_failure(struct proxy_outlier *o, int64_t now_ms,
			   const struct proxy_outlier_params *p)
{
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
