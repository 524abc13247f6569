/* bench_run.h — elasticctl bench's load generator: one libevent loop and
 * lib/httpc, any number of requests in flight.
 *
 * Timing, per request, on CLOCK_MONOTONIC, as `vllm bench serve` measures:
 *   start   when the request is handed to the HTTP client (after any wait
 *           for a --max-concurrency slot);
 *   TTFT    start -> the first streamed chunk that carries output text;
 *   ITL     the gaps between successive chunks that carry output text;
 *   E2E     start -> the end of the response;
 *   TPOT    (E2E - TTFT) / (output tokens - 1), for outputs of 2 or more.
 * Without streaming only E2E is measured.
 *
 * A request succeeds on HTTP 200 with a well-formed answer: a JSON body
 * with choices, or an event stream that ends with [DONE] (or a chunk with a
 * finish_reason), carried some output and held no error event. Anything
 * else fails with a message ("HTTP 503: no ready worker", "connect
 * 127.0.0.1:8000: Connection refused", "stream ended before [DONE]").
 *
 * Token counts: usage.prompt_tokens and usage.completion_tokens when the
 * server sends them (streams ask for them with stream_options.include_usage);
 * otherwise the prompt's words and, for output, the streamed chunks that
 * carried text (one token each, as vLLM streams them) or the answer's words.
 */
#ifndef ES_BENCH_RUN_H
#define ES_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_data.h"
#include "bench_stats.h"

/* What to run. */
struct bench_cfg {
	const char *base_url;     /* as given, for the report */
	const char *url;          /* the endpoint's full URL */
	const char *model;        /* "model" of each request */
	const char *api_key;      /* sent as "Authorization: Bearer KEY"; NULL: none */
	bool chat;                /* /v1/chat/completions, else /v1/completions */
	bool stream;              /* "stream": true */
	bool ignore_eos;          /* "ignore_eos": true (vLLM's extension) */
	double request_rate;      /* arrivals per second; <= 0 or inf: all at once */
	unsigned max_concurrency; /* requests in flight at most; 0: no limit */
	uint64_t seed;            /* arrivals and dataset */
	const char *const *headers; /* extra "Name: value" headers */
	size_t nheaders;
	unsigned timeout_ms;      /* per request, whole exchange */
	bool progress;            /* a progress line on stderr */
};

/* One request, as it went. Times in seconds since the run began. */
struct bench_rec {
	bool started;             /* sent (false: skipped, an earlier turn failed) */
	bool ok;                  /* succeeded */
	int status;               /* HTTP status; 0 when none arrived */
	double t_start;           /* sent */
	double t_first;           /* first output chunk; < 0 when none */
	double t_end;             /* ended */
	long prompt_tokens;       /* from usage, else the prompt's words */
	long output_tokens;       /* from usage, else counted (see above) */
	bool usage;               /* the counts came from the server's usage */
	struct bench_samples itl; /* gaps between output chunks (ms) */
	char *error;              /* why it failed; NULL when ok */
	char *worker;             /* the X-Elastic-Worker response header, or NULL */
};

/* What a run leaves. */
struct bench_result {
	struct bench_rec *rec;    /* one per request id (see bench_sched.h) */
	size_t n;                 /* requests */
	double start_time;        /* when the run began, Unix seconds */
	double duration;          /* first start -> last end (s) */
	size_t peak_inflight;     /* most requests in flight at once */
};

/* Asks BASE_URL's /v1/models: whether the server answers and, when MODEL is
 * NULL, which model it serves (*FOUND, malloc'd, the first listed). Returns
 * 0, or -1 with ERR ("cannot reach http://...: Connection refused",
 * "http://.../v1/models: HTTP 401: ..."). A server without /v1/models (404)
 * is fine when MODEL is given. */
int bench_probe(const char *models_url, const char *api_key, const char *model,
		char **found, char *err, size_t errlen);

/* Runs DATA against the server. Returns 0 (requests may have failed: see
 * OUT), or -1 with ERR when the run could not start. */
int bench_run(const struct bench_cfg *cfg, const struct bench_dataset *data,
	      struct bench_result *out, char *err, size_t errlen);

void bench_result_free(struct bench_result *r);

/* Builds the JSON body of request ID of DATA: the prompt, or the whole
 * conversation so far (ANSWERS[c * turns + t]: the text of each earlier
 * turn's answer). Appends to BODY; sets *WORDS to the prompt's words. */
void bench_body(const struct bench_cfg *cfg, const struct bench_dataset *data, size_t id,
		char *const *answers, struct buf *body, long *words);

#endif
