/* check_rs_qa.c — research/rs_qa: questions and answers files (errors
 * with FILE:LINE), substring normalization and matching, the judge's
 * verdicts, pass@k. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../research/rs_qa.h"

static char *tmpfile_with(const char *text)
{
	char *path = strdup("/tmp/check_rs_qa.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Loads TEXT; returns the error ("" when it loaded), with the temporary
 * file's name replaced by "F". */
static const char *load_err(const char *text, enum rs_qa_need need, struct rs_qa *qa)
{
	static char msg[512];
	char err[512];
	char *path = tmpfile_with(text);
	struct rs_qa tmp;
	if (!qa)
		qa = &tmp;
	int rc = rs_qa_load(qa, path, need, err, sizeof err);
	if (rc == 0) {
		msg[0] = '\0';
		if (qa == &tmp)
			rs_qa_free(qa);
	} else {
		size_t n = strlen(path);
		ck_assert_msg(strncmp(err, path, n) == 0, "error does not name the file: %s", err);
		snprintf(msg, sizeof msg, "F%s", err + n);
	}
	unlink(path);
	free(path);
	return msg;
}

START_TEST(test_questions_load)
{
	struct rs_qa qa;
	const char *e = load_err("{\"id\": \"q1\", \"question\": \"Who?\", \"answer\": \"Ada\"}\n"
				 "\n"
				 "  {\"id\": 7, \"question\": \"When?\", \"answer\": [\"1843\", \"in 1843\"], \"x\": 1}\n"
				 "{\"question\": \"Where?\"}",
				 RS_QA_QUESTIONS, &qa);
	ck_assert_str_eq(e, "");
	ck_assert_uint_eq(qa.n, 3);
	ck_assert_str_eq(qa.q[0].id, "q1");
	ck_assert_str_eq(qa.q[0].dir, "q1");
	ck_assert_str_eq(qa.q[0].question, "Who?");
	ck_assert_uint_eq(qa.q[0].nanswers, 1);
	ck_assert_str_eq(qa.q[0].answers[0], "Ada");
	ck_assert_str_eq(qa.q[1].id, "7");
	ck_assert_int_eq(qa.q[1].line, 3);
	ck_assert_uint_eq(qa.q[1].nanswers, 2);
	ck_assert_str_eq(qa.q[1].answers[1], "in 1843");
	/* No id: the line number. */
	ck_assert_str_eq(qa.q[2].id, "4");
	ck_assert_uint_eq(qa.q[2].nanswers, 0);
	ck_assert_ptr_nonnull(rs_qa_find(&qa, "7"));
	ck_assert_ptr_null(rs_qa_find(&qa, "8"));
	rs_qa_truncate(&qa, 1);
	ck_assert_uint_eq(qa.n, 1);
	rs_qa_free(&qa);
}
END_TEST

START_TEST(test_questions_errors)
{
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": \"a\"}\n{\"id\": 2, \"question\": \"b\"\n",
				  RS_QA_QUESTIONS, NULL),
			 "F:2: not JSON: unexpected end of input");
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": \"a\"}\n[1, 2]\n", RS_QA_QUESTIONS, NULL),
			 "F:2: not a JSON object");
	ck_assert_str_eq(load_err("{\"id\": 1}\n", RS_QA_QUESTIONS, NULL),
			 "F:1: no \"question\" (each line: {\"id\": ..., \"question\": \"...\"})");
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": 5}\n", RS_QA_QUESTIONS, NULL),
			 "F:1: \"question\" must be a non-empty string");
	ck_assert_str_eq(load_err("{\"id\": 1.5, \"question\": \"a\"}\n", RS_QA_QUESTIONS, NULL),
			 "F:1: \"id\" must be a non-empty string or an integer");
	ck_assert_str_eq(load_err("{\"id\": \"\", \"question\": \"a\"}\n", RS_QA_QUESTIONS, NULL),
			 "F:1: \"id\" must be a non-empty string or an integer");
	ck_assert_str_eq(load_err("{\"id\": \"a\", \"question\": \"a\"}\n\n{\"id\": \"a\", \"question\": \"b\"}\n",
				  RS_QA_QUESTIONS, NULL),
			 "F:3: duplicate id 'a' (first on line 1)");
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": \"a\"} x\n", RS_QA_QUESTIONS, NULL),
			 "F:1: not JSON: unexpected character at byte 27");
	ck_assert_str_eq(load_err("\n  \n", RS_QA_QUESTIONS, NULL), "F: no questions in the file");
	ck_assert_str_eq(load_err("{\"id\": 1, \"answer\": []}\n", RS_QA_ANSWERS, NULL),
			 "F:1: \"answer\" must be a string or a non-empty array of strings");
	ck_assert_str_eq(load_err("{\"id\": 1, \"answer\": [\"a\", {}]}\n", RS_QA_ANSWERS, NULL),
			 "F:1: \"answer\"[1] is not a string");
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": \"a\"}\n", RS_QA_ANSWERS, NULL),
			 "F:1: no \"answer\" (each line: {\"id\": ..., \"answer\": \"...\"})");
	char err[256];
	struct rs_qa qa;
	ck_assert_int_eq(rs_qa_load(&qa, "/nonexistent/q.jsonl", RS_QA_QUESTIONS, err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot open /nonexistent/q.jsonl: No such file or directory");
}
END_TEST

START_TEST(test_dirname)
{
	char *d = rs_qa_dirname("q-1.a_B");
	ck_assert_str_eq(d, "q-1.a_B");
	free(d);
	/* Changed ids get a digest: "a/b" and "a_b" stay apart. */
	d = rs_qa_dirname("a/b");
	ck_assert_int_eq(strncmp(d, "a_b-", 4), 0);
	ck_assert_uint_eq(strlen(d), 12);
	char *d2 = rs_qa_dirname("a_b");
	ck_assert_str_eq(d2, "a_b");
	free(d2);
	free(d);
	d = rs_qa_dirname("..");
	ck_assert_int_eq(strncmp(d, "q..-", 4), 0);
	free(d);
	char longid[300];
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	d = rs_qa_dirname(longid);
	ck_assert_uint_eq(strlen(d), 80 + 9);
	free(d);
}
END_TEST

START_TEST(test_take_answers)
{
	struct rs_qa q, a;
	ck_assert_str_eq(load_err("{\"id\": 1, \"question\": \"a\", \"answer\": \"old\"}\n{\"id\": 2, \"question\": \"b\"}\n",
				  RS_QA_QUESTIONS, &q),
			 "");
	ck_assert_str_eq(load_err("{\"id\": 2, \"answer\": [\"x\", \"y\"]}\n", RS_QA_ANSWERS, &a), "");
	rs_qa_take_answers(&q, &a);
	ck_assert_str_eq(q.q[0].answers[0], "old");
	ck_assert_uint_eq(q.q[1].nanswers, 2);
	ck_assert_str_eq(q.q[1].answers[1], "y");
	rs_qa_free(&q);
	rs_qa_free(&a);
}
END_TEST

static void norm_is(const char *in, const char *want)
{
	char *n = rs_norm(in);
	ck_assert_msg(strcmp(n, want) == 0, "rs_norm(\"%s\") = \"%s\", want \"%s\"", in, n, want);
	free(n);
}

START_TEST(test_norm)
{
	norm_is("  The Eiffel   Tower! ", "eiffel tower");
	norm_is("U.S.A.", "usa");
	norm_is("1,000,000", "1000000");
	norm_is("Don't stop", "dont stop");
	norm_is("Don\xe2\x80\x99t", "dont");
	norm_is("a cat, an apple; the end.", "cat apple end");
	norm_is("Rock-and-roll (1950s)", "rock and roll 1950s");
	norm_is("Zürich", "zürich");
	norm_is("", "");
	norm_is("...", "");
	norm_is("3.14", "314");
}
END_TEST

START_TEST(test_substring)
{
	char *ans[] = {"Ada Lovelace", "Augusta Ada King"};
	ck_assert(rs_substring_match("The answer is ADA LOVELACE.", ans, 2));
	ck_assert(rs_substring_match("Answer: Augusta Ada King, Countess of Lovelace", ans, 2));
	ck_assert(!rs_substring_match("Charles Babbage", ans, 2));
	ck_assert(!rs_substring_match(NULL, ans, 2));
	/* Whole words only: "cat" is not in "concatenate". */
	char *cat[] = {"cat"};
	ck_assert(!rs_substring_match("concatenate", cat, 1));
	ck_assert(rs_substring_match("a black cat.", cat, 1));
	char *num[] = {"1,024"};
	ck_assert(rs_substring_match("It holds 1024 entries", num, 1));
	ck_assert(!rs_substring_match("It holds 10245 entries", num, 1));
	char *empty[] = {"the", "..."};
	ck_assert(!rs_substring_match("the end...", empty, 2));
	char *us[] = {"U.S."};
	ck_assert(rs_substring_match("in the US", us, 1));
}
END_TEST

START_TEST(test_verdicts)
{
	ck_assert_int_eq(rs_verdict_parse("The response names the same person.\nVerdict: CORRECT"), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("It names another year.\nVerdict: INCORRECT"), RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("**Verdict**: incorrect."), RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("verdict is correct"), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("Verdict: not correct"), RS_VERDICT_INCORRECT);
	/* The last verdict wins over words before it. */
	ck_assert_int_eq(rs_verdict_parse("Looks correct at first, but the date is wrong. Verdict: INCORRECT"),
			 RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("{\"verdict\": \"correct\", \"why\": \"same\"}"), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("```json\n{\"correct\": false}\n```"), RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("CORRECT"), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("  no. "), RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("Yes"), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("The response is incorrect."), RS_VERDICT_INCORRECT);
	ck_assert_int_eq(rs_verdict_parse("The response is correct."), RS_VERDICT_CORRECT);
	ck_assert_int_eq(rs_verdict_parse("The response isn't correct."), RS_VERDICT_INCORRECT);
	/* Both kinds, or none: unparsable. */
	ck_assert_int_eq(rs_verdict_parse("The name is correct but the year is wrong."), RS_VERDICT_UNPARSABLE);
	ck_assert_int_eq(rs_verdict_parse("Lorem ipsum dolor sit amet"), RS_VERDICT_UNPARSABLE);
	ck_assert_int_eq(rs_verdict_parse(""), RS_VERDICT_UNPARSABLE);
	ck_assert_int_eq(rs_verdict_parse(NULL), RS_VERDICT_UNPARSABLE);
	ck_assert_int_eq(rs_verdict_parse("Verdict: maybe"), RS_VERDICT_UNPARSABLE);
	ck_assert_int_eq(rs_verdict_parse("not"), RS_VERDICT_UNPARSABLE);
}
END_TEST

START_TEST(test_pass_at_k)
{
	const double eps = 1e-12;
	ck_assert_double_eq_tol(rs_pass_at_k(4, 1, 1), 0.25, eps);
	ck_assert_double_eq_tol(rs_pass_at_k(4, 1, 4), 1.0, eps);
	ck_assert_double_eq_tol(rs_pass_at_k(4, 0, 4), 0.0, eps);
	ck_assert_double_eq_tol(rs_pass_at_k(4, 4, 1), 1.0, eps);
	/* 1 - C(3,2)/C(5,2) = 1 - 3/10 */
	ck_assert_double_eq_tol(rs_pass_at_k(5, 2, 2), 0.7, eps);
	/* 1 - C(7,3)/C(10,3) = 1 - 35/120 */
	ck_assert_double_eq_tol(rs_pass_at_k(10, 3, 3), 1.0 - 35.0 / 120.0, eps);
	/* pass@1 is the fraction correct. */
	ck_assert_double_eq_tol(rs_pass_at_k(200, 37, 1), 37.0 / 200.0, eps);
	/* Large n without overflow: 1 - C(150,100)/C(200,100) is all but 1. */
	double p = rs_pass_at_k(200, 50, 100);
	ck_assert(p > 0.999999 && p <= 1.0);
	ck_assert_double_eq(rs_pass_at_k(3, 1, 4), -1);
	ck_assert_double_eq(rs_pass_at_k(0, 0, 1), -1);
	ck_assert_double_eq(rs_pass_at_k(3, 4, 1), -1);
}
END_TEST

Suite *suite_rs_qa(void)
{
	Suite *s = suite_create("rs_qa");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_questions_load);
	tcase_add_test(tc, test_questions_errors);
	tcase_add_test(tc, test_dirname);
	tcase_add_test(tc, test_take_answers);
	tcase_add_test(tc, test_norm);
	tcase_add_test(tc, test_substring);
	tcase_add_test(tc, test_verdicts);
	tcase_add_test(tc, test_pass_at_k);
	suite_add_tcase(s, tc);
	return s;
}
