/* proxy.c — see proxy.h.
 *
 * Three kinds of records:
 *
 *   struct proxy_pool    one per model name seen (a pool's name or a
 *                        registered worker's model): its ready workers
 *                        (kept up to date by the worker table's hook, so
 *                        routing never scans the table), its round-robin
 *                        counter, the requests waiting for a worker, stats
 *   struct proxy_worker  reg_worker->proxy, one flat allocation (the worker
 *                        table frees it with the worker): prefix-table
 *                        owner id, outlier state, stats
 *   struct proxy_req     one per request: the client side (httpd_req) and
 *                        the upstream side (httpc_req) together
 *
 * A proxy_req is freed when it has no client request (the reply is made),
 * no upstream request, is not waiting, and no callback of ours is running
 * on it (busy). Every entry point — proxy_handle, the httpc callbacks, the
 * client's on_close, the drain and wait callbacks — holds busy while it
 * works and ends in pr_after(), which handles a client that left meanwhile
 * and frees the record when nothing holds it. The httpd calls that can
 * notice a dead client (reply, stream writes) run the on_close callback
 * from inside; with busy held that only sets client_gone.
 *
 * The in-flight count of a worker goes up in attempt_begin() and down in
 * attempt_end(), which every path that ends an attempt calls: on_done, a
 * retry from on_head, pr_abort (client gone, shutdown).
 *
 * A 2xx answer of an OpenAI endpoint is checked before anything of it
 * reaches the client: a collected body must be a JSON object (up_done), a
 * stream is held in coll until its first event with data is complete and
 * good (up_body, pr->hold). A bad one is the worker's failure
 * (bad_response) and is retried like a 502 (pr_bad_answer); so is any
 * failure before the answer was passed on. A stream passed on that ends
 * without "data: [DONE]" counts against its worker too.
 *
 * An answer taken event by event (pr->mig, pr->evmode: stream
 * migration) goes through pr_events() instead: proxy_migrate checks its
 * first event as above and gives back what the client gets; a failure of
 * its worker, wherever it is noticed (up_done, a bad event, the worker
 * leaving the registry: pr_worker_gone), ends in pr_seg_failed(), which
 * retries as above before the segment's first event and migrates after
 * it: proxy_migrate_continue() builds the continuation, pr_next() sends it
 * (seg_attempts counts the attempts of the current segment). pr_error()
 * on a request whose stream started writes an error event and ends the
 * stream properly.
 *
 * The cache-aware table credits the prompt's blocks to the worker that
 * answered: when a 2xx head is accepted, or for checked answers once they
 * passed the check; not when it is chosen, so an attempt that fails and
 * is retried leaves no credit behind.
 */
#include "proxy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "auth.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "model.h"
#include "oai.h"
#include "proxy_json.h"
#include "proxy_keys.h"
#include "proxy_metrics.h"
#include "proxy_migrate.h"
#include "proxy_prefix.h"
#include "proxy_route.h"
#include "reg.h"
#include "reg_util.h"

#define HIWAT (256 * 1024)       /* pause the upstream above this much queued */
#define LOWAT (64 * 1024)        /* and resume at this */
#define COLLECT_MAX (4u << 20)   /* larger non-stream responses are streamed */
#define FIRST_EVENT_MAX (64 * 1024) /* a stream's first event is checked within this */
#define INLINE_BLOCKS 16         /* prompt block hashes kept in the request */
#define MAX_TRIED 16             /* attempts remembered per request */
#define MAX_FWD_HEADERS 100      /* request headers forwarded */
#define KEYS_POLL_MS 2000        /* keys file checked for changes */
#define RETRY_AFTER "5"          /* Retry-After of 503 answers, seconds */

struct proxy_pool {
	char *name;                     /* the model name */
	uint64_t seed;                  /* salts this model's prefix hashes */
	struct reg_worker **ready;      /* ready workers, in no order */
	unsigned nready, capready;
	unsigned nlive;                 /* workers not gone */
	uint64_t rr;                    /* round robin and tie-break counter */
	uint64_t next_new;              /* cache_aware: new conversations take equals in turn */
	struct proxy_req *whead, *wtail;/* waiting for a ready worker */
	unsigned nwaiting;
	int64_t inflight;               /* attempts in flight */
	double created;                 /* Unix s, for /v1/models */
	struct proxy_stats st;
	struct proxy_pool *next;
};

struct proxy_worker {
	struct proxy_pool *pool;
	uint32_t owner;                 /* prefix-table owner id; 0: none */
	uint64_t id_hash;               /* for session rendezvous and ties */
	struct proxy_outlier out;
	bool listed;                    /* in pool->ready */
	struct proxy_stats st;
};

enum ep {
	EP_CHAT,
	EP_COMPLETIONS,
	EP_EMBEDDINGS,
	EP_OTHER,
};

struct proxy_req {
	struct proxy *px;               /* its proxy */
	struct httpd_req *req;          /* client side; NULL once replied */
	struct proxy_pool *pool;        /* the model's pool */
	enum ep ep;                     /* which endpoint */
	enum model_policy policy;       /* the pool's, or X-Elastic-Policy */
	bool has_session;               /* X-Session-ID or "user" was given */
	uint64_t session_key;           /* its hash */
	uint64_t *blocks;               /* the prompt's block hashes */
	unsigned nblocks;
	uint64_t blocks_inline[INLINE_BLOCKS];
	int64_t t0_ns;                  /* arrival */
	int64_t t_first_ns;             /* first response body byte; 0: none yet */
	int64_t deadline_ms;            /* wait for a worker until (monotonic) */
	unsigned attempts;              /* in all */
	unsigned seg_attempts;          /* for the current segment (see proxy_migrate.h) */
	const struct reg_worker *tried[MAX_TRIED];
	struct reg_worker *w;           /* the current attempt's worker (ref held) */
	struct httpc_req *up;           /* the current attempt; NULL when none */
	bool accepted;                  /* a response head was taken: no retry */
	bool sse;                       /* the response is an event stream */
	bool hold;                      /* ... held (in coll) until its first event is checked */
	bool streaming;                 /* the response is being streamed */
	struct proxy_migrate *mig;      /* taken event by event for migration; NULL:
					   passed on as it comes (see proxy_migrate.h) */
	bool evmode;                    /* the current answer goes through mig */
	bool cont_err;                  /* a continuation was answered with no event
					   stream: its body is collected for the message */
	bool paused;                    /* upstream reading paused (backpressure) */
	int status;                     /* the accepted response's status */
	char *ctype;                    /* its Content-Type (collected responses) */
	char ctype_inline[96];          /* where ctype usually is */
	struct buf coll;                /* the collected response body */
	char tail[32];                  /* the last bytes of an event stream passed on */
	unsigned tail_len;
	struct event wait_ev;           /* wait_for_worker deadline */
	bool waiting;
	struct proxy_req *wprev, *wnext;/* the pool's wait list */
	int busy;                       /* our callbacks running on it */
	bool client_gone;
	struct proxy_req *prev, *next;  /* every live request */
};

struct proxy {
	struct reg *r;                  /* the registry it serves */
	const struct proxy_config *cfg; /* r->cfg->proxy */
	struct httpc *hc;               /* upstream client, keep-alive pools per worker */
	struct proxy_keys *keys;        /* accepted API keys */
	bool keys_required;             /* the OpenAI side asks for a key */
	struct stat keys_st;            /* the keys file when last read */
	struct event *keys_ev;          /* polls the keys file */
	struct proxy_prefix_table *prefix; /* cache-aware estimate of the workers' caches */
	uint64_t seed;                  /* secret seed of every hash */
	struct proxy_outlier_params outp; /* ejection, from cfg */
	struct proxy_pool *pools;       /* one per model name seen */
	struct proxy_req *reqs;         /* every live request */
	struct proxy_stats nopool;      /* refused before a pool was known */
	bool stopping;                  /* proxy_stop: nobody waits any more */
	struct buf out;                 /* scratch: what an answer's events give the client */
	/* scratch, grown as needed (single-threaded, not reentrant) */
	struct proxy_cand *cand;
	struct reg_worker **cw;
	uint32_t *owners;
	unsigned *matched;
	unsigned capc;
	uint64_t *hashes;               /* prompt block hashes of the request being scanned */
	struct proxy_prefix_hasher hasher;
};

static void pr_next(struct proxy_req *pr);
static void pr_after(struct proxy_req *pr);

/* ---------------------------------------------------------------- clocks */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- pools */

static struct proxy_pool *pool_find(struct proxy *p, const char *name)
{
	for (struct proxy_pool *pool = p->pools; pool; pool = pool->next)
		if (strcmp(pool->name, name) == 0)
			return pool;
	return NULL;
}

static struct proxy_pool *pool_get(struct proxy *p, const char *name)
{
	struct proxy_pool *pool = pool_find(p, name);
	if (pool)
		return pool;
	pool = calloc(1, sizeof *pool);
	if (!pool)
		abort();
	pool->name = reg_strdup(name);
	pool->seed = proxy_prefix_hash64(name, strlen(name), p->seed);
	pool->created = reg_now();
	pool->next = p->pools;
	p->pools = pool;
	return pool;
}

static void pool_list(struct proxy_pool *pool, struct reg_worker *w)
{
	struct proxy_worker *pw = w->proxy;
	if (pw->listed)
		return;
	if (pool->nready == pool->capready) {
		unsigned cap = pool->capready ? pool->capready * 2 : 8;
		struct reg_worker **v = realloc(pool->ready, cap * sizeof *v);
		if (!v)
			abort();
		pool->ready = v;
		pool->capready = cap;
	}
	pool->ready[pool->nready++] = w;
	pw->listed = true;
}

static void pool_unlist(struct proxy_pool *pool, struct reg_worker *w)
{
	struct proxy_worker *pw = w->proxy;
	if (!pw->listed)
		return;
	for (unsigned i = 0; i < pool->nready; i++)
		if (pool->ready[i] == w) {
			pool->ready[i] = pool->ready[--pool->nready];
			break;
		}
	pw->listed = false;
}

/* The routing policy of POOL: its model.toml's, else the registry's. */
static enum model_policy pool_policy(struct proxy *p, const struct proxy_pool *pool)
{
	const struct reg_pool *rp = reg_pools_find(&p->r->pools, pool->name);
	if (rp && rp->cfg)
		return rp->cfg->policy;
	return p->r->cfg->policy;
}

/* Whether POOL's generations migrate: its model.toml's [routing] migrate,
 * else the registry's. */
static bool pool_migrate(struct proxy *p, const struct proxy_pool *pool)
{
	const struct reg_pool *rp = reg_pools_find(&p->r->pools, pool->name);
	if (rp && rp->cfg && rp->cfg->migrate >= 0)
		return rp->cfg->migrate;
	return p->cfg->migrate;
}

/* ---------------------------------------------------------------- workers */

static void pr_worker_gone(struct proxy *p, struct reg_worker *w);

void proxy_worker_changed(struct proxy *p, struct reg_worker *w, enum reg_wstate from)
{
	if (!p)
		return;
	struct proxy_worker *pw = w->proxy;
	if (!pw) {
		pw = calloc(1, sizeof *pw);
		if (!pw)
			abort();
		w->proxy = pw;
		pw->id_hash = proxy_prefix_hash64(w->id, strlen(w->id), p->seed);
	}
	struct proxy_pool *pool = pool_get(p, w->model);
	if (pw->pool && pw->pool != pool) {
		/* Registered again under another model. */
		pool_unlist(pw->pool, w);
		if (from != REG_W_GONE && pw->pool->nlive)
			pw->pool->nlive--;
		from = REG_W_GONE;
	}
	pw->pool = pool;
	if (from == REG_W_GONE && w->state != REG_W_GONE)
		pool->nlive++;
	else if (from != REG_W_GONE && w->state == REG_W_GONE && pool->nlive)
		pool->nlive--;
	if (w->state == REG_W_GONE && pw->owner) {
		proxy_prefix_owner_free(p->prefix, pw->owner);
		pw->owner = 0;
	} else if (w->state != REG_W_GONE && !pw->owner) {
		pw->owner = proxy_prefix_owner_new(p->prefix);
	}
	if (w->state == REG_W_READY) {
		pool_list(pool, w);
		/* Wake the waiters; each routes again (and may wait again). */
		unsigned n = pool->nwaiting;
		for (unsigned i = 0; i < n && pool->whead; i++) {
			struct proxy_req *pr = pool->whead;
			pr->busy++;
			pr->waiting = false;
			pool->whead = pr->wnext;
			if (pool->whead)
				pool->whead->wprev = NULL;
			else
				pool->wtail = NULL;
			pool->nwaiting--;
			evtimer_del(&pr->wait_ev);
			pr_next(pr);
			pr->busy--;
			pr_after(pr);
		}
	} else {
		pool_unlist(pool, w);
	}
	/* A worker that left for any reason but an orderly stop (a drain, whose
	 * requests in flight finish: "sigterm", "shutdown") takes its
	 * generations with it: they move now. */
	if (w->state == REG_W_GONE && from != REG_W_GONE && strcmp(w->gone_cause, "sigterm") != 0 &&
	    strcmp(w->gone_cause, "shutdown") != 0)
		pr_worker_gone(p, w);
}

/* ---------------------------------------------------------------- accounting */

static void attempt_begin(struct proxy_req *pr, struct reg_worker *w)
{
	pr->w = w;
	w->inflight++;
	reg_worker_ref(w);
	pr->pool->inflight++;
}

/* Ends the current attempt's accounting (its httpc request is done or
 * cancelled already). */
static void attempt_end(struct proxy_req *pr)
{
	struct reg_worker *w = pr->w;
	pr->up = NULL;
	if (!w)
		return;
	pr->w = NULL;
	if (w->inflight > 0)
		w->inflight--;
	else
		log_error("proxy: BUG: in-flight count of worker %s below zero", w->id);
	pr->pool->inflight--;
	reg_worker_unref(w);
}

/* The worker of the current attempt failed with CAUSE. */
static void worker_failed(struct proxy_req *pr, enum proxy_cause cause, const char *detail)
{
	struct proxy *p = pr->px;
	struct reg_worker *w = pr->w;
	struct proxy_worker *pw = w->proxy;
	pw->st.errors[cause]++;
	/* A refused or failed connect means no engine there: eject at once. */
	if (cause == PROXY_C_CONNECT && p->outp.fails > 1 && pw->out.fails + 1 < p->outp.fails)
		pw->out.fails = p->outp.fails - 1;
	if (proxy_outlier_failure(&pw->out, reg_mono_ms(), &p->outp)) {
		pw->st.ejections++;
		log_warn("worker %s ejected from routing for %lld ms after %u failures in a row "
			 "(last: %s: %s)",
			 w->id, (long long)(pw->out.until_ms - reg_mono_ms()), p->outp.fails,
			 proxy_cause_name(cause), detail);
	} else {
		log_debug("worker %s: %s: %s", w->id, proxy_cause_name(cause), detail);
	}
}

static void stats_end(struct proxy_stats *st, int status, enum proxy_cause cause, bool failed,
		      double ttft, double e2e)
{
	st->codes[status >= 100 && status < 600 ? status / 100 : 0]++;
	if (failed)
		st->errors[cause]++;
	if (ttft >= 0)
		proxy_hist_observe(&st->ttft, ttft);
	proxy_hist_observe(&st->e2e, e2e);
}

/* Counts the request's end: STATUS sent (0: none), failed with CAUSE when
 * FAILED. W: the worker that answered, if any. */
static void pr_count(struct proxy_req *pr, int status, bool failed, enum proxy_cause cause,
		     struct reg_worker *w)
{
	struct proxy *p = pr->px;
	int64_t t = now_ns();
	double e2e = (double)(t - pr->t0_ns) / 1e9;
	double ttft = pr->t_first_ns ? (double)(pr->t_first_ns - pr->t0_ns) / 1e9 : -1;
	stats_end(pr->pool ? &pr->pool->st : &p->nopool, status, cause, failed, ttft, e2e);
	if (w && w->proxy)
		stats_end(&((struct proxy_worker *)w->proxy)->st, status, cause, false, ttft, e2e);
	p->r->proxy_requests++;
	if (failed && cause != PROXY_C_CLIENT_GONE)
		p->r->proxy_errors++;
}

/* ---------------------------------------------------------------- replies */

/* An error reply in OpenAI's JSON, counted. */
static void pr_error(struct proxy_req *pr, int status, enum proxy_cause cause, const char *param,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void pr_error(struct proxy_req *pr, int status, enum proxy_cause cause, const char *param,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	if (pr->mig && pr->mig->segment > 0 && !pr->mig->started)
		pr->pool->st.migrations[PROXY_MIG_FAILED]++;
	if (pr->streaming) {
		/* Bytes reached the client already: the stream ends with an
		 * error event, as vLLM ends one whose generation failed. */
		proxy_migrate_error_event(&b, status, msg);
		pr_count(pr, pr->status, true, cause, NULL);
		pr->busy++;
		httpd_stream_write(pr->req, b.data, b.len);
		httpd_stream_end(pr->req);
		pr->busy--;
		pr->req = NULL;
		buf_free(&b);
		return;
	}
	oai_error_json(&b, status, msg, param);
	pr_count(pr, status, true, cause, NULL);
	if (status == 503)
		httpd_add_header(pr->req, "Retry-After", RETRY_AFTER);
	pr->busy++;
	httpd_reply(pr->req, status, "application/json", b.data, b.len);
	pr->busy--;
	pr->req = NULL;
	buf_free(&b);
}

/* Replies to a request that has no proxy_req (refused early). */
static void early_error(struct proxy *p, struct httpd_req *req, int status, enum proxy_cause cause,
			const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void early_error(struct proxy *p, struct httpd_req *req, int status, enum proxy_cause cause,
			const char *param, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	oai_error_json(&b, status, msg, param);
	p->nopool.codes[status / 100]++;
	p->nopool.errors[cause]++;
	p->r->proxy_requests++;
	httpd_reply(req, status, "application/json", b.data, b.len);
	buf_free(&b);
}

/* Ends the request now: the client left (CLIENT_GONE) or the registry
 * stops (SHUTDOWN). */
static void pr_abort(struct proxy_req *pr, enum proxy_cause cause)
{
	struct proxy_pool *pool = pr->pool;
	if (pr->waiting) {
		if (pr->wprev)
			pr->wprev->wnext = pr->wnext;
		else
			pool->whead = pr->wnext;
		if (pr->wnext)
			pr->wnext->wprev = pr->wprev;
		else
			pool->wtail = pr->wprev;
		pr->wprev = pr->wnext = NULL;
		pool->nwaiting--;
		pr->waiting = false;
		evtimer_del(&pr->wait_ev);
	}
	struct reg_worker *w = pr->w;
	if (pr->up) {
		httpc_cancel(pr->up);
		attempt_end(pr);
	}
	if (!pr->req)
		return;
	if (pr->client_gone || pr->streaming) {
		pr_count(pr, pr->streaming ? pr->status : 0, true,
			 pr->client_gone ? PROXY_C_CLIENT_GONE : PROXY_C_STREAM_CUT, w);
		pr->busy++;
		httpd_stream_abort(pr->req);
		pr->busy--;
		pr->req = NULL;
		return;
	}
	httpd_reset_headers(pr->req); /* those of an answer not passed on */
	pr_error(pr, 503, cause, NULL, "elastic-registry is shutting down");
}

static void pr_free(struct proxy_req *pr)
{
	struct proxy *p = pr->px;
	if (pr->prev)
		pr->prev->next = pr->next;
	else
		p->reqs = pr->next;
	if (pr->next)
		pr->next->prev = pr->prev;
	if (pr->blocks != pr->blocks_inline)
		free(pr->blocks);
	if (pr->ctype != pr->ctype_inline)
		free(pr->ctype);
	buf_free(&pr->coll);
	if (pr->mig) {
		proxy_migrate_free(pr->mig);
		free(pr->mig);
	}
	free(pr);
}

/* The end of every entry point: see the file's comment. */
static void pr_after(struct proxy_req *pr)
{
	if (pr->busy)
		return;
	if (pr->client_gone && (pr->req || pr->up || pr->waiting)) {
		pr->busy++;
		pr_abort(pr, PROXY_C_CLIENT_GONE);
		pr->busy--;
	}
	if (!pr->req && !pr->up && !pr->waiting)
		pr_free(pr);
}

static void on_client_close(struct httpd_req *req, void *arg)
{
	(void)req;
	struct proxy_req *pr = arg;
	pr->client_gone = true;
	pr_after(pr);
}

static void on_drain(struct httpd_req *req, void *arg)
{
	(void)req;
	struct proxy_req *pr = arg;
	if (pr->paused && pr->up) {
		pr->paused = false;
		httpc_resume(pr->up);
	}
}

/* ---------------------------------------------------------------- upstream */

static bool pr_can_retry(const struct proxy_req *pr)
{
	return !pr->accepted && !pr->client_gone &&
	       pr->seg_attempts < (unsigned)pr->px->cfg->attempts;
}

static bool retry_status(int status)
{
	return status == 500 || status == 502 || status == 503 || status == 504;
}

static enum proxy_cause cause_of(int err)
{
	switch (err) {
	case HTTPC_ERESOLVE:
	case HTTPC_ECONNECT:
	case HTTPC_ETIMEOUT_CONNECT: return PROXY_C_CONNECT;
	case HTTPC_ETIMEOUT_RESPONSE:
	case HTTPC_ETIMEOUT_TOTAL: return PROXY_C_TIMEOUT;
	case HTTPC_ETIMEOUT_READ: return PROXY_C_STREAM_IDLE;
	case HTTPC_EPROTO:
	case HTTPC_ETOOBIG: return PROXY_C_PROTOCOL;
	case HTTPC_ESHUTDOWN: return PROXY_C_SHUTDOWN;
	default: return PROXY_C_RESET;
	}
}

/* Whether N (a header name) is the lower-case L, ignoring ASCII case. */
static bool hname_is(const char *n, const char *l)
{
	for (; *l; n++, l++) {
		unsigned char c = (unsigned char)*n;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)*l)
			return false;
	}
	return *n == '\0';
}

/* Hop-by-hop headers, and those the HTTP layers make themselves: never
 * forwarded either way (RFC 9110 7.6.1). */
static bool hop_header(const char *n, size_t len)
{
	switch (len) {
	case 2: return hname_is(n, "te");
	case 4: return hname_is(n, "host") || hname_is(n, "date");
	case 6: return hname_is(n, "expect");
	case 7: return hname_is(n, "upgrade") || hname_is(n, "trailer");
	case 10: return hname_is(n, "connection") || hname_is(n, "keep-alive");
	case 14: return hname_is(n, "content-length");
	case 16: return hname_is(n, "proxy-connection");
	case 17: return hname_is(n, "transfer-encoding");
	default: return false;
	}
}

static bool resp_header_dropped(const char *n)
{
	size_t len = strlen(n);
	return hop_header(n, len) || (len == 12 && hname_is(n, "content-type")) ||
	       (len >= 10 && strncasecmp(n, "x-elastic-", 10) == 0);
}

/* Whether the endpoint answers OpenAI's JSON (and streams its events,
 * ending with "data: [DONE]"): the proxy checks those answers. */
static bool checked_ep(enum ep ep)
{
	return ep != EP_OTHER;
}

/* Credits the prompt's blocks to the current attempt's worker: it answered. */
static void pr_credit(struct proxy_req *pr)
{
	if (pr->nblocks && pr->w)
		proxy_prefix_insert(pr->px->prefix, pr->blocks, pr->nblocks,
				    ((struct proxy_worker *)pr->w->proxy)->owner);
}

/* Starts passing the response on as a stream. */
static void pr_stream_start(struct proxy_req *pr)
{
	pr->streaming = true;
	httpd_req_on_drain(pr->req, LOWAT, on_drain, pr);
	httpd_stream_start(pr->req, pr->status, pr->ctype);
}

/* Keeps the last bytes of a stream passed on (to see its "[DONE]"). */
static void pr_tail(struct proxy_req *pr, const char *data, size_t len)
{
	if (len >= sizeof pr->tail) {
		memcpy(pr->tail, data + len - sizeof pr->tail, sizeof pr->tail);
		pr->tail_len = sizeof pr->tail;
		return;
	}
	size_t keep = pr->tail_len + len > sizeof pr->tail ? sizeof pr->tail - len : pr->tail_len;
	memmove(pr->tail, pr->tail + pr->tail_len - keep, keep);
	memcpy(pr->tail + keep, data, len);
	pr->tail_len = (unsigned)(keep + len);
}

/* Whether the stream passed on ended with its "data: [DONE]" event. */
static bool pr_tail_done(const struct proxy_req *pr)
{
	size_t n = pr->tail_len;
	while (n && (pr->tail[n - 1] == '\n' || pr->tail[n - 1] == '\r'))
		n--;
	if (n < 6 || memcmp(pr->tail + n - 6, "[DONE]", 6) != 0)
		return false;
	n -= 6;
	while (n && pr->tail[n - 1] == ' ')
		n--;
	return n >= 5 && memcmp(pr->tail + n - 5, "data:", 5) == 0 &&
	       (n == 5 || pr->tail[n - 6] == '\n' || pr->tail[n - 6] == '\r');
}

/* Forgets the current attempt's answer, of which nothing reached the
 * client: another worker may answer instead. */
static void pr_forget_answer(struct proxy_req *pr)
{
	pr->accepted = false;
	pr->hold = false;
	pr->sse = false;
	pr->status = 0;
	pr->t_first_ns = 0;
	pr->tail_len = 0;
	if (pr->ctype != pr->ctype_inline)
		free(pr->ctype);
	pr->ctype = NULL;
	buf_free(&pr->coll);
	pr->evmode = false;
	pr->cont_err = false;
	if (pr->mig)
		proxy_migrate_reset_segment(pr->mig);
	if (pr->req)
		httpd_reset_headers(pr->req);
}

/* The current attempt's worker answered a 2xx that is no answer (WHY),
 * before anything reached the client: counted as its failure, and the
 * request goes to another worker, else gets 502. */
static void pr_bad_answer(struct proxy_req *pr, const char *why)
{
	struct reg_worker *w = pr->w;
	char id[128];
	snprintf(id, sizeof id, "%s", w->id);
	int status = pr->status;
	worker_failed(pr, PROXY_C_BAD_RESPONSE, why);
	if (pr->up)
		httpc_cancel(pr->up);
	attempt_end(pr);
	pr_forget_answer(pr);
	if (pr_can_retry(pr)) {
		pr->pool->st.retries[PROXY_C_BAD_RESPONSE]++;
		pr_next(pr);
		return;
	}
	if (pr->req && !pr->client_gone)
		pr_error(pr, 502, PROXY_C_BAD_RESPONSE, NULL, "worker %s answered %d but %s", id, status,
			 why);
}

/* The first event with data of the event stream BUF (LEN bytes so far):
 * 1 complete and good (its data is "[DONE]" or a JSON object), -1
 * complete and bad (ERR says why), 0 not complete yet. Comments, other
 * fields and events without data are skipped, as clients skip them. */
static int sse_first_event(const char *buf, size_t len, char *err, size_t errlen)
{
	size_t pos = 0;
	for (;;) {
		/* One event: lines up to an empty one. */
		size_t data_at = 0, data_len = 0;
		unsigned ndata = 0;
		for (;;) {
			const char *nl = memchr(buf + pos, '\n', len - pos);
			if (!nl)
				return 0;
			size_t end = (size_t)(nl - buf), l = end - pos;
			if (l && buf[end - 1] == '\r')
				l--;
			if (l == 0) {
				pos = end + 1;
				break;
			}
			if (l >= 5 && memcmp(buf + pos, "data:", 5) == 0) {
				size_t v = pos + 5;
				if (v < pos + l && buf[v] == ' ')
					v++;
				if (ndata++ == 0) {
					data_at = v;
					data_len = pos + l - v;
				} else {
					data_len = pos + l - data_at; /* lines joined with their newlines */
				}
			}
			/* Comments and other fields are ignored, as by clients. */
			pos = end + 1;
		}
		if (!ndata)
			continue;
		if (data_len == 6 && memcmp(buf + data_at, "[DONE]", 6) == 0)
			return 1;
		char e[160];
		if (proxy_json_check(buf + data_at, data_len, e, sizeof e) < 0) {
			snprintf(err, errlen, "its first event is not JSON: %s", e);
			return -1;
		}
		return 1;
	}
}

/* ---------------------------------------------------------------- migration */

/* Ends a request whose answer went through pr->mig and is complete: the
 * stream's end (what is missing of it), or the assembled answer. W: the
 * worker that gave the last of it. */
static void pr_events_end(struct proxy_req *pr, struct reg_worker *w)
{
	struct proxy *p = pr->px;
	struct proxy_migrate *m = pr->mig;
	pr_count(pr, 200, false, PROXY_C_STATUS, w);
	buf_reset(&p->out);
	pr->busy++;
	if (m->client_stream) {
		proxy_migrate_complete(m, &p->out);
		if (p->out.len)
			httpd_stream_write(pr->req, p->out.data, p->out.len);
		httpd_stream_end(pr->req);
	} else {
		proxy_migrate_answer(m, &p->out);
		if (m->segment) {
			char n[16];
			snprintf(n, sizeof n, "%u", m->segment);
			httpd_add_header(pr->req, "X-Elastic-Migrations", n);
		}
		httpd_reply(pr->req, 200, "application/json", p->out.data, p->out.len);
	}
	pr->busy--;
	pr->req = NULL;
}

/* The current segment's worker failed (CAUSE, DETAIL) while its answer
 * went through pr->mig: its request is ended here. Before the segment's
 * first event another worker is tried, as for any request; after it the
 * generation goes on on another worker (proxy_migrate_continue), or the
 * request ends: complete, or with an error (an error event for streams). */
static void pr_seg_failed(struct proxy_req *pr, enum proxy_cause cause, const char *detail)
{
	struct proxy *p = pr->px;
	struct proxy_migrate *m = pr->mig;
	struct reg_worker *w = pr->w;
	char wid[128];
	snprintf(wid, sizeof wid, "%s", w ? w->id : "?");
	if (w)
		worker_failed(pr, cause, detail);
	if (pr->up)
		httpc_cancel(pr->up);
	attempt_end(pr);
	pr->evmode = false;
	if (!pr->req || pr->client_gone)
		return;
	if (!m->started) {
		/* Nothing of this segment was taken: another worker may give it. */
		if (m->segment == 0) {
			pr_forget_answer(pr);
		} else {
			proxy_migrate_reset_segment(m);
			pr->accepted = false;
		}
		if (pr_can_retry(pr)) {
			pr->pool->st.retries[cause]++;
			pr_next(pr);
			return;
		}
		if (m->segment == 0)
			pr_error(pr, cause == PROXY_C_TIMEOUT ? 504 : 502, cause, NULL,
				 "no worker could answer after %u attempt%s; last: worker %s: %s",
				 pr->attempts, pr->attempts == 1 ? "" : "s", wid, detail);
		else
			pr_error(pr, 502, PROXY_C_STREAM_CUT, NULL,
				 "no worker could answer after %u attempt%s to continue a generation "
				 "whose worker failed; last: worker %s: %s",
				 pr->seg_attempts, pr->seg_attempts == 1 ? "" : "s", wid, detail);
		return;
	}
	size_t blen;
	const char *body = httpd_req_body(pr->req, &blen);
	unsigned long long tokens = (unsigned long long)proxy_migrate_tokens(m);
	char why[256];
	int rc = proxy_migrate_continue(m, body, blen, (unsigned)p->cfg->max_migrations, why,
					sizeof why);
	if (rc == 0) {
		log_info("request %s: worker %s failed (%s: %s) after the last of %llu tokens: "
			 "ended here",
			 m->id, wid, proxy_cause_name(cause), detail, tokens);
		pr_events_end(pr, w);
		return;
	}
	if (rc < 0) {
		pr->pool->st.migrations[PROXY_MIG_REFUSED]++;
		log_info("request %s: worker %s failed (%s: %s) after %llu tokens; not migrated: %s",
			 m->id, wid, proxy_cause_name(cause), detail, tokens, why);
		pr_error(pr, 502, PROXY_C_STREAM_CUT, NULL,
			 "worker %s failed during the generation (%s: %s), and %s", wid,
			 proxy_cause_name(cause), detail, why);
		return;
	}
	log_info("request %s: worker %s failed (%s: %s) after %llu tokens: migrating (%u of %d)",
		 m->id, wid, proxy_cause_name(cause), detail, tokens, m->segment,
		 p->cfg->max_migrations);
	pr->seg_attempts = 0;
	pr->accepted = false;
	pr->deadline_ms = reg_mono_ms() + p->cfg->wait_for_worker_ms;
	pr_next(pr);
}

/* Takes LEN bytes of the current answer's event stream (pr->evmode). */
static void pr_events(struct proxy_req *pr, const char *data, size_t len)
{
	struct proxy *p = pr->px;
	struct proxy_migrate *m = pr->mig;
	bool was = m->started;
	char err[400];
	buf_reset(&p->out);
	int rc = proxy_migrate_feed(m, data, len, &p->out, err, sizeof err);
	if (!was && m->started) {
		if (m->segment == 0) {
			pr_credit(pr);
			if (m->client_stream)
				pr_stream_start(pr);
		} else {
			pr->pool->st.migrations[PROXY_MIG_OK]++;
			log_info("request %s: continued on worker %s after %llu tokens", m->id,
				 pr->w->id, (unsigned long long)m->base_tokens);
		}
	}
	if (p->out.len && pr->streaming && pr->req && !pr->client_gone)
		httpd_stream_write(pr->req, p->out.data, p->out.len);
	if (rc < 0)
		pr_seg_failed(pr, PROXY_C_BAD_RESPONSE, err);
}

/* The upstream request of an answer taken event by event ended (ERR). */
static void pr_events_done(struct proxy_req *pr, int err, struct httpc_req *up)
{
	struct proxy_migrate *m = pr->mig;
	struct reg_worker *w = pr->w;
	if (pr->client_gone || !pr->req) {
		attempt_end(pr);
		return;
	}
	if (err == HTTPC_OK && !m->done && m->ev.len)
		pr_events(pr, "\n\n", 2); /* a last event without its blank line */
	if (!pr->evmode) /* it failed there */
		return;
	if (err == HTTPC_OK && m->done) {
		if (!pr->t_first_ns)
			pr->t_first_ns = now_ns();
		proxy_outlier_success(&((struct proxy_worker *)w->proxy)->out);
		attempt_end(pr);
		pr_events_end(pr, w);
		return;
	}
	if (err == HTTPC_OK)
		pr_seg_failed(pr, PROXY_C_BAD_RESPONSE,
			      "its event stream ended without \"data: [DONE]\"");
	else
		pr_seg_failed(pr, cause_of(err), httpc_req_errmsg(up));
}

/* A continuation was answered without an event stream (its status and
 * the start of its body in pr->coll), or failed (ERR) after that. */
static void pr_cont_refused(struct proxy_req *pr, int err, struct httpc_req *up)
{
	struct reg_worker *w = pr->w;
	char wid[128], body[320];
	snprintf(wid, sizeof wid, "%s", w ? w->id : "?");
	size_t bl = pr->coll.len < 300 ? pr->coll.len : 300;
	for (size_t i = 0; i < bl; i++) {
		/* Printable ASCII only: the message goes into JSON and logs. */
		unsigned char c = (unsigned char)pr->coll.data[i];
		body[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	body[bl] = '\0';
	int status = pr->status;
	attempt_end(pr);
	pr->cont_err = false;
	buf_free(&pr->coll);
	if (!pr->req || pr->client_gone)
		return;
	log_info("request %s: worker %s answered %d to the continuation: %s", pr->mig->id, wid, status,
		 err ? httpc_req_errmsg(up) : body);
	pr_error(pr, 502, PROXY_C_STREAM_CUT, NULL,
		 "the generation stopped when its worker failed, and worker %s answered %d to "
		 "its continuation: %s",
		 wid, status, err ? httpc_req_errmsg(up) : body);
}

/* W left the registry (not drained): the generations it gives go on on
 * other workers. */
static void pr_worker_gone(struct proxy *p, struct reg_worker *w)
{
	char d[96];
	snprintf(d, sizeof d, "it left the registry (%s)", w->gone_cause);
	struct proxy_req *next;
	for (struct proxy_req *pr = p->reqs; pr; pr = next) {
		next = pr->next;
		if (pr->w != w || !pr->up || !pr->evmode)
			continue;
		pr->busy++;
		pr_seg_failed(pr, PROXY_C_RESET, d);
		pr->busy--;
		pr_after(pr);
	}
}

static void up_head(struct httpc_req *up, const struct httpc_resp *resp, void *arg)
{
	struct proxy_req *pr = arg;
	int status = httpc_resp_status(resp);
	pr->busy++;
	if (retry_status(status)) {
		char d[32];
		snprintf(d, sizeof d, "answered %d", status);
		worker_failed(pr, PROXY_C_STATUS, d);
		if (pr_can_retry(pr)) {
			httpc_cancel(up);
			attempt_end(pr);
			pr->pool->st.retries[PROXY_C_STATUS]++;
			pr_next(pr);
			goto out;
		}
	}
	pr->accepted = true;
	pr->status = status;
	if (pr->client_gone)
		goto out;
	if (pr->mig && pr->mig->segment > 0) {
		/* A continuation: its head is not the client's (sent already,
		 * or kept for the assembled answer). */
		const char *ct = httpc_resp_header(resp, "Content-Type");
		if (status >= 200 && status < 300 && ct && strncasecmp(ct, "text/event-stream", 17) == 0)
			pr->evmode = true;
		else
			pr->cont_err = true;
		goto out;
	}
	const char *ctype = NULL, *cl = NULL;
	unsigned n = httpc_resp_header_count(resp);
	for (unsigned i = 0; i < n; i++) {
		const char *name, *value;
		httpc_resp_header_at(resp, i, &name, &value);
		if (!resp_header_dropped(name))
			httpd_add_header(pr->req, name, value);
		else if (!ctype && hname_is(name, "content-type"))
			ctype = value;
		else if (!cl && hname_is(name, "content-length"))
			cl = value;
	}
	httpd_add_header(pr->req, "X-Elastic-Worker", pr->w->id);
	if (ctype) {
		size_t l = strlen(ctype);
		pr->ctype = l < sizeof pr->ctype_inline ? pr->ctype_inline : malloc(l + 1);
		if (!pr->ctype)
			abort();
		memcpy(pr->ctype, ctype, l + 1);
	}
	/* A 2xx of an OpenAI endpoint is checked before anything of it reaches
	 * the client (a collected body is JSON, a stream's first event good),
	 * and credited to the worker then; other answers are credited now. */
	bool ok = status >= 200 && status < 300, checked = ok && checked_ep(pr->ep);
	if (ok && !checked)
		pr_credit(pr);
	if (ctype && strncasecmp(ctype, "text/event-stream", 17) == 0) {
		pr->sse = true;
		if (checked && pr->mig)
			pr->evmode = true;
		else if (checked)
			pr->hold = true;
		else
			pr_stream_start(pr);
	} else if (cl) {
		unsigned long long v = strtoull(cl, NULL, 10);
		buf_reserve(&pr->coll, v < COLLECT_MAX ? (size_t)v : COLLECT_MAX);
	}
out:
	pr->busy--;
	pr_after(pr);
}

static void up_body(struct httpc_req *up, const char *data, size_t len, void *arg)
{
	struct proxy_req *pr = arg;
	if (!pr->t_first_ns)
		pr->t_first_ns = now_ns();
	if (pr->client_gone)
		return;
	pr->busy++;
	if (pr->evmode) {
		pr_events(pr, data, len);
	} else if (pr->cont_err) {
		if (pr->coll.len < 4096)
			buf_append(&pr->coll, data, len < 4096 ? len : 4096);
		goto out;
	} else if (pr->hold) {
		/* A stream held until its first event is known good. */
		buf_append(&pr->coll, data, len);
		char why[200];
		int v = sse_first_event(pr->coll.data, pr->coll.len, why, sizeof why);
		if (v < 0) {
			pr_bad_answer(pr, why);
			goto out;
		}
		if (v == 0 && pr->coll.len <= FIRST_EVENT_MAX)
			goto out;
		/* Good (or too long to tell): pass it on, and the rest. */
		pr->hold = false;
		pr_credit(pr);
		pr_stream_start(pr);
		httpd_stream_write(pr->req, pr->coll.data, pr->coll.len);
		pr_tail(pr, pr->coll.data, pr->coll.len);
		buf_free(&pr->coll);
	} else if (!pr->streaming) {
		buf_append(&pr->coll, data, len);
		if (pr->coll.len <= COLLECT_MAX)
			goto out;
		/* Too large to hold: stream what came and the rest. */
		pr_stream_start(pr);
		httpd_stream_write(pr->req, pr->coll.data, pr->coll.len);
		buf_free(&pr->coll);
	} else {
		httpd_stream_write(pr->req, data, len);
		if (pr->sse)
			pr_tail(pr, data, len);
	}
	/* (After a migration the upstream is another one, or none.) */
	if (pr->up == up && !pr->client_gone && pr->req && !pr->paused &&
	    httpd_req_outbuf_len(pr->req) > HIWAT) {
		pr->paused = true;
		httpc_pause(up);
	}
out:
	pr->busy--;
	pr_after(pr);
}

static void up_done(struct httpc_req *up, int err, const struct httpc_resp *resp, void *arg)
{
	(void)resp;
	struct proxy_req *pr = arg;
	struct reg_worker *w = pr->w;
	pr->busy++;
	pr->up = NULL; /* finishing: nothing to cancel */
	if (pr->cont_err) {
		pr_cont_refused(pr, err, up);
		goto out;
	}
	if (pr->evmode) {
		pr_events_done(pr, err, up);
		goto out;
	}
	if (err == HTTPC_OK) {
		if (!pr->t_first_ns)
			pr->t_first_ns = now_ns();
		bool ok = pr->status >= 200 && pr->status < 300;
		bool checked = ok && checked_ep(pr->ep) && pr->req && !pr->client_gone;
		if (checked && pr->hold) {
			pr_bad_answer(pr, "its event stream ended before its first event");
			goto out;
		}
		char e[200], why[240];
		if (checked && !pr->streaming &&
		    proxy_json_check(pr->coll.data, pr->coll.len, e, sizeof e) < 0) {
			snprintf(why, sizeof why, "its body is not JSON: %s", e);
			pr_bad_answer(pr, why);
			goto out;
		}
		/* A stream passed on whole but without its end: nothing can be
		 * done for this client, but the worker counts as failing. */
		bool broken = checked && pr->sse && pr->streaming && !pr_tail_done(pr);
		if (broken)
			worker_failed(pr, PROXY_C_BAD_RESPONSE,
				      "its event stream ended without \"data: [DONE]\"");
		else if (!retry_status(pr->status))
			proxy_outlier_success(&((struct proxy_worker *)w->proxy)->out);
		if (checked && !pr->sse)
			pr_credit(pr);
		if (pr->req && !pr->client_gone) {
			pr_count(pr, pr->status, pr->status >= 500 || broken,
				 broken ? PROXY_C_BAD_RESPONSE : PROXY_C_STATUS, w);
			pr->busy++;
			if (pr->streaming)
				httpd_stream_end(pr->req);
			else
				httpd_reply(pr->req, pr->status, pr->ctype, pr->coll.data, pr->coll.len);
			pr->busy--;
			pr->req = NULL;
		}
		attempt_end(pr);
		goto out;
	}
	enum proxy_cause cause = cause_of(err);
	const char *msg = httpc_req_errmsg(up);
	worker_failed(pr, cause, msg);
	attempt_end(pr);
	/* An answer not passed on yet (collected, or a stream held for its
	 * first event) can still come from another worker. */
	if (pr->accepted && !pr->streaming && pr->req && !pr->client_gone)
		pr_forget_answer(pr);
	if (pr_can_retry(pr)) {
		pr->pool->st.retries[cause]++;
		pr_next(pr);
		goto out;
	}
	if (!pr->req || pr->client_gone)
		goto out;
	if (pr->streaming) {
		log_info("stream from worker %s cut: %s", w->id, msg);
		pr_count(pr, pr->status, true, PROXY_C_STREAM_CUT, w);
		pr->busy++;
		httpd_stream_abort(pr->req);
		pr->busy--;
		pr->req = NULL;
		goto out;
	}
	int status = cause == PROXY_C_TIMEOUT ? 504 : 502;
	if (pr->accepted)
		pr_error(pr, status, cause, NULL, "worker %s failed while sending its response: %s",
			 w->id, msg);
	else
		pr_error(pr, status, cause, NULL, "no worker could answer after %u attempt%s; last: %s",
			 pr->attempts, pr->attempts == 1 ? "" : "s", msg);
out:
	pr->busy--;
	pr_after(pr);
}

/* Request headers not passed to workers: hop-by-hop ones, the API key,
 * and the proxy's own X-Elastic-* (the Date of a request is kept). */
static bool req_header_dropped(const char *n)
{
	size_t len = strlen(n);
	if (len == 4 && hname_is(n, "date"))
		return false;
	return hop_header(n, len) || (len == 13 && hname_is(n, "authorization")) ||
	       (len == 19 && hname_is(n, "proxy-authorization")) ||
	       (len >= 10 && strncasecmp(n, "x-elastic-", 10) == 0);
}

/* Sends the request to W. */
static void pr_attempt(struct proxy_req *pr, struct reg_worker *w)
{
	struct proxy *p = pr->px;
	struct httpd_req *req = pr->req;
	struct httpc_header hdrs[MAX_FWD_HEADERS];
	size_t nh = 0;
	unsigned n = httpd_req_header_count(req);
	for (unsigned i = 0; i < n && nh < MAX_FWD_HEADERS; i++) {
		const char *name, *value;
		httpd_req_header_at(req, i, &name, &value);
		if (!req_header_dropped(name))
			hdrs[nh++] = (struct httpc_header){name, value};
	}
	char url[2048];
	const char *q = httpd_req_query(req), *path = httpd_req_path(req);
	size_t l1 = strlen(w->url), l2 = strlen(path), l3 = strlen(q);
	int ul = (int)(l1 + l2 + (l3 ? 1 + l3 : 0));
	if (ul < (int)sizeof url) {
		memcpy(url, w->url, l1);
		memcpy(url + l1, path, l2);
		if (l3) {
			url[l1 + l2] = '?';
			memcpy(url + l1 + l2 + 1, q, l3);
		}
		url[ul] = '\0';
	}
	size_t blen;
	const char *body = httpd_req_body(req, &blen);
	if (pr->mig && pr->mig->body.len) {
		body = pr->mig->body.data;
		blen = pr->mig->body.len;
	}
	struct httpc_request rq = {
		.method = httpd_req_method(req),
		.url = url,
		.headers = hdrs,
		.nheaders = nh,
		.body = body,
		.body_len = blen,
		.connect_timeout_ms = (unsigned)p->cfg->connect_timeout_ms,
		.response_timeout_ms = (unsigned)p->cfg->response_timeout_ms,
		.read_timeout_ms = (unsigned)p->cfg->stream_idle_timeout_ms,
		.retry = true, /* a stale keep-alive connection: resend once */
		.on_head = up_head,
		.on_body = up_body,
		.on_done = up_done,
		.arg = pr,
	};
	char err[256];
	if (pr->attempts < MAX_TRIED)
		pr->tried[pr->attempts] = w;
	pr->attempts++;
	pr->seg_attempts++;
	pr->accepted = false;
	pr->paused = false;
	struct httpc_req *up = ul < (int)sizeof url ? httpc_start(p->hc, &rq, err, sizeof err) : NULL;
	if (!up) {
		if (ul >= (int)sizeof url)
			snprintf(err, sizeof err, "request target too long");
		pr_error(pr, 400, PROXY_C_BAD_REQUEST, NULL, "cannot forward the request: %s", err);
		return;
	}
	pr->up = up;
	attempt_begin(pr, w);
}

static bool pr_tried(const struct proxy_req *pr, const struct reg_worker *w)
{
	unsigned n = pr->attempts < MAX_TRIED ? pr->attempts : MAX_TRIED;
	for (unsigned i = 0; i < n; i++)
		if (pr->tried[i] == w)
			return true;
	return false;
}

static void scratch_grow(struct proxy *p, unsigned n)
{
	if (n <= p->capc)
		return;
	unsigned cap = p->capc ? p->capc : 16;
	while (cap < n)
		cap *= 2;
	p->cand = realloc(p->cand, cap * sizeof *p->cand);
	p->cw = realloc(p->cw, cap * sizeof *p->cw);
	p->owners = realloc(p->owners, cap * sizeof *p->owners);
	p->matched = realloc(p->matched, cap * sizeof *p->matched);
	if (!p->cand || !p->cw || !p->owners || !p->matched)
		abort();
	p->capc = cap;
}

static void wait_cb(evutil_socket_t fd, short what, void *arg);

/* Waits for a ready worker, or gives up with 503. */
static void pr_wait(struct proxy_req *pr)
{
	struct proxy *p = pr->px;
	struct proxy_pool *pool = pr->pool;
	int64_t left = pr->deadline_ms - reg_mono_ms();
	if (p->stopping || left <= 0) {
		if (pr->mig && pr->mig->segment > 0)
			pr_error(pr, 503, PROXY_C_NO_WORKER, NULL,
				 "the generation stopped when its worker failed, and no other worker "
				 "of model %s could continue it",
				 pool->name);
		else if (pr->attempts)
			pr_error(pr, 503, PROXY_C_NO_WORKER, NULL,
				 "no ready worker of model %s is left after %u failed attempt%s",
				 pool->name, pr->attempts, pr->attempts == 1 ? "" : "s");
		else
			pr_error(pr, 503, PROXY_C_NO_WORKER, NULL,
				 "no worker of model %s is ready%s; try again later", pool->name,
				 p->cfg->wait_for_worker_ms ? " (waited for one)" : "");
		return;
	}
	pr->waiting = true;
	pr->wnext = NULL;
	pr->wprev = pool->wtail;
	if (pool->wtail)
		pool->wtail->wnext = pr;
	else
		pool->whead = pr;
	pool->wtail = pr;
	pool->nwaiting++;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	evtimer_assign(&pr->wait_ev, p->r->base, wait_cb, pr);
	evtimer_add(&pr->wait_ev, &tv);
}

static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct proxy_req *pr = arg;
	struct proxy_pool *pool = pr->pool;
	pr->busy++;
	if (pr->waiting) {
		if (pr->wprev)
			pr->wprev->wnext = pr->wnext;
		else
			pool->whead = pr->wnext;
		if (pr->wnext)
			pr->wnext->wprev = pr->wprev;
		else
			pool->wtail = pr->wprev;
		pr->wprev = pr->wnext = NULL;
		pool->nwaiting--;
		pr->waiting = false;
		pr_next(pr);
	}
	pr->busy--;
	pr_after(pr);
}

/* Chooses a worker and starts an attempt, or waits for one. */
static void pr_next(struct proxy_req *pr)
{
	struct proxy *p = pr->px;
	struct proxy_pool *pool = pr->pool;
	if (pool->nready == 0) {
		pr_wait(pr);
		return;
	}
	scratch_grow(p, pool->nready);
	int64_t mono = reg_mono_ms();
	unsigned n = 0;
	/* A retry goes to the untried, not ejected workers with the best
	 * record (failure score within PROXY_RETRY_SLACK of the lowest); a
	 * first attempt to any not ejected. Else untried; else any. */
	uint32_t max_score = UINT32_MAX;
	if (pr->attempts) {
		uint32_t best = UINT32_MAX;
		for (unsigned i = 0; i < pool->nready; i++) {
			const struct reg_worker *w = pool->ready[i];
			const struct proxy_worker *pw = w->proxy;
			if (pw->out.score < best && !pr_tried(pr, w) &&
			    !proxy_outlier_ejected(&pw->out, mono))
				best = pw->out.score;
		}
		if (best != UINT32_MAX)
			max_score = best + PROXY_RETRY_SLACK;
	}
	/* A continuation goes only to workers that did not fail this request. */
	int passes = pr->mig && pr->mig->segment > 0 ? 3 : 4;
	for (int pass = 1; pass < passes && n == 0; pass++) {
		for (unsigned i = 0; i < pool->nready; i++) {
			struct reg_worker *w = pool->ready[i];
			struct proxy_worker *pw = w->proxy;
			if (pass < 3 && pr_tried(pr, w))
				continue;
			if (pass < 2 && (proxy_outlier_ejected(&pw->out, mono) ||
					 pw->out.score > max_score))
				continue;
			struct proxy_cand *c = &p->cand[n];
			c->owner = pw->owner;
			c->id_hash = pw->id_hash;
			c->load = (int64_t)w->inflight + (w->load.waiting > 0 ? w->load.waiting : 0);
			c->matched = 0;
			p->cw[n++] = w;
		}
	}
	if (n == 0) {
		pr_wait(pr); /* for a worker it has not tried */
		return;
	}
	enum model_policy pol = pr->policy;
	if (pol == MODEL_POLICY_SESSION && !pr->has_session)
		pol = MODEL_POLICY_CACHE_AWARE;
	enum proxy_why why;
	unsigned k;
	switch (pol) {
	case MODEL_POLICY_ROUND_ROBIN:
		k = proxy_route_round_robin(n, &pool->rr);
		why = PROXY_WHY_ROUND_ROBIN;
		break;
	case MODEL_POLICY_LEAST_LOAD:
		k = proxy_route_least_load(p->cand, n, pool->rr++);
		why = PROXY_WHY_LEAST_LOAD;
		break;
	case MODEL_POLICY_SESSION:
		k = proxy_route_session(p->cand, n, pr->session_key);
		why = PROXY_WHY_SESSION;
		break;
	default: {
		unsigned shared = 0;
		if (pr->nblocks && n > 1) {
			for (unsigned i = 0; i < n; i++)
				p->owners[i] = p->cand[i].owner;
			shared = proxy_prefix_match(p->prefix, pr->blocks, pr->nblocks, p->owners, n,
						    p->matched);
			for (unsigned i = 0; i < n; i++)
				p->cand[i].matched = p->matched[i];
		}
		k = proxy_route_cache_aware(p->cand, n, pr->nblocks, shared, &p->cfg->route,
					    pr->nblocks ? pr->blocks[pr->nblocks - 1] : pool->rr++,
					    &pool->next_new, &why);
		break;
	}
	}
	pool->st.routed[why]++;
	pr_attempt(pr, p->cw[k]);
}

/* ---------------------------------------------------------------- arrival */

static void piece_cb(void *arg, const char *s, size_t len)
{
	struct proxy_prefix_hasher *ph = arg;
	proxy_prefix_feed(ph, s, len);
	proxy_prefix_sep(ph);
}

/* The value of KEY in the query Q, percent-decoded into OUT; 0 or -1. */
static int query_param(const char *q, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	while (*q) {
		const char *end = q + strcspn(q, "&");
		if ((size_t)(end - q) > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
			size_t k = 0;
			for (const char *s = q + kl + 1; s < end; s++) {
				char c = *s;
				if (c == '%' && end - s > 2) {
					char hex[3] = {s[1], s[2], 0};
					char *e;
					c = (char)strtol(hex, &e, 16);
					if (*e || !c)
						return -1;
					s += 2;
				} else if (c == '+') {
					c = ' ';
				}
				if (k + 1 >= len)
					return -1;
				out[k++] = c;
			}
			out[k] = '\0';
			return 0;
		}
		q = *end ? end + 1 : end;
	}
	return -1;
}

static void reply_models(struct proxy *p, struct httpd_req *req, const char *one)
{
	struct buf b = BUF_INIT;
	size_t n = 0;
	if (!one)
		buf_puts(&b, "{\"object\":\"list\",\"data\":[");
	for (struct proxy_pool *pool = p->pools; pool; pool = pool->next) {
		if (!pool->nready || (one && strcmp(one, pool->name) != 0))
			continue;
		if (n++)
			buf_putc(&b, ',');
		buf_puts(&b, "{\"id\":");
		buf_json_str(&b, pool->name, strlen(pool->name));
		buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"elastic-serve\","
			       "\"root\":",
			   (long long)pool->created);
		buf_json_str(&b, pool->name, strlen(pool->name));
		buf_puts(&b, ",\"parent\":null}");
	}
	if (one && n == 0) {
		buf_free(&b);
		early_error(p, req, 404, PROXY_C_UNKNOWN_MODEL, "model",
			    "The model `%s` does not exist.", one);
		return;
	}
	if (!one)
		buf_puts(&b, "]}");
	p->nopool.codes[2]++;
	p->r->proxy_requests++;
	httpd_reply(req, 200, "application/json", b.data, b.len);
	buf_free(&b);
}

bool proxy_keys_required(const struct proxy *p)
{
	return p->keys_required;
}

void proxy_handle(struct proxy *p, struct httpd_req *req)
{
	int64_t t0 = now_ns();
	const char *path = httpd_req_path(req), *method = httpd_req_method(req);
	enum ep ep;
	bool models = false;
	if (strcmp(path, "/v1/chat/completions") == 0)
		ep = EP_CHAT;
	else if (strcmp(path, "/v1/completions") == 0)
		ep = EP_COMPLETIONS;
	else if (strcmp(path, "/v1/embeddings") == 0)
		ep = EP_EMBEDDINGS;
	else if (strcmp(path, "/v1/models") == 0 || strncmp(path, "/v1/models/", 11) == 0)
		ep = EP_OTHER, models = true;
	else if (strncmp(path, "/v1/", 4) == 0 && path[4])
		ep = EP_OTHER;
	else {
		early_error(p, req, 404, PROXY_C_BAD_REQUEST, NULL, "no such endpoint: %s %s", method,
			    path);
		return;
	}

	if (p->keys_required && !proxy_keys_check(p->keys, httpd_req_header(req, "Authorization"))) {
		httpd_add_header(req, "WWW-Authenticate", "Bearer");
		early_error(p, req, 401, PROXY_C_UNAUTHORIZED, NULL,
			    "%s API key: send \"Authorization: Bearer KEY\" (`elasticctl key` prints one)",
			    httpd_req_header(req, "Authorization") ? "invalid" : "missing");
		return;
	}

	if (models && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
		char name[256];
		if (path[10] == '/') {
			/* Percent-decode the id (model names may hold '/'). */
			char q[300];
			snprintf(q, sizeof q, "m=%s", path + 11);
			if (query_param(q, "m", name, sizeof name) < 0) {
				early_error(p, req, 404, PROXY_C_UNKNOWN_MODEL, "model",
					    "The model `%s` does not exist.", path + 11);
				return;
			}
			reply_models(p, req, name);
		} else {
			reply_models(p, req, NULL);
		}
		return;
	}
	if (models) {
		httpd_add_header(req, "Allow", "GET, HEAD");
		early_error(p, req, 405, PROXY_C_BAD_REQUEST, NULL, "%s %s: use GET", method, path);
		return;
	}
	if (ep != EP_OTHER && strcmp(method, "POST") != 0) {
		httpd_add_header(req, "Allow", "POST");
		early_error(p, req, 405, PROXY_C_BAD_REQUEST, NULL, "%s %s: use POST", method, path);
		return;
	}

	/* Scan the body: model, stream, user, and the prompt's blocks. */
	size_t blen;
	const char *body = httpd_req_body(req, &blen);
	struct proxy_json_req jr;
	memset(&jr, 0, sizeof jr);
	jr.stream = -1;
	const char *ctype = httpd_req_header(req, "Content-Type");
	bool scan = ep != EP_OTHER || (blen > 0 && ctype && strcasestr(ctype, "json"));
	struct proxy_prefix_hasher *ph = &p->hasher;
	proxy_prefix_begin(ph, p->seed, (unsigned)p->cfg->prefix_block, p->hashes,
			   (unsigned)p->cfg->prefix_max_blocks);
	if (scan) {
		char err[256];
		if (proxy_json_scan(body, blen, &jr, piece_cb, ph, err, sizeof err) < 0) {
			const char *param = strncmp(err, "'model'", 7) == 0 ? "model"
					    : strncmp(err, "'stream'", 8) == 0 ? "stream"
					    : strncmp(err, "'user'", 6) == 0 ? "user" : NULL;
			early_error(p, req, 400, PROXY_C_BAD_REQUEST, param, "%s", err);
			return;
		}
	}
	char model[256];
	model[0] = '\0';
	if (jr.model.p) {
		if (jr.model.len >= sizeof model ||
		    proxy_json_unescape(&jr.model, model, sizeof model) < 0) {
			/* The model's own bytes only (not the body after it), cut at
			 * a character's start: the message must stay UTF-8. */
			size_t n = jr.model.len < 64 ? jr.model.len : 64;
			while (n > 0 && n < jr.model.len && ((unsigned char)jr.model.p[n] & 0xc0) == 0x80)
				n--;
			early_error(p, req, 404, PROXY_C_UNKNOWN_MODEL, "model",
				    "The model `%.*s...` does not exist.", (int)n, jr.model.p);
			return;
		}
	} else if (ep == EP_OTHER) {
		if (query_param(httpd_req_query(req), "model", model, sizeof model) < 0) {
			/* The only model served, if there is one. */
			struct proxy_pool *only = NULL;
			int count = 0;
			for (struct proxy_pool *pool = p->pools; pool; pool = pool->next)
				if (pool->nready) {
					only = pool;
					count++;
				}
			if (count == 1)
				snprintf(model, sizeof model, "%s", only->name);
		}
	}
	if (!model[0]) {
		early_error(p, req, 400, PROXY_C_BAD_REQUEST, "model",
			    "you must provide a model parameter");
		return;
	}
	struct proxy_pool *pool = pool_find(p, model);
	if (!pool || pool->nlive == 0) {
		if (!reg_pools_find(&p->r->pools, model)) {
			early_error(p, req, 404, PROXY_C_UNKNOWN_MODEL, "model",
				    "The model `%s` does not exist.", model);
			return;
		}
		pool = pool_get(p, model);
	}
	enum model_policy policy = pool_policy(p, pool);
	const char *ph_name = httpd_req_header(req, "X-Elastic-Policy");
	if (ph_name && model_policy_parse(ph_name, &policy) < 0) {
		early_error(p, req, 400, PROXY_C_BAD_REQUEST, NULL,
			    "unknown routing policy \"%s\" in X-Elastic-Policy (cache_aware, "
			    "round_robin, least_load or session)",
			    ph_name);
		return;
	}

	struct proxy_req *pr = calloc(1, sizeof *pr);
	if (!pr)
		abort();
	pr->px = p;
	pr->req = req;
	pr->pool = pool;
	pr->ep = ep;
	pr->policy = policy;
	pr->t0_ns = t0;
	pr->deadline_ms = reg_mono_ms() + p->cfg->wait_for_worker_ms;
	pr->blocks = pr->blocks_inline;
	pr->nblocks = ph->n;
	if (ph->n > INLINE_BLOCKS) {
		pr->blocks = malloc(ph->n * sizeof *pr->blocks);
		if (!pr->blocks)
			abort();
	}
	for (unsigned i = 0; i < ph->n; i++) {
		/* Salted per model: the same prompt for two models is two prefixes. */
		uint64_t h = p->hashes[i] ^ pool->seed;
		pr->blocks[i] = h ? h : 1;
	}
	const char *sid = httpd_req_header(req, "X-Session-ID");
	if (sid && *sid) {
		pr->has_session = true;
		pr->session_key = proxy_prefix_hash64(sid, strlen(sid), p->seed);
	} else if (jr.user.p && jr.user.len) {
		pr->has_session = true;
		pr->session_key = proxy_prefix_hash64(jr.user.p, jr.user.len, p->seed);
	}
	if ((ep == EP_CHAT || ep == EP_COMPLETIONS) && pool_migrate(p, pool)) {
		/* Streams are taken event by event, non-streamed requests that
		 * can migrate are assembled; the others are passed on as they come. */
		struct proxy_migrate *m = malloc(sizeof *m);
		if (!m)
			abort();
		proxy_migrate_init(m, ep == EP_CHAT, body, blen, &jr);
		if (proxy_migrate_handles(m)) {
			pr->mig = m;
		} else {
			proxy_migrate_free(m);
			free(m);
		}
	}
	pr->next = p->reqs;
	if (p->reqs)
		p->reqs->prev = pr;
	p->reqs = pr;
	httpd_req_set_ctx(req, pr);
	httpd_req_on_close(req, on_client_close, pr);
	pr->busy++;
	pr_next(pr);
	pr->busy--;
	pr_after(pr);
}

/* ---------------------------------------------------------------- keys */

static void keys_reload(struct proxy *p, bool first)
{
	const char *path = p->cfg->keys_file;
	struct stat st;
	if (stat(path, &st) < 0) {
		if (first || p->keys_st.st_ino)
			log_warn("api keys: cannot read %s: %s", path, strerror(errno));
		memset(&p->keys_st, 0, sizeof p->keys_st);
		return;
	}
	if (!first && st.st_ino == p->keys_st.st_ino && st.st_size == p->keys_st.st_size &&
	    st.st_mtim.tv_sec == p->keys_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == p->keys_st.st_mtim.tv_nsec)
		return;
	p->keys_st = st;
	char err[512];
	int n = proxy_keys_load(p->keys, path, err, sizeof err);
	if (n < 0)
		log_warn("api keys: %s (keeping the keys loaded before)", err);
	else
		log_info("api keys: %d key%s from %s", n, n == 1 ? "" : "s", path);
}

static void keys_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	keys_reload(arg, false);
}

/* ---------------------------------------------------------------- life */

void proxy_httpd_config(const struct proxy_config *pc, struct httpd_config *hc)
{
	hc->max_body = (size_t)pc->max_body;
	hc->header_timeout_ms = (unsigned)pc->header_timeout_ms;
	hc->body_timeout_ms = (unsigned)pc->body_timeout_ms;
	hc->idle_timeout_ms = (unsigned)pc->idle_timeout_ms;
	hc->write_timeout_ms = (unsigned)pc->write_timeout_ms;
	hc->max_conns = (unsigned)pc->max_connections;
}

struct proxy *proxy_new(struct reg *r, char *err, size_t errlen)
{
	const struct proxy_config *pc = &r->cfg->proxy;
	struct proxy *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->r = r;
	p->cfg = pc;
	char hex[17];
	if (auth_random_hex(hex, 8) < 0) {
		snprintf(err, errlen, "no randomness for the proxy's hash seed");
		free(p);
		return NULL;
	}
	p->seed = strtoull(hex, NULL, 16);
	p->keys = proxy_keys_new();
	if (r->api_key[0])
		proxy_keys_add(p->keys, r->api_key, strlen(r->api_key));
	if (pc->keys_file) {
		int n = proxy_keys_load(p->keys, pc->keys_file, err, errlen);
		if (n < 0) {
			proxy_keys_free(p->keys);
			free(p);
			return NULL;
		}
		stat(pc->keys_file, &p->keys_st);
		log_info("api keys: %d key%s from %s", n, n == 1 ? "" : "s", pc->keys_file);
		p->keys_ev = event_new(r->base, -1, EV_PERSIST, keys_cb, p);
		struct timeval tv = {KEYS_POLL_MS / 1000, (KEYS_POLL_MS % 1000) * 1000};
		event_add(p->keys_ev, &tv);
	}
	switch (pc->api_keys) {
	case PROXY_KEYS_REQUIRED: p->keys_required = true; break;
	case PROXY_KEYS_OFF: p->keys_required = false; break;
	default: p->keys_required = !reg_config_is_loopback(r->cfg->listen_host); break;
	}
	struct httpc_config hcfg;
	httpc_config_init(&hcfg);
	hcfg.connect_timeout_ms = (unsigned)pc->connect_timeout_ms;
	hcfg.response_timeout_ms = (unsigned)pc->response_timeout_ms;
	hcfg.max_idle_per_host = (unsigned)pc->upstream_idle;
	hcfg.idle_timeout_ms = 60000;
	p->hc = httpc_new(r->base, &hcfg);
	if (!p->hc)
		abort();
	p->prefix = proxy_prefix_new((size_t)pc->prefix_entries);
	p->hashes = malloc((size_t)pc->prefix_max_blocks * sizeof *p->hashes);
	if (!p->hashes)
		abort();
	p->outp.fails = (unsigned)pc->eject_after;
	p->outp.base_ms = pc->eject_time_ms;
	p->outp.max_ms = pc->eject_max_ms;
	log_info("OpenAI endpoint at %s/v1: API keys %s", r->url,
		 p->keys_required ? "required" : "not required");
	return p;
}

void proxy_stop(struct proxy *p)
{
	if (!p || p->stopping)
		return;
	p->stopping = true;
	for (struct proxy_pool *pool = p->pools; pool; pool = pool->next) {
		while (pool->whead) {
			struct proxy_req *pr = pool->whead;
			pr->busy++;
			pool->whead = pr->wnext;
			if (pool->whead)
				pool->whead->wprev = NULL;
			else
				pool->wtail = NULL;
			pr->wprev = pr->wnext = NULL;
			pool->nwaiting--;
			pr->waiting = false;
			evtimer_del(&pr->wait_ev);
			pr_wait(pr); /* stopping: 503 */
			pr->busy--;
			pr_after(pr);
		}
	}
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	p->stopping = true;
	while (p->reqs) {
		struct proxy_req *pr = p->reqs;
		pr->busy++;
		pr_abort(pr, PROXY_C_SHUTDOWN);
		pr->busy--;
		if (pr->req || pr->up || pr->waiting) {
			log_error("proxy: BUG: request not ended at shutdown");
			break;
		}
		pr_after(pr);
	}
	httpc_free(p->hc);
	struct proxy_pool *pool;
	while ((pool = p->pools)) {
		p->pools = pool->next;
		free(pool->name);
		free(pool->ready);
		free(pool);
	}
	/* Workers keep their proxy data (freed with them) but lose the pool. */
	for (size_t i = 0; i < p->r->workers.n; i++) {
		struct proxy_worker *pw = p->r->workers.v[i]->proxy;
		if (pw) {
			pw->pool = NULL;
			pw->listed = false;
		}
	}
	if (p->keys_ev)
		event_free(p->keys_ev);
	proxy_keys_free(p->keys);
	proxy_prefix_free(p->prefix);
	buf_free(&p->out);
	free(p->hashes);
	free(p->cand);
	free(p->cw);
	free(p->owners);
	free(p->matched);
	free(p);
}

/* ---------------------------------------------------------------- metrics */

void proxy_render_metrics(struct proxy *p, struct buf *out)
{
	if (!p)
		return;
	size_t np = 1, nw = 0;
	for (struct proxy_pool *pool = p->pools; pool; pool = pool->next)
		np++;
	for (size_t i = 0; i < p->r->workers.n; i++)
		if (p->r->workers.v[i]->proxy)
			nw++;
	struct proxy_metrics_row *rows = calloc(np + nw + 1, sizeof *rows);
	if (!rows)
		abort();
	size_t k = 0;
	rows[k++] = (struct proxy_metrics_row){"", NULL, &p->nopool, 0, 0, false, 0};
	for (struct proxy_pool *pool = p->pools; pool; pool = pool->next)
		rows[k++] = (struct proxy_metrics_row){pool->name, NULL, &pool->st, pool->inflight,
						       pool->nwaiting, false, 0};
	int64_t mono = reg_mono_ms();
	for (size_t i = 0; i < p->r->workers.n; i++) {
		const struct reg_worker *w = p->r->workers.v[i];
		const struct proxy_worker *pw = w->proxy;
		if (pw)
			rows[k++] = (struct proxy_metrics_row){
				w->model, w->id, &pw->st, w->inflight, 0,
				proxy_outlier_ejected(&pw->out, mono),
				proxy_prefix_owner_blocks(p->prefix, pw->owner)};
	}
	proxy_metrics_render(out, rows, np, rows + np, nw);
	free(rows);
	struct httpc_stats hs;
	httpc_get_stats(p->hc, &hs);
	struct proxy_prefix_stats ps;
	proxy_prefix_get_stats(p->prefix, &ps);
	buf_printf(out,
		   "# HELP elastic_proxy_upstream_connections Connections to workers, open and (of them) idle.\n"
		   "# TYPE elastic_proxy_upstream_connections gauge\n"
		   "elastic_proxy_upstream_connections{state=\"open\"} %u\n"
		   "elastic_proxy_upstream_connections{state=\"idle\"} %u\n"
		   "# HELP elastic_proxy_upstream_connects_total Connections opened to workers.\n"
		   "# TYPE elastic_proxy_upstream_connects_total counter\n"
		   "elastic_proxy_upstream_connects_total %lu\n"
		   "# HELP elastic_proxy_upstream_reused_total Requests sent on a kept-alive connection.\n"
		   "# TYPE elastic_proxy_upstream_reused_total counter\n"
		   "elastic_proxy_upstream_reused_total %lu\n"
		   "# HELP elastic_proxy_prefix_entries Prompt prefixes the cache-aware table remembers.\n"
		   "# TYPE elastic_proxy_prefix_entries gauge\n"
		   "elastic_proxy_prefix_entries %zu\n"
		   "# HELP elastic_proxy_prefix_evictions_total Prefixes forgotten to make room.\n"
		   "# TYPE elastic_proxy_prefix_evictions_total counter\n"
		   "elastic_proxy_prefix_evictions_total %llu\n"
		   "# HELP elastic_proxy_api_keys_required 1 when the OpenAI endpoint requires an API key.\n"
		   "# TYPE elastic_proxy_api_keys_required gauge\n"
		   "elastic_proxy_api_keys_required %d\n",
		   hs.open, hs.idle, hs.connects, hs.reused, ps.used,
		   (unsigned long long)ps.evictions, p->keys_required ? 1 : 0);
}
