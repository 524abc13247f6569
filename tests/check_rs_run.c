/* check_rs_run.c — research/rs_run's bookkeeping: attempt files (kept,
 * redone, never trusted when partial or foreign), temporary files of a
 * killed run, atomic writes, the counts of progress.json and the progress
 * line. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../research/rs_jutil.h"
#include "../research/rs_run.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_rs_run.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *rel, const char *text)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0755);
	*slash = '/';
	ck_assert_int_eq(rs_write_atomic(path, text, strlen(text), err, sizeof err), 0);
}

static struct rs_question q1 = {.id = "q/1", .dir = "q_1-abc", .question = "Who?"};

START_TEST(test_attempt_states)
{
	char *p = rs_run_attempt_path(dir, &q1, 3);
	char want[128];
	snprintf(want, sizeof want, "%s/q_1-abc/3.jsonl", dir);
	ck_assert_str_eq(p, want);
	free(p);

	put("q_1-abc/0.jsonl", "{\"id\":\"q/1\",\"attempt\":0,\"status\":\"done\",\"answer\":\"x\"}\n");
	put("q_1-abc/1.jsonl", "{\"id\":\"q/1\",\"attempt\":1,\"status\":\"error\",\"error\":\"model call failed\"}\n");
	put("q_1-abc/2.jsonl", "{\"id\":\"q/1\",\"attempt\":2,\"status\":\"do");           /* cut */
	put("q_1-abc/3.jsonl", "{\"id\":\"other\",\"attempt\":3,\"status\":\"done\"}\n");    /* foreign */
	put("q_1-abc/4.jsonl", "{\"id\":\"q/1\",\"attempt\":4,\"status\":\"abandoned\"}\n");
	struct json_object *rec;
	char why[256];
	char *path;
	const enum rs_attempt_state want_st[] = {RS_ATTEMPT_DONE, RS_ATTEMPT_FAILED, RS_ATTEMPT_BAD,
						 RS_ATTEMPT_BAD, RS_ATTEMPT_BAD, RS_ATTEMPT_TODO};
	for (int k = 0; k < 6; k++) {
		path = rs_run_attempt_path(dir, &q1, k);
		why[0] = '\0';
		enum rs_attempt_state st = rs_run_read_attempt(path, q1.id, &rec, why, sizeof why);
		ck_assert_msg(st == want_st[k], "attempt %d: state %d, want %d (%s)", k, st, want_st[k], why);
		if (st == RS_ATTEMPT_DONE || st == RS_ATTEMPT_FAILED)
			ck_assert_ptr_nonnull(rec);
		else
			ck_assert_ptr_null(rec);
		if (k == 2)
			ck_assert_str_eq(why, "not JSON: unexpected end of input");
		if (k == 3)
			ck_assert_str_eq(why, "holds the trajectory of another question ('other')");
		if (k == 4)
			ck_assert_str_eq(why, "status 'abandoned' is not a finished trajectory's");
		json_object_put(rec);
		free(path);
	}
}
END_TEST

START_TEST(test_clean_tmp_and_atomic)
{
	put("q_1-abc/0.jsonl", "{}\n");
	put("q_1-abc/0.jsonl.tmp.123.0", "{\"id\":");
	put("q_1-abc/5.jsonl.tmp.99.7", "");
	put("q_1-abc/notes.txt", "keep");
	char qd[128];
	snprintf(qd, sizeof qd, "%s/q_1-abc", dir);
	ck_assert_int_eq(rs_run_clean_tmp(qd), 2);
	ck_assert_int_eq(rs_run_clean_tmp(qd), 0);
	char p[160];
	snprintf(p, sizeof p, "%s/0.jsonl", qd);
	ck_assert_int_eq(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/notes.txt", qd);
	ck_assert_int_eq(access(p, F_OK), 0);
	/* An atomic write leaves no temporary file and replaces the old one. */
	char err[256];
	snprintf(p, sizeof p, "%s/0.jsonl", qd);
	ck_assert_int_eq(rs_write_atomic(p, "new\n", 4, err, sizeof err), 0);
	struct buf b = BUF_INIT;
	ck_assert_int_eq(rs_read_file(p, &b, 0, err, sizeof err), 0);
	ck_assert_str_eq(b.data, "new\n");
	buf_free(&b);
	ck_assert_int_eq(rs_run_clean_tmp(qd), 0);
	ck_assert_int_eq(rs_write_atomic("/nonexistent/x", "a", 1, err, sizeof err), -1);
	ck_assert_int_eq(strncmp(err, "cannot create /nonexistent/x.tmp.", 33), 0);
}
END_TEST

static struct json_object *traj(const char *answer, int tools, const char *counts, bool limit)
{
	char text[512];
	snprintf(text, sizeof text,
		 "{\"status\":\"done\",\"answer\":\"%s\",\"hit_tool_limit\":%s,"
		 "\"usage\":{\"tool_calls\":%d,\"tool_errors\":1,\"llm_calls\":%d,\"prompt_tokens\":1000,"
		 "\"completion_tokens\":50},\"tool_counts\":%s}",
		 answer, limit ? "true" : "false", tools, tools + 1, counts);
	struct json_object *o = json_tokener_parse(text);
	ck_assert_ptr_nonnull(o);
	return o;
}

START_TEST(test_stats_and_progress)
{
	static char *a1[] = {"Paris"}, *a2[] = {"1843"};
	struct rs_question qs[3] = {
		{.id = "a", .dir = "a", .question = "?", .answers = a1, .nanswers = 1},
		{.id = "b", .dir = "b", .question = "?", .answers = a2, .nanswers = 1},
		{.id = "c", .dir = "c", .question = "?"},
	};
	struct rs_qa qa = {qs, 3};
	struct rs_run_stats s;
	rs_run_stats_init(&s, &qa, 2);
	ck_assert_uint_eq(s.total, 6);
	struct json_object *t;
	t = traj("It is Paris.", 3, "{\"web_search\":2,\"open_page\":1}", false);
	rs_run_stats_add(&s, 0, &qs[0], t);
	json_object_put(t);
	t = traj("Lyon", 5, "{\"web_search\":3,\"find_in_page\":1,\"bogus\":1}", true);
	rs_run_stats_add(&s, 0, &qs[0], t);
	json_object_put(t);
	t = traj("In 1842", 1, "{\"pubmed_search\":1}", false);
	rs_run_stats_add(&s, 1, &qs[1], t);
	json_object_put(t);
	t = traj("whatever", 2, "{\"paper_search\":2}", false);
	rs_run_stats_add(&s, 2, &qs[2], t);
	json_object_put(t);
	s.resumed = 1;
	s.failed = 1;
	s.running = 2;
	s.todo = 5;

	ck_assert_uint_eq(s.done, 4);
	ck_assert_int_eq(s.tool_calls, 11);
	ck_assert_int_eq(s.by_tool[RS_WEB_SEARCH], 5);
	ck_assert_int_eq(s.by_tool[RS_NTOOLS], 1);
	ck_assert_uint_eq(s.scored, 3);
	ck_assert_uint_eq(s.correct, 1);
	size_t qd, qsc, qp;
	rs_run_stats_questions(&s, &qd, &qsc, &qp);
	ck_assert_uint_eq(qd, 1); /* only "a" has both attempts */
	ck_assert_uint_eq(qsc, 1);
	ck_assert_uint_eq(qp, 1);

	struct rs_run_info in = {.state = "running", .questions_file = "q.jsonl", .out = "out", .model = "m",
				 .endpoint = "http://e/v1", .concurrency = 2, .max_tool_calls = 5,
				 .started = 1000, .elapsed = 60, .now = 1060};
	struct json_object *p = rs_run_progress(&s, &in);
	struct json_object *tr, *tc, *by, *acc, *x;
	ck_assert(json_object_object_get_ex(p, "trajectories", &tr));
	ck_assert(json_object_object_get_ex(tr, "done", &x));
	ck_assert_int_eq(json_object_get_int(x), 4);
	ck_assert(json_object_object_get_ex(tr, "total", &x));
	ck_assert_int_eq(json_object_get_int(x), 6);
	ck_assert(json_object_object_get_ex(tr, "hit_tool_limit", &x));
	ck_assert_int_eq(json_object_get_int(x), 1);
	ck_assert(json_object_object_get_ex(p, "tool_calls", &tc));
	ck_assert(json_object_object_get_ex(tc, "per_trajectory", &x));
	ck_assert_double_eq_tol(json_object_get_double(x), 11.0 / 4, 1e-9);
	ck_assert(json_object_object_get_ex(tc, "by_tool", &by));
	ck_assert(json_object_object_get_ex(by, "other", &x));
	ck_assert_int_eq(json_object_get_int(x), 1);
	ck_assert(!json_object_object_get_ex(by, "nothing", &x));
	ck_assert(json_object_object_get_ex(p, "accuracy", &acc));
	ck_assert(json_object_object_get_ex(acc, "correct", &x));
	ck_assert_int_eq(json_object_get_int(x), 1);
	ck_assert(json_object_object_get_ex(acc, "questions_passed", &x));
	ck_assert_int_eq(json_object_get_int(x), 1);
	/* 3 done and 1 failed in this run (1 resumed) of 5 to do, in 60 s: 1 left, 15 s. */
	ck_assert(json_object_object_get_ex(p, "eta", &x));
	ck_assert_double_eq_tol(json_object_get_double(x), 15, 1e-9);
	json_object_put(p);

	struct buf b = BUF_INIT;
	rs_run_progress_line(&s, 60, &b);
	ck_assert_str_eq(b.data, "4/6 trajectories (1 resumed), 1 failed, 2 running | 1/3 questions | "
				 "2.8 tool calls/traj | match 33% | 1m00s, ETA 15s");
	buf_free(&b);
	rs_run_stats_free(&s);
}
END_TEST

START_TEST(test_progress_without_answers)
{
	struct rs_question qs[1] = {{.id = "a", .dir = "a", .question = "?"}};
	struct rs_qa qa = {qs, 1};
	struct rs_run_stats s;
	rs_run_stats_init(&s, &qa, 3);
	s.todo = 3;
	struct rs_run_info in = {.state = "running", .elapsed = 5};
	struct json_object *p = rs_run_progress(&s, &in), *x;
	ck_assert(json_object_object_get_ex(p, "accuracy", &x));
	ck_assert_ptr_null(x);
	/* Nothing finished yet: no ETA. */
	ck_assert(json_object_object_get_ex(p, "eta", &x));
	ck_assert_ptr_null(x);
	json_object_put(p);
	struct buf b = BUF_INIT;
	rs_run_progress_line(&s, 5, &b);
	ck_assert_str_eq(b.data, "0/3 trajectories, 0 failed, 0 running | 0/1 questions | 0.0 tool calls/traj | 5s, ETA ?");
	buf_free(&b);
	rs_run_stats_free(&s);
}
END_TEST

Suite *suite_rs_run(void)
{
	Suite *s = suite_create("rs_run");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_attempt_states);
	tcase_add_test(tc, test_clean_tmp_and_atomic);
	tcase_add_test(tc, test_stats_and_progress);
	tcase_add_test(tc, test_progress_without_answers);
	suite_add_tcase(s, tc);
	return s;
}
