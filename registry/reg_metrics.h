/* reg_metrics.h — the registry's Prometheus metrics (text format 0.0.4).
 *
 * Families are declared once in reg_metrics.c (name, type, help); values
 * are kept per label set, e.g. elastic_job_submissions_total{pool="m"}.
 * Counters only grow; gauges are set (the glue recomputes them before each
 * scrape). Every name starts with "elastic_".
 */
#ifndef ES_REG_METRICS_H
#define ES_REG_METRICS_H

#include <stddef.h>

#include "buf.h"

struct reg_metric; /* one (family, label set) value */

struct reg_metrics {
	struct reg_metric *v; /* sorted by family, then labels */
	size_t n, cap;
};

void reg_metrics_init(struct reg_metrics *m);
void reg_metrics_free(struct reg_metrics *m);

/* Adds D to the value of NAME{LABELS}. LABELS is the inside of the braces
 * as built by reg_metrics_labels() ("" for none). NAME must be declared. */
void reg_metrics_add(struct reg_metrics *m, const char *name, const char *labels, double d);
/* Sets a gauge. */
void reg_metrics_set(struct reg_metrics *m, const char *name, const char *labels, double v);
/* Drops every value of the family NAME (before recomputing a gauge). */
void reg_metrics_clear(struct reg_metrics *m, const char *name);
/* The value of NAME{LABELS}, 0 when never set. */
double reg_metrics_get(const struct reg_metrics *m, const char *name, const char *labels);

/* The sum of every value of the family NAME. */
double reg_metrics_sum(const struct reg_metrics *m, const char *name);

/* Builds a label set into OUT (of LEN bytes) from NULL-terminated
 * name/value pairs: reg_metrics_labels(out, len, "pool", p, "state", s,
 * NULL) gives `pool="p",state="s"`, values escaped. */
const char *reg_metrics_labels(char *out, size_t len, ...);

/* Appends the whole exposition: HELP and TYPE for every family, then its
 * values. */
void reg_metrics_render(const struct reg_metrics *m, struct buf *out);

#endif
