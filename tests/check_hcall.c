/* check_hcall.c — lib/hcall against a local server: bodies by length,
 * chunks and EOF, 1xx, signed requests, refused connections, the total
 * deadline, oversized and malformed responses, URL parsing. */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hcall.h"

static int srv_fd = -1, srv_port;
static pid_t srv_pid;

static int listen_any(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return fd;
}

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Reads one request (head and Content-Length body) into BUF. */
static size_t read_request(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			const char *cl = strcasestr(buf, "Content-Length:");
			size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 15) : 0);
			if (n >= want)
				break;
		}
	}
	buf[n] = '\0';
	return n;
}

/* Serves MODE to every connection until killed. */
static void serve(const char *mode)
{
	char req[65536], out[70000];
	for (;;) {
		int c = accept(srv_fd, NULL, NULL);
		if (c < 0)
			continue;
		size_t n = read_request(c, req, sizeof req);
		if (strcmp(mode, "echo") == 0) {
			snprintf(out, sizeof out,
				 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", n);
			put(c, out);
			put(c, req);
		} else if (strcmp(mode, "chunked") == 0) {
			put(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
			usleep(20000);
			put(c, "6\r\n world\r\n0\r\n\r\n");
		} else if (strcmp(mode, "eof") == 0) {
			put(c, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
		} else if (strcmp(mode, "continue") == 0) {
			put(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
		} else if (strcmp(mode, "error") == 0) {
			put(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"e\":\"no\"}\n");
		} else if (strcmp(mode, "empty") == 0) {
			put(c, "HTTP/1.1 204 No Content\r\n\r\n");
		} else if (strcmp(mode, "slow") == 0) {
			sleep(30);
		} else if (strcmp(mode, "trickle") == 0) {
			put(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
			for (int i = 0; i < 100; i++) {
				put(c, "x");
				usleep(100000);
			}
		} else if (strcmp(mode, "big") == 0) {
			put(c, "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n");
		} else if (strcmp(mode, "bigchunked") == 0) {
			put(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
			memset(out, 'y', 4096);
			out[4096] = '\0';
			for (int i = 0; i < 100; i++) {
				put(c, "1000\r\n");
				put(c, out);
				put(c, "\r\n");
			}
			put(c, "0\r\n\r\n");
		} else if (strcmp(mode, "bighead") == 0) {
			put(c, "HTTP/1.1 200 OK\r\n");
			for (int i = 0; i < 2000; i++)
				put(c, "X-Filler: 0123456789012345678901234567890123456789\r\n");
			put(c, "\r\n");
		} else if (strcmp(mode, "garbage") == 0) {
			put(c, "SPDY/9 what\r\n\r\n");
		} else if (strcmp(mode, "short") == 0) {
			put(c, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this");
		}
		close(c);
	}
}

static void start(const char *mode)
{
	srv_fd = listen_any(&srv_port);
	srv_pid = fork();
	ck_assert_int_ge(srv_pid, 0);
	if (srv_pid == 0) {
		serve(mode);
		_exit(0);
	}
}

static void stop(void)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGKILL);
		waitpid(srv_pid, NULL, 0);
		srv_pid = 0;
	}
	if (srv_fd >= 0)
		close(srv_fd);
	srv_fd = -1;
}

static char url[64];

static const char *base(void)
{
	snprintf(url, sizeof url, "http://127.0.0.1:%d", srv_port);
	return url;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_echo_signed)
{
	char tpath[] = "/tmp/check_hcall_token_XXXXXX", spec[64], err[256];
	int fd = mkstemp(tpath);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "0123456789abcdef0123456789abcdef\n", 33), 33);
	close(fd);
	struct auth_client ac;
	struct auth_server as;
	snprintf(spec, sizeof spec, "token:%s", tpath);
	ck_assert_msg(auth_client_init(&ac, spec, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(auth_server_init(&as, AUTH_TOKEN, tpath, 0, err, sizeof err), 0);
	start("echo");
	struct hcall_resp r;
	const char *body = "{\"job_id\":\"1\"}";
	snprintf(url, sizeof url, "http://127.0.0.1:%d/prefix/", srv_port);
	ck_assert_msg(hcall(url, "POST", "/api/v1/heartbeat?x=1", body, strlen(body), &ac, 2000, &r, err,
			    sizeof err) == 0, "%s", err);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "text/plain");
	ck_assert_ptr_nonnull(strstr(r.body.data, "POST /prefix/api/v1/heartbeat?x=1 HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body.data, "Content-Length: 14\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body.data, "Connection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body.data, body));
	/* The credential verifies for exactly this request. */
	char *h = strstr(r.body.data, "Authorization: ");
	ck_assert_ptr_nonnull(h);
	h += 15;
	h[strcspn(h, "\r")] = '\0';
	struct auth_who who;
	ck_assert_int_eq(auth_check(&as, h, "POST", "/prefix/api/v1/heartbeat?x=1", body, strlen(body),
				    time(NULL), &who, err, sizeof err), AUTH_OK);
	hcall_resp_free(&r);
	/* GET without a body or auth: no Content-Length, no Authorization. */
	ck_assert_int_eq(hcall(base(), "GET", "/x", NULL, 0, NULL, 2000, &r, err, sizeof err), 0);
	ck_assert_ptr_null(strstr(r.body.data, "Authorization"));
	ck_assert_ptr_null(strstr(r.body.data, "Content-Length"));
	hcall_resp_free(&r);
	auth_server_free(&as);
	unlink(tpath);
	stop();
}
END_TEST

START_TEST(test_framings)
{
	static const struct {
		const char *mode;
		int status;
		const char *body;
	} t[] = {
		{"chunked", 200, "hello world"},
		{"eof", 200, "until the end"},
		{"continue", 201, "ok"},
		{"error", 403, "{\"e\":\"no\"}\n"},
		{"empty", 204, ""},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct hcall_resp r;
		char err[256];
		start(t[i].mode);
		ck_assert_msg(hcall(base(), "GET", "/", NULL, 0, NULL, 2000, &r, err, sizeof err) == 0,
			      "%s: %s", t[i].mode, err);
		ck_assert_int_eq(r.status, t[i].status);
		ck_assert_ptr_nonnull(r.body.data);
		ck_assert_str_eq(r.body.data, t[i].body);
		hcall_resp_free(&r);
		stop();
	}
}
END_TEST

START_TEST(test_failures)
{
	static const struct {
		const char *mode;
		int rc;
		const char *msg;
	} t[] = {
		{"big", HCALL_ETOOBIG, "response too large"},
		{"bigchunked", HCALL_ETOOBIG, "response too large"},
		{"bighead", HCALL_ETOOBIG, "bad response"},
		{"garbage", HCALL_EPROTO, "bad response"},
		{"short", HCALL_EIO, "closed in the middle of the body"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct hcall_resp r;
		char err[256] = "";
		struct hcall_opts o = {.max_body = 100000};
		start(t[i].mode);
		int rc = hcall_ex(base(), "GET", "/", NULL, 0, NULL, 3000, &o, &r, err, sizeof err);
		ck_assert_msg(rc == t[i].rc, "%s: rc %d (%s)", t[i].mode, rc, err);
		ck_assert_msg(strstr(err, t[i].msg), "%s: \"%s\"", t[i].mode, err);
		hcall_resp_free(&r);
		stop();
	}
}
END_TEST

START_TEST(test_deadline)
{
	/* A server that accepts and never answers, and one that trickles:
	 * both end at the deadline, not later. */
	const char *modes[] = {"slow", "trickle"};
	for (int i = 0; i < 2; i++) {
		struct hcall_resp r;
		char err[256];
		start(modes[i]);
		double t0 = now_s();
		int rc = hcall(base(), "POST", "/api/v1/jobs/ended", "{}", 2, NULL, 500, &r, err, sizeof err);
		double dt = now_s() - t0;
		ck_assert_int_eq(rc, HCALL_ETIMEOUT);
		ck_assert_msg(dt >= 0.45 && dt < 0.9, "%s took %.3f s", modes[i], dt);
		ck_assert_ptr_nonnull(strstr(err, "timed out after 500 ms"));
		hcall_resp_free(&r);
		stop();
	}
}
END_TEST

START_TEST(test_refused)
{
	int port, fd = listen_any(&port);
	close(fd); /* nothing listens there now */
	char u[64], err[256];
	struct hcall_resp r;
	snprintf(u, sizeof u, "http://127.0.0.1:%d", port);
	ck_assert_int_eq(hcall(u, "GET", "/", NULL, 0, NULL, 1000, &r, err, sizeof err), HCALL_ECONNECT);
	ck_assert_str_eq(err, "connection refused");
	hcall_resp_free(&r);
	ck_assert_int_eq(hcall("http://no-such-host.invalid:1", "GET", "/", NULL, 0, NULL, 1000, &r, err,
			       sizeof err), HCALL_ERESOLVE);
	hcall_resp_free(&r);
	/* Bad requests never reach the network. */
	ck_assert_int_eq(hcall("https://x", "GET", "/", NULL, 0, NULL, 1000, &r, err, sizeof err), HCALL_EURL);
	ck_assert_int_eq(hcall(u, "GET", "no-slash", NULL, 0, NULL, 1000, &r, err, sizeof err), HCALL_EURL);
	ck_assert_int_eq(hcall(u, "GE T", "/", NULL, 0, NULL, 1000, &r, err, sizeof err), HCALL_EURL);
	ck_assert_int_eq(hcall(u, "GET", "/a b", NULL, 0, NULL, 1000, &r, err, sizeof err), HCALL_EURL);
	hcall_resp_free(&r);
}
END_TEST

START_TEST(test_urls)
{
	struct hcall_url u;
	char err[200];
	ck_assert_int_eq(hcall_parse_url("http://login1:8780", &u, err, sizeof err), 0);
	ck_assert_str_eq(u.host, "login1");
	ck_assert_int_eq(u.port, 8780);
	ck_assert_str_eq(u.prefix, "");
	ck_assert_int_eq(hcall_parse_url("HTTP://[::1]/reg/", &u, err, sizeof err), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.port, 80);
	ck_assert_str_eq(u.prefix, "/reg");
	ck_assert_int_eq(hcall_parse_url("http://[2001:db8::a]:9/x", &u, err, sizeof err), 0);
	ck_assert_str_eq(u.host, "2001:db8::a");
	ck_assert_int_eq(hcall_parse_url("http://node-1.cluster_a.example:1", &u, err, sizeof err), 0);
	const char *bad[] = {"https://x", "ftp://x", "http://", "http://:80", "http://h:0",
			     "http://h:65536", "http://h:80x", "http://[::1", "http://h?q",
			     "http://u@h", "http://h/a b", "login1:8780",
			     /* found by tests/fuzz/fuzz_http: brackets hold an IPv6
			        address, nothing else */
			     "http://[http://[::1]:7999", "http://[a/b]:80", "http://[h]:1",
			     "http://a[b:1", "http://a\"b", "http://[fe80::1%eth0]:1", NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(hcall_parse_url(bad[i], &u, err, sizeof err) == -1, "accepted %s", bad[i]);
	hcall_parse_url("https://x", &u, err, sizeof err);
	ck_assert_ptr_nonnull(strstr(err, "https is not supported"));
	/* found by tests/fuzz/fuzz_reg_api: the message named one byte of a
	 * character (U+FEFF), which is not UTF-8 */
	ck_assert_int_eq(hcall_parse_url("http://h:1\xef\xbb\xbf" "2", &u, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unexpected byte 0xef in "));
	ck_assert(buf_utf8_valid(err, strlen(err), NULL));
	char small[30];
	hcall_parse_url("http://h:1\xef\xbb\xbf" "2", &u, small, sizeof small);
	ck_assert(buf_utf8_valid(small, strlen(small), NULL));
}
END_TEST

Suite *suite_hcall(void)
{
	Suite *s = suite_create("hcall");
	TCase *tc = tcase_create("hcall");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_echo_signed);
	tcase_add_test(tc, test_framings);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_urls);
	suite_add_tcase(s, tc);
	return s;
}
