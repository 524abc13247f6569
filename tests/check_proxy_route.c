/* check_proxy_route.c — registry/proxy_route: each policy's choice on
 * synthetic worker sets, and outlier ejection with back-off. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../registry/proxy_prefix.h"
#include "../registry/proxy_route.h"

static void cands(struct proxy_cand *c, unsigned n)
{
	memset(c, 0, n * sizeof *c);
	for (unsigned i = 0; i < n; i++) {
		char id[16];
		int l = snprintf(id, sizeof id, "10.n%u.0", i);
		c[i].id_hash = proxy_prefix_hash64(id, (size_t)l, 0);
		c[i].owner = i + 1;
	}
}

START_TEST(test_round_robin)
{
	uint64_t next = 0;
	unsigned count[3] = {0, 0, 0};
	for (int i = 0; i < 300; i++)
		count[proxy_route_round_robin(3, &next)]++;
	ck_assert(count[0] == 100 && count[1] == 100 && count[2] == 100);
	ck_assert_uint_eq(proxy_route_round_robin(1, &next), 0);
}
END_TEST

START_TEST(test_least_load)
{
	struct proxy_cand c[4];
	cands(c, 4);
	c[0].load = 5;
	c[1].load = 2;
	c[2].load = 7;
	c[3].load = 2;
	/* The least loaded; equals take turns with the spread. */
	unsigned seen[4] = {0};
	for (uint64_t s = 0; s < 8; s++)
		seen[proxy_route_least_load(c, 4, s)]++;
	ck_assert(seen[0] == 0 && seen[2] == 0);
	ck_assert(seen[1] > 0 && seen[3] > 0);
	c[3].load = 1;
	for (uint64_t s = 0; s < 8; s++)
		ck_assert_uint_eq(proxy_route_least_load(c, 4, s), 3);
}
END_TEST

START_TEST(test_session_stable)
{
	struct proxy_cand c[5];
	cands(c, 5);
	unsigned first[200], per[5] = {0};
	for (uint64_t k = 0; k < 200; k++) {
		first[k] = proxy_route_session(c, 5, proxy_prefix_hash64(&k, sizeof k, 7));
		per[first[k]]++;
		/* Load does not move a session. */
		c[first[k]].load += 100;
		ck_assert_uint_eq(proxy_route_session(c, 5, proxy_prefix_hash64(&k, sizeof k, 7)),
				  first[k]);
	}
	for (int i = 0; i < 5; i++)
		ck_assert_msg(per[i] > 15, "worker %d got %u of 200 sessions", i, per[i]);
	/* Worker 2 leaves: only its sessions move. */
	struct proxy_cand d[4] = {c[0], c[1], c[3], c[4]};
	const unsigned map[4] = {0, 1, 3, 4};
	for (uint64_t k = 0; k < 200; k++) {
		unsigned now = map[proxy_route_session(d, 4, proxy_prefix_hash64(&k, sizeof k, 7))];
		if (first[k] != 2)
			ck_assert_uint_eq(now, first[k]);
		else
			ck_assert_uint_ne(now, 2);
	}
}
END_TEST

START_TEST(test_imbalance)
{
	struct proxy_route_params p;
	proxy_route_params_default(&p);
	struct proxy_cand c[3];
	cands(c, 3);
	c[0].load = 10;
	c[1].load = 30;
	c[2].load = 20;
	ck_assert(proxy_route_imbalanced(c, 3, &p));  /* 30 - 10 > 16, 30 > 15 */
	c[1].load = 26;
	ck_assert(!proxy_route_imbalanced(c, 3, &p)); /* 16 is not more than 16 */
	c[0].load = 100;
	c[1].load = 130;
	c[2].load = 120;
	ck_assert(!proxy_route_imbalanced(c, 3, &p)); /* 130 < 1.5 * 100 */
	c[0].load = 0;
	c[1].load = 17;
	ck_assert(proxy_route_imbalanced(c, 2, &p));
}
END_TEST

START_TEST(test_cache_aware)
{
	struct proxy_route_params p;
	proxy_route_params_default(&p);
	struct proxy_cand c[3];
	enum proxy_why why;
	cands(c, 3);
	/* The longest match covering at least half of the prompt wins, even
	 * when it is a bit busier. */
	c[0].matched = 3;
	c[1].matched = 8;
	c[2].matched = 0;
	c[1].load = 6;
	ck_assert_uint_eq(proxy_route_cache_aware(c, 3, 10, &p, 0, &why), 1);
	ck_assert_int_eq(why, PROXY_WHY_CACHE_HIT);
	/* Below the threshold: a miss, to the least loaded. */
	c[1].matched = 4;
	c[0].load = 2;
	c[2].load = 1;
	ck_assert_uint_eq(proxy_route_cache_aware(c, 3, 10, &p, 0, &why), 2);
	ck_assert_int_eq(why, PROXY_WHY_CACHE_MISS);
	/* Equal loads: the prompt's hash decides, the same for the same prompt. */
	c[0].load = c[1].load = c[2].load = 0;
	unsigned first = proxy_route_cache_aware(c, 3, 10, &p, 12345, &why);
	ck_assert_int_eq(why, PROXY_WHY_CACHE_MISS);
	ck_assert_uint_eq(proxy_route_cache_aware(c, 3, 10, &p, 12345, &why), first);
	/* Imbalance overrides affinity. */
	c[1].matched = 10;
	c[1].load = 40;
	c[0].load = 3;
	c[2].load = 5;
	ck_assert_uint_eq(proxy_route_cache_aware(c, 3, 10, &p, 0, &why), 0);
	ck_assert_int_eq(why, PROXY_WHY_IMBALANCED);
	/* Two workers hold the whole prompt: the less loaded one. */
	c[1].load = 4;
	c[2].matched = 10;
	c[2].load = 2;
	ck_assert_uint_eq(proxy_route_cache_aware(c, 3, 10, &p, 0, &why), 2);
	ck_assert_int_eq(why, PROXY_WHY_CACHE_HIT);
	/* No blocks at all (a short prompt): spread over equals. */
	cands(c, 3);
	unsigned seen[3] = {0};
	for (uint64_t s = 0; s < 300; s++) {
		seen[proxy_route_cache_aware(c, 3, 0, &p, s, &why)]++;
		ck_assert_int_eq(why, PROXY_WHY_CACHE_MISS);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_msg(seen[i] > 50, "worker %d: %u of 300", i, seen[i]);
	/* One candidate. */
	ck_assert_uint_eq(proxy_route_cache_aware(c, 1, 5, &p, 9, &why), 0);
}
END_TEST

/* The prefix table and cache_aware together: conversations stick to the
 * worker that served their first turn; round robin scatters them. */
START_TEST(test_cache_aware_conversations)
{
	struct proxy_prefix_table *t = proxy_prefix_new(4096);
	struct proxy_route_params p;
	proxy_route_params_default(&p);
	struct proxy_cand c[4];
	cands(c, 4);
	uint32_t owners[4];
	for (int i = 0; i < 4; i++)
		c[i].owner = owners[i] = proxy_prefix_owner_new(t);
	unsigned home[15];
	int hits = 0, rr_same = 0;
	uint64_t rr = 0;
	unsigned rr_last[15];
	for (int turn = 0; turn < 6; turn++) {
		for (int conv = 0; conv < 15; conv++) {
			/* Turn T of a conversation: its first T+1 blocks. */
			uint64_t h[6];
			for (int b = 0; b <= turn; b++)
				h[b] = proxy_prefix_hash64(&b, sizeof b, (uint64_t)conv * 131 + 1) | 1;
			unsigned m[4];
			proxy_prefix_match(t, h, (unsigned)turn + 1, owners, 4, m);
			for (int i = 0; i < 4; i++)
				c[i].matched = m[i];
			enum proxy_why why;
			unsigned w = proxy_route_cache_aware(c, 4, (unsigned)turn + 1, &p, h[turn], &why);
			proxy_prefix_insert(t, h, (unsigned)turn + 1, owners[w]);
			if (turn == 0) {
				home[conv] = w;
			} else {
				ck_assert_uint_eq(w, home[conv]);
				ck_assert_int_eq(why, PROXY_WHY_CACHE_HIT);
				hits++;
			}
			unsigned r = proxy_route_round_robin(4, &rr);
			if (turn > 0 && r == rr_last[conv])
				rr_same++;
			rr_last[conv] = r;
		}
	}
	ck_assert_int_eq(hits, 5 * 15);
	ck_assert_int_lt(rr_same, 5 * 15 / 2);
	/* New conversations spread over the workers (by their hash). */
	unsigned per[4] = {0};
	for (int conv = 0; conv < 15; conv++)
		per[home[conv]]++;
	for (int i = 0; i < 4; i++)
		ck_assert_msg(per[i] >= 1, "worker %d is home to %u conversations", i, per[i]);
	proxy_prefix_free(t);
}
END_TEST

START_TEST(test_outlier)
{
	struct proxy_outlier o = {0};
	struct proxy_outlier_params p = {3, 1000, 5000};
	ck_assert(!proxy_outlier_failure(&o, 0, &p));
	ck_assert(!proxy_outlier_failure(&o, 0, &p));
	proxy_outlier_success(&o); /* the streak ends */
	ck_assert(!proxy_outlier_failure(&o, 0, &p));
	ck_assert(!proxy_outlier_failure(&o, 0, &p));
	ck_assert(proxy_outlier_failure(&o, 100, &p));
	ck_assert(proxy_outlier_ejected(&o, 100));
	ck_assert(proxy_outlier_ejected(&o, 1099));
	ck_assert(!proxy_outlier_ejected(&o, 1100));
	/* Failures of requests sent before the ejection do not extend it. */
	for (int i = 0; i < 5; i++)
		ck_assert(!proxy_outlier_failure(&o, 500, &p));
	ck_assert_int_eq(o.until_ms, 1100);
	/* Back again and failing: twice as long, then capped. */
	for (int i = 0; i < 2; i++)
		ck_assert(!proxy_outlier_failure(&o, 2000, &p));
	ck_assert(proxy_outlier_failure(&o, 2000, &p));
	ck_assert_int_eq(o.until_ms, 4000);
	for (int i = 0; i < 3; i++)
		proxy_outlier_failure(&o, 10000, &p);
	ck_assert_int_eq(o.until_ms, 14000);
	for (int i = 0; i < 3; i++)
		proxy_outlier_failure(&o, 20000, &p);
	ck_assert_int_eq(o.until_ms, 25000);
	/* A success resets the back-off. */
	proxy_outlier_success(&o);
	for (int i = 0; i < 3; i++)
		proxy_outlier_failure(&o, 30000, &p);
	ck_assert_int_eq(o.until_ms, 31000);
	/* fails = 0: never ejected. */
	struct proxy_outlier q = {0};
	struct proxy_outlier_params never = {0, 1000, 5000};
	for (int i = 0; i < 100; i++)
		ck_assert(!proxy_outlier_failure(&q, 0, &never));
	ck_assert(!proxy_outlier_ejected(&q, 0));
	ck_assert_str_eq(proxy_why_name(PROXY_WHY_CACHE_HIT), "cache_hit");
	ck_assert_str_eq(proxy_why_name((enum proxy_why)99), "unknown");
}
END_TEST

Suite *suite_proxy_route(void)
{
	Suite *s = suite_create("proxy_route");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_round_robin);
	tcase_add_test(tc, test_least_load);
	tcase_add_test(tc, test_session_stable);
	tcase_add_test(tc, test_imbalance);
	tcase_add_test(tc, test_cache_aware);
	tcase_add_test(tc, test_cache_aware_conversations);
	tcase_add_test(tc, test_outlier);
	suite_add_tcase(s, tc);
	return s;
}
