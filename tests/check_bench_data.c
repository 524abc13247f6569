/* check_bench_data.c — cli/bench_data: deterministic prompts whose words are
 * elastic-sim tokens, vLLM's length ranges, multiturn and JSONL datasets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/bench_data.h"
#include "../sim/sim_tok.h"

static struct bench_data_opts opts(void)
{
	return (struct bench_data_opts){.input_len = 100, .output_len = 20, .num_prompts = 50,
					.conversations = 3, .turns = 4, .seed = 7};
}

START_TEST(test_words_are_sim_tokens)
{
	struct bench_rng r;
	bench_rng_seed(&r, 1);
	struct buf b = BUF_INIT;
	bench_words(&r, 5000, &b);
	ck_assert_int_eq(bench_count_words(b.data, b.len), 5000);
	ck_assert_uint_eq(sim_tok_encode(b.data, b.len, NULL), 5000);
	/* Every word is 2 to 4 lower-case letters, single spaces between. */
	size_t run = 0;
	for (size_t i = 0; i <= b.len; i++) {
		if (i == b.len || b.data[i] == ' ') {
			ck_assert(run >= 2 && run <= 4);
			run = 0;
		} else {
			ck_assert(b.data[i] >= 'a' && b.data[i] <= 'z');
			run++;
		}
	}
	buf_free(&b);
	ck_assert_int_eq(bench_count_words("  a\tbb\n c  ", 11), 3);
	ck_assert_int_eq(bench_count_words("", 0), 0);
}
END_TEST

START_TEST(test_rng)
{
	struct bench_rng a, b;
	bench_rng_seed(&a, 42);
	bench_rng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(bench_rng_next(&a), bench_rng_next(&b));
	/* splitmix64's published first output for seed 0. */
	bench_rng_seed(&a, 0);
	ck_assert_uint_eq(bench_rng_next(&a), 0xe220a8397b1dcdafULL);
	double sum = 0;
	int lo = 0, hi = 0;
	for (int i = 0; i < 100000; i++) {
		double u = bench_rng_uniform(&a);
		ck_assert(u >= 0 && u < 1);
		long k = bench_rng_range(&a, 3, 5);
		ck_assert(k >= 3 && k <= 5);
		lo += k == 3;
		hi += k == 5;
		sum += bench_rng_exp(&a, 4.0);
	}
	ck_assert(lo > 30000 && hi > 30000);
	ck_assert_double_eq_tol(sum / 100000, 0.25, 0.01);
	ck_assert_int_eq(bench_rng_range(&a, 9, 2), 9);
}
END_TEST

START_TEST(test_random_dataset)
{
	struct bench_data_opts o = opts();
	o.prefix_len = 30;
	struct bench_dataset a, b;
	char err[200];
	ck_assert_int_eq(bench_data_generate(&a, BENCH_DS_RANDOM, &o, err, sizeof err), 0);
	ck_assert_int_eq(bench_data_generate(&b, BENCH_DS_RANDOM, &o, err, sizeof err), 0);
	ck_assert_uint_eq(a.n, 50);
	ck_assert_uint_eq(a.turns, 1);
	ck_assert_uint_eq(a.conversations, 50);
	ck_assert_ptr_null(a.system);
	for (size_t i = 0; i < a.n; i++) {
		/* Deterministic; the prefix shared; exact lengths at ratio 0. */
		ck_assert_str_eq(a.p[i].text, b.p[i].text);
		ck_assert_int_eq(a.p[i].input_len, 130);
		ck_assert_int_eq(bench_count_words(a.p[i].text, strlen(a.p[i].text)), 130);
		ck_assert_int_eq(a.p[i].output_len, 20);
		ck_assert_int_eq(memcmp(a.p[i].text, a.p[0].text, 60), 0);
		if (i)
			ck_assert_str_ne(a.p[i].text, a.p[0].text);
	}
	bench_data_free(&b);
	o.seed = 8;
	ck_assert_int_eq(bench_data_generate(&b, BENCH_DS_RANDOM, &o, err, sizeof err), 0);
	ck_assert_str_ne(a.p[0].text, b.p[0].text);
	bench_data_free(&a);
	bench_data_free(&b);
}
END_TEST

START_TEST(test_range_ratio)
{
	/* vLLM: inputs in [floor(100 * 0.5), ceil(100 * 1.5)], outputs in
	 * [max(1, floor(2 * 0.5)), ceil(2 * 1.5)]. */
	struct bench_data_opts o = opts();
	o.num_prompts = 4000;
	o.range_ratio = 0.5;
	o.output_len = 2;
	struct bench_dataset d;
	char err[200];
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_RANDOM, &o, err, sizeof err), 0);
	long imin = 1 << 30, imax = 0, omin = 1 << 30, omax = 0;
	for (size_t i = 0; i < d.n; i++) {
		long in = d.p[i].input_len, out = d.p[i].output_len;
		imin = in < imin ? in : imin;
		imax = in > imax ? in : imax;
		omin = out < omin ? out : omin;
		omax = out > omax ? out : omax;
	}
	ck_assert_int_eq(imin, 50);
	ck_assert_int_eq(imax, 150);
	ck_assert_int_eq(omin, 1);
	ck_assert_int_eq(omax, 3);
	bench_data_free(&d);
	o.range_ratio = 1.0;
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_RANDOM, &o, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "[0, 1)"));
}
END_TEST

START_TEST(test_multiturn_dataset)
{
	struct bench_data_opts o = opts();
	o.prefix_len = 64;
	struct bench_dataset d;
	char err[200];
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_MULTITURN, &o, err, sizeof err), 0);
	ck_assert_uint_eq(d.n, 12);
	ck_assert_uint_eq(d.conversations, 3);
	ck_assert_uint_eq(d.turns, 4);
	ck_assert_ptr_nonnull(d.system);
	ck_assert_int_eq(d.system_len, 64);
	ck_assert_int_eq(bench_count_words(d.system, strlen(d.system)), 64);
	for (size_t i = 0; i < d.n; i++) {
		/* User turns hold only their own words; the system prompt is apart. */
		ck_assert_int_eq(d.p[i].input_len, 100);
		ck_assert_int_eq(bench_count_words(d.p[i].text, strlen(d.p[i].text)), 100);
		ck_assert_ptr_null(strstr(d.p[i].text, d.system));
	}
	bench_data_free(&d);
	o.turns = 0;
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_MULTITURN, &o, err, sizeof err), -1);
}
END_TEST

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/check_bench_data_XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(test_jsonl_file)
{
	char *path = write_tmp("{\"prompt\": \"one two three\"}\n"
			       "\n"
			       "   \r\n"
			       "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 9}\r\n"
			       "{\"prompt\": \"x\", \"output_len\": 3}  \n");
	struct bench_dataset d;
	char err[300];
	ck_assert_int_eq(bench_data_load(&d, path, 0, 16, err, sizeof err), 0);
	ck_assert_uint_eq(d.n, 3);
	ck_assert_uint_eq(d.turns, 1);
	ck_assert_str_eq(d.p[0].text, "one two three");
	ck_assert_int_eq(d.p[0].input_len, 3);
	ck_assert_int_eq(d.p[0].output_len, 16);
	ck_assert_ptr_null(d.p[1].text);
	ck_assert_str_eq(d.p[1].messages, "[{\"role\":\"user\",\"content\":\"hi\"}]");
	ck_assert_int_eq(d.p[1].output_len, 9);
	ck_assert_int_eq(d.p[2].output_len, 3);
	bench_data_free(&d);
	/* More prompts than lines: from the start again. */
	ck_assert_int_eq(bench_data_load(&d, path, 7, 0, err, sizeof err), 0);
	ck_assert_uint_eq(d.n, 7);
	ck_assert_str_eq(d.p[6].text, "one two three");
	ck_assert_int_eq(d.p[6].output_len, 0);
	bench_data_free(&d);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_jsonl_errors)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"{\"prompt\": \"a\"}\n{\"prompt\": 3}\n", ":2: \"prompt\" must be a string"},
		{"{\"prompt\": \"a\"\n", ":1: not valid JSON"},
		{"[1, 2]\n", ":1: a line must hold a JSON object"},
		{"{\"a\": 1}\n", ":1: a line needs either \"prompt\" or \"messages\""},
		{"{\"prompt\": \"a\", \"messages\": []}\n", ":1: a line needs either"},
		{"{\"messages\": []}\n", ":1: \"messages\" must be a non-empty array"},
		{"{\"prompt\": \"a\", \"max_tokens\": 0}\n", ":1: \"max_tokens\" must be a positive"},
		{"{\"prompt\": \"a\"} {\"prompt\": \"b\"}\n", ":1: text after the JSON object"},
		{"\n\n", ": no requests in the file"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *path = write_tmp(cases[i].text);
		struct bench_dataset d;
		char err[300];
		ck_assert_int_eq(bench_data_load(&d, path, 0, 16, err, sizeof err), -1);
		ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, cases[i].msg),
			      "case %zu: %s", i, err);
		unlink(path);
		free(path);
	}
	struct bench_dataset d;
	char err[300];
	ck_assert_int_eq(bench_data_load(&d, "/nonexistent/x.jsonl", 0, 0, err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot open /nonexistent/x.jsonl: No such file or directory");
}
END_TEST

Suite *suite_bench_data(void)
{
	Suite *s = suite_create("bench_data");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_words_are_sim_tokens);
	tcase_add_test(tc, test_rng);
	tcase_add_test(tc, test_random_dataset);
	tcase_add_test(tc, test_range_ratio);
	tcase_add_test(tc, test_multiturn_dataset);
	tcase_add_test(tc, test_jsonl_file);
	tcase_add_test(tc, test_jsonl_errors);
	suite_add_tcase(s, tc);
	return s;
}
