/* reg_metrics.c — see reg_metrics.h. */
#include "reg_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct reg_metric {
	int fam;      /* index into families[] */
	char *labels; /* inside of the braces */
	double value;
};

struct family {
	const char *name;
	const char *type; /* "counter" or "gauge" */
	const char *help;
};

static const struct family families[] = {
	{"elastic_build_info", "gauge", "Version of elastic-registry."},
	{"elastic_start_time_seconds", "gauge", "When the registry started (Unix time)."},
	{"elastic_workers", "gauge", "Workers by pool and state (starting, ready, draining, gone)."},
	{"elastic_registrations_total", "counter", "Worker registrations accepted."},
	{"elastic_registrations_refused_total", "counter", "Worker registrations refused because their URL does not name the registering machine."},
	{"elastic_heartbeats_total", "counter", "Heartbeat requests received."},
	{"elastic_heartbeat_unknown_total", "counter", "Worker ids in heartbeats that the registry did not know (answered as unknown)."},
	{"elastic_evictions_total", "counter", "Workers taken out of routing, by cause (heartbeat_timeout, job_ended, deregister reasons, job_gone)."},
	{"elastic_pool_target_nodes", "gauge", "Target number of jobs (nodes) per pool."},
	{"elastic_jobs", "gauge", "Jobs per pool and state (submitting, pending, running, completing)."},
	{"elastic_job_submissions_total", "counter", "Jobs submitted with sbatch, per pool."},
	{"elastic_job_cancellations_total", "counter", "Jobs cancelled by the registry, per pool and reason."},
	{"elastic_job_preemptions_total", "counter", "Jobs preempted (requeued or cancelled by SLURM), per pool."},
	{"elastic_job_adoptions_total", "counter", "Jobs found in SLURM and adopted (after a restart or a lost sbatch reply), per pool."},
	{"elastic_jobs_ended_total", "counter", "Jobs that ended, per pool and reason."},
	{"elastic_acquirer_errors_total", "counter", "Failed SLURM commands, by command (sbatch, squeue, scancel, sacct)."},
	{"elastic_http_requests_total", "counter", "Control API requests, by status code."},
	{"elastic_state_writes_total", "counter", "State file writes, by result (ok, error)."},
	{"elastic_auth_unavailable", "gauge", "1 while munged cannot be reached (evictions for missing heartbeats are paused)."},
	{"elastic_auth_outages_total", "counter", "Times munged became unreachable."},
};
#define NFAM (sizeof families / sizeof families[0])

static int fam_index(const char *name)
{
	for (size_t i = 0; i < NFAM; i++)
		if (strcmp(families[i].name, name) == 0)
			return (int)i;
	return -1;
}

void reg_metrics_init(struct reg_metrics *m)
{
	memset(m, 0, sizeof *m);
}

void reg_metrics_free(struct reg_metrics *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].labels);
	free(m->v);
	memset(m, 0, sizeof *m);
}

static int cmp(int fa, const char *la, int fb, const char *lb)
{
	if (fa != fb)
		return fa < fb ? -1 : 1;
	return strcmp(la, lb);
}

/* The slot for (FAM, LABELS), created when CREATE; NULL otherwise. */
static struct reg_metric *slot(struct reg_metrics *m, int fam, const char *labels, int create)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp(m->v[mid].fam, m->v[mid].labels, fam, labels);
		if (c == 0)
			return &m->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		struct reg_metric *v = realloc(m->v, cap * sizeof *v);
		if (!v)
			abort();
		m->v = v;
		m->cap = cap;
	}
	memmove(&m->v[lo + 1], &m->v[lo], (m->n - lo) * sizeof *m->v);
	m->v[lo].fam = fam;
	m->v[lo].labels = strdup(labels);
	if (!m->v[lo].labels)
		abort();
	m->v[lo].value = 0;
	m->n++;
	return &m->v[lo];
}

void reg_metrics_add(struct reg_metrics *m, const char *name, const char *labels, double d)
{
	int f = fam_index(name);
	if (f < 0) {
		log_error("metrics: undeclared metric %s", name);
		return;
	}
	slot(m, f, labels ? labels : "", 1)->value += d;
}

void reg_metrics_set(struct reg_metrics *m, const char *name, const char *labels, double v)
{
	int f = fam_index(name);
	if (f < 0) {
		log_error("metrics: undeclared metric %s", name);
		return;
	}
	slot(m, f, labels ? labels : "", 1)->value = v;
}

void reg_metrics_clear(struct reg_metrics *m, const char *name)
{
	int f = fam_index(name);
	size_t j = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].fam == f)
			free(m->v[i].labels);
		else
			m->v[j++] = m->v[i];
	}
	m->n = j;
}

double reg_metrics_get(const struct reg_metrics *m, const char *name, const char *labels)
{
	int f = fam_index(name);
	if (f < 0)
		return 0;
	struct reg_metric *s = slot((struct reg_metrics *)m, f, labels ? labels : "", 0);
	return s ? s->value : 0;
}

double reg_metrics_sum(const struct reg_metrics *m, const char *name)
{
	int f = fam_index(name);
	double sum = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].fam == f)
			sum += m->v[i].value;
	return sum;
}

const char *reg_metrics_labels(char *out, size_t len, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, len);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		buf_printf(&b, "%s%s=\"", b.len ? "," : "", k);
		for (const char *p = v ? v : ""; *p; p++) {
			if (*p == '\\' || *p == '"')
				buf_printf(&b, "\\%c", *p);
			else if (*p == '\n')
				buf_puts(&b, "\\n");
			else
				buf_putc(&b, *p);
		}
		buf_putc(&b, '"');
	}
	va_end(ap);
	snprintf(out, len, "%s", b.data ? b.data : "");
	buf_free(&b);
	return out;
}

static void put_value(struct buf *out, double v)
{
	if (v == (double)(long long)v && v < 1e15 && v > -1e15)
		buf_printf(out, "%lld\n", (long long)v);
	else
		buf_printf(out, "%.6f\n", v);
}

void reg_metrics_render(const struct reg_metrics *m, struct buf *out)
{
	size_t i = 0;
	for (size_t f = 0; f < NFAM; f++) {
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
			   families[f].name, families[f].type);
		while (i < m->n && m->v[i].fam < (int)f)
			i++;
		for (; i < m->n && m->v[i].fam == (int)f; i++) {
			if (m->v[i].labels[0])
				buf_printf(out, "%s{%s} ", families[f].name, m->v[i].labels);
			else
				buf_printf(out, "%s ", families[f].name);
			put_value(out, m->v[i].value);
		}
	}
}
