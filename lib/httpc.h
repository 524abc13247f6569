/* httpc.h — an asynchronous HTTP/1.1 client on a libevent event_base.
 *
 * Used by elastic-agent (health checks, /metrics, registry calls) and by the
 * registry's OpenAI proxy (streamed requests to engines). Raw events and
 * evbuffers like lib/httpd; responses are parsed with lib/http_parse.
 *
 *   struct httpc *c = httpc_new(base, NULL);
 *   struct httpc_request r = {
 *       .method = "GET", .url = "http://127.0.0.1:8000/health",
 *       .total_timeout_ms = 2000, .on_done = done, .arg = app,
 *   };
 *   if (!httpc_start(c, &r, err, sizeof err)) ...bad URL...
 *
 *   static void done(struct httpc_req *req, int err, const struct httpc_resp *resp, void *arg)
 *   {
 *       if (err) log("%s", httpc_req_errmsg(req));
 *       else use httpc_resp_status(resp), httpc_resp_body(resp, &len);
 *   }
 *
 * Connections. One pool per host:port: a finished exchange whose response
 * allows keep-alive returns its connection to the pool, and the next request
 * to that host:port reuses it. Idle connections are watched: one the server
 * closes is dropped at once, one idle for idle_timeout_ms is closed. With
 * max_conns_per_host set, requests beyond it wait in order for a connection.
 * Host names are resolved with evdns (resolv.conf and /etc/hosts), never
 * with a blocking call; numeric addresses skip the resolver.
 *
 * Callbacks. A request has three: on_head (status and headers, once),
 * on_body (each piece of the decoded body, as it arrives: chunked coding is
 * removed), on_done (exactly once, last; ERR is HTTPC_OK when the whole
 * response arrived). Without on_body the body is collected, up to max_body
 * bytes, and on_done finds it with httpc_resp_body(). No callback ever runs
 * inside httpc_start(); callbacks may start new requests and may cancel,
 * pause or resume their own. RESP is valid until on_done returns.
 *
 * Backpressure. httpc_pause() stops reading the response (on_body is not
 * called; the server's sends block once the socket buffers fill);
 * httpc_resume() continues, from the event loop. The read timeout does not
 * run while paused.
 *
 * Timeouts, per request (0 takes the client's default from httpc_config;
 * read and total have no default): connect (TCP connect), response (request
 * sent -> response head), read (longest silence while reading the body),
 * total (the whole exchange, from httpc_start()).
 *
 * Retries. A request sent on a reused keep-alive connection that fails
 * before any response byte arrives (the server closed the idle connection
 * as the request went out) is sent once more on a new connection when
 * `retry` is set; GET and HEAD always are. Nothing else is retried.
 *
 * Everything runs on the event_base's thread; nothing here is thread-safe.
 */
#ifndef ES_HTTPC_H
#define ES_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct httpc;
struct httpc_req;
struct httpc_resp;

/* Results given to on_done (negative: the request failed). */
#define HTTPC_OK 0
#define HTTPC_ERESOLVE -1          /* the host name did not resolve */
#define HTTPC_ECONNECT -2          /* connect refused or failed */
#define HTTPC_ETIMEOUT_CONNECT -3  /* connect did not finish in time */
#define HTTPC_ETIMEOUT_RESPONSE -4 /* no response head in time */
#define HTTPC_ETIMEOUT_READ -5     /* the body stalled */
#define HTTPC_ETIMEOUT_TOTAL -6    /* the whole exchange took too long */
#define HTTPC_EIO -7               /* reset or closed before the response ended */
#define HTTPC_EPROTO -8            /* malformed response */
#define HTTPC_ETOOBIG -9           /* head or collected body over its limit */
#define HTTPC_ESHUTDOWN -10        /* the client was freed */

struct httpc_config {
	unsigned connect_timeout_ms;  /* default connect timeout (3000) */
	unsigned response_timeout_ms; /* default response timeout (60000) */
	unsigned idle_timeout_ms;     /* pooled idle connections close after (30000) */
	unsigned max_idle_per_host;   /* idle connections kept per host:port (32) */
	unsigned max_conns_per_host;  /* open connections per host:port; 0: no limit */
	size_t max_head;              /* response head bytes (64 KiB) */
	unsigned dns_ttl_ms;          /* resolved names are reused this long (30000) */
};

/* Fills CFG with the defaults shown above. */
void httpc_config_init(struct httpc_config *cfg);

/* One request header. NAME and VALUE must not hold CR or LF. */
struct httpc_header {
	const char *name;
	const char *value;
};

typedef void (*httpc_head_fn)(struct httpc_req *req, const struct httpc_resp *resp,
			      void *arg);
typedef void (*httpc_body_fn)(struct httpc_req *req, const char *data, size_t len,
			      void *arg);
typedef void (*httpc_done_fn)(struct httpc_req *req, int err,
			      const struct httpc_resp *resp, void *arg);

/* What to send. Everything is copied by httpc_start(). */
struct httpc_request {
	const char *method;         /* "GET", "POST", ... */
	const char *url;            /* http://HOST[:PORT][/PATH[?QUERY]]; HOST may be [v6] */
	const struct httpc_header *headers; /* added as given; Host, Content-Length,
					       Transfer-Encoding and Connection are
					       the client's own and are dropped */
	size_t nheaders;
	const void *body;           /* may be NULL */
	size_t body_len;            /* sent with Content-Length (also 0 for POST/PUT/PATCH) */
	unsigned connect_timeout_ms;
	unsigned response_timeout_ms;
	unsigned read_timeout_ms;
	unsigned total_timeout_ms;
	size_t max_body;            /* collected bodies only; 0: 8 MiB */
	bool retry;                 /* may be resent, see "Retries" (GET, HEAD: always) */
	httpc_head_fn on_head;      /* may be NULL */
	httpc_body_fn on_body;      /* NULL: collect the body */
	httpc_done_fn on_done;      /* may be NULL */
	void *arg;                  /* passed to the callbacks */
};

/* Creates a client on BASE. CFG may be NULL (defaults); it is copied. */
struct httpc *httpc_new(struct event_base *base, const struct httpc_config *cfg);

/* Closes every connection. Requests in flight end without callbacks.
 * Not from inside a callback of this client. */
void httpc_free(struct httpc *c);

/* Starts a request. Returns it, or NULL with ERR when the request itself is
 * invalid (URL, method, header). Every other failure reaches on_done. */
struct httpc_req *httpc_start(struct httpc *c, const struct httpc_request *r,
			      char *err, size_t errlen);

/* Abandons REQ: no callback runs for it afterwards; its connection is
 * closed unless the exchange was complete. Allowed inside its callbacks
 * (inside on_done it does nothing). */
void httpc_cancel(struct httpc_req *req);

/* Stops / resumes delivering the response body (see "Backpressure"). */
void httpc_pause(struct httpc_req *req);
void httpc_resume(struct httpc_req *req);

/* What went wrong, for logs: "connect 127.0.0.1:8000: Connection refused".
 * Valid inside on_done. */
const char *httpc_req_errmsg(const struct httpc_req *req);

/* A short text for an HTTPC_E* code. */
const char *httpc_strerror(int err);

/* ---------------------------------------------------------------- response */

int httpc_resp_status(const struct httpc_resp *resp);
/* The value of header NAME (case-insensitive, first occurrence), or NULL. */
const char *httpc_resp_header(const struct httpc_resp *resp, const char *name);
/* Header fields in order: 0 <= I < httpc_resp_header_count(). */
unsigned httpc_resp_header_count(const struct httpc_resp *resp);
void httpc_resp_header_at(const struct httpc_resp *resp, unsigned i, const char **name,
			  const char **value);
/* The collected body (NUL-terminated; "" when none), in on_done only. */
const char *httpc_resp_body(const struct httpc_resp *resp, size_t *len);

/* ---------------------------------------------------------------- stats */

struct httpc_stats {
	unsigned long connects;  /* connections opened */
	unsigned long reused;    /* requests sent on a pooled connection */
	unsigned long retries;   /* requests resent after a stale connection */
	unsigned open;           /* connections open now */
	unsigned idle;           /* of which idle in a pool */
	unsigned inflight;       /* requests not yet done */
};

void httpc_get_stats(const struct httpc *c, struct httpc_stats *st);

#endif
