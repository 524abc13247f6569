/* check_bench_stats.c — cli/bench_stats: numpy's percentiles, mean, std. */
#include <check.h>

#include "../cli/bench_stats.h"

#define EPS 1e-9

START_TEST(test_percentile_interpolates)
{
	/* numpy.percentile([1..10], p): linear between closest ranks. */
	double v[10];
	for (int i = 0; i < 10; i++)
		v[i] = i + 1;
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 50), 5.5, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 90), 9.1, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 99), 9.91, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 0), 1, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 100), 10, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 10, 25), 3.25, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 1, 99), 1, EPS);
	ck_assert_double_eq_tol(bench_percentile_sorted(v, 0, 50), 0, EPS);
}
END_TEST

START_TEST(test_summary_unsorted)
{
	/* Values from numpy: mean 4, median 4, p90 6, p99 8.7, std 2.2563. */
	static const double in[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
	struct bench_samples s = {0};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
		bench_samples_add(&s, in[i]);
	struct bench_summary m;
	bench_summarize(&s, &m);
	ck_assert_uint_eq(m.n, 11);
	ck_assert_double_eq_tol(m.mean, 4.0, EPS);
	ck_assert_double_eq_tol(m.median, 4.0, EPS);
	ck_assert_double_eq_tol(m.p90, 6.0, EPS);
	ck_assert_double_eq_tol(m.p99, 8.7, EPS);
	ck_assert_double_eq_tol(m.std, 2.256304299271065, 1e-12);
	ck_assert_double_eq_tol(m.min, 1, EPS);
	ck_assert_double_eq_tol(m.max, 9, EPS);
	bench_samples_free(&s);
	ck_assert_ptr_null(s.v);
}
END_TEST

START_TEST(test_summary_empty_and_many)
{
	struct bench_samples s = {0};
	struct bench_summary m;
	bench_summarize(&s, &m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_double_eq(m.mean, 0);
	ck_assert_double_eq(m.p99, 0);
	/* 100,000 samples in reverse order: the array grows and sorts. */
	for (int i = 100000; i >= 1; i--)
		bench_samples_add(&s, i);
	bench_summarize(&s, &m);
	ck_assert_uint_eq(m.n, 100000);
	ck_assert_double_eq_tol(m.mean, 50000.5, 1e-6);
	ck_assert_double_eq_tol(m.median, 50000.5, 1e-6);
	ck_assert_double_eq_tol(m.p99, 99000.01, 1e-6);
	bench_samples_free(&s);
}
END_TEST

Suite *suite_bench_stats(void)
{
	Suite *s = suite_create("bench_stats");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_percentile_interpolates);
	tcase_add_test(tc, test_summary_unsorted);
	tcase_add_test(tc, test_summary_empty_and_many);
	suite_add_tcase(s, tc);
	return s;
}
