/* httpd.h — a small, fast HTTP/1.1 server on a libevent event_base.
 *
 * Used by elastic-sim, the registry's control API and its OpenAI proxy.
 * Raw events and evbuffers (no evhttp, no bufferevents): a keep-alive
 * request costs one read and one write system call.
 *
 *   struct httpd_config cfg;
 *   httpd_config_init(&cfg);
 *   struct httpd *h = httpd_new(base, &cfg, handler, app);
 *   if (httpd_listen(h, "127.0.0.1", 0, err, sizeof err) != 0) ...
 *   printf("port %d\n", httpd_port(h));
 *
 *   static void handler(struct httpd_req *req, void *app)
 *   {
 *       if (strcmp(httpd_req_path(req), "/health") == 0)
 *           httpd_reply(req, 200, "text/plain", "ok\n", 3);
 *       else
 *           keep req, reply later (from a timer, an upstream read...)
 *   }
 *
 * Requests. One handler per server; the application routes. The request
 * head and its whole body (Content-Length or chunked, up to max_body) are
 * read before the handler runs. A connection carries one request at a
 * time: pipelined requests wait in the input buffer until the one before
 * has its whole response queued, so responses are strictly in order.
 *
 * Replies. Every request ends in exactly one reply: httpd_reply() (a whole
 * response), or httpd_stream_start() + httpd_stream_write()... +
 * httpd_stream_end() (chunked transfer coding under HTTP/1.1, the body
 * delimited by closing the connection under HTTP/1.0). After the reply
 * (or the stream's end) the request pointer is invalid. A second reply is
 * a programming error: it is logged at error level and ignored (this is
 * reliable inside the handler call; afterwards the pointer may be gone).
 * Requests still without a reply when the server is freed get a 500.
 *
 * Client gone. When the client closes or resets the connection while a
 * request is pending, the on_close callback runs (once) so that the
 * application can cancel its work; the request stays valid, every write
 * on it becomes a no-op returning -1, and the application must still end
 * it with a reply or httpd_stream_end() to free it.
 *
 * Backpressure. httpd_req_outbuf_len() says how many response bytes are
 * queued for the client; httpd_req_on_drain() registers a callback run
 * whenever the queue drains to LOWAT bytes or fewer, so a proxy can pause
 * reading its upstream above a high mark and resume from the callback.
 *
 * Limits and timeouts (struct httpd_config): a head over max_header_bytes
 * or with more than max_headers fields gets 431, a body over max_body 413
 * (at once if Content-Length says so, before any 100 Continue), a head not
 * complete within header_timeout_ms or a body within body_timeout_ms 408;
 * all of these close the connection. An idle keep-alive connection is
 * closed after idle_timeout_ms; a client that does not read its response
 * for write_timeout_ms is dropped (on_close runs). At max_conns open
 * connections the server closes the oldest one without a request in
 * progress (sent nothing, part of a head, or idle between requests); when
 * every one is busy it pauses accepting (new clients wait in the kernel's
 * backlog) and resumes when one closes. max_conns is lowered to
 * half of the open files limit (less 64), so that a flood of idle
 * connections never leaves the application without descriptors; when
 * accept(2) fails for lack of them anyway, accepting pauses for 250 ms
 * instead of spinning. Programs raise the limit first with
 * httpd_raise_nofile().
 *
 * Error bodies. Errors the server makes itself (400, 408, 413, 414, 431,
 * 500, 501, 505...) have a text/plain body unless the application installs
 * a builder with httpd_set_error_body() (the OpenAI side installs
 * oai_httpd_error_body for OpenAI's error JSON).
 *
 * Graceful stop. httpd_shutdown() stops accepting, closes idle
 * connections, answers the requests in flight with "Connection: close" and
 * runs a callback once the last connection is gone. A connection still
 * sending its request is served too, or closed at its header or body
 * timeout.
 *
 * The server ignores SIGPIPE (process-wide) when it was at its default.
 * Everything runs on the event_base's thread; nothing here is thread-safe.
 */
#ifndef ES_HTTPD_H
#define ES_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct event_base;
struct httpd;
struct httpd_req;

struct httpd_config {
	size_t max_header_bytes;    /* request line + header fields (16 KiB) */
	unsigned max_headers;       /* header fields per request (100) */
	size_t max_target;          /* request target bytes (8 KiB) */
	size_t max_body;            /* request body bytes (8 MiB) */
	unsigned header_timeout_ms; /* whole head must arrive within (10 s) */
	unsigned body_timeout_ms;   /* whole body must arrive within (60 s) */
	unsigned idle_timeout_ms;   /* keep-alive idle time (75 s) */
	unsigned write_timeout_ms;  /* no write progress for this long (60 s) */
	unsigned max_conns;         /* open connections (10000) */
	int backlog;                /* listen(2) backlog (1024) */
};

/* Fills CFG with the defaults shown above. */
void httpd_config_init(struct httpd_config *cfg);

typedef void (*httpd_handler_fn)(struct httpd_req *req, void *arg);

/* Builds the body of an error response the server makes itself: appends
 * it to BODY and sets *CTYPE (a static string). MSG says what is wrong. */
typedef void (*httpd_error_body_fn)(int status, const char *msg,
				    struct buf *body, const char **ctype,
				    void *arg);

/* Raises this process's soft limit of open files to its hard limit (at
 * most 1048576). Returns the soft limit now in force, 0 when unknown. */
unsigned long httpd_raise_nofile(void);

/* Creates a server on BASE. HANDLER is called for each complete request
 * with ARG. CFG may be NULL (defaults); it is copied. */
struct httpd *httpd_new(struct event_base *base, const struct httpd_config *cfg,
			httpd_handler_fn handler, void *arg);

/* Listens on HOST ("127.0.0.1", "::1", "0.0.0.0", "::", a name; NULL or
 * "" means every address) and PORT (0: an ephemeral port). May be called
 * more than once (several addresses). Returns 0, or -1 with ERR set. */
int httpd_listen(struct httpd *h, const char *host, int port, char *err,
		 size_t errlen);

/* The port the first listener is bound to (useful after port 0), or -1. */
int httpd_port(const struct httpd *h);

void httpd_set_error_body(struct httpd *h, httpd_error_body_fn fn, void *arg);

/* Stops accepting and closes idle connections; connections with a request
 * in flight close after its response. DRAINED (may be NULL) runs once, from
 * the event loop, when no connection is left. */
void httpd_shutdown(struct httpd *h, void (*drained)(void *arg), void *arg);

/* Open connections, and requests handed to the handler without a reply. */
unsigned httpd_conn_count(const struct httpd *h);
unsigned httpd_pending_count(const struct httpd *h);

/* Closes everything now. Pending requests get a 500 where the client is
 * still there (and a loud log line); their on_close callbacks run. */
void httpd_free(struct httpd *h);

/* ---------------------------------------------------------------- request */

const char *httpd_req_method(const struct httpd_req *req); /* "GET" */
/* The target's path (before '?'), as sent: not percent-decoded. */
const char *httpd_req_path(const struct httpd_req *req);
/* The query without '?', or "" when none. */
const char *httpd_req_query(const struct httpd_req *req);
/* The value of header NAME (case-insensitive, first occurrence), or NULL. */
const char *httpd_req_header(const struct httpd_req *req, const char *name);
/* Header fields in order, for forwarding: 0 <= I < httpd_req_header_count. */
unsigned httpd_req_header_count(const struct httpd_req *req);
void httpd_req_header_at(const struct httpd_req *req, unsigned i,
			 const char **name, const char **value);
/* The body (NUL-terminated for convenience; may hold NULs) and its length. */
const char *httpd_req_body(const struct httpd_req *req, size_t *len);
int httpd_req_version_minor(const struct httpd_req *req); /* 0 or 1 */
/* The client's address as text ("127.0.0.1", "::1"). */
const char *httpd_req_peer(const struct httpd_req *req);

/* Application data attached to the request. */
void httpd_req_set_ctx(struct httpd_req *req, void *ctx);
void *httpd_req_ctx(const struct httpd_req *req);

/* CB runs once if the client goes away before the request ends. */
void httpd_req_on_close(struct httpd_req *req,
			void (*cb)(struct httpd_req *req, void *arg), void *arg);
/* Whether the client is gone. */
bool httpd_req_closed(const struct httpd_req *req);

/* Adds a response header (before the reply). NAME and VALUE must not hold
 * CR or LF (such a header is dropped, with a log line). Content-Length,
 * Transfer-Encoding, Connection and Date are the server's own. */
void httpd_add_header(struct httpd_req *req, const char *name,
		      const char *value);

/* Forgets the headers added so far (before the reply: a proxy that gives
 * up a worker's answer and asks another). */
void httpd_reset_headers(struct httpd_req *req);

/* Sends a whole response. CTYPE may be NULL (no Content-Type). */
void httpd_reply(struct httpd_req *req, int status, const char *ctype,
		 const void *body, size_t len);

/* Starts a streamed response. Returns 0, or -1 if the client is gone (the
 * request must still be ended with httpd_stream_end). */
int httpd_stream_start(struct httpd_req *req, int status, const char *ctype);
/* Queues LEN bytes as one chunk. Returns 0, or -1 if the client is gone. */
int httpd_stream_write(struct httpd_req *req, const void *data, size_t len);
/* Ends the stream (last chunk) and the request. */
void httpd_stream_end(struct httpd_req *req);
/* Ends the request by closing the connection after the bytes already
 * queued, without the last chunk: the client sees an incomplete response
 * (a proxy whose upstream failed mid-stream). On a request without a reply
 * yet, closes the connection without a response. */
void httpd_stream_abort(struct httpd_req *req);

/* Response bytes queued and not yet written to the socket. */
size_t httpd_req_outbuf_len(const struct httpd_req *req);
/* CB runs whenever a write takes the queue from above LOWAT bytes to LOWAT
 * or fewer (from the event loop, or from inside httpd_stream_write when the
 * socket takes the bytes at once); NULL unregisters it. */
void httpd_req_on_drain(struct httpd_req *req, size_t lowat,
			void (*cb)(struct httpd_req *req, void *arg), void *arg);

#endif
