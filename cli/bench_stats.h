/* bench_stats.h — summary statistics for elasticctl bench.
 *
 * Samples are collected in a growable array of doubles (milliseconds in
 * practice) and summarised the way `vllm bench serve` does with numpy:
 * mean, population standard deviation, median, and percentiles by linear
 * interpolation between the closest ranks (numpy.percentile's default):
 * the P-th percentile of n sorted values x[0..n-1] is at rank
 * r = P/100 * (n-1), x[floor r] + (x[ceil r] - x[floor r]) * (r - floor r).
 * An empty sample set summarises to zeros with n = 0.
 */
#ifndef ES_BENCH_STATS_H
#define ES_BENCH_STATS_H

#include <stddef.h>

/* A growable array of samples. */
struct bench_samples {
	double *v;  /* the samples, in insertion order until summarised */
	size_t n;   /* samples in use */
	size_t cap; /* samples allocated */
};

/* What a sample set summarises to. */
struct bench_summary {
	size_t n;      /* number of samples */
	double mean;   /* arithmetic mean */
	double std;    /* population standard deviation (numpy.std) */
	double min;    /* smallest sample */
	double median; /* 50th percentile */
	double p90;    /* 90th percentile */
	double p99;    /* 99th percentile */
	double max;    /* largest sample */
};

void bench_samples_add(struct bench_samples *s, double v);
void bench_samples_free(struct bench_samples *s);

/* The P-th percentile (0..100) of N values sorted in ascending order,
 * by linear interpolation; 0 when N is 0. */
double bench_percentile_sorted(const double *sorted, size_t n, double p);

/* Sorts S's samples in place and fills OUT. */
void bench_summarize(struct bench_samples *s, struct bench_summary *out);

#endif
