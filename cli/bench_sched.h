/* bench_sched.h — when elasticctl bench starts each request.
 *
 * Pure bookkeeping, no I/O and no clock: the runner asks what to start and
 * tells when a request ended, with times in seconds since the run began.
 *
 * Work comes in UNITS of TURNS requests each: a random or file dataset is
 * N units of one turn, a multiturn dataset N conversations of T turns.
 * Request ids are UNIT * TURNS + TURN.
 *
 * Arrivals. Units arrive as `vllm bench serve` sends requests: the first at
 * time 0, each next one an exponential interval later (a Poisson process of
 * RATE per second), drawn from the seed; RATE <= 0 or infinite: all at
 * time 0. A unit's first turn is then ready; turn T+1 of a unit becomes
 * ready when turn T ends well (a conversation continues with the answer it
 * got). When a turn fails, the unit's later turns are never sent: they are
 * reported as skipped.
 *
 * Concurrency. Ready requests start in the order they became ready, while
 * fewer than MAX_CONCURRENCY are in flight (0: no limit). As with vLLM's
 * semaphore, arrivals are not delayed by the limit: a request that waits
 * for a slot keeps its arrival time, and the wait counts in its latency only
 * if the runner starts the clock at arrival (it does not: like vLLM it
 * starts it when the request is sent).
 */
#ifndef ES_BENCH_SCHED_H
#define ES_BENCH_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_sched {
	size_t units;        /* units of work */
	unsigned turns;      /* requests per unit */
	unsigned max_conc;   /* most requests in flight; 0: no limit */
	double *arrival;     /* per unit: when it arrives (s) */
	size_t next_unit;    /* the next unit to arrive */
	size_t *ready;       /* ring of ready request ids */
	size_t rhead, rlen;  /* ring position and length (capacity: units) */
	size_t inflight;     /* started, not ended */
	size_t peak;         /* most in flight at once */
	size_t started;      /* requests started */
	size_t ended;        /* requests ended (well or not) */
	size_t skipped;      /* requests never sent: an earlier turn failed */
};

/* RATE: units per second (<= 0 or inf: all at once); SEED draws the
 * intervals. */
void bench_sched_init(struct bench_sched *s, size_t units, unsigned turns, double rate,
		      unsigned max_conc, uint64_t seed);
void bench_sched_free(struct bench_sched *s);

/* When the next unit arrives (s), or INFINITY when all have. */
double bench_sched_next_arrival(const struct bench_sched *s);

/* Makes every unit that has arrived by NOW ready. */
void bench_sched_arrive(struct bench_sched *s, double now);

/* The id of a request to start now, or -1 when none may start. Counts it
 * in flight. */
long bench_sched_pop(struct bench_sched *s);

/* Request ID ended, well (OK) or not. */
void bench_sched_done(struct bench_sched *s, size_t id, bool ok);

/* Every request has ended or been skipped. */
bool bench_sched_finished(const struct bench_sched *s);

#endif
