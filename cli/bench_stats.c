/* bench_stats.c — see bench_stats.h. */
#include "bench_stats.h"

#include <math.h>
#include <stdlib.h>

void bench_samples_add(struct bench_samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		double *nv = realloc(s->v, cap * sizeof *nv);
		if (!nv)
			abort();
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

void bench_samples_free(struct bench_samples *s)
{
	free(s->v);
	*s = (struct bench_samples){0};
}

double bench_percentile_sorted(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	double rank = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)floor(rank), hi = (size_t)ceil(rank);
	if (hi >= n)
		hi = n - 1;
	return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - (double)lo);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_summarize(struct bench_samples *s, struct bench_summary *out)
{
	*out = (struct bench_summary){0};
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	double mean = sum / (double)s->n, var = 0;
	for (size_t i = 0; i < s->n; i++)
		var += (s->v[i] - mean) * (s->v[i] - mean);
	out->n = s->n;
	out->mean = mean;
	out->std = sqrt(var / (double)s->n);
	out->min = s->v[0];
	out->max = s->v[s->n - 1];
	out->median = bench_percentile_sorted(s->v, s->n, 50);
	out->p90 = bench_percentile_sorted(s->v, s->n, 90);
	out->p99 = bench_percentile_sorted(s->v, s->n, 99);
}
