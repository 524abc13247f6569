/* proxy_metrics.c — see proxy_metrics.h. */
#include "proxy_metrics.h"

#include <stdio.h>

static const char *const cause_names[PROXY_C_N] = {
	"bad_request", "unauthorized", "unknown_model", "no_worker", "connect", "reset",
	"timeout", "stream_idle", "status", "protocol", "stream_cut", "client_gone", "shutdown",
	"bad_response",
};

const char *proxy_cause_name(enum proxy_cause c)
{
	return (unsigned)c < PROXY_C_N ? cause_names[c] : "unknown";
}

static const char *const mig_names[PROXY_MIG_N] = {"ok", "failed", "refused"};

const char *proxy_mig_name(enum proxy_mig o)
{
	return (unsigned)o < PROXY_MIG_N ? mig_names[o] : "unknown";
}

const double proxy_hist_bounds[PROXY_HIST_N] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600,
};

void proxy_hist_observe(struct proxy_hist *h, double s)
{
	unsigned i = 0;
	while (i < PROXY_HIST_N && s > proxy_hist_bounds[i])
		i++;
	h->b[i]++;
	h->count++;
	h->sum += s;
}

static const char *const code_names[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* Appends `name="value"` escaped. */
static void label(struct buf *out, const char *name, const char *v)
{
	buf_printf(out, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			buf_puts(out, "\\n");
		else
			buf_putc(out, *v);
	}
	buf_putc(out, '"');
}

/* NAME{pool="..",worker=".."[,EXTRA="VAL"]} */
static void series(struct buf *out, const char *name, const struct proxy_metrics_row *r,
		   const char *extra, const char *val)
{
	buf_printf(out, "%s{", name);
	label(out, "pool", r->pool);
	if (r->worker) {
		buf_putc(out, ',');
		label(out, "worker", r->worker);
	}
	if (extra) {
		buf_putc(out, ',');
		label(out, extra, val);
	}
	buf_putc(out, '}');
}

static void head(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum what { W_CODES, W_ERRORS, W_RETRIES, W_ROUTED, W_MIGRATIONS, W_INFLIGHT, W_WAITING, W_EJECTED,
	    W_EJECTIONS, W_PREFIX };

static void family(struct buf *out, const char *name, const char *type, const char *help,
		   const struct proxy_metrics_row *rows, size_t n, enum what w)
{
	head(out, name, type, help);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_metrics_row *r = &rows[i];
		const struct proxy_stats *st = r->st;
		switch (w) {
		case W_CODES:
			for (int c = 0; c < 6; c++)
				if (st->codes[c]) {
					series(out, name, r, "code", code_names[c]);
					buf_printf(out, " %llu\n", (unsigned long long)st->codes[c]);
				}
			break;
		case W_ERRORS:
		case W_RETRIES:
			for (int c = 0; c < PROXY_C_N; c++) {
				uint64_t v = w == W_ERRORS ? st->errors[c] : st->retries[c];
				if (v) {
					series(out, name, r, "cause", cause_names[c]);
					buf_printf(out, " %llu\n", (unsigned long long)v);
				}
			}
			break;
		case W_ROUTED:
			for (int c = 0; c < PROXY_WHY_N; c++)
				if (st->routed[c]) {
					series(out, name, r, "decision", proxy_why_name((enum proxy_why)c));
					buf_printf(out, " %llu\n", (unsigned long long)st->routed[c]);
				}
			break;
		case W_MIGRATIONS:
			for (int c = 0; c < PROXY_MIG_N; c++)
				if (st->migrations[c]) {
					series(out, name, r, "outcome", mig_names[c]);
					buf_printf(out, " %llu\n", (unsigned long long)st->migrations[c]);
				}
			break;
		case W_INFLIGHT:
		case W_WAITING:
		case W_EJECTED:
			series(out, name, r, NULL, NULL);
			buf_printf(out, " %lld\n",
				   (long long)(w == W_INFLIGHT ? r->inflight
					       : w == W_WAITING ? r->waiting : r->ejected));
			break;
		case W_EJECTIONS:
		case W_PREFIX:
			series(out, name, r, NULL, NULL);
			buf_printf(out, " %llu\n", (unsigned long long)(w == W_EJECTIONS ? st->ejections
											 : r->prefix_blocks));
			break;
		}
	}
}

static void hist_family(struct buf *out, const char *name, const char *help,
			const struct proxy_metrics_row *rows, size_t n, bool ttft)
{
	char bname[128], le[32];
	head(out, name, "histogram", help);
	snprintf(bname, sizeof bname, "%s_bucket", name);
	for (size_t i = 0; i < n; i++) {
		const struct proxy_hist *h = ttft ? &rows[i].st->ttft : &rows[i].st->e2e;
		uint64_t cum = 0;
		for (int b = 0; b <= PROXY_HIST_N; b++) {
			cum += h->b[b];
			if (b < PROXY_HIST_N)
				snprintf(le, sizeof le, "%g", proxy_hist_bounds[b]);
			else
				snprintf(le, sizeof le, "+Inf");
			series(out, bname, &rows[i], "le", le);
			buf_printf(out, " %llu\n", (unsigned long long)cum);
		}
		buf_printf(out, "%s_sum", name);
		series(out, "", &rows[i], NULL, NULL);
		buf_printf(out, " %.6f\n", h->sum);
		buf_printf(out, "%s_count", name);
		series(out, "", &rows[i], NULL, NULL);
		buf_printf(out, " %llu\n", (unsigned long long)h->count);
	}
}

void proxy_metrics_render(struct buf *out, const struct proxy_metrics_row *p, size_t np,
			  const struct proxy_metrics_row *w, size_t nw)
{
	family(out, "elastic_proxy_requests_total", "counter",
	       "OpenAI requests answered by the proxy, by pool and status class (none: the client left).",
	       p, np, W_CODES);
	family(out, "elastic_proxy_errors_total", "counter",
	       "OpenAI requests that failed, by pool and cause.", p, np, W_ERRORS);
	family(out, "elastic_proxy_retries_total", "counter",
	       "Attempts retried on another worker before the first byte, by pool and the cause of the failed attempt.",
	       p, np, W_RETRIES);
	family(out, "elastic_proxy_routing_total", "counter",
	       "Routing decisions by pool (cache_hit, cache_miss, imbalanced, least_load, round_robin, session).",
	       p, np, W_ROUTED);
	family(out, "elastic_proxy_migrations_total", "counter",
	       "Generations moved to another worker after theirs failed mid-answer, by pool and outcome (ok: a continuation took over; failed: no worker could continue; refused: not migratable, or max_migrations reached).",
	       p, np, W_MIGRATIONS);
	family(out, "elastic_proxy_inflight", "gauge", "Requests in flight to the workers of a pool.",
	       p, np, W_INFLIGHT);
	family(out, "elastic_proxy_waiting", "gauge", "Requests waiting for a ready worker, by pool.",
	       p, np, W_WAITING);
	hist_family(out, "elastic_proxy_ttft_seconds",
		    "Time from the request's arrival to the first response body byte from the worker, at the proxy.",
		    p, np, true);
	hist_family(out, "elastic_proxy_e2e_seconds",
		    "Time from the request's arrival to the end of its response, at the proxy.", p, np,
		    false);
	family(out, "elastic_proxy_worker_requests_total", "counter",
	       "Requests answered by each worker, by status class.", w, nw, W_CODES);
	family(out, "elastic_proxy_worker_errors_total", "counter",
	       "Failed attempts on each worker, by cause.", w, nw, W_ERRORS);
	family(out, "elastic_proxy_worker_inflight", "gauge", "Requests in flight to each worker.",
	       w, nw, W_INFLIGHT);
	family(out, "elastic_proxy_worker_ejected", "gauge",
	       "1 while a worker is ejected from routing after failures in a row.", w, nw, W_EJECTED);
	family(out, "elastic_proxy_worker_ejections_total", "counter",
	       "Times each worker was ejected from routing.", w, nw, W_EJECTIONS);
	family(out, "elastic_proxy_worker_prefix_blocks", "gauge",
	       "Prompt blocks the cache-aware table believes each worker holds in its KV cache.", w,
	       nw, W_PREFIX);
	hist_family(out, "elastic_proxy_worker_ttft_seconds",
		    "Time to the first response body byte, per worker, at the proxy.", w, nw, true);
	hist_family(out, "elastic_proxy_worker_e2e_seconds",
		    "Time to the end of the response, per worker, at the proxy.", w, nw, false);
}
