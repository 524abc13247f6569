/* check_sim_tools.c — sim/sim_tools: which tool call or answer a chat
 * request with tools gets, its arguments, excerpts and URLs. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../sim/sim_tools.h"
#include "buf.h"

/* Plans REQ (JSON text) with ROUNDS; returns sim_tools_plan's result. */
static int plan(const char *req, unsigned rounds, struct sim_tools_plan *p, const char **param)
{
	struct json_object *o = json_tokener_parse(req);
	ck_assert_msg(o, "bad test JSON: %s", req);
	char err[256] = "";
	*param = NULL;
	int rc = sim_tools_plan(o, rounds, 5, false, p, param, err, sizeof err);
	if (rc != 0)
		ck_assert_msg(err[0] && *param, "no message for %s", req);
	json_object_put(o);
	return rc;
}

#define USER "{\"role\":\"user\",\"content\":\"how tall is K2\"}"

/* The arguments a call of the single tool TOOL gets at T == 0. */
static void expect_args(const char *tool, const char *want)
{
	char req[2048];
	snprintf(req, sizeof req, "{\"messages\":[" USER "],\"tools\":[%s]}", tool);
	struct sim_tools_plan p;
	const char *param;
	ck_assert_int_eq(plan(req, 2, &p, &param), 0);
	ck_assert_int_eq(p.act, SIM_TOOLS_CALL);
	ck_assert_msg(strcmp(p.arguments, want) == 0, "%s: %s, want %s", tool, p.arguments, want);
	struct json_object *a = json_tokener_parse(p.arguments);
	ck_assert(a && json_object_is_type(a, json_type_object));
	json_object_put(a);
	sim_tools_plan_free(&p);
}

START_TEST(test_arguments)
{
	expect_args("{\"type\":\"function\",\"function\":{\"name\":\"search\"}}", "{}");
	expect_args("{\"type\":\"function\",\"function\":{\"name\":\"s\",\"parameters\":"
		    "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}}",
		    "{\"q\": \"how tall is K2\"}");
	expect_args("{\"type\":\"function\",\"function\":{\"name\":\"grep\",\"parameters\":"
		    "{\"properties\":{\"path\":{\"type\":\"string\"},\"pattern\":{\"type\":\"string\"}},"
		    "\"required\":[\"path\",\"pattern\"]}}}",
		    "{\"pattern\": \"how tall is K2\", \"path\": \"\"}");
	/* No known name: the first required string property. */
	expect_args("{\"type\":\"function\",\"function\":{\"name\":\"ask\",\"parameters\":"
		    "{\"properties\":{\"n\":{\"type\":\"integer\"},\"text\":{\"type\":\"string\"}},"
		    "\"required\":[\"n\",\"text\"]}}}",
		    "{\"text\": \"how tall is K2\", \"n\": 1}");
	/* Defaults: enum, minimum, number, boolean, array, object, nullable. */
	expect_args("{\"type\":\"function\",\"function\":{\"name\":\"web_search\",\"parameters\":"
		    "{\"type\":\"object\",\"properties\":{"
		    "\"query\":{\"type\":\"string\"},\"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"deep\"]},"
		    "\"k\":{\"type\":\"integer\",\"minimum\":3},\"t\":{\"type\":\"number\",\"minimum\":0.5},"
		    "\"x\":{\"type\":\"number\"},\"safe\":{\"type\":\"boolean\"},"
		    "\"tags\":{\"type\":\"array\"},\"opts\":{\"type\":\"object\"},"
		    "\"lang\":{\"type\":[\"null\",\"string\"]},\"opt\":{\"type\":\"string\"}},"
		    "\"required\":[\"mode\",\"k\",\"t\",\"x\",\"safe\",\"tags\",\"opts\",\"lang\",\"query\",\"k\"]}}}",
		    "{\"query\": \"how tall is K2\", \"mode\": \"fast\", \"k\": 3, \"t\": 0.5, "
		    "\"x\": 1, \"safe\": true, \"tags\": [], \"opts\": {}, \"lang\": \"\"}");
}
END_TEST

START_TEST(test_rounds)
{
	const char *tools = "\"tools\":["
		"{\"type\":\"function\",\"function\":{\"name\":\"fetch_page\",\"parameters\":"
		"{\"properties\":{\"url\":{\"type\":\"string\"}}}}},"
		"{\"type\":\"function\",\"function\":{\"name\":\"Web_Search\",\"parameters\":"
		"{\"properties\":{\"query\":{\"type\":\"string\"}}}}}]";
	const char *call = "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
			   "\"type\":\"function\",\"function\":{\"name\":\"x\",\"arguments\":\"{}\"}}]}";
	char req[4096];
	struct sim_tools_plan p, q;
	const char *param;
	/* T = 0: search with the question. */
	snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}," USER "],%s}",
		 tools);
	ck_assert_int_eq(plan(req, 2, &p, &param), 0);
	ck_assert_int_eq(p.act, SIM_TOOLS_CALL);
	ck_assert_str_eq(p.name, "Web_Search");
	ck_assert_str_eq(p.arguments, "{\"query\": \"how tall is K2\"}");
	ck_assert_uint_eq(strlen(p.id), 29);
	ck_assert(strncmp(p.id, "call_", 5) == 0);
	ck_assert_uint_eq(strspn(p.id + 5, "0123456789abcdef"), 24);
	/* Deterministic. */
	ck_assert_int_eq(plan(req, 2, &q, &param), 0);
	ck_assert_str_eq(p.id, q.id);
	sim_tools_plan_free(&q);
	/* T = 1, a URL in the result: open it; another id. */
	snprintf(req, sizeof req, "{\"messages\":[" USER ",%s,{\"role\":\"tool\",\"tool_call_id\":"
		 "\"c\",\"content\":\"1. K2 <https://en.wikipedia.org/wiki/K2>, 8611 m\"}],%s}",
		 call, tools);
	ck_assert_int_eq(plan(req, 2, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_CALL);
	ck_assert_str_eq(q.name, "fetch_page");
	ck_assert_str_eq(q.arguments, "{\"url\": \"https://en.wikipedia.org/wiki/K2\"}");
	ck_assert_str_ne(p.id, q.id);
	sim_tools_plan_free(&q);
	/* T = 1 without a URL: search again. */
	snprintf(req, sizeof req, "{\"messages\":[" USER ",%s,{\"role\":\"tool\",\"content\":"
		 "\"no results\"}],%s}", call, tools);
	ck_assert_int_eq(plan(req, 2, &q, &param), 0);
	ck_assert_str_eq(q.name, "Web_Search");
	sim_tools_plan_free(&q);
	/* T = 2: the answer, from the last result. */
	snprintf(req, sizeof req, "{\"messages\":[" USER ",%s,{\"role\":\"tool\",\"content\":"
		 "\"http://a.example/\"},%s,{\"role\":\"tool\",\"content\":[{\"type\":\"text\","
		 "\"text\":\" K2 is\\n\\n 8,611 m\"},{\"type\":\"text\",\"text\":\"tall. \"}]}],%s}",
		 call, call, tools);
	ck_assert_int_eq(plan(req, 2, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_ANSWER);
	ck_assert_str_eq(q.answer, "Answer: K2 is 8,611 m tall.");
	sim_tools_plan_free(&q);
	/* ...unless more rounds are asked for, or a call is forced. */
	ck_assert_int_eq(plan(req, 3, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_CALL);
	sim_tools_plan_free(&q);
	char forced[4200];
	snprintf(forced, sizeof forced, "%.*s,\"tool_choice\":\"required\"}", (int)strlen(req) - 1, req);
	ck_assert_int_eq(plan(forced, 2, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_CALL);
	ck_assert_str_eq(q.name, "Web_Search"); /* no URL in the last result */
	sim_tools_plan_free(&q);
	snprintf(forced, sizeof forced, "%.*s,\"tool_choice\":{\"type\":\"function\",\"function\":"
		 "{\"name\":\"fetch_page\"}}}", (int)strlen(req) - 1, req);
	ck_assert_int_eq(plan(forced, 2, &q, &param), 0);
	ck_assert_str_eq(q.name, "fetch_page");
	ck_assert_str_eq(q.arguments, "{\"url\": \"how tall is K2\"}");
	sim_tools_plan_free(&q);
	snprintf(forced, sizeof forced, "%.*s,\"tool_choice\":\"none\"}", (int)strlen(req) - 1, req);
	ck_assert_int_eq(plan(forced, 2, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_TEXT);
	sim_tools_plan_free(&q);
	/* A new question starts the count again; rounds 0 answers at once,
	   with the usual text when there is no result. */
	snprintf(forced, sizeof forced, "{\"messages\":[" USER ",%s,{\"role\":\"tool\",\"content\":"
		 "\"x\"}," USER "],%s}", call, tools);
	ck_assert_int_eq(plan(forced, 2, &q, &param), 0);
	ck_assert_str_eq(q.name, "Web_Search");
	sim_tools_plan_free(&q);
	ck_assert_int_eq(plan(forced, 0, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_TEXT);
	sim_tools_plan_free(&q);
	/* No tools, or an empty list: text. */
	ck_assert_int_eq(plan("{\"messages\":[" USER "],\"tools\":[]}", 2, &q, &param), 0);
	ck_assert_int_eq(q.act, SIM_TOOLS_TEXT);
	sim_tools_plan_free(&q);
	sim_tools_plan_free(&p);
}
END_TEST

START_TEST(test_bad_tools)
{
	static const char *const bad[] = {
		"\"tools\":{}",
		"\"tools\":[5]",
		"\"tools\":[{\"function\":{\"name\":\"a\"}}]",
		"\"tools\":[{\"type\":\"retrieval\",\"function\":{\"name\":\"a\"}}]",
		"\"tools\":[{\"type\":\"function\"}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":3}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"description\":1}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":[]}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
		"{\"properties\":[]}}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
		"{\"properties\":{\"q\":\"string\"}}}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
		"{\"properties\":{\"q\":{\"enum\":[]}}}}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
		"{\"required\":\"q\"}}}]",
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":"
		"{\"required\":[1]}}}]",
	};
	char req[1024];
	struct sim_tools_plan p;
	const char *param;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(req, sizeof req, "{\"messages\":[" USER "],%s}", bad[i]);
		ck_assert_msg(plan(req, 2, &p, &param) == -1, "accepted %s", bad[i]);
		ck_assert_str_eq(param, "tools");
		sim_tools_plan_free(&p);
	}
	static const char *const badc[] = {
		"\"tool_choice\":\"always\"",
		"\"tool_choice\":5",
		"\"tool_choice\":{\"type\":\"function\"}",
		"\"tool_choice\":{\"type\":\"x\",\"function\":{\"name\":\"a\"}}",
		"\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}",
	};
	for (size_t i = 0; i < sizeof badc / sizeof *badc; i++) {
		snprintf(req, sizeof req, "{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\","
			 "\"function\":{\"name\":\"a\"}}],%s}", badc[i]);
		ck_assert_msg(plan(req, 2, &p, &param) == -1, "accepted %s", badc[i]);
		ck_assert_str_eq(param, "tool_choice");
		sim_tools_plan_free(&p);
	}
	/* Forcing a call without tools. */
	ck_assert_int_eq(plan("{\"messages\":[" USER "],\"tool_choice\":\"required\"}", 2, &p, &param), -1);
	ck_assert_str_eq(param, "tool_choice");
	sim_tools_plan_free(&p);
	ck_assert_int_eq(plan("{\"messages\":[" USER "],\"tool_choice\":\"none\"}", 2, &p, &param), 0);
	sim_tools_plan_free(&p);
}
END_TEST

static void excerpt(const char *s, size_t max, const char *want)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "A: ");
	sim_tools_excerpt(s, strlen(s), max, &b);
	ck_assert_msg(strcmp(b.data + 3, want) == 0, "excerpt of '%s': '%s', want '%s'", s,
		      b.data + 3, want);
	ck_assert(buf_utf8_valid(b.data, b.len, NULL));
	buf_free(&b);
}

START_TEST(test_excerpt_and_url)
{
	excerpt("  a \t\n b  ", 300, "a b");
	excerpt("", 300, "");
	excerpt("abc def", 5, "abc d");
	excerpt("abc def", 4, "abc");
	excerpt("ab\xc3\xa9", 3, "ab");      /* é would be cut */
	excerpt("ab\xc3\xa9x", 4, "ab\xc3\xa9");
	excerpt("\xe6\x97\xa5\xe6\x9c\xac", 5, "\xe6\x97\xa5");
	excerpt("\xf0\x9f\x98\x80", 3, "");
	/* 300 bytes by default, at a character's start. */
	char big[700];
	memset(big, 'a', 299);
	strcpy(big + 299, "\xc3\xa9 and more");
	struct buf b = BUF_INIT;
	sim_tools_excerpt(big, strlen(big), SIM_TOOLS_EXCERPT, &b);
	ck_assert_uint_eq(b.len, 299);
	buf_free(&b);

	size_t off, len;
	const char *s = "see (https://en.wikipedia.org/wiki/Dune_(novel)), or http://b.example/x.";
	ck_assert(sim_tools_first_url(s, strlen(s), &off, &len));
	ck_assert_uint_eq(off, 5);
	ck_assert_int_eq((int)len, (int)strlen("https://en.wikipedia.org/wiki/Dune_(novel)"));
	s = "{\"url\":\"http://b.example/x?q=1\"}";
	ck_assert(sim_tools_first_url(s, strlen(s), &off, &len));
	ck_assert(strncmp(s + off, "http://b.example/x?q=1\"", len + 1) == 0);
	s = "no link: http:// nor ftp://x.example";
	ck_assert(!sim_tools_first_url(s, strlen(s), &off, &len));
	ck_assert(!sim_tools_first_url("http:/", 6, &off, &len));
	s = "end https://x.io";
	ck_assert(sim_tools_first_url(s, strlen(s), &off, &len));
	ck_assert_uint_eq(off + len, strlen(s));
}
END_TEST

Suite *suite_sim_tools(void)
{
	Suite *s = suite_create("sim_tools");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_rounds);
	tcase_add_test(tc, test_bad_tools);
	tcase_add_test(tc, test_excerpt_and_url);
	suite_add_tcase(s, tc);
	return s;
}
