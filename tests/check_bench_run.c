/* check_bench_run.c — cli/bench_run and cli/bench_report against a scripted
 * OpenAI server in a child process: timings, usage, failures of every kind,
 * conversations that resend their history, the /v1/models probe, JSON. */
#include <check.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cli/bench_report.h"
#include "../cli/bench_run.h"
#include "buf.h"
#include "httpd.h"

/* ---------------------------------------------------------------- the server */

/* A streamed answer that goes on from timers. */
struct slow {
	struct httpd_req *req;
	struct event *ev;
	int step;
	bool gone;
};

static unsigned srv_count;

static void slow_free(struct slow *s)
{
	event_free(s->ev);
	free(s);
}

static void chunk(struct httpd_req *req, const char *content)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		     "\"delta\":{\"content\":");
	buf_json_str(&b, content, strlen(content));
	buf_puts(&b, "},\"finish_reason\":null}]}\n\n");
	httpd_stream_write(req, b.data, b.len);
	buf_free(&b);
}

static void finish_stream(struct httpd_req *req, int completion, bool usage)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n");
	if (usage)
		buf_printf(&b, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
			       "\"completion_tokens\":%d}}\n\n", completion);
	buf_puts(&b, "data: [DONE]\n\n");
	httpd_stream_write(req, b.data, b.len);
	httpd_stream_end(req);
	buf_free(&b);
}

static void slow_gone(struct httpd_req *req, void *arg)
{
	(void)req;
	struct slow *s = arg;
	s->gone = true;
}

static void slow_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct slow *s = arg;
	if (s->gone) {
		httpd_stream_end(s->req);
		slow_free(s);
		return;
	}
	if (s->step < 3) {
		chunk(s->req, s->step ? " w" : "w");
		s->step++;
		struct timeval tv = {0, 20000};
		evtimer_add(s->ev, &tv);
		return;
	}
	finish_stream(s->req, 3, true);
	slow_free(s);
}

static bool has_model(const char *body, const char *m)
{
	char want[64];
	snprintf(want, sizeof want, "\"model\":\"%s\"", m);
	return strstr(body, want) != NULL;
}

/* Conversations: turn K carries the system prompt, K earlier exchanges and
 * the new user message, in order; the answer names the turn. */
static int check_conversation(const char *body, char *answer, size_t len)
{
	struct json_object *o = json_tokener_parse(body), *msgs;
	int rc = -1;
	if (!o || !json_object_object_get_ex(o, "messages", &msgs))
		goto out;
	size_t n = json_object_array_length(msgs);
	if (n < 2 || n % 2)
		goto out;
	const char *want[] = {"user", "assistant"};
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(msgs, i), *role, *content;
		json_object_object_get_ex(m, "role", &role);
		json_object_object_get_ex(m, "content", &content);
		const char *r = json_object_get_string(role), *c = json_object_get_string(content);
		if (strcmp(r, i == 0 ? "system" : want[(i - 1) % 2]) != 0)
			goto out;
		if (i > 0 && i % 2 == 0) { /* an earlier answer */
			char expect[32];
			snprintf(expect, sizeof expect, "answer to turn %zu", i / 2 - 1);
			if (strcmp(c, expect) != 0)
				goto out;
		}
	}
	snprintf(answer, len, "answer to turn %zu", n / 2 - 1);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

static void srv_handler(struct httpd_req *req, void *arg)
{
	struct event_base *base = arg;
	size_t len;
	const char *body = httpd_req_body(req, &len);
	const char *path = httpd_req_path(req);
	bool stream = strstr(body, "\"stream\":true") != NULL;
	char worker[16];
	snprintf(worker, sizeof worker, "w%u", srv_count++ % 2);
	if (strcmp(path, "/v1/models") == 0) {
		static const char m[] = "{\"object\":\"list\",\"data\":[{\"id\":\"fast\"},{\"id\":\"x\"}]}";
		httpd_reply(req, 200, "application/json", m, sizeof m - 1);
		return;
	}
	if (strcmp(path, "/v1/chat/completions") != 0) {
		static const char e[] = "{\"error\":{\"message\":\"no such route\"}}";
		httpd_reply(req, 404, "application/json", e, sizeof e - 1);
		return;
	}
	httpd_add_header(req, "X-Elastic-Worker", worker);
	if (has_model(body, "e500")) {
		static const char e[] = "{\"error\":{\"message\":\"boom\",\"code\":500}}";
		httpd_reply(req, 500, "application/json", e, sizeof e - 1);
	} else if (has_model(body, "conv")) {
		char answer[64];
		if (check_conversation(body, answer, sizeof answer) < 0) {
			static const char e[] = "{\"error\":{\"message\":\"bad history\"}}";
			httpd_reply(req, 400, "application/json", e, sizeof e - 1);
			return;
		}
		httpd_stream_start(req, 200, "text/event-stream");
		chunk(req, answer);
		finish_stream(req, 4, true);
	} else if (!stream) {
		static const char ok[] =
			"{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"
			"\"role\":\"assistant\",\"content\":\"a b c d e\"},\"finish_reason\":\"length\"}],"
			"\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}";
		static const char nousage[] =
			"{\"choices\":[{\"index\":0,\"message\":{\"content\":\"a b c d e\"}}]}";
		if (has_model(body, "nousage"))
			httpd_reply(req, 200, "application/json", nousage, sizeof nousage - 1);
		else
			httpd_reply(req, 200, "application/json", ok, sizeof ok - 1);
	} else if (has_model(body, "slow")) {
		httpd_stream_start(req, 200, "text/event-stream");
		static const char role[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":"
					   "\"assistant\",\"content\":\"\"}}]}\n\n";
		httpd_stream_write(req, role, sizeof role - 1);
		struct slow *s = calloc(1, sizeof *s);
		s->req = req;
		s->ev = evtimer_new(base, slow_cb, s);
		httpd_req_on_close(req, slow_gone, s);
		struct timeval tv = {0, 100000};
		evtimer_add(s->ev, &tv);
	} else if (has_model(body, "trunc")) {
		httpd_stream_start(req, 200, "text/event-stream");
		chunk(req, "x");
		httpd_stream_end(req);
	} else if (has_model(body, "errev")) {
		httpd_stream_start(req, 200, "text/event-stream");
		chunk(req, "x");
		static const char e[] = "data: {\"error\":{\"message\":\"overloaded\"}}\n\n";
		httpd_stream_write(req, e, sizeof e - 1);
		httpd_stream_end(req);
	} else { /* fast, nousage */
		bool usage = !has_model(body, "nousage");
		httpd_stream_start(req, 200, "text/event-stream; charset=utf-8");
		for (int i = 0; i < 4; i++)
			chunk(req, " tok");
		finish_stream(req, 4, usage);
	}
}

static void srv_quit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static pid_t srv_pid;
static int srv_port;
static int srv_ctl; /* closing it stops the server */

static void srv_start(void)
{
	int ports[2], ctl[2];
	ck_assert_int_eq(pipe(ports), 0);
	ck_assert_int_eq(pipe(ctl), 0);
	srv_pid = fork();
	ck_assert_int_ge(srv_pid, 0);
	if (srv_pid == 0) {
		close(ports[0]);
		close(ctl[1]);
		/* A precise timer: libevent's default clock on Linux is
		 * CLOCK_MONOTONIC_COARSE, whose ticks of a few ms let the
		 * 100 ms first token come a few ms early by the client's
		 * clock, which the timing test below would take for a bug. */
		struct event_config *cfg = event_config_new();
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
		struct event_base *base = event_base_new_with_config(cfg);
		event_config_free(cfg);
		struct httpd *h = httpd_new(base, NULL, srv_handler, base);
		char err[128];
		if (!h || httpd_listen(h, "127.0.0.1", 0, err, sizeof err) < 0)
			exit(1);
		int port = httpd_port(h);
		if (write(ports[1], &port, sizeof port) != sizeof port)
			exit(1);
		close(ports[1]);
		struct event *quit = event_new(base, ctl[0], EV_READ, srv_quit, base);
		event_add(quit, NULL);
		event_base_dispatch(base);
		event_free(quit);
		httpd_free(h);
		event_base_free(base);
		close(ctl[0]);
		exit(0);
	}
	close(ports[1]);
	close(ctl[0]);
	ck_assert_int_eq(read(ports[0], &srv_port, sizeof srv_port), (ssize_t)sizeof srv_port);
	close(ports[0]);
	srv_ctl = ctl[1];
}

static void srv_stop(void)
{
	close(srv_ctl);
	int st;
	ck_assert_int_eq(waitpid(srv_pid, &st, 0), srv_pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---------------------------------------------------------------- helpers */

static char url[128];

static struct bench_cfg cfg_for(const char *model, bool stream)
{
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", srv_port);
	return (struct bench_cfg){.base_url = url, .url = url, .model = model, .chat = true,
				  .stream = stream, .request_rate = INFINITY,
				  .timeout_ms = 10000, .api_key = "k"};
}

static void run(const char *model, bool stream, size_t n, struct bench_result *res,
		struct bench_metrics *m)
{
	struct bench_data_opts o = {.input_len = 5, .output_len = 4, .num_prompts = (long)n};
	struct bench_dataset d;
	char err[256];
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_RANDOM, &o, err, sizeof err), 0);
	struct bench_cfg c = cfg_for(model, stream);
	ck_assert_int_eq(bench_run(&c, &d, res, err, sizeof err), 0);
	bench_metrics_compute(res, m);
	bench_data_free(&d);
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_stream_usage_and_workers)
{
	srv_start();
	struct bench_result res;
	struct bench_metrics m;
	run("fast", true, 20, &res, &m);
	ck_assert_uint_eq(m.completed, 20);
	ck_assert_uint_eq(m.failed, 0);
	ck_assert(m.usage_all);
	ck_assert_int_eq(m.total_input, 20 * 11);
	ck_assert_int_eq(m.total_output, 20 * 4);
	ck_assert_uint_eq(m.ttft.n, 20);
	ck_assert_uint_eq(m.tpot.n, 20);
	ck_assert_uint_eq(m.itl.n, 20 * 3);
	ck_assert_uint_eq(m.peak_inflight, 20);
	ck_assert_uint_eq(m.nworkers, 2);
	ck_assert_double_eq_tol(m.imbalance, 1.0, 1e-9);
	ck_assert(m.duration > 0);
	ck_assert_double_eq_tol(m.request_throughput, 20 / m.duration, 1e-9);
	ck_assert_double_eq_tol(m.total_throughput, (220 + 80) / m.duration, 1e-9);
	for (size_t i = 0; i < res.n; i++) {
		ck_assert(res.rec[i].ok);
		ck_assert_int_eq(res.rec[i].status, 200);
		ck_assert(res.rec[i].t_first >= res.rec[i].t_start);
		ck_assert(res.rec[i].t_end >= res.rec[i].t_first);
	}
	bench_metrics_free(&m);
	bench_result_free(&res);
	srv_stop();
}
END_TEST

START_TEST(test_stream_timings)
{
	/* First token after 100 ms, then two more 20 ms apart. */
	srv_start();
	struct bench_result res;
	struct bench_metrics m;
	run("slow", true, 5, &res, &m);
	ck_assert_uint_eq(m.completed, 5);
	ck_assert(m.ttft.min >= 99.0);
	ck_assert(m.ttft.max < 1000.0);
	ck_assert_uint_eq(m.itl.n, 10);
	ck_assert(m.itl.min >= 19.0);
	ck_assert(m.itl.median < 200.0);
	/* TPOT = (E2E - TTFT) / (3 - 1), about 20 ms. */
	ck_assert(m.tpot.min >= 19.0);
	ck_assert(m.e2el.min >= 139.0);
	bench_metrics_free(&m);
	bench_result_free(&res);
	srv_stop();
}
END_TEST

START_TEST(test_non_stream_and_no_usage)
{
	srv_start();
	struct bench_result res;
	struct bench_metrics m;
	run("fast", false, 6, &res, &m);
	ck_assert_uint_eq(m.completed, 6);
	ck_assert(m.usage_all);
	ck_assert_int_eq(m.total_output, 6 * 7);
	ck_assert_uint_eq(m.ttft.n, 0);
	ck_assert_uint_eq(m.e2el.n, 6);
	bench_metrics_free(&m);
	bench_result_free(&res);
	/* Without usage: the words of the answer, the prompt's words. */
	run("nousage", false, 3, &res, &m);
	ck_assert_uint_eq(m.completed, 3);
	ck_assert(!m.usage_all);
	ck_assert_int_eq(m.total_output, 3 * 5);
	ck_assert_int_eq(m.total_input, 3 * 5);
	bench_metrics_free(&m);
	bench_result_free(&res);
	/* Streamed without usage: one token per chunk with text. */
	run("nousage", true, 3, &res, &m);
	ck_assert_uint_eq(m.completed, 3);
	ck_assert_int_eq(m.total_output, 3 * 4);
	bench_metrics_free(&m);
	bench_result_free(&res);
	srv_stop();
}
END_TEST

START_TEST(test_failures)
{
	static const struct {
		const char *model;
		bool stream;
		const char *msg;
	} cases[] = {
		{"e500", true, "HTTP 500: boom"},
		{"e500", false, "HTTP 500: boom"},
		{"trunc", true, "stream ended before [DONE]"},
		{"errev", true, "error in the stream: overloaded"},
	};
	srv_start();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bench_result res;
		struct bench_metrics m;
		run(cases[i].model, cases[i].stream, 4, &res, &m);
		ck_assert_uint_eq(m.completed, 0);
		ck_assert_uint_eq(m.failed, 4);
		ck_assert_uint_eq(m.nerrors, 1);
		ck_assert_uint_eq(m.errors[0].n, 4);
		ck_assert_msg(strcmp(m.errors[0].message, cases[i].msg) == 0, "%s: %s",
			      cases[i].model, m.errors[0].message);
		ck_assert_uint_eq(m.nfailures, 4);
		ck_assert_str_eq(m.failures[3].message, cases[i].msg);
		ck_assert_ptr_nonnull(m.failures[0].worker);
		ck_assert(m.failures[0].t_end >= m.failures[0].t_start);
		ck_assert(m.failures[1].t_end >= m.failures[0].t_end);
		bench_metrics_free(&m);
		bench_result_free(&res);
	}
	srv_stop();
	/* The server is gone: connection refused, all of them. */
	struct bench_result res;
	struct bench_metrics m;
	run("fast", true, 3, &res, &m);
	ck_assert_uint_eq(m.failed, 3);
	ck_assert_ptr_nonnull(strstr(m.errors[0].message, "Connection refused"));
	bench_metrics_free(&m);
	bench_result_free(&res);
}
END_TEST

START_TEST(test_conversations_resend_history)
{
	srv_start();
	struct bench_data_opts o = {.input_len = 3, .output_len = 4, .prefix_len = 10,
				    .conversations = 5, .turns = 4, .seed = 2};
	struct bench_dataset d;
	char err[256];
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_MULTITURN, &o, err, sizeof err), 0);
	struct bench_cfg c = cfg_for("conv", true);
	c.max_concurrency = 2;
	struct bench_result res;
	ck_assert_int_eq(bench_run(&c, &d, &res, err, sizeof err), 0);
	struct bench_metrics m;
	bench_metrics_compute(&res, &m);
	ck_assert_msg(m.completed == 20, "%zu completed; %s", m.completed,
		      m.nerrors ? m.errors[0].message : "");
	ck_assert_uint_eq(m.peak_inflight, 2);
	for (size_t conv = 0; conv < 5; conv++)
		for (size_t t = 1; t < 4; t++) {
			const struct bench_rec *prev = &res.rec[conv * 4 + t - 1],
					       *cur = &res.rec[conv * 4 + t];
			ck_assert(cur->t_start >= prev->t_end);
		}
	bench_metrics_free(&m);
	bench_result_free(&res);

	/* A failing turn: the conversation's later turns are skipped. */
	c = cfg_for("e500", true);
	ck_assert_int_eq(bench_run(&c, &d, &res, err, sizeof err), 0);
	bench_metrics_compute(&res, &m);
	ck_assert_uint_eq(m.failed, 5);
	ck_assert_uint_eq(m.skipped, 15);
	bench_metrics_free(&m);
	bench_result_free(&res);
	bench_data_free(&d);
	srv_stop();
}
END_TEST

START_TEST(test_body)
{
	struct bench_data_opts o = {.input_len = 2, .output_len = 4, .prefix_len = 3,
				    .conversations = 1, .turns = 3};
	struct bench_dataset d;
	char err[256];
	ck_assert_int_eq(bench_data_generate(&d, BENCH_DS_MULTITURN, &o, err, sizeof err), 0);
	char *answers[3] = {"first answer", "second answer", NULL};
	struct bench_cfg c = {.model = "m\"q", .chat = true, .stream = true, .ignore_eos = true};
	struct buf b = BUF_INIT;
	long words;
	bench_body(&c, &d, 2, answers, &b, &words);
	struct json_object *j = json_tokener_parse(b.data), *v;
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_object_get_ex(j, "model", &v));
	ck_assert_str_eq(json_object_get_string(v), "m\"q");
	ck_assert(json_object_object_get_ex(j, "messages", &v));
	ck_assert_uint_eq(json_object_array_length(v), 6);
	struct json_object *a = json_object_object_get(json_object_array_get_idx(v, 4), "content");
	ck_assert_str_eq(json_object_get_string(a), "second answer");
	ck_assert(json_object_object_get_ex(j, "user", &v));
	ck_assert_str_eq(json_object_get_string(v), "conversation-0");
	ck_assert(json_object_object_get_ex(j, "stream_options", &v));
	ck_assert(json_object_object_get_ex(j, "ignore_eos", &v));
	ck_assert(json_object_object_get_ex(j, "max_tokens", &v));
	ck_assert_int_eq(json_object_get_int(v), 4);
	ck_assert_int_eq(words, 3 + 3 * 2 + 2 + 2);
	json_object_put(j);

	/* Completions: one text, the exchanges as "User:"/"Assistant:". */
	buf_reset(&b);
	c.chat = false;
	c.stream = false;
	bench_body(&c, &d, 1, answers, &b, &words);
	j = json_tokener_parse(b.data);
	ck_assert(json_object_object_get_ex(j, "prompt", &v));
	const char *p = json_object_get_string(v);
	ck_assert_ptr_nonnull(strstr(p, "User: "));
	ck_assert_ptr_nonnull(strstr(p, "\n\nAssistant: first answer\n\nUser: "));
	ck_assert(!json_object_object_get_ex(j, "stream", &v));
	json_object_put(j);
	buf_free(&b);
	bench_data_free(&d);
}
END_TEST

START_TEST(test_probe_and_json)
{
	srv_start();
	char base[128], models[160], err[256];
	char *found;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", srv_port);
	snprintf(models, sizeof models, "%s/v1/models", base);
	ck_assert_int_eq(bench_probe(models, "k", NULL, &found, err, sizeof err), 0);
	ck_assert_str_eq(found, "fast");
	free(found);
	/* A server without /v1/models: fine when the model is named. */
	snprintf(models, sizeof models, "%s/x/v1/models", base);
	ck_assert_int_eq(bench_probe(models, NULL, "m", &found, err, sizeof err), 0);
	ck_assert_ptr_null(found);
	ck_assert_int_eq(bench_probe(models, NULL, NULL, &found, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 404: no such route"));

	struct bench_result res;
	struct bench_metrics m;
	run("fast", true, 4, &res, &m);
	char path[] = "/tmp/check_bench_json_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct bench_cfg c = cfg_for("fast", true);
	struct bench_info info = {.cfg = &c, .dataset = "random", .turns = 1};
	ck_assert_int_eq(bench_report_json(path, &info, &m, err, sizeof err), 0);
	struct json_object *j = json_object_from_file(path), *v;
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_object_get_ex(j, "completed", &v));
	ck_assert_int_eq(json_object_get_int(v), 4);
	ck_assert(json_object_object_get_ex(j, "p99_ttft_ms", &v));
	ck_assert(json_object_object_get_ex(j, "median_e2el_ms", &v));
	ck_assert(json_object_object_get_ex(j, "workers", &v));
	ck_assert_int_eq(json_object_object_length(v), 2);
	ck_assert(json_object_object_get_ex(j, "start_time", &v));
	ck_assert(json_object_get_double(v) > 1.7e9);
	ck_assert(json_object_object_get_ex(j, "failures", &v));
	ck_assert_uint_eq(json_object_array_length(v), 0);
	ck_assert(json_object_object_get_ex(j, "request_rate", &v));
	ck_assert_str_eq(json_object_get_string(v), "inf");
	json_object_put(j);
	unlink(path);
	ck_assert_int_eq(bench_report_json("/nonexistent/x.json", &info, &m, err, sizeof err), -1);
	FILE *devnull = fopen("/dev/null", "w");
	bench_report_print(devnull, &info, &m);
	fclose(devnull);
	bench_metrics_free(&m);
	bench_result_free(&res);
	srv_stop();

	snprintf(models, sizeof models, "%s/v1/models", base);
	ck_assert_int_eq(bench_probe(models, NULL, NULL, &found, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot reach"));
}
END_TEST

Suite *suite_bench_run(void)
{
	Suite *s = suite_create("bench_run");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_stream_usage_and_workers);
	tcase_add_test(tc, test_stream_timings);
	tcase_add_test(tc, test_non_stream_and_no_usage);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_conversations_resend_history);
	tcase_add_test(tc, test_body);
	tcase_add_test(tc, test_probe_and_json);
	suite_add_tcase(s, tc);
	return s;
}
