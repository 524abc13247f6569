/* agent_registry.c — the agent's side of registry/API.md: register,
 * heartbeat, deregister, every request signed with lib/auth (agent.h).
 *
 * The registry may be down or restart: registrations are retried with a
 * doubling delay (1 s .. 30 s) while the engines keep serving; a heartbeat
 * reply naming unknown workers makes them register again.
 */
#include "agent.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "hcall.h"
#include "httpc.h"
#include "log.h"
#include "model.h"

#define REG_TIMEOUT_MS 3000
#define REG_BACKOFF_MIN_MS 1000
#define REG_BACKOFF_MAX_MS 30000

static void body_str(struct buf *b, const char *key, const char *v, bool comma)
{
	buf_printf(b, "%s\"%s\": ", comma ? ", " : "", key);
	buf_json_str(b, v, strlen(v));
}

static const char *wire_state(const struct agent_slice *s)
{
	return s->sm.state == AS_READY ? "ready" : "starting";
}

void agent_body_register(const struct agent *ag, const struct agent_slice *s, struct buf *b)
{
	char port[16];
	snprintf(port, sizeof port, "%d", s->port);
	buf_puts(b, "{");
	body_str(b, "id", s->id, false);
	body_str(b, "model", ag->cfg->name, true);
	body_str(b, "url", s->url, true);
	body_str(b, "host", ag->host_name, true);
	buf_printf(b, ", \"port\": %d", s->port);
	body_str(b, "job_id", ag->opt.job_id, true);
	body_str(b, "node", ag->opt.node, true);
	buf_printf(b, ", \"slice\": %d", s->index);
	body_str(b, "gpus", s->gpus, true);
	if (s->nnodes > 0) {
		buf_puts(b, ", \"nodes\": [");
		for (size_t i = 0; i < s->nnodes; i++) {
			if (i)
				buf_puts(b, ", ");
			buf_json_str(b, s->nodes[i], strlen(s->nodes[i]));
		}
		buf_puts(b, "]");
	}
	/* parallel.tp: every GPU of the worker, on all its nodes. */
	buf_printf(b, ", \"tp\": %d, \"job_end\": %.0f", ag->cfg->tp, ag->job_end);
	body_str(b, "state", wire_state(s), true);
	buf_puts(b, "}");
}

void agent_body_heartbeat(const struct agent *ag, struct buf *b)
{
	buf_puts(b, "{");
	body_str(b, "job_id", ag->opt.job_id, false);
	body_str(b, "node", ag->opt.node, true);
	buf_puts(b, ", \"workers\": [");
	bool first = true;
	for (size_t i = 0; i < ag->nslices; i++) {
		const struct agent_slice *s = &ag->slices[i];
		if (!s->registered || (s->sm.state != AS_READY && s->sm.state != AS_STARTING))
			continue;
		buf_puts(b, first ? "{" : ", {");
		first = false;
		body_str(b, "id", s->id, false);
		body_str(b, "state", wire_state(s), true);
		if (s->sm.state == AS_READY && s->load.valid)
			buf_printf(b,
				   ", \"load\": {\"running\": %d, \"waiting\": %d, \"kv_usage\": %.4f, \"prefix_queries\": %.0f, \"prefix_hits\": %.0f}",
				   s->load.running, s->load.waiting, s->load.kv_usage,
				   s->load.prefix_queries, s->load.prefix_hits);
		buf_puts(b, "}");
	}
	buf_puts(b, "]}");
}

void agent_body_deregister(const struct agent *ag, const struct agent_slice *s,
			   const char *reason, struct buf *b)
{
	buf_puts(b, "{");
	body_str(b, "job_id", ag->opt.job_id, false);
	body_str(b, "node", ag->opt.node, true);
	if (s) {
		buf_puts(b, ", \"ids\": [");
		buf_json_str(b, s->id, strlen(s->id));
		buf_puts(b, "]");
	}
	body_str(b, "reason", reason, true);
	buf_puts(b, "}");
}

/* POSTs BODY to PATH of the registry. Returns the request or NULL (the
 * failure is logged). */
static struct httpc_req *reg_post(struct agent *ag, const char *path, const struct buf *body,
				  httpc_done_fn done, void *arg, int timeout_ms)
{
	struct hcall_url u;
	char err[300], target[600], url[900];
	if (hcall_parse_url(ag->opt.registry, &u, err, sizeof err) < 0) {
		log_error("registry %s: %s", ag->opt.registry, err);
		return NULL;
	}
	snprintf(target, sizeof target, "%s%s", u.prefix, path);
	snprintf(url, sizeof url, strchr(u.host, ':') ? "http://[%s]:%d%s" : "http://%s:%d%s",
		 u.host, u.port, target);
	struct buf sig = BUF_INIT;
	/* After a failure, do not let libmunge spend seconds on a socket that
	 * munged left behind: the loop supervises the engines meanwhile. */
	bool down = ag->sign_failures && ag->auth.mode == AUTH_MUNGE &&
		    !auth_munged_listening(NULL);
	if (down)
		snprintf(err, sizeof err, "munged does not listen on its socket");
	if (down ||
	    auth_sign(&ag->auth, "POST", target, body->data, body->len, &sig, err, sizeof err) < 0) {
		/* Once a heartbeat interval while munged is down: say so now and then. */
		if (ag->sign_failures++ % 30 == 0)
			log_warn("cannot sign %s for the registry: %s; engines keep serving", path, err);
		buf_free(&sig);
		return NULL;
	}
	if (ag->sign_failures) {
		log_info("requests to the registry are signed again after %u failure(s)",
			 ag->sign_failures);
		ag->sign_failures = 0;
	}
	struct httpc_header h[2] = {{"Content-Type", "application/json"}, {"Authorization", sig.data ? sig.data : ""}};
	struct httpc_request rq = {
		.method = "POST", .url = url, .headers = h, .nheaders = sig.len ? 2 : 1,
		.body = body->data, .body_len = body->len, .total_timeout_ms = (unsigned)timeout_ms,
		.connect_timeout_ms = (unsigned)(timeout_ms < 2000 ? timeout_ms : 2000),
		.max_body = 1 << 20, .on_done = done, .arg = arg,
	};
	struct httpc_req *r = httpc_start(ag->http, &rq, err, sizeof err);
	if (!r)
		log_error("registry request %s: %s", path, err);
	buf_free(&sig);
	return r;
}

/* The "error.message" of an OpenAI-style error body, or the body. */
static void reg_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.*s", (int)(len < 200 ? len : 200), body);
	struct json_object *o = json_tokener_parse(body);
	struct json_object *e, *m;
	if (o && json_object_object_get_ex(o, "error", &e) && json_object_object_get_ex(e, "message", &m))
		snprintf(out, outlen, "%s", json_object_get_string(m));
	json_object_put(o);
}

static void reg_retry_later(struct agent_slice *s)
{
	s->reg_backoff_ms = s->reg_backoff_ms ? s->reg_backoff_ms * 2 : REG_BACKOFF_MIN_MS;
	if (s->reg_backoff_ms > REG_BACKOFF_MAX_MS)
		s->reg_backoff_ms = REG_BACKOFF_MAX_MS;
	s->reg_next_ms = agent_now_ms() + s->reg_backoff_ms;
}

static void on_registered(struct httpc_req *req, int err, const struct httpc_resp *resp,
			  void *arg)
{
	struct agent_slice *s = arg;
	struct agent *ag = s->ag;
	s->reg_inflight = false;
	if (err) {
		log_warn("worker %s: registry unreachable (%s); retrying in %d s", s->id,
			 httpc_req_errmsg(req), (s->reg_backoff_ms ? s->reg_backoff_ms * 2 : REG_BACKOFF_MIN_MS) / 1000);
		reg_retry_later(s);
		return;
	}
	size_t len;
	const char *body = httpc_resp_body(resp, &len);
	int st = httpc_resp_status(resp);
	if (st != 200) {
		char why[256];
		reg_error_text(body, len, why, sizeof why);
		log_warn("worker %s: registry refused the registration (%d): %s", s->id, st, why);
		reg_retry_later(s);
		if (st >= 400 && st < 500)
			s->reg_next_ms = agent_now_ms() + REG_BACKOFF_MAX_MS;
		return;
	}
	s->registered = true;
	s->reg_backoff_ms = 0;
	s->reg_next_ms = 0;
	struct json_object *o = json_tokener_parse(body);
	struct json_object *hb;
	if (o && json_object_object_get_ex(o, "heartbeat_ms", &hb)) {
		int ms = json_object_get_int(hb);
		if (ms >= 100 && ms <= 60000 && ms != ag->heartbeat_ms && ag->opt.heartbeat_ms <= 0)
			ag->heartbeat_ms = ms;
	}
	json_object_put(o);
	/* Refreshes (a new job end time, a registry that forgot) are quiet. */
	if (s->reg_logged != (int)s->reg_sent)
		log_info("worker %s registered as %s", s->id,
			 s->reg_sent == AS_READY ? "ready" : "starting");
	else
		log_debug("worker %s registered again", s->id);
	s->reg_logged = (int)s->reg_sent;
	if (s->reg_sent != s->sm.state)
		agent_reg_register(s); /* it changed while the request was out */
}

void agent_reg_register(struct agent_slice *s)
{
	struct agent *ag = s->ag;
	if (!ag->have_registry || s->reg_inflight || ag->phase != AP_RUNNING || s->follower)
		return;
	if (s->sm.state != AS_STARTING && s->sm.state != AS_READY)
		return;
	struct buf b = BUF_INIT;
	agent_body_register(ag, s, &b);
	s->reg_inflight = reg_post(ag, "/api/v1/workers", &b, on_registered, s, REG_TIMEOUT_MS) != NULL;
	if (!s->reg_inflight)
		reg_retry_later(s);
	s->reg_sent = s->sm.state;
	buf_free(&b);
}

void agent_reg_due(struct agent *ag, int64_t now)
{
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->reg_inflight || s->follower ||
		    (s->sm.state != AS_STARTING && s->sm.state != AS_READY))
			continue;
		bool need = !s->registered || s->reg_sent != s->sm.state;
		if (need && now >= s->reg_next_ms)
			agent_reg_register(s);
	}
}

static void on_deregistered(struct httpc_req *req, int err, const struct httpc_resp *resp,
			    void *arg)
{
	struct agent *ag = arg;
	if (err)
		log_warn("deregistration failed: %s (the job's exit notice will remove the workers)",
			 httpc_req_errmsg(req));
	else if (httpc_resp_status(resp) != 200)
		log_warn("registry refused the deregistration (%d)", httpc_resp_status(resp));
	else
		log_debug("deregistration done");
	ag->dereg_inflight--;
	if (ag->dereg_inflight == 0 && ag->phase == AP_DONE)
		event_base_loopbreak(ag->base);
}

void agent_reg_deregister(struct agent *ag, struct agent_slice *s, const char *reason)
{
	if (!ag->have_registry)
		return;
	if (s)
		s->registered = false;
	else
		for (size_t i = 0; i < ag->nslices; i++)
			ag->slices[i].registered = false;
	struct buf b = BUF_INIT;
	agent_body_deregister(ag, s, reason, &b);
	if (reg_post(ag, "/api/v1/deregister", &b, on_deregistered, ag, REG_TIMEOUT_MS))
		ag->dereg_inflight++;
	buf_free(&b);
}

void agent_reg_deregister_id(struct agent *ag, const char *id, const char *reason)
{
	if (!ag->have_registry || !id || !*id)
		return;
	struct buf b = BUF_INIT;
	buf_puts(&b, "{");
	body_str(&b, "job_id", ag->opt.job_id, false);
	body_str(&b, "node", ag->opt.node, true);
	buf_puts(&b, ", \"ids\": [");
	buf_json_str(&b, id, strlen(id));
	buf_puts(&b, "]");
	body_str(&b, "reason", reason, true);
	buf_puts(&b, "}");
	if (reg_post(ag, "/api/v1/deregister", &b, on_deregistered, ag, REG_TIMEOUT_MS))
		ag->dereg_inflight++;
	buf_free(&b);
}

void agent_reg_deregister_job(struct agent *ag, const char *reason)
{
	if (!ag->have_registry)
		return;
	struct buf b = BUF_INIT;
	buf_puts(&b, "{");
	body_str(&b, "job_id", ag->opt.job_id, false);
	body_str(&b, "reason", reason, true);
	buf_puts(&b, "}");
	if (reg_post(ag, "/api/v1/deregister", &b, on_deregistered, ag, REG_TIMEOUT_MS))
		ag->dereg_inflight++;
	buf_free(&b);
}

int agent_reg_apply_heartbeat_reply(struct agent *ag, const char *body, size_t len)
{
	(void)len;
	struct json_object *o = json_tokener_parse(body);
	struct json_object *unk, *hb;
	int n = 0;
	if (!o)
		return -1;
	if (json_object_object_get_ex(o, "unknown", &unk) && json_object_is_type(unk, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(unk); i++) {
			const char *id = json_object_get_string(json_object_array_get_idx(unk, i));
			for (size_t j = 0; id && j < ag->nslices; j++) {
				struct agent_slice *s = &ag->slices[j];
				if (strcmp(s->id, id) == 0 && s->registered) {
					s->registered = false;
					s->reg_next_ms = 0;
					s->reg_backoff_ms = 0;
					n++;
					log_info("registry does not know worker %s: registering it again", id);
				}
			}
		}
	}
	if (json_object_object_get_ex(o, "heartbeat_ms", &hb) && ag->opt.heartbeat_ms <= 0) {
		int ms = json_object_get_int(hb);
		if (ms >= 100 && ms <= 60000)
			ag->heartbeat_ms = ms;
	}
	json_object_put(o);
	return n;
}

static void on_heartbeat(struct httpc_req *req, int err, const struct httpc_resp *resp,
			 void *arg)
{
	struct agent *ag = arg;
	ag->hb_inflight = false;
	if (err || httpc_resp_status(resp) != 200) {
		if (ag->hb_failures++ % 30 == 0)
			log_warn("heartbeat failed: %s; engines keep serving",
				 err ? httpc_req_errmsg(req) : "registry refused it");
		return;
	}
	if (ag->hb_failures)
		log_info("registry reachable again after %d failed heartbeat(s)", ag->hb_failures);
	ag->hb_failures = 0;
	size_t len;
	const char *body = httpc_resp_body(resp, &len);
	if (agent_reg_apply_heartbeat_reply(ag, body, len) > 0)
		agent_reg_due(ag, agent_now_ms());
}

void agent_reg_heartbeat(struct agent *ag)
{
	if (!ag->have_registry || ag->hb_inflight || ag->phase != AP_RUNNING)
		return;
	bool any = false;
	for (size_t i = 0; i < ag->nslices; i++)
		if (ag->slices[i].registered)
			any = true;
	if (!any)
		return;
	struct buf b = BUF_INIT;
	agent_body_heartbeat(ag, &b);
	int t = ag->heartbeat_ms > 500 ? ag->heartbeat_ms : 500;
	ag->hb_inflight = reg_post(ag, "/api/v1/heartbeat", &b, on_heartbeat, ag, t) != NULL;
	buf_free(&b);
}
