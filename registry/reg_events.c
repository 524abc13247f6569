/* reg_events.c — see reg_events.h. */
#include "reg_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "reg_util.h"

void reg_events_init(struct reg_events *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->next_seq = 1;
}

const struct reg_event *reg_events_add(struct reg_events *ev, double now, const char *pool,
				       const char *fmt, ...)
{
	struct reg_event *e = &ev->ring[ev->next_seq % REG_EVENTS_MAX];
	va_list ap;
	e->seq = ev->next_seq++;
	e->time = now;
	reg_strlcpy(e->pool, pool ? pool : "", sizeof e->pool);
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
	if (e->pool[0])
		log_info("%s: %s", e->pool, e->text);
	else
		log_info("%s", e->text);
	return e;
}

static const struct reg_event *ev_at(const struct reg_events *ev, uint64_t seq)
{
	const struct reg_event *e = &ev->ring[seq % REG_EVENTS_MAX];
	return e->seq == seq ? e : NULL;
}

void reg_events_json(const struct reg_events *ev, uint64_t after, size_t limit,
		     const char *pool, struct buf *out)
{
	uint64_t last = ev->next_seq - 1;
	uint64_t first = last >= REG_EVENTS_MAX ? last - REG_EVENTS_MAX + 1 : 1;
	if (first <= after)
		first = after + 1;
	/* Walk back from the newest to find where LIMIT matching events start. */
	uint64_t start = last + 1;
	size_t n = 0;
	for (uint64_t s = last; s >= first && s > 0 && n < limit; s--) {
		const struct reg_event *e = ev_at(ev, s);
		if (e && (!pool || strcmp(e->pool, pool) == 0)) {
			start = s;
			n++;
		}
	}
	buf_putc(out, '[');
	int comma = 0;
	for (uint64_t s = start; s <= last && n > 0; s++) {
		const struct reg_event *e = ev_at(ev, s);
		if (!e || (pool && strcmp(e->pool, pool) != 0))
			continue;
		buf_printf(out, "%s{\"seq\":%llu,\"time\":%.3f,\"pool\":", comma ? "," : "",
			   (unsigned long long)e->seq, e->time);
		buf_json_str(out, e->pool, strlen(e->pool));
		buf_puts(out, ",\"text\":");
		buf_json_str(out, e->text, strlen(e->text));
		buf_putc(out, '}');
		comma = 1;
		n--;
	}
	buf_putc(out, ']');
}

const struct reg_event *reg_events_last(const struct reg_events *ev, const char *pool)
{
	uint64_t last = ev->next_seq - 1;
	for (uint64_t s = last; s > 0 && last - s < REG_EVENTS_MAX; s--) {
		const struct reg_event *e = ev_at(ev, s);
		if (!e)
			break;
		if (strcmp(e->pool, pool) == 0)
			return e;
	}
	return NULL;
}
