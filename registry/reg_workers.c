/* reg_workers.c — see reg_workers.h. */
#include "reg_workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_util.h"

static const char *const state_names[REG_W_NSTATES] = {"starting", "ready", "draining", "gone"};

const char *reg_wstate_name(enum reg_wstate s)
{
	return (unsigned)s < REG_W_NSTATES ? state_names[s] : "unknown";
}

int reg_wstate_parse(const char *s, enum reg_wstate *out)
{
	for (int i = 0; i < REG_W_NSTATES; i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum reg_wstate)i;
			return 0;
		}
	}
	return -1;
}

enum reg_wstate reg_wstate_next(enum reg_wstate cur, enum reg_wevent ev)
{
	switch (ev) {
	case REG_WEV_REGISTER_STARTING:
		return cur == REG_W_DRAINING ? REG_W_DRAINING : REG_W_STARTING;
	case REG_WEV_REGISTER_READY:
		return cur == REG_W_DRAINING ? REG_W_DRAINING : REG_W_READY;
	case REG_WEV_HB_STARTING:
		return cur == REG_W_READY ? REG_W_STARTING : cur;
	case REG_WEV_HB_READY:
		return cur == REG_W_STARTING ? REG_W_READY : cur;
	case REG_WEV_DRAIN:
		return cur == REG_W_GONE ? REG_W_GONE : REG_W_DRAINING;
	case REG_WEV_DEREGISTER:
	case REG_WEV_EVICT:
	case REG_WEV_JOB_ENDED:
		return REG_W_GONE;
	}
	return cur;
}

/* ---------------------------------------------------------------- records */

struct reg_worker *reg_worker_new(void)
{
	struct reg_worker *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->load.requests = -1;
	return w;
}

static void worker_strings_free(struct reg_worker *w)
{
	free(w->id);
	free(w->model);
	free(w->url);
	free(w->host);
	free(w->job_id);
	free(w->node);
	free(w->gpus);
	if (w->nodes)
		for (size_t i = 0; i < w->nnodes; i++)
			free(w->nodes[i]);
	free(w->nodes);
}

void reg_worker_free(struct reg_worker *w)
{
	if (!w)
		return;
	worker_strings_free(w);
	free(w->proxy); /* the proxy's data: one flat allocation (proxy.c) */
	free(w);
}

void reg_worker_ref(struct reg_worker *w)
{
	w->refs++;
}

void reg_worker_unref(struct reg_worker *w)
{
	if (w->refs > 0)
		w->refs--;
}

/* ---------------------------------------------------------------- table */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void reg_workers_init(struct reg_workers *t)
{
	memset(t, 0, sizeof *t);
}

void reg_workers_free(struct reg_workers *t)
{
	for (size_t i = 0; i < t->n; i++)
		reg_worker_free(t->v[i]);
	free(t->v);
	free(t->hash);
	memset(t, 0, sizeof *t);
}

void reg_workers_set_hook(struct reg_workers *t, reg_worker_hook_fn fn, void *arg)
{
	t->hook = fn;
	t->hook_arg = arg;
}

static void hash_insert(struct reg_workers *t, struct reg_worker *w)
{
	size_t b = hash_str(w->id) & (t->hcap - 1);
	w->hnext = t->hash[b];
	t->hash[b] = w;
}

static void hash_grow(struct reg_workers *t)
{
	size_t cap = t->hcap ? t->hcap * 2 : 64;
	free(t->hash);
	t->hash = calloc(cap, sizeof *t->hash);
	if (!t->hash)
		abort();
	t->hcap = cap;
	for (size_t i = 0; i < t->n; i++)
		hash_insert(t, t->v[i]);
}

static void hash_remove(struct reg_workers *t, struct reg_worker *w)
{
	struct reg_worker **pp = &t->hash[hash_str(w->id) & (t->hcap - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == w) {
			*pp = w->hnext;
			return;
		}
	}
}

struct reg_worker *reg_workers_find(const struct reg_workers *t, const char *id)
{
	if (!t->hcap)
		return NULL;
	for (struct reg_worker *w = t->hash[hash_str(id) & (t->hcap - 1)]; w; w = w->hnext)
		if (strcmp(w->id, id) == 0)
			return w;
	return NULL;
}

static void set_state(struct reg_workers *t, struct reg_worker *w, enum reg_wstate to,
		      const char *cause, double now, int64_t mono)
{
	enum reg_wstate from = w->state;
	if (from == to)
		return;
	w->state = to;
	if (to == REG_W_GONE) {
		w->gone_at = now;
		w->gone_mono = mono;
		reg_strlcpy(w->gone_cause, cause ? cause : "", sizeof w->gone_cause);
	}
	if (t->hook)
		t->hook(w, from, t->hook_arg);
}

struct reg_worker *reg_workers_put(struct reg_workers *t, struct reg_worker *w,
				   enum reg_wstate want, double now, int64_t mono)
{
	enum reg_wevent ev = want == REG_W_READY ? REG_WEV_REGISTER_READY : REG_WEV_REGISTER_STARTING;
	struct reg_worker *old = reg_workers_find(t, w->id);
	w->registered_at = now;
	w->last_heartbeat = now;
	w->last_hb_mono = mono;
	if (old) {
		/* Update in place: the pointer, proxy data, references and
		 * in-flight count survive a registration. */
		enum reg_wstate from = old->state;
		struct reg_worker *hnext = old->hnext;
		unsigned inflight = old->inflight, refs = old->refs;
		void *proxy = old->proxy;
		worker_strings_free(old);
		*old = *w;
		old->hnext = hnext;
		old->inflight = inflight;
		old->refs = refs;
		old->proxy = proxy;
		old->state = from;
		old->gone_at = 0;
		old->gone_mono = 0;
		old->gone_cause[0] = '\0';
		free(w); /* its strings now belong to OLD */
		enum reg_wstate to = reg_wstate_next(from, ev);
		if (from == REG_W_GONE)
			to = want;
		old->state = from;
		if (to != from) {
			old->state = to;
			if (t->hook)
				t->hook(old, from, t->hook_arg);
		}
		return old;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct reg_worker **v = realloc(t->v, cap * sizeof *v);
		if (!v)
			abort();
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = w;
	if (t->n * 2 > t->hcap)
		hash_grow(t);
	else
		hash_insert(t, w);
	/* A new worker starts as "gone" for the hook: nothing was there. */
	w->state = REG_W_GONE;
	set_state(t, w, want == REG_W_READY ? REG_W_READY : REG_W_STARTING, NULL, now, mono);
	return w;
}

bool reg_workers_apply(struct reg_workers *t, struct reg_worker *w, enum reg_wevent ev,
		       const char *cause, double now, int64_t mono)
{
	enum reg_wstate to = reg_wstate_next(w->state, ev);
	if (to == w->state)
		return false;
	set_state(t, w, to, cause, now, mono);
	return true;
}

struct reg_worker *reg_workers_heartbeat(struct reg_workers *t, const char *id, bool ready,
					 const struct reg_load *load, double now, int64_t mono)
{
	struct reg_worker *w = reg_workers_find(t, id);
	if (!w || w->state == REG_W_GONE)
		return NULL;
	w->last_heartbeat = now;
	w->last_hb_mono = mono;
	if (load)
		w->load = *load;
	reg_workers_apply(t, w, ready ? REG_WEV_HB_READY : REG_WEV_HB_STARTING, NULL, now, mono);
	return w;
}

size_t reg_workers_evict_stale(struct reg_workers *t, int64_t timeout_ms, double now,
			       int64_t mono)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct reg_worker *w = t->v[i];
		if (w->state != REG_W_GONE && mono - w->last_hb_mono > timeout_ms) {
			set_state(t, w, REG_W_GONE, "heartbeat_timeout", now, mono);
			n++;
		}
	}
	return n;
}

size_t reg_workers_grace(struct reg_workers *t, int64_t mono)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct reg_worker *w = t->v[i];
		if (w->state != REG_W_GONE && w->last_hb_mono < mono) {
			w->last_hb_mono = mono;
			n++;
		}
	}
	return n;
}

size_t reg_workers_apply_job(struct reg_workers *t, const char *job_id, const char *node,
			     enum reg_wevent ev, const char *cause, double now, int64_t mono)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct reg_worker *w = t->v[i];
		if (w->state == REG_W_GONE || strcmp(w->job_id, job_id) != 0)
			continue;
		if (node && strcmp(w->node, node) != 0)
			continue;
		if (reg_workers_apply(t, w, ev, cause, now, mono))
			n++;
	}
	return n;
}

static void remove_at(struct reg_workers *t, size_t i)
{
	struct reg_worker *w = t->v[i];
	hash_remove(t, w);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
	t->n--;
	reg_worker_free(w);
}

size_t reg_workers_reap(struct reg_workers *t, int64_t keep_ms, size_t max_gone, int64_t mono)
{
	size_t freed = 0, gone = 0;
	for (size_t i = 0; i < t->n;) {
		struct reg_worker *w = t->v[i];
		if (w->state == REG_W_GONE && w->refs == 0 && mono - w->gone_mono > keep_ms) {
			remove_at(t, i);
			freed++;
			continue;
		}
		if (w->state == REG_W_GONE)
			gone++;
		i++;
	}
	/* Beyond MAX_GONE, drop the oldest gone ones. */
	while (gone > max_gone) {
		size_t oldest = t->n;
		for (size_t i = 0; i < t->n; i++) {
			struct reg_worker *w = t->v[i];
			if (w->state == REG_W_GONE && w->refs == 0 &&
			    (oldest == t->n || w->gone_mono < t->v[oldest]->gone_mono))
				oldest = i;
		}
		if (oldest == t->n)
			break;
		remove_at(t, oldest);
		freed++;
		gone--;
	}
	return freed;
}

size_t reg_workers_ready(const struct reg_workers *t, const char *model,
			 struct reg_worker **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct reg_worker *w = t->v[i];
		if (w->state != REG_W_READY || strcmp(w->model, model) != 0)
			continue;
		if (n < max)
			out[n] = w;
		n++;
	}
	return n;
}

size_t reg_workers_count(const struct reg_workers *t, const char *model, enum reg_wstate state)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->state == state && (!model || strcmp(t->v[i]->model, model) == 0))
			n++;
	return n;
}

static void json_kv_str(struct buf *out, const char *key, const char *v)
{
	buf_printf(out, ",\"%s\":", key);
	if (v)
		buf_json_str(out, v, strlen(v));
	else
		buf_puts(out, "null");
}

void reg_worker_json(const struct reg_worker *w, struct buf *out)
{
	buf_puts(out, "{\"id\":");
	buf_json_str(out, w->id, strlen(w->id));
	json_kv_str(out, "model", w->model);
	json_kv_str(out, "pool", w->model);
	json_kv_str(out, "url", w->url);
	json_kv_str(out, "host", w->host);
	buf_printf(out, ",\"port\":%d", w->port);
	json_kv_str(out, "job_id", w->job_id);
	json_kv_str(out, "node", w->node);
	buf_puts(out, ",\"nodes\":[");
	for (size_t i = 0; i < w->nnodes; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_str(out, w->nodes[i], strlen(w->nodes[i]));
	}
	buf_printf(out, "],\"slice\":%d", w->slice);
	json_kv_str(out, "gpus", w->gpus);
	buf_printf(out, ",\"tp\":%d,\"job_end\":%.0f", w->tp, w->job_end);
	json_kv_str(out, "state", reg_wstate_name(w->state));
	buf_printf(out,
		   ",\"load\":{\"running\":%lld,\"waiting\":%lld,\"kv_usage\":%.4f,"
		   "\"prefix_queries\":%lld,\"prefix_hits\":%lld",
		   (long long)w->load.running, (long long)w->load.waiting, w->load.kv_usage,
		   (long long)w->load.prefix_queries, (long long)w->load.prefix_hits);
	if (w->load.requests >= 0)
		buf_printf(out, ",\"requests\":%lld", (long long)w->load.requests);
	buf_printf(out, "},\"inflight\":%u,\"uid\":%u,\"registered_at\":%.3f,\"last_heartbeat\":%.3f",
		   w->inflight, (unsigned)w->uid, w->registered_at, w->last_heartbeat);
	if (w->state == REG_W_GONE) {
		buf_printf(out, ",\"gone_at\":%.3f", w->gone_at);
		json_kv_str(out, "gone_cause", w->gone_cause);
	}
	buf_putc(out, '}');
}
