/* bench_report.c — see bench_report.h. */
#include "bench_report.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void count_worker(struct bench_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->nworkers; i++)
		if (strcmp(m->workers[i].name, name) == 0) {
			m->workers[i].n++;
			return;
		}
	struct bench_worker_count *w = realloc(m->workers, (m->nworkers + 1) * sizeof *w);
	if (!w)
		abort();
	m->workers = w;
	w[m->nworkers].name = strdup(name);
	if (!w[m->nworkers].name)
		abort();
	w[m->nworkers++].n = 1;
}

static void count_error(struct bench_metrics *m, const char *msg)
{
	for (size_t i = 0; i < m->nerrors; i++)
		if (strcmp(m->errors[i].message, msg) == 0) {
			m->errors[i].n++;
			return;
		}
	if (m->nerrors == BENCH_ERRORS_MAX) {
		m->more_errors++;
		return;
	}
	m->errors[m->nerrors].message = strdup(msg);
	if (!m->errors[m->nerrors].message)
		abort();
	m->errors[m->nerrors++].n = 1;
}

static int by_end(const void *a, const void *b)
{
	const struct bench_rec *x = *(struct bench_rec *const *)a, *y = *(struct bench_rec *const *)b;
	return (x->t_end > y->t_end) - (x->t_end < y->t_end);
}

void bench_metrics_compute(struct bench_result *r, struct bench_metrics *m)
{
	*m = (struct bench_metrics){.requests = r->n, .duration = r->duration,
				    .peak_inflight = r->peak_inflight, .usage_all = true,
				    .start_time = r->start_time};
	struct bench_samples ttft = {0}, tpot = {0}, itl = {0}, e2el = {0};
	/* Failures in the order they happened. */
	struct bench_rec **order = calloc(r->n ? r->n : 1, sizeof *order);
	if (!order)
		abort();
	size_t nf = 0;
	for (size_t i = 0; i < r->n; i++) {
		struct bench_rec *x = &r->rec[i];
		if (x->worker)
			count_worker(m, x->worker);
		if (!x->started) {
			m->skipped++;
			continue;
		}
		if (!x->ok) {
			m->failed++;
			order[nf++] = x;
			continue;
		}
		m->completed++;
		m->total_input += x->prompt_tokens;
		m->total_output += x->output_tokens;
		if (!x->usage)
			m->usage_all = false;
		double e2e = x->t_end - x->t_start;
		bench_samples_add(&e2el, e2e * 1000.0);
		if (x->t_first >= 0) {
			double first = x->t_first - x->t_start;
			bench_samples_add(&ttft, first * 1000.0);
			if (x->output_tokens > 1)
				bench_samples_add(&tpot, (e2e - first) * 1000.0 /
								 (double)(x->output_tokens - 1));
			for (size_t k = 0; k < x->itl.n; k++)
				bench_samples_add(&itl, x->itl.v[k]);
		}
	}
	qsort(order, nf, sizeof *order, by_end);
	for (size_t i = 0; i < nf; i++) {
		const char *msg = order[i]->error ? order[i]->error : "failed";
		count_error(m, msg);
		if (m->nfailures < BENCH_FAILURES_MAX)
			m->failures[m->nfailures++] = (struct bench_failure){
				order[i]->t_start, order[i]->t_end, order[i]->worker, msg};
	}
	free(order);
	if (m->completed == 0)
		m->usage_all = false;
	if (m->duration > 0) {
		m->request_throughput = (double)m->completed / m->duration;
		m->output_throughput = (double)m->total_output / m->duration;
		m->total_throughput = (double)(m->total_input + m->total_output) / m->duration;
	}
	bench_summarize(&ttft, &m->ttft);
	bench_summarize(&tpot, &m->tpot);
	bench_summarize(&itl, &m->itl);
	bench_summarize(&e2el, &m->e2el);
	bench_samples_free(&ttft);
	bench_samples_free(&tpot);
	bench_samples_free(&itl);
	bench_samples_free(&e2el);
	if (m->nworkers) {
		size_t max = 0, sum = 0;
		for (size_t i = 0; i < m->nworkers; i++) {
			sum += m->workers[i].n;
			if (m->workers[i].n > max)
				max = m->workers[i].n;
		}
		m->imbalance = (double)max / ((double)sum / (double)m->nworkers);
	}
}

void bench_metrics_free(struct bench_metrics *m)
{
	for (size_t i = 0; i < m->nworkers; i++)
		free(m->workers[i].name);
	free(m->workers);
	for (size_t i = 0; i < m->nerrors; i++)
		free(m->errors[i].message);
	*m = (struct bench_metrics){0};
}

/* ---------------------------------------------------------------- the table */

static void rule(FILE *fp, const char *title, char c)
{
	int n = (int)strlen(title), left = (50 - n) / 2, right = 50 - n - left;
	for (int i = 0; i < left; i++)
		fputc(c, fp);
	fputs(title, fp);
	for (int i = 0; i < right; i++)
		fputc(c, fp);
	fputc('\n', fp);
}

static void row_num(FILE *fp, const char *name, double v, int prec)
{
	fprintf(fp, "%-40s %-10.*f\n", name, prec, v);
}

static void row_int(FILE *fp, const char *name, long v)
{
	fprintf(fp, "%-40s %-10ld\n", name, v);
}

static void section(FILE *fp, const char *title, const char *abbr, const struct bench_summary *s)
{
	char name[64];
	rule(fp, title, '-');
	snprintf(name, sizeof name, "Mean %s (ms):", abbr);
	row_num(fp, name, s->mean, 2);
	snprintf(name, sizeof name, "Median %s (ms):", abbr);
	row_num(fp, name, s->median, 2);
	snprintf(name, sizeof name, "P90 %s (ms):", abbr);
	row_num(fp, name, s->p90, 2);
	snprintf(name, sizeof name, "P99 %s (ms):", abbr);
	row_num(fp, name, s->p99, 2);
}

void bench_report_print(FILE *fp, const struct bench_info *info, const struct bench_metrics *m)
{
	const struct bench_cfg *c = info->cfg;
	rule(fp, " Serving Benchmark Result ", '=');
	fprintf(fp, "%-40s %s %s\n", "Endpoint:", c->chat ? "chat" : "completions",
		c->stream ? "(streamed)" : "(not streamed)");
	if (info->turns > 1)
		fprintf(fp, "%-40s %s, %u conversations x %u turns\n", "Dataset:", info->dataset,
			info->conversations, info->turns);
	else
		fprintf(fp, "%-40s %s\n", "Dataset:", info->dataset);
	if (c->request_rate > 0 && isfinite(c->request_rate))
		row_num(fp, "Request rate (req/s, Poisson):", c->request_rate, 2);
	else
		fprintf(fp, "%-40s %s\n", "Request rate (req/s):", "inf");
	if (c->max_concurrency)
		row_int(fp, "Maximum request concurrency:", c->max_concurrency);
	row_int(fp, "Successful requests:", (long)m->completed);
	row_int(fp, "Failed requests:", (long)m->failed);
	if (m->skipped)
		row_int(fp, "Skipped requests:", (long)m->skipped);
	row_num(fp, "Benchmark duration (s):", m->duration, 2);
	row_int(fp, "Total input tokens:", m->total_input);
	row_int(fp, "Total generated tokens:", m->total_output);
	row_num(fp, "Request throughput (req/s):", m->request_throughput, 2);
	row_num(fp, "Output token throughput (tok/s):", m->output_throughput, 2);
	row_num(fp, "Total token throughput (tok/s):", m->total_throughput, 2);
	row_int(fp, "Peak requests in flight:", (long)m->peak_inflight);
	if (c->stream) {
		section(fp, "Time to First Token", "TTFT", &m->ttft);
		section(fp, "Time per Output Token (excl. 1st token)", "TPOT", &m->tpot);
		section(fp, "Inter-token Latency", "ITL", &m->itl);
	}
	section(fp, "End-to-end Latency", "E2EL", &m->e2el);
	if (m->nworkers) {
		rule(fp, "Requests per Worker", '-');
		for (size_t i = 0; i < m->nworkers; i++)
			fprintf(fp, "%-40s %-10zu\n", m->workers[i].name, m->workers[i].n);
		row_num(fp, "Imbalance (max / mean):", m->imbalance, 2);
	}
	if (m->nerrors) {
		rule(fp, "Failures", '-');
		for (size_t i = 0; i < m->nerrors; i++)
			fprintf(fp, "%6zu x %s\n", m->errors[i].n, m->errors[i].message);
		if (m->more_errors)
			fprintf(fp, "%6zu x (other messages)\n", m->more_errors);
	}
	rule(fp, "", '=');
	if (!c->stream)
		fprintf(fp, "(TTFT, TPOT and ITL are measured with --stream only)\n");
	if (m->completed && !m->usage_all)
		fprintf(fp, "(token counts: the server sent no usage for some requests; "
			    "words were counted instead)\n");
}

/* ---------------------------------------------------------------- JSON */

static void put_summary(struct json_object *o, const char *abbr, const struct bench_summary *s)
{
	static const char *const names[] = {"mean", "median", "std", "p90", "p99"};
	double v[] = {s->mean, s->median, s->std, s->p90, s->p99};
	char key[48];
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		snprintf(key, sizeof key, "%s_%s_ms", names[i], abbr);
		json_object_object_add(o, key, json_object_new_double(v[i]));
	}
}

int bench_report_json(const char *path, const struct bench_info *info,
		      const struct bench_metrics *m, char *err, size_t errlen)
{
	const struct bench_cfg *c = info->cfg;
	struct json_object *o = json_object_new_object();
	char date[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_object_object_add(o, "date", json_object_new_string(date));
	json_object_object_add(o, "base_url", json_object_new_string(c->base_url));
	json_object_object_add(o, "model", json_object_new_string(c->model));
	json_object_object_add(o, "endpoint",
			       json_object_new_string(c->chat ? "chat" : "completions"));
	json_object_object_add(o, "stream", json_object_new_boolean(c->stream));
	json_object_object_add(o, "dataset", json_object_new_string(info->dataset));
	if (info->turns > 1) {
		json_object_object_add(o, "conversations", json_object_new_int((int)info->conversations));
		json_object_object_add(o, "turns", json_object_new_int((int)info->turns));
	}
	json_object_object_add(o, "num_prompts", json_object_new_int64((int64_t)m->requests));
	json_object_object_add(o, "request_rate",
			       c->request_rate > 0 && isfinite(c->request_rate)
				       ? json_object_new_double(c->request_rate)
				       : json_object_new_string("inf"));
	json_object_object_add(o, "max_concurrency",
			       c->max_concurrency ? json_object_new_int((int)c->max_concurrency)
						  : NULL);
	json_object_object_add(o, "seed", json_object_new_int64((int64_t)c->seed));
	json_object_object_add(o, "duration", json_object_new_double(m->duration));
	json_object_object_add(o, "completed", json_object_new_int64((int64_t)m->completed));
	json_object_object_add(o, "failed", json_object_new_int64((int64_t)m->failed));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)m->skipped));
	json_object_object_add(o, "total_input_tokens", json_object_new_int64(m->total_input));
	json_object_object_add(o, "total_output_tokens", json_object_new_int64(m->total_output));
	json_object_object_add(o, "usage_from_server", json_object_new_boolean(m->usage_all));
	json_object_object_add(o, "request_throughput", json_object_new_double(m->request_throughput));
	json_object_object_add(o, "output_throughput", json_object_new_double(m->output_throughput));
	json_object_object_add(o, "total_token_throughput",
			       json_object_new_double(m->total_throughput));
	json_object_object_add(o, "peak_inflight", json_object_new_int64((int64_t)m->peak_inflight));
	put_summary(o, "ttft", &m->ttft);
	put_summary(o, "tpot", &m->tpot);
	put_summary(o, "itl", &m->itl);
	put_summary(o, "e2el", &m->e2el);
	struct json_object *errs = json_object_new_array();
	for (size_t i = 0; i < m->nerrors; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "message", json_object_new_string(m->errors[i].message));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)m->errors[i].n));
		json_object_array_add(errs, e);
	}
	json_object_object_add(o, "errors", errs);
	json_object_object_add(o, "start_time", json_object_new_double(m->start_time));
	struct json_object *fl = json_object_new_array();
	for (size_t i = 0; i < m->nfailures; i++) {
		const struct bench_failure *f = &m->failures[i];
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "t_start", json_object_new_double(f->t_start));
		json_object_object_add(e, "t_end", json_object_new_double(f->t_end));
		json_object_object_add(e, "worker", f->worker ? json_object_new_string(f->worker) : NULL);
		json_object_object_add(e, "message", json_object_new_string(f->message));
		json_object_array_add(fl, e);
	}
	json_object_object_add(o, "failures", fl);
	struct json_object *ws = json_object_new_object();
	for (size_t i = 0; i < m->nworkers; i++)
		json_object_object_add(ws, m->workers[i].name,
				       json_object_new_int64((int64_t)m->workers[i].n));
	json_object_object_add(o, "workers", ws);
	json_object_object_add(o, "imbalance", json_object_new_double(m->imbalance));

	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = 0;
	FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (!fp) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		rc = -1;
	} else {
		fprintf(fp, "%s\n", text);
		if (fp != stdout && fclose(fp) != 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			rc = -1;
		} else if (fp == stdout) {
			fflush(stdout);
		}
	}
	json_object_put(o);
	return rc;
}
