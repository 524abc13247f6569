/* check_http_parse.c — lib/http_parse: requests, responses, chunked. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http_parse.h"

struct req_case {
	const char *in;
	int rc;          /* HP_OK, HP_AGAIN or HP_ERROR */
	int status;      /* err_status when HP_ERROR */
	enum hp_body body;
	bool keep_alive;
};

static const struct req_case req_cases[] = {
	{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"GET /x?y=1 HTTP/1.0\r\n\r\n", HP_OK, 0, HP_BODY_NONE, false},
	{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", HP_OK, 0, HP_BODY_NONE, false},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", HP_OK, 0, HP_BODY_NONE, false},
	{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", HP_OK, 0, HP_BODY_LENGTH, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", HP_OK, 0, HP_BODY_LENGTH, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", HP_OK, 0, HP_BODY_LENGTH, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HP_OK, 0, HP_BODY_CHUNKED, true},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", HP_OK, 0, HP_BODY_CHUNKED, true},
	{"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Sp:   v  \r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"GET / HTTP/1.1\r\nHost: a\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	{"GET / HTTP/1.2\r\nHost: a\r\n\r\n", HP_OK, 0, HP_BODY_NONE, true},
	/* incomplete */
	{"GET / HTTP/1.1\r\nHost: a\r\n", HP_AGAIN, 0, 0, 0},
	{"", HP_AGAIN, 0, 0, 0},
	{"\r\n", HP_AGAIN, 0, 0, 0},
	/* malformed */
	{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HP_ERROR, 505, 0, 0},
	{"GET / HTTP/1.x\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET / FTP/1.1\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HP_ERROR, 400, 0, 0},
	{": x\r\n\r\n", HP_ERROR, 400, 0, 0},
	/* smuggling */
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HP_ERROR, 501, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HP_ERROR, 501, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", HP_ERROR, 501, 0, 0},
	{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", HP_ERROR, 400, 0, 0},
	{"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", HP_ERROR, 417, 0, 0},
};

START_TEST(test_request_table)
{
	const struct req_case *tc = &req_cases[_i];
	struct hp_limits lim;
	hp_limits_default(&lim);
	struct hp_msg m;
	size_t len = strlen(tc->in);
	hp_msg_init(&m, HP_REQUEST);
	int rc = hp_parse(&m, tc->in, len, &lim);
	ck_assert_msg(rc == tc->rc, "case %d (%s): rc %d, want %d (%s)", _i,
		      tc->in, rc, tc->rc, m.err ? m.err : "");
	if (rc == HP_ERROR)
		ck_assert_msg(m.err_status == tc->status, "case %d: status %d, want %d",
			      _i, m.err_status, tc->status);
	if (rc == HP_OK) {
		ck_assert_int_eq(m.body, tc->body);
		ck_assert_int_eq(m.keep_alive, tc->keep_alive);
		ck_assert_uint_eq(m.head_len, len);
	}
}
END_TEST

START_TEST(test_request_fields)
{
	const char *in = "POST /v1/chat?x=1 HTTP/1.1\r\nHost: h\r\n"
			 "content-length: 12\r\nX-A:  b c \r\nExpect: 100-Continue\r\n\r\nbody";
	struct hp_limits lim;
	hp_limits_default(&lim);
	struct hp_msg m;
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, in, strlen(in), &lim), HP_OK);
	ck_assert_uint_eq(m.head_len, strlen(in) - 4);
	ck_assert_int_eq(m.method.len, 4);
	ck_assert(memcmp(in + m.target.off, "/v1/chat?x=1", m.target.len) == 0);
	ck_assert_uint_eq(m.nheaders, 4);
	ck_assert_uint_eq(m.content_length, 12);
	ck_assert(m.expect_continue);
	const struct hp_header *h = hp_find(&m, in, "x-a");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->value.len, 3);
	ck_assert(memcmp(in + h->value.off, "b c", 3) == 0);
	ck_assert_ptr_null(hp_find(&m, in, "x-b"));
	ck_assert(hp_has_token(" a ,b,  Keep-Alive ", 19, "keep-alive"));
	ck_assert(!hp_has_token("keep-alivex", 11, "keep-alive"));
	/* A NUL in a field value. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, nul, sizeof nul - 1, &lim), HP_ERROR);
	ck_assert_int_eq(m.err_status, 400);
}
END_TEST

/* Every prefix of a valid request is HP_AGAIN; the whole is HP_OK, fed
 * byte by byte into the same hp_msg. */
START_TEST(test_split_every_byte)
{
	const char *in = "\r\nPOST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
			 "X-Long: 0123456789012345678901234567890123456789\r\n\r\n";
	size_t len = strlen(in);
	struct hp_limits lim;
	hp_limits_default(&lim);
	struct hp_msg m;
	hp_msg_init(&m, HP_REQUEST);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(hp_parse(&m, in, i, &lim), HP_AGAIN);
	ck_assert_int_eq(hp_parse(&m, in, len, &lim), HP_OK);
	ck_assert_int_eq(m.body, HP_BODY_CHUNKED);
	ck_assert_uint_eq(m.nheaders, 3);
	ck_assert_uint_eq(m.head_len, len);
	/* And split at every single point, fresh parser each time. */
	for (size_t i = 0; i <= len; i++) {
		struct hp_msg m2;
		hp_msg_init(&m2, HP_REQUEST);
		int rc = hp_parse(&m2, in, i, &lim);
		ck_assert_int_eq(rc, i == len ? HP_OK : HP_AGAIN);
		if (rc == HP_AGAIN)
			ck_assert_int_eq(hp_parse(&m2, in, len, &lim), HP_OK);
		ck_assert_uint_eq(m2.nheaders, 3);
	}
}
END_TEST

START_TEST(test_limits)
{
	struct hp_limits lim;
	hp_limits_default(&lim);
	lim.max_head = 256;
	lim.max_headers = 4;
	lim.max_target = 32;
	struct buf b = BUF_INIT;
	struct hp_msg m;

	/* Too many fields. */
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 4; i++)
		buf_printf(&b, "X-%d: v\r\n", i);
	buf_puts(&b, "\r\n");
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, b.data, b.len, &lim), HP_ERROR);
	ck_assert_int_eq(m.err_status, 431);

	/* Head too large, complete or not. */
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	for (int i = 0; i < 300; i++)
		buf_putc(&b, 'v');
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, b.data, b.len, &lim), HP_ERROR);
	ck_assert_int_eq(m.err_status, 431);
	buf_puts(&b, "\r\n\r\n");
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, b.data, b.len, &lim), HP_ERROR);
	ck_assert_int_eq(m.err_status, 431);

	/* Target too long. */
	buf_reset(&b);
	buf_puts(&b, "GET /0123456789012345678901234567890123456789 HTTP/1.1\r\nHost: a\r\n\r\n");
	hp_msg_init(&m, HP_REQUEST);
	ck_assert_int_eq(hp_parse(&m, b.data, b.len, &lim), HP_ERROR);
	ck_assert_int_eq(m.err_status, 414);
	buf_free(&b);
}
END_TEST

struct resp_case {
	const char *in;
	bool head_response;
	int rc;
	int status;
	enum hp_body body;
	uint64_t length;
	bool keep_alive;
};

static const struct resp_case resp_cases[] = {
	{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false, HP_OK, 200, HP_BODY_LENGTH, 3, true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, HP_OK, 200, HP_BODY_CHUNKED, 0, true},
	{"HTTP/1.1 200 OK\r\n\r\n", false, HP_OK, 200, HP_BODY_EOF, 0, false},
	{"HTTP/1.1 204 No Content\r\n\r\n", false, HP_OK, 204, HP_BODY_NONE, 0, true},
	{"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, HP_OK, 304, HP_BODY_NONE, 10, true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, HP_OK, 200, HP_BODY_NONE, 10, true},
	{"HTTP/1.1 100 Continue\r\n\r\n", false, HP_OK, 100, HP_BODY_NONE, 0, true},
	{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, HP_OK, 200, HP_BODY_LENGTH, 1, false},
	{"HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", false, HP_OK, 503, HP_BODY_NONE, 0, true},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, HP_OK, 200, HP_BODY_EOF, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1 2x0 OK\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1 099 OK\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1  200 OK\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nX\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"ICY 200 OK\r\n\r\n", false, HP_ERROR, 0, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-", false, HP_AGAIN, 0, 0, 0, false},
};

START_TEST(test_response_table)
{
	const struct resp_case *tc = &resp_cases[_i];
	struct hp_limits lim;
	hp_limits_default(&lim);
	struct hp_msg m;
	hp_msg_init(&m, HP_RESPONSE);
	m.head_response = tc->head_response;
	int rc = hp_parse(&m, tc->in, strlen(tc->in), &lim);
	ck_assert_msg(rc == tc->rc, "case %d: rc %d want %d (%s)", _i, rc, tc->rc,
		      m.err ? m.err : "");
	if (rc != HP_OK)
		return;
	ck_assert_int_eq(m.status, tc->status);
	ck_assert_int_eq(m.body, tc->body);
	ck_assert_uint_eq(m.content_length, tc->length);
	ck_assert_int_eq(m.keep_alive, tc->keep_alive);
}
END_TEST

static void collect(void *arg, const char *data, size_t len)
{
	buf_append(arg, data, len);
}

struct chunk_case {
	const char *in;
	int rc;
	const char *body; /* when HP_OK */
	size_t rest;      /* bytes left unconsumed after HP_OK */
};

static const struct chunk_case chunk_cases[] = {
	{"5\r\nhello\r\n0\r\n\r\n", HP_OK, "hello", 0},
	{"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", HP_OK, "hello world", 3},
	{"A\r\n0123456789\r\n0\r\n\r\n", HP_OK, "0123456789", 0},
	{"5;ext=1;y=\"q\"\r\nhello\r\n0\r\n\r\n", HP_OK, "hello", 0},
	{"5 ;x\r\nhello\r\n0\r\n\r\n", HP_OK, "hello", 0},
	{"0\r\nX-Trailer: v\r\nY: w\r\n\r\n", HP_OK, "", 0},
	{"000\r\n\r\n", HP_OK, "", 0},
	{"5\r\nhel", HP_AGAIN, NULL, 0},
	{"0\r\nX: v\r\n", HP_AGAIN, NULL, 0},
	{"\r\n", HP_ERROR, NULL, 0},
	{"x\r\n", HP_ERROR, NULL, 0},
	{"-5\r\nhello\r\n", HP_ERROR, NULL, 0},
	{"5\nhello\r\n0\r\n\r\n", HP_ERROR, NULL, 0},
	{"5\r\nhelloX\r\n0\r\n\r\n", HP_ERROR, NULL, 0},
	{"5\r\nhello\n0\r\n\r\n", HP_ERROR, NULL, 0},
	{"ffffffffffffffffff\r\n", HP_ERROR, NULL, 0},
	{"0x5\r\nhello\r\n", HP_ERROR, NULL, 0},
	{"0\r\n X: v\r\n\r\n", HP_ERROR, NULL, 0},
	{"0\r\nX v\r\n\r\n", HP_ERROR, NULL, 0},
	{"0\r\nX: \x01\r\n\r\n", HP_ERROR, NULL, 0},
	{"5;\x01\r\nhello\r\n", HP_ERROR, NULL, 0},
};

START_TEST(test_chunked_table)
{
	const struct chunk_case *tc = &chunk_cases[_i];
	size_t len = strlen(tc->in);
	/* Whole, then split at every byte boundary (two feeds). */
	for (size_t cut = 0; cut <= len; cut++) {
		struct hp_chunked c;
		struct buf out = BUF_INIT;
		size_t used = 0, used2 = 0;
		hp_chunked_init(&c);
		int rc = hp_chunked_feed(&c, tc->in, cut, &used, collect, &out);
		if (rc == HP_AGAIN) {
			ck_assert_uint_eq(used, cut);
			rc = hp_chunked_feed(&c, tc->in + cut, len - cut, &used2,
					     collect, &out);
			used += used2;
		}
		ck_assert_msg(rc == tc->rc, "case %d cut %zu: rc %d want %d (%s)", _i,
			      cut, rc, tc->rc, c.err ? c.err : "");
		if (rc == HP_OK) {
			ck_assert_str_eq(out.data ? out.data : "", tc->body);
			ck_assert_uint_eq(len - used, tc->rest);
		}
		buf_free(&out);
	}
}
END_TEST

START_TEST(test_chunked_byte_by_byte)
{
	const char *in = "3\r\nabc\r\n1;e\r\nd\r\n0\r\nT: 1\r\n\r\n";
	struct hp_chunked c;
	struct buf out = BUF_INIT;
	hp_chunked_init(&c);
	size_t len = strlen(in), used;
	for (size_t i = 0; i < len; i++) {
		int rc = hp_chunked_feed(&c, in + i, 1, &used, collect, &out);
		ck_assert_uint_eq(used, 1);
		ck_assert_int_eq(rc, i + 1 == len ? HP_OK : HP_AGAIN);
	}
	ck_assert_str_eq(out.data, "abcd");
	buf_free(&out);
}
END_TEST

START_TEST(test_chunked_limits)
{
	struct hp_chunked c;
	struct buf in = BUF_INIT;
	size_t used;
	hp_chunked_init(&c);
	c.max_trailer = 64;
	buf_puts(&in, "0\r\n");
	for (int i = 0; i < 20; i++)
		buf_printf(&in, "X-%d: value\r\n", i);
	ck_assert_int_eq(hp_chunked_feed(&c, in.data, in.len, &used, NULL, NULL),
			 HP_ERROR);
	buf_reset(&in);
	hp_chunked_init(&c);
	c.max_line = 32;
	buf_puts(&in, "5;");
	for (int i = 0; i < 40; i++)
		buf_putc(&in, 'e');
	ck_assert_int_eq(hp_chunked_feed(&c, in.data, in.len, &used, NULL, NULL),
			 HP_ERROR);
	buf_free(&in);
}
END_TEST

START_TEST(test_reason)
{
	ck_assert_str_eq(hp_reason(200), "OK");
	ck_assert_str_eq(hp_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(hp_reason(799), "Unknown");
}
END_TEST

Suite *suite_http_parse(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_request_table, 0,
			    sizeof req_cases / sizeof req_cases[0]);
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_split_every_byte);
	tcase_add_test(tc, test_limits);
	tcase_add_loop_test(tc, test_response_table, 0,
			    sizeof resp_cases / sizeof resp_cases[0]);
	tcase_add_loop_test(tc, test_chunked_table, 0,
			    sizeof chunk_cases / sizeof chunk_cases[0]);
	tcase_add_test(tc, test_chunked_byte_by_byte);
	tcase_add_test(tc, test_chunked_limits);
	tcase_add_test(tc, test_reason);
	suite_add_tcase(s, tc);
	return s;
}
