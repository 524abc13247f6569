/* sim_metrics.h — elastic-sim's Prometheus metrics, with vLLM's names.
 *
 * Counters and histograms live here; gauges (running, waiting, KV usage)
 * and the prefix-cache counters are read from the scheduler and the cache
 * when the page is rendered. Histogram buckets are vLLM's.
 */
#ifndef ES_SIM_METRICS_H
#define ES_SIM_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "sim_sched.h"

#define SIM_HIST_MAX 32

struct sim_hist {
	const double *bounds;            /* upper bounds, ascending */
	int n;                           /* bounds */
	uint64_t counts[SIM_HIST_MAX + 1]; /* per bucket (not cumulative); last: +Inf */
	uint64_t count;                  /* observations */
	double sum;                      /* their sum */
};

struct sim_metrics {
	uint64_t prompt_tokens;     /* vllm:prompt_tokens_total */
	uint64_t generation_tokens; /* vllm:generation_tokens_total */
	uint64_t success[3];        /* by enum sim_finish: length, stop, abort */
	struct sim_hist ttft;       /* vllm:time_to_first_token_seconds */
	struct sim_hist itl;        /* vllm:inter_token_latency_seconds */
	struct sim_hist e2e;        /* vllm:e2e_request_latency_seconds */
	struct sim_hist queue;      /* vllm:request_queue_time_seconds */
};

/* What the page shows besides the counters above. */
struct sim_gauges {
	unsigned running;
	unsigned waiting;
	double kv_usage;          /* 0..1 */
	uint64_t prefix_queries;  /* tokens */
	uint64_t prefix_hits;     /* tokens */
	uint64_t preemptions;
	int block_size;
	int num_gpu_blocks;
	int max_num_seqs;
	int max_model_len;
	int prefix_caching;       /* --enable-prefix-caching */
};

void sim_metrics_init(struct sim_metrics *m);
void sim_hist_observe(struct sim_hist *h, double v);

/* Appends the Prometheus text page for MODEL (the served name) to OUT. */
void sim_metrics_render(const struct sim_metrics *m, const struct sim_gauges *g,
			const char *model, struct buf *out);

#endif
