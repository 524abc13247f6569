/* check_rs_llm.c — research/rs_llm: completions and streamed chunks
 * parsed into replies (tool calls by index, usage, errors), request
 * bodies, the endpoint from the environment, and calls against a scripted
 * local server: retries on 503 and 429, no retry on 400, a stream retried
 * before its first byte, the model picked from /models. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../research/rs_llm.h"
#include "script_srv.h"

/* ---------------------------------------------------------------- parsing */

START_TEST(test_parse_completion)
{
	const char *body =
		"{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
		"{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"think\",\"tool_calls\":["
		"{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"web_search\",\"arguments\":\"{\\\"query\\\": \\\"a b\\\"}\"}},"
		"{\"type\":\"function\",\"function\":{\"name\":\"open_page\",\"arguments\":{\"url\":\"http://x\"}}}]},"
		"\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}";
	struct rs_llm_reply r = {0};
	char err[256];
	ck_assert_int_eq(rs_llm_parse_completion(body, strlen(body), &r, err, sizeof err), 0);
	ck_assert_str_eq(r.content, "");
	ck_assert_str_eq(r.reasoning, "think");
	ck_assert_uint_eq(r.ncalls, 2);
	ck_assert_str_eq(r.calls[0].id, "call_1");
	ck_assert_str_eq(r.calls[0].name, "web_search");
	ck_assert_str_eq(r.calls[0].arguments, "{\"query\": \"a b\"}");
	ck_assert_str_eq(r.calls[1].id, "");
	/* An object for arguments is taken as its JSON text. */
	ck_assert_str_eq(r.calls[1].arguments, "{\"url\":\"http://x\"}");
	ck_assert_str_eq(r.finish_reason, "tool_calls");
	ck_assert_int_eq(r.prompt_tokens, 12);
	ck_assert_int_eq(r.completion_tokens, 5);

	/* The assistant message for the conversation. */
	struct json_object *m = rs_llm_reply_message(&r);
	const char *t = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	ck_assert_str_eq(t, "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
			    "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"web_search\","
			    "\"arguments\":\"{\\\"query\\\": \\\"a b\\\"}\"}},"
			    "{\"id\":\"\",\"type\":\"function\",\"function\":{\"name\":\"open_page\","
			    "\"arguments\":\"{\\\"url\\\":\\\"http://x\\\"}\"}}]}");
	json_object_put(m);
	rs_llm_reply_free(&r);
}
END_TEST

START_TEST(test_parse_completion_errors)
{
	struct rs_llm_reply r = {0};
	char err[256];
	ck_assert_int_eq(rs_llm_parse_completion("<html>", 6, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the answer is not JSON: unexpected character at byte 0");
	rs_llm_reply_free(&r);
	const char *e = "{\"error\":{\"message\":\"context too long\",\"code\":400}}";
	ck_assert_int_eq(rs_llm_parse_completion(e, strlen(e), &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the endpoint sent an error: context too long");
	rs_llm_reply_free(&r);
	ck_assert_int_eq(rs_llm_parse_completion("{\"choices\":[]}", 14, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the answer has no choices");
	rs_llm_reply_free(&r);
	ck_assert_int_eq(rs_llm_parse_completion("{\"choices\":[{}]}", 16, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the answer's first choice has no message");
	rs_llm_reply_free(&r);
}
END_TEST

static struct buf deltas;

static void on_delta(char kind, const char *text, size_t len, void *arg)
{
	(void)arg;
	buf_printf(&deltas, "%c[", kind);
	buf_append(&deltas, text, len);
	buf_putc(&deltas, ']');
}

static const char stream_text[] =
	": keep-alive\r\n\r\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me \"}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"search.\"}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"type\":\"function\","
	"\"function\":{\"name\":\"web_search\",\"arguments\":\"\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"query\\\":\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c1\",\"function\":{\"name\":\"open_page\",\"arguments\":\"{}\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" \\\"x\\\"}\"}}]}}]}\n\n"
	"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":9}}\n\n"
	"data: [DONE]\n\n";

static void check_stream_reply(const struct rs_llm_reply *r)
{
	ck_assert_str_eq(r->content, "Let me search.");
	ck_assert_str_eq(r->reasoning, "hm");
	ck_assert_uint_eq(r->ncalls, 2);
	ck_assert_str_eq(r->calls[0].id, "c0");
	ck_assert_str_eq(r->calls[0].name, "web_search");
	ck_assert_str_eq(r->calls[0].arguments, "{\"query\": \"x\"}");
	ck_assert_str_eq(r->calls[1].id, "c1");
	ck_assert_str_eq(r->calls[1].arguments, "{}");
	ck_assert_str_eq(r->finish_reason, "tool_calls");
	ck_assert_int_eq(r->prompt_tokens, 30);
	ck_assert_int_eq(r->completion_tokens, 9);
}

START_TEST(test_stream_any_split)
{
	/* Every way of cutting the stream in two gives the same reply. */
	size_t len = strlen(stream_text);
	for (size_t cut = 0; cut <= len; cut += 7) {
		struct rs_llm_reply r = {0};
		struct rs_llm_stream s;
		char err[256];
		buf_reset(&deltas);
		rs_llm_stream_init(&s, &r, on_delta, NULL);
		rs_llm_stream_feed(&s, stream_text, cut);
		rs_llm_stream_feed(&s, stream_text + cut, len - cut);
		ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), 0);
		ck_assert(s.done);
		check_stream_reply(&r);
		ck_assert_str_eq(deltas.data, "r[hm]c[Let me ]c[search.]");
		rs_llm_stream_free(&s);
		rs_llm_reply_free(&r);
	}
	/* Byte by byte. */
	struct rs_llm_reply r = {0};
	struct rs_llm_stream s;
	char err[256];
	rs_llm_stream_init(&s, &r, NULL, NULL);
	for (size_t i = 0; i < len; i++)
		rs_llm_stream_feed(&s, stream_text + i, 1);
	ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), 0);
	check_stream_reply(&r);
	rs_llm_stream_free(&s);
	rs_llm_reply_free(&r);
	buf_free(&deltas);
}
END_TEST

START_TEST(test_stream_errors)
{
	struct rs_llm_reply r = {0};
	struct rs_llm_stream s;
	char err[256];
	rs_llm_stream_init(&s, &r, NULL, NULL);
	rs_llm_stream_feed(&s, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {oops\n\n", 60);
	ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), -1);
	ck_assert_int_eq(strncmp(err, "a streamed event is not JSON", 28), 0);
	rs_llm_stream_free(&s);
	rs_llm_reply_free(&r);

	rs_llm_stream_init(&s, &r, NULL, NULL);
	const char *e = "data: {\"error\":{\"message\":\"worker gone\"}}\n\n";
	rs_llm_stream_feed(&s, e, strlen(e));
	ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), -1);
	ck_assert_str_eq(err, "the endpoint sent an error: worker gone");
	rs_llm_stream_free(&s);
	rs_llm_reply_free(&r);

	rs_llm_stream_init(&s, &r, NULL, NULL);
	rs_llm_stream_feed(&s, "data: [DONE]\n\n", 14);
	ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), -1);
	ck_assert_str_eq(err, "the stream held no completion chunk");
	rs_llm_stream_free(&s);
	rs_llm_reply_free(&r);

	/* A last event without its blank line still counts. */
	rs_llm_stream_init(&s, &r, NULL, NULL);
	e = "data: {\"choices\":[{\"delta\":{\"content\":\"end\"}}]}";
	rs_llm_stream_feed(&s, e, strlen(e));
	ck_assert_int_eq(rs_llm_stream_end(&s, err, sizeof err), 0);
	ck_assert_str_eq(r.content, "end");
	rs_llm_stream_free(&s);
	rs_llm_reply_free(&r);
}
END_TEST

static const char *lookup(const char *name, void *arg)
{
	const char *const *kv = arg;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

START_TEST(test_init_and_body)
{
	struct rs_llm l;
	const char *env1[] = {"ELASTIC_REGISTRY_URL", "http://reg:9000/", "OPENAI_API_KEY", "sk-1", NULL};
	rs_llm_init(&l, lookup, env1);
	ck_assert_str_eq(l.endpoint, "http://reg:9000/v1");
	ck_assert_str_eq(l.registry, "http://reg:9000");
	ck_assert_str_eq(l.api_key, "sk-1");
	ck_assert_ptr_null(l.model);
	char err[256];
	ck_assert_int_eq(rs_llm_set_endpoint(&l, "http://other:1234", err, sizeof err), 0);
	ck_assert_str_eq(l.endpoint, "http://other:1234/v1");
	ck_assert_ptr_null(l.registry);
	ck_assert_int_eq(rs_llm_set_endpoint(&l, "https://api.example.com/openai/v1/", err, sizeof err), 0);
	ck_assert_str_eq(l.endpoint, "https://api.example.com/openai/v1");
	ck_assert_int_eq(rs_llm_set_endpoint(&l, "ftp://x", err, sizeof err), -1);
	ck_assert_str_eq(err, "endpoint must start with http:// or https://, not 'ftp://x'");
	rs_llm_free(&l);

	const char *env2[] = {"OPENAI_BASE_URL", "http://h:1/v1", "ES_RESEARCH_MODEL", "m", NULL};
	rs_llm_init(&l, lookup, env2);
	ck_assert_str_eq(l.endpoint, "http://h:1/v1");
	ck_assert_ptr_null(l.registry);
	ck_assert_str_eq(l.model, "m");
	l.temperature = 0.5;
	l.max_tokens = 100;
	l.extra = strdup("{\"reasoning_effort\":\"high\"}");
	struct json_object *msgs = json_tokener_parse("[{\"role\":\"user\",\"content\":\"hi\"}]");
	struct json_object *tools = json_tokener_parse("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]");
	struct buf b = BUF_INIT;
	rs_llm_request_body(&l, msgs, tools, "none", true, &b);
	ck_assert_str_eq(b.data, "{\"reasoning_effort\":\"high\",\"model\":\"m\",\"messages\":[{\"role\":\"user\","
				 "\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
				 "\"tool_choice\":\"none\",\"temperature\":0.5,\"max_tokens\":100,\"stream\":true,"
				 "\"stream_options\":{\"include_usage\":true}}");
	buf_reset(&b);
	l.temperature = -1;
	l.max_tokens = 0;
	rs_llm_request_body(&l, msgs, NULL, "none", false, &b);
	ck_assert_str_eq(b.data, "{\"reasoning_effort\":\"high\",\"model\":\"m\",\"messages\":[{\"role\":\"user\","
				 "\"content\":\"hi\"}],\"stream\":false}");
	buf_free(&b);
	json_object_put(msgs);
	json_object_put(tools);
	rs_llm_free(&l);
}
END_TEST

/* ---------------------------------------------------------------- against a scripted server (script_srv.h) */

#define JSON_HEAD "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
#define OK_BODY                                                                                   \
	"{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Answer: 42\"},"            \
	"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}"

static void llm_for(struct rs_llm *l, int port)
{
	char url[64], err[128];
	rs_llm_init(l, lookup, (const char *[]){NULL});
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
	ck_assert_int_eq(rs_llm_set_endpoint(l, url, err, sizeof err), 0);
	l->model = strdup("m");
	l->backoff_ms = 10;
	l->retries = 3;
	l->timeout_ms = 10000;
}

START_TEST(test_call_retries)
{
	static const char *const answers[] = {
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" OK_BODY,
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	llm_for(&l, s.port);
	struct json_object *msgs = json_tokener_parse("[{\"role\":\"user\",\"content\":\"q\"}]");
	struct rs_llm_reply r;
	char err[512];
	ck_assert_int_eq(rs_llm_chat(&l, msgs, NULL, NULL, NULL, NULL, &r, err, sizeof err), 0);
	ck_assert_str_eq(r.content, "Answer: 42");
	ck_assert_int_eq(r.prompt_tokens, 3);
	ck_assert_int_eq(s.served, 3);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(s.log.data, "POST /v1/chat/completions HTTP/1.1\n{\"model\":\"m\""));
	rs_llm_reply_free(&r);
	json_object_put(msgs);
	rs_llm_free(&l);
	script_srv_stop(&s);
}
END_TEST

START_TEST(test_call_no_retry_on_400)
{
	static const char *const answers[] = {
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens\",\"code\":400}}",
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno such\nmodel",
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	llm_for(&l, s.port);
	struct json_object *msgs = json_tokener_parse("[]");
	struct rs_llm_reply r;
	char err[512];
	ck_assert_int_eq(rs_llm_chat(&l, msgs, NULL, NULL, NULL, NULL, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the endpoint answered 400: This model's maximum context length is 8192 tokens");
	ck_assert_int_eq(r.status, 400);
	rs_llm_reply_free(&r);
	/* The stream path does not retry a 404 either; a body that is not
	 * OpenAI's error JSON is quoted on one line. */
	ck_assert_int_eq(rs_llm_chat(&l, msgs, NULL, NULL, on_delta, NULL, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "the endpoint answered 404: no such model");
	ck_assert_int_eq(r.status, 404);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert_int_eq(s.served, 2);
	rs_llm_reply_free(&r);
	json_object_put(msgs);
	rs_llm_free(&l);
	script_srv_stop(&s);
	buf_free(&deltas);
}
END_TEST

START_TEST(test_stream_call_retried_before_first_byte)
{
	static char ok[4096];
	snprintf(ok, sizeof ok,
		 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n%s", stream_text);
	static const char *const answers[] = {
		"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"error\":{\"message\":\"worker gone\"}}",
		/* A 200 whose body is no stream: nothing was shown yet, so again. */
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>oops</html>",
		ok,
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	llm_for(&l, s.port);
	struct json_object *msgs = json_tokener_parse("[]");
	struct rs_llm_reply r;
	char err[512];
	buf_reset(&deltas);
	ck_assert_int_eq(rs_llm_chat(&l, msgs, NULL, NULL, on_delta, NULL, &r, err, sizeof err), 0);
	check_stream_reply(&r);
	ck_assert_int_eq(r.attempts, 3);
	ck_assert_str_eq(deltas.data, "r[hm]c[Let me ]c[search.]");
	ck_assert_ptr_nonnull(strstr(s.log.data, "\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
	rs_llm_reply_free(&r);
	json_object_put(msgs);
	rs_llm_free(&l);
	script_srv_stop(&s);
	buf_free(&deltas);
}
END_TEST

START_TEST(test_prepare)
{
	static const char *const answers[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"object\":\"list\",\"data\":[{\"id\":\"first\"},{\"id\":\"second\"}]}",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"object\":\"list\",\"data\":[]}",
		"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"error\":{\"message\":\"bad key\"}}",
		NULL,
	};
	struct script_srv s;
	script_srv_start(&s, answers);
	struct rs_llm l;
	llm_for(&l, s.port);
	free(l.model);
	l.model = NULL;
	char err[512];
	ck_assert_int_eq(rs_llm_prepare(&l, err, sizeof err), 0);
	ck_assert_str_eq(l.model, "first");
	free(l.model);
	l.model = NULL;
	ck_assert_int_eq(rs_llm_prepare(&l, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "/v1/models lists no model (no worker ready?); give --model"));
	ck_assert_int_eq(rs_llm_prepare(&l, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "refused the API key (none given: --api-key or OPENAI_API_KEY) (401)"));
	rs_llm_free(&l);
	script_srv_stop(&s);

	/* Nobody listening. */
	llm_for(&l, s.port);
	l.retries = 0;
	ck_assert_int_eq(rs_llm_prepare(&l, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "cannot reach the endpoint http://127.0.0.1:", 43) == 0, "%s", err);
	rs_llm_free(&l);
}
END_TEST

/* As main() does, before any thread. */
static void setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
	curl_global_cleanup();
}

Suite *suite_rs_llm(void)
{
	Suite *s = suite_create("rs_llm");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_completion);
	tcase_add_test(tc, test_parse_completion_errors);
	tcase_add_test(tc, test_stream_any_split);
	tcase_add_test(tc, test_stream_errors);
	tcase_add_test(tc, test_init_and_body);
	tcase_add_test(tc, test_call_retries);
	tcase_add_test(tc, test_call_no_retry_on_400);
	tcase_add_test(tc, test_stream_call_retried_before_first_byte);
	tcase_add_test(tc, test_prepare);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
