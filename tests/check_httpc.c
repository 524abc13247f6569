/* check_httpc.c — lib/httpc against lib/httpd and scripted raw servers,
 * all on one event_base over loopback.
 *
 * The httpd server routes by path (/hello, /echo, /stream, /big, /stall,
 * /never...). A raw server answers each request head it reads with what
 * the test's script function writes, so that malformed, early-closing and
 * 100-continue responses can be produced.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "httpc.h"
#include "httpd.h"

/* ---------------------------------------------------------------- fixture */

static struct event_base *hc_base;
static struct httpd *hc_srv;
static struct httpc *hc_cli;
static int hc_port;
static struct event *hc_guard; /* fails a test that hangs */

struct hc_result {
	int done;        /* on_done calls */
	int err;
	int status;
	int heads;       /* on_head calls */
	struct buf body; /* collected (or streamed) body */
	int pieces;      /* on_body calls */
	char errmsg[256];
	char header[128]; /* value of X-Test, if any */
};

static void hc_guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(hc_base);
}

/* Runs the loop until *FLAG becomes nonzero (or 5 s pass). */
static void hc_run_until(int *flag)
{
	struct timeval tv = {5, 0};
	evtimer_add(hc_guard, &tv);
	while (!*flag) {
		if (event_base_loop(hc_base, EVLOOP_ONCE) < 0)
			break;
		if (!evtimer_pending(hc_guard, NULL))
			break;
	}
	evtimer_del(hc_guard);
	ck_assert_msg(*flag, "timed out waiting for the loop");
}

/* Runs the loop until *COUNTER reaches N (or 5 s pass). */
static void hc_run_until_n(int *counter, int n)
{
	struct timeval tv = {5, 0};
	evtimer_add(hc_guard, &tv);
	while (*counter < n) {
		if (event_base_loop(hc_base, EVLOOP_ONCE) < 0)
			break;
		if (!evtimer_pending(hc_guard, NULL))
			break;
	}
	evtimer_del(hc_guard);
	ck_assert_msg(*counter >= n, "timed out waiting for the loop");
}

/* Runs the loop for MS milliseconds. */
static void hc_run_for(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(hc_base, &tv);
	event_base_dispatch(hc_base);
}

static void hc_on_head(struct httpc_req *req, const struct httpc_resp *resp, void *arg)
{
	(void)req;
	struct hc_result *r = arg;
	r->heads++;
	r->status = httpc_resp_status(resp);
	const char *x = httpc_resp_header(resp, "x-test");
	if (x)
		snprintf(r->header, sizeof r->header, "%s", x);
}

static void hc_on_body(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	(void)req;
	struct hc_result *r = arg;
	r->pieces++;
	buf_append(&r->body, data, len);
}

static void hc_on_done(struct httpc_req *req, int err, const struct httpc_resp *resp,
		       void *arg)
{
	struct hc_result *r = arg;
	r->done++;
	r->err = err;
	snprintf(r->errmsg, sizeof r->errmsg, "%s", err ? httpc_req_errmsg(req) : "");
	if (resp) {
		r->status = httpc_resp_status(resp);
		size_t len;
		const char *b = httpc_resp_body(resp, &len);
		if (len)
			buf_append(&r->body, b, len);
	}
}

static struct httpc_req *hc_get(const char *path, struct hc_result *r, bool stream)
{
	char url[256], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hc_port, path);
	struct httpc_request rq = {
		.method = "GET", .url = url, .on_head = hc_on_head,
		.on_body = stream ? hc_on_body : NULL, .on_done = hc_on_done, .arg = r,
	};
	struct httpc_req *req = httpc_start(hc_cli, &rq, err, sizeof err);
	ck_assert_msg(req != NULL, "httpc_start: %s", err);
	return req;
}

/* ---------------------------------------------------------------- httpd side */

struct hc_stream {
	struct httpd_req *req;
	struct event *ev;
	int left;        /* chunks to send */
	size_t bytes;    /* /big: bytes to send */
	bool waiting;
};

static size_t hc_max_outbuf; /* /big: largest queue seen */
static int hc_srv_requests;

static void hc_stream_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hc_stream *s = arg;
	char line[32];
	int n = snprintf(line, sizeof line, "piece%d;", s->left);
	httpd_stream_write(s->req, line, (size_t)n);
	if (--s->left <= 0) {
		httpd_stream_end(s->req);
		event_free(s->ev);
		free(s);
		return;
	}
	struct timeval tv = {0, 10000};
	event_add(s->ev, &tv);
}

static void hc_big_pump(struct hc_stream *s);

static void hc_big_drain(struct httpd_req *req, void *arg)
{
	(void)req;
	struct hc_stream *s = arg;
	if (s->waiting) {
		s->waiting = false;
		hc_big_pump(s);
	}
}

static void hc_big_pump(struct hc_stream *s)
{
	static char block[65536];
	memset(block, 'b', sizeof block);
	while (s->bytes > 0) {
		size_t q = httpd_req_outbuf_len(s->req);
		if (q > hc_max_outbuf)
			hc_max_outbuf = q;
		if (q > 256 * 1024) {
			s->waiting = true;
			httpd_req_on_drain(s->req, 64 * 1024, hc_big_drain, s);
			return;
		}
		size_t n = s->bytes < sizeof block ? s->bytes : sizeof block;
		if (httpd_stream_write(s->req, block, n) < 0)
			break;
		s->bytes -= n;
	}
	httpd_stream_end(s->req);
	free(s);
}

static struct httpd_req *hc_parked; /* /never: a request left unanswered */

static void hc_stall_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd_req *req = arg;
	httpd_stream_write(req, "first", 5);
}

static void hc_handler(struct httpd_req *req, void *arg)
{
	(void)arg;
	const char *path = httpd_req_path(req);
	hc_srv_requests++;
	if (!strcmp(path, "/hello")) {
		httpd_add_header(req, "X-Test", "yes");
		httpd_reply(req, 200, "text/plain", "hello world", 11);
	} else if (!strcmp(path, "/echo")) {
		size_t len;
		const char *b = httpd_req_body(req, &len);
		struct buf out = BUF_INIT;
		buf_printf(&out, "%s %zu:", httpd_req_method(req), len);
		buf_append(&out, b, len);
		httpd_reply(req, 201, "text/plain", out.data, out.len);
		buf_free(&out);
	} else if (!strcmp(path, "/stream")) {
		struct hc_stream *s = calloc(1, sizeof *s);
		s->req = req;
		s->left = 5;
		s->ev = evtimer_new(hc_base, hc_stream_tick, s);
		httpd_stream_start(req, 200, "text/plain");
		struct timeval tv = {0, 1000};
		event_add(s->ev, &tv);
	} else if (!strcmp(path, "/big")) {
		struct hc_stream *s = calloc(1, sizeof *s);
		s->req = req;
		s->bytes = 4u << 20;
		httpd_stream_start(req, 200, "application/octet-stream");
		hc_big_pump(s);
	} else if (!strcmp(path, "/stall")) {
		httpd_stream_start(req, 200, "text/plain");
		struct timeval tv = {0, 1000};
		event_base_once(hc_base, -1, EV_TIMEOUT, hc_stall_tick, req, &tv);
		hc_parked = req;
	} else if (!strcmp(path, "/never")) {
		hc_parked = req;
	} else if (!strcmp(path, "/large")) {
		static char big[100000];
		memset(big, 'l', sizeof big);
		httpd_reply(req, 200, "text/plain", big, sizeof big);
	} else {
		httpd_reply(req, 404, "text/plain", "no\n", 3);
	}
}

static void hc_setup(void)
{
	char err[256];
	hc_base = event_base_new();
	hc_srv = httpd_new(hc_base, NULL, hc_handler, NULL);
	ck_assert_int_eq(httpd_listen(hc_srv, "127.0.0.1", 0, err, sizeof err), 0);
	hc_port = httpd_port(hc_srv);
	hc_cli = httpc_new(hc_base, NULL);
	hc_guard = evtimer_new(hc_base, hc_guard_cb, NULL);
	hc_parked = NULL;
	hc_srv_requests = 0;
	hc_max_outbuf = 0;
}

static void hc_teardown(void)
{
	httpc_free(hc_cli);
	if (hc_parked) {
		httpd_stream_end(hc_parked);
		hc_parked = NULL;
	}
	httpd_free(hc_srv);
	event_free(hc_guard);
	hc_run_for(1);
	event_base_free(hc_base);
}

static void hc_result_free(struct hc_result *r)
{
	buf_free(&r->body);
}

/* ---------------------------------------------------------------- raw server */

/* A scripted server: SCRIPT gets each complete request head (and the number
 * of the request on its connection, from 0) and answers on FD. */
typedef void (*hc_script_fn)(int fd, const char *head, int nth);

struct hc_raw_conn {
	int fd;
	struct event *ev;
	struct buf in;
	int nth;
};

static int hc_raw_port;
static int hc_raw_accepts;
static hc_script_fn hc_script;
static int hc_raw_lfd = -1;
static struct event *hc_raw_lev;

static void hc_raw_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct hc_raw_conn *rc = arg;
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof tmp);
	if (n <= 0) {
		event_free(rc->ev);
		close(rc->fd);
		buf_free(&rc->in);
		free(rc);
		return;
	}
	buf_append(&rc->in, tmp, (size_t)n);
	char *end;
	while (rc->in.len && (end = strstr(rc->in.data, "\r\n\r\n"))) {
		size_t hl = (size_t)(end - rc->in.data) + 4;
		char *head = strndup(rc->in.data, hl);
		memmove(rc->in.data, rc->in.data + hl, rc->in.len - hl + 1);
		rc->in.len -= hl;
		hc_script(fd, head, rc->nth++);
		free(head);
	}
}

static void hc_raw_accept(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	hc_raw_accepts++;
	struct hc_raw_conn *rc = calloc(1, sizeof *rc);
	rc->fd = cfd;
	rc->ev = event_new(hc_base, cfd, EV_READ | EV_PERSIST, hc_raw_read, rc);
	event_add(rc->ev, NULL);
}

static void hc_raw_start(hc_script_fn fn)
{
	hc_script = fn;
	hc_raw_accepts = 0;
	hc_raw_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(hc_raw_lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(hc_raw_lfd, 16), 0);
	socklen_t len = sizeof sa;
	getsockname(hc_raw_lfd, (struct sockaddr *)&sa, &len);
	hc_raw_port = ntohs(sa.sin_port);
	hc_raw_lev = event_new(hc_base, hc_raw_lfd, EV_READ | EV_PERSIST, hc_raw_accept, NULL);
	event_add(hc_raw_lev, NULL);
}

static void hc_raw_stop(void)
{
	event_free(hc_raw_lev);
	close(hc_raw_lfd);
	hc_raw_lfd = -1;
}

static void hc_write(int fd, const char *s)
{
	size_t len = strlen(s);
	ck_assert_int_eq(write(fd, s, len), (ssize_t)len);
}

static struct httpc_req *hc_raw_req(const char *method, const char *path, struct hc_result *r,
				    bool stream)
{
	char url[256], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hc_raw_port, path);
	struct httpc_request rq = {
		.method = method, .url = url, .on_head = hc_on_head,
		.on_body = stream ? hc_on_body : NULL, .on_done = hc_on_done, .arg = r,
		.total_timeout_ms = 3000,
	};
	struct httpc_req *req = httpc_start(hc_cli, &rq, err, sizeof err);
	ck_assert_msg(req != NULL, "httpc_start: %s", err);
	return req;
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_get_collect)
{
	hc_setup();
	struct hc_result r = {0};
	hc_get("/hello", &r, false);
	hc_run_until(&r.done);
	ck_assert_int_eq(r.err, HTTPC_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_str_eq(r.header, "yes");
	ck_assert_str_eq(r.body.data, "hello world");
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

/* Three requests one after another ride one connection. */
static int hc_chain_left;
static struct hc_result hc_chain_res;

static void hc_chain_done(struct httpc_req *req, int err, const struct httpc_resp *resp,
			  void *arg)
{
	hc_on_done(req, err, resp, arg);
	if (err == 0 && --hc_chain_left > 0) {
		char url[256], e[128];
		snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", hc_port);
		struct httpc_request rq = {.method = "GET", .url = url, .on_done = hc_chain_done,
					   .arg = arg};
		ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, e, sizeof e));
	}
}

START_TEST(test_keep_alive_reuse)
{
	hc_setup();
	memset(&hc_chain_res, 0, sizeof hc_chain_res);
	hc_chain_left = 3;
	char url[256], e[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_done = hc_chain_done,
				   .arg = &hc_chain_res};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, e, sizeof e));
	hc_run_until_n(&hc_chain_res.done, 3);
	ck_assert_int_eq(hc_chain_res.done, 3);
	ck_assert_int_eq(hc_chain_res.err, 0);
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.connects, 1);
	ck_assert_uint_eq(st.reused, 2);
	ck_assert_uint_eq(st.idle, 1);
	ck_assert_uint_eq(st.inflight, 0);
	hc_result_free(&hc_chain_res);
	hc_teardown();
}
END_TEST

START_TEST(test_post_body)
{
	hc_setup();
	struct hc_result r = {0}, r0 = {0};
	char url[256], err[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", hc_port);
	struct httpc_header h[] = {{"Content-Type", "application/json"}, {"Host", "evil"}};
	struct httpc_request rq = {.method = "POST", .url = url, .headers = h, .nheaders = 2,
				   .body = "{\"a\":1}", .body_len = 7, .on_done = hc_on_done,
				   .arg = &r};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	/* An empty POST still says Content-Length: 0. */
	struct httpc_request rq0 = {.method = "POST", .url = url, .on_done = hc_on_done,
				    .arg = &r0};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq0, err, sizeof err));
	hc_run_until(&r.done);
	hc_run_until(&r0.done);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body.data, "POST 7:{\"a\":1}");
	ck_assert_int_eq(r0.err, 0);
	ck_assert_str_eq(r0.body.data, "POST 0:");
	hc_result_free(&r);
	hc_result_free(&r0);
	hc_teardown();
}
END_TEST

START_TEST(test_streaming_chunks)
{
	hc_setup();
	struct hc_result r = {0};
	hc_get("/stream", &r, true);
	hc_run_until(&r.done);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body.data, "piece5;piece4;piece3;piece2;piece1;");
	ck_assert_int_ge(r.pieces, 5); /* each chunk arrived on its own */
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

/* Pausing stops reading: the server's queue fills; resuming drains it. */
static struct httpc_req *hc_pause_req;
static size_t hc_pause_seen;
static bool hc_paused_once;

static void hc_pause_body(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	hc_on_body(req, data, len, arg);
	hc_pause_seen += len;
	if (!hc_paused_once && hc_pause_seen > 100000) {
		hc_paused_once = true;
		httpc_pause(req);
	}
}

START_TEST(test_pause_resume)
{
	hc_setup();
	struct hc_result r = {0};
	char url[256], err[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/big", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_body = hc_pause_body,
				   .on_done = hc_on_done, .arg = &r, .read_timeout_ms = 100};
	hc_pause_seen = 0;
	hc_paused_once = false;
	hc_pause_req = httpc_start(hc_cli, &rq, err, sizeof err);
	ck_assert_ptr_nonnull(hc_pause_req);
	while (!hc_paused_once)
		event_base_loop(hc_base, EVLOOP_ONCE);
	size_t at_pause = r.body.len;
	/* Paused for longer than the read timeout: no timeout, no bytes. */
	hc_run_for(300);
	ck_assert_int_eq(r.done, 0);
	ck_assert_uint_eq(r.body.len, at_pause);
	ck_assert_uint_gt(hc_max_outbuf, 256 * 1024); /* the server had to wait */
	httpc_resume(hc_pause_req);
	hc_run_until(&r.done);
	ck_assert_msg(r.err == 0, "%s", r.errmsg);
	ck_assert_uint_eq(r.body.len, 4u << 20);
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

START_TEST(test_connect_refused)
{
	hc_setup();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd); /* nothing listens there now */
	struct hc_result r = {0};
	char url[256], err[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	struct httpc_request rq = {.method = "GET", .url = url, .on_head = hc_on_head,
				   .on_done = hc_on_done, .arg = &r};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	ck_assert_int_eq(r.done, 0); /* never inside httpc_start */
	hc_run_until(&r.done);
	ck_assert_int_eq(r.err, HTTPC_ECONNECT);
	ck_assert_int_eq(r.heads, 0);
	ck_assert_ptr_nonnull(strstr(r.errmsg, "refused"));
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.open, 0);
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

START_TEST(test_timeouts)
{
	hc_setup();
	char url[256], err[128];
	/* No response head in time. */
	struct hc_result r1 = {0};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/never", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_done = hc_on_done,
				   .arg = &r1, .response_timeout_ms = 100};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	hc_run_until(&r1.done);
	ck_assert_int_eq(r1.err, HTTPC_ETIMEOUT_RESPONSE);
	httpd_reply(hc_parked, 200, NULL, "", 0);
	hc_parked = NULL;

	/* The whole exchange too long. */
	struct hc_result r2 = {0};
	struct httpc_request rq2 = {.method = "GET", .url = url, .on_done = hc_on_done,
				    .arg = &r2, .total_timeout_ms = 150};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq2, err, sizeof err));
	hc_run_until(&r2.done);
	ck_assert_int_eq(r2.err, HTTPC_ETIMEOUT_TOTAL);
	httpd_reply(hc_parked, 200, NULL, "", 0);
	hc_parked = NULL;

	/* The body stalls after its first bytes. */
	struct hc_result r3 = {0};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/stall", hc_port);
	struct httpc_request rq3 = {.method = "GET", .url = url, .on_head = hc_on_head,
				    .on_body = hc_on_body, .on_done = hc_on_done, .arg = &r3,
				    .read_timeout_ms = 150};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq3, err, sizeof err));
	hc_run_until(&r3.done);
	ck_assert_int_eq(r3.err, HTTPC_ETIMEOUT_READ);
	ck_assert_int_eq(r3.heads, 1);
	ck_assert_str_eq(r3.body.data, "first");
	hc_result_free(&r1);
	hc_result_free(&r2);
	hc_result_free(&r3);
	hc_teardown();
}
END_TEST

/* Cancelling inside on_head: nothing more is called, the connection goes. */
static void hc_cancel_head(struct httpc_req *req, const struct httpc_resp *resp, void *arg)
{
	hc_on_head(req, resp, arg);
	httpc_cancel(req);
}

static void hc_cancel_body(struct httpc_req *req, const char *data, size_t len, void *arg)
{
	hc_on_body(req, data, len, arg);
	httpc_cancel(req);
	httpc_cancel(req); /* twice is harmless */
}

START_TEST(test_cancel)
{
	hc_setup();
	char url[256], err[128];
	struct hc_result r1 = {0}, r2 = {0}, r3 = {0};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/stream", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_head = hc_cancel_head,
				   .on_body = hc_on_body, .on_done = hc_on_done, .arg = &r1};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	struct httpc_request rq2 = {.method = "GET", .url = url, .on_body = hc_cancel_body,
				    .on_done = hc_on_done, .arg = &r2};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq2, err, sizeof err));
	/* Cancelled before it ever ran. */
	struct httpc_request rq3 = {.method = "GET", .url = url, .on_head = hc_on_head,
				    .on_done = hc_on_done, .arg = &r3};
	struct httpc_req *q3 = httpc_start(hc_cli, &rq3, err, sizeof err);
	httpc_cancel(q3);
	hc_run_for(200);
	ck_assert_int_eq(r1.heads, 1);
	ck_assert_int_eq(r1.pieces, 0);
	ck_assert_int_eq(r1.done, 0);
	ck_assert_int_eq(r2.pieces, 1);
	ck_assert_int_eq(r2.done, 0);
	ck_assert_int_eq(r3.heads + r3.done, 0);
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.open, 0);
	hc_result_free(&r1);
	hc_result_free(&r2);
	hc_result_free(&r3);
	hc_teardown();
}
END_TEST

START_TEST(test_max_body)
{
	hc_setup();
	char url[256], err[128];
	struct hc_result r = {0};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/large", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_done = hc_on_done, .arg = &r,
				   .max_body = 1000};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	hc_run_until(&r.done);
	ck_assert_int_eq(r.err, HTTPC_ETOOBIG);
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

START_TEST(test_max_conns_queue)
{
	hc_setup();
	httpc_free(hc_cli);
	struct httpc_config cfg;
	httpc_config_init(&cfg);
	cfg.max_conns_per_host = 1;
	hc_cli = httpc_new(hc_base, &cfg);
	struct hc_result r[4] = {{0}};
	for (int i = 0; i < 4; i++)
		hc_get("/hello", &r[i], false);
	for (int i = 0; i < 4; i++) {
		hc_run_until(&r[i].done);
		ck_assert_int_eq(r[i].err, 0);
		ck_assert_str_eq(r[i].body.data, "hello world");
		hc_result_free(&r[i]);
	}
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.connects, 1);
	ck_assert_uint_eq(st.reused, 3);
	hc_teardown();
}
END_TEST

START_TEST(test_bad_requests)
{
	hc_setup();
	char err[128];
	const char *bad[] = {"https://x/", "http://", "http://host:99999/", "http://ho st/",
			     "http://u@host/", "ftp://x", "http://[::1/", "http://h:/",
			     "http://h/a b", NULL};
	for (int i = 0; bad[i]; i++) {
		struct httpc_request rq = {.method = "GET", .url = bad[i]};
		ck_assert_msg(httpc_start(hc_cli, &rq, err, sizeof err) == NULL, "%s accepted",
			      bad[i]);
	}
	struct httpc_header h = {"X-Bad", "a\r\nInjected: 1"};
	struct httpc_request rq = {.method = "GET", .url = "http://127.0.0.1/", .headers = &h,
				   .nheaders = 1};
	ck_assert_ptr_null(httpc_start(hc_cli, &rq, err, sizeof err));
	struct httpc_request rq2 = {.method = "GE T", .url = "http://127.0.0.1/"};
	ck_assert_ptr_null(httpc_start(hc_cli, &rq2, err, sizeof err));
	hc_teardown();
}
END_TEST

START_TEST(test_resolve_name)
{
	hc_setup();
	struct hc_result r = {0};
	char url[256], err[128];
	snprintf(url, sizeof url, "http://localhost:%d/hello", hc_port);
	struct httpc_request rq = {.method = "GET", .url = url, .on_done = hc_on_done, .arg = &r,
				   .total_timeout_ms = 3000};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq, err, sizeof err));
	hc_run_until(&r.done);
	/* localhost may resolve to ::1 first where httpd listens on IPv4 only:
	 * the next address is tried. */
	ck_assert_msg(r.err == 0, "%s", r.errmsg);
	ck_assert_str_eq(r.body.data, "hello world");
	struct hc_result r2 = {0};
	struct httpc_request rq2 = {.method = "GET", .url = "http://no-such-host.invalid/",
				    .on_done = hc_on_done, .arg = &r2, .total_timeout_ms = 4000};
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq2, err, sizeof err));
	hc_run_until(&r2.done);
	ck_assert_int_eq(r2.err, HTTPC_ERESOLVE);
	/* Freeing with a resolution in flight leaves the thread to finish. */
	struct httpc_request rq3 = {.method = "GET", .url = "http://localhost:1/",
				    .on_done = hc_on_done, .arg = &r2};
	httpc_free(hc_cli);
	hc_cli = httpc_new(hc_base, NULL);
	ck_assert_ptr_nonnull(httpc_start(hc_cli, &rq3, err, sizeof err));
	event_base_loop(hc_base, EVLOOP_NONBLOCK);
	hc_result_free(&r);
	hc_result_free(&r2);
	hc_teardown();
	usleep(50000);
}
END_TEST

/* Raw scripts. */
static void hc_script_stale(int fd, const char *head, int nth)
{
	(void)head;
	if (nth == 0)
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	else
		shutdown(fd, SHUT_RDWR); /* the second request on it: drop it */
}

START_TEST(test_stale_retry)
{
	hc_setup();
	hc_raw_start(hc_script_stale);
	struct hc_result r1 = {0}, r2 = {0};
	hc_raw_req("GET", "/a", &r1, false);
	hc_run_until(&r1.done);
	ck_assert_int_eq(r1.err, 0);
	hc_raw_req("GET", "/b", &r2, false);
	hc_run_until(&r2.done);
	ck_assert_msg(r2.err == 0, "%s", r2.errmsg);
	ck_assert_str_eq(r2.body.data, "ok");
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.retries, 1);
	ck_assert_int_eq(hc_raw_accepts, 2);
	/* The resent request's connection is kept; a POST on it, dropped in
	 * turn, is not resent. */
	struct hc_result r3 = {0};
	hc_raw_req("POST", "/c", &r3, false);
	hc_run_until(&r3.done);
	ck_assert_int_eq(r3.err, HTTPC_EIO);
	ck_assert_int_eq(hc_raw_accepts, 2);
	struct hc_result r4 = {0};
	hc_raw_req("POST", "/d", &r4, false);
	hc_run_until(&r4.done);
	ck_assert_int_eq(r4.err, 0);
	hc_raw_stop();
	hc_result_free(&r1);
	hc_result_free(&r2);
	hc_result_free(&r3);
	hc_result_free(&r4);
	hc_teardown();
}
END_TEST

/* The stale connection again, and the resent request's answer arrives in
 * two parts: the first connection's end must not end the second one. */
static int hc_split_fd = -1;

static void hc_split_rest(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	hc_write(hc_split_fd, "lo");
}

static void hc_script_stale_split(int fd, const char *head, int nth)
{
	if (nth == 1) {
		shutdown(fd, SHUT_RDWR);
	} else if (strstr(head, " /a ")) {
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else {
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
		hc_split_fd = fd;
		struct timeval tv = {0, 30000};
		event_base_once(hc_base, -1, EV_TIMEOUT, hc_split_rest, NULL, &tv);
	}
}

START_TEST(test_stale_retry_split_body)
{
	hc_setup();
	hc_raw_start(hc_script_stale_split);
	struct hc_result r1 = {0}, r2 = {0};
	hc_raw_req("GET", "/a", &r1, false);
	hc_run_until(&r1.done);
	ck_assert_int_eq(r1.err, 0);
	hc_raw_req("GET", "/b", &r2, true);
	hc_run_until(&r2.done);
	ck_assert_msg(r2.err == 0, "%s", r2.errmsg);
	ck_assert_str_eq(r2.body.data, "hello");
	ck_assert_int_eq(hc_raw_accepts, 2);
	hc_raw_stop();
	hc_result_free(&r1);
	hc_result_free(&r2);
	hc_teardown();
}
END_TEST

static void hc_script_misc(int fd, const char *head, int nth)
{
	(void)nth;
	if (strstr(head, " /malformed "))
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
	else if (strstr(head, " /cut "))
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), shutdown(fd, SHUT_WR);
	else if (strstr(head, " /chunked ")) {
		hc_write(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
		hc_write(fd, "4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n");
	} else if (strstr(head, " /continue "))
		hc_write(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Test: final\r\n"
			     "Content-Length: 4\r\n\r\ndone");
	else if (strstr(head, "HEAD "))
		hc_write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
	else if (strstr(head, " /nocontent "))
		hc_write(fd, "HTTP/1.1 204 No Content\r\n\r\n");
	else if (strstr(head, " /eof ")) {
		hc_write(fd, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
		shutdown(fd, SHUT_WR);
	} else if (strstr(head, " /close "))
		shutdown(fd, SHUT_WR);
	else if (strstr(head, " /badchunk "))
		hc_write(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
}

START_TEST(test_raw_responses)
{
	hc_setup();
	hc_raw_start(hc_script_misc);
	struct {
		const char *method, *path;
		int err, status;
		const char *body;
	} cases[] = {
		{"GET", "/malformed", HTTPC_EPROTO, 0, NULL},
		{"GET", "/cut", HTTPC_EIO, 200, NULL},
		{"GET", "/chunked", 0, 200, "abcdefg"},
		{"GET", "/continue", 0, 200, "done"},
		{"HEAD", "/head", 0, 200, ""},
		{"GET", "/nocontent", 0, 204, ""},
		{"GET", "/eof", 0, 200, "until the end"},
		{"GET", "/close", HTTPC_EIO, 0, NULL},
		{"GET", "/badchunk", HTTPC_EPROTO, 200, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct hc_result r = {0};
		hc_raw_req(cases[i].method, cases[i].path, &r, i % 2 == 0);
		hc_run_until(&r.done);
		ck_assert_msg(r.err == cases[i].err, "%s: err %d (%s)", cases[i].path, r.err,
			      r.errmsg);
		if (cases[i].status)
			ck_assert_int_eq(r.status, cases[i].status);
		if (cases[i].body)
			ck_assert_str_eq(r.body.data ? r.body.data : "", cases[i].body);
		if (!strcmp(cases[i].path, "/continue"))
			ck_assert_str_eq(r.header, "final");
		hc_result_free(&r);
	}
	hc_raw_stop();
	hc_teardown();
}
END_TEST

/* The server closes a pooled connection: the pool lets it go at once. */
START_TEST(test_idle_closed_by_server)
{
	hc_setup();
	struct hc_result r = {0};
	hc_get("/hello", &r, false);
	hc_run_until(&r.done);
	struct httpc_stats st;
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.idle, 1);
	httpd_free(hc_srv); /* closes its connections */
	hc_srv = httpd_new(hc_base, NULL, hc_handler, NULL);
	hc_run_for(50);
	httpc_get_stats(hc_cli, &st);
	ck_assert_uint_eq(st.idle, 0);
	ck_assert_uint_eq(st.open, 0);
	hc_result_free(&r);
	hc_teardown();
}
END_TEST

START_TEST(test_free_in_flight)
{
	hc_setup();
	struct hc_result r[3] = {{0}};
	hc_get("/stream", &r[0], true);
	hc_get("/never", &r[1], false);
	hc_get("/hello", &r[2], false);
	hc_run_for(5);
	int before[3] = {r[0].done, r[1].done, r[2].done};
	httpc_free(hc_cli); /* no callbacks, nothing leaks */
	hc_cli = httpc_new(hc_base, NULL);
	hc_run_for(100);
	ck_assert_int_eq(r[0].done + r[1].done, 0); /* both were still running */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(r[i].done, before[i]);
		hc_result_free(&r[i]);
	}
	hc_teardown();
}
END_TEST

Suite *suite_httpc(void)
{
	Suite *s = suite_create("httpc");
	TCase *tc = tcase_create("httpc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_get_collect);
	tcase_add_test(tc, test_keep_alive_reuse);
	tcase_add_test(tc, test_post_body);
	tcase_add_test(tc, test_streaming_chunks);
	tcase_add_test(tc, test_pause_resume);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_max_body);
	tcase_add_test(tc, test_max_conns_queue);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_resolve_name);
	tcase_add_test(tc, test_stale_retry);
	tcase_add_test(tc, test_stale_retry_split_body);
	tcase_add_test(tc, test_raw_responses);
	tcase_add_test(tc, test_idle_closed_by_server);
	tcase_add_test(tc, test_free_in_flight);
	suite_add_tcase(s, tc);
	return s;
}
