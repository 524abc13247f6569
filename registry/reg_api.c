/* reg_api.c — see reg_api.h. */
#include "reg_api.h"

#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hcall.h"
#include "httpd.h"
#include "log.h"
#include "model.h"
#include "oai.h"
#include "proxy.h"
#include "reg.h"
#include "reg_auth.h"
#include "reg_body.h"
#include "reg_jobs.h"
#include "reg_peer.h"
#include "reg_state.h"
#include "reg_util.h"


/* A request waiting for a SLURM command (job-ended reason refinement). */
struct reg_pending {
	struct reg *reg;
	struct httpd_req *req;
	char job_id[REG_JOB_ID_MAX];
	size_t removed;
	struct reg_pending *prev, *next;
};

/* ---------------------------------------------------------------- replies */

static void count(struct reg *r, int status)
{
	char l[32];
	snprintf(l, sizeof l, "code=\"%d\"", status);
	reg_metrics_add(&r->metrics, "elastic_http_requests_total", l, 1);
}

static void reply_json(struct reg *r, struct httpd_req *req, int status, struct buf *b)
{
	count(r, status);
	httpd_reply(req, status, "application/json", b->data ? b->data : "{}", b->data ? b->len : 2);
}

static void reply_error(struct reg *r, struct httpd_req *req, int status, const char *param,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reply_error(struct reg *r, struct httpd_req *req, int status, const char *param,
			const char *fmt, ...)
{
	char msg[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	oai_error_json(&b, status, msg, param);
	reply_json(r, req, status, &b);
	buf_free(&b);
}

/* A validation error: ERR reads "'field' must ..."; PARAM is the field. */
static void reply_bad(struct reg *r, struct httpd_req *req, const char *err)
{
	log_info("rejected %s %s from %s: %s", httpd_req_method(req), httpd_req_path(req),
		 httpd_req_peer(req), err);
	char param[128] = "";
	const char *q = strchr(err, '\'');
	if (q) {
		const char *e = strchr(q + 1, '\'');
		if (e && (size_t)(e - q - 1) < sizeof param)
			snprintf(param, sizeof param, "%.*s", (int)(e - q - 1), q + 1);
	}
	reply_error(r, req, 400, param[0] ? param : NULL, "%s", err);
}

/* ---------------------------------------------------------------- helpers */

/* Percent-decodes S into OUT. Returns 0, or -1 on a bad escape or NUL. */
static int pct_decode(const char *s, size_t n, char *out, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
				return -1;
			char hex[3] = {s[i + 1], s[i + 2], 0};
			c = (char)strtol(hex, NULL, 16);
			if (c == 0)
				return -1;
			i += 2;
		}
		if (k + 1 >= len)
			return -1;
		out[k++] = c;
	}
	out[k] = '\0';
	return 0;
}

/* The value of KEY in the query string Q, decoded, or NULL. */
static const char *query_get(const char *q, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	while (q && *q) {
		size_t l = strcspn(q, "&");
		if (l > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
			if (pct_decode(q + kl + 1, l - kl - 1, out, len) < 0)
				return NULL;
			return out;
		}
		if (l == kl && strncmp(q, key, kl) == 0) {
			out[0] = '\0';
			return out;
		}
		q += l;
		if (*q)
			q++;
	}
	return NULL;
}

static size_t pool_ready(struct reg *r, const struct reg_pool *pool)
{
	return reg_workers_count(&r->workers, pool->name, REG_W_READY);
}

static void pool_json(struct reg *r, const struct reg_pool *pool, bool with_config,
		      struct buf *out)
{
	const struct reg_event *e = reg_events_last(r->events, pool->name);
	reg_pool_json(pool, pool_ready(r, pool), e ? e->text : NULL, with_config, out);
}

static void reply_pool(struct reg *r, struct httpd_req *req, int status,
		       const struct reg_pool *pool)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"pool\":");
	pool_json(r, pool, true, &b);
	buf_putc(&b, '}');
	reply_json(r, req, status, &b);
	buf_free(&b);
}

/* ---------------------------------------------------------------- agents */

/* A registration waiting for the name of its worker's host (reg_peer.h). */
struct reg_pending_reg {
	struct reg *reg;
	struct httpd_req *req;
	struct reg_body_register rb;  /* the parsed body */
	uid_t uid;                    /* who registers */
	struct reg_addr peer;         /* from where */
	struct reg_lookup *lookup;
	struct reg_pending_reg *prev, *next;
};

static void register_finish(struct reg *r, struct httpd_req *req, struct reg_body_register *rb,
			    uid_t uid)
{
	struct reg_worker *w = rb->w;
	rb->w = NULL;
	w->uid = uid;
	w = reg_workers_put(&r->workers, w, rb->want, reg_now(), reg_mono_ms());
	reg_metrics_add(&r->metrics, "elastic_registrations_total", "", 1);
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"id\":");
	buf_json_str(&b, w->id, strlen(w->id));
	buf_printf(&b, ",\"state\":\"%s\",\"heartbeat_ms\":%lld,\"timeout_ms\":%lld}",
		   reg_wstate_name(w->state), (long long)r->cfg->heartbeat_ms,
		   (long long)r->cfg->heartbeat_timeout_ms);
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

/* Refuses a registration whose URL does not name the caller. */
static void register_refuse(struct reg *r, struct httpd_req *req, const struct reg_worker *w,
			    const struct reg_addr *peer, const char *why)
{
	char ps[64];
	reg_addr_str(peer, ps, sizeof ps);
	log_warn("refused worker %s from %s: %s", w->id, ps, why);
	reg_metrics_add(&r->metrics, "elastic_registrations_refused_total", "", 1);
	reply_error(r, req, 403, "url",
		    "worker %s: %s; a worker's URL must name the machine that registers it "
		    "(this registration comes from %s)",
		    w->id, why, ps);
}

static void register_check(struct reg *r, struct httpd_req *req, struct reg_body_register *rb,
			   uid_t uid, const struct reg_addr *peer, int err,
			   const struct reg_addr *addrs, size_t n)
{
	const struct reg_worker *w = rb->w;
	char why[400];
	if (err == EAI_AGAIN) {
		httpd_add_header(req, "Retry-After", "5");
		reply_error(r, req, 503, "url", "cannot resolve the host %s of worker %s now; try again",
			    w->host, w->id);
		goto out;
	}
	if (err) {
		snprintf(why, sizeof why, "its host %s does not resolve", w->host);
		register_refuse(r, req, w, peer, why);
		goto out;
	}
	struct reg_addr local[64];
	size_t nlocal = reg_peer_local_addrs(local, 64);
	if (!reg_peer_allowed(peer, addrs, n, local, nlocal)) {
		struct reg_addr a;
		int k = snprintf(why, sizeof why, "its host %s %s", w->host,
				 reg_addr_parse(w->host, &a) == 0 ? "is another machine's address"
								  : "resolves to");
		for (size_t i = 0; reg_addr_parse(w->host, &a) < 0 && i < n && k > 0 &&
				   (size_t)k < sizeof why - 64;
		     i++) {
			char as[64];
			reg_addr_str(&addrs[i], as, sizeof as);
			k += snprintf(why + k, sizeof why - (size_t)k, "%s%s", i ? ", " : " ", as);
		}
		register_refuse(r, req, w, peer, why);
		goto out;
	}
	register_finish(r, req, rb, uid);
out:
	reg_worker_free(rb->w);
	rb->w = NULL;
}

static void pending_reg_unlink(struct reg *r, struct reg_pending_reg *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		r->pending_regs = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void on_host_resolved(int err, const struct reg_addr *addrs, size_t n, void *arg)
{
	struct reg_pending_reg *p = arg;
	pending_reg_unlink(p->reg, p);
	register_check(p->reg, p->req, &p->rb, p->uid, &p->peer, err, addrs, n);
	free(p);
}

static void api_register(struct reg *r, struct httpd_req *req, const struct auth_who *who)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct reg_body_register rb;
	if (reg_body_register(body, len, &rb, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	if (!r->cfg->check_worker_host) {
		register_finish(r, req, &rb, who->uid);
		return;
	}
	struct reg_addr peer;
	if (reg_addr_parse(httpd_req_peer(req), &peer) < 0) {
		reply_error(r, req, 403, "url", "cannot tell where this registration comes from (%s)",
			    httpd_req_peer(req));
		reg_worker_free(rb.w);
		return;
	}
	struct reg_pending_reg *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->reg = r;
	p->req = req;
	p->rb = rb;
	p->uid = who->uid;
	p->peer = peer;
	p->next = r->pending_regs;
	if (r->pending_regs)
		r->pending_regs->prev = p;
	r->pending_regs = p;
	p->lookup = reg_resolve(r->resolver, rb.w->host, on_host_resolved, p);
}

static void api_heartbeat(struct reg *r, struct httpd_req *req)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct reg_body_heartbeat hb;
	if (reg_body_heartbeat(body, len, &hb, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	double now = reg_now();
	int64_t mono = reg_mono_ms();
	struct buf b = BUF_INIT;
	size_t unknown = 0;
	buf_puts(&b, "{\"unknown\":[");
	for (size_t i = 0; i < hb.n; i++) {
		const struct reg_body_hb_worker *e = &hb.v[i];
		struct reg_worker *w = reg_workers_find(&r->workers, e->id);
		const struct reg_load *load = e->has_load ? &e->load : NULL;
		if (!w || w->state == REG_W_GONE) {
			buf_puts(&b, unknown++ ? "," : "");
			buf_json_str(&b, e->id, strlen(e->id));
			continue;
		}
		if (e->state == REG_W_DRAINING) {
			reg_workers_heartbeat(&r->workers, e->id, false, load, now, mono);
			reg_workers_apply(&r->workers, w, REG_WEV_DRAIN, NULL, now, mono);
		} else if (e->state < 0) {
			/* No state: keep it, refresh time and load. */
			w->last_heartbeat = now;
			w->last_hb_mono = mono;
			if (load)
				w->load = *load;
		} else {
			reg_workers_heartbeat(&r->workers, e->id, e->state == REG_W_READY, load, now,
					      mono);
		}
	}
	buf_printf(&b, "],\"heartbeat_ms\":%lld}", (long long)r->cfg->heartbeat_ms);
	reg_metrics_add(&r->metrics, "elastic_heartbeats_total", "", 1);
	if (unknown)
		reg_metrics_add(&r->metrics, "elastic_heartbeat_unknown_total", "", (double)unknown);
	reply_json(r, req, 200, &b);
	buf_free(&b);
	reg_body_heartbeat_free(&hb);
}

static void api_deregister(struct reg *r, struct httpd_req *req)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct reg_body_deregister d;
	if (reg_body_deregister(body, len, &d, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	double now = reg_now();
	int64_t mono = reg_mono_ms();
	size_t removed = 0;
	if (d.has_ids) {
		for (size_t i = 0; i < d.nids; i++) {
			struct reg_worker *w = reg_workers_find(&r->workers, d.ids[i]);
			if (w && strcmp(w->job_id, d.job_id) == 0 &&
			    reg_workers_apply(&r->workers, w, REG_WEV_DEREGISTER, d.reason, now, mono))
				removed++;
		}
	} else {
		removed = reg_workers_apply_job(&r->workers, d.job_id, d.node[0] ? d.node : NULL,
						REG_WEV_DEREGISTER, d.reason, now, mono);
	}
	if (removed) {
		struct reg_pool *pool = NULL;
		reg_pools_find_job(&r->pools, d.job_id, &pool);
		reg_events_add(r->events, now, pool ? pool->name : NULL,
			       "%zu worker(s) of job %s on %s deregistered (%s)", removed, d.job_id,
			       d.node[0] ? d.node : "?", d.reason);
	}
	reg_body_deregister_free(&d);
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"removed\":%zu}", removed);
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

/* ---------------------------------------------------------------- plugin */

static void pending_unlink(struct reg *r, struct reg_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		r->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void reply_ended(struct reg *r, struct httpd_req *req, size_t removed, const char *reason)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"removed\":%zu,\"reason\":\"%s\"}", removed, reason);
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void on_refined(const char *state, const char *reason, void *arg)
{
	struct reg_pending *p = arg;
	struct reg *r = p->reg;
	const char *why = reg_jobs_refine_reason(r, p->job_id, state, reason);
	if (strcmp(why, "unknown") != 0)
		reg_jobs_notice_ended(r, p->job_id, why);
	pending_unlink(r, p);
	reply_ended(r, p->req, p->removed, why);
	free(p);
}

static void api_jobs_ended(struct reg *r, struct httpd_req *req)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct reg_body_ended e;
	if (reg_body_ended(body, len, &e, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	const char *job_id = e.job_id, *reason = e.reason, *nd = e.node;
	int64_t status = e.exit_status, sig = e.sig;
	size_t removed = reg_workers_apply_job(&r->workers, job_id, NULL, REG_WEV_JOB_ENDED,
					       "job_ended", reg_now(), reg_mono_ms());
	struct reg_pool *pool = NULL;
	reg_pools_find_job(&r->pools, job_id, &pool);
	char sigtxt[32] = "";
	if (sig)
		snprintf(sigtxt, sizeof sigtxt, ", signal %lld", (long long)sig);
	reg_events_add(r->events, reg_now(), pool ? pool->name : NULL,
		       "job %s ended on %s (plugin: %s, exit status %lld%s), %zu worker(s) removed",
		       job_id, nd, reason, (long long)status, sigtxt, removed);
	reg_jobs_notice_ended(r, job_id, reason);
	if (strcmp(reason, "unknown") == 0) {
		/* Ask SLURM, within the plugin's budget of about 2 s. */
		struct reg_pending *p = calloc(1, sizeof *p);
		if (!p)
			abort();
		p->reg = r;
		p->req = req;
		p->removed = removed;
		reg_strlcpy(p->job_id, job_id, sizeof p->job_id);
		p->next = r->pending;
		if (r->pending)
			r->pending->prev = p;
		r->pending = p;
		if (reg_jobs_lookup(r, p->job_id, 1000, on_refined, p) < 0) {
			pending_unlink(r, p);
			free(p);
			reply_ended(r, req, removed, "unknown");
		}
		return;
	}
	reply_ended(r, req, removed, reason);
}

void reg_api_free(struct reg *r)
{
	while (r->pending_regs) {
		struct reg_pending_reg *p = r->pending_regs;
		pending_reg_unlink(r, p);
		reg_resolve_cancel(p->lookup);
		httpd_add_header(p->req, "Retry-After", "1");
		reply_error(r, p->req, 503, NULL, "the registry is stopping");
		reg_worker_free(p->rb.w);
		free(p);
	}
	while (r->pending) {
		struct reg_pending *p = r->pending;
		pending_unlink(r, p);
		reply_ended(r, p->req, p->removed, "unknown");
		free(p);
	}
}

/* ---------------------------------------------------------------- operators */

static int cmp_worker(const void *a, const void *b)
{
	const struct reg_worker *x = *(struct reg_worker *const *)a, *y = *(struct reg_worker *const *)b;
	int c = strcmp(x->model, y->model);
	return c ? c : strcmp(x->id, y->id);
}

static void api_workers(struct reg *r, struct httpd_req *req)
{
	char v[200];
	const char *q = httpd_req_query(req);
	const char *all = query_get(q, "all", v, sizeof v);
	bool with_gone = all && strcmp(all, "0") != 0 && strcmp(all, "false") != 0;
	char model[200];
	const char *mf = query_get(q, "model", model, sizeof model);
	struct reg_worker **ws = calloc(r->workers.n ? r->workers.n : 1, sizeof *ws);
	if (!ws)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < r->workers.n; i++) {
		struct reg_worker *w = r->workers.v[i];
		if ((w->state != REG_W_GONE || with_gone) && (!mf || strcmp(w->model, mf) == 0))
			ws[n++] = w;
	}
	qsort(ws, n, sizeof *ws, cmp_worker);
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"workers\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&b, ',');
		reg_worker_json(ws[i], &b);
	}
	buf_printf(&b, "],\"now\":%.3f}", reg_now());
	free(ws);
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void api_pools_list(struct reg *r, struct httpd_req *req)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"pools\":[");
	for (size_t i = 0; i < r->pools.n; i++) {
		if (i)
			buf_putc(&b, ',');
		pool_json(r, r->pools.v[i], true, &b);
	}
	buf_puts(&b, "]}");
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void api_pools_create(struct reg *r, struct httpd_req *req)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct buf errs = BUF_INIT;
	struct reg_body_pool bp;
	bool config_bad;
	if (reg_body_pool(body, len, &bp, &errs, &config_bad, err, sizeof err) < 0) {
		if (config_bad)
			reply_error(r, req, 400, "config", "%s", errs.data ? errs.data : err);
		else
			reply_bad(r, req, err);
		buf_free(&errs);
		return;
	}
	struct model_config *cfg = bp.cfg;
	const char *filename = bp.filename;
	buf_free(&errs);
	if (!cfg->registry_url)
		cfg->registry_url = reg_strdup(r->url);
	else if (strcmp(cfg->registry_url, r->url) != 0)
		reg_events_add(r->events, reg_now(), cfg->name,
			       "note: [registry] url = %s; this registry is at %s", cfg->registry_url,
			       r->url);
	struct reg_pool *pool = reg_pools_find(&r->pools, cfg->name);
	int status;
	if (pool) {
		int was_deleting = pool->deleting;
		reg_pool_set_config(pool, cfg, filename);
		if (was_deleting) {
			pool->deleting = false;
			pool->target = cfg->target_nodes;
		}
		reg_events_add(r->events, reg_now(), pool->name, "pool updated from %s (target %d)",
			       filename, pool->target);
		status = 200;
	} else {
		pool = reg_pools_add(&r->pools, cfg, filename, cfg->target_nodes, reg_now());
		reg_events_add(r->events, reg_now(), pool->name,
			       "pool created from %s (target %d, max_nodes %d)", filename, pool->target,
			       cfg->max_nodes);
		status = 201;
	}
	char e[400];
	if (reg_state_write_pool(r->cfg->state_dir, pool, e, sizeof e) < 0)
		log_error("%s", e); /* submit() tries again */
	reg_mark_dirty(r);
	reg_jobs_kick(r);
	reply_pool(r, req, status, pool);
	free(bp.filename);
}

static struct reg_pool *pool_arg(struct reg *r, struct httpd_req *req, const char *enc,
				 size_t len)
{
	char name[200];
	if (pct_decode(enc, len, name, sizeof name) < 0) {
		reply_error(r, req, 400, "name", "bad pool name in the request path");
		return NULL;
	}
	struct reg_pool *pool = reg_pools_find(&r->pools, name);
	if (!pool)
		reply_error(r, req, 404, "name", "no pool named '%s'", name);
	return pool;
}

static void api_pool_scale(struct reg *r, struct httpd_req *req, struct reg_pool *pool)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	int target;
	if (reg_body_scale(body, len, &target, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	if (pool->deleting) {
		reply_error(r, req, 409, NULL,
			    "pool '%s' is being deleted; elasticctl up its model.toml to bring it back",
			    pool->name);
		return;
	}
	if (target > pool->cfg->max_nodes || target < pool->cfg->min_nodes) {
		reply_error(r, req, 400, "target",
			    "target %lld is outside %d..%d (scale.min_nodes..max_nodes of pool '%s')",
			    (long long)target, pool->cfg->min_nodes, pool->cfg->max_nodes, pool->name);
		return;
	}
	if (target % pool->cfg->nodes != 0) {
		reply_error(r, req, 400, "target",
			    "target %lld is not a multiple of %d, the nodes of one job of pool '%s' (slurm.nodes)",
			    (long long)target, pool->cfg->nodes, pool->name);
		return;
	}
	if (pool->target != (int)target)
		reg_events_add(r->events, reg_now(), pool->name, "target %d -> %lld", pool->target,
			       (long long)target);
	pool->target = (int)target;
	reg_mark_dirty(r);
	reg_jobs_kick(r);
	reply_pool(r, req, 200, pool);
}

static void api_pool_delete(struct reg *r, struct httpd_req *req, struct reg_pool *pool)
{
	if (!pool->deleting) {
		pool->deleting = true;
		reg_events_add(r->events, reg_now(), pool->name,
			       "pool deleted: cancelling its jobs (removed once they are gone)");
	}
	pool->target = 0;
	reg_mark_dirty(r);
	reg_jobs_kick(r);
	reply_pool(r, req, 200, pool);
}

static void api_pool_get(struct reg *r, struct httpd_req *req, struct reg_pool *pool)
{
	reply_pool(r, req, 200, pool);
}

static void api_drain(struct reg *r, struct httpd_req *req)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	char err[300];
	struct reg_body_drain d;
	if (reg_body_drain(body, len, &d, err, sizeof err) < 0) {
		reply_bad(r, req, err);
		return;
	}
	const char *wid = d.worker[0] ? d.worker : NULL, *job_id = d.job_id;
	int n = 0;
	if (wid) {
		struct reg_worker *w = reg_workers_find(&r->workers, wid);
		if (!w || w->state == REG_W_GONE) {
			reply_error(r, req, 404, "worker", "no worker '%s'", wid);
			return;
		}
		n = reg_workers_apply(&r->workers, w, REG_WEV_DRAIN, NULL, reg_now(), reg_mono_ms());
	} else {
		struct reg_pool *pool = NULL;
		struct reg_job *j = reg_pools_find_job(&r->pools, job_id, &pool);
		if (j && j->state != REG_J_ENDED) {
			n = reg_jobs_drain(r, pool, j, "operator");
		} else {
			size_t have = 0;
			for (size_t i = 0; i < r->workers.n; i++)
				if (r->workers.v[i]->state != REG_W_GONE &&
				    strcmp(r->workers.v[i]->job_id, job_id) == 0)
					have++;
			if (!have) {
				reply_error(r, req, 404, "job_id", "no job '%s' with workers or in a pool",
					    job_id);
				return;
			}
			n = (int)reg_workers_apply_job(&r->workers, job_id, NULL, REG_WEV_DRAIN, NULL,
						       reg_now(), reg_mono_ms());
		}
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"drained\":%d}", n);
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void api_status(struct reg *r, struct httpd_req *req)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"pools\":[");
	for (size_t i = 0; i < r->pools.n; i++) {
		if (i)
			buf_putc(&b, ',');
		pool_json(r, r->pools.v[i], false, &b);
	}
	buf_puts(&b, "],\"workers\":{");
	for (int s = 0; s < REG_W_NSTATES; s++)
		buf_printf(&b, "%s\"%s\":%zu", s ? "," : "", reg_wstate_name((enum reg_wstate)s),
			   reg_workers_count(&r->workers, NULL, (enum reg_wstate)s));
	buf_puts(&b, "},\"events\":");
	reg_events_json(r->events, 0, 20, NULL, &b);
	buf_printf(&b,
		   ",\"requests\":{\"total\":%llu,\"errors\":%llu},\"errors\":{\"acquirer\":%.0f,"
		   "\"evictions\":%.0f},\"registry\":{\"version\":\"%s\",\"url\":",
		   (unsigned long long)r->proxy_requests, (unsigned long long)r->proxy_errors,
		   reg_metrics_sum(&r->metrics, "elastic_acquirer_errors_total"),
		   reg_metrics_sum(&r->metrics, "elastic_evictions_total"), ES_VERSION);
	buf_json_str(&b, r->url, strlen(r->url));
	buf_printf(&b, ",\"started_at\":%.3f,\"uid\":%u,\"synced\":%s,\"now\":%.3f}}", r->started_at,
		   (unsigned)r->self_uid, reg_jobs_synced(r) ? "true" : "false", reg_now());
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void api_events(struct reg *r, struct httpd_req *req)
{
	char v[200];
	const char *q = httpd_req_query(req);
	unsigned long long after = 0, limit = 100;
	const char *s;
	char *end;
	if ((s = query_get(q, "after", v, sizeof v))) {
		after = strtoull(s, &end, 10);
		if (!*s || *end) {
			reply_error(r, req, 400, "after", "'after' must be an event number");
			return;
		}
	}
	if ((s = query_get(q, "limit", v, sizeof v))) {
		limit = strtoull(s, &end, 10);
		if (!*s || *end || limit == 0 || limit > REG_EVENTS_MAX) {
			reply_error(r, req, 400, "limit", "'limit' must be between 1 and %d", REG_EVENTS_MAX);
			return;
		}
	}
	char pool[200];
	const char *pf = query_get(q, "pool", pool, sizeof pool);
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"events\":");
	reg_events_json(r->events, after, (size_t)limit, pf, &b);
	buf_putc(&b, '}');
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

static void api_key(struct reg *r, struct httpd_req *req)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"key\":");
	buf_json_str(&b, r->api_key, strlen(r->api_key));
	buf_putc(&b, '}');
	reply_json(r, req, 200, &b);
	buf_free(&b);
}

/* ---------------------------------------------------------------- routing */

static bool method_is(struct reg *r, struct httpd_req *req, const char *want)
{
	if (strcmp(httpd_req_method(req), want) == 0)
		return true;
	httpd_add_header(req, "Allow", want);
	reply_error(r, req, 405, NULL, "%s is not allowed on %s (use %s)", httpd_req_method(req),
		    httpd_req_path(req), want);
	return false;
}

static void route_api(struct reg *r, struct httpd_req *req, const struct auth_who *who)
{
	const char *m = httpd_req_method(req), *p = httpd_req_path(req);
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;

	if (strcmp(p, "/api/v1/workers") == 0) {
		if (get)
			api_workers(r, req);
		else if (post)
			api_register(r, req, who);
		else {
			httpd_add_header(req, "Allow", "GET, POST");
			reply_error(r, req, 405, NULL, "%s is not allowed on %s", m, p);
		}
	} else if (strcmp(p, "/api/v1/heartbeat") == 0) {
		if (method_is(r, req, "POST"))
			api_heartbeat(r, req);
	} else if (strcmp(p, "/api/v1/deregister") == 0) {
		if (method_is(r, req, "POST"))
			api_deregister(r, req);
	} else if (strcmp(p, "/api/v1/jobs/ended") == 0) {
		if (method_is(r, req, "POST"))
			api_jobs_ended(r, req);
	} else if (strcmp(p, "/api/v1/pools") == 0) {
		if (get)
			api_pools_list(r, req);
		else if (post)
			api_pools_create(r, req);
		else {
			httpd_add_header(req, "Allow", "GET, POST");
			reply_error(r, req, 405, NULL, "%s is not allowed on %s", m, p);
		}
	} else if (strncmp(p, "/api/v1/pools/", 14) == 0 && p[14]) {
		const char *name = p + 14;
		size_t nl = strlen(name);
		if (nl > 6 && strcmp(name + nl - 6, "/scale") == 0) {
			if (!method_is(r, req, "POST"))
				return;
			struct reg_pool *pool = pool_arg(r, req, name, nl - 6);
			if (pool)
				api_pool_scale(r, req, pool);
		} else if (strcmp(m, "DELETE") == 0) {
			struct reg_pool *pool = pool_arg(r, req, name, nl);
			if (pool)
				api_pool_delete(r, req, pool);
		} else if (get) {
			struct reg_pool *pool = pool_arg(r, req, name, nl);
			if (pool)
				api_pool_get(r, req, pool);
		} else {
			httpd_add_header(req, "Allow", "GET, DELETE");
			reply_error(r, req, 405, NULL, "%s is not allowed on %s", m, p);
		}
	} else if (strcmp(p, "/api/v1/drain") == 0) {
		if (method_is(r, req, "POST"))
			api_drain(r, req);
	} else if (strcmp(p, "/api/v1/status") == 0) {
		if (method_is(r, req, "GET"))
			api_status(r, req);
	} else if (strcmp(p, "/api/v1/events") == 0) {
		if (method_is(r, req, "GET"))
			api_events(r, req);
	} else if (strcmp(p, "/api/v1/key") == 0) {
		if (method_is(r, req, "GET"))
			api_key(r, req);
	} else {
		reply_error(r, req, 404, NULL, "no such endpoint: %s %s", m, p);
	}
}

void reg_api_handle(struct httpd_req *req, void *arg)
{
	struct reg *r = arg;
	const char *path = httpd_req_path(req), *method = httpd_req_method(req);

	if (strcmp(path, "/metrics") == 0) {
		if (!method_is(r, req, "GET"))
			return;
		struct buf b = BUF_INIT;
		reg_render_metrics(r, &b);
		count(r, 200);
		httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
		buf_free(&b);
		return;
	}
	if (strcmp(path, "/health") == 0) {
		count(r, 200);
		httpd_reply(req, 200, "text/plain", "ok\n", 3);
		return;
	}
	if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) {
		proxy_handle(r->proxy, req);
		return;
	}
	if (strncmp(path, "/api/", 5) != 0) {
		reply_error(r, req, 404, NULL, "no such endpoint: %s %s", method, path);
		return;
	}

	/* Authenticate, then authorise, before looking at the body. */
	struct auth_who who = {r->self_uid, getegid(), AUTH_NONE};
	if (r->auth_mode == AUTH_MUNGE && r->auth_down_mono) {
		/* Known down: no request waits for libmunge's retries on a dead
		 * socket; the tick's probe notices when munged is back. */
		httpd_add_header(req, "Retry-After", "1");
		reply_error(r, req, 503, NULL, "cannot check the credential: munged is unreachable");
		return;
	}
	if (r->auth_mode != AUTH_NONE) {
		struct buf target = BUF_INIT;
		const char *q = httpd_req_query(req);
		size_t len;
		const char *body = httpd_req_body(req, &len);
		char err[256];
		buf_puts(&target, path);
		if (*q) {
			buf_putc(&target, '?');
			buf_puts(&target, q);
		}
		enum auth_result ar = auth_check(&r->auth, httpd_req_header(req, "Authorization"),
						 method, target.data, body, len, (int64_t)reg_now(),
						 &who, err, sizeof err);
		buf_free(&target);
		if (ar != AUTH_DENIED) /* a refusal may not have asked munged */
			reg_auth_seen(r, ar, err);
		if (ar == AUTH_UNAVAILABLE) {
			httpd_add_header(req, "Retry-After", "1");
			reply_error(r, req, 503, NULL, "cannot check the credential: %s", err);
			return;
		}
		if (ar != AUTH_OK) {
			log_info("refused %s %s from %s: %s", method, path, httpd_req_peer(req), err);
			httpd_add_header(req, "WWW-Authenticate",
					 r->auth_mode == AUTH_MUNGE ? "MUNGE" : "ES-HMAC");
			reply_error(r, req, 401, NULL, "authentication required: %s", err);
			return;
		}
	}
	enum reg_access need = reg_auth_class(method, path);
	if (!reg_auth_allowed(&who, need, r->self_uid, r->cfg->allow_uids, r->cfg->nallow_uids)) {
		log_info("refused %s %s from uid %u (%s)", method, path, (unsigned)who.uid,
			 httpd_req_peer(req));
		reply_error(r, req, 403, NULL, "uid %u may not %s %s on this registry (running as uid %u)",
			    (unsigned)who.uid, method, path, (unsigned)r->self_uid);
		return;
	}
	route_api(r, req, &who);
}
