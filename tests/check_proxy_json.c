/* check_proxy_json.c — registry/proxy_json: the strict JSON scanner of the
 * proxy's hot path: fields, prompt pieces, and refusal of everything that
 * is not JSON (checked against a table of valid and invalid documents). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "../registry/proxy_json.h"

/* Collects the pieces as "piece|piece|". */
static void collect(void *arg, const char *p, size_t n)
{
	struct buf *b = arg;
	buf_append(b, p, n);
	buf_putc(b, '|');
}

static int scan(const char *json, struct proxy_json_req *r, struct buf *pieces, char *err,
		size_t errlen)
{
	return proxy_json_scan(json, strlen(json), r, collect, pieces, err, errlen);
}

static char *str(const struct proxy_json_str *s)
{
	static char out[256];
	if (!s->p)
		return NULL;
	snprintf(out, sizeof out, "%.*s", (int)s->len, s->p);
	return out;
}

START_TEST(test_chat_fields)
{
	struct proxy_json_req r;
	struct buf p = BUF_INIT;
	char err[200];
	const char *j = " {\"model\" : \"m1\", \"stream\":true, \"max_tokens\": 8,"
			"\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
			"{\"content\":[{\"type\":\"text\",\"text\":\"a\\\"b\"},"
			"{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}],\"role\":\"user\"}],"
			"\"user\":\"u-7\", \"extra\": {\"model\": 3, \"messages\": [1]}}\n";
	ck_assert_int_eq(scan(j, &r, &p, err, sizeof err), 0);
	ck_assert_str_eq(str(&r.model), "m1");
	ck_assert(!r.model.escaped);
	ck_assert_str_eq(str(&r.user), "u-7");
	ck_assert_int_eq(r.stream, 1);
	ck_assert(r.has_messages);
	ck_assert(!r.has_prompt);
	ck_assert_str_eq(p.data, "system|Be brief.|a\\\"b|user|");
	ck_assert_uint_eq(r.pieces, 4);
	buf_free(&p);
}
END_TEST

START_TEST(test_completion_prompts)
{
	struct proxy_json_req r;
	struct buf p = BUF_INIT;
	char err[200];
	ck_assert_int_eq(scan("{\"prompt\":\"Once upon\",\"model\":\"m\",\"stream\":false}", &r, &p,
			      err, sizeof err), 0);
	ck_assert_str_eq(p.data, "Once upon|");
	ck_assert_int_eq(r.stream, 0);
	ck_assert(r.has_prompt);
	buf_reset(&p);
	/* Token ids and lists: the raw JSON text. */
	ck_assert_int_eq(scan("{\"prompt\": [1, 2,[3]] ,\"model\":\"m\",\"stream\":null}", &r, &p,
			      err, sizeof err), 0);
	ck_assert_str_eq(p.data, "[1, 2,[3]]|");
	ck_assert_int_eq(r.stream, -1);
	buf_reset(&p);
	ck_assert_int_eq(scan("{\"input\":-1.5e3,\"model\":\"e\"}", &r, &p, err, sizeof err), 0);
	ck_assert_str_eq(p.data, "-1.5e3|");
	buf_reset(&p);
	ck_assert_int_eq(scan("{\"input\":{\"a\":[\"b\"]},\"model\":null}", &r, &p, err, sizeof err), 0);
	ck_assert_str_eq(p.data, "{\"a\":[\"b\"]}|");
	ck_assert_ptr_null(r.model.p);
	buf_free(&p);
}
END_TEST

/* The bytes of top-level member K's value. */
static char *span(const char *json, const struct proxy_json_req *r, int k)
{
	static char out[256];
	snprintf(out, sizeof out, "%.*s", (int)r->top[k].len, json + r->top[k].off);
	return out;
}

START_TEST(test_top_spans)
{
	/* Where the values of the members that migration reads are: scalars,
	 * containers, escaped keys, the last of a repeated key (as Python's
	 * json takes it); nested keys of the same names are not top-level. */
	struct proxy_json_req r;
	struct buf p = BUF_INIT;
	char err[200];
	const char *j = "  {\"model\":\"m\",\"max_tokens\": 12 ,\"n\":1,\"messages\":[{\"role\":\"user\","
			"\"content\":\"x\",\"max_tokens\":3}],\"stream_options\":{\"include_usage\":true},"
			"\"logprobs\":null,\"max_\\u0063ompletion_tokens\":7,\"min_tokens\":1,"
			"\"min_tokens\":2,\"guided_regex\":\"a+\",\"extra\":{\"n\":5}}";
	ck_assert_int_eq(scan(j, &r, &p, err, sizeof err), 0);
	ck_assert_uint_eq(r.root_off, 2);
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_MAX_TOKENS), "12");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_N), "1");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_MESSAGES),
			 "[{\"role\":\"user\",\"content\":\"x\",\"max_tokens\":3}]");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_STREAM_OPTIONS), "{\"include_usage\":true}");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_LOGPROBS), "null");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_MAX_COMPLETION), "7");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_MIN_TOKENS), "2");
	ck_assert_str_eq(span(j, &r, PROXY_JSON_T_GUIDED), "\"a+\"");
	ck_assert_uint_eq(r.top[PROXY_JSON_T_PROMPT].len, 0);
	ck_assert_uint_eq(r.top[PROXY_JSON_T_STREAM].len, 0);
	const char *c = "{\"prompt\":\"a\\\"b\",\"stream\":false}";
	ck_assert_int_eq(scan(c, &r, &p, err, sizeof err), 0);
	ck_assert_uint_eq(r.root_off, 0);
	ck_assert_str_eq(span(c, &r, PROXY_JSON_T_PROMPT), "\"a\\\"b\"");
	ck_assert_str_eq(span(c, &r, PROXY_JSON_T_STREAM), "false");
	buf_free(&p);
}
END_TEST

START_TEST(test_escaped_keys_and_values)
{
	struct proxy_json_req r;
	struct buf p = BUF_INIT;
	char err[200], name[64];
	ck_assert_int_eq(scan("{\"mod\\u0065l\":\"a\\/b\\u00e9\"}", &r, &p, err, sizeof err), 0);
	ck_assert(r.model.escaped);
	ck_assert_int_eq(proxy_json_unescape(&r.model, name, sizeof name), 5);
	ck_assert_str_eq(name, "a/b\xc3\xa9");
	/* The same key twice, once escaped: refused. */
	ck_assert_int_eq(scan("{\"model\":\"a\",\"m\\u006fdel\":\"b\"}", &r, &p, err, sizeof err), -1);
	ck_assert_str_eq(err, "duplicate key \"model\" in the request body");
	ck_assert_int_eq(scan("{\"prompt\":\"a\",\"input\":\"b\"}", &r, &p, err, sizeof err), -1);
	/* Nested duplicates are not the proxy's business. */
	ck_assert_int_eq(scan("{\"a\":{\"model\":1,\"model\":2}}", &r, &p, err, sizeof err), 0);
	buf_free(&p);
}
END_TEST

START_TEST(test_unescape_limits)
{
	char out[8];
	struct proxy_json_str s = {"\\ud83d\\ude00x", 13, true};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), 5);
	ck_assert_str_eq(out, "\xf0\x9f\x98\x80x");
	s = (struct proxy_json_str){"\\ud83dx", 7, true};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), -1);
	s = (struct proxy_json_str){"\\ude00", 6, true};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), -1);
	s = (struct proxy_json_str){"\\u0000", 6, true};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), -1);
	s = (struct proxy_json_str){"1234567", 7, false};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), 7);
	s = (struct proxy_json_str){"12345678", 8, false};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), -1);
	s = (struct proxy_json_str){"123456\\u00e9", 12, true};
	ck_assert_int_eq(proxy_json_unescape(&s, out, sizeof out), -1);
}
END_TEST

START_TEST(test_type_errors)
{
	struct proxy_json_req r;
	char err[200];
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{"{\"model\":3}", "'model' must be a string"},
		{"{\"model\":[\"a\"]}", "'model' must be a string"},
		{"{\"model\":true}", "'model' must be a string"},
		{"{\"stream\":\"yes\"}", "'stream' must be a boolean"},
		{"{\"stream\":1}", "'stream' must be a boolean"},
		{"{\"stream\":{}}", "'stream' must be a boolean"},
		{"{\"user\":1}", "'user' must be a string"},
		{"[]", "the request body must be a JSON object"},
		{"\"x\"", "the request body must be a JSON object"},
		{"3", "the request body must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(proxy_json_scan(cases[i].json, strlen(cases[i].json), &r, NULL, NULL,
					      err, sizeof err) == -1, "%s", cases[i].json);
		ck_assert_str_eq(err, cases[i].msg);
	}
}
END_TEST

/* Documents every JSON parser must accept (as values of "x"), and some it
 * must refuse (whole bodies). */
START_TEST(test_syntax_table)
{
	static const char *const good[] = {
		"{}", " { } ", "{\"x\":0}", "{\"x\":-0}", "{\"x\":1.0e+10}", "{\"x\":1E-2}",
		"{\"x\":123456789012345678901234567890}", "{\"x\":[]}", "{\"x\":[[],{}]}",
		"{\"x\":\"\\u00e9\\n\\t\\\"\\\\\\/\\b\\f\\r\"}", "{\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
		"{\"x\":null,\"y\":true,\"z\":false}", "{\"\":\"\"}", "\t\r\n{\"x\":1}\t\r\n",
		"{\"x\":\"\\ud800\"}", /* a lone escaped surrogate is still JSON */
		"{\"messages\":\"not an array\"}", "{\"messages\":[1,\"a\",null,{\"content\":{}}]}",
	};
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"x\"}", "{\"x\":}", "{\"x\":1,}", "{,}", "{\"x\":1 \"y\":2}",
		"{\"x\":[1,]}", "{\"x\":[,1]}", "{\"x\":01}", "{\"x\":1.}", "{\"x\":.5}", "{\"x\":1e}",
		"{\"x\":+1}", "{\"x\":-}", "{\"x\":--1}", "{\"x\":0x10}", "{\"x\":NaN}",
		"{\"x\":Infinity}", "{\"x\":tru}", "{\"x\":nulll}", "{\"x\":'a'}", "{x:1}",
		"{\"x\":\"a}", "{\"x\":\"\\x\"}", "{\"x\":\"\\u12\"}", "{\"x\":\"\\u12g4\"}",
		"{\"x\":\"a\nb\"}", "{\"x\":\"\x01\"}", "{\"x\":\"\xc3\"}", "{\"x\":\"\xc0\xaf\"}",
		"{\"x\":\"\xe0\x80\xaf\"}", "{\"x\":\"\xed\xa0\x80\"}", "{\"x\":\"\xf4\x90\x80\x80\"}",
		"{\"x\":\"\xff\"}", "{\"x\":\"\x80\"}", "{}{}", "{} x", "{\"x\":1}]",
		"\xef\xbb\xbf{}", "{\"x\":[}", "{\"x\":{]}", "{\"x\" 1}", "{\"x\":1}}",
	};
	struct proxy_json_req r;
	char err[200];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(proxy_json_scan(good[i], strlen(good[i]), &r, NULL, NULL, err,
					      sizeof err) == 0, "refused %s: %s", good[i], err);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(proxy_json_scan(bad[i], strlen(bad[i]), &r, NULL, NULL, err,
					      sizeof err) == -1, "accepted %s", bad[i]);
		ck_assert(r.err_off <= strlen(bad[i]));
		ck_assert(strlen(err) > 0);
	}
	/* A NUL inside a string is a control character. */
	ck_assert_int_eq(proxy_json_scan("{\"x\":\"a\0\"}", 9, &r, NULL, NULL, err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid JSON at byte 7: control character in a string");
	/* Length is respected: the same text cut short is refused. */
	ck_assert_int_eq(proxy_json_scan("{\"x\":1}", 6, &r, NULL, NULL, err, sizeof err), -1);
}
END_TEST

START_TEST(test_depth)
{
	struct buf b = BUF_INIT;
	struct proxy_json_req r;
	char err[200];
	buf_puts(&b, "{\"x\":");
	for (int i = 0; i < PROXY_JSON_MAX_DEPTH - 1; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < PROXY_JSON_MAX_DEPTH - 1; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '}');
	ck_assert_int_eq(proxy_json_scan(b.data, b.len, &r, NULL, NULL, err, sizeof err), 0);
	buf_reset(&b);
	buf_puts(&b, "{\"x\":");
	for (int i = 0; i < 100000; i++)
		buf_putc(&b, '[');
	ck_assert_int_eq(proxy_json_scan(b.data, b.len, &r, NULL, NULL, err, sizeof err), -1);
	ck_assert(strstr(err, "nested too deeply"));
	buf_free(&b);
}
END_TEST

/* Every prefix of a valid document is refused, without reading past it
 * (ASan checks the reads: each prefix is copied into its own allocation). */
START_TEST(test_prefixes)
{
	const char *j = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
			"[{\"type\":\"text\",\"text\":\"h\\u00e9\xc3\xa9\"}]}],\"prompt\":[1,-2.5e1,true],"
			"\"stream\":false,\"user\":\"u\"}";
	size_t n = strlen(j);
	struct proxy_json_req r;
	char err[200];
	for (size_t k = 0; k < n; k++) {
		char *copy = malloc(k ? k : 1);
		memcpy(copy, j, k);
		ck_assert_msg(proxy_json_scan(copy, k, &r, NULL, NULL, err, sizeof err) == -1,
			      "prefix %zu accepted", k);
		free(copy);
	}
	struct buf p = BUF_INIT;
	ck_assert_int_eq(proxy_json_scan(j, n, &r, collect, &p, err, sizeof err), 0);
	ck_assert_str_eq(p.data, "user|h\\u00e9\xc3\xa9|[1,-2.5e1,true]|");
	buf_free(&p);
}
END_TEST

/* Random mutations of a valid body never crash nor read out of bounds;
 * whatever is accepted has its model inside the buffer. */
START_TEST(test_mutations)
{
	const char *j = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"abc\"}],"
			"\"stream\":true,\"user\":\"\\u00e9\",\"n\":[1.5,{\"a\":null}]}";
	size_t n = strlen(j);
	unsigned seed = 12345;
	struct proxy_json_req r;
	char err[200];
	static const char alphabet[] = "{}[]\":,\\u0123456789eE+-.tfnrl \x80\xc3\xa9\x01";
	for (int it = 0; it < 20000; it++) {
		char *copy = malloc(n);
		memcpy(copy, j, n);
		int muts = 1 + rand_r(&seed) % 4;
		for (int m = 0; m < muts; m++)
			copy[rand_r(&seed) % n] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		size_t len = n - (size_t)(rand_r(&seed) % 3);
		if (proxy_json_scan(copy, len, &r, NULL, NULL, err, sizeof err) == 0 && r.model.p)
			ck_assert(r.model.p >= copy && r.model.p + r.model.len <= copy + len);
		free(copy);
	}
}
END_TEST

START_TEST(test_check_response)
{
	/* proxy_json_check: a worker's answer, where no key means anything. */
	char err[200];
	const char *good[] = {
		"{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[]}",
		"{\"model\":\"a\",\"model\":\"b\"}",           /* twice: not checked */
		"{\"stream\":3,\"user\":[1],\"messages\":{}}", /* any type */
		" {} ",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		ck_assert_msg(proxy_json_check(good[i], strlen(good[i]), err, sizeof err) == 0, "%s: %s",
			      good[i], err);
	const char *bad[] = {"", "[]", "\"x\"", "{", "\xff\xfe{\"choices\": [garbage\x01 ]]}",
			     "{\"a\":1} x", "<html>"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(proxy_json_check(bad[i], strlen(bad[i]), err, sizeof err) < 0, "%s", bad[i]);
	ck_assert_int_lt(proxy_json_check(NULL, 0, err, sizeof err), 0);
	ck_assert_str_eq(err, "invalid JSON at byte 0: empty body");
	ck_assert_int_lt(proxy_json_check("[1]", 3, err, sizeof err), 0);
	ck_assert_str_eq(err, "the body is not a JSON object");
}
END_TEST

Suite *suite_proxy_json(void)
{
	Suite *s = suite_create("proxy_json");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_chat_fields);
	tcase_add_test(tc, test_completion_prompts);
	tcase_add_test(tc, test_top_spans);
	tcase_add_test(tc, test_escaped_keys_and_values);
	tcase_add_test(tc, test_unescape_limits);
	tcase_add_test(tc, test_type_errors);
	tcase_add_test(tc, test_syntax_table);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_check_response);
	suite_add_tcase(s, tc);
	return s;
}
