/* reg_core.c — see reg.h: creating, running and stopping the registry;
 * the worker hook (events, evictions), the health tick and the state file's
 * deferred writes. */
#include "reg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "httpd.h"
#include "log.h"
#include "oai.h"
#include "proxy.h"
#include "reg_api.h"
#include "reg_auth.h"
#include "reg_jobs.h"
#include "reg_peer.h"
#include "reg_proc.h"
#include "reg_slurm.h"
#include "reg_state.h"
#include "reg_util.h"

#define HEALTH_TICK_MS 250
#define SAVE_DELAY_MS 100
#define MAX_GONE 2000

/* ---------------------------------------------------------------- state */

int reg_save_now(struct reg *r)
{
	struct buf b = BUF_INIT;
	char err[512];
	reg_state_encode(&r->pools, reg_now(), &b);
	int rc = reg_state_write_file(r->cfg->state_dir, REG_STATE_FILE, b.data, b.len, 0600, err,
				      sizeof err);
	buf_free(&b);
	if (rc < 0) {
		/* The file on disk stays the last one written (the new one goes to
		 * a temporary file first); memory is the truth until a retry
		 * succeeds. */
		log_error("cannot save the state: %s", err);
		if (r->save_failures++ == 0)
			reg_events_add(r->events, reg_now(), NULL,
				       "cannot save the state (%s): retrying every second; the file on "
				       "disk keeps the state of %.0f s ago",
				       err, reg_now() - r->saved_at);
		reg_metrics_add(&r->metrics, "elastic_state_writes_total", "result=\"error\"", 1);
		return -1;
	}
	if (r->save_failures)
		reg_events_add(r->events, reg_now(), NULL, "state saved again after %u failed attempt(s)",
			       r->save_failures);
	r->save_failures = 0;
	r->saved_at = reg_now();
	r->dirty = false;
	reg_metrics_add(&r->metrics, "elastic_state_writes_total", "result=\"ok\"", 1);
	return 0;
}

static void save_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg *r = arg;
	if (r->dirty && reg_save_now(r) < 0) {
		/* Try again in a second; the state in memory is intact. */
		struct timeval tv = {1, 0};
		event_add(r->save_ev, &tv);
	}
}

void reg_mark_dirty(struct reg *r)
{
	r->dirty = true;
	if (r->save_ev && !event_pending(r->save_ev, EV_TIMEOUT, NULL)) {
		struct timeval tv = {0, SAVE_DELAY_MS * 1000};
		event_add(r->save_ev, &tv);
	}
}

void reg_pool_path(const struct reg *r, const struct reg_pool *pool, char *out, size_t len)
{
	reg_state_pool_path(r->cfg->state_dir, pool->name, out, len);
}

/* ---------------------------------------------------------------- workers */

static void worker_hook(struct reg_worker *w, enum reg_wstate from, void *arg)
{
	struct reg *r = arg;
	double now = reg_now();
	char l[200];
	proxy_worker_changed(r->proxy, w, from);
	switch (w->state) {
	case REG_W_STARTING:
		reg_events_add(r->events, now, w->model, "worker %s %s (starting) at %s", w->id,
			       from == REG_W_GONE ? "registered" : "not ready", w->url);
		break;
	case REG_W_READY:
		reg_events_add(r->events, now, w->model, "worker %s ready at %s", w->id, w->url);
		break;
	case REG_W_DRAINING:
		reg_events_add(r->events, now, w->model, "worker %s draining", w->id);
		break;
	case REG_W_GONE:
		reg_metrics_add(&r->metrics, "elastic_evictions_total",
				reg_metrics_labels(l, sizeof l, "cause", w->gone_cause, NULL), 1);
		if (strcmp(w->gone_cause, "heartbeat_timeout") == 0)
			reg_events_add(r->events, now, w->model,
				       "worker %s evicted: no heartbeat for %.1f s", w->id,
				       now - w->last_heartbeat);
		else
			reg_events_add(r->events, now, w->model, "worker %s gone (%s)", w->id,
				       w->gone_cause);
		break;
	}
	reg_jobs_kick(r);
}

/* ---------------------------------------------------------------- munged */

void reg_auth_seen(struct reg *r, enum auth_result ar, const char *err)
{
	int64_t mono = reg_mono_ms();
	if (ar == AUTH_UNAVAILABLE) {
		if (r->auth_down_mono)
			return;
		r->auth_down_mono = mono;
		r->auth_probe_mono = mono;
		log_error("%s: heartbeats cannot be checked; evictions for missing heartbeats "
			  "are paused until munged answers", err);
		reg_events_add(r->events, reg_now(), NULL,
			       "munged unreachable (%s): evictions for missing heartbeats paused", err);
		reg_metrics_set(&r->metrics, "elastic_auth_unavailable", "", 1);
		reg_metrics_add(&r->metrics, "elastic_auth_outages_total", "", 1);
		return;
	}
	if (!r->auth_down_mono)
		return;
	double secs = (double)(mono - r->auth_down_mono) / 1000.0;
	r->auth_down_mono = 0;
	size_t n = reg_workers_grace(&r->workers, mono);
	log_info("munged answers again after %.1f s; %zu worker(s) get a fresh heartbeat timeout",
		 secs, n);
	reg_events_add(r->events, reg_now(), NULL,
		       "munged answers again after %.1f s: %zu worker(s) get a fresh heartbeat timeout",
		       secs, n);
	reg_metrics_set(&r->metrics, "elastic_auth_unavailable", "", 0);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg *r = arg;
	int64_t mono = reg_mono_ms();
	if (r->auth_down_mono && mono - r->auth_probe_mono >= 1000) {
		/* Agents keep trying, but do not wait for them. */
		char err[256];
		r->auth_probe_mono = mono;
		if (auth_probe(&r->auth, err, sizeof err) == AUTH_OK)
			reg_auth_seen(r, AUTH_OK, NULL);
	}
	if (!r->auth_down_mono)
		reg_workers_evict_stale(&r->workers, r->cfg->heartbeat_timeout_ms, reg_now(), mono);
	reg_workers_reap(&r->workers, r->cfg->keep_gone_ms, MAX_GONE, mono);
}

/* ---------------------------------------------------------------- metrics */

void reg_render_metrics(struct reg *r, struct buf *out)
{
	char l[400];
	struct reg_metrics *m = &r->metrics;
	reg_metrics_clear(m, "elastic_workers");
	reg_metrics_clear(m, "elastic_jobs");
	reg_metrics_clear(m, "elastic_pool_target_nodes");
	for (size_t i = 0; i < r->workers.n; i++) {
		const struct reg_worker *w = r->workers.v[i];
		reg_metrics_add(m, "elastic_workers",
				reg_metrics_labels(l, sizeof l, "pool", w->model, "state",
						   reg_wstate_name(w->state), NULL),
				1);
	}
	for (size_t p = 0; p < r->pools.n; p++) {
		const struct reg_pool *pool = r->pools.v[p];
		reg_metrics_set(m, "elastic_pool_target_nodes",
				reg_metrics_labels(l, sizeof l, "pool", pool->name, NULL),
				pool->deleting ? 0 : pool->target);
		for (int s = REG_J_SUBMITTING; s < REG_J_ENDED; s++)
			reg_metrics_set(m, "elastic_jobs",
					reg_metrics_labels(l, sizeof l, "pool", pool->name, "state",
							   reg_jstate_name((enum reg_jstate)s), NULL),
					(double)reg_pool_count(pool, (enum reg_jstate)s));
	}
	reg_metrics_render(m, out);
	proxy_render_metrics(r->proxy, out);
}

/* ---------------------------------------------------------------- life */

static void derive_url(struct reg *r)
{
	if (r->cfg->advertise_url) {
		reg_strlcpy(r->url, r->cfg->advertise_url, sizeof r->url);
		size_t n = strlen(r->url);
		while (n > 0 && r->url[n - 1] == '/')
			r->url[--n] = '\0';
		return;
	}
	const char *h = r->cfg->listen_host;
	char host[256];
	if (!h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
		if (gethostname(host, sizeof host) < 0 || !host[0])
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		h = host;
	}
	if (strchr(h, ':'))
		snprintf(r->url, sizeof r->url, "http://[%s]:%d", h, r->port);
	else
		snprintf(r->url, sizeof r->url, "http://%s:%d", h, r->port);
}

struct reg *reg_new(struct event_base *base, struct reg_config *cfg, char *err, size_t errlen)
{
	struct reg *r = calloc(1, sizeof *r);
	char aside[PATH_MAX + 64], e[1024];
	if (!r)
		abort();
	r->base = base;
	r->cfg = cfg;
	r->self_uid = geteuid();
	r->started_at = reg_now();
	r->saved_at = r->started_at;
	r->started_mono = reg_mono_ms();
	r->events = calloc(1, sizeof *r->events);
	if (!r->events)
		abort();
	reg_events_init(r->events);
	reg_workers_init(&r->workers);
	reg_workers_set_hook(&r->workers, worker_hook, r);
	reg_pools_init(&r->pools);
	reg_metrics_init(&r->metrics);
	reg_slurm_instance(cfg->state_dir, r->self_uid, r->instance);

	/* Auth before anything listens. */
	const char *token_path;
	if (reg_auth_parse(cfg->auth, &r->auth_mode, &token_path, err, errlen) < 0)
		goto fail;
	if (r->auth_mode == AUTH_NONE && !reg_config_is_loopback(cfg->listen_host)) {
		snprintf(err, errlen, "auth none is only allowed on a loopback address");
		goto fail;
	}
	if (auth_server_init(&r->auth, r->auth_mode, token_path, 1, err, errlen) < 0)
		goto fail;
	if (cfg->munge_socket)
		reg_strlcpy(r->auth.munge_socket, cfg->munge_socket, sizeof r->auth.munge_socket);

	/* State. */
	if (reg_state_mkdirs(cfg->state_dir, cfg->output_dir, err, errlen) < 0)
		goto fail;
	if (reg_state_api_key(cfg->state_dir, r->api_key, sizeof r->api_key, err, errlen) < 0)
		goto fail;
	switch (reg_state_load(cfg->state_dir, &r->pools, aside, sizeof aside, e, sizeof e)) {
	case REG_STATE_LOADED: {
		size_t nj = 0;
		for (size_t i = 0; i < r->pools.n; i++)
			nj += reg_pool_live(r->pools.v[i]);
		reg_events_add(r->events, r->started_at, NULL,
			       "state loaded: %zu pool(s), %zu job(s) to adopt from SLURM", r->pools.n, nj);
		break;
	}
	case REG_STATE_NONE:
		reg_events_add(r->events, r->started_at, NULL, "no state file in %s: starting empty",
			       cfg->state_dir);
		break;
	case REG_STATE_CORRUPT: {
		struct buf log = BUF_INIT;
		log_error("state file %s/%s is corrupt: %s", cfg->state_dir, REG_STATE_FILE, e);
		log_error("moved it aside to %s; rebuilding pools from %s/pools", aside, cfg->state_dir);
		reg_events_add(r->events, r->started_at, NULL,
			       "state file corrupt (%s): kept as %s; pools rebuilt from their config files",
			       e, aside);
		reg_state_recover_pools(cfg->state_dir, &r->pools, r->started_at, &log);
		for (char *p = log.data; p && *p;) {
			size_t l = strcspn(p, "\n");
			reg_events_add(r->events, r->started_at, NULL, "%.*s", (int)l, p);
			p += l + (p[l] ? 1 : 0);
		}
		buf_free(&log);
		r->dirty = true;
		break;
	}
	case REG_STATE_ERROR:
		snprintf(err, errlen, "%s", e);
		goto fail;
	}
	for (size_t i = 0; i < r->pools.n; i++) {
		/* cancel_sent is not stored: decide again after a restart. */
		if (reg_state_write_pool(cfg->state_dir, r->pools.v[i], e, sizeof e) < 0)
			log_warn("%s", e);
		for (size_t k = 0; k < r->pools.v[i]->njobs; k++)
			r->pools.v[i]->jobs[k]->known_mono = r->started_mono - 1;
	}

	/* HTTP. */
	struct httpd_config hc;
	httpd_config_init(&hc);
	proxy_httpd_config(&cfg->proxy, &hc); /* the OpenAI side's limits */
	r->httpd = httpd_new(base, &hc, reg_api_handle, r);
	if (!r->httpd) {
		snprintf(err, errlen, "cannot create the HTTP server");
		goto fail;
	}
	httpd_set_error_body(r->httpd, oai_httpd_error_body, NULL);
	if (httpd_listen(r->httpd, cfg->listen_host, cfg->listen_port, e, sizeof e) < 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s",
			 cfg->listen_host ? cfg->listen_host : "*", cfg->listen_port, e);
		goto fail;
	}
	r->port = httpd_port(r->httpd);
	derive_url(r);
	r->proxy = proxy_new(r, e, sizeof e);
	if (!r->proxy) {
		snprintf(err, errlen, "%s", e);
		goto fail;
	}

	r->procs = reg_procs_new(base);
	r->resolver = reg_resolver_new(base, 60 * 1000);
	if (!r->resolver) {
		snprintf(err, errlen, "cannot create the name resolver: %s", strerror(errno));
		goto fail;
	}
	r->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, r);
	r->save_ev = evtimer_new(base, save_cb, r);
	if (!r->tick_ev || !r->save_ev)
		abort();
	struct timeval tv = {0, HEALTH_TICK_MS * 1000};
	event_add(r->tick_ev, &tv);
	if (r->dirty)
		reg_mark_dirty(r);
	reg_jobs_start(r);

	char l[100];
	reg_metrics_set(&r->metrics, "elastic_build_info",
			reg_metrics_labels(l, sizeof l, "version", ES_VERSION, NULL), 1);
	reg_metrics_set(&r->metrics, "elastic_start_time_seconds", "", r->started_at);
	log_info("listening on %s:%d (jobs reach it at %s), auth %s, state in %s",
		 cfg->listen_host ? cfg->listen_host : "*", r->port, r->url,
		 r->auth_mode == AUTH_MUNGE ? "munge" : r->auth_mode == AUTH_TOKEN ? "token" : "none",
		 cfg->state_dir);
	return r;
fail:
	reg_free(r);
	return NULL;
}

static void drained_cb(void *arg)
{
	struct reg *r = arg;
	event_base_loopexit(r->base, NULL);
}

void reg_stop(struct reg *r)
{
	if (r->stopping)
		return;
	r->stopping = true;
	log_info("stopping");
	if (r->dirty)
		reg_save_now(r);
	if (r->tick_ev)
		event_del(r->tick_ev);
	proxy_stop(r->proxy);
	httpd_shutdown(r->httpd, drained_cb, r);
}

void reg_free(struct reg *r)
{
	if (!r)
		return;
	if (r->dirty && r->save_ev)
		reg_save_now(r);
	proxy_free(r->proxy); /* first: it answers its clients and lets go of workers */
	r->proxy = NULL;
	reg_procs_free(r->procs); /* runs pending callbacks as cancelled */
	reg_api_free(r);
	reg_resolver_free(r->resolver);
	reg_jobs_free(r);
	if (r->httpd)
		httpd_free(r->httpd);
	if (r->tick_ev)
		event_free(r->tick_ev);
	if (r->save_ev)
		event_free(r->save_ev);
	auth_server_free(&r->auth);
	reg_workers_free(&r->workers);
	reg_pools_free(&r->pools);
	reg_metrics_free(&r->metrics);
	free(r->events);
	free(r);
}
