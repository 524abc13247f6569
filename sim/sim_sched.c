/* sim_sched.c — see sim_sched.h. */
#include "sim_sched.h"

#include <stddef.h>

static void list_append(struct sim_list *l, struct sim_seq *q)
{
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	l->n++;
}

static void list_remove(struct sim_list *l, struct sim_seq *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	q->prev = q->next = NULL;
	l->n--;
}

void sim_sched_init(struct sim_sched *s, struct sim_kv *kv, unsigned max_seqs,
		    const struct sim_timing *t, const struct sim_sched_ops *ops,
		    void *arg)
{
	*s = (struct sim_sched){0};
	s->kv = kv;
	s->max_seqs = max_seqs ? max_seqs : 1;
	s->t = *t;
	s->ops = *ops;
	s->arg = arg;
}

static uint64_t delay_us(const struct sim_sched *s, double us)
{
	double d = us * s->t.time_scale;
	if (d <= 0)
		return 0;
	if (d > 1e15)
		d = 1e15;
	return (uint64_t)d;
}

static uint64_t itl_us(const struct sim_sched *s)
{
	return delay_us(s, s->t.itl_ms * 1000.0 +
				   s->t.itl_us_per_seq * (double)s->running.n);
}

static void seq_finish(struct sim_sched *s, struct sim_seq *q,
		       enum sim_finish why, uint64_t now)
{
	if (q->state == SIM_SEQ_RUNNING) {
		list_remove(&s->running, q);
		sim_kv_release(s->kv, &q->kv);
	} else if (q->state == SIM_SEQ_WAITING) {
		list_remove(&s->waiting, q);
	}
	if (q->aborted)
		s->naborted--;
	q->state = SIM_SEQ_DONE;
	s->ops.finish(q, why, now, s->arg);
}

/* Admits from the head of the waiting queue. Returns how many. */
static int admit(struct sim_sched *s, uint64_t now)
{
	int n = 0;
	while (s->running.n < s->max_seqs && s->waiting.head) {
		struct sim_seq *q = s->waiting.head;
		if (q->aborted)
			break; /* handled by the sweep */
		int cached = sim_kv_alloc(s->kv, &q->kv, q->hashes, q->nhash,
					  q->nprompt, q->nprompt + q->nout);
		if (cached < 0)
			break;
		list_remove(&s->waiting, q);
		list_append(&s->running, q);
		q->state = SIM_SEQ_RUNNING;
		q->cached = cached;
		q->t_admit = now;
		q->t_next = now + delay_us(s, s->t.ttft_ms * 1000.0 +
						      s->t.prefill_us_per_token *
							      (double)(q->nprompt - (size_t)cached));
		n++;
	}
	return n;
}

/* Finishes the aborted sequences. */
static int sweep(struct sim_sched *s, uint64_t now)
{
	int n = 0;
	struct sim_list *lists[2] = {&s->running, &s->waiting};
	for (int k = 0; k < 2 && s->naborted; k++) {
		struct sim_seq *q = lists[k]->head, *next;
		for (; q; q = next) {
			next = q->next;
			if (q->aborted) {
				seq_finish(s, q, SIM_FINISH_ABORT, now);
				n++;
				/* The callback may have aborted others: restart. */
				next = lists[k]->head;
			}
		}
	}
	return n;
}

uint64_t sim_sched_next(const struct sim_sched *s)
{
	uint64_t next = UINT64_MAX;
	if (s->paused)
		return next;
	for (struct sim_seq *q = s->running.head; q; q = q->next)
		if (q->t_next < next)
			next = q->t_next;
	return next;
}

uint64_t sim_sched_advance(struct sim_sched *s, uint64_t now)
{
	if (s->in_advance || s->paused)
		return sim_sched_next(s);
	s->in_advance = true;
	bool progress = true;
	while (progress) {
		progress = false;
		if (s->naborted && sweep(s, now))
			progress = true;
		if (admit(s, now))
			progress = true;
		struct sim_seq *q = s->running.head, *next;
		for (; q; q = next) {
			next = q->next;
			if (q->aborted || q->t_next > now)
				continue;
			uint32_t idx = q->ngen++;
			if (idx == 0)
				q->t_first = now;
			s->ops.token(q, idx, now, s->arg);
			if (q->ngen >= q->nout && !q->aborted) {
				/* The list may have changed only by abort flags. */
				next = q->next;
				seq_finish(s, q, q->reason, now);
				progress = true;
				continue;
			}
			/* A token emitted late (the timer fired after its time)
			 * delays the next one: the step took that long. */
			uint64_t base = q->t_next;
			if (s->t.time_scale > 0 && base < now)
				base = now;
			q->t_next = base + itl_us(s);
			if (q->t_next <= now)
				progress = true;
			next = q->next;
		}
		if (s->naborted)
			progress = true;
	}
	s->in_advance = false;
	return sim_sched_next(s);
}

void sim_sched_submit(struct sim_sched *s, struct sim_seq *q, uint64_t now)
{
	q->state = SIM_SEQ_WAITING;
	q->aborted = false;
	q->ngen = 0;
	q->cached = 0;
	q->t_submit = now;
	q->t_first = 0;
	q->kv = (struct sim_kv_seq){0};
	if (q->nout == 0)
		q->nout = 1;
	list_append(&s->waiting, q);
	sim_sched_advance(s, now);
}

void sim_sched_abort(struct sim_sched *s, struct sim_seq *q, uint64_t now)
{
	if (q->state != SIM_SEQ_WAITING && q->state != SIM_SEQ_RUNNING)
		return;
	if (q->aborted)
		return;
	q->aborted = true;
	s->naborted++;
	if (!s->in_advance) {
		/* Only the sweep: admissions wait for the next advance. */
		s->in_advance = true;
		sweep(s, now);
		s->in_advance = false;
	}
}

void sim_sched_pause(struct sim_sched *s, bool paused)
{
	s->paused = paused;
}
