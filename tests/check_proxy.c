/* check_proxy.c — registry/proxy's request lifecycle, in one process on
 * one event loop: a real registry (reg_new, its HTTP server and proxy),
 * fake workers made with lib/httpd that answer, fail, hang, reset and cut
 * streams at random, and lib/httpc as the client, which also walks away
 * from some requests.
 *
 * The "migrate" case: fake OpenAI workers that cut, pause or leave
 * mid-generation, and the generation that goes on on another worker
 * (stream migration, registry/proxy_migrate.h) in one response.
 *
 * What must hold: every request gets exactly one complete answer while a
 * healthy worker exists (faults before the first byte are retried), a
 * stream cut after its first byte reaches the client incomplete, and once
 * everything settled no worker and no pool has a request in flight and no
 * client request is left without a reply (the counter-leak test). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "buf.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "../registry/proxy.h"
#include "../registry/reg.h"
#include "../registry/reg_util.h"

static struct event_base *base;
static struct reg *reg;
static struct reg_config cfg;
static char dir[64];
static char url[64];
static unsigned seed = 1;
static bool migrate_on; /* cfg.proxy.migrate of the next setup */

/* ---------------------------------------------------------------- fake workers */

enum fw_mode {
	FW_OK,    /* always answers */
	FW_FLAKY, /* half of the time 500 or 503 */
	FW_BAD,   /* resets, hangs, 502s, 500s before any byte */
	FW_CUT,   /* streams are cut after their first chunks */
	FW_SLOW,  /* streams take a chunk every 50 ms */
	FW_ALT,   /* every other request a 500, before any byte */
	FW_DEAD,  /* always 503 */
	FW_GARBAGE,      /* 200 with a body that is not JSON; streams: a first event that is not */
	FW_GARBAGE_LATE, /* the same, but streams have a good first event, then a broken one */
};

struct fw {
	struct httpd *h;
	int port;
	enum fw_mode mode;
	char id[32];
	unsigned requests;
};

struct fw_stream {
	struct fw *f;
	struct httpd_req *req;
	struct event *ev;
	int sent, total, cut_at; /* cut_at < 0: never */
	bool hang;               /* never answered: ended when the proxy gives up */
};

static int fw_live; /* fake requests not ended yet */

static void fws_free(struct fw_stream *s)
{
	if (s->ev)
		event_free(s->ev);
	free(s);
	fw_live--;
}

static void fws_close(struct httpd_req *req, void *arg)
{
	struct fw_stream *s = arg;
	/* The proxy gave up (timeout) or its client left: end it here. */
	httpd_stream_abort(req);
	fws_free(s);
}

static void fws_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fw_stream *s = arg;
	if (s->sent == s->cut_at) {
		httpd_stream_abort(s->req);
		fws_free(s);
		return;
	}
	if (s->sent == s->total) {
		httpd_stream_write(s->req, "data: [DONE]\n\n", 14);
		httpd_stream_end(s->req);
		fws_free(s);
		return;
	}
	char line[64];
	int n = snprintf(line, sizeof line, "data: {\"n\":%d}\n\n", s->sent++);
	httpd_stream_write(s->req, line, (size_t)n);
	struct timeval tv = {0, s->f->mode == FW_SLOW ? 50000 : 200 + rand_r(&seed) % 1500};
	event_add(s->ev, &tv);
}

static void fw_handler(struct httpd_req *req, void *arg)
{
	struct fw *f = arg;
	size_t len;
	const char *body = httpd_req_body(req, &len);
	bool stream = strstr(body, "\"stream\":true") != NULL;
	int r = rand_r(&seed) % 100;
	f->requests++;
	if (f->mode == FW_GARBAGE || f->mode == FW_GARBAGE_LATE) {
		static const char bad[] = "\xff\xfe{\"choices\": [garbage\x01 ]]}";
		if (!stream) {
			httpd_reply(req, 200, "application/json", bad, sizeof bad - 1);
			return;
		}
		httpd_stream_start(req, 200, "text/event-stream");
		if (f->mode == FW_GARBAGE_LATE)
			httpd_stream_write(req, "data: {\"n\":0}\n\n", 15);
		httpd_stream_write(req, "data: ", 6);
		httpd_stream_write(req, bad, sizeof bad - 1);
		httpd_stream_write(req, "\n\n", 2);
		httpd_stream_end(req);
		return;
	}
	if (f->mode == FW_DEAD || (f->mode == FW_ALT && f->requests % 2 == 1)) {
		httpd_reply(req, 500, "application/json", "{\"error\":{}}", 12);
		return;
	}
	if (f->mode == FW_FLAKY && r < 50) {
		httpd_reply(req, r < 25 ? 500 : 503, "application/json", "{\"error\":{}}", 12);
		return;
	}
	if (f->mode == FW_BAD && r < 80) {
		if (r < 25) {
			httpd_stream_abort(req); /* connection closed, no response */
			return;
		}
		if (r < 45) {
			struct fw_stream *s = calloc(1, sizeof *s);
			s->f = f;
			s->req = req;
			s->hang = true;
			fw_live++;
			httpd_req_on_close(req, fws_close, s);
			return;
		}
		httpd_reply(req, r < 65 ? 502 : 500, "application/json", "{\"error\":{}}", 12);
		return;
	}
	if (!stream) {
		char out[128];
		int n = snprintf(out, sizeof out, "{\"ok\":true,\"w\":\"%s\"}", f->id);
		httpd_add_header(req, "X-Upstream", "yes");
		httpd_reply(req, 200, "application/json", out, (size_t)n);
		return;
	}
	struct fw_stream *s = calloc(1, sizeof *s);
	s->f = f;
	s->req = req;
	s->total = 5;
	s->cut_at = f->mode == FW_CUT ? 2 : -1;
	s->ev = evtimer_new(base, fws_tick, s);
	fw_live++;
	httpd_req_on_close(req, fws_close, s);
	httpd_stream_start(req, 200, "text/event-stream");
	fws_tick(-1, 0, s);
}

static struct fw *fw_start(const char *id, enum fw_mode mode)
{
	struct fw *f = calloc(1, sizeof *f);
	char err[256];
	f->mode = mode;
	snprintf(f->id, sizeof f->id, "%s", id);
	f->h = httpd_new(base, NULL, fw_handler, f);
	ck_assert_int_eq(httpd_listen(f->h, "127.0.0.1", 0, err, sizeof err), 0);
	f->port = httpd_port(f->h);
	return f;
}

static void fw_stop(struct fw *f)
{
	httpd_free(f->h);
	free(f);
}

/* Registers F with the registry, as an agent would. */
static struct reg_worker *fw_register(struct fw *f, const char *model)
{
	struct reg_worker *w = reg_worker_new();
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%d", f->port);
	w->id = reg_strdup(f->id);
	w->model = reg_strdup(model);
	w->url = reg_strdup(u);
	w->host = reg_strdup("127.0.0.1");
	w->port = f->port;
	w->job_id = reg_strdup("1");
	w->node = reg_strdup("n1");
	w->gpus = reg_strdup("0");
	w->tp = 1;
	return reg_workers_put(&reg->workers, w, REG_W_READY, reg_now(), reg_mono_ms());
}

/* ---------------------------------------------------------------- registry */

static void setup(void)
{
	char err[512];
	log_set_level(LOG_LVL_ERROR);
	strcpy(dir, "/tmp/check_proxy_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	base = event_base_new();
	reg_config_init(&cfg);
	reg_config_set_listen(&cfg, "127.0.0.1:0", err, sizeof err);
	free(cfg.auth);
	cfg.auth = reg_strdup("none");
	char sd[128];
	snprintf(sd, sizeof sd, "%s/state", dir);
	cfg.state_dir = reg_strdup(sd);
	cfg.job_script = reg_strdup("/bin/true");
	free(cfg.squeue);
	cfg.squeue = reg_strdup("/bin/true");
	free(cfg.sacct);
	cfg.sacct = reg_strdup("");
	cfg.heartbeat_timeout_ms = 3600 * 1000;
	cfg.poll_ms = 3600 * 1000;
	cfg.proxy.response_timeout_ms = 300;
	cfg.proxy.stream_idle_timeout_ms = 300;
	cfg.proxy.wait_for_worker_ms = 300;
	cfg.proxy.eject_after = 2;
	cfg.proxy.eject_time_ms = 100;
	cfg.proxy.eject_max_ms = 400;
	/* The lifecycle as it is without stream migration (the fake workers'
	 * answers are not OpenAI's); the migrate case turns it on. */
	cfg.proxy.migrate = migrate_on;
	ck_assert_int_eq(reg_config_finish(&cfg, NULL, err, sizeof err), 0);
	reg = reg_new(base, &cfg, err, sizeof err);
	ck_assert_msg(reg != NULL, "%s", err);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", reg->port);
	fw_live = 0;
}

static void teardown(void)
{
	if (reg)
		reg_free(reg);
	reg = NULL;
	event_base_free(base);
	reg_config_free(&cfg);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---------------------------------------------------------------- client */

struct call {
	int done;         /* on_done ran */
	int err;
	int status;
	bool cancelled;   /* walked away */
	int cancel_after; /* cancel at this body piece (-1: never) */
	int pieces;
	struct buf body;
	char worker[32];  /* X-Elastic-Worker */
	bool forwarded;   /* the worker's own header came through */
	struct httpc_req *req;
};

static int calls_open;

static void c_head(struct httpc_req *req, const struct httpc_resp *resp, void *arg)
{
	(void)req;
	struct call *c = arg;
	c->status = httpc_resp_status(resp);
	const char *w = httpc_resp_header(resp, "X-Elastic-Worker");
	snprintf(c->worker, sizeof c->worker, "%s", w ? w : "");
	c->forwarded = httpc_resp_header(resp, "X-Upstream") != NULL;
}

static void c_body(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	struct call *c = arg;
	buf_append(&c->body, data, len);
	if (c->pieces++ == c->cancel_after) {
		httpc_cancel(req);
		c->cancelled = true;
		calls_open--;
	}
}

static void c_done(struct httpc_req *req, int err, const struct httpc_resp *resp, void *arg)
{
	(void)req;
	(void)resp;
	struct call *c = arg;
	c->done++;
	c->err = err;
	calls_open--;
}

static const char *policy_hdr; /* X-Elastic-Policy of the next calls, or NULL */

static void start_call(struct httpc *hc, struct call *c, const char *model, bool stream,
		       const char *path)
{
	char body[256], u[128];
	snprintf(body, sizeof body,
		 "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":"
		 "\"a prompt long enough to make a block or two of prefix hashes for the table\"}]}",
		 model, stream ? "true" : "false");
	snprintf(u, sizeof u, "%s%s", url, path ? path : "/v1/chat/completions");
	struct httpc_header h[] = {{"Content-Type", "application/json"},
				   {"X-Elastic-Policy", policy_hdr ? policy_hdr : ""}};
	struct httpc_request rq = {
		.method = "POST", .url = u, .headers = h, .nheaders = policy_hdr ? 2 : 1, .body = body,
		.body_len = strlen(body), .total_timeout_ms = 20000, .on_head = c_head,
		.on_body = c_body, .on_done = c_done, .arg = c,
	};
	char err[128];
	c->req = httpc_start(hc, &rq, err, sizeof err);
	ck_assert_ptr_nonnull(c->req);
	calls_open++;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
	event_base_loopbreak(base);
}

/* Runs the loop until no call is open (or SECS pass: a failure). */
static void run_calls(int secs)
{
	int expired = 0;
	struct event *g = evtimer_new(base, guard_cb, &expired);
	struct timeval tv = {secs, 0};
	evtimer_add(g, &tv);
	while (calls_open > 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(g);
	ck_assert_msg(!expired, "%d calls still open after %d s", calls_open, secs);
}

/* Runs the loop for MS milliseconds. */
static void run_for(int ms)
{
	int expired = 0;
	struct event *g = evtimer_new(base, guard_cb, &expired);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(g, &tv);
	while (!expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(g);
}

static char *metrics(void)
{
	struct buf b = BUF_INIT;
	reg_render_metrics(reg, &b);
	return buf_steal(&b);
}

static bool stream_complete(const struct buf *b)
{
	return b->data && strstr(b->data, "data: {\"n\":4}\n\ndata: [DONE]\n\n") != NULL;
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_faults_hidden_and_no_leak)
{
	/* One healthy worker, three bad ones: every request that the client
	 * keeps must succeed whole (4 attempts reach every worker). */
	cfg.proxy.attempts = 4;
	struct fw *fws[4] = {fw_start("1.n1.0", FW_OK), fw_start("1.n2.0", FW_FLAKY),
			     fw_start("1.n3.0", FW_BAD), fw_start("1.n4.0", FW_BAD)};
	struct reg_worker *ws[4];
	for (int i = 0; i < 4; i++)
		ws[i] = fw_register(fws[i], "m");
	struct httpc *hc = httpc_new(base, NULL);
	enum { N = 240 };
	struct call *calls = calloc(N, sizeof *calls);
	const char *policies[] = {"cache_aware", "round_robin", "least_load", "session"};
	int started = 0;
	while (started < N) {
		/* 24 at a time, every policy (X-Elastic-Policy). */
		for (int k = 0; k < 24 && started < N; k++, started++) {
			struct call *c = &calls[started];
			c->cancel_after = rand_r(&seed) % 10 == 0 ? rand_r(&seed) % 3 : -1;
			policy_hdr = policies[rand_r(&seed) % 4];
			start_call(hc, c, "m", rand_r(&seed) % 2, NULL);
		}
		run_calls(15);
	}
	policy_hdr = NULL;
	int ok = 0, cancelled = 0;
	for (int i = 0; i < N; i++) {
		struct call *c = &calls[i];
		if (c->cancelled) {
			cancelled++;
			continue;
		}
		ck_assert_int_eq(c->done, 1);
		ck_assert_msg(c->err == HTTPC_OK, "call %d: %s (status %d, worker %s, %d pieces: %s)", i,
			      httpc_strerror(c->err), c->status, c->worker, c->pieces,
			      c->body.data ? c->body.data : "");
		ck_assert_int_eq(c->status, 200);
		if (strstr(c->body.data, "data:")) {
			ck_assert_msg(stream_complete(&c->body), "call %d: %s", i, c->body.data);
		} else {
			char want[64];
			snprintf(want, sizeof want, "{\"ok\":true,\"w\":\"%s\"}", c->worker);
			ck_assert_str_eq(c->body.data, want);
			ck_assert(c->forwarded);
		}
		ok++;
	}
	ck_assert_int_gt(ok, N / 2);
	/* Let the cancellations and the fake workers' hangs settle. */
	run_for(800);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(ws[i]->inflight == 0, "worker %d: %u in flight", i, ws[i]->inflight);
	ck_assert_uint_eq(httpd_pending_count(reg->httpd), 0);
	/* Every upstream request was ended: cancelled ones and hung ones too. */
	ck_assert_int_eq(fw_live, 0);
	char *m = metrics();
	ck_assert_msg(strstr(m, "elastic_proxy_inflight{pool=\"m\"} 0\n"), "%s", m);
	ck_assert(strstr(m, "elastic_proxy_retries_total{pool=\"m\",cause=\"status\"}"));
	ck_assert(strstr(m, "elastic_proxy_retries_total{pool=\"m\",cause=\"reset\"}"));
	ck_assert(strstr(m, "elastic_proxy_retries_total{pool=\"m\",cause=\"timeout\"}"));
	ck_assert(strstr(m, "elastic_proxy_worker_ejections_total{pool=\"m\",worker=\"1.n3.0\"}"));
	ck_assert_ptr_null(strstr(m, "elastic_proxy_worker_ejections_total{pool=\"m\",worker=\"1.n1.0\"} 1"));
	if (cancelled)
		ck_assert(strstr(m, "cause=\"client_gone\""));
	free(m);
	for (int i = 0; i < N; i++)
		buf_free(&calls[i].body);
	free(calls);
	httpc_free(hc);
	for (int i = 0; i < 4; i++)
		fw_stop(fws[i]);
}
END_TEST

START_TEST(test_retries_avoid_flaky_workers)
{
	/* One healthy worker and five that fail every other request, with
	 * the default 3 attempts and no ejection: a retry must go to the
	 * worker with the better record, not to one whose last answer
	 * happened to be good (a flaky worker's streak of failures is 0 after
	 * each success, and then its next answer fails). */
	cfg.proxy.attempts = 3;
	cfg.proxy.eject_after = 0;
	struct fw *fws[6] = {fw_start("5.n1.0", FW_ALT), fw_start("5.n2.0", FW_ALT),
			     fw_start("5.n3.0", FW_OK),  fw_start("5.n4.0", FW_ALT),
			     fw_start("5.n5.0", FW_ALT), fw_start("5.n6.0", FW_ALT)};
	for (int i = 0; i < 6; i++)
		fw_register(fws[i], "alt");
	struct httpc *hc = httpc_new(base, NULL);
	const char *policies[] = {"round_robin", "cache_aware", "least_load"};
	/* 24 first requests make every worker's record (with no record yet
	 * nothing tells the healthy worker from the others); the next 120
	 * must all succeed. */
	enum { WARM = 24, N = WARM + 120 };
	struct call *calls = calloc(N, sizeof *calls);
	for (int i = 0; i < N; i++) {
		/* One at a time: the same order on every run. */
		calls[i].cancel_after = -1;
		policy_hdr = policies[i % 3];
		start_call(hc, &calls[i], "alt", i % 2 == 0, NULL);
		run_calls(5);
	}
	policy_hdr = NULL;
	int failed = 0;
	for (int i = 0; i < N; i++) {
		if (i >= WARM && (calls[i].err != HTTPC_OK || calls[i].status != 200))
			failed++;
		buf_free(&calls[i].body);
	}
	ck_assert_msg(failed == 0, "%d of %d requests failed with a healthy worker there", failed,
		      N - WARM);
	free(calls);
	httpc_free(hc);
	for (int i = 0; i < 6; i++)
		fw_stop(fws[i]);
}
END_TEST

START_TEST(test_prefix_credit_only_answers)
{
	/* The cache-aware table credits a prompt's blocks to the worker that
	 * answered it, never to one whose attempt failed and was retried. */
	cfg.proxy.eject_after = 0;
	struct fw *dead = fw_start("6.n1.0", FW_DEAD), *ok = fw_start("6.n2.0", FW_OK);
	fw_register(dead, "d");
	fw_register(ok, "d");
	struct httpc *hc = httpc_new(base, NULL);
	struct call calls[6];
	memset(calls, 0, sizeof calls);
	policy_hdr = "round_robin"; /* every other first attempt to the dead one */
	for (int i = 0; i < 6; i++) {
		calls[i].cancel_after = -1;
		start_call(hc, &calls[i], "d", i % 2 == 0, NULL);
		run_calls(5);
		ck_assert_int_eq(calls[i].status, 200);
		ck_assert_str_eq(calls[i].worker, "6.n2.0");
		buf_free(&calls[i].body);
	}
	policy_hdr = NULL;
	ck_assert_uint_ge(dead->requests, 1);
	char *m = metrics();
	const char *line = strstr(m, "elastic_proxy_worker_prefix_blocks{pool=\"d\",worker=\"6.n1.0\"}");
	ck_assert_ptr_nonnull(line);
	ck_assert_msg(strncmp(strchr(line, '}'), "} 0\n", 4) == 0, "the failed worker is credited: %.80s",
		      line);
	ck_assert_ptr_null(strstr(m, "elastic_proxy_worker_prefix_blocks{pool=\"d\",worker=\"6.n2.0\"} 0\n"));
	free(m);
	httpc_free(hc);
	fw_stop(dead);
	fw_stop(ok);
}
END_TEST

/* Starts one call and runs it to its end. */
static void one_call(struct httpc *hc, struct call *c, const char *model, bool stream)
{
	memset(c, 0, sizeof *c);
	c->cancel_after = -1;
	start_call(hc, c, model, stream, NULL);
	run_calls(5);
}

START_TEST(test_garbage_retried)
{
	/* A worker that answers 200 with garbage, fast (least_load favours
	 * it): the proxy checks a JSON body and a stream's first event before
	 * passing them on, retries on the healthy worker, and ejects it. */
	struct fw *ok = fw_start("7.n1.0", FW_OK), *bad = fw_start("7.n2.0", FW_GARBAGE);
	fw_register(ok, "g");
	fw_register(bad, "g");
	struct httpc *hc = httpc_new(base, NULL);
	policy_hdr = "least_load";
	for (int i = 0; i < 30; i++) {
		struct call c;
		one_call(hc, &c, "g", i % 2 == 1);
		ck_assert_int_eq(c.err, HTTPC_OK);
		ck_assert_int_eq(c.status, 200);
		ck_assert_str_eq(c.worker, "7.n1.0");
		if (i % 2 == 1)
			ck_assert_msg(stream_complete(&c.body), "call %d: %s", i, c.body.data);
		else
			ck_assert_str_eq(c.body.data, "{\"ok\":true,\"w\":\"7.n1.0\"}");
		buf_free(&c.body);
	}
	policy_hdr = NULL;
	ck_assert_uint_ge(bad->requests, 2);
	char *m = metrics();
	ck_assert(strstr(m, "elastic_proxy_retries_total{pool=\"g\",cause=\"bad_response\"}"));
	ck_assert(strstr(m, "elastic_proxy_worker_ejections_total{pool=\"g\",worker=\"7.n2.0\"}"));
	ck_assert_ptr_null(strstr(m, "elastic_proxy_errors_total{pool=\"g\",cause=\"bad_response\"}"));
	/* Nothing of its answers was credited to it. */
	const char *line = strstr(m, "elastic_proxy_worker_prefix_blocks{pool=\"g\",worker=\"7.n2.0\"}");
	ck_assert_ptr_nonnull(line);
	ck_assert(strncmp(strchr(line, '}'), "} 0\n", 4) == 0);
	free(m);
	httpc_free(hc);
	fw_stop(ok);
	fw_stop(bad);
}
END_TEST

START_TEST(test_garbage_only)
{
	/* Nobody answers well: 502 in OpenAI's JSON, never the garbage. A
	 * stream whose first event is good but whose end is broken has passed
	 * to the client already: it gets what came, and the worker counts as
	 * failing (ejected after eject_after such streams). */
	cfg.proxy.eject_after = 2;
	struct fw *bad = fw_start("8.n1.0", FW_GARBAGE), *late = fw_start("8.n2.0", FW_GARBAGE_LATE);
	fw_register(bad, "bad");
	fw_register(late, "late");
	struct httpc *hc = httpc_new(base, NULL);
	for (int stream = 0; stream < 2; stream++) {
		struct call c;
		one_call(hc, &c, "bad", stream);
		ck_assert_int_eq(c.status, 502);
		ck_assert_msg(strstr(c.body.data, "answered 200 but its"), "%s", c.body.data);
		ck_assert(strstr(c.body.data, "\"code\":502"));
		buf_free(&c.body);
	}
	for (int i = 0; i < 2; i++) {
		struct call c;
		one_call(hc, &c, "late", true);
		ck_assert_int_eq(c.status, 200);
		ck_assert(strncmp(c.body.data, "data: {\"n\":0}\n\ndata: \xff", 21) == 0);
		ck_assert_ptr_null(strstr(c.body.data, "[DONE]"));
		buf_free(&c.body);
	}
	char *m = metrics();
	ck_assert(strstr(m, "elastic_proxy_errors_total{pool=\"bad\",cause=\"bad_response\"} 2\n"));
	ck_assert(strstr(m, "elastic_proxy_errors_total{pool=\"late\",cause=\"bad_response\"} 2\n"));
	ck_assert(strstr(m, "elastic_proxy_worker_ejections_total{pool=\"late\",worker=\"8.n2.0\"} 1\n"));
	free(m);
	httpc_free(hc);
	fw_stop(bad);
	fw_stop(late);
}
END_TEST

START_TEST(test_stream_cut_and_no_leak)
{
	/* Streams cut after their first chunks cannot be retried: the client
	 * sees them incomplete; the counts still come back to zero. */
	struct fw *cut = fw_start("2.n1.0", FW_CUT);
	struct reg_worker *w = fw_register(cut, "c");
	struct httpc *hc = httpc_new(base, NULL);
	struct call calls[20];
	memset(calls, 0, sizeof calls);
	for (int i = 0; i < 20; i++) {
		calls[i].cancel_after = -1;
		start_call(hc, &calls[i], "c", i % 2 == 0, NULL);
	}
	run_calls(10);
	for (int i = 0; i < 20; i++) {
		struct call *c = &calls[i];
		ck_assert_int_eq(c->done, 1);
		if (i % 2 == 0) {
			ck_assert_int_eq(c->status, 200);
			ck_assert_int_eq(c->err, HTTPC_EIO);
			ck_assert_str_eq(c->body.data, "data: {\"n\":0}\n\ndata: {\"n\":1}\n\n");
		} else {
			ck_assert_int_eq(c->err, HTTPC_OK);
			ck_assert_str_eq(c->body.data, "{\"ok\":true,\"w\":\"2.n1.0\"}");
		}
		buf_free(&c->body);
	}
	run_for(200);
	ck_assert_uint_eq(w->inflight, 0);
	char *m = metrics();
	ck_assert(strstr(m, "elastic_proxy_errors_total{pool=\"c\",cause=\"stream_cut\"} 10\n"));
	ck_assert(strstr(m, "elastic_proxy_requests_total{pool=\"c\",code=\"2xx\"} 20\n"));
	free(m);
	httpc_free(hc);
	fw_stop(cut);
}
END_TEST

START_TEST(test_wait_for_worker)
{
	struct httpc *hc = httpc_new(base, NULL);
	struct call a = {.cancel_after = -1}, b = {.cancel_after = -1}, c = {.cancel_after = -1};
	/* Unknown model: 404 at once. */
	start_call(hc, &a, "nobody", false, NULL);
	run_calls(5);
	ck_assert_int_eq(a.status, 404);
	ck_assert(strstr(a.body.data, "\"param\":\"model\""));
	/* A known model without a ready worker: the request waits; a worker
	 * that becomes ready takes it. */
	struct fw *f = fw_start("3.n1.0", FW_OK);
	struct reg_worker *w = fw_register(f, "late");
	reg_workers_apply(&reg->workers, w, REG_WEV_DRAIN, NULL, reg_now(), reg_mono_ms());
	start_call(hc, &b, "late", false, NULL);
	run_for(100);
	ck_assert_int_eq(b.done, 0);
	char *m = metrics();
	ck_assert(strstr(m, "elastic_proxy_waiting{pool=\"late\"} 1\n"));
	free(m);
	struct fw *g = fw_start("3.n2.0", FW_OK);
	fw_register(g, "late");
	run_calls(5);
	ck_assert_int_eq(b.status, 200);
	ck_assert_str_eq(b.worker, "3.n2.0"); /* never the draining one */
	/* No ready worker for longer than wait_for_worker: 503 with Retry-After. */
	reg_workers_apply(&reg->workers, reg_workers_find(&reg->workers, "3.n2.0"), REG_WEV_EVICT,
			  "heartbeat_timeout", reg_now(), reg_mono_ms());
	start_call(hc, &c, "late", false, NULL);
	run_calls(5);
	ck_assert_int_eq(c.status, 503);
	ck_assert(strstr(c.body.data, "ServiceUnavailable") || strstr(c.body.data, "\"code\":503"));
	/* A client that leaves while waiting frees its request. */
	struct call d = {.cancel_after = -1};
	start_call(hc, &d, "late", false, NULL);
	run_for(50);
	httpc_cancel(d.req);
	calls_open--;
	run_for(100);
	ck_assert_uint_eq(httpd_pending_count(reg->httpd), 0);
	m = metrics();
	ck_assert(strstr(m, "elastic_proxy_waiting{pool=\"late\"} 0\n"));
	ck_assert(strstr(m, "elastic_proxy_errors_total{pool=\"late\",cause=\"no_worker\"} 1\n"));
	free(m);
	buf_free(&a.body);
	buf_free(&b.body);
	buf_free(&c.body);
	buf_free(&d.body);
	httpc_free(hc);
	fw_stop(f);
	fw_stop(g);
}
END_TEST

START_TEST(test_shutdown_ends_everything)
{
	/* reg_free with requests waiting and streaming: each ends once. */
	struct fw *f = fw_start("4.n1.0", FW_SLOW);
	struct reg_worker *w = fw_register(f, "s");
	struct fw *h = fw_start("4.n2.0", FW_OK);
	struct reg_worker *wh = fw_register(h, "hung");
	reg_workers_apply(&reg->workers, wh, REG_WEV_DRAIN, NULL, reg_now(), reg_mono_ms());
	cfg.proxy.wait_for_worker_ms = 10000;
	struct httpc *hc = httpc_new(base, NULL);
	struct call a = {.cancel_after = -1}, b = {.cancel_after = -1};
	start_call(hc, &a, "s", true, NULL);
	start_call(hc, &b, "hung", false, NULL);
	/* Until the stream is under way and the other request waits. */
	for (int i = 0; i < 200; i++) {
		run_for(5);
		char *m = metrics();
		bool waiting = strstr(m, "elastic_proxy_waiting{pool=\"hung\"} 1\n") != NULL;
		free(m);
		if (a.pieces > 0 && waiting)
			break;
	}
	ck_assert_int_gt(a.pieces, 0);
	reg_free(reg);
	reg = NULL;
	run_calls(5);
	ck_assert_int_eq(a.done + b.done, 2);
	ck_assert_msg(b.status == 503, "b: %s %d", httpc_strerror(b.err), b.status);
	(void)w;
	buf_free(&a.body);
	buf_free(&b.body);
	httpc_free(hc);
	fw_stop(f);
	fw_stop(h);
}
END_TEST

/* ---------------------------------------------------------------- migration */

/* Fake OpenAI workers for stream migration: token i is the text "i,"; a
 * generation has OW_TOTAL tokens (finish "stop") unless max_tokens cuts
 * it ("length"); a continuation (chat: continue_final_message with the
 * text so far as the last message; completions: the prompt ending with
 * it) resumes at the token after the last one it holds, and its usage
 * counts its prompt as OW_PROMPT + those tokens, as an engine would. */
#define OW_TOTAL 12
#define OW_PROMPT 5

enum ow_mode {
	OW_OK,          /* answers whole */
	OW_CUT_FIRST,   /* a first request (not a continuation) is cut after cut_at tokens */
	OW_CUT_ALL,     /* every stream is cut after cut_at tokens */
	OW_PAUSE_FIRST, /* a first request pauses after cut_at tokens for 1 s */
	OW_NO_CONT,     /* like OW_CUT_FIRST, and a continuation gets a 400 */
};

struct ow {
	struct httpd *h;
	int port;
	enum ow_mode mode;
	int cut_at;
	char id[32];
	unsigned requests, continuations;
};

struct ow_stream {
	struct ow *o;
	struct httpd_req *req;
	struct event *ev;
	bool chat, usage;
	int k, next, end;   /* first token, next token, end (exclusive) */
	int sent;           /* tokens this worker sent */
	int cut_at;         /* < 0: never */
	bool paused_once;
	bool role_sent;
	char finish[8];
};

static int ow_live;

static void ows_free(struct ow_stream *s)
{
	event_free(s->ev);
	free(s);
	ow_live--;
}

static void ows_close(struct httpd_req *req, void *arg)
{
	(void)req;
	struct ow_stream *s = arg;
	httpd_stream_abort(s->req);
	ows_free(s);
}

static void ows_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ow_stream *s = arg;
	struct ow *o = s->o;
	char ev[512];
	int n;
	if (s->sent == s->cut_at && o->mode == OW_PAUSE_FIRST && !s->paused_once) {
		s->paused_once = true;
		struct timeval tv = {1, 0};
		event_add(s->ev, &tv);
		return;
	}
	if (s->sent == s->cut_at && o->mode != OW_PAUSE_FIRST) {
		httpd_req_on_close(s->req, NULL, NULL);
		httpd_stream_abort(s->req);
		ows_free(s);
		return;
	}
	if (s->chat && !s->role_sent) {
		s->role_sent = true;
		n = snprintf(ev, sizeof ev,
			     "data: {\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion.chunk\","
			     "\"created\":%d,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
			     "\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
			     o->id, o->port);
		httpd_stream_write(s->req, ev, (size_t)n);
	} else if (s->next < s->end) {
		int i = s->next++;
		bool last = s->next == s->end;
		char fin[32];
		snprintf(fin, sizeof fin, last ? "\"%s\"" : "null", s->finish);
		if (s->chat)
			n = snprintf(ev, sizeof ev,
				     "data: {\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion.chunk\","
				     "\"created\":%d,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
				     "{\"content\":\"%d,\"},\"logprobs\":null,\"finish_reason\":%s}]}\n\n",
				     o->id, o->port, i, fin);
		else
			n = snprintf(ev, sizeof ev,
				     "data: {\"id\":\"cmpl-%s\",\"object\":\"text_completion\",\"created\":%d,"
				     "\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"%d,\",\"logprobs\":"
				     "null,\"finish_reason\":%s}]}\n\n",
				     o->id, o->port, i, fin);
		httpd_stream_write(s->req, ev, (size_t)n);
		s->sent++;
	} else {
		if (s->usage) {
			int c = s->end - s->k, p = OW_PROMPT + s->k;
			n = snprintf(ev, sizeof ev,
				     "data: {\"id\":\"x-%s\",\"object\":\"x\",\"created\":%d,\"model\":\"m\","
				     "\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d,"
				     "\"completion_tokens\":%d}}\n\n",
				     o->id, o->port, p, p + c, c);
			httpd_stream_write(s->req, ev, (size_t)n);
		}
		httpd_stream_write(s->req, "data: [DONE]\n\n", 14);
		httpd_req_on_close(s->req, NULL, NULL);
		httpd_stream_end(s->req);
		ows_free(s);
		return;
	}
	struct timeval tv = {0, 5000};
	event_add(s->ev, &tv);
}

static void ow_handler(struct httpd_req *req, void *arg)
{
	struct ow *o = arg;
	size_t len;
	const char *body = httpd_req_body(req, &len);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j = json_tokener_parse_ex(tok, body, (int)len), *v;
	json_tokener_free(tok);
	ck_assert_msg(j != NULL, "the proxy sent a body that is not JSON: %.*s", (int)len, body);
	o->requests++;
	struct ow_stream *s = calloc(1, sizeof *s);
	s->o = o;
	s->req = req;
	s->chat = strcmp(httpd_req_path(req), "/v1/chat/completions") == 0;
	/* Every request reaches the worker as a stream (assembled answers too). */
	ck_assert(json_object_object_get_ex(j, "stream", &v) && json_object_get_boolean(v));
	s->usage = json_object_object_get_ex(j, "stream_options", &v) &&
		   json_object_object_get_ex(v, "include_usage", &v) && json_object_get_boolean(v);
	const char *open = "";
	if (s->chat) {
		struct json_object *msgs, *last, *c;
		json_object_object_get_ex(j, "messages", &msgs);
		last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
		if (json_object_object_get_ex(j, "continue_final_message", &v) &&
		    json_object_get_boolean(v)) {
			ck_assert(json_object_object_get_ex(j, "add_generation_prompt", &v) &&
				  !json_object_get_boolean(v));
			json_object_object_get_ex(last, "content", &c);
			open = json_object_get_string(c);
		}
	} else {
		json_object_object_get_ex(j, "prompt", &v);
		open = json_object_get_string(v);
	}
	for (const char *p = open; *p; p++)
		s->k += *p == ',';
	if (s->k)
		o->continuations++;
	int total = OW_TOTAL;
	snprintf(s->finish, sizeof s->finish, "stop");
	if (json_object_object_get_ex(j, "max_tokens", &v) && s->k + json_object_get_int(v) < total) {
		total = s->k + json_object_get_int(v);
		snprintf(s->finish, sizeof s->finish, "length");
	}
	json_object_put(j);
	if (o->mode == OW_NO_CONT && s->k) {
		static const char e400[] =
			"{\"error\":{\"message\":\"continue_final_message \xff unsupported\"}}";
		free(s);
		httpd_reply(req, 400, "application/json", e400, sizeof e400 - 1);
		return;
	}
	s->next = s->k;
	s->end = total;
	s->cut_at = o->mode == OW_CUT_ALL ||
			    ((o->mode == OW_CUT_FIRST || o->mode == OW_PAUSE_FIRST || o->mode == OW_NO_CONT) &&
			     !s->k)
			    ? o->cut_at : -1;
	s->ev = evtimer_new(base, ows_tick, s);
	ow_live++;
	httpd_req_on_close(req, ows_close, s);
	httpd_stream_start(req, 200, "text/event-stream");
	ows_tick(-1, 0, s);
}

static struct ow *ow_start(const char *id, enum ow_mode mode, int cut_at, const char *model)
{
	struct ow *o = calloc(1, sizeof *o);
	char err[256];
	o->mode = mode;
	o->cut_at = cut_at;
	snprintf(o->id, sizeof o->id, "%s", id);
	o->h = httpd_new(base, NULL, ow_handler, o);
	ck_assert_int_eq(httpd_listen(o->h, "127.0.0.1", 0, err, sizeof err), 0);
	o->port = httpd_port(o->h);
	struct fw f = {.port = o->port};
	snprintf(f.id, sizeof f.id, "%s", id);
	fw_register(&f, model);
	return o;
}

static void ow_stop(struct ow *o)
{
	httpd_free(o->h);
	free(o);
}

static void start_body(struct httpc *hc, struct call *c, const char *path, const char *body)
{
	char u[128];
	snprintf(u, sizeof u, "%s%s", url, path);
	struct httpc_header h[] = {{"Content-Type", "application/json"}};
	struct httpc_request rq = {
		.method = "POST", .url = u, .headers = h, .nheaders = 1, .body = body,
		.body_len = strlen(body), .total_timeout_ms = 20000, .on_head = c_head,
		.on_body = c_body, .on_done = c_done, .arg = c,
	};
	char err[128];
	c->cancel_after = -1;
	c->req = httpc_start(hc, &rq, err, sizeof err);
	ck_assert_ptr_nonnull(c->req);
	calls_open++;
}

/* What a client's event stream held. */
struct seen {
	char text[256];
	char finish[16];
	int roles, dones, errors, events;
	char ids[4][64];   /* distinct ids */
	int nids;
	long long created;
	int created_kinds;
	int usage_p, usage_c, usage_t; /* -1: no usage */
	char error[512];
	bool done_last;
};

static void see(const struct buf *b, struct seen *s)
{
	memset(s, 0, sizeof *s);
	s->usage_p = s->usage_c = s->usage_t = -1;
	ck_assert_ptr_nonnull(b->data);
	char *copy = strdup(b->data), *save = NULL;
	long long created0 = -1;
	for (char *ev = strtok_r(copy, "\n", &save); ev; ev = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(strncmp(ev, "data: ", 6) == 0, "not a data line: %s", ev);
		s->done_last = false;
		if (strcmp(ev + 6, "[DONE]") == 0) {
			s->dones++;
			s->done_last = true;
			continue;
		}
		s->events++;
		struct json_object *o = json_tokener_parse(ev + 6), *v, *ch, *d;
		ck_assert_msg(o != NULL, "an event is not JSON: %s", ev);
		if (json_object_object_get_ex(o, "error", &v)) {
			s->errors++;
			snprintf(s->error, sizeof s->error, "%s",
				 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
			continue;
		}
		json_object_object_get_ex(o, "id", &v);
		const char *id = json_object_get_string(v);
		int i;
		for (i = 0; i < s->nids && strcmp(s->ids[i], id) != 0; i++)
			;
		if (i == s->nids && s->nids < 4)
			snprintf(s->ids[s->nids++], sizeof s->ids[0], "%s", id);
		json_object_object_get_ex(o, "created", &v);
		if (json_object_get_int64(v) != created0) {
			created0 = json_object_get_int64(v);
			s->created_kinds++;
			s->created = created0;
		}
		if (json_object_object_get_ex(o, "usage", &v) && !json_object_is_type(v, json_type_null)) {
			struct json_object *x;
			json_object_object_get_ex(v, "prompt_tokens", &x);
			s->usage_p = json_object_get_int(x);
			json_object_object_get_ex(v, "completion_tokens", &x);
			s->usage_c = json_object_get_int(x);
			json_object_object_get_ex(v, "total_tokens", &x);
			s->usage_t = json_object_get_int(x);
		}
		json_object_object_get_ex(o, "choices", &v);
		if (json_object_array_length(v)) {
			ch = json_object_array_get_idx(v, 0);
			if (json_object_object_get_ex(ch, "delta", &d)) {
				if (json_object_object_get_ex(d, "role", &v))
					s->roles++;
				if (json_object_object_get_ex(d, "content", &v))
					strncat(s->text, json_object_get_string(v),
						sizeof s->text - strlen(s->text) - 1);
			} else if (json_object_object_get_ex(ch, "text", &v)) {
				strncat(s->text, json_object_get_string(v), sizeof s->text - strlen(s->text) - 1);
			}
			if (json_object_object_get_ex(ch, "finish_reason", &v) &&
			    !json_object_is_type(v, json_type_null))
				snprintf(s->finish, sizeof s->finish, "%s", json_object_get_string(v));
		}
		json_object_put(o);
	}
	free(copy);
}

static const char *want_text(int n)
{
	static char t[256];
	t[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(t + strlen(t), sizeof t - strlen(t), "%d,", i);
	return t;
}

static unsigned long long metric_value(const char *series)
{
	char *m = metrics();
	const char *l = strstr(m, series);
	unsigned long long v = l ? strtoull(l + strlen(series) + 1, NULL, 10) : 0;
	free(m);
	return v;
}

static void migrate_setup(void)
{
	migrate_on = true;
	setup();
	ow_live = 0;
	cfg.proxy.stream_idle_timeout_ms = 3000;
}

static void migrate_teardown(void)
{
	teardown();
	migrate_on = false;
}

START_TEST(test_migrate_streams)
{
	/* Two workers; whichever takes a request cuts it after 4 tokens, and
	 * the other one continues it. Streams of chat and completions, with and
	 * without usage, and max_tokens: each client sees one response. */
	struct ow *a = ow_start("1.n1.0", OW_CUT_FIRST, 4, "m"),
		  *b = ow_start("1.n2.0", OW_CUT_FIRST, 4, "m");
	struct httpc *hc = httpc_new(base, NULL);
	static const struct {
		const char *path, *body;
		int tokens;
		const char *finish;
		bool usage;
	} cases[] = {
		{"/v1/chat/completions",
		 "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
		 "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
		 OW_TOTAL, "stop", true},
		{"/v1/chat/completions",
		 "{\"model\":\"m\",\"stream\":true,\"max_tokens\":9,\"messages\":[{\"role\":\"user\","
		 "\"content\":\"q\"}]}",
		 9, "length", false},
		{"/v1/completions",
		 "{\"model\":\"m\",\"stream\":true,\"prompt\":\"q:\",\"max_tokens\":7,"
		 "\"stream_options\":{\"include_usage\":true}}",
		 7, "length", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct call c;
		memset(&c, 0, sizeof c);
		start_body(hc, &c, cases[i].path, cases[i].body);
		run_calls(10);
		ck_assert_int_eq(c.err, HTTPC_OK);
		ck_assert_int_eq(c.status, 200);
		struct seen s;
		see(&c.body, &s);
		ck_assert_msg(s.errors == 0, "case %zu: %s", i, s.error);
		ck_assert_str_eq(s.text, want_text(cases[i].tokens));
		ck_assert_str_eq(s.finish, cases[i].finish);
		ck_assert_int_eq(s.dones, 1);
		ck_assert(s.done_last);
		ck_assert_int_eq(s.nids, 1); /* the first worker's id throughout */
		ck_assert_int_eq(s.created_kinds, 1);
		ck_assert(strstr(s.ids[0], c.worker) != NULL);
		if (cases[i].path[4] == 'c' && cases[i].path[5] == 'h')
			ck_assert_int_eq(s.roles, 1);
		if (cases[i].usage) {
			ck_assert_int_eq(s.usage_p, OW_PROMPT);
			ck_assert_int_eq(s.usage_c, cases[i].tokens);
			ck_assert_int_eq(s.usage_t, OW_PROMPT + cases[i].tokens);
		} else {
			ck_assert_int_eq(s.usage_p, -1);
		}
		buf_free(&c.body);
	}
	ck_assert_uint_eq(a->continuations + b->continuations, 3);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"ok\"}"), 3);
	run_for(50);
	ck_assert_int_eq(ow_live, 0);
	ck_assert_uint_eq(reg_workers_find(&reg->workers, "1.n1.0")->inflight, 0);
	ck_assert_uint_eq(reg_workers_find(&reg->workers, "1.n2.0")->inflight, 0);
	httpc_free(hc);
	ow_stop(a);
	ow_stop(b);
}
END_TEST

START_TEST(test_migrate_assembled)
{
	/* Non-streamed requests go upstream as streams: the answer assembled
	 * from both workers' parts, in vLLM's shape, with the usage of the
	 * whole generation. */
	struct ow *a = ow_start("2.n1.0", OW_CUT_FIRST, 3, "m"),
		  *b = ow_start("2.n2.0", OW_CUT_FIRST, 3, "m");
	struct httpc *hc = httpc_new(base, NULL);
	for (int chat = 0; chat < 2; chat++) {
		struct call c;
		memset(&c, 0, sizeof c);
		start_body(hc, &c, chat ? "/v1/chat/completions" : "/v1/completions",
			   chat ? "{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\","
				  "\"content\":\"q\"}]}"
				: "{\"model\":\"m\",\"prompt\":\"q:\",\"stream\":false}");
		run_calls(10);
		ck_assert_int_eq(c.status, 200);
		struct json_object *o = json_tokener_parse(c.body.data), *v, *ch;
		ck_assert_msg(o != NULL, "%s", c.body.data);
		json_object_object_get_ex(o, "object", &v);
		ck_assert_str_eq(json_object_get_string(v), chat ? "chat.completion" : "text_completion");
		json_object_object_get_ex(o, "id", &v);
		ck_assert(strstr(json_object_get_string(v), c.worker) != NULL);
		json_object_object_get_ex(o, "choices", &v);
		ch = json_object_array_get_idx(v, 0);
		if (chat) {
			json_object_object_get_ex(ch, "message", &v);
			json_object_object_get_ex(v, "content", &v);
		} else {
			json_object_object_get_ex(ch, "text", &v);
		}
		int n = chat ? 8 : OW_TOTAL;
		ck_assert_str_eq(json_object_get_string(v), want_text(n));
		json_object_object_get_ex(ch, "finish_reason", &v);
		ck_assert_str_eq(json_object_get_string(v), chat ? "length" : "stop");
		json_object_object_get_ex(o, "usage", &v);
		struct json_object *x;
		json_object_object_get_ex(v, "prompt_tokens", &x);
		ck_assert_int_eq(json_object_get_int(x), OW_PROMPT);
		json_object_object_get_ex(v, "completion_tokens", &x);
		ck_assert_int_eq(json_object_get_int(x), n);
		json_object_put(o);
		buf_free(&c.body);
	}
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"ok\"}"), 2);
	run_for(50);
	ck_assert_int_eq(ow_live, 0);
	httpc_free(hc);
	ow_stop(a);
	ow_stop(b);
}
END_TEST

START_TEST(test_migrate_limits)
{
	/* Workers that cut every stream after 2 tokens: two migrations, then
	 * an error event and [DONE], what came before kept. */
	struct ow *o[4];
	for (int i = 0; i < 4; i++) {
		char id[32];
		snprintf(id, sizeof id, "3.n%d.0", i + 1);
		o[i] = ow_start(id, OW_CUT_ALL, 2, "m");
	}
	struct httpc *hc = httpc_new(base, NULL);
	struct call c;
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/completions", "{\"model\":\"m\",\"stream\":true,\"prompt\":\"q:\"}");
	run_calls(10);
	ck_assert_int_eq(c.err, HTTPC_OK); /* a whole response, not a cut one */
	struct seen s;
	see(&c.body, &s);
	ck_assert_str_eq(s.text, want_text(6));
	ck_assert_int_eq(s.errors, 1);
	ck_assert_ptr_nonnull(strstr(s.error, "2 migrations made already (max_migrations)"));
	ck_assert_ptr_nonnull(strstr(s.error, "\"code\":502"));
	ck_assert_int_eq(s.dones, 1);
	ck_assert(s.done_last);
	buf_free(&c.body);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"ok\"}"), 2);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"refused\"}"), 1);
	ck_assert_uint_eq(metric_value("elastic_proxy_errors_total{pool=\"m\",cause=\"stream_cut\"}"), 1);

	/* A request that cannot migrate (logprobs) ends the same way at once. */
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/chat/completions",
		   "{\"model\":\"m\",\"stream\":true,\"logprobs\":true,\"messages\":[]}");
	run_calls(10);
	see(&c.body, &s);
	ck_assert_str_eq(s.text, want_text(2));
	ck_assert_int_eq(s.errors, 1);
	ck_assert_ptr_nonnull(strstr(s.error, "cannot be migrated (logprobs)"));
	ck_assert(s.done_last);
	buf_free(&c.body);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"refused\"}"), 2);

	/* max_migrations = 0: none. */
	cfg.proxy.max_migrations = 0;
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}");
	run_calls(10);
	see(&c.body, &s);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_ptr_nonnull(strstr(s.error, "0 migrations made already"));
	buf_free(&c.body);
	/* A non-streamed one that cannot continue gets a 502 in JSON. */
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}");
	run_calls(10);
	ck_assert_int_eq(c.status, 502);
	ck_assert_ptr_nonnull(strstr(c.body.data, "max_migrations"));
	buf_free(&c.body);
	run_for(50);
	ck_assert_int_eq(ow_live, 0);
	for (int i = 0; i < 4; i++) {
		char id[32];
		snprintf(id, sizeof id, "3.n%d.0", i + 1);
		ck_assert_uint_eq(reg_workers_find(&reg->workers, id)->inflight, 0);
	}
	httpc_free(hc);
	for (int i = 0; i < 4; i++)
		ow_stop(o[i]);
}
END_TEST

START_TEST(test_migrate_no_other_worker)
{
	/* The only worker cut the stream: a continuation never goes back to a
	 * worker that failed the request; after wait_for_worker, an error event. */
	struct ow *a = ow_start("4.n1.0", OW_CUT_FIRST, 3, "m");
	struct httpc *hc = httpc_new(base, NULL);
	struct call c;
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}");
	run_calls(10);
	struct seen s;
	see(&c.body, &s);
	ck_assert_str_eq(s.text, want_text(3));
	ck_assert_int_eq(s.errors, 1);
	ck_assert_ptr_nonnull(strstr(s.error, "no other worker of model m could continue it"));
	ck_assert_ptr_nonnull(strstr(s.error, "\"code\":503"));
	ck_assert_uint_eq(a->continuations, 0);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"failed\"}"), 1);
	buf_free(&c.body);
	run_for(50);
	ck_assert_int_eq(ow_live, 0);
	httpc_free(hc);
	ow_stop(a);
}
END_TEST

START_TEST(test_migrate_continuation_refused)
{
	/* The other worker refuses the continuation (an engine without
	 * continue_final_message): the stream ends with an error event that
	 * says so, its bytes made printable. */
	struct ow *a = ow_start("6.n1.0", OW_NO_CONT, 3, "m"), *b = ow_start("6.n2.0", OW_NO_CONT, 3, "m");
	struct httpc *hc = httpc_new(base, NULL);
	struct call c;
	memset(&c, 0, sizeof c);
	start_body(hc, &c, "/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}");
	run_calls(10);
	ck_assert_int_eq(c.err, HTTPC_OK);
	struct seen s;
	see(&c.body, &s);
	ck_assert_str_eq(s.text, want_text(3));
	ck_assert_int_eq(s.errors, 1);
	ck_assert_msg(strstr(s.error, "answered 400 to its continuation") &&
			      strstr(s.error, "continue_final_message ? unsupported"),
		      "%s", s.error);
	ck_assert(s.done_last);
	ck_assert_uint_eq(metric_value("elastic_proxy_migrations_total{pool=\"m\",outcome=\"failed\"}"), 1);
	buf_free(&c.body);
	run_for(50);
	ck_assert_int_eq(ow_live, 0);
	httpc_free(hc);
	ow_stop(a);
	ow_stop(b);
}
END_TEST

/* Runs the loop until call C has N bytes of body or more. */
static void run_until_body(struct call *c, size_t n)
{
	for (int i = 0; i < 400 && c->body.len < n && !c->done; i++)
		run_for(5);
	ck_assert_uint_ge(c->body.len, n);
}

START_TEST(test_migrate_worker_gone)
{
	/* The worker pauses mid-stream (1 s, less than the stream idle
	 * timeout) and leaves the registry meanwhile: evicted, its stream moves
	 * at once; deregistered for a drain (sigterm), it finishes its stream. */
	for (int drain = 0; drain < 2; drain++) {
		struct ow *a = ow_start(drain ? "5.n3.0" : "5.n1.0", OW_PAUSE_FIRST, 3, "g"),
			  *b = ow_start(drain ? "5.n4.0" : "5.n2.0", OW_PAUSE_FIRST, 3, "g");
		struct httpc *hc = httpc_new(base, NULL);
		struct call c;
		memset(&c, 0, sizeof c);
		start_body(hc, &c, "/v1/chat/completions",
			   "{\"model\":\"g\",\"stream\":true,\"messages\":[]}");
		/* The role chunk and 3 tokens. */
		run_until_body(&c, 4 * 150);
		ck_assert_int_eq(c.done, 0);
		struct reg_worker *w = reg_workers_find(&reg->workers, c.worker);
		int64_t t0 = reg_mono_ms();
		if (drain)
			reg_workers_apply(&reg->workers, w, REG_WEV_DEREGISTER, "sigterm", reg_now(),
					  reg_mono_ms());
		else
			reg_workers_apply(&reg->workers, w, REG_WEV_EVICT, "heartbeat_timeout", reg_now(),
					  reg_mono_ms());
		run_calls(10);
		int64_t ms = reg_mono_ms() - t0;
		struct seen s;
		see(&c.body, &s);
		ck_assert_msg(s.errors == 0, "%s", s.error);
		ck_assert_str_eq(s.text, want_text(OW_TOTAL));
		ck_assert_int_eq(s.nids, 1);
		unsigned long long moved =
			metric_value("elastic_proxy_migrations_total{pool=\"g\",outcome=\"ok\"}");
		if (drain) {
			ck_assert_uint_eq(moved, 1); /* the eviction's, before */
			ck_assert_uint_eq(a->continuations + b->continuations, 0);
			ck_assert_int_ge(ms, 800); /* it waited for the pause */
		} else {
			ck_assert_uint_eq(moved, 1);
			ck_assert_uint_eq(a->continuations + b->continuations, 1);
			ck_assert_int_lt(ms, 700); /* not after the pause */
		}
		buf_free(&c.body);
		run_for(50);
		ck_assert_int_eq(ow_live, 0);
		ck_assert_uint_eq(w->inflight, 0);
		httpc_free(hc);
		ow_stop(a);
		ow_stop(b);
	}
}
END_TEST

Suite *suite_proxy(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_faults_hidden_and_no_leak);
	tcase_add_test(tc, test_retries_avoid_flaky_workers);
	tcase_add_test(tc, test_prefix_credit_only_answers);
	tcase_add_test(tc, test_garbage_retried);
	tcase_add_test(tc, test_garbage_only);
	tcase_add_test(tc, test_stream_cut_and_no_leak);
	tcase_add_test(tc, test_wait_for_worker);
	tcase_add_test(tc, test_shutdown_ends_everything);
	suite_add_tcase(s, tc);
	tc = tcase_create("migrate");
	tcase_add_checked_fixture(tc, migrate_setup, migrate_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_migrate_streams);
	tcase_add_test(tc, test_migrate_assembled);
	tcase_add_test(tc, test_migrate_limits);
	tcase_add_test(tc, test_migrate_no_other_worker);
	tcase_add_test(tc, test_migrate_worker_gone);
	tcase_add_test(tc, test_migrate_continuation_refused);
	suite_add_tcase(s, tc);
	return s;
}
