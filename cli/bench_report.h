/* bench_report.h — what elasticctl bench prints and writes.
 *
 * The metrics are those of `vllm bench serve`, over the requests that
 * succeeded: request throughput = completed / duration; output token
 * throughput = output tokens / duration; total token throughput = (input +
 * output tokens) / duration; TTFT, TPOT, ITL (every gap of every request
 * pooled) and E2E latency as mean, median, p90 and p99 (bench_stats.h).
 * Failures are grouped by message, in the order they first happened.
 * Requests per worker come from the X-Elastic-Worker response header that
 * the elastic-serve proxy sets; imbalance is the largest count over the mean.
 */
#ifndef ES_BENCH_REPORT_H
#define ES_BENCH_REPORT_H

#include <stdio.h>

#include "bench_run.h"
#include "bench_stats.h"

#define BENCH_ERRORS_MAX 5    /* distinct failure messages kept */
#define BENCH_FAILURES_MAX 20 /* failed requests listed in the JSON */

/* Requests one worker answered. */
struct bench_worker_count {
	char *name; /* the X-Elastic-Worker value */
	size_t n;   /* requests (successful or not) */
};

/* One failed request, for the JSON (times in seconds since the start). */
struct bench_failure {
	double t_start;       /* when it was sent */
	double t_end;         /* when it failed */
	const char *worker;   /* X-Elastic-Worker, or NULL (points into the result) */
	const char *message;  /* why (points into the result) */
};

/* A failure message and how often it happened. */
struct bench_error_count {
	char *message; /* the first request's message */
	size_t n;      /* requests that failed with it */
};

struct bench_metrics {
	size_t requests;           /* in the dataset */
	size_t completed;          /* succeeded */
	size_t failed;             /* sent and failed */
	size_t skipped;            /* never sent (an earlier turn failed) */
	double duration;           /* seconds */
	long total_input;          /* prompt tokens of completed requests */
	long total_output;         /* output tokens of completed requests */
	bool usage_all;            /* every count came from the server's usage */
	double request_throughput; /* completed / s */
	double output_throughput;  /* output tokens / s */
	double total_throughput;   /* (input + output) tokens / s */
	struct bench_summary ttft, tpot, itl, e2el; /* milliseconds */
	size_t peak_inflight;      /* most requests in flight */
	struct bench_worker_count *workers; /* in first-seen order */
	size_t nworkers;
	double imbalance;          /* max / mean requests per worker; 0: no header */
	struct bench_error_count errors[BENCH_ERRORS_MAX];
	size_t nerrors;            /* distinct messages kept */
	size_t more_errors;        /* failures whose message was not kept */
	struct bench_failure failures[BENCH_FAILURES_MAX]; /* the first ones, in order */
	size_t nfailures;
	double start_time;         /* the run's start, Unix seconds */
};

/* What the report says about the run's setup. */
struct bench_info {
	const struct bench_cfg *cfg;
	const char *dataset;       /* "random", "multiturn" or the file */
	unsigned conversations;    /* multiturn */
	unsigned turns;            /* multiturn */
};

/* Computes M from R; M points into R (failure messages), which must live
 * as long. */
void bench_metrics_compute(struct bench_result *r, struct bench_metrics *m);
void bench_metrics_free(struct bench_metrics *m);

/* The table, as vLLM prints it, plus failures and per-worker counts. */
void bench_report_print(FILE *fp, const struct bench_info *info, const struct bench_metrics *m);

/* Writes the metrics and the setup as a JSON object to PATH ("-": stdout).
 * Returns 0, or -1 with ERR. */
int bench_report_json(const char *path, const struct bench_info *info,
		      const struct bench_metrics *m, char *err, size_t errlen);

#endif
