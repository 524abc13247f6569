/* check_rs_eval.c — research/rs_eval: reading a run's folder, summing up
 * substring matches and verdicts per question, pass@k over them, the
 * table (questions without an answer and unparsable verdicts named), the
 * JSON, the judge's messages. */
#include <check.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../research/rs_eval.h"
#include "../research/rs_jutil.h"
#include "script_srv.h"

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
	/* Two structured verdicts, one with a reason. */
	e.t[0].structured = e.t[1].structured = true;
	e.t[0].judge_reason = strdup("Paris is Paris.");
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
	ck_assert_uint_eq(s.structured, 2);
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
	s.judge_format = "json";
	rs_eval_table(&s, &e, dir, "A.jsonl", "judge-m", true, &t);
	ck_assert_msg(strstr(t.data, "\nstructured verdicts                             2\n"), "%s", t.data);
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
	ck_assert(json_object_object_get_ex(x, "structured", &y));
	ck_assert_int_eq(json_object_get_int(y), 2);
	ck_assert(json_object_object_get_ex(x, "format", &y));
	ck_assert_str_eq(json_object_get_string(y), "json");
	ck_assert(json_object_object_get_ex(x, "format_refused", &y));
	ck_assert(!json_object_get_boolean(y));
	ck_assert(json_object_object_get_ex(j, "missing_answers", &x));
	ck_assert_int_eq(json_object_array_length(x), 1);
	ck_assert(json_object_object_get_ex(j, "details", &x));
	ck_assert_int_eq(json_object_array_length(x), 13);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 3), "verdict", &y));
	ck_assert_str_eq(json_object_get_string(y), "unparsable");
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 12), "verdict", &y));
	ck_assert_str_eq(json_object_get_string(y), "failed");
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 0), "judge_reason", &y));
	ck_assert_str_eq(json_object_get_string(y), "Paris is Paris.");
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 1), "judge_reason", &y));
	ck_assert_ptr_null(y);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(x, 1), "judge_structured", &y));
	ck_assert(json_object_get_boolean(y));
	json_object_put(j);
	/* The endpoint refused response_format: the table says so. */
	s.judge_format = "text";
	s.format_refused = true;
	t = (struct buf)BUF_INIT;
	rs_eval_table(&s, &e, dir, "A.jsonl", "judge-m", false, &t);
	ck_assert_msg(strstr(t.data, "structured verdicts                             2 (the endpoint refused "
				     "response_format: asked as text)\n"), "%s", t.data);
	buf_free(&t);
	s.format_refused = false;

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
	struct json_object *m = rs_eval_judge_messages("Where?", one, 1, "Answer: Paris", false);
	ck_assert_int_eq(json_object_array_length(m), 2);
	struct json_object *x;
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 0), "content", &x));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(x), "Verdict: CORRECT"));
	ck_assert_ptr_null(strstr(json_object_get_string(x), "JSON"));
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 1), "content", &x));
	ck_assert_str_eq(json_object_get_string(x), "Question:\nWhere?\n\nGold answer:\nParis\n\nResponse:\nAnswer: Paris\n");
	json_object_put(m);
	/* Asking for JSON: the same rules, the object described instead. */
	m = rs_eval_judge_messages("Where?", one, 1, "Answer: Paris", true);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 0), "content", &x));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(x), "Reply with a JSON object and nothing else: "
								 "{\"verdict\": \"correct\"} or {\"verdict\": \"incorrect\"}"));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(x), "is INCORRECT, even if one candidate is right"));
	ck_assert_ptr_null(strstr(json_object_get_string(x), "Verdict: CORRECT"));
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 1), "content", &x));
	ck_assert_str_eq(json_object_get_string(x), "Question:\nWhere?\n\nGold answer:\nParis\n\nResponse:\nAnswer: Paris\n");
	json_object_put(m);
	/* Several forms; a long response keeps its end. */
	char *longr = malloc(20001);
	memset(longr, 'a', 20000);
	memcpy(longr + 20000 - 10, "Answer: 43", 10);
	longr[20000] = '\0';
	m = rs_eval_judge_messages(NULL, two, 2, longr, false);
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

START_TEST(test_structured_parse)
{
	struct {
		const char *reply;
		int rc, verdict;
		const char *reason;
	} c[] = {
		{"{\"verdict\": \"correct\", \"reason\": \"Same city.\"}", 0, 1, "Same city."},
		{"  \n{\"verdict\":\"INCORRECT\"}\n", 0, 0, NULL},
		{"```json\n{\"reason\": \"1842 is not 1843\", \"verdict\": \"incorrect\"}\n```", 0, 0, "1842 is not 1843"},
		{"{\"verdict\": \"correct\", \"reason\": 5}", 0, 1, NULL},
		{"{\"verdict\": \"maybe\"}", -1, 0, NULL},
		{"{\"verdict\": true}", -1, 0, NULL},
		{"{\"correct\": true}", -1, 0, NULL},
		{"{\"verdict\": \"correct\"", -1, 0, NULL},
		{"[\"correct\"]", -1, 0, NULL},
		{"It matches.\nVerdict: CORRECT", -1, 0, NULL},
		{"", -1, 0, NULL},
		{NULL, -1, 0, NULL},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int v = -9;
		char *reason = (char *)"unset";
		int rc = rs_eval_parse_structured(c[i].reply, &v, &reason);
		ck_assert_msg(rc == c[i].rc, "%s: %d", c[i].reply, rc);
		if (rc == 0)
			ck_assert_msg(v == c[i].verdict, "%s: verdict %d", c[i].reply, v);
		if (c[i].reason)
			ck_assert_str_eq(reason, c[i].reason);
		else
			ck_assert_ptr_null(reason);
		free(reason);
	}
	/* What counts as a refusal of response_format. */
	ck_assert(rs_eval_refuses_format(400, "the endpoint answered 400: response_format.json_schema.schema: "
					      "'$ref' is not supported by elastic-sim"));
	ck_assert(rs_eval_refuses_format(400, "the endpoint answered 400: The provided JSON schema contains "
					      "features not supported by xgrammar."));
	ck_assert(rs_eval_refuses_format(422, "the endpoint answered 422: unknown field json_schema"));
	ck_assert(rs_eval_refuses_format(400, "the endpoint answered 400: Structured outputs are not supported"));
	ck_assert(!rs_eval_refuses_format(400, "the endpoint answered 400: This model's maximum context length is 8192"));
	ck_assert(!rs_eval_refuses_format(500, "the endpoint answered 500: response_format broke the engine"));
	ck_assert(!rs_eval_refuses_format(0, "cannot reach http://x/v1: response_format"));
	ck_assert(!rs_eval_refuses_format(400, NULL));
	/* The format the judge sends is the schema it parses. */
	struct json_object *f = json_tokener_parse(rs_eval_verdict_format), *x;
	ck_assert_ptr_nonnull(f);
	ck_assert(json_object_object_get_ex(f, "type", &x));
	ck_assert_str_eq(json_object_get_string(x), "json_schema");
	ck_assert(json_object_object_get_ex(f, "json_schema", &x) && json_object_object_get_ex(x, "schema", &x));
	ck_assert_str_eq(json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN),
			 "{\"type\":\"object\",\"properties\":{\"verdict\":{\"type\":\"string\",\"enum\":[\"correct\","
			 "\"incorrect\"]},\"reason\":{\"type\":\"string\"}},\"required\":[\"verdict\"]}");
	json_object_put(f);
}
END_TEST

#define HEAD(st) "HTTP/1.1 " st "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
#define REPLY(content) HEAD("200 OK") "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":" content \
	"},\"finish_reason\":\"stop\"}]}"

static const char *no_env(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return NULL;
}

static void judge_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void judge_teardown(void)
{
	curl_global_cleanup();
}

static void judge_llm(struct rs_llm *l, int port)
{
	char url[64], err[128];
	rs_llm_init(l, no_env, NULL);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
	ck_assert_int_eq(rs_llm_set_endpoint(l, url, err, sizeof err), 0);
	l->model = strdup("judge");
	l->backoff_ms = 10;
	l->retries = 1;
	l->timeout_ms = 10000;
	l->temperature = 0;
}

/* The request bodies of LOG (script_srv's), parsed, in N. */
static int bodies(const char *log, struct json_object **out, int max)
{
	int n = 0;
	for (const char *p = log; p && (p = strstr(p, "POST /v1/chat/completions HTTP/1.1\n")) && n < max;) {
		p = strchr(p, '\n') + 1;
		const char *e = strchr(p, '\n');
		char *b = strndup(p, (size_t)(e - p));
		out[n] = json_tokener_parse(b);
		ck_assert_msg(out[n], "not JSON: %s", b);
		free(b);
		n++;
		p = e;
	}
	return n;
}

static bool has_format(struct json_object *body)
{
	struct json_object *rf;
	return json_object_object_get_ex(body, "response_format", &rf) && rf;
}

static const char *system_prompt(struct json_object *body)
{
	struct json_object *m, *c;
	ck_assert(json_object_object_get_ex(body, "messages", &m));
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(m, 0), "content", &c));
	return json_object_get_string(c);
}

START_TEST(test_judge_fallback)
{
	static const char *const answers[] = {
		/* 1: a structured verdict. */
		REPLY("\"{\\\"verdict\\\": \\\"correct\\\", \\\"reason\\\": \\\"Paris is Paris.\\\"}\""),
		/* 2: response_format refused, then the text prompt answered. */
		HEAD("400 Bad Request") "{\"error\":{\"message\":\"response_format.json_schema.schema: '$ref' is not "
		"supported\",\"type\":\"BadRequestError\",\"param\":\"response_format\",\"code\":400}}",
		REPLY("\"Lyon is not Paris.\\nVerdict: INCORRECT\""),
		/* 3: asked as text from then on. */
		REPLY("\"Verdict: CORRECT\""),
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	judge_llm(&l, s.port);
	l.extra = strdup("{\"reasoning_effort\":\"low\",\"response_format\":{\"type\":\"text\"}}");
	struct rs_eval_judge j;
	rs_eval_judge_init(&j, &l, true);
	char *gold[] = {"Paris"};
	struct rs_eval_verdict v;

	rs_eval_judge_one(&j, "Capital of France?", gold, 1, "Answer: Paris", &v);
	ck_assert_int_eq(v.verdict, 1);
	ck_assert(v.structured);
	ck_assert_str_eq(v.reason, "Paris is Paris.");
	ck_assert_str_eq(v.reply, "{\"verdict\": \"correct\", \"reason\": \"Paris is Paris.\"}");
	ck_assert(!j.refused);
	rs_eval_verdict_free(&v);

	rs_eval_judge_one(&j, "Capital of France?", gold, 1, "Answer: Lyon", &v);
	ck_assert_int_eq(v.verdict, 0);
	ck_assert(!v.structured);
	ck_assert_ptr_null(v.reason);
	ck_assert_str_eq(v.reply, "Lyon is not Paris.\nVerdict: INCORRECT");
	ck_assert(j.refused);
	ck_assert_str_eq(j.refusal, "the endpoint answered 400: response_format.json_schema.schema: '$ref' is not supported");
	rs_eval_verdict_free(&v);

	rs_eval_judge_one(&j, "Capital of France?", gold, 1, "Paris", &v);
	ck_assert_int_eq(v.verdict, 1);
	ck_assert(!v.structured);
	rs_eval_verdict_free(&v);
	ck_assert_int_eq(s.served, 4);

	/* What was sent: the format and the JSON prompt, the extra members
	   kept (its response_format replaced); the retry and the call after
	   it without the format, with the text prompt. */
	struct json_object *b[8];
	ck_assert_int_eq(bodies(s.log.data, b, 8), 4);
	for (int i = 0; i < 4; i++) {
		bool json = i < 2;
		ck_assert_msg(has_format(b[i]) == json, "request %d: %s", i, json_object_to_json_string(b[i]));
		ck_assert_msg(strstr(system_prompt(b[i]), json ? "Reply with a JSON object" : "Verdict: CORRECT"), "request %d", i);
		struct json_object *x;
		ck_assert(json_object_object_get_ex(b[i], "reasoning_effort", &x));
		ck_assert(json_object_object_get_ex(b[i], "temperature", &x));
		if (json) {
			json_object_object_get_ex(b[i], "response_format", &x);
			struct json_object *want = json_tokener_parse(rs_eval_verdict_format);
			ck_assert(json_object_equal(x, want));
			json_object_put(want);
		}
	}
	for (int i = 0; i < 4; i++)
		json_object_put(b[i]);
	rs_eval_judge_free(&j);
	script_srv_stop(&s);
	rs_llm_free(&l);
}
END_TEST

START_TEST(test_judge_other_answers)
{
	static const char *const answers[] = {
		/* A 400 about something else is a failed call, not retried. */
		HEAD("400 Bad Request") "{\"error\":{\"message\":\"This model's maximum context length is 8192 "
		"tokens\",\"code\":400}}",
		/* An endpoint that ignores response_format and answers text. */
		REPLY("\"The response names Paris. Verdict: correct\""),
		/* A JSON verdict cut short: read as text, unparsable. */
		REPLY("\"{\\\"verdict\\\": \\\"inc\""),
		/* --judge-format text: no format sent; a JSON reply still read. */
		REPLY("\"{\\\"verdict\\\": \\\"incorrect\\\", \\\"reason\\\": \\\"no\\\"}\""),
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	judge_llm(&l, s.port);
	struct rs_eval_judge j;
	rs_eval_judge_init(&j, &l, true);
	char *gold[] = {"Paris"};
	struct rs_eval_verdict v;
	rs_eval_judge_one(&j, "Q?", gold, 1, "Paris", &v);
	ck_assert_int_eq(v.verdict, RS_EVAL_JUDGE_FAILED);
	ck_assert_str_eq(v.reply, "the endpoint answered 400: This model's maximum context length is 8192 tokens");
	ck_assert(!j.refused);
	ck_assert_int_eq(s.served, 1);
	rs_eval_verdict_free(&v);
	rs_eval_judge_one(&j, "Q?", gold, 1, "Paris", &v);
	ck_assert_int_eq(v.verdict, 1);
	ck_assert(!v.structured && !j.refused);
	rs_eval_verdict_free(&v);
	rs_eval_judge_one(&j, "Q?", gold, 1, "Paris", &v);
	ck_assert_int_eq(v.verdict, -1);
	ck_assert(!v.structured);
	rs_eval_verdict_free(&v);
	rs_eval_judge_free(&j);

	rs_eval_judge_init(&j, &l, false);
	rs_eval_judge_one(&j, "Q?", gold, 1, "Lyon", &v);
	ck_assert_int_eq(v.verdict, 0);
	ck_assert(v.structured);
	ck_assert_str_eq(v.reason, "no");
	rs_eval_verdict_free(&v);
	rs_eval_judge_free(&j);
	struct json_object *b[8];
	ck_assert_int_eq(bodies(s.log.data, b, 8), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(has_format(b[i]), i < 3);
		json_object_put(b[i]);
	}
	script_srv_stop(&s);
	rs_llm_free(&l);
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
	tcase_add_test(tc, test_structured_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("judge");
	tcase_add_unchecked_fixture(tc, judge_setup, judge_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_judge_fallback);
	tcase_add_test(tc, test_judge_other_answers);
	suite_add_tcase(s, tc);
	return s;
}
