/* check_httpd.c — lib/httpd over real loopback sockets.
 *
 * Each test forks a server child (its own event_base) on an ephemeral port
 * and talks to it with the blocking client of tests/http_client.c. The
 * child's handler routes by path; GET /stats reports what its callbacks saw.
 * SIGTERM makes the child stop gracefully and exit 0 once drained.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "http_client.h"
#include "httpd.h"
#include "log.h"
#include "oai.h"

/* ---------------------------------------------------------------- server child */

static struct event_base *t_base;
static struct httpd *t_srv;
static int t_closed;  /* on_close callbacks seen */
static int t_drained; /* drain callbacks seen */

struct t_stream {
	struct httpd_req *req;
	struct event *ev;
	int left;      /* chunks still to send */
	size_t bytes;  /* /big: bytes still to send */
	bool waiting;  /* /big: waiting for the drain callback */
};

static void t_stream_free(struct t_stream *s)
{
	event_free(s->ev);
	free(s);
}

static void t_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct t_stream *s = arg;
	char line[32];
	int n = snprintf(line, sizeof line, "chunk%d\n", s->left);
	httpd_stream_write(s->req, line, (size_t)n);
	if (--s->left <= 0) {
		httpd_stream_end(s->req);
		t_stream_free(s);
		return;
	}
	struct timeval tv = {0, 5000};
	event_add(s->ev, &tv);
}

static void t_big_pump(struct t_stream *s);

static void t_big_drain(struct httpd_req *req, void *arg)
{
	(void)req;
	struct t_stream *s = arg;
	if (!s->waiting)
		return;
	t_drained++;
	s->waiting = false;
	t_big_pump(s);
}

static void t_big_pump(struct t_stream *s)
{
	static char block[65536];
	memset(block, 'x', sizeof block);
	while (s->bytes > 0) {
		if (httpd_req_outbuf_len(s->req) > 512 * 1024) {
			s->waiting = true;
			httpd_req_on_drain(s->req, 128 * 1024, t_big_drain, s);
			return;
		}
		size_t n = s->bytes < sizeof block ? s->bytes : sizeof block;
		s->bytes -= n;
		if (httpd_stream_write(s->req, block, n) != 0)
			break;
	}
	httpd_req_on_drain(s->req, 0, NULL, NULL);
	httpd_stream_end(s->req);
	t_stream_free(s);
}

static void t_late(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct t_stream *s = arg;
	httpd_reply(s->req, 200, "text/plain", "late", 4);
	t_stream_free(s);
}

static void t_on_close(struct httpd_req *req, void *arg)
{
	(void)arg;
	t_closed++;
	/* The request must still be ended; writes are no-ops now. */
	if (httpd_stream_start(req, 200, "text/plain") == 0)
		t_closed += 100;
	if (httpd_stream_write(req, "x", 1) != -1)
		t_closed += 100;
	httpd_stream_end(req);
}

static void t_handler(struct httpd_req *req, void *arg)
{
	(void)arg;
	const char *path = httpd_req_path(req);
	if (strcmp(path, "/hello") == 0) {
		httpd_add_header(req, "X-Test", "yes");
		httpd_reply(req, 200, "text/plain", "hello", 5);
	} else if (strcmp(path, "/echo") == 0) {
		size_t len;
		const char *body = httpd_req_body(req, &len);
		httpd_reply(req, 200, "application/octet-stream", body, len);
	} else if (strcmp(path, "/info") == 0) {
		struct buf b = BUF_INIT;
		const char *ua = httpd_req_header(req, "user-agent");
		buf_printf(&b, "%s|%s|%s|%s|%u|%s", httpd_req_method(req), path,
			   httpd_req_query(req), ua ? ua : "-",
			   httpd_req_header_count(req), httpd_req_peer(req));
		httpd_reply(req, 200, "text/plain", b.data, b.len);
		buf_free(&b);
	} else if (strcmp(path, "/stats") == 0) {
		char s[128];
		int n = snprintf(s, sizeof s, "closed=%d drained=%d pending=%u", t_closed,
				 t_drained, httpd_pending_count(t_srv));
		httpd_reply(req, 200, "text/plain", s, (size_t)n);
	} else if (strcmp(path, "/stream") == 0 || strcmp(path, "/late") == 0) {
		struct t_stream *s = calloc(1, sizeof *s);
		s->req = req;
		bool stream = path[1] == 's';
		s->left = atoi(httpd_req_query(req));
		s->ev = evtimer_new(t_base, stream ? t_tick : t_late, s);
		struct timeval tv = {0, stream ? 5000 : 100000};
		event_add(s->ev, &tv);
		if (stream)
			httpd_stream_start(req, 200, "text/event-stream");
	} else if (strcmp(path, "/big") == 0) {
		struct t_stream *s = calloc(1, sizeof *s);
		s->req = req;
		s->bytes = (size_t)atol(httpd_req_query(req));
		s->ev = evtimer_new(t_base, t_late, s);
		httpd_stream_start(req, 200, "application/octet-stream");
		t_big_pump(s);
	} else if (strcmp(path, "/flood") == 0) {
		/* Queues 8 MiB at once; ended by on_close when the write times out. */
		static char block[65536];
		httpd_req_on_close(req, t_on_close, NULL);
		httpd_stream_start(req, 200, "application/octet-stream");
		for (int i = 0; i < 128; i++)
			httpd_stream_write(req, block, sizeof block);
	} else if (strcmp(path, "/wait") == 0) {
		httpd_req_on_close(req, t_on_close, NULL);
	} else if (strcmp(path, "/abort") == 0) {
		/* A stream cut short, or (?0) a request closed without a reply. */
		if (strcmp(httpd_req_query(req), "0") != 0) {
			httpd_stream_start(req, 200, "text/event-stream");
			httpd_stream_write(req, "partial", 7);
		}
		httpd_stream_abort(req);
	} else if (strcmp(path, "/double") == 0) {
		httpd_reply(req, 200, "text/plain", "one", 3);
		httpd_reply(req, 200, "text/plain", "two", 3); /* logged, ignored */
	} else {
		oai_reply_error(req, 404, NULL, "no route for %s", path);
	}
}

static void t_drained_cb(void *arg)
{
	(void)arg;
	event_base_loopbreak(t_base);
}

static void t_sigterm(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	httpd_shutdown(t_srv, t_drained_cb, NULL);
}

/* Starts a server child; returns its pid and sets *PORT. */
static rlim_t t_nofile; /* t_start: the server's open files limit (0: as is) */

static pid_t t_start(const struct httpd_config *cfg, int *port)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		/* /double logs an error on purpose: keep the test output clean. */
		log_set_file("/dev/null");
		if (t_nofile) {
			struct rlimit rl = {t_nofile, t_nofile};
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		t_base = event_base_new();
		t_srv = httpd_new(t_base, cfg, t_handler, NULL);
		httpd_set_error_body(t_srv, oai_httpd_error_body, NULL);
		char err[256];
		if (httpd_listen(t_srv, "127.0.0.1", 0, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			_exit(2);
		}
		int port_ = httpd_port(t_srv);
		if (write(p[1], &port_, sizeof port_) != sizeof port_)
			_exit(2);
		close(p[1]);
		struct event *sig = evsignal_new(t_base, SIGTERM, t_sigterm, NULL);
		event_add(sig, NULL);
		event_base_dispatch(t_base);
		event_free(sig);
		httpd_free(t_srv);
		event_base_free(t_base);
		/* exit, not _exit: LeakSanitizer checks the server's memory. */
		exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], port, sizeof *port), (ssize_t)sizeof *port);
	close(p[0]);
	return pid;
}

static int t_stop(pid_t pid)
{
	int st = 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void t_get_stats(int port, char *out, size_t len)
{
	struct buf b = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "GET", "/stats", NULL, &b), 200);
	snprintf(out, len, "%s", b.data);
	buf_free(&b);
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_keep_alive)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	for (int i = 0; i < 3; i++) {
		tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
		ck_assert_int_eq(tc_read(&c, &r, false), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body.data, "hello");
		ck_assert(strstr(r.head.data, "X-Test: yes\r\n"));
		ck_assert(strstr(r.head.data, "Date: "));
		ck_assert(!r.closed);
		tc_resp_free(&r);
	}
	/* Request details. */
	tc_sends(&c, "GET /info?a=b&c HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_str_eq(r.body.data, "GET|/info|a=b&c|t/1|2|127.0.0.1");
	tc_resp_free(&r);
	/* HEAD: length but no body. */
	tc_sends(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	char raw[1024];
	size_t got = 0;
	ssize_t n;
	while ((n = read(c.fd, raw + got, sizeof raw - 1 - got)) > 0)
		got += (size_t)n;
	raw[got] = '\0';
	ck_assert(strstr(raw, "Content-Length: 5\r\n"));
	ck_assert_str_eq(raw + got - 4, "\r\n\r\n");
	tc_close(&c);

	/* HTTP/1.0 closes unless keep-alive is asked for. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /hello HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert(strstr(r.head.data, "Connection: close"));
	ck_assert(tc_eof(&c, 2000));
	tc_resp_free(&r);
	tc_close(&c);
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert(strstr(r.head.data, "Connection: keep-alive"));
	tc_resp_free(&r);
	tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert(r.closed);
	ck_assert(tc_eof(&c, 2000));
	tc_resp_free(&r);
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_pipelining)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	/* A slow first request must not let the later ones overtake it. */
	tc_sends(&c, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
		     "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
		     "GET /double HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	const char *want[] = {"late", "hello", "abc", "def", "one", "hello"};
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(tc_read(&c, &r, false), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body.data, want[i]);
		tc_resp_free(&r);
	}
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_expect_continue)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
		     "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, true), 0);
	ck_assert_int_eq(r.status, 100);
	tc_resp_free(&r);
	tc_sends(&c, "data");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body.data, "data");
	tc_resp_free(&r);
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_limits_413_431)
{
	struct httpd_config cfg;
	httpd_config_init(&cfg);
	cfg.max_body = 1024;
	cfg.max_header_bytes = 1024;
	int port;
	pid_t pid = t_start(&cfg, &port);
	struct tc_conn c;
	struct tc_resp r;

	/* Content-Length over the limit: 413 at once, even with Expect. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
		     "Expect: 100-continue\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, true), 0);
	ck_assert_int_eq(r.status, 413);
	ck_assert(strstr(r.body.data, "\"type\":\"RequestEntityTooLargeError\""));
	ck_assert(strstr(r.body.data, "\"code\":413"));
	ck_assert(r.closed);
	tc_resp_free(&r);
	tc_close(&c);

	/* A chunked body that grows past it. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	struct buf big = BUF_INIT;
	for (int i = 0; i < 3; i++) {
		buf_puts(&big, "200\r\n");
		for (int k = 0; k < 512; k++)
			buf_putc(&big, 'z');
		buf_puts(&big, "\r\n");
	}
	tc_send(&c, big.data, big.len);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 413);
	tc_resp_free(&r);
	tc_close(&c);

	/* Header section too large. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	buf_reset(&big);
	buf_puts(&big, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int k = 0; k < 2000; k++)
		buf_putc(&big, 'v');
	buf_puts(&big, "\r\n\r\n");
	tc_send(&c, big.data, big.len);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 431);
	tc_resp_free(&r);
	tc_close(&c);

	/* Malformed: 400 in JSON, connection closed. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "BadRequestError"));
	ck_assert(tc_eof(&c, 2000));
	tc_resp_free(&r);
	tc_close(&c);
	buf_free(&big);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_timeouts)
{
	struct httpd_config cfg;
	httpd_config_init(&cfg);
	cfg.header_timeout_ms = 300;
	cfg.body_timeout_ms = 300;
	cfg.idle_timeout_ms = 300;
	int port;
	pid_t pid = t_start(&cfg, &port);
	struct tc_conn c;
	struct tc_resp r;

	/* Slowloris: a head that trickles in gets 408 at the header deadline,
	 * however often bytes arrive. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	const char *slow = "GET /hello HTTP/1.1\r\nHost: x\r\n";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; slow[i] && i < 8; i++) {
		tc_send(&c, slow + i, 1);
		usleep(50000);
	}
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(r.status, 408);
	double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(el < 1.5, "408 after %.2f s", el);
	tc_resp_free(&r);
	tc_close(&c);

	/* A body that never completes. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 408);
	tc_resp_free(&r);
	tc_close(&c);

	/* Idle keep-alive connections are closed. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	tc_resp_free(&r);
	ck_assert(tc_eof(&c, 2000));
	tc_close(&c);

	/* A connection that never sends anything. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	ck_assert(tc_eof(&c, 2000));
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_streaming)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /stream?3 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert(r.chunked);
	ck_assert_str_eq(r.body.data, "chunk3\nchunk2\nchunk1\n");
	ck_assert(strstr(r.head.data, "Content-Type: text/event-stream"));
	tc_resp_free(&r);
	/* The connection is still usable. */
	tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_str_eq(r.body.data, "hello");
	tc_resp_free(&r);
	tc_close(&c);

	/* HTTP/1.0: no chunking, the close ends the body. */
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /stream?2 HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert(!r.chunked);
	ck_assert(r.closed);
	ck_assert_str_eq(r.body.data, "chunk2\nchunk1\n");
	tc_resp_free(&r);
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_stream_abort)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n");
	/* The chunk arrives, then the close instead of the last chunk. */
	ck_assert_int_eq(tc_read(&c, &r, false), -1);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.chunked);
	ck_assert_str_eq(r.body.data, "partial");
	tc_resp_free(&r);
	tc_close(&c);
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /abort?0 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert(tc_eof(&c, 2000));
	tc_close(&c);
	char stats[128];
	t_get_stats(port, stats, sizeof stats);
	ck_assert_str_eq(stats, "closed=0 drained=0 pending=1"); /* /stats itself */
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_client_disconnect)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
	usleep(100000);
	tc_close(&c);
	char stats[128] = "";
	for (int i = 0; i < 100; i++) {
		t_get_stats(port, stats, sizeof stats);
		if (strstr(stats, "closed=1"))
			break;
		usleep(20000);
	}
	ck_assert_str_eq(stats, "closed=1 drained=0 pending=1");
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_backpressure)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&c, port, 10000), 0);
	size_t total = 16u << 20;
	char req[128];
	snprintf(req, sizeof req, "GET /big?%zu HTTP/1.1\r\nHost: x\r\n\r\n", total);
	tc_sends(&c, req);
	usleep(300000); /* the server fills its queue and waits */
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_uint_eq(r.body.len, total);
	tc_resp_free(&r);
	tc_close(&c);
	char stats[128];
	t_get_stats(port, stats, sizeof stats);
	int closed, drained;
	unsigned pending;
	ck_assert_int_eq(sscanf(stats, "closed=%d drained=%d pending=%u", &closed,
				&drained, &pending), 3);
	ck_assert_int_gt(drained, 0);
	ck_assert_int_eq(closed, 0);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_graceful_shutdown)
{
	int port;
	pid_t pid = t_start(NULL, &port);
	struct tc_conn c, idle;
	struct tc_resp r;
	ck_assert_int_eq(tc_connect(&idle, port, 5000), 0);
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
	usleep(20000);
	kill(pid, SIGTERM);
	/* The request in flight completes, with Connection: close. */
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body.data, "late");
	ck_assert(r.closed);
	tc_resp_free(&r);
	ck_assert(tc_eof(&idle, 2000));
	tc_close(&c);
	tc_close(&idle);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_ne(tc_connect(&c, port, 1000), 0);
}
END_TEST

START_TEST(test_max_conns)
{
	struct httpd_config cfg;
	httpd_config_init(&cfg);
	cfg.max_conns = 2;
	int port;
	pid_t pid = t_start(&cfg, &port);
	struct tc_conn a, b, c;
	struct tc_resp r;
	/* Two busy connections (requests in progress): the third waits in the
	   backlog until one closes. */
	ck_assert_int_eq(tc_connect(&a, port, 5000), 0);
	ck_assert_int_eq(tc_connect(&b, port, 5000), 0);
	tc_sends(&a, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
	tc_sends(&b, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
	usleep(100 * 1000);
	ck_assert_int_eq(tc_connect(&c, port, 300), 0);
	tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_ne(tc_read(&c, &r, false), 0);
	tc_resp_free(&r);
	tc_close(&b);
	struct timeval tv = {5, 0};
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 200);
	tc_resp_free(&r);
	tc_close(&a);
	tc_close(&c);

	/* Two idle connections (one that sent nothing, one between requests)
	   do not keep a third out: the oldest idle one makes room. */
	ck_assert_int_eq(tc_connect(&a, port, 5000), 0);
	tc_sends(&a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(tc_read(&a, &r, false), 0);
	tc_resp_free(&r);
	ck_assert_int_eq(tc_connect(&b, port, 5000), 0);
	usleep(100 * 1000);
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ck_assert_int_eq(tc_read(&c, &r, false), 0);
	ck_assert_int_eq(r.status, 200);
	tc_resp_free(&r);
	ck_assert(tc_eof(&a, 1000)); /* the oldest idle one */
	tc_close(&a);
	tc_close(&b);
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

/* The open files limit bounds max_conns: a flood of connections never
 * leaves the server spinning on accept(2) or the application without
 * descriptors, and new clients are still served. */
START_TEST(test_fd_limit)
{
	int port;
	t_nofile = 64;
	pid_t pid = t_start(NULL, &port);
	t_nofile = 0;
	/* 200 connections that send nothing: far beyond the server's 64 files. */
	static struct tc_conn idle[200];
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(tc_connect(&idle[i], port, 5000), 0);
	usleep(300 * 1000);
	struct buf out = BUF_INIT;
	ck_assert_int_eq(tc_request(port, "GET", "/hello", NULL, &out), 200);
	buf_free(&out);
	for (int i = 0; i < 200; i++)
		tc_close(&idle[i]);
	ck_assert_int_eq(tc_request(port, "GET", "/hello", NULL, &out), 200);
	buf_free(&out);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

START_TEST(test_write_timeout)
{
	struct httpd_config cfg;
	httpd_config_init(&cfg);
	cfg.write_timeout_ms = 300;
	int port;
	pid_t pid = t_start(&cfg, &port);
	struct tc_conn c;
	ck_assert_int_eq(tc_connect(&c, port, 5000), 0);
	tc_sends(&c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
	/* Never read: the server gives up on this client. */
	char stats[128] = "";
	for (int i = 0; i < 150; i++) {
		usleep(20000);
		t_get_stats(port, stats, sizeof stats);
		if (strstr(stats, "closed=1"))
			break;
	}
	ck_assert_str_eq(stats, "closed=1 drained=0 pending=1");
	tc_close(&c);
	ck_assert_int_eq(t_stop(pid), 0);
}
END_TEST

Suite *suite_httpd(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_pipelining);
	tcase_add_test(tc, test_expect_continue);
	tcase_add_test(tc, test_limits_413_431);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_streaming);
	tcase_add_test(tc, test_stream_abort);
	tcase_add_test(tc, test_client_disconnect);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_graceful_shutdown);
	tcase_add_test(tc, test_max_conns);
	tcase_add_test(tc, test_fd_limit);
	tcase_add_test(tc, test_write_timeout);
	suite_add_tcase(s, tc);
	return s;
}
