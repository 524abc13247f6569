/* check_sim_tok.c — sim/sim_tok: the deterministic tokenizer. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../sim/sim_tok.h"

static size_t count(const char *s)
{
	return sim_tok_encode(s, strlen(s), NULL);
}

START_TEST(test_counts)
{
	ck_assert_uint_eq(count(""), 0);
	ck_assert_uint_eq(count("a"), 1);
	ck_assert_uint_eq(count("hello"), 2);        /* hell|o */
	ck_assert_uint_eq(count(" hello"), 2);       /* " hell"|o */
	ck_assert_uint_eq(count("the cat sat"), 3);  /* the| cat| sat */
	ck_assert_uint_eq(count("Hi, you!"), 4);     /* Hi|,| you|! */
	ck_assert_uint_eq(count("a\n\nb"), 4);
	ck_assert_uint_eq(count("a        b"), 4);   /* a|"    "|"   "|" b" */
	ck_assert_uint_eq(count("caf\xc3\xa9"), 2);  /* caf|é */
	ck_assert_uint_eq(count("\xe6\x97\xa5\xe6\x9c\xac"), 2);
	ck_assert_uint_eq(count("\xff\xfe"), 2);     /* invalid bytes, one each */
	ck_assert_uint_eq(count("\xc3"), 1);         /* truncated sequence */
	ck_assert_uint_eq(count("\xed\xa0\x80"), 3); /* a surrogate: invalid */
}
END_TEST

START_TEST(test_ids_stable)
{
	struct sim_toks a = {0}, b = {0};
	const char *s = "The quick brown fox jumps over the lazy dog.";
	sim_tok_encode(s, strlen(s), &a);
	sim_tok_encode(s, strlen(s), &b);
	ck_assert_uint_eq(a.n, b.n);
	ck_assert(memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_uint_ge(a.ids[i], SIM_TOK_FIRST_ID);
		ck_assert_uint_lt(a.ids[i], SIM_TOK_VOCAB);
	}
	/* Same word, same id: " the" appears once, "The" differs. */
	ck_assert_uint_ne(a.ids[0], a.ids[9]);
	/* Fixed values: stable across runs and machines. */
	ck_assert_uint_eq(a.n, 13); /* The| quic|k| brow|n| fox| jump|s| over| the| lazy| dog|. */
	ck_assert_uint_eq(sim_hash64("abc", 3, 0), sim_hash64("abc", 3, 0));
	ck_assert_uint_ne(sim_hash64("abc", 3, 0), sim_hash64("abc", 3, 1));
	ck_assert_uint_lt(sim_tok_special("user"), SIM_TOK_FIRST_ID);
	ck_assert_uint_ne(sim_tok_special("user"), sim_tok_special("system"));
	sim_toks_free(&a);
	sim_toks_free(&b);
}
END_TEST

START_TEST(test_words)
{
	size_t len;
	char first[16], again[16];
	const char *w = sim_tok_word(42, 0, &len);
	ck_assert(len > 0 && w[0] >= 'A' && w[0] <= 'Z');
	snprintf(first, sizeof first, "%s", w);
	snprintf(again, sizeof again, "%s", sim_tok_word(42, 0, &len));
	ck_assert_str_eq(first, again);
	/* Each generated word re-tokenizes to exactly one token. */
	for (uint32_t i = 1; i < 500; i++) {
		w = sim_tok_word(7, i, &len);
		ck_assert_int_eq(w[0], ' ');
		ck_assert_uint_eq(strlen(w), len);
		ck_assert_uint_eq(sim_tok_encode(w, len, NULL), 1);
	}
	/* Different seeds give different text. */
	int diff = 0;
	for (uint32_t i = 0; i < 20; i++) {
		snprintf(first, sizeof first, "%s", sim_tok_word(1, i, &len));
		diff += strcmp(first, sim_tok_word(2, i, &len)) != 0;
	}
	ck_assert_int_gt(diff, 5);
}
END_TEST

START_TEST(test_resume)
{
	static const uint64_t seeds[] = {0, 1, 7, 42, 0xdeadbeefULL};
	char text[4096], head[64];
	size_t len;
	for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++) {
		uint64_t seed = seeds[si];
		size_t n = 0;
		text[0] = '\0';
		for (uint32_t k = 0; k <= 200; k++) {
			/* The first K words are K tokens, and a text ending with
			   them resumes at K, whatever comes before. */
			ck_assert_uint_eq(sim_tok_encode(text, n, NULL), k);
			ck_assert_uint_eq(sim_tok_resume(seed, text, n), k);
			snprintf(head, sizeof head, "Question: why?\n%s", k ? "" : "x");
			char both[4200];
			int bl = snprintf(both, sizeof both, "%s%s", head, text);
			ck_assert_uint_eq(sim_tok_resume(seed, both, (size_t)bl), k);
			/* Anything after them: not a continuation of them. */
			bl = snprintf(both, sizeof both, "%s zzz", text);
			ck_assert_uint_eq(sim_tok_resume(seed, both, (size_t)bl), 0);
			bl = snprintf(both, sizeof both, "%s.", text);
			ck_assert_uint_eq(sim_tok_resume(seed, both, (size_t)bl), 0);
			const char *w = sim_tok_word(seed, k, &len);
			memcpy(text + n, w, len);
			n += len;
			text[n] = '\0';
		}
		/* A word missing in the middle: only a shorter run counts. */
		size_t l0, l1;
		char w0[16];
		snprintf(w0, sizeof w0, "%s", sim_tok_word(seed, 0, &l0));
		const char *w1 = sim_tok_word(seed, 1, &l1);
		int bl = snprintf(text, sizeof text, "%s%s", w0, w1);
		ck_assert_uint_eq(sim_tok_resume(seed, text, (size_t)bl), 2);
		bl = snprintf(text, sizeof text, "%s%s", w0, sim_tok_word(seed, 2, &len));
		ck_assert_uint_lt(sim_tok_resume(seed, text, (size_t)bl), 2);
		/* Lower case: not word 0. */
		text[0] = (char)(w0[0] - 'A' + 'a');
		memcpy(text + 1, w0 + 1, l0);
		ck_assert_uint_eq(sim_tok_resume(seed, text, l0), 0);
	}
	ck_assert_uint_eq(sim_tok_resume(1, "", 0), 0);
	ck_assert_uint_eq(sim_tok_resume(1, "T", 1), 0);
}
END_TEST

Suite *suite_sim_tok(void)
{
	Suite *s = suite_create("sim_tok");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_ids_stable);
	tcase_add_test(tc, test_words);
	tcase_add_test(tc, test_resume);
	suite_add_tcase(s, tc);
	return s;
}
