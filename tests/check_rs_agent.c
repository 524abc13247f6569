/* check_rs_agent.c — research/rs_agent: the loop against a scripted model
 * and tools: tool results go back by id, a bad tool name or bad JSON
 * arguments become error results (no crash), the tool-call limit asks for
 * the final answer with tool_choice "none", an endpoint failure ends the
 * turn with the error recorded, the trajectory's JSON. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../research/rs_agent.h"

/* One scripted model reply: content, then up to 3 calls "name|args". */
struct step {
	const char *content;
	const char *calls[3];
	int fail;            /* the call fails (endpoint error) */
};

static const struct step *script;
static int nsteps, at;
static struct buf seen_choice;    /* tool_choice of each call, "-" for none */
static struct buf tool_log;       /* "name args\n" per tool run */
static long last_nmessages;       /* messages of the last model call */

static int fake_chat(const struct rs_llm *l, struct json_object *messages, struct json_object *tools,
		     const char *tool_choice, rs_llm_delta_fn on_delta, void *arg,
		     struct rs_llm_reply *out, char *err, size_t errlen)
{
	(void)l;
	(void)on_delta;
	(void)arg;
	memset(out, 0, sizeof *out);
	out->prompt_tokens = 100 + at;
	out->completion_tokens = 10;
	out->seconds = 0.01;
	out->attempts = 1;
	ck_assert_ptr_nonnull(tools);
	ck_assert_int_eq(json_object_array_length(tools), RS_NTOOLS);
	buf_printf(&seen_choice, "%s,", tool_choice ? tool_choice : "-");
	last_nmessages = (long)json_object_array_length(messages);
	const struct step *s = at < nsteps ? &script[at] : NULL;
	at++;
	if (!s || s->fail) {
		snprintf(err, errlen, "the endpoint answered 503: no worker");
		return -1;
	}
	out->content = strdup(s->content ? s->content : "");
	for (int i = 0; i < 3 && s->calls[i]; i++) {
		out->calls = realloc(out->calls, (out->ncalls + 1) * sizeof *out->calls);
		struct rs_llm_call *c = &out->calls[out->ncalls++];
		const char *bar = strchr(s->calls[i], '|');
		c->name = strndup(s->calls[i], (size_t)(bar - s->calls[i]));
		c->arguments = strdup(bar + 1);
		c->id = strdup(i == 1 ? "" : "x"); /* an empty id gets one */
		if (i != 1) {
			free(c->id);
			char id[32];
			snprintf(id, sizeof id, "id%d_%d", at, i);
			c->id = strdup(id);
		}
	}
	snprintf(out->finish_reason, sizeof out->finish_reason, "%s", out->ncalls ? "tool_calls" : "stop");
	return 0;
}

static int fake_tool(struct rs_session *s, const char *name, const char *args, struct buf *out,
		     struct rs_tool_stat *st)
{
	(void)s;
	buf_printf(&tool_log, "%s %s\n", name, args);
	st->http_calls = 1;
	st->seconds = 0.5;
	if (strstr(args, "boom")) {
		buf_puts(out, "error: the service answered 500");
		st->failed = true;
		return -1;
	}
	buf_printf(out, "result of %s", name);
	return 0;
}

static struct rs_llm llm = {.endpoint = "http://e/v1", .model = "m"};

static struct rs_agent *agent_with(const struct step *steps, int n, int max_tools)
{
	script = steps;
	nsteps = n;
	at = 0;
	buf_reset(&seen_choice);
	buf_reset(&tool_log);
	struct rs_agent_opts o = {
		.llm = &llm,
		.max_tool_calls = max_tools,
		.system_prompt = "SYS",
		.chat = fake_chat,
		.tool = fake_tool,
	};
	return rs_agent_new(&o);
}

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;
	json_object_object_get_ex(o, k, &v);
	return v;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v = jget(o, k);
	return v ? json_object_get_string(v) : NULL;
}

START_TEST(test_loop_and_record)
{
	static const struct step steps[] = {
		{"Searching.", {"web_search|{\"query\": \"q\"}", "no_such_tool|{}", "open_page|{\"url\": "}, 0},
		{NULL, {"pubmed_search|{\"query\": \"boom\"}", "find_in_page|[1]", NULL}, 0},
		{"Because...\nAnswer: 42", {NULL}, 0},
	};
	struct rs_agent *a = agent_with(steps, 3, 10);
	char err[256];
	ck_assert_int_eq(rs_agent_ask(a, "What is it?", err, sizeof err), 0);
	ck_assert_str_eq(rs_agent_answer(a), "Because...\nAnswer: 42");
	/* Only valid calls reach the tool. */
	ck_assert_str_eq(tool_log.data, "web_search {\"query\": \"q\"}\npubmed_search {\"query\": \"boom\"}\n");
	ck_assert_str_eq(seen_choice.data, "-,-,-,");

	struct rs_agent_totals t;
	rs_agent_totals(a, &t);
	ck_assert_int_eq(t.llm_calls, 3);
	ck_assert_int_eq(t.tool_calls, 5);
	ck_assert_int_eq(t.tool_errors, 4); /* unknown tool, bad JSON, 500, not an object */
	ck_assert_int_eq(t.prompt_tokens, 100 + 101 + 102);
	ck_assert_int_eq(t.completion_tokens, 30);
	ck_assert_int_eq(t.by_tool[RS_WEB_SEARCH], 1);
	ck_assert_int_eq(t.by_tool[RS_NTOOLS], 1);

	struct json_object *r = rs_agent_record(a);
	ck_assert_str_eq(jstr(r, "status"), "done");
	ck_assert_str_eq(jstr(r, "model"), "m");
	ck_assert_str_eq(jstr(r, "answer"), "Because...\nAnswer: 42");
	ck_assert(json_object_is_type(jget(r, "error"), json_type_null));
	ck_assert(!json_object_get_boolean(jget(r, "hit_tool_limit")));
	struct json_object *m = jget(r, "messages");
	/* system, user, assistant (3 calls), 3 tools, assistant (2 calls), 2 tools, assistant */
	ck_assert_int_eq(json_object_array_length(m), 10);
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 0), "content"), "SYS");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 1), "role"), "user");
	struct json_object *a1 = json_object_array_get_idx(m, 2);
	ck_assert_str_eq(jstr(a1, "role"), "assistant");
	struct json_object *calls = jget(a1, "tool_calls");
	ck_assert_int_eq(json_object_array_length(calls), 3);
	/* The call that came without an id got one, and its result has it. */
	const char *id1 = jstr(json_object_array_get_idx(calls, 1), "id");
	ck_assert_str_eq(id1, "call_1");
	struct json_object *t0 = json_object_array_get_idx(m, 3), *t1 = json_object_array_get_idx(m, 4),
			   *t2 = json_object_array_get_idx(m, 5);
	ck_assert_str_eq(jstr(t0, "role"), "tool");
	ck_assert_str_eq(jstr(t0, "tool_call_id"), "id1_0");
	ck_assert_str_eq(jstr(t0, "content"), "result of web_search");
	ck_assert_str_eq(jstr(t1, "tool_call_id"), "call_1");
	ck_assert_str_eq(jstr(t1, "content"), "error: unknown tool 'no_such_tool'; the tools are web_search, "
					      "open_page, find_in_page, paper_search, pubmed_search");
	ck_assert_str_eq(jstr(t2, "content"), "error: the arguments of open_page are not JSON: unexpected end of input; "
						"send a JSON object such as {\"query\": \"...\"}");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 7), "content"), "error: the service answered 500");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 8), "content"),
			 "error: the arguments of find_in_page must be a JSON object");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 9), "content"), "Because...\nAnswer: 42");

	struct json_object *lc = jget(r, "llm_calls"), *tc = jget(r, "tool_calls");
	ck_assert_int_eq(json_object_array_length(lc), 3);
	ck_assert_int_eq(json_object_get_int(jget(json_object_array_get_idx(lc, 0), "prompt_tokens")), 100);
	ck_assert_int_eq(json_object_get_int(jget(json_object_array_get_idx(lc, 0), "tool_calls")), 3);
	ck_assert_int_eq(json_object_array_length(tc), 5);
	struct json_object *c0 = json_object_array_get_idx(tc, 0);
	ck_assert_str_eq(jstr(c0, "name"), "web_search");
	ck_assert(!json_object_get_boolean(jget(c0, "failed")));
	ck_assert_int_eq(json_object_get_int(jget(c0, "result_bytes")), 20);
	ck_assert_double_eq_tol(json_object_get_double(jget(c0, "seconds")), 0.5, 1e-9);
	ck_assert(json_object_get_boolean(jget(json_object_array_get_idx(tc, 1), "failed")));
	struct json_object *u = jget(r, "usage");
	ck_assert_int_eq(json_object_get_int(jget(u, "tool_calls")), 5);
	ck_assert_int_eq(json_object_get_int(jget(u, "prompt_tokens")), 303);
	struct json_object *counts = jget(r, "tool_counts");
	ck_assert_int_eq(json_object_get_int(jget(counts, "web_search")), 1);
	ck_assert_int_eq(json_object_get_int(jget(counts, "unknown")), 1);
	ck_assert_ptr_null(jget(counts, "paper_search"));
	/* The record is valid JSON that parses back. */
	struct json_object *back = json_tokener_parse(json_object_to_json_string(r));
	ck_assert_ptr_nonnull(back);
	json_object_put(back);
	json_object_put(r);

	/* A second question continues the conversation; reset forgets it. */
	static const struct step more[] = {{"Answer: 43", {NULL}, 0}};
	script = more;
	nsteps = 1;
	at = 0;
	ck_assert_int_eq(rs_agent_ask(a, "And then?", err, sizeof err), 0);
	ck_assert_int_eq(last_nmessages, 11);
	rs_agent_reset(a);
	at = 0;
	ck_assert_int_eq(rs_agent_ask(a, "Again?", err, sizeof err), 0);
	ck_assert_int_eq(last_nmessages, 2);
	rs_agent_totals(a, &t);
	ck_assert_int_eq(t.llm_calls, 1);
	rs_agent_free(a);
}
END_TEST

START_TEST(test_tool_limit)
{
	/* A model that never stops calling tools until told "none". */
	static const struct step steps[] = {
		{NULL, {"web_search|{\"query\": \"1\"}", "web_search|{\"query\": \"2\"}", NULL}, 0},
		{NULL, {"web_search|{\"query\": \"3\"}", "open_page|{\"url\": \"u\"}", "open_page|{\"url\": \"v\"}"}, 0},
		{"I give up.\nAnswer: none", {"web_search|{\"query\": \"again\"}", NULL}, 0},
	};
	struct rs_agent *a = agent_with(steps, 3, 3);
	char err[256];
	ck_assert_int_eq(rs_agent_ask(a, "Q", err, sizeof err), 0);
	/* Three calls ran; the other two of the second reply were refused. */
	ck_assert_str_eq(tool_log.data, "web_search {\"query\": \"1\"}\nweb_search {\"query\": \"2\"}\n"
					"web_search {\"query\": \"3\"}\n");
	ck_assert_str_eq(seen_choice.data, "-,-,none,");
	ck_assert_str_eq(rs_agent_answer(a), "I give up.\nAnswer: none");
	struct json_object *r = rs_agent_record(a);
	ck_assert(json_object_get_boolean(jget(r, "hit_tool_limit")));
	ck_assert_int_eq(json_object_get_int(jget(r, "max_tool_calls")), 3);
	struct json_object *m = jget(r, "messages");
	size_t n = json_object_array_length(m);
	/* ..., the limit's user message, the final answer (its calls dropped). */
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, n - 2), "role"), "user");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, n - 2), "content"), RS_AGENT_LIMIT_PROMPT);
	ck_assert_ptr_null(jget(json_object_array_get_idx(m, n - 1), "tool_calls"));
	/* Every tool call of the second reply has its tool message. */
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 7), "content"),
			 "error: the limit of 3 tool calls is reached; this call was not run");
	ck_assert_str_eq(jstr(json_object_array_get_idx(m, 8), "tool_call_id"), "id2_2");
	struct json_object *tc = jget(r, "tool_calls");
	ck_assert_int_eq(json_object_array_length(tc), 5);
	ck_assert(json_object_get_boolean(jget(json_object_array_get_idx(tc, 4), "refused")));
	ck_assert_int_eq(json_object_get_int(jget(jget(r, "usage"), "tool_calls")), 3);
	json_object_put(r);
	rs_agent_free(a);
}
END_TEST

START_TEST(test_endpoint_failure)
{
	static const struct step steps[] = {
		{NULL, {"web_search|{\"query\": \"1\"}", NULL}, 0},
		{NULL, {NULL}, 1},
	};
	struct rs_agent *a = agent_with(steps, 2, 10);
	char err[256];
	ck_assert_int_eq(rs_agent_ask(a, "Q", err, sizeof err), -1);
	ck_assert_str_eq(err, "model call failed: the endpoint answered 503: no worker");
	ck_assert_ptr_null(rs_agent_answer(a));
	struct json_object *r = rs_agent_record(a);
	ck_assert_str_eq(jstr(r, "status"), "error");
	ck_assert_str_eq(jstr(r, "error"), "model call failed: the endpoint answered 503: no worker");
	struct json_object *lc = jget(r, "llm_calls");
	ck_assert_int_eq(json_object_array_length(lc), 2);
	ck_assert_str_eq(jstr(json_object_array_get_idx(lc, 1), "error"), "the endpoint answered 503: no worker");
	json_object_put(r);
	rs_agent_free(a);
}
END_TEST

static volatile sig_atomic_t stop_now;

START_TEST(test_abandon)
{
	static const struct step steps[] = {{"x", {NULL}, 0}};
	script = steps;
	nsteps = 1;
	at = 0;
	stop_now = 1;
	struct rs_agent_opts o = {.llm = &llm, .chat = fake_chat, .tool = fake_tool, .abandon = &stop_now};
	struct rs_agent *a = rs_agent_new(&o);
	char err[64];
	ck_assert_int_eq(rs_agent_ask(a, "Q", err, sizeof err), -1);
	ck_assert_int_eq(at, 0);
	struct json_object *r = rs_agent_record(a);
	ck_assert_str_eq(jstr(r, "status"), "abandoned");
	json_object_put(r);
	rs_agent_free(a);
}
END_TEST

START_TEST(test_default_prompt)
{
	/* 2025-03-04 12:00 UTC */
	setenv("TZ", "UTC", 1);
	tzset();
	char *p = rs_agent_default_prompt(1741089600);
	ck_assert_ptr_nonnull(strstr(p, "March 04, 2025"));
	ck_assert_ptr_nonnull(strstr(p, "web_search"));
	ck_assert_ptr_nonnull(strstr(p, "pubmed_search"));
	ck_assert_ptr_nonnull(strstr(p, "Answer:"));
	free(p);
}
END_TEST

static void teardown(void)
{
	buf_free(&seen_choice);
	buf_free(&tool_log);
}

Suite *suite_rs_agent(void)
{
	Suite *s = suite_create("rs_agent");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_loop_and_record);
	tcase_add_test(tc, test_tool_limit);
	tcase_add_test(tc, test_endpoint_failure);
	tcase_add_test(tc, test_abandon);
	tcase_add_test(tc, test_default_prompt);
	suite_add_tcase(s, tc);
	return s;
}
