/* bench_sched.c — see bench_sched.h. */
#include "bench_sched.h"

#include <math.h>
#include <stdlib.h>

#include "bench_data.h"

void bench_sched_init(struct bench_sched *s, size_t units, unsigned turns, double rate,
		      unsigned max_conc, uint64_t seed)
{
	*s = (struct bench_sched){.units = units, .turns = turns ? turns : 1, .max_conc = max_conc};
	s->arrival = calloc(units ? units : 1, sizeof *s->arrival);
	s->ready = calloc(units ? units : 1, sizeof *s->ready);
	if (!s->arrival || !s->ready)
		abort();
	struct bench_rng rng;
	/* Its own stream: the dataset's draws do not shift the arrivals. */
	bench_rng_seed(&rng, seed ^ 0x6172726976616cULL);
	double t = 0;
	bool poisson = rate > 0 && isfinite(rate);
	for (size_t i = 0; i < units; i++) {
		s->arrival[i] = t;
		if (poisson)
			t += bench_rng_exp(&rng, rate);
	}
}

void bench_sched_free(struct bench_sched *s)
{
	free(s->arrival);
	free(s->ready);
	*s = (struct bench_sched){0};
}

double bench_sched_next_arrival(const struct bench_sched *s)
{
	return s->next_unit < s->units ? s->arrival[s->next_unit] : INFINITY;
}

/* At most one request per unit is ready or in flight at a time, so the
 * ring never holds more than UNITS ids. */
static void push(struct bench_sched *s, size_t id)
{
	s->ready[(s->rhead + s->rlen) % s->units] = id;
	s->rlen++;
}

void bench_sched_arrive(struct bench_sched *s, double now)
{
	while (s->next_unit < s->units && s->arrival[s->next_unit] <= now) {
		push(s, s->next_unit * s->turns);
		s->next_unit++;
	}
}

long bench_sched_pop(struct bench_sched *s)
{
	if (s->rlen == 0 || (s->max_conc && s->inflight >= s->max_conc))
		return -1;
	size_t id = s->ready[s->rhead];
	s->rhead = (s->rhead + 1) % s->units;
	s->rlen--;
	s->inflight++;
	s->started++;
	if (s->inflight > s->peak)
		s->peak = s->inflight;
	return (long)id;
}

void bench_sched_done(struct bench_sched *s, size_t id, bool ok)
{
	s->inflight--;
	s->ended++;
	size_t turn = id % s->turns;
	if (turn + 1 < s->turns) {
		if (ok)
			push(s, id + 1);
		else
			s->skipped += s->turns - turn - 1;
	}
}

bool bench_sched_finished(const struct bench_sched *s)
{
	return s->ended + s->skipped == s->units * s->turns;
}
