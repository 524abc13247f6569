/* httpd.c — see httpd.h.
 *
 * One struct httpd_conn per connection, with its request embedded (one
 * request at a time per connection). Input is read into a flat buffer and
 * parsed in place; the head is then copied into the request so that later
 * reads may move the buffer. Output goes through an evbuffer written with
 * writev right after the reply (or once at the end of a read callback, so
 * pipelined responses leave in one write); the write event is armed only
 * when the socket cannot take everything.
 *
 * A connection's memory lives while its socket is open, while the
 * application holds its request, or while a callback on it runs (busy).
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "http_parse.h"
#include "log.h"

#define HTTPD_MAX_LISTENERS 8
#define HTTPD_READ_SIZE 16384
#define HTTPD_LINGER_MS 2000

enum conn_state {
	CONN_HEAD,    /* reading a request head */
	CONN_BODY,    /* reading its body */
	CONN_HANDLER, /* the application has the request */
	CONN_CLOSING, /* flushing the last response, then linger */
	CONN_LINGER,  /* write side shut; discarding input until EOF */
};

enum req_state {
	REQ_IDLE,      /* not handed to the application */
	REQ_PENDING,   /* handed over, no reply yet */
	REQ_STREAMING, /* streamed response started */
	REQ_DONE,      /* replied */
};

#define HTTPD_FD_RETRY_MS 250      /* accept again after running out of fds */
#define HTTPD_NOFILE_MAX (1u << 20) /* httpd_raise_nofile() goes no higher */
#define HTTPD_EVICT_SCAN 64        /* connections looked at for an idle one */
#define HTTPD_FULL_CHECK_MS 50     /* at max_conns: how often to look for waiting clients */
#define HTTPD_EVICT_BATCH 16       /* idle connections closed at once for them */

enum tmo_kind { TMO_NONE, TMO_HEADER, TMO_BODY, TMO_IDLE, TMO_LINGER };

struct httpd_req {
	struct httpd_conn *conn; /* the connection it came on */
	struct hp_msg msg;       /* parsed head; spans into head.data */
	struct buf head;         /* copy of the head, NULs written in */
	struct buf body;         /* the decoded body */
	struct buf outhdr;       /* headers added by the application */
	const char *path;        /* into head.data */
	const char *query;       /* into head.data, or "" */
	enum req_state state;
	bool head_method;   /* HEAD: no body in the response */
	bool chunked_out;   /* streamed with chunked coding */
	bool no_body;       /* streamed response has no body (HEAD, 204, 304) */
	bool close_after;   /* this response closes the connection */
	bool close_fired;   /* on_close already ran */
	void *ctx;          /* application data */
	void (*close_cb)(struct httpd_req *, void *);
	void *close_arg;
	void (*drain_cb)(struct httpd_req *, void *);
	void *drain_arg;
	size_t drain_lowat;
};

struct httpd_conn {
	struct httpd *srv;
	int fd;                 /* -1 once closed */
	struct event rev;       /* readable, persistent */
	struct event wev;       /* writable, armed when output is stuck */
	struct event tmo;       /* header, body, idle and linger timer */
	enum tmo_kind tmo_kind; /* what tmo measures */
	struct buf in;          /* input bytes; consumed from ipos */
	size_t ipos;            /* first unconsumed byte of in */
	struct evbuffer *out;   /* response bytes not yet written */
	enum conn_state state;
	struct httpd_req req;      /* the current request */
	struct hp_chunked chunked; /* body decoder (chunked requests) */
	uint64_t body_left;        /* Content-Length bytes still to read */
	bool body_too_large;       /* chunked body passed max_body */
	bool reading;              /* rev is added */
	bool in_read;              /* inside the read callback: flush later */
	bool processing;           /* inside conn_process */
	bool in_drain;             /* inside the drain callback */
	int busy;                  /* callbacks running on this connection */
	char peer[INET6_ADDRSTRLEN];
	struct httpd_conn *prev, *next; /* all connections of the server */
};

struct httpd {
	struct event_base *base;
	struct httpd_config cfg;
	struct hp_limits lim;
	httpd_handler_fn handler;
	void *arg;
	httpd_error_body_fn errfn;
	void *errarg;
	struct evconnlistener *lev[HTTPD_MAX_LISTENERS];
	int nlev;
	int port;                 /* of the first listener */
	bool paused;              /* accepting paused at max_conns */
	bool fd_paused;           /* accepting paused: out of file descriptors */
	struct event *resume_ev;  /* ends fd_paused */
	unsigned fd_refusals;     /* accept failures for lack of descriptors */
	unsigned long evicted;    /* idle connections closed at max_conns */
	struct event *full_ev;    /* looks for waiting clients at max_conns */
	time_t full_warned;       /* when reaching max_conns was last logged */
	time_t fd_warned;         /* when that was last logged */
	bool shutting_down;
	unsigned nopen;           /* open sockets */
	unsigned nconns;          /* connection structs alive */
	unsigned npending;        /* requests without a reply */
	struct httpd_conn *conns; /* list of all, newest first */
	struct httpd_conn *oldest; /* its last element */
	const struct timeval *tv_header, *tv_body, *tv_idle, *tv_linger;
	struct timeval tv_write;
	struct event *drained_ev; /* runs drained_cb from the loop */
	void (*drained_cb)(void *);
	void *drained_arg;
	struct buf scratch; /* response head assembly */
	char date[40];      /* cached Date header value */
	time_t date_at;     /* second the date was made for */
};

static void conn_process(struct httpd_conn *c);
static bool httpd_evict_idle(struct httpd *h, struct httpd_conn *except);
static void httpd_full_cb(evutil_socket_t fd, short what, void *arg);
static void httpd_resume_cb(evutil_socket_t fd, short what, void *arg);
static void conn_flush(struct httpd_conn *c);
static void conn_shut(struct httpd_conn *c);
static void conn_release(struct httpd_conn *c);

/* ---------------------------------------------------------------- config */

void httpd_config_init(struct httpd_config *cfg)
{
	cfg->max_header_bytes = 16384;
	cfg->max_headers = 100;
	cfg->max_target = 8192;
	cfg->max_body = 8u << 20;
	cfg->header_timeout_ms = 10000;
	cfg->body_timeout_ms = 60000;
	cfg->idle_timeout_ms = 75000;
	cfg->write_timeout_ms = 60000;
	cfg->max_conns = 10000;
	cfg->backlog = 1024;
}

static const struct timeval *httpd_common_tv(struct event_base *base, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	const struct timeval *ctv = event_base_init_common_timeout(base, &tv);
	if (!ctv) {
		static struct timeval fallback[8];
		static int n;
		fallback[n % 8] = tv;
		return &fallback[n++ % 8];
	}
	return ctv;
}

static void httpd_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd *h = arg;
	if (h->drained_cb) {
		void (*cb)(void *) = h->drained_cb;
		h->drained_cb = NULL;
		cb(h->drained_arg);
	}
}

struct httpd *httpd_new(struct event_base *base, const struct httpd_config *cfg,
			httpd_handler_fn handler, void *arg)
{
	struct httpd *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->base = base;
	if (cfg)
		h->cfg = *cfg;
	else
		httpd_config_init(&h->cfg);
	hp_limits_default(&h->lim);
	h->lim.max_head = h->cfg.max_header_bytes;
	h->lim.max_headers = h->cfg.max_headers;
	h->lim.max_target = h->cfg.max_target;
	h->handler = handler;
	h->arg = arg;
	h->port = -1;
	h->tv_header = httpd_common_tv(base, h->cfg.header_timeout_ms);
	h->tv_body = httpd_common_tv(base, h->cfg.body_timeout_ms);
	h->tv_idle = httpd_common_tv(base, h->cfg.idle_timeout_ms);
	h->tv_linger = httpd_common_tv(base, HTTPD_LINGER_MS);
	h->tv_write.tv_sec = h->cfg.write_timeout_ms / 1000;
	h->tv_write.tv_usec = (h->cfg.write_timeout_ms % 1000) * 1000;
	h->drained_ev = event_new(base, -1, 0, httpd_drained_cb, h);
	h->resume_ev = evtimer_new(base, httpd_resume_cb, h);
	h->full_ev = evtimer_new(base, httpd_full_cb, h);
	if (!h->drained_ev || !h->resume_ev || !h->full_ev) {
		if (h->drained_ev)
			event_free(h->drained_ev);
		if (h->resume_ev)
			event_free(h->resume_ev);
		if (h->full_ev)
			event_free(h->full_ev);
		free(h);
		return NULL;
	}
	/* Never more connections than descriptors: at the limit accept(2)
	 * fails, the listener stays readable and the loop spins, while the
	 * application can no longer open a file, a pipe or a connection of
	 * its own. Half of them stay for the application (a proxy opens one
	 * upstream per request). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t cap = rl.rlim_cur > 128 ? (rl.rlim_cur - 64) / 2 : rl.rlim_cur / 2;
		if (cap < 1)
			cap = 1;
		if (h->cfg.max_conns > cap) {
			log_info("httpd: at most %lu connections (open files limit %lu)",
				 (unsigned long)cap, (unsigned long)rl.rlim_cur);
			h->cfg.max_conns = (unsigned)cap;
		}
	}
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	return h;
}

void httpd_set_error_body(struct httpd *h, httpd_error_body_fn fn, void *arg)
{
	h->errfn = fn;
	h->errarg = arg;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

unsigned httpd_conn_count(const struct httpd *h)
{
	return h->nconns;
}

unsigned httpd_pending_count(const struct httpd *h)
{
	return h->npending;
}

/* ---------------------------------------------------------------- timers */

static void conn_timer(struct httpd_conn *c, enum tmo_kind kind)
{
	const struct timeval *tv = NULL;
	switch (kind) {
	case TMO_HEADER: tv = c->srv->tv_header; break;
	case TMO_BODY: tv = c->srv->tv_body; break;
	case TMO_IDLE: tv = c->srv->tv_idle; break;
	case TMO_LINGER: tv = c->srv->tv_linger; break;
	case TMO_NONE: break;
	}
	c->tmo_kind = kind;
	if (tv)
		evtimer_add(&c->tmo, tv);
	else
		evtimer_del(&c->tmo);
}

/* ---------------------------------------------------------------- output */

static const char *httpd_date(struct httpd *h)
{
	time_t now = time(NULL);
	if (now != h->date_at) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(h->date, sizeof h->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		h->date_at = now;
	}
	return h->date;
}

/* Appends a response head to the scratch buffer. LEN < 0: no length
 * (streamed). */
static void httpd_head(struct httpd *h, struct buf *b, struct httpd_req *req,
		       int status, const char *ctype, long long len,
		       bool chunked)
{
	struct httpd_conn *c = req ? req->conn : NULL;
	/* No printf: this runs for every response. */
	buf_append(b, "HTTP/1.1 ", 9);
	buf_put_u64(b, (unsigned)status);
	buf_putc(b, ' ');
	buf_puts(b, hp_reason(status));
	buf_append(b, "\r\nDate: ", 8);
	buf_puts(b, httpd_date(h));
	buf_append(b, "\r\n", 2);
	if (ctype) {
		buf_append(b, "Content-Type: ", 14);
		buf_puts(b, ctype);
		buf_append(b, "\r\n", 2);
	}
	if (req && req->outhdr.len)
		buf_append(b, req->outhdr.data, req->outhdr.len);
	if (chunked) {
		buf_puts(b, "Transfer-Encoding: chunked\r\n");
	} else if (len >= 0) {
		buf_append(b, "Content-Length: ", 16);
		buf_put_u64(b, (unsigned long long)len);
		buf_append(b, "\r\n", 2);
	}
	if (!c || !req || req->close_after)
		buf_puts(b, "Connection: close\r\n");
	else if (req->msg.version_minor == 0)
		buf_puts(b, "Connection: keep-alive\r\n");
	buf_puts(b, "\r\n");
}

static void conn_lost(struct httpd_conn *c, const char *why)
{
	if (c->fd < 0)
		return;
	if (c->req.state == REQ_PENDING || c->req.state == REQ_STREAMING)
		log_debug("httpd: client %s gone with a request in flight: %s",
			  c->peer, why);
	conn_shut(c);
}

static void conn_linger(struct httpd_conn *c)
{
	c->state = CONN_LINGER;
	shutdown(c->fd, SHUT_WR);
	if (!c->reading) {
		event_add(&c->rev, NULL);
		c->reading = true;
	}
	conn_timer(c, TMO_LINGER);
}

static void conn_flush(struct httpd_conn *c)
{
	if (c->fd < 0 || c->in_read)
		return;
	size_t before = evbuffer_get_length(c->out);
	if (before) {
		int n = evbuffer_write(c->out, c->fd);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_lost(c, strerror(errno));
			return;
		}
	}
	size_t left = evbuffer_get_length(c->out);
	if (left) {
		if (!event_pending(&c->wev, EV_WRITE, NULL))
			event_add(&c->wev, &c->srv->tv_write);
	} else if (event_pending(&c->wev, EV_WRITE, NULL)) {
		event_del(&c->wev);
	}
	struct httpd_req *r = &c->req;
	if (r->drain_cb && !c->in_drain && before > r->drain_lowat &&
	    left <= r->drain_lowat &&
	    (r->state == REQ_PENDING || r->state == REQ_STREAMING)) {
		c->in_drain = true;
		r->drain_cb(r, r->drain_arg);
		c->in_drain = false;
		if (c->fd < 0)
			return;
		left = evbuffer_get_length(c->out);
	}
	if (c->state == CONN_CLOSING && left == 0)
		conn_linger(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct httpd_conn *c = arg;
	c->busy++;
	if (what & EV_TIMEOUT)
		conn_lost(c, "write timed out");
	else
		conn_flush(c);
	c->busy--;
	conn_release(c);
}

/* An error response the server makes itself; closes the connection. */
static void conn_send_error(struct httpd_conn *c, int status, const char *msg)
{
	struct httpd *h = c->srv;
	struct buf body = BUF_INIT;
	const char *ctype = "text/plain; charset=utf-8";
	if (h->errfn) {
		h->errfn(status, msg, &body, &ctype, h->errarg);
	} else {
		buf_puts(&body, msg);
		buf_putc(&body, '\n');
	}
	struct buf *b = &h->scratch;
	buf_reset(b);
	httpd_head(h, b, NULL, status, ctype, (long long)body.len, false);
	buf_append(b, body.data ? body.data : "", body.len);
	evbuffer_add(c->out, b->data, b->len);
	buf_free(&body);
	c->state = CONN_CLOSING;
	conn_timer(c, TMO_NONE);
	if (c->reading) {
		event_del(&c->rev);
		c->reading = false;
	}
	conn_flush(c);
}

/* ---------------------------------------------------------------- request */

/* Buffers above this are given back between requests, so that one large
 * request does not pin memory for the life of a keep-alive connection. */
#define HTTPD_KEEP_BUF (64 * 1024)

static void httpd_buf_trim(struct buf *b)
{
	if (b->cap > HTTPD_KEEP_BUF)
		buf_free(b);
}

static void req_reset(struct httpd_req *r)
{
	httpd_buf_trim(&r->head);
	httpd_buf_trim(&r->body);
	httpd_buf_trim(&r->outhdr);
	hp_msg_init(&r->msg, HP_REQUEST);
	buf_reset(&r->head);
	buf_reset(&r->body);
	buf_reset(&r->outhdr);
	r->path = r->query = "";
	r->state = REQ_IDLE;
	r->head_method = r->chunked_out = r->no_body = false;
	r->close_after = r->close_fired = false;
	r->ctx = NULL;
	r->close_cb = NULL;
	r->close_arg = NULL;
	r->drain_cb = NULL;
	r->drain_arg = NULL;
	r->drain_lowat = 0;
}

/* Copies the parsed head out of the input and writes NULs after each
 * string so that they can be handed out as C strings. */
static void req_take_head(struct httpd_conn *c, const char *p)
{
	struct httpd_req *r = &c->req;
	struct hp_msg *m = &r->msg;
	buf_append(&r->head, p, m->head_len);
	char *d = r->head.data;
	d[m->method.off + m->method.len] = '\0';
	char *target = d + m->target.off;
	target[m->target.len] = '\0';
	r->path = target;
	char *q = memchr(target, '?', m->target.len);
	if (q) {
		*q = '\0';
		r->query = q + 1;
	}
	for (unsigned i = 0; i < m->nheaders; i++) {
		d[m->headers[i].name.off + m->headers[i].name.len] = '\0';
		d[m->headers[i].value.off + m->headers[i].value.len] = '\0';
	}
	r->head_method = strcmp(d + m->method.off, "HEAD") == 0;
}

static void conn_dispatch(struct httpd_conn *c)
{
	struct httpd *h = c->srv;
	struct httpd_req *r = &c->req;
	conn_timer(c, TMO_NONE);
	c->state = CONN_HANDLER;
	r->state = REQ_PENDING;
	r->close_after = !r->msg.keep_alive || h->shutting_down;
	h->npending++;
	c->busy++;
	h->handler(r, h->arg);
	c->busy--;
}

/* The reply is queued: on to the next request, or closing. */
static void req_finish(struct httpd_conn *c)
{
	struct httpd_req *r = &c->req;
	r->state = REQ_DONE;
	c->srv->npending--;
	if (c->fd < 0)
		return;
	if (r->close_after || c->srv->shutting_down) {
		c->state = CONN_CLOSING;
		if (c->reading) {
			event_del(&c->rev);
			c->reading = false;
		}
		conn_flush(c);
		return;
	}
	req_reset(r);
	c->state = CONN_HEAD;
	if (!c->reading) {
		event_add(&c->rev, NULL);
		c->reading = true;
	}
	conn_timer(c, c->ipos < c->in.len ? TMO_HEADER : TMO_IDLE);
	if (!c->processing && c->ipos < c->in.len)
		conn_process(c);
	conn_flush(c);
}

static void body_append(void *arg, const char *data, size_t len)
{
	struct httpd_conn *c = arg;
	if (c->req.body.len + len > c->srv->cfg.max_body) {
		c->body_too_large = true;
		return;
	}
	buf_append(&c->req.body, data, len);
}

static void conn_consume(struct httpd_conn *c, size_t n)
{
	c->ipos += n;
	if (c->ipos >= c->in.len) {
		c->ipos = 0;
		buf_reset(&c->in);
		httpd_buf_trim(&c->in);
	}
}

static void conn_process(struct httpd_conn *c)
{
	struct httpd *h = c->srv;
	struct httpd_req *r = &c->req;
	c->processing = true;
	while (c->fd >= 0) {
		size_t avail = c->in.len - c->ipos;
		const char *p = c->in.data ? c->in.data + c->ipos : "";
		if (c->state == CONN_HEAD) {
			if (avail == 0)
				break;
			int rc = hp_parse(&r->msg, p, avail, &h->lim);
			if (rc == HP_AGAIN) {
				if (c->tmo_kind != TMO_HEADER)
					conn_timer(c, TMO_HEADER);
				break;
			}
			if (rc == HP_ERROR) {
				conn_send_error(c, r->msg.err_status, r->msg.err);
				break;
			}
			req_take_head(c, p);
			conn_consume(c, r->msg.head_len);
			if (r->msg.body == HP_BODY_NONE) {
				conn_dispatch(c);
				continue;
			}
			if (r->msg.body == HP_BODY_LENGTH) {
				if (r->msg.content_length > h->cfg.max_body) {
					conn_send_error(c, 413, "request body too large");
					break;
				}
				c->body_left = r->msg.content_length;
				buf_reserve(&r->body, (size_t)c->body_left);
			} else {
				hp_chunked_init(&c->chunked);
				c->body_too_large = false;
			}
			c->state = CONN_BODY;
			conn_timer(c, TMO_BODY);
			if (r->msg.expect_continue && c->ipos >= c->in.len)
				evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			continue;
		}
		if (c->state == CONN_BODY) {
			if (avail == 0)
				break;
			if (r->msg.body == HP_BODY_LENGTH) {
				size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
				buf_append(&r->body, p, n);
				conn_consume(c, n);
				c->body_left -= n;
				if (c->body_left > 0)
					break;
				conn_dispatch(c);
				continue;
			}
			size_t used = 0;
			int rc = hp_chunked_feed(&c->chunked, p, avail, &used,
						 body_append, c);
			conn_consume(c, used);
			if (c->body_too_large) {
				conn_send_error(c, 413, "request body too large");
				break;
			}
			if (rc == HP_ERROR) {
				conn_send_error(c, 400, c->chunked.err);
				break;
			}
			if (rc == HP_AGAIN)
				break;
			if (!r->body.data)
				buf_reserve(&r->body, 0);
			conn_dispatch(c);
			continue;
		}
		break;
	}
	c->processing = false;
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct httpd_conn *c = arg;
	struct httpd *h = c->srv;
	c->busy++;
	if (c->state == CONN_LINGER) {
		char sink[4096];
		ssize_t n = read(fd, sink, sizeof sink);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_shut(c);
		goto out;
	}
	buf_reserve(&c->in, HTTPD_READ_SIZE);
	ssize_t n = read(fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_lost(c, strerror(errno));
		goto out;
	}
	if (n == 0) {
		conn_lost(c, "end of file");
		goto out;
	}
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	if (c->state == CONN_HEAD || c->state == CONN_BODY) {
		c->in_read = true;
		conn_process(c);
		c->in_read = false;
		conn_flush(c);
	} else if (c->state == CONN_HANDLER &&
		   c->in.len - c->ipos > h->cfg.max_header_bytes + HTTPD_READ_SIZE) {
		/* Pipelined requests pile up: stop reading until the reply. */
		event_del(&c->rev);
		c->reading = false;
	}
	/* Compact the input once half of it is consumed. */
	if (c->fd >= 0 && c->ipos > 0 && c->ipos * 2 > c->in.len &&
	    c->state != CONN_HANDLER) {
		memmove(c->in.data, c->in.data + c->ipos, c->in.len - c->ipos);
		c->in.len -= c->ipos;
		c->in.data[c->in.len] = '\0';
		c->ipos = 0;
	}
out:
	c->busy--;
	conn_release(c);
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd_conn *c = arg;
	c->busy++;
	enum tmo_kind k = c->tmo_kind;
	c->tmo_kind = TMO_NONE;
	if (k == TMO_HEADER && c->state == CONN_HEAD && c->in.len > c->ipos)
		conn_send_error(c, 408, "request header timed out");
	else if (k == TMO_BODY && c->state == CONN_BODY)
		conn_send_error(c, 408, "request body timed out");
	else
		conn_shut(c);
	c->busy--;
	conn_release(c);
}

/* ---------------------------------------------------------------- lifetime */

static void conn_shut(struct httpd_conn *c)
{
	struct httpd *h = c->srv;
	if (c->fd < 0)
		return;
	event_del(&c->rev);
	event_del(&c->wev);
	evtimer_del(&c->tmo);
	c->reading = false;
	close(c->fd);
	c->fd = -1;
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	h->nopen--;
	if (h->paused && !h->shutting_down && h->nopen < h->cfg.max_conns) {
		h->paused = false;
		if (!h->fd_paused)
			for (int i = 0; i < h->nlev; i++)
				evconnlistener_enable(h->lev[i]);
	}
	struct httpd_req *r = &c->req;
	if ((r->state == REQ_PENDING || r->state == REQ_STREAMING) &&
	    !r->close_fired) {
		r->close_fired = true;
		if (r->close_cb) {
			c->busy++;
			r->close_cb(r, r->close_arg);
			c->busy--;
		}
	}
}

static void conn_free(struct httpd_conn *c)
{
	struct httpd *h = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		h->oldest = c->prev;
	evbuffer_free(c->out);
	buf_free(&c->in);
	buf_free(&c->req.head);
	buf_free(&c->req.body);
	buf_free(&c->req.outhdr);
	free(c);
	h->nconns--;
	if (h->shutting_down && h->nconns == 0 && h->drained_cb)
		event_active(h->drained_ev, EV_TIMEOUT, 1);
}

static void conn_release(struct httpd_conn *c)
{
	if (c->fd >= 0 || c->busy > 0)
		return;
	if (c->req.state == REQ_PENDING || c->req.state == REQ_STREAMING)
		return;
	conn_free(c);
}

/* Closes the oldest connection without a request in progress (one that
 * sent nothing or only part of a head, or an idle keep-alive one). Looks
 * at the HTTPD_EVICT_SCAN oldest only. Returns whether one was closed. */
static bool httpd_evict_idle(struct httpd *h, struct httpd_conn *except)
{
	struct httpd_conn *c = h->oldest;
	for (int n = 0; c && n < HTTPD_EVICT_SCAN; n++, c = c->prev) {
		if (c == except || c->fd < 0 || c->state != CONN_HEAD || c->busy || c->processing ||
		    c->req.state != REQ_IDLE || evbuffer_get_length(c->out) > 0)
			continue;
		log_debug("httpd: %u connections open: closing an idle one from %s", h->nopen,
			  c->peer);
		h->evicted++;
		conn_shut(c);
		conn_release(c);
		return true;
	}
	return false;
}

/* While accepting is paused at max_conns: when a client waits in a
 * listener's backlog, an idle connection makes room for it, so that idle
 * connections cannot keep new clients out (a flood of them would hold every
 * slot for header_timeout, again and again). */
static void httpd_full_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd *h = arg;
	if (!h->paused || h->shutting_down)
		return;
	struct pollfd pfd[HTTPD_MAX_LISTENERS];
	for (int i = 0; i < h->nlev; i++)
		pfd[i] = (struct pollfd){.fd = evconnlistener_get_fd(h->lev[i]), .events = POLLIN};
	if (poll(pfd, (nfds_t)h->nlev, 0) > 0) {
		/* Room for a few at a time: a flood's backlog drains quickly. */
		int n = 0;
		while (n < HTTPD_EVICT_BATCH && httpd_evict_idle(h, NULL))
			n++;
		if (n)
			return; /* conn_shut resumed accepting */
	}
	struct timeval tv = {0, HTTPD_FULL_CHECK_MS * 1000};
	evtimer_add(h->full_ev, &tv);
}

static void httpd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
			    struct sockaddr *sa, int salen, void *arg)
{
	(void)lev;
	(void)salen;
	struct httpd *h = arg;
	struct httpd_conn *c = calloc(1, sizeof *c);
	if (!c || !(c->out = evbuffer_new())) {
		log_error("httpd: out of memory accepting a connection");
		free(c);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->srv = h;
	c->fd = fd;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer,
			  sizeof c->peer);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
			  c->peer, sizeof c->peer);
	else
		strcpy(c->peer, "unknown");
	c->req.conn = c;
	req_reset(&c->req);
	event_assign(&c->rev, h->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	event_assign(&c->wev, h->base, fd, EV_WRITE, conn_write_cb, c);
	evtimer_assign(&c->tmo, h->base, conn_timeout_cb, c);
	event_add(&c->rev, NULL);
	c->reading = true;
	c->state = CONN_HEAD;
	conn_timer(c, TMO_HEADER);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	else
		h->oldest = c;
	h->conns = c;
	h->nconns++;
	h->nopen++;
	if (h->nopen >= h->cfg.max_conns && !h->paused) {
		for (int i = 0; i < h->nlev; i++)
			evconnlistener_disable(h->lev[i]);
		h->paused = true;
		if (h->full_warned != time(NULL)) /* at most once a second */
			log_warn("httpd: %u connections open: accepting again when one closes or "
				 "an idle one can be closed", h->nopen);
		h->full_warned = time(NULL);
		struct timeval tv = {0, HTTPD_FULL_CHECK_MS * 1000};
		evtimer_add(h->full_ev, &tv);
	}
}

static void httpd_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	struct httpd *h = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		log_warn("httpd: cannot accept: %s", evutil_socket_error_to_string(e));
		return;
	}
	/* The connection waits in the backlog; try again shortly rather than
	 * at once, forever. */
	h->fd_refusals++;
	time_t now = time(NULL);
	if (now - h->fd_warned >= 10) {
		log_warn("httpd: cannot accept: %s (%u time(s)); pausing accepts",
			 evutil_socket_error_to_string(e), h->fd_refusals);
		h->fd_warned = now;
	}
	if (!h->fd_paused) {
		h->fd_paused = true;
		for (int i = 0; i < h->nlev; i++)
			evconnlistener_disable(h->lev[i]);
		struct timeval tv = {0, HTTPD_FD_RETRY_MS * 1000};
		evtimer_add(h->resume_ev, &tv);
	}
}

static void httpd_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpd *h = arg;
	h->fd_paused = false;
	if (h->paused || h->shutting_down)
		return;
	for (int i = 0; i < h->nlev; i++)
		evconnlistener_enable(h->lev[i]);
}

unsigned long httpd_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	rlim_t want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > HTTPD_NOFILE_MAX)
		want = HTTPD_NOFILE_MAX;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 0;
	}
	return (unsigned long)rl.rlim_cur;
}

int httpd_listen(struct httpd *h, const char *host, int port, char *err,
		 size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	if (h->nlev >= HTTPD_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners");
		return -1;
	}
	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "invalid port %d", port);
		return -1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof portstr, "%d", port);
	if (host && !*host)
		host = NULL;
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host ? host : "*",
			 gai_strerror(rc));
		return -1;
	}
	/* With no host, prefer the IPv6 wildcard (dual stack). */
	struct addrinfo *ai = res;
	if (!host)
		for (struct addrinfo *a = res; a; a = a->ai_next)
			if (a->ai_family == AF_INET6) {
				ai = a;
				break;
			}
	struct evconnlistener *lev = evconnlistener_new_bind(
		h->base, httpd_accept_cb, h,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
		h->cfg.backlog, ai->ai_addr, (int)ai->ai_addrlen);
	if (!lev) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s",
			 host ? host : "*", port, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	evconnlistener_set_error_cb(lev, httpd_accept_error_cb);
	if (h->port < 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ss,
				&sl) == 0)
			h->port = ntohs(ss.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port);
	}
	if (h->paused || h->fd_paused || h->shutting_down)
		evconnlistener_disable(lev);
	h->lev[h->nlev++] = lev;
	return 0;
}

void httpd_shutdown(struct httpd *h, void (*drained)(void *), void *arg)
{
	h->shutting_down = true;
	h->drained_cb = drained;
	h->drained_arg = arg;
	for (int i = 0; i < h->nlev; i++)
		evconnlistener_free(h->lev[i]);
	h->nlev = 0;
	struct httpd_conn *next;
	for (struct httpd_conn *c = h->conns; c; c = next) {
		next = c->next;
		if (c->fd >= 0 && c->state == CONN_HEAD && c->ipos >= c->in.len) {
			conn_shut(c);
			conn_release(c);
		}
	}
	if (h->nconns == 0 && drained)
		event_active(h->drained_ev, EV_TIMEOUT, 1);
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	h->shutting_down = true;
	h->drained_cb = NULL;
	for (int i = 0; i < h->nlev; i++)
		evconnlistener_free(h->lev[i]);
	h->nlev = 0;
	while (h->conns) {
		struct httpd_conn *c = h->conns;
		struct httpd_req *r = &c->req;
		if (r->state == REQ_PENDING) {
			log_error("httpd: request %s %s freed without a reply: 500",
				  httpd_req_method(r), r->path);
			if (c->fd >= 0) {
				r->close_after = true;
				struct buf *b = &h->scratch;
				buf_reset(b);
				httpd_head(h, b, r, 500, "text/plain", 22, false);
				buf_puts(b, "internal server error\n");
				evbuffer_add(c->out, b->data, b->len);
				c->busy++;
				conn_flush(c);
				c->busy--;
			}
		}
		c->busy++;
		conn_shut(c);
		if (r->state == REQ_PENDING || r->state == REQ_STREAMING)
			h->npending--;
		conn_free(c);
	}
	event_free(h->drained_ev);
	event_free(h->resume_ev);
	event_free(h->full_ev);
	buf_free(&h->scratch);
	free(h);
}

/* ---------------------------------------------------------------- request API */

const char *httpd_req_method(const struct httpd_req *r)
{
	return r->head.data ? r->head.data + r->msg.method.off : "";
}

const char *httpd_req_path(const struct httpd_req *r)
{
	return r->path;
}

const char *httpd_req_query(const struct httpd_req *r)
{
	return r->query;
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
	const struct hp_header *hd = hp_find(&r->msg, r->head.data, name);
	return hd ? r->head.data + hd->value.off : NULL;
}

unsigned httpd_req_header_count(const struct httpd_req *r)
{
	return r->msg.nheaders;
}

void httpd_req_header_at(const struct httpd_req *r, unsigned i,
			 const char **name, const char **value)
{
	*name = r->head.data + r->msg.headers[i].name.off;
	*value = r->head.data + r->msg.headers[i].value.off;
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

int httpd_req_version_minor(const struct httpd_req *r)
{
	return r->msg.version_minor;
}

const char *httpd_req_peer(const struct httpd_req *r)
{
	return r->conn->peer;
}

void httpd_req_set_ctx(struct httpd_req *r, void *ctx)
{
	r->ctx = ctx;
}

void *httpd_req_ctx(const struct httpd_req *r)
{
	return r->ctx;
}

void httpd_req_on_close(struct httpd_req *r,
			void (*cb)(struct httpd_req *, void *), void *arg)
{
	r->close_cb = cb;
	r->close_arg = arg;
}

bool httpd_req_closed(const struct httpd_req *r)
{
	return r->conn->fd < 0;
}

size_t httpd_req_outbuf_len(const struct httpd_req *r)
{
	return r->conn->fd < 0 ? 0 : evbuffer_get_length(r->conn->out);
}

void httpd_req_on_drain(struct httpd_req *r, size_t lowat,
			void (*cb)(struct httpd_req *, void *), void *arg)
{
	r->drain_cb = cb;
	r->drain_arg = arg;
	r->drain_lowat = lowat;
}

static bool httpd_hdr_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

void httpd_add_header(struct httpd_req *r, const char *name, const char *value)
{
	if (r->state != REQ_PENDING) {
		log_error("httpd: header %s added after the reply started", name);
		return;
	}
	if (!*name || !httpd_hdr_ok(name) || !httpd_hdr_ok(value) ||
	    strchr(name, ':')) {
		log_error("httpd: invalid response header %s dropped", name);
		return;
	}
	buf_puts(&r->outhdr, name);
	buf_append(&r->outhdr, ": ", 2);
	buf_puts(&r->outhdr, value);
	buf_append(&r->outhdr, "\r\n", 2);
}

void httpd_reset_headers(struct httpd_req *r)
{
	if (r->state == REQ_PENDING)
		buf_reset(&r->outhdr);
}

/* Returns false (and logs) unless the request may be replied to now. */
static bool req_check(struct httpd_req *r, enum req_state want, const char *what)
{
	if (r->state == want)
		return true;
	if (r->state == REQ_IDLE || r->state == REQ_DONE)
		log_error("httpd: BUG: %s on a request that already has its reply "
			  "(double reply)", what);
	else
		log_error("httpd: BUG: %s on request %s %s in state %d", what,
			  httpd_req_method(r), r->path, (int)r->state);
	return false;
}

void httpd_reply(struct httpd_req *r, int status, const char *ctype,
		 const void *body, size_t len)
{
	if (!req_check(r, REQ_PENDING, "httpd_reply"))
		return;
	struct httpd_conn *c = r->conn;
	struct httpd *h = c->srv;
	c->busy++;
	if (c->fd >= 0) {
		if (h->shutting_down)
			r->close_after = true;
		bool nobody = status == 204 || status == 304 || status < 200;
		struct buf *b = &h->scratch;
		buf_reset(b);
		httpd_head(h, b, r, status, ctype, nobody ? -1 : (long long)len, false);
		if (!nobody && !r->head_method && len) {
			if (len <= 8192) {
				buf_append(b, body, len);
				evbuffer_add(c->out, b->data, b->len);
			} else {
				evbuffer_add(c->out, b->data, b->len);
				evbuffer_add(c->out, body, len);
			}
		} else {
			evbuffer_add(c->out, b->data, b->len);
		}
		conn_flush(c);
	}
	req_finish(c);
	c->busy--;
	conn_release(c);
}

int httpd_stream_start(struct httpd_req *r, int status, const char *ctype)
{
	if (!req_check(r, REQ_PENDING, "httpd_stream_start"))
		return -1;
	struct httpd_conn *c = r->conn;
	struct httpd *h = c->srv;
	r->state = REQ_STREAMING;
	if (c->fd < 0)
		return -1;
	if (h->shutting_down)
		r->close_after = true;
	r->no_body = r->head_method || status == 204 || status == 304;
	if (r->msg.version_minor >= 1 && !r->no_body) {
		r->chunked_out = true;
	} else if (!r->no_body) {
		r->close_after = true; /* the end of the body is the close */
	}
	struct buf *b = &h->scratch;
	buf_reset(b);
	httpd_head(h, b, r, status, ctype, r->no_body ? 0 : -1, r->chunked_out);
	evbuffer_add(c->out, b->data, b->len);
	c->busy++;
	conn_flush(c);
	c->busy--;
	return c->fd < 0 ? -1 : 0;
}

int httpd_stream_write(struct httpd_req *r, const void *data, size_t len)
{
	if (!req_check(r, REQ_STREAMING, "httpd_stream_write"))
		return -1;
	struct httpd_conn *c = r->conn;
	if (c->fd < 0)
		return -1;
	if (len == 0 || r->no_body)
		return 0;
	if (r->chunked_out) {
		static const char digits[] = "0123456789abcdef";
		char hex[24];
		size_t i = sizeof hex - 2;
		hex[i] = '\r';
		hex[i + 1] = '\n';
		size_t v = len;
		do {
			hex[--i] = digits[v & 15];
			v >>= 4;
		} while (v);
		evbuffer_add(c->out, hex + i, sizeof hex - i);
		evbuffer_add(c->out, data, len);
		evbuffer_add(c->out, "\r\n", 2);
	} else {
		evbuffer_add(c->out, data, len);
	}
	c->busy++;
	conn_flush(c);
	c->busy--;
	return c->fd < 0 ? -1 : 0;
}

void httpd_stream_end(struct httpd_req *r)
{
	if (r->state == REQ_PENDING) {
		/* Ended before it started, e.g. the client left early. */
		r->state = REQ_STREAMING;
		if (r->conn->fd >= 0) {
			log_error("httpd: BUG: stream ended without a start on %s",
				  r->path);
			r->close_after = true;
		}
	}
	if (!req_check(r, REQ_STREAMING, "httpd_stream_end"))
		return;
	struct httpd_conn *c = r->conn;
	c->busy++;
	if (c->fd >= 0 && r->chunked_out)
		evbuffer_add(c->out, "0\r\n\r\n", 5);
	req_finish(c);
	c->busy--;
	conn_release(c);
}

void httpd_stream_abort(struct httpd_req *r)
{
	if (r->state == REQ_PENDING)
		r->state = REQ_STREAMING;
	if (!req_check(r, REQ_STREAMING, "httpd_stream_abort"))
		return;
	struct httpd_conn *c = r->conn;
	c->busy++;
	r->close_after = true;
	req_finish(c);
	c->busy--;
	conn_release(c);
}
