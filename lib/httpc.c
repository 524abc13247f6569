/* httpc.c — see httpc.h.
 *
 * A pool (struct hc_pool) per host:port holds its resolved addresses, its
 * idle connections and the requests waiting for an address or a connection
 * slot. A connection (struct hc_conn) carries at most one request at a
 * time; its input is read into a flat buffer and parsed in place. A request
 * (struct httpc_req) owns its serialized bytes (kept for a retry), its
 * response, one timer for the nearest deadline and one "kick" event that
 * runs deferred work (the first dispatch, a resume) from the loop.
 *
 * Names that are not numeric addresses are resolved with getaddrinfo() on a
 * short-lived thread; the result comes back through a pipe read by the
 * loop. A resolver job is shared by its thread and the client (reference
 * count under a mutex), so httpc_free() never waits for a thread.
 *
 * Callbacks into the application mark the request busy; httpc_cancel()
 * inside a callback only flags it and the caller tidies up afterwards.
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "buf.h"
#include "http_parse.h"

#define HC_READ_SIZE 16384
#define HC_MAX_ADDRS 8
#define HC_DEFAULT_MAX_BODY (8u << 20)

enum req_state {
	RS_NEW,        /* created, first dispatch pending */
	RS_WAIT,       /* waiting for addresses or a connection slot */
	RS_CONNECTING, /* on a connection that is connecting */
	RS_SENDING,    /* writing the request */
	RS_HEAD,       /* request written, waiting for the head */
	RS_BODY,       /* head received, reading the body */
	RS_DONE,       /* on_done called or being called */
};

struct hc_conn;
struct hc_pool;
struct hc_dns_job;

struct httpc_resp {
	struct hp_msg msg;   /* the parsed head; spans into head.data */
	struct buf head;     /* copy of the head with NULs after each field */
	struct buf body;     /* collected body */
};

struct httpc_req {
	struct httpc *c;
	struct hc_pool *pool;
	struct hc_conn *conn;      /* while attached */
	enum req_state state;
	struct buf out;            /* the serialized request */
	size_t sent;               /* bytes of out written */
	bool retry;                /* may be resent (see httpc.h) */
	bool retried;              /* was resent once */
	bool force_new;            /* next dispatch opens a new connection */
	bool head_req;             /* a HEAD request: no body in the response */
	unsigned connect_ms, response_ms, read_ms;
	uint64_t total_deadline;   /* 0: none */
	uint64_t phase_deadline;   /* 0: none */
	int phase_err;             /* error when phase_deadline passes */
	struct event tmo;          /* the nearest deadline */
	struct event kick;         /* deferred dispatch / resume */
	struct httpc_resp resp;
	bool have_head;
	struct hp_chunked chunked;
	uint64_t body_left;        /* HP_BODY_LENGTH: bytes still to come */
	bool body_complete;        /* every body byte has arrived */
	bool eof;                  /* the connection closed */
	struct buf dec;            /* decoded chunked bytes not yet delivered */
	size_t dec_pos;
	size_t max_body;
	bool paused;
	bool cancelled;
	int busy;                  /* application callbacks running */
	bool got_bytes;            /* response bytes seen in this attempt */
	char errmsg[256];
	httpc_head_fn on_head;
	httpc_body_fn on_body;
	httpc_done_fn on_done;
	void *arg;
	struct httpc_req *wprev, *wnext; /* the pool's wait queue */
	bool waiting;
	struct httpc_req *prev, *next;   /* every request of the client */
};

struct hc_conn {
	struct httpc *c;
	struct hc_pool *pool;
	int fd;
	struct event rev, wev, idle_tmo;
	bool rev_on;
	struct buf in;           /* received bytes; consumed from ipos */
	size_t ipos;
	struct httpc_req *req;   /* current request, NULL when idle */
	unsigned served;         /* requests completed on it */
	int addr_idx;            /* address being tried */
	struct hc_conn *prev, *next; /* the pool's idle list */
	bool idle;
};

struct hc_pool {
	struct httpc *c;
	char *host;              /* as in the URL, brackets removed */
	int port;
	struct sockaddr_storage addrs[HC_MAX_ADDRS];
	socklen_t addrlens[HC_MAX_ADDRS];
	int naddrs;
	uint64_t resolved_at;    /* 0: never */
	bool numeric;            /* host is an address: never expires */
	struct hc_dns_job *job;  /* resolution in progress */
	struct hc_conn *idle;    /* idle connections, most recent first */
	unsigned nidle;
	unsigned nconns;         /* open connections of this pool */
	struct httpc_req *whead, *wtail; /* waiting requests, in order */
	struct hc_pool *next;
};

struct hc_dns_job {
	pthread_mutex_t mu;
	int refs;                /* the thread and the client */
	bool cancelled;          /* the client is gone or the pool freed */
	int wfd;                 /* where to announce the result */
	char *host;
	char port[8];
	struct addrinfo *res;
	int rc;
	struct hc_pool *pool;    /* loop side only */
	struct hc_dns_job *prev, *next; /* the client's outstanding jobs */
};

struct httpc {
	struct event_base *base;
	struct httpc_config cfg;
	struct hp_limits lim;
	struct hc_pool *pools;
	struct httpc_req *reqs;  /* every request not yet freed */
	struct hc_dns_job *jobs; /* outstanding resolutions */
	int dns_pipe[2];         /* resolver threads -> loop */
	struct event dns_ev;
	bool dns_ev_on;
	struct httpc_stats st;
};

static void req_dispatch(struct httpc_req *r);
static void req_fail(struct httpc_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_process(struct hc_conn *k);
static void conn_close(struct hc_conn *k);
static void pool_kick_waiters(struct hc_pool *p);

static uint64_t hc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void httpc_config_init(struct httpc_config *cfg)
{
	cfg->connect_timeout_ms = 3000;
	cfg->response_timeout_ms = 60000;
	cfg->idle_timeout_ms = 30000;
	cfg->max_idle_per_host = 32;
	cfg->max_conns_per_host = 0;
	cfg->max_head = 65536;
	cfg->dns_ttl_ms = 30000;
}

const char *httpc_strerror(int err)
{
	switch (err) {
	case HTTPC_OK: return "ok";
	case HTTPC_ERESOLVE: return "cannot resolve host";
	case HTTPC_ECONNECT: return "cannot connect";
	case HTTPC_ETIMEOUT_CONNECT: return "connect timed out";
	case HTTPC_ETIMEOUT_RESPONSE: return "no response in time";
	case HTTPC_ETIMEOUT_READ: return "response body stalled";
	case HTTPC_ETIMEOUT_TOTAL: return "request timed out";
	case HTTPC_EIO: return "connection lost";
	case HTTPC_EPROTO: return "malformed response";
	case HTTPC_ETOOBIG: return "response too large";
	case HTTPC_ESHUTDOWN: return "client shut down";
	}
	return "unknown error";
}

const char *httpc_req_errmsg(const struct httpc_req *req)
{
	return req->errmsg;
}

void httpc_get_stats(const struct httpc *c, struct httpc_stats *st)
{
	*st = c->st;
}

/* ---------------------------------------------------------------- response */

int httpc_resp_status(const struct httpc_resp *resp)
{
	return resp->msg.status;
}

const char *httpc_resp_header(const struct httpc_resp *resp, const char *name)
{
	for (unsigned i = 0; i < resp->msg.nheaders; i++) {
		const struct hp_header *h = &resp->msg.headers[i];
		if (strcasecmp(resp->head.data + h->name.off, name) == 0)
			return resp->head.data + h->value.off;
	}
	return NULL;
}

unsigned httpc_resp_header_count(const struct httpc_resp *resp)
{
	return resp->msg.nheaders;
}

void httpc_resp_header_at(const struct httpc_resp *resp, unsigned i, const char **name,
			  const char **value)
{
	const struct hp_header *h = &resp->msg.headers[i];
	*name = resp->head.data + h->name.off;
	*value = resp->head.data + h->value.off;
}

const char *httpc_resp_body(const struct httpc_resp *resp, size_t *len)
{
	if (len)
		*len = resp->body.len;
	return resp->body.data ? resp->body.data : "";
}

/* ---------------------------------------------------------------- timers */

static void req_arm_timer(struct httpc_req *r)
{
	uint64_t d = r->total_deadline;
	if (r->phase_deadline && (!d || r->phase_deadline < d))
		d = r->phase_deadline;
	if (!d) {
		evtimer_del(&r->tmo);
		return;
	}
	uint64_t now = hc_now_ms();
	uint64_t left = d > now ? d - now : 0;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	evtimer_add(&r->tmo, &tv);
}

static void req_phase(struct httpc_req *r, unsigned ms, int err)
{
	r->phase_deadline = ms ? hc_now_ms() + ms : 0;
	r->phase_err = err;
	req_arm_timer(r);
}

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpc_req *r = arg;
	uint64_t now = hc_now_ms();
	if (r->total_deadline && now >= r->total_deadline) {
		req_fail(r, HTTPC_ETIMEOUT_TOTAL, "%s:%d: request timed out", r->pool->host,
			 r->pool->port);
		return;
	}
	if (r->phase_deadline && now >= r->phase_deadline) {
		const char *what_s = r->phase_err == HTTPC_ETIMEOUT_CONNECT ? "connect"
				     : r->phase_err == HTTPC_ETIMEOUT_READ ? "body stalled"
				     : "no response";
		req_fail(r, r->phase_err, "%s:%d: %s: timed out", r->pool->host, r->pool->port,
			 what_s);
		return;
	}
	req_arm_timer(r);
}

/* ---------------------------------------------------------------- lifetime */

static void req_unwait(struct httpc_req *r)
{
	if (!r->waiting)
		return;
	struct hc_pool *p = r->pool;
	if (r->wprev)
		r->wprev->wnext = r->wnext;
	else
		p->whead = r->wnext;
	if (r->wnext)
		r->wnext->wprev = r->wprev;
	else
		p->wtail = r->wprev;
	r->wprev = r->wnext = NULL;
	r->waiting = false;
}

static void req_wait(struct httpc_req *r)
{
	struct hc_pool *p = r->pool;
	r->state = RS_WAIT;
	r->wnext = NULL;
	r->wprev = p->wtail;
	if (p->wtail)
		p->wtail->wnext = r;
	else
		p->whead = r;
	p->wtail = r;
	r->waiting = true;
}

static void req_free(struct httpc_req *r)
{
	struct httpc *c = r->c;
	req_unwait(r);
	evtimer_del(&r->tmo);
	event_del(&r->kick);
	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->st.inflight--;
	buf_free(&r->out);
	buf_free(&r->resp.head);
	buf_free(&r->resp.body);
	buf_free(&r->dec);
	free(r);
}

/* Detaches R from its connection; closes the connection unless KEEP. */
static void req_detach(struct httpc_req *r, bool keep)
{
	struct hc_conn *k = r->conn;
	if (!k)
		return;
	r->conn = NULL;
	k->req = NULL;
	if (!keep) {
		conn_close(k);
		return;
	}
	struct hc_pool *p = k->pool;
	struct httpc *c = k->c;
	k->served++;
	k->in.len = 0;
	k->ipos = 0;
	if (p->nidle >= c->cfg.max_idle_per_host) {
		conn_close(k);
		return;
	}
	k->idle = true;
	k->prev = NULL;
	k->next = p->idle;
	if (p->idle)
		p->idle->prev = k;
	p->idle = k;
	p->nidle++;
	c->st.idle++;
	if (!k->rev_on) {
		event_add(&k->rev, NULL);
		k->rev_on = true;
	}
	event_del(&k->wev);
	struct timeval tv = {c->cfg.idle_timeout_ms / 1000, (c->cfg.idle_timeout_ms % 1000) * 1000};
	evtimer_add(&k->idle_tmo, &tv);
	pool_kick_waiters(p);
}

/* Runs on_done (once) and frees R. */
static void req_finish(struct httpc_req *r, int err)
{
	r->state = RS_DONE;
	evtimer_del(&r->tmo);
	event_del(&r->kick);
	if (r->on_done && !r->cancelled) {
		r->busy++;
		r->on_done(r, err, r->have_head ? &r->resp : NULL, r->arg);
		r->busy--;
	}
	req_free(r);
}

static void req_fail(struct httpc_req *r, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	req_unwait(r);
	req_detach(r, false);
	req_finish(r, err);
}

/* After an application callback: true when the request is gone or must no
 * longer be touched. */
static bool req_after_cb(struct httpc_req *r)
{
	if (!r->cancelled)
		return false;
	if (r->busy == 0 && r->state != RS_DONE) {
		req_detach(r, false);
		req_finish(r, HTTPC_OK); /* cancelled: no callback */
	}
	return true;
}

void httpc_cancel(struct httpc_req *req)
{
	if (!req || req->cancelled || req->state == RS_DONE)
		return;
	req->cancelled = true;
	if (req->busy)
		return; /* tidied up when the callback returns */
	req_detach(req, false);
	req_finish(req, HTTPC_OK);
}

/* ---------------------------------------------------------------- connections */

static void conn_close(struct hc_conn *k)
{
	struct httpc *c = k->c;
	struct hc_pool *p = k->pool;
	if (k->idle) {
		if (k->prev)
			k->prev->next = k->next;
		else
			p->idle = k->next;
		if (k->next)
			k->next->prev = k->prev;
		p->nidle--;
		c->st.idle--;
		k->idle = false;
	}
	event_del(&k->rev);
	event_del(&k->wev);
	evtimer_del(&k->idle_tmo);
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	p->nconns--;
	c->st.open--;
	buf_free(&k->in);
	free(k);
	pool_kick_waiters(p);
}

static void conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_close(arg);
}

/* Reads what the socket has. Returns bytes read, 0 at EOF, -1 when nothing
 * (EAGAIN), -2 on error (errno set). */
static ssize_t conn_read(struct hc_conn *k)
{
	if (k->ipos > 0 && k->ipos == k->in.len) {
		k->in.len = 0;
		k->ipos = 0;
	} else if (k->ipos > 0 && k->ipos >= k->in.len / 2) {
		/* Spans of a head being parsed are relative to ipos: moving the
		 * unconsumed bytes to the front keeps them valid. */
		memmove(k->in.data, k->in.data + k->ipos, k->in.len - k->ipos);
		k->in.len -= k->ipos;
		k->ipos = 0;
	}
	buf_reserve(&k->in, HC_READ_SIZE);
	ssize_t n = read(k->fd, k->in.data + k->in.len, HC_READ_SIZE);
	if (n > 0) {
		k->in.len += (size_t)n;
		k->in.data[k->in.len] = '\0';
		return n;
	}
	if (n == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -1;
	return -2;
}

static void conn_write(struct hc_conn *k)
{
	struct httpc_req *r = k->req;
	while (r->sent < r->out.len) {
		ssize_t n = send(k->fd, r->out.data + r->sent, r->out.len - r->sent, MSG_NOSIGNAL);
		if (n > 0) {
			r->sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(&k->wev, NULL);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* The server may have answered and closed early: read first. */
		int e = errno;
		event_del(&k->wev);
		if (r->got_bytes)
			return;
		if (k->served > 0 && r->retry && !r->retried) {
			r->retried = true;
			r->force_new = true;
			k->c->st.retries++;
			req_detach(r, false);
			req_dispatch(r);
			return;
		}
		req_fail(r, HTTPC_EIO, "%s:%d: send: %s", k->pool->host, k->pool->port,
			 strerror(e));
		return;
	}
	event_del(&k->wev);
	if (r->state == RS_SENDING)
		r->state = RS_HEAD;
}

/* Starts sending R on K (a connected connection). */
static void conn_send(struct hc_conn *k, struct httpc_req *r)
{
	r->state = RS_SENDING;
	r->sent = 0;
	r->got_bytes = false;
	r->eof = false; /* a resend must not inherit the stale connection's end */
	req_phase(r, r->response_ms, HTTPC_ETIMEOUT_RESPONSE);
	if (!k->rev_on) {
		event_add(&k->rev, NULL);
		k->rev_on = true;
	}
	conn_write(k);
}

static void conn_connected(struct hc_conn *k)
{
	struct httpc_req *r = k->req;
	int one = 1;
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_send(k, r);
}

static int conn_try_connect(struct hc_conn *k);

static void conn_wev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hc_conn *k = arg;
	struct httpc_req *r = k->req;
	if (!r) {
		event_del(&k->wev);
		return;
	}
	if (r->state == RS_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			char addr[INET6_ADDRSTRLEN] = "?";
			const struct sockaddr_storage *sa = &k->pool->addrs[k->addr_idx];
			if (sa->ss_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr,
					  sizeof addr);
			else
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
					  addr, sizeof addr);
			event_del(&k->wev);
			close(k->fd);
			k->fd = -1;
			k->addr_idx++;
			if (k->addr_idx < k->pool->naddrs && conn_try_connect(k) == 0)
				return;
			req_fail(r, HTTPC_ECONNECT, "connect %s:%d: %s", addr, k->pool->port,
				 strerror(err));
			return;
		}
		event_del(&k->wev);
		conn_connected(k);
		return;
	}
	conn_write(k);
}

static void conn_rev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hc_conn *k = arg;
	struct httpc_req *r = k->req;
	if (!r) {
		/* Idle: the server closed it or sent something unasked for. */
		conn_close(k);
		return;
	}
	if (r->paused)
		return;
	ssize_t n = conn_read(k);
	if (n == -1)
		return;
	if (n == -2) {
		int e = errno;
		if (!r->got_bytes && k->served > 0 && r->retry && !r->retried) {
			r->retried = true;
			r->force_new = true;
			k->c->st.retries++;
			req_detach(r, false);
			req_dispatch(r);
			return;
		}
		req_fail(r, HTTPC_EIO, "%s:%d: read: %s", k->pool->host, k->pool->port,
			 strerror(e));
		return;
	}
	if (n == 0) {
		r->eof = true;
		event_del(&k->rev);
		k->rev_on = false;
		if (!r->got_bytes && k->served > 0 && r->retry && !r->retried) {
			r->retried = true;
			r->force_new = true;
			k->c->st.retries++;
			req_detach(r, false);
			req_dispatch(r);
			return;
		}
	} else {
		r->got_bytes = true;
		if (r->state == RS_BODY && r->read_ms)
			req_phase(r, r->read_ms, HTTPC_ETIMEOUT_READ);
	}
	conn_process(k);
}

static int conn_try_connect(struct hc_conn *k)
{
	struct hc_pool *p = k->pool;
	const struct sockaddr_storage *sa = &p->addrs[k->addr_idx];
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	k->fd = fd;
	event_del(&k->rev);
	event_del(&k->wev);
	event_assign(&k->rev, k->c->base, fd, EV_READ | EV_PERSIST, conn_rev_cb, k);
	event_assign(&k->wev, k->c->base, fd, EV_WRITE | EV_PERSIST, conn_wev_cb, k);
	k->rev_on = false;
	if (connect(fd, (const struct sockaddr *)sa, p->addrlens[k->addr_idx]) == 0) {
		conn_connected(k);
		return 0;
	}
	if (errno != EINPROGRESS) {
		close(fd);
		k->fd = -1;
		return -1;
	}
	event_add(&k->wev, NULL);
	return 0;
}

/* Opens a connection for R. */
static void conn_open(struct hc_pool *p, struct httpc_req *r)
{
	struct httpc *c = p->c;
	struct hc_conn *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	k->c = c;
	k->pool = p;
	k->fd = -1;
	k->req = r;
	evtimer_assign(&k->idle_tmo, c->base, conn_idle_cb, k);
	event_assign(&k->rev, c->base, -1, EV_READ | EV_PERSIST, conn_rev_cb, k);
	event_assign(&k->wev, c->base, -1, EV_WRITE | EV_PERSIST, conn_wev_cb, k);
	r->conn = k;
	r->state = RS_CONNECTING;
	p->nconns++;
	c->st.open++;
	c->st.connects++;
	req_phase(r, r->connect_ms, HTTPC_ETIMEOUT_CONNECT);
	int e = 0;
	for (k->addr_idx = 0; k->addr_idx < p->naddrs; k->addr_idx++) {
		if (conn_try_connect(k) == 0)
			return;
		e = errno;
	}
	req_fail(r, HTTPC_ECONNECT, "connect %s:%d: %s", p->host, p->port, strerror(e));
}

/* ---------------------------------------------------------------- response */

static void chunk_data(void *arg, const char *data, size_t len)
{
	struct httpc_req *r = arg;
	buf_append(&r->dec, data, len);
}

/* Hands LEN body bytes to the application. Returns false when R is gone or
 * cancelled. */
static bool req_body(struct httpc_req *r, const char *data, size_t len)
{
	if (len == 0)
		return true;
	if (!r->on_body) {
		if (r->resp.body.len + len > r->max_body) {
			req_fail(r, HTTPC_ETOOBIG, "%s:%d: response body over %zu bytes",
				 r->pool->host, r->pool->port, r->max_body);
			return false;
		}
		buf_append(&r->resp.body, data, len);
		return true;
	}
	r->busy++;
	r->on_body(r, data, len, r->arg);
	r->busy--;
	return !req_after_cb(r);
}

/* The whole response arrived and was delivered. */
static void req_complete(struct httpc_req *r)
{
	struct hc_conn *k = r->conn;
	bool keep = k && r->resp.msg.keep_alive && !r->eof && k->ipos == k->in.len &&
		    r->sent == r->out.len;
	req_detach(r, keep);
	req_finish(r, HTTPC_OK);
}

/* Parses the head from K's buffer. Returns 1 when a final head is in, 0 when
 * more is needed, -1 when R is gone. */
static int req_parse_head(struct hc_conn *k, struct httpc_req *r)
{
	struct httpc *c = k->c;
	for (;;) {
		const char *p = k->in.data + k->ipos;
		size_t avail = k->in.len - k->ipos;
		int rc = hp_parse(&r->resp.msg, p, avail, &c->lim);
		if (rc == HP_AGAIN) {
			if (r->eof) {
				req_fail(r, HTTPC_EIO, "%s:%d: connection closed %s", k->pool->host,
					 k->pool->port,
					 avail ? "in the response head" : "before a response");
				return -1;
			}
			return 0;
		}
		if (rc == HP_ERROR) {
			if (r->resp.msg.err_status == 431)
				req_fail(r, HTTPC_ETOOBIG, "%s:%d: response head over %zu bytes",
					 k->pool->host, k->pool->port, c->lim.max_head);
			else
				req_fail(r, HTTPC_EPROTO, "%s:%d: malformed response: %s",
					 k->pool->host, k->pool->port, r->resp.msg.err);
			return -1;
		}
		int st = r->resp.msg.status;
		if (st >= 100 && st < 200) {
			if (st == 101) {
				req_fail(r, HTTPC_EPROTO, "%s:%d: unexpected 101 Switching Protocols",
					 k->pool->host, k->pool->port);
				return -1;
			}
			k->ipos += r->resp.msg.head_len;
			hp_msg_init(&r->resp.msg, HP_RESPONSE);
			r->resp.msg.head_response = r->head_req;
			continue;
		}
		/* Keep a copy with each name, value and reason NUL-terminated. */
		size_t hl = r->resp.msg.head_len;
		buf_reset(&r->resp.head);
		buf_append(&r->resp.head, p, hl);
		char *h = r->resp.head.data;
		for (unsigned i = 0; i < r->resp.msg.nheaders; i++) {
			struct hp_header *f = &r->resp.msg.headers[i];
			h[f->name.off + f->name.len] = '\0';
			h[f->value.off + f->value.len] = '\0';
		}
		k->ipos += hl;
		return 1;
	}
}

/* Advances K's request with what K's buffer holds. Returns 1 while the
 * request goes on on K, 0 when it ended (K may be gone too). */
static int conn_process(struct hc_conn *k)
{
	struct httpc_req *r = k->req;
	if (!r || r->cancelled)
		return 0;
	if (r->state == RS_SENDING || r->state == RS_HEAD) {
		int rc = req_parse_head(k, r);
		if (rc < 0)
			return 0;
		if (rc == 0)
			return 1;
		r->have_head = true;
		r->state = RS_BODY;
		const struct hp_msg *m = &r->resp.msg;
		switch (m->body) {
		case HP_BODY_NONE: r->body_complete = true; break;
		case HP_BODY_LENGTH: r->body_left = m->content_length; break;
		case HP_BODY_CHUNKED: hp_chunked_init(&r->chunked); break;
		case HP_BODY_EOF: break;
		}
		req_phase(r, r->read_ms, HTTPC_ETIMEOUT_READ);
		if (r->on_head) {
			r->busy++;
			r->on_head(r, &r->resp, r->arg);
			r->busy--;
			if (req_after_cb(r))
				return 0;
		}
	}
	if (r->state != RS_BODY)
		return 1;

	/* Move body bytes from the input into the application. */
	for (;;) {
		if (r->paused)
			return 1;
		const struct hp_msg *m = &r->resp.msg;
		if (m->body == HP_BODY_CHUNKED) {
			if (r->dec_pos < r->dec.len) {
				size_t n = r->dec.len - r->dec_pos;
				const char *d = r->dec.data + r->dec_pos;
				r->dec_pos += n;
				if (!req_body(r, d, n))
					return 0;
				continue;
			}
			r->dec.len = 0;
			r->dec_pos = 0;
			if (r->body_complete)
				break;
			size_t avail = k->in.len - k->ipos;
			if (avail == 0)
				break;
			size_t used = 0;
			int rc = hp_chunked_feed(&r->chunked, k->in.data + k->ipos, avail, &used,
						 chunk_data, r);
			k->ipos += used;
			if (rc == HP_ERROR) {
				req_fail(r, HTTPC_EPROTO, "%s:%d: malformed chunked body: %s",
					 k->pool->host, k->pool->port, r->chunked.err);
				return 0;
			}
			if (rc == HP_OK)
				r->body_complete = true;
			continue;
		}
		if (r->body_complete)
			break;
		size_t avail = k->in.len - k->ipos;
		if (m->body == HP_BODY_LENGTH) {
			size_t n = avail < r->body_left ? avail : (size_t)r->body_left;
			if (n == 0)
				break;
			const char *d = k->in.data + k->ipos;
			k->ipos += n;
			r->body_left -= n;
			if (r->body_left == 0)
				r->body_complete = true;
			if (!req_body(r, d, n))
				return 0;
			continue;
		}
		/* HP_BODY_EOF */
		if (avail) {
			const char *d = k->in.data + k->ipos;
			k->ipos += avail;
			if (!req_body(r, d, avail))
				return 0;
			continue;
		}
		if (r->eof)
			r->body_complete = true;
		break;
	}
	if (r->body_complete) {
		req_complete(r);
		return 0;
	}
	if (r->eof) {
		req_fail(r, HTTPC_EIO, "%s:%d: connection closed in the response body",
			 k->pool->host, k->pool->port);
		return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- pause */

void httpc_pause(struct httpc_req *req)
{
	if (!req || req->paused || req->state == RS_DONE)
		return;
	req->paused = true;
	if (req->conn && req->conn->rev_on) {
		event_del(&req->conn->rev);
		req->conn->rev_on = false;
	}
	if (req->state == RS_BODY) {
		req->phase_deadline = 0;
		req_arm_timer(req);
	}
}

void httpc_resume(struct httpc_req *req)
{
	if (!req || !req->paused || req->state == RS_DONE)
		return;
	req->paused = false;
	event_active(&req->kick, EV_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- dispatch */

static void pool_kick_waiters(struct hc_pool *p)
{
	/* Hand idle connections or free slots to waiting requests, from the
	 * loop (their kick), in order. */
	if (p->naddrs == 0)
		return;
	unsigned max = p->c->cfg.max_conns_per_host;
	unsigned slots = UINT32_MAX;
	if (max)
		slots = p->nidle + (p->nconns < max ? max - p->nconns : 0);
	for (struct httpc_req *r = p->whead; r && slots; r = r->wnext, slots--)
		event_active(&r->kick, EV_TIMEOUT, 0);
}

static void req_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct httpc_req *r = arg;
	if (r->state == RS_NEW || r->state == RS_WAIT) {
		req_dispatch(r);
		return;
	}
	if (r->state == RS_BODY && r->conn && !r->paused) {
		struct hc_conn *k = r->conn;
		if (r->read_ms)
			req_phase(r, r->read_ms, HTTPC_ETIMEOUT_READ);
		if (conn_process(k) && !r->paused && !r->eof && !k->rev_on) {
			event_add(&k->rev, NULL);
			k->rev_on = true;
		}
	}
}

static void pool_resolve(struct hc_pool *p);

static void req_dispatch(struct httpc_req *r)
{
	struct hc_pool *p = r->pool;
	struct httpc *c = r->c;
	req_unwait(r);
	if (p->naddrs == 0) {
		req_wait(r);
		if (r->phase_deadline == 0)
			req_phase(r, r->connect_ms, HTTPC_ETIMEOUT_CONNECT);
		pool_resolve(p);
		return;
	}
	/* Stale addresses serve while they are looked up again. */
	if (!p->numeric && hc_now_ms() - p->resolved_at >= c->cfg.dns_ttl_ms)
		pool_resolve(p);
	if (p->idle && !r->force_new) {
		struct hc_conn *k = p->idle;
		p->idle = k->next;
		if (p->idle)
			p->idle->prev = NULL;
		k->next = k->prev = NULL;
		k->idle = false;
		p->nidle--;
		c->st.idle--;
		evtimer_del(&k->idle_tmo);
		k->req = r;
		r->conn = k;
		c->st.reused++;
		conn_send(k, r);
		return;
	}
	unsigned max = c->cfg.max_conns_per_host;
	if (max && p->nconns >= max) {
		if (p->idle) {
			/* force_new at the limit: make room by closing an idle one. */
			conn_close(p->idle);
		} else {
			req_wait(r);
			r->phase_deadline = 0;
			req_arm_timer(r);
			return;
		}
	}
	r->force_new = false;
	conn_open(p, r);
}

/* ---------------------------------------------------------------- resolver */

static void dns_job_unref(struct hc_dns_job *j)
{
	pthread_mutex_lock(&j->mu);
	int left = --j->refs;
	pthread_mutex_unlock(&j->mu);
	if (left)
		return;
	pthread_mutex_destroy(&j->mu);
	if (j->res)
		freeaddrinfo(j->res);
	free(j->host);
	free(j);
}

static void *dns_thread(void *arg)
{
	struct hc_dns_job *j = arg;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(j->host, j->port, &hints, &res);
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->res = res;
	if (!j->cancelled) {
		ssize_t n = write(j->wfd, &j, sizeof j);
		(void)n; /* a full pipe cannot happen: one job per pool */
	}
	pthread_mutex_unlock(&j->mu);
	dns_job_unref(j);
	return NULL;
}

static void dns_job_unlink(struct httpc *c, struct hc_dns_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		c->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static void dns_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct httpc *c = arg;
	struct hc_dns_job *j;
	while (read(fd, &j, sizeof j) == (ssize_t)sizeof j) {
		struct hc_pool *p = j->pool;
		dns_job_unlink(c, j);
		if (!p) {
			dns_job_unref(j);
			continue;
		}
		p->job = NULL;
		int n = 0;
		for (struct addrinfo *ai = j->rc == 0 ? j->res : NULL; ai && n < HC_MAX_ADDRS;
		     ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof p->addrs[0])
				continue;
			memcpy(&p->addrs[n], ai->ai_addr, ai->ai_addrlen);
			p->addrlens[n] = (socklen_t)ai->ai_addrlen;
			n++;
		}
		if (n > 0)
			p->naddrs = n;
		int rc = j->rc;
		dns_job_unref(j);
		if (p->naddrs == 0) {
			/* Fail every request waiting on this pool. */
			struct httpc_req *w;
			while ((w = p->whead)) {
				req_unwait(w);
				req_fail(w, HTTPC_ERESOLVE, "cannot resolve %s: %s", p->host,
					 rc ? gai_strerror(rc) : "no address");
			}
			continue;
		}
		p->resolved_at = hc_now_ms();
		for (struct httpc_req *w = p->whead; w; w = w->wnext)
			event_active(&w->kick, EV_TIMEOUT, 0);
	}
}

static void pool_resolve(struct hc_pool *p)
{
	struct httpc *c = p->c;
	if (p->job)
		return;
	if (c->dns_pipe[0] < 0) {
		if (pipe2(c->dns_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			goto fail;
		event_assign(&c->dns_ev, c->base, c->dns_pipe[0], EV_READ | EV_PERSIST,
			     dns_read_cb, c);
	}
	if (!c->dns_ev_on) {
		event_add(&c->dns_ev, NULL);
		c->dns_ev_on = true;
	}
	struct hc_dns_job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	pthread_mutex_init(&j->mu, NULL);
	j->refs = 2;
	j->wfd = c->dns_pipe[1];
	j->host = strdup(p->host);
	if (!j->host)
		abort();
	snprintf(j->port, sizeof j->port, "%d", p->port);
	j->pool = p;
	pthread_attr_t attr;
	pthread_t tid;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The thread must not take the loop's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&tid, &attr, dns_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		j->refs = 1;
		dns_job_unref(j);
		goto fail;
	}
	j->next = c->jobs;
	if (c->jobs)
		c->jobs->prev = j;
	c->jobs = j;
	p->job = j;
	return;
fail:;
	struct httpc_req *w;
	while ((w = p->whead)) {
		req_unwait(w);
		req_fail(w, HTTPC_ERESOLVE, "cannot resolve %s: no resolver thread", p->host);
	}
}

/* ---------------------------------------------------------------- start */

/* A zeroed request, except for the parsed header spans (2 KiB, written
 * before they are read: see hp_msg_init) and the error message (written
 * before it is read): a proxy allocates one per request. */
static struct httpc_req *req_alloc(void)
{
	_Static_assert(offsetof(struct httpc_req, resp) < offsetof(struct httpc_req, errmsg),
		       "req_alloc skips resp.msg.headers, then errmsg");
	struct httpc_req *r = malloc(sizeof *r);
	if (!r)
		abort();
	char *p = (char *)r;
	char *h = (char *)r->resp.msg.headers, *he = h + sizeof r->resp.msg.headers;
	char *m = r->errmsg, *me = m + sizeof r->errmsg;
	memset(p, 0, (size_t)(h - p));
	memset(he, 0, (size_t)(m - he));
	memset(me, 0, (size_t)(p + sizeof *r - me));
	r->errmsg[0] = '\0';
	return r;
}

static struct hc_pool *pool_get(struct httpc *c, const char *host, int port)
{
	for (struct hc_pool *p = c->pools; p; p = p->next)
		if (p->port == port && strcmp(p->host, host) == 0)
			return p;
	struct hc_pool *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->c = c;
	p->host = strdup(host);
	if (!p->host)
		abort();
	p->port = port;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addrs[0];
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		p->addrlens[0] = sizeof *s4;
		p->naddrs = 1;
		p->numeric = true;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		p->addrlens[0] = sizeof *s6;
		p->naddrs = 1;
		p->numeric = true;
	}
	p->next = c->pools;
	c->pools = p;
	return p;
}

/* Splits URL into HOST (brackets removed), PORT and TARGET. */
static int parse_url(const char *url, char *host, size_t hostlen, int *port,
		     const char **target, char *err, size_t errlen)
{
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "unsupported URL \"%s\": only http:// is", url);
		return -1;
	}
	const char *h = url + 7;
	const char *end = h + strcspn(h, "/?#");
	const char *hs = h, *he;
	const char *portp = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			goto bad;
		hs = h + 1;
		he = rb;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				goto bad;
			portp = rb + 2;
		}
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));
		he = colon ? colon : end;
		if (colon)
			portp = colon + 1;
	}
	if (he == hs || (size_t)(he - hs) >= hostlen)
		goto bad;
	for (const char *q = hs; q < he; q++)
		if (*q == '@' || (unsigned char)*q <= ' ' || *q == 0x7f)
			goto bad;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	*port = 80;
	if (portp) {
		if (portp == end)
			goto bad;
		long v = 0;
		for (const char *q = portp; q < end; q++) {
			if (*q < '0' || *q > '9')
				goto bad;
			v = v * 10 + (*q - '0');
			if (v > 65535)
				goto bad;
		}
		if (v == 0)
			goto bad;
		*port = (int)v;
	}
	if (*end == '#')
		goto bad;
	*target = *end ? end : "/";
	for (const char *q = *target; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '#')
			goto bad;
	return 0;
bad:
	snprintf(err, errlen, "invalid URL \"%s\"", url);
	return -1;
}

/* Host, Content-Length, Transfer-Encoding and Connection: the client's own. */
static bool hc_own_header(const char *n)
{
	switch (strlen(n)) {
	case 4: return !strcasecmp(n, "Host");
	case 10: return !strcasecmp(n, "Connection");
	case 14: return !strcasecmp(n, "Content-Length");
	case 17: return !strcasecmp(n, "Transfer-Encoding");
	default: return false;
	}
}

static bool hc_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!(((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		       (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s))))
			return false;
	return true;
}

static bool hc_field_value(const char *s)
{
	for (; *s; s++)
		if ((*s > 0 && *s < ' ' && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

struct httpc_req *httpc_start(struct httpc *c, const struct httpc_request *rq, char *err,
			      size_t errlen)
{
	char host[256];
	int port;
	const char *target;
	if (!rq->method || !hc_token(rq->method)) {
		snprintf(err, errlen, "invalid method");
		return NULL;
	}
	if (!rq->url || parse_url(rq->url, host, sizeof host, &port, &target, err, errlen) < 0)
		return NULL;
	for (size_t i = 0; i < rq->nheaders; i++) {
		if (!hc_token(rq->headers[i].name) || !rq->headers[i].value ||
		    !hc_field_value(rq->headers[i].value)) {
			snprintf(err, errlen, "invalid header \"%s\"",
				 rq->headers[i].name ? rq->headers[i].name : "(null)");
			return NULL;
		}
	}
	struct httpc_req *r = req_alloc();
	r->c = c;
	r->pool = pool_get(c, host, port);
	r->state = RS_NEW;
	r->head_req = strcmp(rq->method, "HEAD") == 0;
	r->retry = rq->retry || r->head_req || strcmp(rq->method, "GET") == 0;
	r->connect_ms = rq->connect_timeout_ms ? rq->connect_timeout_ms : c->cfg.connect_timeout_ms;
	r->response_ms = rq->response_timeout_ms ? rq->response_timeout_ms
						 : c->cfg.response_timeout_ms;
	r->read_ms = rq->read_timeout_ms;
	if (rq->total_timeout_ms)
		r->total_deadline = hc_now_ms() + rq->total_timeout_ms;
	r->max_body = rq->max_body ? rq->max_body : HC_DEFAULT_MAX_BODY;
	r->on_head = rq->on_head;
	r->on_body = rq->on_body;
	r->on_done = rq->on_done;
	r->arg = rq->arg;
	hp_msg_init(&r->resp.msg, HP_RESPONSE);
	r->resp.msg.head_response = r->head_req;

	/* No printf: a proxy makes one of these per request. */
	struct buf *b = &r->out;
	buf_reserve(b, 256 + rq->body_len);
	buf_puts(b, rq->method);
	buf_putc(b, ' ');
	buf_puts(b, target);
	buf_append(b, " HTTP/1.1\r\nHost: ", 17);
	bool v6 = strchr(host, ':') != NULL;
	if (v6)
		buf_putc(b, '[');
	buf_puts(b, host);
	if (v6)
		buf_putc(b, ']');
	if (port != 80) {
		buf_putc(b, ':');
		buf_put_u64(b, (unsigned)port);
	}
	buf_append(b, "\r\n", 2);
	for (size_t i = 0; i < rq->nheaders; i++) {
		const char *n = rq->headers[i].name;
		if (hc_own_header(n))
			continue;
		buf_puts(b, n);
		buf_append(b, ": ", 2);
		buf_puts(b, rq->headers[i].value);
		buf_append(b, "\r\n", 2);
	}
	bool has_body = rq->body_len > 0 || !strcmp(rq->method, "POST") ||
			!strcmp(rq->method, "PUT") || !strcmp(rq->method, "PATCH");
	if (has_body) {
		buf_append(b, "Content-Length: ", 16);
		buf_put_u64(b, rq->body_len);
		buf_append(b, "\r\n", 2);
	}
	buf_append(b, "\r\n", 2);
	if (rq->body_len)
		buf_append(b, rq->body, rq->body_len);

	evtimer_assign(&r->tmo, c->base, req_timeout_cb, r);
	event_assign(&r->kick, c->base, -1, 0, req_kick_cb, r);
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->st.inflight++;
	req_arm_timer(r);
	event_active(&r->kick, EV_TIMEOUT, 0);
	return r;
}

/* ---------------------------------------------------------------- client */

struct httpc *httpc_new(struct event_base *base, const struct httpc_config *cfg)
{
	struct httpc *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	if (cfg)
		c->cfg = *cfg;
	else
		httpc_config_init(&c->cfg);
	hp_limits_default(&c->lim);
	c->lim.max_head = c->cfg.max_head;
	c->lim.max_headers = HP_MAX_HEADERS;
	c->dns_pipe[0] = c->dns_pipe[1] = -1;
	return c;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	while (c->reqs) {
		struct httpc_req *r = c->reqs;
		r->cancelled = true;
		req_detach(r, false);
		req_free(r);
	}
	struct hc_pool *p;
	while ((p = c->pools)) {
		c->pools = p->next;
		while (p->idle)
			conn_close(p->idle);
		free(p->host);
		free(p);
	}
	/* Resolver threads still running free their jobs themselves. */
	while (c->jobs) {
		struct hc_dns_job *j = c->jobs;
		dns_job_unlink(c, j);
		pthread_mutex_lock(&j->mu);
		j->cancelled = true;
		j->pool = NULL;
		pthread_mutex_unlock(&j->mu);
		dns_job_unref(j);
	}
	if (c->dns_pipe[0] >= 0) {
		if (c->dns_ev_on)
			event_del(&c->dns_ev);
		/* Announced jobs still in the pipe were in c->jobs: done above. */
		close(c->dns_pipe[0]);
		close(c->dns_pipe[1]);
	}
	free(c);
}
