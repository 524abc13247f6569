/* hcall.h — a small blocking HTTP/1.1 client with a hard deadline.
 *
 * One request per connection ("Connection: close"), signed with lib/auth,
 * the response parsed with lib/http_parse. Everything (name lookup of a
 * numeric address, connect, send, receive) happens within TIMEOUT_MS of the
 * call: the socket is non-blocking and every wait is a poll(2) bounded by
 * what is left of the deadline. No signals, no threads, no libcurl: the
 * SPANK plugin calls this inside slurmstepd, which must not block for long.
 *
 *   struct hcall_resp r;
 *   char err[256];
 *   if (hcall("http://127.0.0.1:8780", "POST", "/api/v1/heartbeat", body,
 *             strlen(body), &auth, 2000, &r, err, sizeof err) < 0)
 *       fprintf(stderr, "cannot reach registry: %s\n", err);
 *   else
 *       ... r.status, r.body.data ...
 *   hcall_resp_free(&r);
 *
 * Host names. An address written as digits ("127.0.0.1", "[::1]") never
 * waits. A name goes through getaddrinfo(3), which consults /etc/hosts and
 * then DNS under resolv.conf's own timeout: that part cannot be bounded
 * without threads, so callers with hard limits (the plugin) should be given
 * a numeric address or a name in /etc/hosts.
 *
 * SIGPIPE is never raised (MSG_NOSIGNAL); file descriptors are close-on-exec.
 */
#ifndef ES_HCALL_H
#define ES_HCALL_H

#include <stddef.h>

#include "auth.h"
#include "buf.h"

/* The largest response body hcall() accepts by default. */
#define HCALL_MAX_BODY (8u << 20)

/* Return values of hcall(): 0, or one of these (negative). */
enum hcall_error {
	HCALL_OK = 0,
	HCALL_EURL = -1,      /* the base URL or target is malformed */
	HCALL_ERESOLVE = -2,  /* the host name does not resolve */
	HCALL_ECONNECT = -3,  /* connection refused, unreachable... */
	HCALL_ETIMEOUT = -4,  /* the deadline passed */
	HCALL_EIO = -5,       /* the connection broke mid-exchange */
	HCALL_EPROTO = -6,    /* the response is not valid HTTP/1.x */
	HCALL_ETOOBIG = -7,   /* the response is larger than allowed */
	HCALL_EAUTH = -8,     /* the request could not be signed */
};

struct hcall_resp {
	int status;             /* HTTP status code, e.g. 200 */
	struct buf body;        /* the body, de-chunked, NUL-terminated */
	char content_type[128]; /* Content-Type, "" when absent or too long */
};

/* Options for hcall_ex(); zero means the default. */
struct hcall_opts {
	size_t max_body;          /* response bodies above this fail (HCALL_MAX_BODY) */
	size_t max_head;          /* response heads above this fail (16 KiB) */
	const char *content_type; /* of the request body ("application/json") */
};

/* Sends METHOD TARGET (path and query, starting with '/') to BASE_URL
 * ("http://HOST[:PORT][/PREFIX]", port 80 by default; a prefix is put in
 * front of TARGET) with LEN bytes of BODY (BODY may be NULL when LEN is 0),
 * signed with AUTH (NULL: no Authorization header). Waits at most
 * TIMEOUT_MS in all. On a complete response of any status returns 0 and
 * fills RESP (free it with hcall_resp_free(), also after a failure); on
 * failure returns an enum hcall_error and writes a short reason to ERR
 * ("connection refused", "timed out after 2000 ms"). */
int hcall(const char *base_url, const char *method, const char *target, const char *body,
	  size_t len, const struct auth_client *auth, int timeout_ms, struct hcall_resp *resp,
	  char *err, size_t errlen);

/* hcall() with options; OPTS may be NULL. */
int hcall_ex(const char *base_url, const char *method, const char *target, const char *body,
	     size_t len, const struct auth_client *auth, int timeout_ms,
	     const struct hcall_opts *opts, struct hcall_resp *resp, char *err, size_t errlen);

void hcall_resp_free(struct hcall_resp *resp);

/* The parts of an "http://" URL. */
struct hcall_url {
	char host[256];   /* without brackets for IPv6 literals */
	int port;         /* 1..65535, 80 when not given */
	char prefix[512]; /* path prefix without a trailing '/', may be "" */
};

/* Parses URL. Returns 0, or -1 with ERR ("https is not supported"...). */
int hcall_parse_url(const char *url, struct hcall_url *out, char *err, size_t errlen);

#endif
