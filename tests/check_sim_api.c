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
	return s;
}
