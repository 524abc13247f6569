/* http_client.h — a tiny blocking HTTP/1.1 client for the tests (loopback). */
#ifndef ES_TEST_HTTP_CLIENT_H
#define ES_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct tc_conn {
	int fd;
	struct buf in; /* bytes read, not yet consumed */
};

struct tc_resp {
	int status;
	bool chunked;    /* was sent with chunked coding */
	bool closed;     /* the connection closed after it */
	struct buf head; /* the head as received */
	struct buf body; /* decoded body */
};

/* Connects to 127.0.0.1:PORT with a receive timeout of TIMEOUT_MS. */
int tc_connect(struct tc_conn *c, int port, int timeout_ms);
void tc_close(struct tc_conn *c);
int tc_send(struct tc_conn *c, const char *data, size_t len);
int tc_sends(struct tc_conn *c, const char *s);
/* Reads one response (skipping 1xx ones unless KEEP_1XX). Returns 0, or -1
 * on timeout, EOF before a full response, or a malformed one. */
int tc_read(struct tc_conn *c, struct tc_resp *r, bool keep_1xx);
/* Whether the peer closed (read returns 0) within TIMEOUT_MS. */
bool tc_eof(struct tc_conn *c, int timeout_ms);
void tc_resp_free(struct tc_resp *r);

/* One request on a new connection; returns the status or -1; BODY may be
 * NULL, OUT may be NULL. */
int tc_request(int port, const char *method, const char *path,
	       const char *body, struct buf *out);

#endif
