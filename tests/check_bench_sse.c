/* check_bench_sse.c — cli/bench_sse: event-stream framing split anywhere,
 * and what OpenAI chunks and responses say. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/bench_sse.h"

/* The events a parser delivered, joined with '|'. */
struct events {
	struct buf all;
	int n;
	int stop_at; /* return 1 at this event (1-based); 0: never */
};

static int on_event(const char *data, size_t len, void *arg)
{
	struct events *e = arg;
	ck_assert_uint_eq(strlen(data), len);
	if (e->n++)
		buf_putc(&e->all, '|');
	buf_append(&e->all, data, len);
	return e->stop_at && e->n == e->stop_at;
}

static const char stream[] =
	": a comment\r\n"
	"data: {\"a\":1}\r\n"
	"\r\n"
	"event: message\n"
	"id: 7\n"
	"data:{\"b\":2}\n"
	"data:  two spaces\n"
	"\n"
	"retry: 100\n"
	"\n"
	"data\n"
	"\n"
	"data: cr only\r\r"
	"data: [DONE]\n\n";
static const char expect[] = "{\"a\":1}|{\"b\":2}\n two spaces||cr only|[DONE]";

START_TEST(test_framing_whole)
{
	struct events e = {0};
	struct bench_sse p;
	bench_sse_init(&p, on_event, &e);
	ck_assert_int_eq(bench_sse_feed(&p, stream, sizeof stream - 1), 0);
	ck_assert_int_eq(bench_sse_finish(&p), 0);
	ck_assert_str_eq(e.all.data, expect);
	ck_assert_int_eq(e.n, 5);
	bench_sse_free(&p);
	buf_free(&e.all);
}
END_TEST

START_TEST(test_framing_split_everywhere)
{
	/* Every split point, a CRLF cut in two included, and byte by byte. */
	size_t n = sizeof stream - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct events e = {0};
		struct bench_sse p;
		bench_sse_init(&p, on_event, &e);
		ck_assert_int_eq(bench_sse_feed(&p, stream, cut), 0);
		ck_assert_int_eq(bench_sse_feed(&p, stream + cut, n - cut), 0);
		ck_assert_int_eq(bench_sse_finish(&p), 0);
		ck_assert_msg(strcmp(e.all.data, expect) == 0, "cut at %zu: %s", cut, e.all.data);
		bench_sse_free(&p);
		buf_free(&e.all);
	}
	struct events e = {0};
	struct bench_sse p;
	bench_sse_init(&p, on_event, &e);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(bench_sse_feed(&p, stream + i, 1), 0);
	ck_assert_int_eq(bench_sse_finish(&p), 0);
	ck_assert_str_eq(e.all.data, expect);
	bench_sse_free(&p);
	buf_free(&e.all);
}
END_TEST

START_TEST(test_framing_last_event_without_blank_line)
{
	struct events e = {0};
	struct bench_sse p;
	bench_sse_init(&p, on_event, &e);
	ck_assert_int_eq(bench_sse_feed(&p, "data: x\n\ndata: tail", 19), 0);
	ck_assert_int_eq(e.n, 1);
	ck_assert_int_eq(bench_sse_finish(&p), 0);
	ck_assert_str_eq(e.all.data, "x|tail");
	bench_sse_free(&p);
	buf_free(&e.all);
}
END_TEST

START_TEST(test_framing_stop_and_too_big)
{
	struct events e = {.stop_at = 2};
	struct bench_sse p;
	bench_sse_init(&p, on_event, &e);
	ck_assert_int_eq(bench_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), 1);
	ck_assert_int_eq(e.n, 2);
	bench_sse_free(&p);
	buf_free(&e.all);

	/* An event over 16 MiB, fed in 1 MiB pieces. */
	struct events e2 = {0};
	bench_sse_init(&p, on_event, &e2);
	size_t piece = 1u << 20;
	char *big = malloc(piece);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', piece);
	ck_assert_int_eq(bench_sse_feed(&p, "data: ", 6), 0);
	int rc = 0;
	for (int i = 0; i < 20 && rc == 0; i++)
		rc = bench_sse_feed(&p, big, piece);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(bench_sse_feed(&p, "\n\n", 2), -1);
	ck_assert_int_eq(bench_sse_finish(&p), -1);
	ck_assert_int_eq(e2.n, 0);
	free(big);
	bench_sse_free(&p);
	buf_free(&e2.all);
}
END_TEST

static void parse_ok(const char *s, struct bench_oai *o, struct buf *text)
{
	ck_assert_msg(bench_oai_parse(s, strlen(s), o, text) == 0, "%s: %s", s, o->error);
}

START_TEST(test_oai_chat_chunks)
{
	struct bench_oai o;
	struct buf text = BUF_INIT;
	/* vLLM's first chunk: the role, empty content: no output yet. */
	parse_ok("{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		 "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
		 &o, &text);
	ck_assert(o.has_choices);
	ck_assert(!o.has_text);
	ck_assert(!o.finished);
	ck_assert(!o.done);
	ck_assert_int_eq(o.prompt_tokens, -1);
	parse_ok("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hello\"},"
		 "\"finish_reason\":null}]}", &o, &text);
	ck_assert(o.has_text);
	parse_ok("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" you\"},"
		 "\"finish_reason\":\"length\",\"stop_reason\":null}]}", &o, &text);
	ck_assert(o.has_text);
	ck_assert(o.finished);
	ck_assert_str_eq(text.data, " hello you");
	parse_ok("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,"
		 "\"total_tokens\":14}}", &o, &text);
	ck_assert(!o.has_choices);
	ck_assert_int_eq(o.prompt_tokens, 12);
	ck_assert_int_eq(o.completion_tokens, 2);
	parse_ok(" [DONE] ", &o, NULL);
	ck_assert(o.done);
	/* Reasoning models stream reasoning_content first; tool calls count. */
	parse_ok("{\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}", &o, NULL);
	ck_assert(o.has_text);
	parse_ok("{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}", &o, NULL);
	ck_assert(o.has_text);
	buf_free(&text);
}
END_TEST

START_TEST(test_oai_whole_and_completions)
{
	struct bench_oai o;
	struct buf text = BUF_INIT;
	parse_ok("{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"
		 "\"role\":\"assistant\",\"content\":\"the answer\"},\"finish_reason\":\"stop\"}],"
		 "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n",
		 &o, &text);
	ck_assert(o.has_text);
	ck_assert(o.finished);
	ck_assert_int_eq(o.completion_tokens, 2);
	ck_assert_str_eq(text.data, "the answer");
	buf_reset(&text);
	parse_ok("{\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" abc\","
		 "\"finish_reason\":null}]}", &o, &text);
	ck_assert(o.has_text);
	ck_assert(!o.finished);
	ck_assert_str_eq(text.data, " abc");
	/* Usage with a null count. */
	parse_ok("{\"choices\":[],\"usage\":{\"prompt_tokens\":null,\"completion_tokens\":3}}",
		 &o, NULL);
	ck_assert_int_eq(o.prompt_tokens, -1);
	ck_assert_int_eq(o.completion_tokens, 3);
	buf_free(&text);
}
END_TEST

START_TEST(test_oai_errors)
{
	struct bench_oai o;
	parse_ok("{\"error\":{\"message\":\"no ready worker\",\"type\":\"x\",\"code\":503}}", &o,
		 NULL);
	ck_assert_str_eq(o.error, "no ready worker");
	parse_ok("{\"object\":\"error\",\"error\":\"boom\"}", &o, NULL);
	ck_assert_str_eq(o.error, "\"boom\"");
	parse_ok("{\"error\":null,\"choices\":[]}", &o, NULL);
	ck_assert_str_eq(o.error, "");
	ck_assert_int_eq(bench_oai_parse("{\"a\":", 5, &o, NULL), -1);
	ck_assert_ptr_nonnull(strstr(o.error, "malformed JSON"));
	ck_assert_int_eq(bench_oai_parse("{} x", 4, &o, NULL), -1);
	ck_assert_int_eq(bench_oai_parse("[1]", 3, &o, NULL), -1);
	ck_assert_int_eq(bench_oai_parse("", 0, &o, NULL), -1);
	/* found by tests/fuzz/fuzz_sse: the message read its input as a C
	   string, up to 60 bytes past LEN (input that is not NUL-terminated). */
	char *cut = malloc(3);
	memcpy(cut, "{\"x", 3);
	ck_assert_int_eq(bench_oai_parse(cut, 3, &o, NULL), -1);
	ck_assert_str_eq(o.error, "malformed JSON in the response: {\"x");
	free(cut);
}
END_TEST

Suite *suite_bench_sse(void)
{
	Suite *s = suite_create("bench_sse");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_framing_whole);
	tcase_add_test(tc, test_framing_split_everywhere);
	tcase_add_test(tc, test_framing_last_event_without_blank_line);
	tcase_add_test(tc, test_framing_stop_and_too_big);
	tcase_add_test(tc, test_oai_chat_chunks);
	tcase_add_test(tc, test_oai_whole_and_completions);
	tcase_add_test(tc, test_oai_errors);
	suite_add_tcase(s, tc);
	return s;
}
