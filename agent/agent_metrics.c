/* agent_metrics.c — an engine's load from its /metrics page (agent.h).
 *
 * Names read, per engine:
 *   running   vllm:num_requests_running          sglang:num_running_reqs
 *   waiting   vllm:num_requests_waiting          sglang:num_queue_reqs
 *   KV use    vllm:kv_cache_usage_perc (new),    sglang:token_usage
 *             vllm:gpu_cache_usage_perc (old)
 *   prefix    vllm:prefix_cache_queries_total / vllm:prefix_cache_hits_total
 *             (new), vllm:gpu_prefix_cache_queries_total / ..._hits_total
 *             (old); sglang:prompt_tokens_total / sglang:cached_tokens_total
 *
 * An engine may expose several series of one name: vLLM's data-parallel
 * ranks (label engine), SGLang's dp_rank — these add up (KV use: the
 * highest). SGLang repeats a scheduler gauge per tensor-parallel rank
 * (tp_rank) and per priority bucket next to the total (priority=""): only
 * tp_rank 0 and the total count. The newer vLLM name wins when both are
 * there.
 */
#include "agent.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "prom.h"

struct scrape {
	double running, waiting;
	double kv_new, kv_old, kv_sg;
	double pq_new, ph_new, pq_old, ph_old, sg_prompt, sg_cached;
	unsigned seen; /* bits: what was found */
};

enum {
	S_RUNNING = 1, S_WAITING = 2, S_KV_NEW = 4, S_KV_OLD = 8, S_KV_SG = 16, S_PQ_NEW = 32,
	S_PH_NEW = 64, S_PQ_OLD = 128, S_PH_OLD = 256, S_SG_PROMPT = 512, S_SG_CACHED = 1024,
};

static void add(struct scrape *s, double *acc, unsigned bit, double v)
{
	if (isnan(v) || isinf(v))
		return;
	*acc += v;
	s->seen |= bit;
}

static void max_of(struct scrape *s, double *acc, unsigned bit, double v)
{
	if (isnan(v) || isinf(v))
		return;
	if (!(s->seen & bit) || v > *acc)
		*acc = v;
	s->seen |= bit;
}

static int on_sample(const struct prom_sample *p, void *arg)
{
	struct scrape *s = arg;
	char v[64];
	if (prom_label(p, "tp_rank", v, sizeof v) && strcmp(v, "0") != 0)
		return 0;
	if (prom_label(p, "priority", v, sizeof v) && v[0])
		return 0;
	double x = p->value;
	if (prom_is(p, "vllm:num_requests_running") || prom_is(p, "sglang:num_running_reqs"))
		add(s, &s->running, S_RUNNING, x);
	else if (prom_is(p, "vllm:num_requests_waiting") || prom_is(p, "sglang:num_queue_reqs"))
		add(s, &s->waiting, S_WAITING, x);
	else if (prom_is(p, "vllm:kv_cache_usage_perc"))
		max_of(s, &s->kv_new, S_KV_NEW, x);
	else if (prom_is(p, "vllm:gpu_cache_usage_perc"))
		max_of(s, &s->kv_old, S_KV_OLD, x);
	else if (prom_is(p, "sglang:token_usage"))
		max_of(s, &s->kv_sg, S_KV_SG, x);
	else if (prom_is(p, "vllm:prefix_cache_queries_total"))
		add(s, &s->pq_new, S_PQ_NEW, x);
	else if (prom_is(p, "vllm:prefix_cache_hits_total"))
		add(s, &s->ph_new, S_PH_NEW, x);
	else if (prom_is(p, "vllm:gpu_prefix_cache_queries_total"))
		add(s, &s->pq_old, S_PQ_OLD, x);
	else if (prom_is(p, "vllm:gpu_prefix_cache_hits_total"))
		add(s, &s->ph_old, S_PH_OLD, x);
	else if (prom_is(p, "sglang:prompt_tokens_total"))
		add(s, &s->sg_prompt, S_SG_PROMPT, x);
	else if (prom_is(p, "sglang:cached_tokens_total"))
		add(s, &s->sg_cached, S_SG_CACHED, x);
	return 0;
}

/* V limited to 0..MAX; NaN is 0. */
static double clamp(double v, double max)
{
	return v > 0 ? (v < max ? v : max) : 0;
}

int agent_load_parse(const char *text, size_t len, struct agent_load *l, char *err,
		     size_t errlen)
{
	struct scrape s;
	memset(&s, 0, sizeof s);
	memset(l, 0, sizeof *l);
	if (prom_parse(text, len, on_sample, &s, err, errlen) < 0)
		return -1;
	if (!(s.seen & (S_RUNNING | S_WAITING | S_KV_NEW | S_KV_OLD | S_KV_SG))) {
		snprintf(err, errlen, "no vLLM or SGLang load gauges on the page");
		return -1;
	}
	/* The page is the engine's word, not ours: whatever it says, the load
	 * stays in the ranges the registry accepts (a heartbeat with one value
	 * out of range is refused whole, and every worker of the node would be
	 * evicted). Sums of large values may have become inf. */
	l->running = (int)(clamp(s.running, AGENT_LOAD_MAX_REQS) + 0.5);
	l->waiting = (int)(clamp(s.waiting, AGENT_LOAD_MAX_REQS) + 0.5);
	double kv = s.seen & S_KV_NEW ? s.kv_new : s.seen & S_KV_OLD ? s.kv_old : s.kv_sg;
	l->kv_usage = clamp(kv, 1);
	if (s.seen & (S_PQ_NEW | S_PH_NEW)) {
		l->prefix_queries = s.pq_new;
		l->prefix_hits = s.ph_new;
	} else if (s.seen & (S_PQ_OLD | S_PH_OLD)) {
		l->prefix_queries = s.pq_old;
		l->prefix_hits = s.ph_old;
	} else if (s.seen & S_SG_CACHED) {
		l->prefix_queries = s.sg_prompt;
		l->prefix_hits = s.sg_cached;
	}
	l->prefix_queries = floor(clamp(l->prefix_queries, AGENT_LOAD_MAX_COUNT));
	l->prefix_hits = floor(clamp(l->prefix_hits, AGENT_LOAD_MAX_COUNT));
	l->valid = true;
	return 0;
}
