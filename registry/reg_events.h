/* reg_events.h — the registry's recent events: a bounded ring of short
 * lines ("job 1234 submitted", "worker 1234.n1.0 evicted: no heartbeat for
 * 3.0 s") that `elasticctl status` and `top` show, each also logged.
 */
#ifndef ES_REG_EVENTS_H
#define ES_REG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define REG_EVENTS_MAX 512    /* events kept */
#define REG_EVENT_TEXT 240    /* bytes of text kept per event */

struct reg_event {
	uint64_t seq;               /* from 1, increasing */
	double time;                /* Unix seconds */
	char pool[130];             /* the pool concerned, "" if none */
	char text[REG_EVENT_TEXT];  /* what happened, git-style */
};

struct reg_events {
	struct reg_event ring[REG_EVENTS_MAX]; /* the last REG_EVENTS_MAX events */
	uint64_t next_seq;                     /* seq of the next event */
};

void reg_events_init(struct reg_events *ev);

/* Records an event at time NOW for POOL (NULL: none) and logs it at info
 * level. Returns the event. */
const struct reg_event *reg_events_add(struct reg_events *ev, double now, const char *pool,
				       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends a JSON array of the events with seq > AFTER, oldest first, at most
 * LIMIT of them (the newest ones when there are more). POOL, when not NULL,
 * keeps only that pool's events. */
void reg_events_json(const struct reg_events *ev, uint64_t after, size_t limit,
		     const char *pool, struct buf *out);

/* The newest event of POOL, or NULL. */
const struct reg_event *reg_events_last(const struct reg_events *ev, const char *pool);

#endif
