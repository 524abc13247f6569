/* check_proxy_migrate.c — registry/proxy_migrate: which requests may
 * migrate, the continuation's body, the splice of a continuation's events
 * into the client's stream, the assembled non-streamed answer, and the
 * endings (error event, a generation complete without its end). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "../registry/proxy_json.h"
#include "../registry/proxy_migrate.h"

static void init(struct proxy_migrate *m, bool chat, const char *body)
{
	struct proxy_json_req jr;
	char err[200];
	ck_assert_msg(proxy_json_scan(body, strlen(body), &jr, NULL, NULL, err, sizeof err) == 0, "%s",
		      err);
	proxy_migrate_init(m, chat, body, strlen(body), &jr);
}

static struct json_object *parse(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	ck_assert_msg(o && json_tokener_get_error(tok) == json_tokener_success, "not JSON: %.*s",
		      (int)len, s);
	json_tokener_free(tok);
	return o;
}

static struct json_object *get(struct json_object *o, const char *path)
{
	/* "a.b.0.c" */
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *k = strtok(buf, "."); k && o; k = strtok(NULL, ".")) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	}
	return o;
}

static const char *gets(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);
	return v ? json_object_get_string(v) : NULL;
}

static int64_t geti(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);
	ck_assert_msg(v != NULL, "no %s", path);
	return json_object_get_int64(v);
}

/* ---------------------------------------------------------------- requests */

START_TEST(test_refusals)
{
	static const struct {
		bool chat;
		const char *body;
		const char *refusal; /* NULL: migratable */
	} cases[] = {
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}", NULL},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"n\":1,\"logprobs\":false,"
		       "\"top_logprobs\":null,\"echo\":null,\"response_format\":{ \"type\" : \"text\" }}",
		 NULL},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"n\":2}", "n > 1"},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"n\":\"x\"}", "n > 1"},
		{false, "{\"model\":\"m\",\"prompt\":\"a\",\"best_of\":3}", "best_of > 1"},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"logprobs\":true}", "logprobs"},
		{false, "{\"model\":\"m\",\"prompt\":\"a\",\"stream\":true,\"logprobs\":0}", "logprobs"},
		{false, "{\"model\":\"m\",\"prompt\":\"a\",\"prompt_logprobs\":1}", "prompt_logprobs"},
		{false, "{\"model\":\"m\",\"prompt\":\"a\",\"echo\":true}", "echo"},
		{true, "{\"model\":\"m\",\"messages\":[],\"use_beam_search\":true}", "beam search"},
		{true, "{\"model\":\"m\",\"messages\":[],\"guided_json\":{}}", "guided decoding"},
		{true, "{\"model\":\"m\",\"messages\":[],\"structured_outputs\":{\"regex\":\"a\"}}",
		 "guided decoding"},
		{true, "{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"json_object\"}}",
		 "a response_format"},
		{true, "{\"model\":\"m\",\"messages\":[],\"continue_final_message\":true}",
		 "continue_final_message in the request"},
		{true, "{\"model\":\"m\",\"messages\":{}}", "messages that are not an array"},
		{false, "{\"model\":\"m\",\"prompt\":[\"a\"]}", "a prompt that is not one string"},
		{false, "{\"model\":\"m\",\"prompt\":[1,2,3]}", "a prompt that is not one string"},
		{false, "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":1.5}",
		 "max_tokens that is not an integer"},
		{true, "{\"model\":\"m\",\"messages\":[],\"max_completion_tokens\":\"9\"}",
		 "max_completion_tokens that is not an integer"},
		{true, "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\"}]}",
		 "tools in a request that is not streamed"},
		{true, "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\"}],"
		       "\"tool_choice\":\"none\"}",
		 NULL},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"tools\":[{\"type\":\"function\"}]}",
		 NULL},
		{true, "{\"model\":\"m\",\"messages\":[],\"stream_options\":{\"include_usage\":true}}",
		 "stream_options in a request that is not streamed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proxy_migrate m;
		init(&m, cases[i].chat, cases[i].body);
		if (cases[i].refusal) {
			ck_assert_msg(!m.migratable, "case %zu migratable", i);
			ck_assert_str_eq(m.refusal, cases[i].refusal);
		} else {
			ck_assert_msg(m.migratable, "case %zu: %s", i, m.refusal);
		}
		/* A stream is always taken event by event; a non-streamed
		 * request only when it can migrate (assembled). */
		ck_assert(proxy_migrate_handles(&m) == (m.client_stream || m.migratable));
		ck_assert(m.assemble == (!m.client_stream && m.migratable));
		proxy_migrate_free(&m);
	}
}
END_TEST

START_TEST(test_assembled_request_streams)
{
	/* A non-streamed request goes upstream as a stream with usage; the
	 * other fields stay as they were. */
	const char *bodies[] = {
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"seed\":3}",
		" { \"stream\" : false , \"model\":\"m\",\"messages\":[],\"stream_options\":null,"
		"\"temperature\":0.5}",
	};
	for (int i = 0; i < 2; i++) {
		struct proxy_migrate m;
		init(&m, true, bodies[i]);
		ck_assert(m.assemble);
		struct json_object *o = parse(m.body.data, m.body.len);
		ck_assert(json_object_get_boolean(get(o, "stream")));
		ck_assert(json_object_get_boolean(get(o, "stream_options.include_usage")));
		ck_assert_str_eq(gets(o, "model"), "m");
		if (i == 0)
			ck_assert_int_eq(geti(o, "seed"), 3);
		else
			ck_assert(json_object_get_double(get(o, "temperature")) == 0.5);
		json_object_put(o);
		proxy_migrate_free(&m);
	}
	/* A stream is sent as the client sent it. */
	struct proxy_migrate m;
	init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true,"
		       "\"stream_options\":{\"include_usage\":true}}");
	ck_assert_uint_eq(m.body.len, 0);
	ck_assert(m.want_usage);
	proxy_migrate_free(&m);
}
END_TEST

/* ---------------------------------------------------------------- events */

#define CHUNK(id, content)                                                                    \
	"data: {\"id\":\"" id "\",\"object\":\"chat.completion.chunk\",\"created\":17,"         \
	"\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" content "\"},"     \
	"\"logprobs\":null,\"finish_reason\":null}]}\n\n"
#define ROLE(id)                                                                              \
	"data: {\"id\":\"" id "\",\"object\":\"chat.completion.chunk\",\"created\":17,"         \
	"\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","           \
	"\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"

static const char stream0[] = ROLE("a") CHUNK("a", "Hel") ": a comment\n\n" CHUNK("a", "lo \\\"w\\u00e9\\\"")
	"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":17,\"model\":\"m\","
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"logprobs\":null,"
	"\"finish_reason\":\"stop\",\"stop_reason\":7}]}\r\n\r\n"
	"data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":17,\"model\":\"m\","
	"\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":8,\"completion_tokens\":3}}\n\n"
	"data: [DONE]\n\n";

START_TEST(test_first_segment_passed_as_is)
{
	/* Whole or a byte at a time, the client gets the events as they came
	 * (a CRLF event included), and the state follows them. */
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct proxy_migrate m;
		init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
		struct buf out = BUF_INIT;
		char err[200];
		size_t n = sizeof stream0 - 1;
		if (bytewise) {
			for (size_t i = 0; i < n; i++)
				ck_assert_int_eq(proxy_migrate_feed(&m, stream0 + i, 1, &out, err, sizeof err), 0);
		} else {
			ck_assert_int_eq(proxy_migrate_feed(&m, stream0, n, &out, err, sizeof err), 0);
		}
		ck_assert_str_eq(out.data, stream0);
		ck_assert(m.started && m.done);
		ck_assert_str_eq(m.text.data, "Hello \"w\xc3\xa9\"!");
		ck_assert_uint_eq(proxy_migrate_tokens(&m), 3);
		ck_assert_int_eq(m.prompt_tokens, 5);
		ck_assert_str_eq(m.id, "a");
		ck_assert_int_eq(m.created, 17);
		ck_assert_str_eq(m.finish, "stop");
		ck_assert_str_eq(m.stop_reason, "7");
		/* Bytes after [DONE] are ignored. */
		buf_reset(&out);
		ck_assert_int_eq(proxy_migrate_feed(&m, "data: x\n\n", 9, &out, err, sizeof err), 0);
		ck_assert_uint_eq(out.len, 0);
		buf_free(&out);
		proxy_migrate_free(&m);
	}
}
END_TEST

START_TEST(test_event_walk)
{
	/* Escapes in keys and strings, members in any order, nested values
	 * with strings that look like keys, a stray blank line. */
	struct proxy_migrate m;
	init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
	struct buf out = BUF_INIT;
	char err[200];
	const char ev[] =
		"\ndata: { \"x\" : {\"choices\":[{\"delta\":{\"content\":\"no\"}}], \"s\":\"\\\\\\\"}\" } ,"
		"\"choices\" : [ {\"index\":0, \"delta\" : {\"con\\u0074ent\" : \"x\\\\\\\"y\\\\\" ,"
		"\"tool_calls\":[]}, \"finish_reason\" : null } , {\"delta\":{\"content\":\"z\"}} ],"
		"\"created\": 5, \"id\" : \"i\\/d\", \"model\":\"m\" }\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, ev, sizeof ev - 1, &out, err, sizeof err), 0);
	ck_assert_str_eq(m.text.data, "x\\\"y\\");
	ck_assert_uint_eq(proxy_migrate_tokens(&m), 1);
	ck_assert(!m.tool_calls);
	ck_assert_str_eq(m.id, "i/d");
	ck_assert_int_eq(m.created, 5);
	ck_assert_str_eq(out.data, ev + 1);
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_splice_multiline_data)
{
	/* An event of a continuation whose data came on several lines is
	 * written as one line (fuzz_migrate found it written with the later
	 * lines bare: tests/fuzz/regress/migrate/multiline-data-in-continuation). */
	const char *body = "{\"model\":\"m\",\"messages\":[],\"stream\":true}";
	struct proxy_migrate m;
	init(&m, true, body);
	struct buf out = BUF_INIT;
	char err[200], why[200];
	const char s0[] = CHUNK("a", "x");
	ck_assert_int_eq(proxy_migrate_feed(&m, s0, sizeof s0 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 1);
	buf_reset(&out);
	const char s1[] = "data:\t\ndata: {\"id\":\"b\",\ndata: \"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, s1, sizeof s1 - 1, &out, err, sizeof err), 0);
	ck_assert_str_eq(out.data, "data: \t {\"id\":\"a\", \"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\n");
	ck_assert_str_eq(m.text.data, "xy");
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_bad_events)
{
	struct buf out = BUF_INIT;
	char err[200];
	struct proxy_migrate m;
	/* A first event that is not JSON: nothing passed, not started. */
	init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
	ck_assert_int_eq(proxy_migrate_feed(&m, "data: {x\n\n", 10, &out, err, sizeof err), -1);
	ck_assert(!m.started);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_str_eq(err, "its first event is not JSON: invalid JSON at byte 1: expected a string key");
	/* Forgotten, the segment starts again. */
	proxy_migrate_reset_segment(&m);
	const char two[] = CHUNK("b", "x") "data: [1]\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, two, sizeof two - 1, &out, err, sizeof err), -1);
	ck_assert(m.started);
	ck_assert_str_eq(out.data, CHUNK("b", "x")); /* what came before the bad one */
	ck_assert_str_eq(err, "an event is not a JSON object");
	proxy_migrate_free(&m);
	/* An error event after the first one is a failure; as the first one
	 * of a stream it is passed on, as before. */
	buf_reset(&out);
	init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
	const char e1[] = "data: {\"error\":{\"message\":\"engine dead\",\"code\":500}}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, e1, sizeof e1 - 1, &out, err, sizeof err), 0);
	ck_assert_str_eq(out.data, e1);
	ck_assert_int_eq(proxy_migrate_feed(&m, e1, sizeof e1 - 1, &out, err, sizeof err), -1);
	ck_assert_str_eq(err, "error event: engine dead");
	proxy_migrate_free(&m);
	/* An event longer than the limit. */
	init(&m, true, "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
	size_t big = PROXY_MIGRATE_EVENT_MAX + 10;
	char *b = malloc(big);
	memset(b, 'a', big);
	memcpy(b, "data: ", 6);
	ck_assert_int_eq(proxy_migrate_feed(&m, b, big, &out, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "an event longer than"));
	free(b);
	proxy_migrate_free(&m);
	buf_free(&out);
}
END_TEST

/* ---------------------------------------------------------------- continuation */

START_TEST(test_chat_continuation)
{
	const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
			   "{\"role\":\"user\",\"content\":\"q\"}],\"stream\":true,\"max_tokens\":10,"
			   "\"min_tokens\":2,\"add_generation_prompt\":true,\"seed\":42,"
			   "\"stop\":[\"END\"],\"user\":\"u\",\"temperature\":0.7}";
	struct proxy_migrate m;
	init(&m, true, body);
	struct buf out = BUF_INIT;
	char err[200], why[200];
	const char s[] = ROLE("a") CHUNK("a", "one") CHUNK("a", " \\\"two\\\"\\n");
	ck_assert_int_eq(proxy_migrate_feed(&m, s, sizeof s - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 1);
	ck_assert_uint_eq(m.segment, 1);
	ck_assert_uint_eq(m.base_tokens, 2);
	struct json_object *o = parse(m.body.data, m.body.len);
	ck_assert_int_eq(json_object_array_length(get(o, "messages")), 3);
	ck_assert_str_eq(gets(o, "messages.2.role"), "assistant");
	ck_assert_str_eq(gets(o, "messages.2.content"), "one \"two\"\n");
	ck_assert_str_eq(gets(o, "messages.1.content"), "q");
	ck_assert(json_object_get_boolean(get(o, "continue_final_message")));
	ck_assert(!json_object_get_boolean(get(o, "add_generation_prompt")));
	ck_assert_int_eq(geti(o, "max_tokens"), 8);
	ck_assert_int_eq(geti(o, "min_tokens"), 0);
	ck_assert_int_eq(geti(o, "seed"), 42);
	ck_assert_str_eq(gets(o, "stop.0"), "END");
	ck_assert_str_eq(gets(o, "user"), "u");
	ck_assert(json_object_get_boolean(get(o, "stream")));
	ck_assert_ptr_null(get(o, "stream_options"));
	json_object_put(o);

	/* A second migration builds on the client's body again, with all the
	 * text so far; then the limit. */
	const char s2[] = CHUNK("b", " three");
	ck_assert_int_eq(proxy_migrate_feed(&m, s2, sizeof s2 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 1);
	o = parse(m.body.data, m.body.len);
	ck_assert_int_eq(json_object_array_length(get(o, "messages")), 3);
	ck_assert_str_eq(gets(o, "messages.2.content"), "one \"two\"\n three");
	ck_assert_int_eq(geti(o, "max_tokens"), 7);
	json_object_put(o);
	ck_assert_int_eq(proxy_migrate_feed(&m, s2, sizeof s2 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), -1);
	ck_assert_str_eq(why, "2 migrations made already (max_migrations)");
	buf_free(&out);
	proxy_migrate_free(&m);

	/* Inserted fields, an empty messages array, max_completion_tokens. */
	const char *b2 = "{ \"messages\" : [ ] , \"model\":\"m\",\"stream\":true,"
			 "\"max_completion_tokens\":5,\"max_tokens\":3}";
	init(&m, true, b2);
	const char s3[] = CHUNK("c", "x") CHUNK("c", "y") CHUNK("c", "z");
	ck_assert_int_eq(proxy_migrate_feed(&m, s3, sizeof s3 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, b2, strlen(b2), 2, why, sizeof why), 1);
	o = parse(m.body.data, m.body.len);
	ck_assert_str_eq(gets(o, "messages.0.content"), "xyz");
	ck_assert(json_object_get_boolean(get(o, "continue_final_message")));
	ck_assert(!json_object_get_boolean(get(o, "add_generation_prompt")));
	ck_assert_int_eq(geti(o, "max_completion_tokens"), 2); /* the one vLLM takes */
	ck_assert_int_eq(geti(o, "max_tokens"), 1);            /* not below 1 */
	json_object_put(o);
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_completions_continuation)
{
	const char *body = "{\"model\":\"m\",\"prompt\":\"Once \\u00e9\\\"\",\"max_tokens\":4,"
			   "\"stream\":false,\"seed\":1}";
	struct proxy_migrate m;
	init(&m, false, body);
	ck_assert(m.assemble);
	struct buf out = BUF_INIT;
	char err[200], why[200];
	const char s[] = "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":5,"
			 "\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" up\\t\\\"a\\\"\","
			 "\"logprobs\":null,\"finish_reason\":null}]}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, s, sizeof s - 1, &out, err, sizeof err), 0);
	ck_assert_uint_eq(out.len, 0); /* assembled: nothing for the client yet */
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 1);
	struct json_object *o = parse(m.body.data, m.body.len);
	ck_assert_str_eq(gets(o, "prompt"), "Once \xc3\xa9\" up\t\"a\"");
	ck_assert_int_eq(geti(o, "max_tokens"), 3);
	ck_assert(json_object_get_boolean(get(o, "stream")));
	ck_assert(json_object_get_boolean(get(o, "stream_options.include_usage")));
	ck_assert_ptr_null(get(o, "continue_final_message"));
	json_object_put(o);
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_splice)
{
	/* Segment 1: its role chunk dropped, id/created/model those of
	 * segment 0, its usage counting the whole generation; one [DONE]. */
	const char *body = "{\"model\":\"m\",\"messages\":[],\"stream\":true,"
			   "\"stream_options\":{\"include_usage\":true}}";
	struct proxy_migrate m;
	init(&m, true, body);
	struct buf out = BUF_INIT;
	char err[200], why[200];
	const char s0[] = ROLE("first") CHUNK("first", "a") CHUNK("first", "b");
	ck_assert_int_eq(proxy_migrate_feed(&m, s0, sizeof s0 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 1);
	buf_reset(&out);
	const char s1[] =
		"data: {\"id\":\"second\",\"object\":\"chat.completion.chunk\",\"created\":99,"
		"\"model\":\"other\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		"\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
		"data: {\"id\":\"second\",\"object\":\"chat.completion.chunk\",\"created\":99,"
		"\"model\":\"other\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c/d\"},"
		"\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n"
		"data: {\"id\":\"second\",\"object\":\"chat.completion.chunk\",\"created\":99,"
		"\"model\":\"other\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":13,"
		"\"completion_tokens\":1}}\n\n"
		"data: [DONE]\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, s1, sizeof s1 - 1, &out, err, sizeof err), 0);
	ck_assert(m.done);
	/* Two events and [DONE]. */
	char *e1 = out.data, *e2 = strstr(e1, "\n\ndata: ");
	ck_assert_ptr_nonnull(e2);
	e2 += 2;
	char *e3 = strstr(e2, "\n\ndata: ");
	ck_assert_ptr_nonnull(e3);
	e3 += 2;
	ck_assert_str_eq(e3, "data: [DONE]\n\n");
	struct json_object *o = parse(e1 + 6, (size_t)(e2 - e1 - 8));
	ck_assert_str_eq(gets(o, "id"), "first");
	ck_assert_int_eq(geti(o, "created"), 17);
	ck_assert_str_eq(gets(o, "model"), "m");
	ck_assert_str_eq(gets(o, "choices.0.delta.content"), "c/d");
	ck_assert_str_eq(gets(o, "choices.0.finish_reason"), "length");
	ck_assert_ptr_nonnull(strstr(e1, "\"c/d\"")); /* no escaped slash */
	json_object_put(o);
	o = parse(e2 + 6, (size_t)(e3 - e2 - 8));
	ck_assert_str_eq(gets(o, "id"), "first");
	/* 12 = the original prompt (10) + the 2 tokens sent back as text. */
	ck_assert_int_eq(geti(o, "usage.prompt_tokens"), 10);
	ck_assert_int_eq(geti(o, "usage.completion_tokens"), 3);
	ck_assert_int_eq(geti(o, "usage.total_tokens"), 13);
	json_object_put(o);
	ck_assert_str_eq(m.text.data, "abc/d");
	ck_assert_uint_eq(proxy_migrate_tokens(&m), 3);
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_complete_and_answers)
{
	/* The limit reached without the last chunk saying so: the proxy ends
	 * the stream with finish_reason "length", the usage and [DONE]. */
	const char *body = "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"max_tokens\":2,"
			   "\"stream_options\":{\"include_usage\":true}}";
	struct proxy_migrate m;
	init(&m, true, body);
	struct buf out = BUF_INIT;
	char err[200], why[200];
	const char s0[] = CHUNK("x", "a") CHUNK("x", "b")
		"data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, s0, sizeof s0 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, body, strlen(body), 2, why, sizeof why), 0);
	buf_reset(&out);
	proxy_migrate_complete(&m, &out);
	ck_assert_str_eq(out.data,
			 "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":17,"
			 "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
			 "\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n"
			 "data: [DONE]\n\n"); /* the usage had come */
	proxy_migrate_free(&m);

	/* The last chunk came, then the worker failed: only [DONE] is added,
	 * and the usage when known. */
	init(&m, false, "{\"model\":\"m\",\"prompt\":\"p\",\"stream\":true,"
			"\"stream_options\":{\"include_usage\":true}}");
	const char s1[] = "data: {\"id\":\"y\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
			  "\"choices\":[{\"index\":0,\"text\":\"t\",\"finish_reason\":\"stop\"}],"
			  "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, s1, sizeof s1 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, "{}", 2, 2, why, sizeof why), 0);
	buf_reset(&out);
	proxy_migrate_complete(&m, &out);
	ck_assert_str_eq(out.data,
			 "data: {\"id\":\"y\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
			 "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":4,"
			 "\"completion_tokens\":1}}\n\ndata: [DONE]\n\n");
	proxy_migrate_free(&m);

	/* An assembled chat answer after a migration. */
	const char *b2 = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
	init(&m, true, b2);
	const char a0[] = ROLE("chatcmpl-1") CHUNK("chatcmpl-1", "Hi");
	ck_assert_int_eq(proxy_migrate_feed(&m, a0, sizeof a0 - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, b2, strlen(b2), 2, why, sizeof why), 1);
	const char a1[] = ROLE("z") CHUNK("z", " there")
		"data: {\"id\":\"z\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},"
		"\"finish_reason\":\"stop\",\"stop_reason\":\"END\"}]}\n\n"
		"data: {\"id\":\"z\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2,"
		"\"total_tokens\":10}}\n\ndata: [DONE]\n\n";
	buf_reset(&out);
	ck_assert_int_eq(proxy_migrate_feed(&m, a1, sizeof a1 - 1, &out, err, sizeof err), 0);
	ck_assert_uint_eq(out.len, 0);
	proxy_migrate_answer(&m, &out);
	struct json_object *o = parse(out.data, out.len);
	ck_assert_str_eq(gets(o, "id"), "chatcmpl-1");
	ck_assert_str_eq(gets(o, "object"), "chat.completion");
	ck_assert_int_eq(geti(o, "created"), 17);
	ck_assert_str_eq(gets(o, "choices.0.message.role"), "assistant");
	ck_assert_str_eq(gets(o, "choices.0.message.content"), "Hi there!");
	ck_assert_str_eq(gets(o, "choices.0.finish_reason"), "stop");
	ck_assert_str_eq(gets(o, "choices.0.stop_reason"), "END");
	ck_assert_int_eq(geti(o, "usage.prompt_tokens"), 7);
	ck_assert_int_eq(geti(o, "usage.completion_tokens"), 3);
	ck_assert_int_eq(geti(o, "usage.total_tokens"), 10);
	json_object_put(o);
	buf_free(&out);
	proxy_migrate_free(&m);
}
END_TEST

START_TEST(test_not_migrated)
{
	struct buf out = BUF_INIT;
	char err[200], why[200];
	struct proxy_migrate m;
	/* logprobs: the stream is taken event by event, but not migrated. */
	const char *b1 = "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"logprobs\":true}";
	init(&m, true, b1);
	ck_assert(proxy_migrate_handles(&m));
	const char s[] = CHUNK("a", "x");
	ck_assert_int_eq(proxy_migrate_feed(&m, s, sizeof s - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, b1, strlen(b1), 2, why, sizeof why), -1);
	ck_assert_str_eq(why, "the request cannot be migrated (logprobs)");
	proxy_migrate_free(&m);
	/* Tool calls in progress. */
	const char *b2 = "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"tools\":[]}";
	init(&m, true, b2);
	const char t[] = "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
			 "[{\"index\":0,\"function\":{\"name\":\"f\"}}]}}]}\n\n";
	ck_assert_int_eq(proxy_migrate_feed(&m, t, sizeof t - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, b2, strlen(b2), 2, why, sizeof why), -1);
	ck_assert_str_eq(why, "the stream carried tool calls");
	proxy_migrate_free(&m);
	/* max_migrations 0. */
	const char *b3 = "{\"model\":\"m\",\"messages\":[],\"stream\":true}";
	init(&m, true, b3);
	ck_assert_int_eq(proxy_migrate_feed(&m, s, sizeof s - 1, &out, err, sizeof err), 0);
	ck_assert_int_eq(proxy_migrate_continue(&m, b3, strlen(b3), 0, why, sizeof why), -1);
	proxy_migrate_free(&m);
	/* The error event. */
	buf_reset(&out);
	proxy_migrate_error_event(&out, 502, "worker \"w\" failed");
	ck_assert_str_eq(out.data,
			 "data: {\"error\":{\"message\":\"worker \\\"w\\\" failed\",\"type\":"
			 "\"BadGatewayError\",\"param\":null,\"code\":502}}\n\ndata: [DONE]\n\n");
	buf_free(&out);
}
END_TEST

Suite *suite_proxy_migrate(void)
{
	Suite *s = suite_create("proxy_migrate");
	TCase *tc = tcase_create("migrate");
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_assembled_request_streams);
	tcase_add_test(tc, test_first_segment_passed_as_is);
	tcase_add_test(tc, test_event_walk);
	tcase_add_test(tc, test_splice_multiline_data);
	tcase_add_test(tc, test_bad_events);
	tcase_add_test(tc, test_chat_continuation);
	tcase_add_test(tc, test_completions_continuation);
	tcase_add_test(tc, test_splice);
	tcase_add_test(tc, test_complete_and_answers);
	tcase_add_test(tc, test_not_migrated);
	suite_add_tcase(s, tc);
	return s;
}
