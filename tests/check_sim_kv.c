/* check_sim_kv.c — sim/sim_kv: paged KV cache and LRU prefix cache. */
#include <check.h>
#include <stdlib.h>

#include "../sim/sim_kv.h"

/* A prompt of N tokens whose values start at BASE. */
static void mk(uint32_t *t, size_t n, uint32_t base)
{
	for (size_t i = 0; i < n; i++)
		t[i] = base + (uint32_t)i;
}

START_TEST(test_alloc_release)
{
	struct sim_kv *kv = sim_kv_new(10, 4, true);
	ck_assert_ptr_nonnull(kv);
	uint32_t t[10];
	uint64_t h[4];
	mk(t, 10, 100);
	size_t nh = sim_kv_hashes(kv, t, 10, 0, h);
	ck_assert_uint_eq(nh, 2);
	struct sim_kv_seq s = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &s, h, nh, 10, 12), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert(sim_kv_usage(kv) > 0.29 && sim_kv_usage(kv) < 0.31);
	sim_kv_release(kv, &s);
	ck_assert(sim_kv_usage(kv) == 0.0);
	ck_assert_int_eq(kv->nfree, 10);
	ck_assert_int_eq(sim_kv_cached_blocks(kv), 2);
	ck_assert_int_eq(sim_kv_blocks_for(kv, 0), 0);
	ck_assert_int_eq(sim_kv_blocks_for(kv, 9), 3);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_prefix_hits)
{
	struct sim_kv *kv = sim_kv_new(64, 4, true);
	uint32_t t[16];
	uint64_t h[4];
	mk(t, 16, 7);
	size_t nh = sim_kv_hashes(kv, t, 16, 0, h);
	struct sim_kv_seq a = {0}, b = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h, nh, 16, 20), 0);
	sim_kv_release(kv, &a);
	/* All four blocks are cached, but the last prompt token is always
	 * computed: three blocks hit. */
	ck_assert_int_eq(sim_kv_alloc(kv, &b, h, nh, 16, 20), 12);
	ck_assert_uint_eq(kv->queries, 32);
	ck_assert_uint_eq(kv->hits, 12);
	sim_kv_release(kv, &b);

	/* Chained: a different first block means no hit at all. */
	t[0] = 999;
	uint64_t h2[4];
	sim_kv_hashes(kv, t, 16, 0, h2);
	ck_assert_uint_ne(h2[3], h[3]);
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h2, 4, 16, 16), 0);
	sim_kv_release(kv, &a);
	/* A salt separates caches. */
	mk(t, 16, 7);
	sim_kv_hashes(kv, t, 16, 12345, h2);
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h2, 4, 16, 16), 0);
	sim_kv_release(kv, &a);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_shared_blocks)
{
	struct sim_kv *kv = sim_kv_new(10, 4, true);
	uint32_t t[12];
	uint64_t h[3];
	mk(t, 12, 1);
	sim_kv_hashes(kv, t, 12, 0, h);
	struct sim_kv_seq a = {0}, b = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h, 3, 12, 12), 0);
	/* The second shares two blocks while the first still runs. */
	ck_assert_int_eq(sim_kv_alloc(kv, &b, h, 3, 12, 12), 8);
	ck_assert_int_eq(kv->nfree, 10 - 3 - 1);
	sim_kv_release(kv, &a);
	ck_assert_int_eq(kv->nfree, 10 - 3);
	sim_kv_release(kv, &b);
	ck_assert_int_eq(kv->nfree, 10);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_lru_eviction)
{
	struct sim_kv *kv = sim_kv_new(8, 4, true);
	uint32_t p1[12], p2[12];
	uint64_t h1[3], h2[3];
	mk(p1, 12, 1000);
	mk(p2, 12, 2000);
	sim_kv_hashes(kv, p1, 12, 0, h1);
	sim_kv_hashes(kv, p2, 12, 0, h2);
	struct sim_kv_seq s = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &s, h1, 3, 12, 13), 0);
	sim_kv_release(kv, &s);
	ck_assert_int_eq(sim_kv_alloc(kv, &s, h2, 3, 12, 13), 0);
	sim_kv_release(kv, &s);
	/* An unrelated request needing 5 blocks evicts the oldest prefix. */
	ck_assert_int_eq(sim_kv_alloc(kv, &s, NULL, 0, 0, 20), 0);
	ck_assert_uint_gt(kv->evictions, 0);
	sim_kv_release(kv, &s);
	ck_assert_int_eq(sim_kv_alloc(kv, &s, h2, 3, 12, 12), 8);
	sim_kv_release(kv, &s);
	ck_assert_int_eq(sim_kv_alloc(kv, &s, h1, 3, 12, 12), 0);
	sim_kv_release(kv, &s);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_does_not_fit)
{
	struct sim_kv *kv = sim_kv_new(4, 4, true);
	struct sim_kv_seq a = {0}, b = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &a, NULL, 0, 8, 12), 0);
	uint64_t q = kv->queries;
	ck_assert_int_eq(sim_kv_alloc(kv, &b, NULL, 0, 4, 8), -1);
	ck_assert_uint_eq(kv->queries, q);
	ck_assert_int_eq(kv->nfree, 1);
	ck_assert_int_eq(sim_kv_alloc(kv, &b, NULL, 0, 100, 100), -1);
	sim_kv_release(kv, &a);
	ck_assert_int_eq(sim_kv_alloc(kv, &b, NULL, 0, 4, 16), 0);
	sim_kv_release(kv, &b);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_no_prefix_caching)
{
	struct sim_kv *kv = sim_kv_new(16, 4, false);
	uint32_t t[12];
	uint64_t h[3];
	mk(t, 12, 5);
	sim_kv_hashes(kv, t, 12, 0, h);
	struct sim_kv_seq a = {0};
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h, 3, 12, 12), 0);
	sim_kv_release(kv, &a);
	ck_assert_int_eq(sim_kv_alloc(kv, &a, h, 3, 12, 12), 0);
	sim_kv_release(kv, &a);
	ck_assert_uint_eq(kv->hits, 0);
	sim_kv_free(kv);
}
END_TEST

Suite *suite_sim_kv(void)
{
	Suite *s = suite_create("sim_kv");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_alloc_release);
	tcase_add_test(tc, test_prefix_hits);
	tcase_add_test(tc, test_shared_blocks);
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_does_not_fit);
	tcase_add_test(tc, test_no_prefix_caching);
	suite_add_tcase(s, tc);
	return s;
}
