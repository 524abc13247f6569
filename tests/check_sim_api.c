/* check_sim_api.c — elastic-sim's HTTP API over loopback, streaming included.
 *
 * Each test forks a child running the real sim code (sim_init +
 * sim_api_listen) on an ephemeral port and talks to it over HTTP.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../sim/sim.h"
#include "../sim/sim_tok.h"
#include "buf.h"
#include "http_client.h"
#include "httpd.h"
#include "log.h"

static struct event_base *c_base;
static struct sim c_sim;

static void c_drained(void *arg)
{
	(void)arg;
	event_base_loopbreak(c_base);
}

static void c_sigterm(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sim_api_shutdown(&c_sim, c_drained, NULL);
}

static pid_t sim_start(const struct sim_config *cfg, int *port)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		log_set_level(LOG_LVL_ERROR);
		char err[256];
		c_base = event_base_new();
		if (sim_init(&c_sim, cfg, c_base, err, sizeof err) != 0 ||
		    sim_api_listen(&c_sim, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			_exit(2);
		}
		int port_ = httpd_port(c_sim.http);
		if (write(p[1], &port_, sizeof port_) != sizeof port_)
			_exit(2);
		close(p[1]);
		struct event *sig = evsignal_new(c_base, SIGTERM, c_sigterm, NULL);
		event_add(sig, NULL);
		event_base_dispatch(c_base);
		event_free(sig);
		sim_free(&c_sim);
		event_base_free(c_base);
		/* exit, not _exit: LeakSanitizer checks the server's memory. */
		exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], port, sizeof *port), (ssize_t)sizeof *port);
	close(p[0]);
	return pid;
}

static void sim_stop(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sim child status %d", st);
}

static void base_cfg(struct sim_config *c)
{
	sim_config_defaults(c);
	c->host = "127.0.0.1";
	c->port = 0;
	c->names[0] = "m";
	c->nnames = 1;
	c->timing.time_scale = 0;
}

/* The value at PATH ("choices.0.message.content") in O, or NULL. */
static struct json_object *jget(struct json_object *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		path += n + (path[n] == '.');
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
	}
	return o;
}

static const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t jint(struct json_object *o, const char *path)
{
	struct json_object *v = jget(o, path);
	return v ? json_object_get_int64(v) : -1;
}

/* POST BODY to PATH; returns the status, *OUT the parsed JSON (or NULL). */
static int post(int port, const char *path, const char *body, struct json_object **out)
{
	struct buf b = BUF_INIT;
	int st = tc_request(port, "POST", path, body, &b);
	*out = b.data ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	return st;
}

static void expect_error(int port, const char *path, const char *body, int status,
			 const char *param)
{
	struct json_object *o;
	int st = post(port, path, body, &o);
	ck_assert_msg(st == status, "%s: status %d, want %d", body, st, status);
	ck_assert_msg(o, "%s: no JSON body", body);
	ck_assert_int_eq(jint(o, "error.code"), status);
	ck_assert_str_eq(jstr(o, "error.type"), status == 404 ? "NotFoundError"
						: status == 500 ? "InternalServerError"
								: "BadRequestError");
	ck_assert_ptr_nonnull(jstr(o, "error.message"));
	if (param)
		ck_assert_msg(jstr(o, "error.param") && strcmp(jstr(o, "error.param"), param) == 0,
			      "%s: param %s, want %s", body, jstr(o, "error.param"), param);
	json_object_put(o);
}

START_TEST(test_basic_routes)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct buf b = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "GET", "/health", NULL, &b), 200);
	buf_reset(&b);
	ck_assert_int_eq(tc_request(port, "GET", "/v1/models", NULL, &b), 200);
	struct json_object *o = json_tokener_parse(b.data);
	ck_assert_str_eq(jstr(o, "data.0.id"), "m");
	ck_assert_str_eq(jstr(o, "object"), "list");
	ck_assert_int_eq(jint(o, "data.0.max_model_len"), 8192);
	json_object_put(o);
	buf_reset(&b);
	ck_assert_int_eq(tc_request(port, "GET", "/nope", NULL, &b), 404);
	ck_assert_str_eq(b.data, "{\"detail\":\"Not Found\"}");
	ck_assert_int_eq(tc_request(port, "GET", "/v1/chat/completions", NULL, NULL), 405);
	ck_assert_int_eq(tc_request(port, "POST", "/health", "{}", NULL), 405);
	buf_free(&b);
	sim_stop(pid);
}
END_TEST

START_TEST(test_chat_and_completions)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct json_object *o;
	ck_assert_int_eq(post(port, "/v1/chat/completions",
			      "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
			      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}],"
			      "\"max_tokens\":7,\"seed\":3}", &o), 200);
	ck_assert_str_eq(jstr(o, "object"), "chat.completion");
	ck_assert(strncmp(jstr(o, "id"), "chatcmpl-", 9) == 0);
	ck_assert_str_eq(jstr(o, "model"), "m");
	ck_assert_str_eq(jstr(o, "choices.0.message.role"), "assistant");
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "length");
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 7);
	ck_assert_int_eq(jint(o, "usage.prompt_tokens") + 7, jint(o, "usage.total_tokens"));
	char text[256];
	snprintf(text, sizeof text, "%s", jstr(o, "choices.0.message.content"));
	json_object_put(o);

	/* Same seed, same text; max_completion_tokens wins. */
	ck_assert_int_eq(post(port, "/v1/chat/completions",
			      "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
			      "\"max_tokens\":2,\"max_completion_tokens\":7,\"seed\":3}", &o), 200);
	ck_assert_str_eq(jstr(o, "choices.0.message.content"), text);
	json_object_put(o);

	/* A stop string cuts the text before it. */
	const char *third = strchr(strchr(text, ' ') + 1, ' ');
	char stop[32];
	snprintf(stop, sizeof stop, "%.*s", (int)strcspn(third + 1, " ") + 1, third);
	char body[512];
	snprintf(body, sizeof body,
		 "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":7,"
		 "\"seed\":3,\"stop\":[\"zzz\",\"%s\"]}", stop);
	ck_assert_int_eq(post(port, "/v1/chat/completions", body, &o), 200);
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "stop");
	ck_assert_str_eq(jstr(o, "choices.0.stop_reason"), stop);
	ck_assert(strncmp(jstr(o, "choices.0.message.content"), text,
			  (size_t)(third - text)) == 0);
	ck_assert_uint_eq(strlen(jstr(o, "choices.0.message.content")), (size_t)(third - text));
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 3);
	json_object_put(o);

	/* Completions: string, token ids, a list of one string. */
	ck_assert_int_eq(post(port, "/v1/completions",
			      "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":4}", &o), 200);
	ck_assert_str_eq(jstr(o, "object"), "text_completion");
	ck_assert_ptr_nonnull(jstr(o, "choices.0.text"));
	ck_assert_int_eq(jint(o, "usage.prompt_tokens"), 1 + 4); /* BOS + 4 */
	json_object_put(o);
	ck_assert_int_eq(post(port, "/v1/completions", "{\"prompt\":[1,2,3,4000],\"max_tokens\":1}",
			      &o), 200);
	ck_assert_int_eq(jint(o, "usage.prompt_tokens"), 5);
	json_object_put(o);
	ck_assert_int_eq(post(port, "/v1/completions", "{\"prompt\":[\"ab\"],\"max_tokens\":1,"
						       "\"ignore_eos\":true}", &o), 200);
	json_object_put(o);
	/* Without max_tokens: --output-len tokens, finish "stop". */
	ck_assert_int_eq(post(port, "/v1/completions", "{\"prompt\":\"a\"}", &o), 200);
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 128);
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "stop");
	json_object_put(o);
	sim_stop(pid);
}
END_TEST

/* Reads an SSE body: fills DATA with the concatenated deltas. */
static void sse_parse(const char *body, bool chat, struct buf *text, int *chunks,
		      int *usage_tokens, bool *done, const char **finish)
{
	static char fin[32];
	*chunks = 0;
	*usage_tokens = -1;
	*done = false;
	*finish = NULL;
	const char *p = body;
	while ((p = strstr(p, "data: "))) {
		p += 6;
		const char *e = strstr(p, "\n\n");
		ck_assert_ptr_nonnull(e);
		if (strncmp(p, "[DONE]", 6) == 0) {
			*done = true;
			ck_assert_str_eq(e + 2, "");
			break;
		}
		char *js = strndup(p, (size_t)(e - p));
		struct json_object *o = json_tokener_parse(js);
		ck_assert_msg(o, "bad chunk %s", js);
		ck_assert_str_eq(jstr(o, "object"), chat ? "chat.completion.chunk"
							 : "text_completion");
		struct json_object *ch = jget(o, "choices");
		if (json_object_array_length(ch) == 0) {
			*usage_tokens = (int)jint(o, "usage.completion_tokens");
		} else {
			const char *t = jstr(o, chat ? "choices.0.delta.content" : "choices.0.text");
			if (t)
				buf_puts(text, t);
			const char *f = jstr(o, "choices.0.finish_reason");
			if (f) {
				snprintf(fin, sizeof fin, "%s", f);
				*finish = fin;
			}
			(*chunks)++;
		}
		json_object_put(o);
		free(js);
		p = e + 2;
	}
}

START_TEST(test_streaming)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	cfg.timing.time_scale = 0.01; /* real timers, short */
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct json_object *o;
	ck_assert_int_eq(post(port, "/v1/chat/completions",
			      "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
			      "\"max_tokens\":6,\"seed\":9}", &o), 200);
	char want[256];
	snprintf(want, sizeof want, "%s", jstr(o, "choices.0.message.content"));
	json_object_put(o);

	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
			   "\"max_tokens\":6,\"seed\":9,\"stream\":true,"
			   "\"stream_options\":{\"include_usage\":true}}";
	char req[512];
	snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	tc_sends(&c, req);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.chunked);
	ck_assert(strstr(r.head.data, "text/event-stream"));
	struct buf text = BUF_INIT;
	int chunks, usage;
	bool done;
	const char *finish;
	sse_parse(r.body.data, true, &text, &chunks, &usage, &done, &finish);
	ck_assert_str_eq(text.data, want);
	ck_assert_int_eq(chunks, 7); /* role chunk + 6 tokens */
	ck_assert_int_eq(usage, 6);
	ck_assert(done);
	ck_assert_str_eq(finish, "length");
	tc_resp_free(&r);

	/* Completions stream without usage, on the same connection. */
	body = "{\"prompt\":\"Hi\",\"max_tokens\":3,\"stream\":true}";
	snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	tc_sends(&c, req);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	buf_reset(&text);
	sse_parse(r.body.data, false, &text, &chunks, &usage, &done, &finish);
	ck_assert_int_eq(chunks, 3);
	ck_assert_int_eq(usage, -1);
	ck_assert(done);
	tc_resp_free(&r);
	tc_close(&c);
	buf_free(&text);
	sim_stop(pid);
}
END_TEST

START_TEST(test_bad_requests)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	cfg.max_model_len = 64;
	int port;
	pid_t pid = sim_start(&cfg, &port);
	const char *C = "/v1/chat/completions", *P = "/v1/completions";
	const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
	char b[512];
	expect_error(port, C, "{\"messages\": [", 400, NULL);
	expect_error(port, C, "[1,2]", 400, NULL);
	expect_error(port, C, "{} x", 400, NULL);
	expect_error(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, NULL);
	expect_error(port, C, "{\"model\":\"other\",\"messages\":[]}", 404, "model");
	expect_error(port, C, "{\"model\":5}", 400, "model");
	expect_error(port, C, "{}", 400, "messages");
	expect_error(port, C, "{\"messages\":{}}", 400, "messages");
	expect_error(port, C, "{\"messages\":[]}", 400, "messages");
	expect_error(port, C, "{\"messages\":[5]}", 400, "messages");
	expect_error(port, C, "{\"messages\":[{\"content\":\"x\"}]}", 400, "messages");
	expect_error(port, C, "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages");
	expect_error(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
		     400, "messages");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":\"5\"}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":0}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":1e30}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":99999999999999999999999}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":2.5}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_tokens\":60}", msgs);
	expect_error(port, C, b, 400, "max_tokens");
	snprintf(b, sizeof b, "{%s,\"max_completion_tokens\":-1}", msgs);
	expect_error(port, C, b, 400, "max_completion_tokens");
	snprintf(b, sizeof b, "{%s,\"n\":2}", msgs);
	expect_error(port, C, b, 400, "n");
	snprintf(b, sizeof b, "{%s,\"stream\":\"yes\"}", msgs);
	expect_error(port, C, b, 400, "stream");
	snprintf(b, sizeof b, "{%s,\"stream_options\":{\"include_usage\":true}}", msgs);
	expect_error(port, C, b, 400, "stream_options");
	snprintf(b, sizeof b, "{%s,\"stream\":true,\"stream_options\":{\"include_usage\":1}}", msgs);
	expect_error(port, C, b, 400, "include_usage");
	snprintf(b, sizeof b, "{%s,\"stop\":5}", msgs);
	expect_error(port, C, b, 400, "stop");
	snprintf(b, sizeof b, "{%s,\"stop\":[\"a\",1]}", msgs);
	expect_error(port, C, b, 400, "stop");
	snprintf(b, sizeof b, "{%s,\"seed\":\"x\"}", msgs);
	expect_error(port, C, b, 400, "seed");
	snprintf(b, sizeof b, "{%s,\"temperature\":\"hot\"}", msgs);
	expect_error(port, C, b, 400, "temperature");
	snprintf(b, sizeof b, "{%s,\"temperature\":9}", msgs);
	expect_error(port, C, b, 400, "temperature");
	struct buf longp = BUF_INIT;
	buf_puts(&longp, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
	for (int i = 0; i < 70; i++)
		buf_puts(&longp, " w");
	buf_puts(&longp, "\"}]}");
	expect_error(port, C, longp.data, 400, "messages");
	buf_free(&longp);
	expect_error(port, P, "{}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":[]}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":[\"a\",\"b\"]}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":[1,\"a\"]}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":[-1]}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":{}}", 400, "prompt");
	expect_error(port, P, "{\"prompt\":\"a\",\"cache_salt\":\"\"}", 400, "cache_salt");
	/* Nesting far too deep. */
	struct buf deep = BUF_INIT;
	buf_puts(&deep, "{\"prompt\":\"a\",\"x\":");
	for (int i = 0; i < 200; i++)
		buf_putc(&deep, '[');
	for (int i = 0; i < 200; i++)
		buf_putc(&deep, ']');
	buf_putc(&deep, '}');
	expect_error(port, P, deep.data, 400, NULL);
	buf_free(&deep);
	expect_error(port, "/v1/embeddings", "{}", 400, "input");
	expect_error(port, "/v1/embeddings", "{\"input\":\"a\",\"dimensions\":100000}", 400, "dimensions");
	expect_error(port, "/v1/embeddings", "{\"input\":\"a\",\"encoding_format\":\"hex\"}", 400,
		     "encoding_format");
	expect_error(port, "/v1/embeddings", "{\"input\":[[1],[\"x\"]]}", 400, "input");
	/* The server still works. */
	struct json_object *o;
	snprintf(b, sizeof b, "{%s,\"max_tokens\":1}", msgs);
	ck_assert_int_eq(post(port, C, b, &o), 200);
	json_object_put(o);
	sim_stop(pid);
}
END_TEST

START_TEST(test_embeddings)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct json_object *o, *o2;
	ck_assert_int_eq(post(port, "/v1/embeddings", "{\"input\":[\"hello\",\"world\"]}", &o), 200);
	ck_assert_str_eq(jstr(o, "object"), "list");
	ck_assert_str_eq(jstr(o, "data.1.object"), "embedding");
	struct json_object *v = jget(o, "data.0.embedding");
	ck_assert_uint_eq(json_object_array_length(v), 384);
	double n2 = 0;
	for (size_t i = 0; i < 384; i++) {
		double x = json_object_get_double(json_object_array_get_idx(v, i));
		n2 += x * x;
	}
	ck_assert(fabs(n2 - 1.0) < 1e-4);
	ck_assert_int_eq(post(port, "/v1/embeddings", "{\"input\":\"hello\",\"dimensions\":384}", &o2), 200);
	ck_assert_str_eq(json_object_to_json_string(jget(o, "data.0.embedding")),
			 json_object_to_json_string(jget(o2, "data.0.embedding")));
	ck_assert_str_ne(json_object_to_json_string(jget(o, "data.0.embedding")),
			 json_object_to_json_string(jget(o, "data.1.embedding")));
	json_object_put(o);
	json_object_put(o2);
	ck_assert_int_eq(post(port, "/v1/embeddings", "{\"input\":[1,2,3],\"encoding_format\":\"base64\","
						       "\"dimensions\":8}", &o), 200);
	ck_assert_uint_eq(strlen(jstr(o, "data.0.embedding")), 44); /* 32 bytes */
	json_object_put(o);
	sim_stop(pid);
}
END_TEST

START_TEST(test_metrics_and_prefix_cache)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct buf sys = BUF_INIT, body = BUF_INIT, m = BUF_INIT;
	for (int i = 0; i < 100; i++)
		buf_printf(&sys, "word%d ", i);
	buf_printf(&body, "{\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
			  "{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\":2}", sys.data);
	struct json_object *o;
	ck_assert_int_eq(post(port, "/v1/chat/completions", body.data, &o), 200);
	ck_assert_int_eq(jint(o, "usage.prompt_tokens_details.cached_tokens"), 0);
	json_object_put(o);
	ck_assert_int_eq(post(port, "/v1/chat/completions", body.data, &o), 200);
	ck_assert_int_gt(jint(o, "usage.prompt_tokens_details.cached_tokens"), 150);
	json_object_put(o);
	ck_assert_int_eq(tc_request(port, "GET", "/metrics", NULL, &m), 200);
	ck_assert(strstr(m.data, "# TYPE vllm:num_requests_running gauge\n"
				 "vllm:num_requests_running{model_name=\"m\"} 0.0\n"));
	ck_assert(strstr(m.data, "vllm:request_success_total{finished_reason=\"length\",model_name=\"m\"} 2.0\n"));
	ck_assert(strstr(m.data, "vllm:generation_tokens_total{model_name=\"m\"} 4.0\n"));
	ck_assert(strstr(m.data, "vllm:time_to_first_token_seconds_bucket{le=\"0.001\",model_name=\"m\"} 2.0\n"));
	ck_assert(strstr(m.data, "vllm:time_to_first_token_seconds_count{model_name=\"m\"} 2.0\n"));
	ck_assert(strstr(m.data, "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 2.0\n"));
	ck_assert(strstr(m.data, "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.0\n"));
	ck_assert(strstr(m.data, "vllm:gpu_cache_usage_perc{"));
	const char *h = strstr(m.data, "vllm:prefix_cache_hits_total{model_name=\"m\"} ");
	ck_assert_ptr_nonnull(h);
	ck_assert_int_gt(atoi(h + strlen("vllm:prefix_cache_hits_total{model_name=\"m\"} ")), 150);
	buf_free(&sys);
	buf_free(&body);
	buf_free(&m);
	sim_stop(pid);
}
END_TEST

START_TEST(test_faults_and_disconnect)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	cfg.fail_rate = 1;
	int port;
	pid_t pid = sim_start(&cfg, &port);
	expect_error(port, "/v1/completions", "{\"prompt\":\"a\"}", 500, NULL);
	sim_stop(pid);

	base_cfg(&cfg);
	cfg.timing.time_scale = 1;
	cfg.timing.itl_ms = 50;
	pid = sim_start(&cfg, &port);
	struct tc_conn c;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	const char *body = "{\"prompt\":\"Hi\",\"max_tokens\":100,\"stream\":true}";
	char req[512];
	snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	tc_sends(&c, req);
	usleep(200000);
	struct buf m = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "GET", "/metrics", NULL, &m), 200);
	ck_assert(strstr(m.data, "vllm:num_requests_running{model_name=\"m\"} 1.0\n"));
	tc_close(&c);
	const char *want = "vllm:request_success_total{finished_reason=\"abort\",model_name=\"m\"} 1.0\n";
	for (int i = 0; i < 100; i++) {
		buf_reset(&m);
		ck_assert_int_eq(tc_request(port, "GET", "/metrics", NULL, &m), 200);
		if (strstr(m.data, want))
			break;
		usleep(20000);
	}
	ck_assert(strstr(m.data, want));
	ck_assert(strstr(m.data, "vllm:num_requests_running{model_name=\"m\"} 0.0\n"));
	buf_free(&m);
	sim_stop(pid);

	/* --garbage-after: good answers, then a 200 that is not JSON, and a
	   stream cut after a broken event; health and /metrics still fine. */
	base_cfg(&cfg);
	cfg.garbage_after = 1;
	pid = sim_start(&cfg, &port);
	struct json_object *o;
	ck_assert_int_eq(post(port, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}", &o), 200);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	ck_assert_int_eq(post(port, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}", &o), 200);
	ck_assert_ptr_null(o);
	struct buf sb = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "POST", "/v1/completions",
				    "{\"prompt\":\"a\",\"stream\":true}", &sb), 200);
	ck_assert_ptr_nonnull(strstr(sb.data, "data: {\"id\":\"garbage\""));
	ck_assert_ptr_nonnull(strstr(sb.data, "data: \xff\xfe"));
	ck_assert_ptr_null(strstr(sb.data, "[DONE]"));
	buf_free(&sb);
	ck_assert_int_eq(tc_request(port, "GET", "/health", NULL, NULL), 200);
	sim_stop(pid);
}
END_TEST

/* ---------------------------------------------------------------- continuation */

/* What a generation request gave back. */
struct gen {
	int status;
	struct buf text;     /* the whole text */
	char deltas[64][16]; /* streamed: each token's text */
	int ndeltas;         /* streamed: token chunks */
	char finish[16];     /* finish_reason */
	char stop_reason[32]; /* stop_reason, or "" for null */
	int64_t prompt;      /* usage.prompt_tokens */
	int64_t completion;  /* usage.completion_tokens */
};

static void gen_free(struct gen *g)
{
	buf_free(&g->text);
}

static void gen_choice_end(struct gen *g, struct json_object *o)
{
	const char *f = jstr(o, "choices.0.finish_reason");
	if (f)
		snprintf(g->finish, sizeof g->finish, "%s", f);
	const char *sr = jstr(o, "choices.0.stop_reason");
	if (f)
		snprintf(g->stop_reason, sizeof g->stop_reason, "%s", sr ? sr : "");
}

/* POSTs BODY (a JSON object, which it frees) to PATH and reads the answer,
 * streamed (with include_usage) when STREAM. */
static void gen_run(int port, bool chat, struct json_object *body, bool stream,
		    struct gen *g)
{
	memset(g, 0, sizeof *g);
	if (stream) {
		json_object_object_add(body, "stream", json_object_new_boolean(1));
		struct json_object *so = json_object_new_object();
		json_object_object_add(so, "include_usage", json_object_new_boolean(1));
		json_object_object_add(body, "stream_options", so);
	}
	struct buf b = BUF_INIT;
	g->status = tc_request(port, "POST", chat ? "/v1/chat/completions" : "/v1/completions",
			       json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), &b);
	json_object_put(body);
	ck_assert_ptr_nonnull(b.data);
	buf_puts(&g->text, "");
	if (!stream || g->status != 200) {
		struct json_object *o = json_tokener_parse(b.data);
		ck_assert_msg(o, "not JSON: %s", b.data);
		if (g->status == 200) {
			buf_puts(&g->text, jstr(o, chat ? "choices.0.message.content"
							: "choices.0.text"));
			gen_choice_end(g, o);
			g->prompt = jint(o, "usage.prompt_tokens");
			g->completion = jint(o, "usage.completion_tokens");
		}
		json_object_put(o);
		buf_free(&b);
		return;
	}
	bool done = false, role = false;
	for (const char *p = b.data; (p = strstr(p, "data: "));) {
		p += 6;
		const char *e = strstr(p, "\n\n");
		ck_assert_ptr_nonnull(e);
		ck_assert(!done);
		if (strncmp(p, "[DONE]", 6) == 0) {
			done = true;
			p = e;
			continue;
		}
		char *js = strndup(p, (size_t)(e - p));
		struct json_object *o = json_tokener_parse(js);
		ck_assert_msg(o, "bad chunk %s", js);
		if (json_object_array_length(jget(o, "choices")) == 0) {
			g->prompt = jint(o, "usage.prompt_tokens");
			g->completion = jint(o, "usage.completion_tokens");
		} else if (chat && jstr(o, "choices.0.delta.role")) {
			ck_assert(!role && g->ndeltas == 0);
			ck_assert_str_eq(jstr(o, "choices.0.delta.content"), "");
			role = true;
		} else {
			const char *t = jstr(o, chat ? "choices.0.delta.content" : "choices.0.text");
			ck_assert_ptr_nonnull(t);
			ck_assert_int_lt(g->ndeltas, 64);
			snprintf(g->deltas[g->ndeltas++], sizeof g->deltas[0], "%s", t);
			buf_puts(&g->text, t);
			gen_choice_end(g, o);
		}
		json_object_put(o);
		free(js);
		p = e;
	}
	ck_assert(done);
	ck_assert(role || !chat);
	buf_free(&b);
}

/* A request's fields besides its prompt. */
struct cont_case {
	int64_t max_tokens; /* 0: none */
	int64_t min_tokens; /* 0: none */
	bool ignore_eos;
	int stop_at;        /* > 0: a stop string inside word STOP_AT */
	int stop_kind;      /* 0: the word, 1: across two words, 2: a space and a letter */
};

/* The request for CS with SEED, continued at K words of PREFIX (NULL: the
 * original request). */
static struct json_object *cont_body(bool chat, const struct cont_case *cs, int64_t seed,
				     const char *stop, int k, const char *prefix)
{
	struct json_object *b = json_object_new_object();
	if (chat) {
		struct json_object *msgs = json_object_new_array();
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string("system"));
		json_object_object_add(m, "content", json_object_new_string("Be brief."));
		json_object_array_add(msgs, m);
		m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string("user"));
		json_object_object_add(m, "content", json_object_new_string("Tell me a story"));
		json_object_array_add(msgs, m);
		if (prefix) {
			m = json_object_new_object();
			json_object_object_add(m, "role", json_object_new_string("assistant"));
			json_object_object_add(m, "content", json_object_new_string(prefix));
			json_object_array_add(msgs, m);
			json_object_object_add(b, "continue_final_message",
					       json_object_new_boolean(1));
			json_object_object_add(b, "add_generation_prompt",
					       json_object_new_boolean(0));
		}
		json_object_object_add(b, "messages", msgs);
	} else {
		char p[1024];
		snprintf(p, sizeof p, "Once upon a time.%s", prefix ? prefix : "");
		json_object_object_add(b, "prompt", json_object_new_string(p));
	}
	json_object_object_add(b, "seed", json_object_new_int64(seed));
	if (cs->max_tokens)
		json_object_object_add(b, "max_tokens", json_object_new_int64(cs->max_tokens - k));
	if (cs->min_tokens)
		json_object_object_add(b, "min_tokens",
				       json_object_new_int64(cs->min_tokens > k ? cs->min_tokens - k : 0));
	if (cs->ignore_eos)
		json_object_object_add(b, "ignore_eos", json_object_new_boolean(1));
	if (stop) {
		struct json_object *st = json_object_new_array();
		json_object_array_add(st, json_object_new_string("zzzz"));
		json_object_array_add(st, json_object_new_string(stop));
		json_object_object_add(b, "stop", st);
	}
	return b;
}

/* A migrated generation, resent at every token it may have been cut at,
 * gives the uninterrupted text, finish reason and token counts. */
START_TEST(test_continuation)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	cfg.output_len = 12;
	int port;
	pid_t pid = sim_start(&cfg, &port);
	static const struct cont_case cases[] = {
		{0, 0, false, 0, 0},  /* natural end: --output-len, "stop" */
		{5, 0, false, 0, 0},  /* max_tokens: "length" */
		{20, 0, false, 0, 0}, /* max_tokens above the natural end */
		{0, 15, false, 0, 0}, /* min_tokens past the natural end */
		{9, 0, true, 0, 0},   /* ignore_eos */
		{0, 0, false, 6, 0},  /* stop strings */
		{0, 0, false, 4, 1},
		{10, 0, false, 7, 2},
		{0, 0, false, 1, 0},
	};
	static const int64_t seeds[] = {1, 7, 42, -3, 123456789};
	int runs = 0;
	for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++) {
		for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
			const struct cont_case *cs = &cases[ci];
			int64_t seed = seeds[si];
			char stop[32] = "";
			if (cs->stop_at) {
				size_t l1, l2;
				char w1[16];
				snprintf(w1, sizeof w1, "%s",
					 sim_tok_word((uint64_t)seed, (uint32_t)cs->stop_at - 1, &l1));
				const char *w2 = sim_tok_word((uint64_t)seed, (uint32_t)cs->stop_at, &l2);
				if (cs->stop_kind == 0)
					snprintf(stop, sizeof stop, "%s", w2 + 1);
				else if (cs->stop_kind == 1)
					snprintf(stop, sizeof stop, "%s%.2s", w1 + l1 - 1, w2);
				else
					snprintf(stop, sizeof stop, "%.2s", w2);
			}
			for (int chat = 0; chat < 2; chat++) {
				struct gen o, os;
				gen_run(port, chat, cont_body(chat, cs, seed, *stop ? stop : NULL, 0,
							       NULL), false, &o);
				gen_run(port, chat, cont_body(chat, cs, seed, *stop ? stop : NULL, 0,
							       NULL), true, &os);
				ck_assert_int_eq(o.status, 200);
				ck_assert_str_eq(o.text.data, os.text.data);
				ck_assert_str_eq(o.finish, os.finish);
				ck_assert_int_eq(o.prompt, os.prompt);
				ck_assert_int_eq(o.completion, os.completion);
				int n = (int)o.completion;
				ck_assert_int_eq(os.ndeltas, n);
				/* The case does what it says. */
				if (cs->stop_at) {
					ck_assert_str_eq(o.finish, "stop");
					ck_assert_str_eq(o.stop_reason, stop);
					ck_assert_ptr_null(strstr(o.text.data, stop));
				} else {
					ck_assert_str_eq(o.stop_reason, "");
					int64_t want = cs->ignore_eos ? cs->max_tokens
						       : cs->min_tokens > 12 ? cs->min_tokens : 12;
					if (cs->max_tokens && cs->max_tokens < want)
						want = cs->max_tokens;
					ck_assert_int_eq(n, want);
					ck_assert_str_eq(o.finish, n == cs->max_tokens ? "length" : "stop");
				}
				/* Cut after K tokens: the proxy has their text (the last
				   token's chunk carries the finish reason). */
				for (int k = 0; k < n; k++) {
					char prefix[1024] = "";
					for (int i = 0; i < k; i++)
						strcat(prefix, os.deltas[i]);
					for (int stream = 0; stream < 2; stream++) {
						struct gen c;
						gen_run(port, chat, cont_body(chat, cs, seed,
									      *stop ? stop : NULL, k,
									      prefix), stream, &c);
						ck_assert_msg(c.status == 200, "seed %lld case %zu k %d: %d",
							      (long long)seed, ci, k, c.status);
						char whole[2048];
						snprintf(whole, sizeof whole, "%s%s", prefix, c.text.data);
						ck_assert_msg(strcmp(whole, o.text.data) == 0,
							      "seed %lld case %zu chat %d k %d stream %d:\n"
							      "  %s\n  %s", (long long)seed, ci, chat, k,
							      stream, whole, o.text.data);
						ck_assert_str_eq(c.finish, o.finish);
						ck_assert_str_eq(c.stop_reason, o.stop_reason);
						ck_assert_int_eq(c.prompt, o.prompt + k);
						ck_assert_int_eq(o.completion, k + c.completion);
						if (stream)
							ck_assert_int_eq(c.ndeltas, c.completion);
						gen_free(&c);
						runs++;
					}
				}
				/* Past the natural end a continuation still generates a
				   token: the next word. */
				if (!cs->max_tokens && !cs->stop_at && !cs->min_tokens) {
					struct gen c;
					gen_run(port, chat, cont_body(chat, cs, seed, NULL, n, o.text.data),
						false, &c);
					size_t wl;
					ck_assert_str_eq(c.text.data,
							 sim_tok_word((uint64_t)seed, (uint32_t)n, &wl));
					ck_assert_int_eq(c.completion, 1);
					ck_assert_str_eq(c.finish, "stop");
					gen_free(&c);
				}
				gen_free(&o);
				gen_free(&os);
			}
		}
	}
	ck_assert_int_gt(runs, 1000);

	/* Without a seed nothing is continued: the reply has its usual length. */
	struct json_object *r;
	char body[512];
	snprintf(body, sizeof body, "{\"prompt\":\"x.%s\"}",
		 sim_tok_word(0, 0, &(size_t){0}));
	ck_assert_int_eq(post(port, "/v1/completions", body, &r), 200);
	ck_assert_int_eq(jint(r, "usage.completion_tokens"), 12);
	json_object_put(r);
	/* add_generation_prompt false: no assistant marker. */
	const char *m = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi there\"}]";
	snprintf(body, sizeof body, "{%s,\"max_tokens\":1}", m);
	ck_assert_int_eq(post(port, "/v1/chat/completions", body, &r), 200);
	int64_t with = jint(r, "usage.prompt_tokens");
	json_object_put(r);
	snprintf(body, sizeof body, "{%s,\"max_tokens\":1,\"add_generation_prompt\":false}", m);
	ck_assert_int_eq(post(port, "/v1/chat/completions", body, &r), 200);
	ck_assert_int_eq(jint(r, "usage.prompt_tokens"), with - 1);
	json_object_put(r);

	const char *C = "/v1/chat/completions";
	const char *asst = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
			   "{\"role\":\"assistant\",\"content\":\"The\"}]";
	snprintf(body, sizeof body, "{%s,\"continue_final_message\":true}", asst);
	expect_error(port, C, body, 400, "continue_final_message");
	snprintf(body, sizeof body, "{%s,\"continue_final_message\":true,"
				    "\"add_generation_prompt\":true}", asst);
	expect_error(port, C, body, 400, "continue_final_message");
	snprintf(body, sizeof body, "{%s,\"continue_final_message\":true,"
				    "\"add_generation_prompt\":false}", m);
	expect_error(port, C, body, 400, "messages");
	snprintf(body, sizeof body, "{%s,\"continue_final_message\":1,"
				    "\"add_generation_prompt\":false}", asst);
	expect_error(port, C, body, 400, "continue_final_message");
	snprintf(body, sizeof body, "{%s,\"add_generation_prompt\":\"no\"}", asst);
	expect_error(port, C, body, 400, "add_generation_prompt");
	sim_stop(pid);
}
END_TEST

/* ---------------------------------------------------------------- tool calls */

#define TOOLS "\"tools\":[" \
	"{\"type\":\"function\",\"function\":{\"name\":\"web_search\",\"description\":\"Search\"," \
	"\"parameters\":{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"}," \
	"\"top_k\":{\"type\":\"integer\",\"minimum\":3}},\"required\":[\"query\",\"top_k\"]}}}," \
	"{\"type\":\"function\",\"function\":{\"name\":\"open_url\",\"parameters\":{\"type\":" \
	"\"object\",\"properties\":{\"url\":{\"type\":\"string\"}},\"required\":[\"url\"]}}}]"

/* One streamed chat answer, checked chunk by chunk: a role chunk, then
 * either content deltas or a tool call (a chunk with its id, type, name and
 * empty arguments, argument pieces, a final chunk with the finish reason),
 * then the usage and [DONE]. */
struct tstream {
	struct buf content;   /* the content deltas */
	struct buf args;      /* the argument pieces */
	char id[64], name[64]; /* the call's */
	char finish[16];
	int pieces;           /* chunks with argument pieces */
	int64_t completion;   /* usage */
};

static void tstream_run(int port, const char *body, struct tstream *t)
{
	memset(t, 0, sizeof *t);
	buf_puts(&t->content, "");
	buf_puts(&t->args, "");
	struct buf b = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "POST", "/v1/chat/completions", body, &b), 200);
	int n = 0;
	bool named = false, done = false, usage = false;
	for (const char *p = b.data; (p = strstr(p, "data: "));) {
		p += 6;
		const char *e = strstr(p, "\n\n");
		ck_assert_ptr_nonnull(e);
		if (strncmp(p, "[DONE]", 6) == 0) {
			done = true;
			break;
		}
		ck_assert(!usage);
		char *js = strndup(p, (size_t)(e - p));
		struct json_object *o = json_tokener_parse(js);
		ck_assert_msg(o, "bad chunk %s", js);
		ck_assert_str_eq(jstr(o, "object"), "chat.completion.chunk");
		if (json_object_array_length(jget(o, "choices")) == 0) {
			t->completion = jint(o, "usage.completion_tokens");
			usage = true;
		} else if (n++ == 0) {
			ck_assert_str_eq(jstr(o, "choices.0.delta.role"), "assistant");
		} else {
			ck_assert(!t->finish[0]);
			struct json_object *tc = jget(o, "choices.0.delta.tool_calls");
			const char *f = jstr(o, "choices.0.finish_reason");
			if (f)
				snprintf(t->finish, sizeof t->finish, "%s", f);
			if (tc) {
				ck_assert_uint_eq(json_object_array_length(tc), 1);
				ck_assert_int_eq(jint(o, "choices.0.delta.tool_calls.0.index"), 0);
				const char *id = jstr(o, "choices.0.delta.tool_calls.0.id");
				if (!named) {
					/* The first: id, type, name, no arguments yet. */
					ck_assert_ptr_nonnull(id);
					snprintf(t->id, sizeof t->id, "%s", id);
					ck_assert_str_eq(jstr(o, "choices.0.delta.tool_calls.0.type"),
							 "function");
					snprintf(t->name, sizeof t->name, "%s",
						 jstr(o, "choices.0.delta.tool_calls.0.function.name"));
					ck_assert_str_eq(jstr(o, "choices.0.delta.tool_calls.0.function."
								 "arguments"), "");
					named = true;
				} else {
					ck_assert_ptr_null(id);
					ck_assert_ptr_null(jget(o, "choices.0.delta.tool_calls.0.function.name"));
					const char *a = jstr(o, "choices.0.delta.tool_calls.0.function.arguments");
					ck_assert(a && *a);
					buf_puts(&t->args, a);
					t->pieces++;
				}
				ck_assert_ptr_null(f);
			} else if (t->finish[0] && named) {
				ck_assert_uint_eq(json_object_object_length(jget(o, "choices.0.delta")), 0);
			} else {
				ck_assert(!named);
				buf_puts(&t->content, jstr(o, "choices.0.delta.content"));
			}
		}
		json_object_put(o);
		free(js);
		p = e + 2;
	}
	ck_assert(done && usage);
	buf_free(&b);
}

static void tstream_free(struct tstream *t)
{
	buf_free(&t->content);
	buf_free(&t->args);
}

/* POSTs a chat with MSGS (the messages' JSON) and EXTRA fields, streamed
 * and not; checks that both agree and returns the non-streamed answer. */
static struct json_object *tool_chat(int port, const char *msgs, const char *extra,
				     struct tstream *t)
{
	char body[8192];
	struct json_object *o;
	snprintf(body, sizeof body, "{\"messages\":[%s]%s%s}", msgs, *extra ? "," : "", extra);
	ck_assert_msg(post(port, "/v1/chat/completions", body, &o) == 200, "%s", body);
	snprintf(body, sizeof body, "{\"messages\":[%s]%s%s,\"stream\":true,"
		 "\"stream_options\":{\"include_usage\":true}}", msgs, *extra ? "," : "", extra);
	tstream_run(port, body, t);
	ck_assert_str_eq(t->finish, jstr(o, "choices.0.finish_reason"));
	ck_assert_int_eq(t->completion, jint(o, "usage.completion_tokens"));
	struct json_object *calls = jget(o, "choices.0.message.tool_calls");
	ck_assert(calls && json_object_is_type(calls, json_type_array));
	if (json_object_array_length(calls) > 0) {
		ck_assert_ptr_null(jget(o, "choices.0.message.content"));
		ck_assert_uint_eq(json_object_array_length(calls), 1);
		ck_assert_str_eq(jstr(o, "choices.0.message.tool_calls.0.id"), t->id);
		ck_assert_str_eq(jstr(o, "choices.0.message.tool_calls.0.type"), "function");
		ck_assert_str_eq(jstr(o, "choices.0.message.tool_calls.0.function.name"), t->name);
		const char *a = jstr(o, "choices.0.message.tool_calls.0.function.arguments");
		ck_assert_str_eq(a, t->args.data);
		/* The name is a token, and each argument piece one more. */
		ck_assert_int_eq(t->completion, 1 + t->pieces);
		ck_assert_int_eq(t->pieces, (int)sim_tok_encode(a, strlen(a), NULL));
	} else {
		ck_assert_str_eq(jstr(o, "choices.0.message.content"), t->content.data);
		ck_assert_uint_eq(t->id[0], 0);
	}
	return o;
}

/* The call's arguments, parsed (they must be JSON). */
static struct json_object *tool_args(struct json_object *o)
{
	const char *a = jstr(o, "choices.0.message.tool_calls.0.function.arguments");
	ck_assert_ptr_nonnull(a);
	struct json_object *args = json_tokener_parse(a);
	ck_assert_msg(args && json_object_is_type(args, json_type_object), "arguments %s", a);
	return args;
}

START_TEST(test_tool_calls)
{
	struct sim_config cfg;
	base_cfg(&cfg);
	cfg.output_len = 9;
	cfg.timing.time_scale = 0.01; /* real timers, short */
	int port;
	pid_t pid = sim_start(&cfg, &port);
	struct tstream t;
	struct buf msgs = BUF_INIT;
	const char *user = "{\"role\":\"system\",\"content\":\"Research.\"},"
			   "{\"role\":\"user\",\"content\":\"Who wrote Dune?\"}";

	/* Round 1: search with the question. */
	buf_puts(&msgs, user);
	struct json_object *o1 = tool_chat(port, msgs.data, TOOLS ",\"seed\":4", &t);
	ck_assert_str_eq(jstr(o1, "choices.0.finish_reason"), "tool_calls");
	ck_assert_str_eq(t.name, "web_search");
	ck_assert_uint_eq(strlen(t.id), 29);
	ck_assert_uint_eq(strspn(t.id + 5, "0123456789abcdef"), 24);
	struct json_object *a = tool_args(o1);
	ck_assert_str_eq(jstr(a, "query"), "Who wrote Dune?");
	ck_assert_int_eq(jint(a, "top_k"), 3);
	json_object_put(a);
	char id1[64];
	snprintf(id1, sizeof id1, "%s", t.id);
	tstream_free(&t);

	/* Round 2: the result names a page; open it. The conversation so far
	   is a cached prefix. */
	buf_printf(&msgs, ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"%s\","
			  "\"type\":\"function\",\"function\":{\"name\":\"web_search\",\"arguments\":"
			  "%s}}]},{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":"
			  "\"1. Dune (novel) - https://en.wikipedia.org/wiki/Dune_(novel).\\n"
			  "2. https://example.org/\"}", id1,
		   json_object_to_json_string(jget(o1, "choices.0.message.tool_calls.0.function.arguments")),
		   id1);
	struct json_object *o2 = tool_chat(port, msgs.data, TOOLS ",\"seed\":4", &t);
	ck_assert_str_eq(jstr(o2, "choices.0.finish_reason"), "tool_calls");
	ck_assert_str_eq(t.name, "open_url");
	ck_assert_str_ne(t.id, id1);
	a = tool_args(o2);
	ck_assert_str_eq(jstr(a, "url"), "https://en.wikipedia.org/wiki/Dune_(novel)");
	json_object_put(a);
	ck_assert_int_gt(jint(o2, "usage.prompt_tokens"), jint(o1, "usage.prompt_tokens"));
	ck_assert_int_ge(jint(o2, "usage.prompt_tokens_details.cached_tokens"),
			 jint(o1, "usage.prompt_tokens") / 16 * 16);
	char id2[64];
	snprintf(id2, sizeof id2, "%s", t.id);
	tstream_free(&t);

	/* Round 3: the answer, with the last result's text in it. */
	buf_printf(&msgs, ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
			  "\"function\":{\"name\":\"open_url\",\"arguments\":\"{}\"}}]},"
			  "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"Dune is a 1965\\n\\n"
			  "  novel by Frank Herbert.\"}", id2, id2);
	struct json_object *o3 = tool_chat(port, msgs.data, TOOLS ",\"seed\":4", &t);
	ck_assert_str_eq(jstr(o3, "choices.0.finish_reason"), "stop");
	ck_assert_str_eq(jstr(o3, "choices.0.message.content"),
			 "Answer: Dune is a 1965 novel by Frank Herbert.");
	ck_assert_uint_eq(json_object_array_length(jget(o3, "choices.0.message.tool_calls")), 0);
	ck_assert_int_eq(jint(o3, "usage.completion_tokens"),
			 (int64_t)sim_tok_encode(t.content.data, t.content.len, NULL));
	tstream_free(&t);

	/* A cut answer, continued from its text so far, is completed. */
	struct json_object *o;
	char body[8192];
	snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"assistant\",\"content\":"
		 "\"Answer: Dune is a\"}]," TOOLS ",\"seed\":4,\"continue_final_message\":true,"
		 "\"add_generation_prompt\":false}", msgs.data);
	ck_assert_int_eq(post(port, "/v1/chat/completions", body, &o), 200);
	ck_assert_str_eq(jstr(o, "choices.0.message.content"), " 1965 novel by Frank Herbert.");
	int64_t k = (int64_t)sim_tok_encode("Answer: Dune is a", 17, NULL);
	ck_assert_int_eq(k, 6);
	ck_assert_int_eq(jint(o, "usage.completion_tokens") + k, jint(o3, "usage.completion_tokens"));
	ck_assert_int_eq(jint(o, "usage.prompt_tokens"), jint(o3, "usage.prompt_tokens") + k);
	json_object_put(o);

	/* Forced: "required" calls a tool where it would answer; a named
	   function is the one called. */
	o = tool_chat(port, msgs.data, TOOLS ",\"seed\":4,\"tool_choice\":\"required\"", &t);
	ck_assert_str_eq(t.name, "web_search");
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "tool_calls");
	json_object_put(o);
	tstream_free(&t);
	o = tool_chat(port, user, TOOLS ",\"tool_choice\":{\"type\":\"function\",\"function\":"
				  "{\"name\":\"open_url\"}}", &t);
	ck_assert_str_eq(t.name, "open_url");
	a = tool_args(o);
	ck_assert_str_eq(jstr(a, "url"), "Who wrote Dune?");
	json_object_put(a);
	json_object_put(o);
	tstream_free(&t);
	/* "none": text as without tools. */
	o = tool_chat(port, user, TOOLS ",\"tool_choice\":\"none\",\"seed\":1", &t);
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "stop");
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 9);
	json_object_put(o);
	tstream_free(&t);
	/* max_tokens cuts a call: finish "length". */
	o = tool_chat(port, user, TOOLS ",\"max_tokens\":4", &t);
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "length");
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 4);
	ck_assert_str_eq(jstr(o, "choices.0.message.tool_calls.0.function.arguments"), "{\"quer");
	json_object_put(o);
	tstream_free(&t);
	/* The same request, the same call id (from the prompt without a seed). */
	o = tool_chat(port, user, TOOLS, &t);
	tstream_free(&t);
	struct json_object *again = tool_chat(port, user, TOOLS, &t);
	ck_assert_str_eq(jstr(o, "choices.0.message.tool_calls.0.id"),
			 jstr(again, "choices.0.message.tool_calls.0.id"));
	json_object_put(o);
	json_object_put(again);
	tstream_free(&t);

	/* Bad requests. */
	const char *C = "/v1/chat/completions";
	snprintf(body, sizeof body, "{\"messages\":[%s],\"tools\":[{\"type\":\"function\"}]}", user);
	expect_error(port, C, body, 400, "tools");
	snprintf(body, sizeof body, "{\"messages\":[%s],\"tools\":\"web_search\"}", user);
	expect_error(port, C, body, 400, "tools");
	snprintf(body, sizeof body, "{\"messages\":[%s]," TOOLS ",\"tool_choice\":\"any\"}", user);
	expect_error(port, C, body, 400, "tool_choice");
	snprintf(body, sizeof body, "{\"messages\":[%s],\"tool_choice\":\"required\"}", user);
	expect_error(port, C, body, 400, "tool_choice");
	snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"tool\",\"tool_call_id\":\"x\"}]"
				    "," TOOLS "}", user);
	expect_error(port, C, body, 400, "messages");
	snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"tool\",\"tool_call_id\":5,"
				    "\"content\":\"x\"}]}", user);
	expect_error(port, C, body, 400, "messages");
	snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"assistant\",\"tool_calls\":"
				    "[{\"function\":{\"arguments\":\"{}\"}}]}]}", user);
	expect_error(port, C, body, 400, "messages");
	snprintf(body, sizeof body, "{\"messages\":[%s,{\"role\":\"assistant\",\"tool_calls\":{}}]}",
		 user);
	expect_error(port, C, body, 400, "messages");
	json_object_put(o1);
	json_object_put(o2);
	json_object_put(o3);
	buf_free(&msgs);
	sim_stop(pid);

	/* --tool-rounds 0: answer at once; words when there is no result. */
	base_cfg(&cfg);
	cfg.output_len = 9;
	cfg.tool_rounds = 0;
	pid = sim_start(&cfg, &port);
	o = tool_chat(port, user, TOOLS ",\"seed\":2", &t);
	ck_assert_str_eq(jstr(o, "choices.0.finish_reason"), "stop");
	ck_assert_int_eq(jint(o, "usage.completion_tokens"), 9);
	json_object_put(o);
	tstream_free(&t);
	snprintf(body, sizeof body, "%s,{\"role\":\"tool\",\"content\":\"42\"}", user);
	o = tool_chat(port, body, TOOLS, &t);
	ck_assert_str_eq(jstr(o, "choices.0.message.content"), "Answer: 42");
	json_object_put(o);
	tstream_free(&t);
	sim_stop(pid);
}
END_TEST

Suite *suite_sim_api(void)
{
	Suite *s = suite_create("sim_api");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_basic_routes);
	tcase_add_test(tc, test_chat_and_completions);
	tcase_add_test(tc, test_streaming);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_embeddings);
	tcase_add_test(tc, test_metrics_and_prefix_cache);
	tcase_add_test(tc, test_faults_and_disconnect);
	suite_add_tcase(s, tc);
	tc = tcase_create("continuation");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_continuation);
	tcase_add_test(tc, test_tool_calls);
	suite_add_tcase(s, tc);
	return s;
}
