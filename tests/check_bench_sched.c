/* check_bench_sched.c — cli/bench_sched: Poisson arrivals, the concurrency
 * limit, and conversations whose turns wait for the previous answer. */
#include <check.h>
#include <math.h>

#include "../cli/bench_sched.h"

START_TEST(test_all_at_once)
{
	struct bench_sched s;
	bench_sched_init(&s, 5, 1, INFINITY, 0, 1);
	ck_assert_double_eq(bench_sched_next_arrival(&s), 0);
	ck_assert_int_eq(bench_sched_pop(&s), -1); /* nothing arrived yet */
	bench_sched_arrive(&s, 0);
	ck_assert(isinf(bench_sched_next_arrival(&s)));
	for (long i = 0; i < 5; i++)
		ck_assert_int_eq(bench_sched_pop(&s), i);
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	ck_assert_uint_eq(s.peak, 5);
	ck_assert(!bench_sched_finished(&s));
	for (size_t i = 0; i < 5; i++)
		bench_sched_done(&s, i, i != 2);
	ck_assert(bench_sched_finished(&s));
	ck_assert_uint_eq(s.skipped, 0);
	bench_sched_free(&s);
}
END_TEST

START_TEST(test_poisson)
{
	/* 20,000 arrivals at 50/s: the first at 0, intervals exponential with
	 * mean 20 ms (a coefficient of variation of 1), the same for a seed. */
	size_t n = 20000;
	struct bench_sched a, b, c;
	bench_sched_init(&a, n, 1, 50, 0, 3);
	bench_sched_init(&b, n, 1, 50, 0, 3);
	bench_sched_init(&c, n, 1, 50, 0, 4);
	ck_assert_double_eq(a.arrival[0], 0);
	double sum = 0, sq = 0;
	for (size_t i = 1; i < n; i++) {
		double d = a.arrival[i] - a.arrival[i - 1];
		ck_assert(d >= 0);
		sum += d;
		sq += d * d;
		ck_assert_double_eq(a.arrival[i], b.arrival[i]);
	}
	double mean = sum / (double)(n - 1), sd = sqrt(sq / (double)(n - 1) - mean * mean);
	ck_assert_double_eq_tol(mean, 0.020, 0.0006);
	ck_assert_double_eq_tol(sd / mean, 1.0, 0.04);
	ck_assert(a.arrival[n - 1] != c.arrival[n - 1]);
	/* Arrivals come in as time passes. */
	bench_sched_arrive(&a, a.arrival[9]);
	ck_assert_uint_eq(a.rlen, 10);
	ck_assert_double_eq(bench_sched_next_arrival(&a), a.arrival[10]);
	bench_sched_free(&a);
	bench_sched_free(&b);
	bench_sched_free(&c);
}
END_TEST

START_TEST(test_concurrency_limit)
{
	struct bench_sched s;
	bench_sched_init(&s, 10, 1, 0, 3, 1);
	bench_sched_arrive(&s, 0);
	ck_assert_int_eq(bench_sched_pop(&s), 0);
	ck_assert_int_eq(bench_sched_pop(&s), 1);
	ck_assert_int_eq(bench_sched_pop(&s), 2);
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	bench_sched_done(&s, 1, true);
	ck_assert_int_eq(bench_sched_pop(&s), 3);
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	size_t done = 1;
	long next = 4;
	while (!bench_sched_finished(&s)) {
		bench_sched_done(&s, 0, true); /* the id does not matter for one turn */
		done++;
		long id = bench_sched_pop(&s);
		if (next < 10)
			ck_assert_int_eq(id, next++);
		ck_assert_uint_le(s.inflight, 3);
	}
	ck_assert_uint_eq(done, 10);
	ck_assert_uint_eq(s.peak, 3);
	bench_sched_free(&s);
}
END_TEST

START_TEST(test_conversations)
{
	/* 3 conversations of 3 turns, 2 in flight: a turn starts only after
	 * its predecessor ended; ready turns queue behind earlier ones. */
	struct bench_sched s;
	bench_sched_init(&s, 3, 3, 0, 2, 1);
	bench_sched_arrive(&s, 0);
	ck_assert_int_eq(bench_sched_pop(&s), 0); /* conversation 0, turn 0 */
	ck_assert_int_eq(bench_sched_pop(&s), 3); /* conversation 1, turn 0 */
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	bench_sched_done(&s, 0, true);
	ck_assert_int_eq(bench_sched_pop(&s), 6); /* conversation 2 was waiting first */
	bench_sched_done(&s, 3, true);
	ck_assert_int_eq(bench_sched_pop(&s), 1); /* conversation 0, turn 1 */
	bench_sched_done(&s, 6, true);
	ck_assert_int_eq(bench_sched_pop(&s), 4);
	bench_sched_done(&s, 1, false); /* conversation 0 fails at turn 1 */
	ck_assert_uint_eq(s.skipped, 1);
	ck_assert_int_eq(bench_sched_pop(&s), 7);
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	bench_sched_done(&s, 4, true);
	bench_sched_done(&s, 7, true);
	ck_assert_int_eq(bench_sched_pop(&s), 5);
	ck_assert_int_eq(bench_sched_pop(&s), 8);
	bench_sched_done(&s, 5, true);
	ck_assert(!bench_sched_finished(&s));
	bench_sched_done(&s, 8, true);
	ck_assert(bench_sched_finished(&s));
	ck_assert_uint_eq(s.started, 8);
	bench_sched_free(&s);
}
END_TEST

START_TEST(test_conversation_rate)
{
	/* With a rate, conversations arrive over time and later turns of an
	 * early conversation may run before a later conversation arrives. */
	struct bench_sched s;
	bench_sched_init(&s, 2, 2, 1, 0, 9);
	double t1 = s.arrival[1];
	ck_assert(t1 > 0);
	bench_sched_arrive(&s, 0);
	ck_assert_int_eq(bench_sched_pop(&s), 0);
	bench_sched_done(&s, 0, true);
	ck_assert_int_eq(bench_sched_pop(&s), 1);
	ck_assert_int_eq(bench_sched_pop(&s), -1);
	bench_sched_arrive(&s, t1);
	ck_assert_int_eq(bench_sched_pop(&s), 2);
	bench_sched_free(&s);
}
END_TEST

Suite *suite_bench_sched(void)
{
	Suite *s = suite_create("bench_sched");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_all_at_once);
	tcase_add_test(tc, test_poisson);
	tcase_add_test(tc, test_concurrency_limit);
	tcase_add_test(tc, test_conversations);
	tcase_add_test(tc, test_conversation_rate);
	suite_add_tcase(s, tc);
	return s;
}
