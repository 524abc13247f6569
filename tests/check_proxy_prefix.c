/* check_proxy_prefix.c — registry/proxy_prefix: block hashing of prompts
 * and the approximate per-worker prefix table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry/proxy_prefix.h"

static unsigned hash_text(const char *text, unsigned block, uint64_t *out, unsigned max)
{
	struct proxy_prefix_hasher ph;
	proxy_prefix_begin(&ph, 42, block, out, max);
	proxy_prefix_feed(&ph, text, strlen(text));
	return ph.n;
}

START_TEST(test_hash64)
{
	char a[100];
	memset(a, 'x', sizeof a);
	/* Every length and seed gives a different hash. */
	uint64_t seen[202];
	int n = 0;
	for (size_t len = 0; len <= 100; len++)
		for (uint64_t seed = 0; seed < 2; seed++) {
			uint64_t h = proxy_prefix_hash64(a, len, seed);
			for (int k = 0; k < n; k++)
				ck_assert(seen[k] != h);
			seen[n++] = h;
		}
	ck_assert_uint_eq(proxy_prefix_hash64("abc", 3, 1), proxy_prefix_hash64("abc", 3, 1));
	ck_assert(proxy_prefix_hash64("abc", 3, 1) != proxy_prefix_hash64("abd", 3, 1));
}
END_TEST

START_TEST(test_blocks)
{
	uint64_t h1[64], h2[64];
	char text[1000];
	for (int i = 0; i < 999; i++)
		text[i] = (char)('a' + (i * 7) % 26);
	text[999] = '\0';
	/* 999 bytes in blocks of 64: 15 full blocks, the tail is not hashed. */
	ck_assert_uint_eq(hash_text(text, 64, h1, 64), 15);
	/* Fed in odd pieces: the same hashes. */
	struct proxy_prefix_hasher ph;
	proxy_prefix_begin(&ph, 42, 64, h2, 64);
	for (size_t off = 0, step = 1; off < 999; off += step, step = step * 3 % 97 + 1)
		proxy_prefix_feed(&ph, text + off, off + step > 999 ? 999 - off : step);
	ck_assert_uint_eq(ph.n, 15);
	ck_assert_mem_eq(h1, h2, 15 * sizeof h1[0]);
	/* A prompt that shares the first 200 bytes shares exactly 3 blocks. */
	char other[1000];
	memcpy(other, text, sizeof other);
	other[200] = '#';
	ck_assert_uint_eq(hash_text(other, 64, h2, 64), 15);
	for (int i = 0; i < 15; i++)
		ck_assert_msg((h1[i] == h2[i]) == (i < 3), "block %d", i);
	/* Another seed (another model): nothing shared. */
	proxy_prefix_begin(&ph, 43, 64, h2, 64);
	proxy_prefix_feed(&ph, text, 999);
	for (int i = 0; i < 15; i++)
		ck_assert(h1[i] != h2[i]);
	/* MAX bounds the hashes; a short prompt has none. */
	ck_assert_uint_eq(hash_text(text, 64, h2, 4), 4);
	ck_assert_mem_eq(h1, h2, 4 * sizeof h1[0]);
	ck_assert_uint_eq(hash_text("short", 64, h2, 64), 0);
	/* Block sizes are clamped. */
	ck_assert_uint_eq(hash_text(text, 1, h2, 64), 62);
}
END_TEST

START_TEST(test_separators)
{
	uint64_t a[4], b[4];
	struct proxy_prefix_hasher ph;
	char x[40], y[40];
	memset(x, 'x', sizeof x);
	memset(y, 'y', sizeof y);
	proxy_prefix_begin(&ph, 1, 16, a, 4);
	proxy_prefix_feed(&ph, x, 20);
	proxy_prefix_sep(&ph);
	proxy_prefix_feed(&ph, y, 20);
	ck_assert_uint_eq(ph.n, 2);
	proxy_prefix_begin(&ph, 1, 16, b, 4);
	proxy_prefix_feed(&ph, x, 21);
	proxy_prefix_sep(&ph);
	proxy_prefix_feed(&ph, y, 19);
	ck_assert_uint_eq(ph.n, 2);
	ck_assert(a[0] == b[0]);
	ck_assert(a[1] != b[1]);
}
END_TEST

START_TEST(test_match_insert)
{
	struct proxy_prefix_table *t = proxy_prefix_new(1);
	uint32_t w[3];
	for (int i = 0; i < 3; i++) {
		w[i] = proxy_prefix_owner_new(t);
		ck_assert_uint_ne(w[i], 0);
	}
	uint64_t conv1[10], conv2[10];
	for (int i = 0; i < 10; i++) {
		conv1[i] = 1000 + (uint64_t)i;
		conv2[i] = i < 4 ? conv1[i] : 2000 + (uint64_t)i; /* shares 4 blocks */
	}
	unsigned m[3];
	proxy_prefix_match(t, conv1, 10, w, 3, m);
	ck_assert(m[0] == 0 && m[1] == 0 && m[2] == 0);
	proxy_prefix_insert(t, conv1, 6, w[1]);
	proxy_prefix_match(t, conv1, 10, w, 3, m);
	ck_assert(m[0] == 0 && m[1] == 6 && m[2] == 0);
	proxy_prefix_match(t, conv2, 10, w, 3, m);
	ck_assert(m[0] == 0 && m[1] == 4 && m[2] == 0);
	proxy_prefix_insert(t, conv2, 10, w[2]);
	proxy_prefix_match(t, conv2, 10, w, 3, m);
	ck_assert(m[0] == 0 && m[1] == 4 && m[2] == 10);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, w[1]), 6);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, w[2]), 10);
	/* Inserting again credits nothing twice. */
	proxy_prefix_insert(t, conv2, 10, w[2]);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, w[2]), 10);
	/* Owner 0 never matches. */
	uint32_t none[1] = {0};
	proxy_prefix_match(t, conv2, 10, none, 1, m);
	ck_assert_uint_eq(m[0], 0);
	proxy_prefix_insert(t, conv2, 10, 0);
	proxy_prefix_free(t);
}
END_TEST

START_TEST(test_owner_list_mru)
{
	struct proxy_prefix_table *t = proxy_prefix_new(1);
	uint32_t w[PROXY_PREFIX_OWNERS + 1];
	uint64_t h[1] = {77};
	unsigned m[PROXY_PREFIX_OWNERS + 1];
	for (int i = 0; i <= PROXY_PREFIX_OWNERS; i++)
		w[i] = proxy_prefix_owner_new(t);
	for (int i = 0; i < PROXY_PREFIX_OWNERS; i++)
		proxy_prefix_insert(t, h, 1, w[i]);
	/* w[0] is the oldest; crediting it again makes it the newest. */
	proxy_prefix_insert(t, h, 1, w[0]);
	/* One more owner: the oldest (now w[1]) drops out. */
	proxy_prefix_insert(t, h, 1, w[PROXY_PREFIX_OWNERS]);
	proxy_prefix_match(t, h, 1, w, PROXY_PREFIX_OWNERS + 1, m);
	for (int i = 0; i <= PROXY_PREFIX_OWNERS; i++)
		ck_assert_msg(m[i] == (i == 1 ? 0u : 1u), "owner %d", i);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, w[1]), 0);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, w[0]), 1);
	proxy_prefix_free(t);
}
END_TEST

START_TEST(test_capacity_lru)
{
	struct proxy_prefix_table *t = proxy_prefix_new(1024);
	uint32_t a = proxy_prefix_owner_new(t), b = proxy_prefix_owner_new(t);
	struct proxy_prefix_stats st;
	/* An old prefix, then far more prefixes than fit. */
	uint64_t old[1] = {0x51};
	proxy_prefix_insert(t, old, 1, a);
	uint64_t *many = malloc(8192 * sizeof *many);
	for (int i = 0; i < 8192; i++)
		many[i] = proxy_prefix_hash64(&i, sizeof i, 9) | 1;
	for (int i = 0; i < 8192; i += 64)
		proxy_prefix_insert(t, many + i, 64, b);
	proxy_prefix_get_stats(t, &st);
	ck_assert_uint_ge(st.entries, 1024);
	ck_assert_uint_le(st.entries, 1100);
	ck_assert_uint_le(st.used, st.entries);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_eq(st.owners, 2);
	/* The counts follow the evictions: never more than the table holds. */
	ck_assert_uint_le(proxy_prefix_owner_blocks(t, a) + proxy_prefix_owner_blocks(t, b), st.used);
	/* The most recent prefixes are mostly still there. */
	unsigned m[1], found = 0;
	for (int i = 8192 - 256; i < 8192; i++) {
		proxy_prefix_match(t, many + i, 1, &b, 1, m);
		found += m[0];
	}
	ck_assert_uint_gt(found, 200);
	free(many);
	proxy_prefix_free(t);
}
END_TEST

START_TEST(test_owner_reuse)
{
	struct proxy_prefix_table *t = proxy_prefix_new(1);
	uint32_t a = proxy_prefix_owner_new(t);
	uint64_t h[2] = {5, 6};
	unsigned m[1];
	proxy_prefix_insert(t, h, 2, a);
	proxy_prefix_owner_free(t, a);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, a), 0);
	uint32_t b = proxy_prefix_owner_new(t);
	ck_assert_uint_eq(b & 0xFFFF, a & 0xFFFF); /* same slot, */
	ck_assert_uint_ne(b, a);                   /* new generation */
	proxy_prefix_match(t, h, 2, &b, 1, m);
	ck_assert_uint_eq(m[0], 0);
	/* Evicting entries of the dead owner does not touch the new one. */
	proxy_prefix_insert(t, h, 2, b);
	ck_assert_uint_eq(proxy_prefix_owner_blocks(t, b), 2);
	proxy_prefix_owner_free(t, b);
	proxy_prefix_owner_free(t, b); /* twice: ignored */
	struct proxy_prefix_stats st;
	proxy_prefix_get_stats(t, &st);
	ck_assert_uint_eq(st.owners, 0);
	/* 65535 live owners at most. */
	for (unsigned i = 0; i < 65535; i++)
		ck_assert_uint_ne(proxy_prefix_owner_new(t), 0);
	ck_assert_uint_eq(proxy_prefix_owner_new(t), 0);
	proxy_prefix_free(t);
}
END_TEST

Suite *suite_proxy_prefix(void)
{
	Suite *s = suite_create("proxy_prefix");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_hash64);
	tcase_add_test(tc, test_blocks);
	tcase_add_test(tc, test_separators);
	tcase_add_test(tc, test_match_insert);
	tcase_add_test(tc, test_owner_list_mru);
	tcase_add_test(tc, test_capacity_lru);
	tcase_add_test(tc, test_owner_reuse);
	suite_add_tcase(s, tc);
	return s;
}
