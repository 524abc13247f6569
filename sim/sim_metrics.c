/* sim_metrics.c — see sim_metrics.h. */
#include "sim_metrics.h"

#include <stdio.h>
#include <string.h>

static const double ttft_bounds[] = {
	0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
	1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
};
static const double itl_bounds[] = {
	0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
	1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
};
static const double e2e_bounds[] = {
	0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
	40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
};

#define NB(a) ((int)(sizeof(a) / sizeof(a)[0]))

void sim_metrics_init(struct sim_metrics *m)
{
	memset(m, 0, sizeof *m);
	m->ttft.bounds = ttft_bounds;
	m->ttft.n = NB(ttft_bounds);
	m->itl.bounds = itl_bounds;
	m->itl.n = NB(itl_bounds);
	m->e2e.bounds = e2e_bounds;
	m->e2e.n = NB(e2e_bounds);
	m->queue.bounds = e2e_bounds;
	m->queue.n = NB(e2e_bounds);
}

void sim_hist_observe(struct sim_hist *h, double v)
{
	int i = 0;
	while (i < h->n && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* Prometheus' Python client prints floats with repr(): 1.0, 0.25, 1e-05. */
static void put_float(struct buf *b, double v)
{
	char s[64];
	if (v == (double)(long long)v && v > -1e16 && v < 1e16) {
		buf_printf(b, "%lld.0", (long long)v);
		return;
	}
	snprintf(s, sizeof s, "%.17g", v);
	/* Shortest form that reads back the same. */
	for (int prec = 1; prec <= 17; prec++) {
		char t[64];
		snprintf(t, sizeof t, "%.*g", prec, v);
		double back;
		if (sscanf(t, "%lf", &back) == 1 && back == v) {
			memcpy(s, t, sizeof t);
			break;
		}
	}
	buf_puts(b, s);
	if (!strpbrk(s, ".eni"))
		buf_puts(b, ".0");
}

static void put_label(struct buf *b, const char *model)
{
	buf_puts(b, "model_name=\"");
	for (const char *p = model; *p; p++) {
		if (*p == '\\' || *p == '"')
			buf_putc(b, '\\');
		if (*p == '\n') {
			buf_puts(b, "\\n");
			continue;
		}
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

static void header(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct buf *b, const char *name, const char *model,
		   const char *extra, double v)
{
	buf_printf(b, "%s{", name);
	if (extra)
		buf_printf(b, "%s,", extra);
	put_label(b, model);
	buf_puts(b, "} ");
	put_float(b, v);
	buf_putc(b, '\n');
}

static void metric(struct buf *b, const char *name, const char *type,
		   const char *help, const char *model, double v)
{
	header(b, name, type, help);
	sample(b, name, model, NULL, v);
}

static void hist(struct buf *b, const char *name, const char *help,
		 const struct sim_hist *h, const char *model)
{
	header(b, name, "histogram", help);
	uint64_t cum = 0;
	char le[64];
	struct buf tmp = BUF_INIT;
	for (int i = 0; i <= h->n; i++) {
		cum += h->counts[i];
		buf_reset(&tmp);
		if (i < h->n)
			put_float(&tmp, h->bounds[i]);
		snprintf(le, sizeof le, "le=\"%s\"", i < h->n ? tmp.data : "+Inf");
		buf_printf(b, "%s_bucket{%s,", name, le);
		put_label(b, model);
		buf_printf(b, "} %llu.0\n", (unsigned long long)cum);
	}
	buf_free(&tmp);
	buf_printf(b, "%s_count{", name);
	put_label(b, model);
	buf_printf(b, "} %llu.0\n", (unsigned long long)h->count);
	buf_printf(b, "%s_sum{", name);
	put_label(b, model);
	buf_puts(b, "} ");
	put_float(b, h->sum);
	buf_putc(b, '\n');
}

void sim_metrics_render(const struct sim_metrics *m, const struct sim_gauges *g,
			const char *model, struct buf *b)
{
	metric(b, "vllm:num_requests_running", "gauge",
	       "Number of requests in model execution batches.", model, g->running);
	metric(b, "vllm:num_requests_waiting", "gauge",
	       "Number of requests waiting to be processed.", model, g->waiting);
	metric(b, "vllm:kv_cache_usage_perc", "gauge",
	       "KV-cache usage. 1 means 100 percent usage.", model, g->kv_usage);
	metric(b, "vllm:gpu_cache_usage_perc", "gauge",
	       "GPU KV-cache usage. 1 means 100 percent usage (deprecated: "
	       "use vllm:kv_cache_usage_perc).", model, g->kv_usage);
	metric(b, "vllm:prefix_cache_queries_total", "counter",
	       "Prefix cache queries, in terms of number of queried tokens.", model,
	       (double)g->prefix_queries);
	metric(b, "vllm:prefix_cache_hits_total", "counter",
	       "Prefix cache hits, in terms of number of cached tokens.", model,
	       (double)g->prefix_hits);
	metric(b, "vllm:gpu_prefix_cache_queries_total", "counter",
	       "GPU prefix cache queries, in terms of number of queried tokens "
	       "(deprecated).", model, (double)g->prefix_queries);
	metric(b, "vllm:gpu_prefix_cache_hits_total", "counter",
	       "GPU prefix cache hits, in terms of number of cached tokens "
	       "(deprecated).", model, (double)g->prefix_hits);
	metric(b, "vllm:num_preemptions_total", "counter",
	       "Cumulative number of preemption from the engine.", model,
	       (double)g->preemptions);
	metric(b, "vllm:prompt_tokens_total", "counter",
	       "Number of prefill tokens processed.", model, (double)m->prompt_tokens);
	metric(b, "vllm:generation_tokens_total", "counter",
	       "Number of generation tokens processed.", model,
	       (double)m->generation_tokens);
	header(b, "vllm:request_success_total", "counter",
	       "Count of successfully processed requests.");
	static const char *const reasons[3] = {"length", "stop", "abort"};
	for (int i = 0; i < 3; i++) {
		char extra[48];
		snprintf(extra, sizeof extra, "finished_reason=\"%s\"", reasons[i]);
		sample(b, "vllm:request_success_total", model, extra,
		       (double)m->success[i]);
	}
	hist(b, "vllm:time_to_first_token_seconds",
	     "Histogram of time to first token in seconds.", &m->ttft, model);
	hist(b, "vllm:inter_token_latency_seconds",
	     "Histogram of inter-token latency in seconds.", &m->itl, model);
	hist(b, "vllm:e2e_request_latency_seconds",
	     "Histogram of e2e request latency in seconds.", &m->e2e, model);
	hist(b, "vllm:request_queue_time_seconds",
	     "Histogram of time spent in WAITING phase for request.", &m->queue,
	     model);
	header(b, "vllm:cache_config_info", "gauge",
	       "Information of the LLMEngine CacheConfig");
	char extra[256];
	snprintf(extra, sizeof extra,
		 "block_size=\"%d\",enable_prefix_caching=\"%s\",num_gpu_blocks=\"%d\"",
		 g->block_size, g->prefix_caching ? "True" : "False", g->num_gpu_blocks);
	sample(b, "vllm:cache_config_info", model, extra, 1.0);
}
