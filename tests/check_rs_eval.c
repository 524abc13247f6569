/* check_rs_eval.c — research/rs_eval: reading a run's folder, summing up
 * substring matches and verdicts per question, pass@k over them, the
 * table (questions without an answer and unparsable verdicts named), the
 * JSON, the judge's messages. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../research/rs_eval.h"
#include "../research/rs_jutil.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_rs_eval.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *qdir, int k, const char *id, const char *status, const char *answer)
{
	char path[256], text[512], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, qdir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/%d.jsonl", dir, qdir, k);
	snprintf(text, sizeof text, "{\"id\":\"%s\",\"attempt\":%d,\"question\":\"Q %s?\",\"status\":\"%s\",\"answer\":%s%s%s}\n",
		 id, k, id, status, answer ? "\"" : "", answer ? answer : "null", answer ? "\"" : "");
	ck_assert_int_eq(rs_write_atomic(path, text, strlen(text), err, sizeof err), 0);
}

static void load_answers(struct rs_qa *a)
{
	char path[128], err[256];
	snprintf(path, sizeof path, "%s.answers", dir);
	const char *text = "{\"id\": \"q1\", \"answer\": \"Paris\"}\n"
			   "{\"id\": \"q2\", \"answer\": [\"1843\", \"eighteen forty-three\"]}\n"
			   "{\"id\": \"q10\", \"answer\": \"blue\"}\n";
	ck_assert_int_eq(rs_write_atomic(path, text, strlen(text), err, sizeof err), 0);
	ck_assert_int_eq(rs_qa_load(a, path, RS_QA_ANSWERS, err, sizeof err), 0);
	unlink(path);
}

static void score(struct rs_eval *e, const struct rs_qa *a)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct rs_question *q = rs_qa_find(a, e->t[i].id);
		if (q && e->t[i].finished)
			e->t[i].substring = rs_substring_match(e->t[i].answer, q->answers, q->nanswers);
	}
}

START_TEST(test_scan_and_summary)
{
	/* q1: 2 of 4 right; q2: 0 of 4 (one unfinished); q10: 4 of 4; q3: no answer known. */
	put("q1", 0, "q1", "done", "Answer: Paris");
	put("q1", 1, "q1", "done", "Answer: Lyon");
	put("q1", 2, "q1", "done", "paris, France");
	put("q1", 3, "q1", "done", "Marseille");
	put("q2", 0, "q2", "done", "1842");
	put("q2", 1, "q2", "done", "1844");
	put("q2", 2, "q2", "error", NULL);
	put("q2", 3, "q2", "done", "no idea");
	for (int k = 0; k < 4; k++)
		put("q10", k, "q10", "done", "Blue.");
	put("q3", 0, "q3", "done", "x");
	/* Not trajectories: skipped or ignored. */
	char p[160];
	snprintf(p, sizeof p, "%s/q1/9.jsonl", dir);
	FILE *f = fopen(p, "w");
	fputs("{\"attempt\": 9", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/q1/0.jsonl.tmp.1.0", dir);
	f = fopen(p, "w");
	fclose(f);
	snprintf(p, sizeof p, "%s/progress.json", dir);
	f = fopen(p, "w");
	fputs("{}", f);
	fclose(f);

	struct rs_eval e;
	char err[256];
	ck_assert_int_eq(rs_eval_scan(&e, dir, err, sizeof err), 0);
	ck_assert_uint_eq(e.n, 13);
	ck_assert_uint_eq(e.skipped, 1);
	/* Natural order: q1, q2, q3, q10. */
	ck_assert_str_eq(e.t[0].id, "q1");
	ck_assert_int_eq(e.t[3].attempt, 3);
	ck_assert_str_eq(e.t[4].id, "q2");
	ck_assert_str_eq(e.t[8].id, "q3");
	ck_assert_str_eq(e.t[9].id, "q10");
	ck_assert_str_eq(e.t[0].question, "Q q1?");
	ck_assert(!e.t[6].finished);
	ck_assert_ptr_null(e.t[6].answer);

	struct rs_qa a;
	load_answers(&a);
	score(&e, &a);
	/* Verdicts: q1 all correct but one unparsable; q10 3 correct, 1 failed call. */
	for (int i = 0; i < 4; i++)
		e.t[i].verdict = i == 3 ? -1 : 1;
	e.t[3].judge_reply = strdup("Lorem ipsum\ndolor");
	for (int i = 4; i < 8; i++)
		e.t[i].verdict = i == 6 ? RS_EVAL_NOT_JUDGED : 0;
	for (int i = 9; i < 13; i++)
		e.t[i].verdict = i == 12 ? RS_EVAL_JUDGE_FAILED : 1;

	struct rs_eval_sum s;
	rs_eval_summarize(&e, &a, true, &s);
	ck_assert_uint_eq(s.nq, 4);
	ck_assert_uint_eq(s.scored, 3);
	ck_assert_uint_eq(s.trajectories, 11);
	ck_assert_uint_eq(s.sub, 6);
	ck_assert_uint_eq(s.judge, 6);
	ck_assert_uint_eq(s.unparsable, 1);
	ck_assert_uint_eq(s.judge_failed, 1);
	ck_assert_uint_eq(s.unfinished, 1);
	ck_assert_uint_eq(s.no_answer, 1);
	ck_assert_int_eq(s.kmax, 4);
	size_t nq;
	/* pass@1 by substring: mean of 2/4, 0/3, 4/4. */
	ck_assert_double_eq_tol(rs_eval_pass_at(&s, 1, false, &nq), (0.5 + 0 + 1) / 3, 1e-12);
	ck_assert_uint_eq(nq, 3);
	/* pass@4: q2 has only 3 finished trajectories, so it is left out. */
	ck_assert_double_eq_tol(rs_eval_pass_at(&s, 4, false, &nq), 1.0, 1e-12);
	ck_assert_uint_eq(nq, 2);
	/* pass@2 by the judge: q1 3/4 -> 1, q2 0/3 -> 0, q10 3/4 -> 1. */
	ck_assert_double_eq_tol(rs_eval_pass_at(&s, 2, true, &nq), 2.0 / 3, 1e-12);
	ck_assert_double_eq(rs_eval_pass_at(&s, 5, true, &nq), -1);

	struct buf t = BUF_INIT;
	rs_eval_table(&s, &e, dir, "A.jsonl", "judge-m", true, &t);
	ck_assert_msg(strstr(t.data, "trajectory accuracy    54.5% (6/11)             54.5% (6/11)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "pass@1                 50.0% (3 q)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "pass@4                 100.0% (2 q)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "unparsable verdicts                             1"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "judge calls failed                              1"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "questions without an answer in A.jsonl: 1 (q3)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "q1/3: \"Lorem ipsum dolor\""), "%s", t.data);
	ck_assert_msg(strstr(t.data, "judge (judge-m)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "q3                          1          0          0          0  (no answer)"), "%s", t.data);
	buf_free(&t);

	struct json_object *j = rs_eval_json(&s, &e, dir, "A.jsonl", "judge-m"), *x, *y;
	ck_assert(json_object_object_get_ex(j, "substring", &x));
	ck_assert(json_object_object_get_ex(x, "pass_at_k", &y));
	ck_assert(json_object_object_get_ex(y, "4", &y));
	ck_assert_double_eq_tol(json_object_get_double(y), 1.0, 1e-12);
	ck_assert(json_object_object_get_ex(j, "judge", &x));
	ck_assert(json_object_object_get_ex(x, "unparsable", &y));
	ck_assert_int_eq(json_object_get_int(y), 1);
	ck_assert(json_object_object_get_ex(j, "missing_answers", &x));
	ck_assert_int_eq(json_object_array_length(x), 1);
	ck_assert(json_object_object_get_ex(j, "details", &x));
	ck_assert_int_eq(json_object_array_length(x), 13);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 3), "verdict", &y));
	ck_assert_str_eq(json_object_get_string(y), "unparsable");
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 12), "verdict", &y));
	ck_assert_str_eq(json_object_get_string(y), "failed");
	json_object_put(j);

	/* Without a judge: its column says so, the JSON has null. */
	rs_eval_sum_free(&s);
	rs_eval_summarize(&e, &a, false, &s);
	t = (struct buf)BUF_INIT;
	rs_eval_table(&s, &e, dir, "A.jsonl", NULL, false, &t);
	ck_assert_msg(strstr(t.data, "judge (not run)"), "%s", t.data);
	ck_assert(!strstr(t.data, "unparsable"));
	buf_free(&t);
	j = rs_eval_json(&s, &e, dir, "A.jsonl", NULL);
	ck_assert(json_object_object_get_ex(j, "judge", &x));
	ck_assert_ptr_null(x);
	json_object_put(j);
	rs_eval_sum_free(&s);
	rs_eval_free(&e);
	rs_qa_free(&a);
}
END_TEST

START_TEST(test_scan_errors)
{
	struct rs_eval e;
	char err[256];
	ck_assert_int_eq(rs_eval_scan(&e, "/nonexistent/run", err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot read /nonexistent/run: No such file or directory");
	ck_assert_int_eq(rs_eval_scan(&e, dir, err, sizeof err), 0);
	ck_assert_uint_eq(e.n, 0);
	rs_eval_free(&e);
}
END_TEST

START_TEST(test_judge_messages)
{
	char *one[] = {"Paris"}, *two[] = {"1843", "in 1843"};
	struct json_object *m = rs_eval_judge_messages("Where?", one, 1, "Answer: Paris");
	ck_assert_int_eq(json_object_array_length(m), 2);
	struct json_object *x;
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 0), "content", &x));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(x), "Verdict: CORRECT"));
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 1), "content", &x));
	ck_assert_str_eq(json_object_get_string(x), "Question:\nWhere?\n\nGold answer:\nParis\n\nResponse:\nAnswer: Paris\n");
	json_object_put(m);
	/* Several forms; a long response keeps its end. */
	char *longr = malloc(20001);
	memset(longr, 'a', 20000);
	memcpy(longr + 20000 - 10, "Answer: 43", 10);
	longr[20000] = '\0';
	m = rs_eval_judge_messages(NULL, two, 2, longr);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 1), "content", &x));
	const char *c = json_object_get_string(x);
	ck_assert_ptr_nonnull(strstr(c, "Question:\n(not recorded)"));
	ck_assert_ptr_nonnull(strstr(c, "Gold answer (any of these forms):\n- 1843\n- in 1843\n"));
	ck_assert_ptr_nonnull(strstr(c, "Response (its end):\n..."));
	ck_assert_ptr_nonnull(strstr(c, "Answer: 43\n"));
	ck_assert(strlen(c) < 12200);
	json_object_put(m);
	free(longr);
}
END_TEST

Suite *suite_rs_eval(void)
{
	Suite *s = suite_create("rs_eval");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scan_and_summary);
	tcase_add_test(tc, test_scan_errors);
	tcase_add_test(tc, test_judge_messages);
	suite_add_tcase(s, tc);
	return s;
}
