/* fuzz_reg_api.c — the registry's control API bodies (registry/reg_body.c)
 * and what the registry does with them (the worker table). The first byte
 * picks the endpoint, the rest is the body:
 *
 *   0 register   1 heartbeat   2 deregister   3 jobs/ended
 *   4 pools      5 scale       6 drain
 *
 * A body is refused with a message or parsed into fields that respect
 * every rule of registry/API.md; registrations and heartbeats are applied
 * to a table holding two workers, and everything the registry would then
 * send back (a worker as JSON) must be valid, strict UTF-8 JSON: ids and
 * names come from clients and are echoed to operators.
 */
#include <json-c/json.h>
#include <math.h>

#include "buf.h"
#include "fuzz.h"
#include "hcall.h"
#include "model.h"
#include "reg_body.h"
#include "reg_workers.h"

#define NOW 1700000000.0
#define MONO 5000

/* ERR names a field in quotes, or says what is wrong with the body. */
static void check_err(const char *err)
{
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(fuzz_utf8_valid(err, strlen(err)));
}

/* OUT must be one valid JSON value, strings in UTF-8. */
static void check_json(const struct buf *out)
{
	struct json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *o = json_tokener_parse_ex(tok, out->data, (int)out->len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != out->len) {
		fprintf(stderr, "invalid JSON out: %.*s\n", (int)out->len, out->data);
		abort();
	}
	json_object_put(o);
	json_tokener_free(tok);
}

static void seed_table(struct reg_workers *t)
{
	static const char *const ids[] = {"1.n1.0", "2.n2.0"};
	for (int i = 0; i < 2; i++) {
		struct reg_worker *w = reg_worker_new();
		w->id = strdup(ids[i]);
		w->model = strdup("m");
		w->url = strdup("http://n1:8000");
		w->host = strdup("n1");
		w->port = 8000;
		w->job_id = strdup(i ? "2" : "1");
		w->node = strdup("n1");
		w->nodes = calloc(2, sizeof *w->nodes);
		w->nodes[0] = strdup("n1");
		w->nnodes = 1;
		w->gpus = strdup("0,1");
		reg_workers_put(t, w, REG_W_READY, NOW, MONO);
	}
}

static void check_table(struct reg_workers *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct buf b = BUF_INIT;
		reg_worker_json(t->v[i], &b);
		check_json(&b);
		buf_free(&b);
		FUZZ_CHECK(reg_workers_find(t, t->v[i]->id) == t->v[i]);
	}
}

static void do_register(const char *body, size_t len, struct reg_workers *t)
{
	struct reg_body_register rb;
	char err[300] = "";
	if (reg_body_register(body, len, &rb, err, sizeof err) < 0) {
		check_err(err);
		FUZZ_CHECK(rb.w == NULL);
		return;
	}
	struct reg_worker *w = rb.w;
	char e[200];
	FUZZ_CHECK(w->id[0] && strlen(w->id) <= REG_BODY_MAX_ID);
	FUZZ_CHECK(model_check_name(w->model, e, sizeof e) == 0);
	FUZZ_CHECK(reg_body_job_id_valid(w->job_id));
	FUZZ_CHECK(w->port >= 1 && w->port <= 65535);
	FUZZ_CHECK(w->nnodes >= 1 && w->nodes[w->nnodes] == NULL);
	FUZZ_CHECK(rb.want == REG_W_STARTING || rb.want == REG_W_READY);
	/* The worker's host and port are its URL's. */
	struct hcall_url u;
	FUZZ_CHECK(hcall_parse_url(w->url, &u, e, sizeof e) == 0);
	FUZZ_CHECK(strcmp(u.host, w->host) == 0 && u.port == w->port);
	struct reg_worker *in = reg_workers_put(t, w, rb.want, NOW + 1, MONO + 1);
	FUZZ_CHECK(in && reg_workers_find(t, in->id) == in);
	FUZZ_CHECK(in->state != REG_W_GONE);
}

static void do_heartbeat(const char *body, size_t len, struct reg_workers *t)
{
	struct reg_body_heartbeat hb;
	char err[300] = "";
	if (reg_body_heartbeat(body, len, &hb, err, sizeof err) < 0) {
		check_err(err);
		FUZZ_CHECK(hb.n == 0 && hb.v == NULL);
		return;
	}
	FUZZ_CHECK(hb.n <= REG_BODY_MAX_HB_WORKERS);
	for (size_t i = 0; i < hb.n; i++) {
		const struct reg_body_hb_worker *e = &hb.v[i];
		FUZZ_CHECK(e->id && e->id[0]);
		FUZZ_CHECK(e->state >= -1 && e->state <= REG_W_DRAINING);
		if (e->has_load) {
			const struct reg_load *l = &e->load;
			FUZZ_CHECK(l->running >= 0 && l->waiting >= 0);
			FUZZ_CHECK(l->prefix_queries >= 0 && l->prefix_hits >= 0);
			FUZZ_CHECK(l->requests >= -1);
			FUZZ_CHECK(isfinite(l->kv_usage) && l->kv_usage >= 0 && l->kv_usage <= 1);
		}
		struct reg_worker *w = reg_workers_find(t, e->id);
		if (!w || w->state == REG_W_GONE)
			continue;
		if (e->state == REG_W_DRAINING)
			reg_workers_apply(t, w, REG_WEV_DRAIN, NULL, NOW + 2, MONO + 2);
		else if (e->state >= 0)
			reg_workers_heartbeat(t, e->id, e->state == REG_W_READY,
					      e->has_load ? &e->load : NULL, NOW + 2, MONO + 2);
	}
	reg_body_heartbeat_free(&hb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	/* An exact-size copy: nothing may read past the body. */
	size_t len = size - 1;
	char *body = malloc(len ? len : 1);
	if (!body)
		abort();
	memcpy(body, data + 1, len);
	char err[300] = "";
	struct reg_workers t;
	reg_workers_init(&t);
	seed_table(&t);
	switch (data[0] % 7) {
	case 0:
		do_register(body, len, &t);
		break;
	case 1:
		do_heartbeat(body, len, &t);
		break;
	case 2: {
		struct reg_body_deregister d;
		if (reg_body_deregister(body, len, &d, err, sizeof err) < 0) {
			check_err(err);
			break;
		}
		FUZZ_CHECK(reg_body_job_id_valid(d.job_id));
		FUZZ_CHECK(d.has_ids || d.nids == 0);
		for (size_t i = 0; i < d.nids; i++) {
			struct reg_worker *w = reg_workers_find(&t, d.ids[i]);
			if (w && strcmp(w->job_id, d.job_id) == 0)
				reg_workers_apply(&t, w, REG_WEV_DEREGISTER, d.reason, NOW + 3, MONO + 3);
		}
		if (!d.has_ids)
			reg_workers_apply_job(&t, d.job_id, d.node[0] ? d.node : NULL,
					      REG_WEV_DEREGISTER, d.reason, NOW + 3, MONO + 3);
		reg_body_deregister_free(&d);
		break;
	}
	case 3: {
		struct reg_body_ended e;
		if (reg_body_ended(body, len, &e, err, sizeof err) < 0) {
			check_err(err);
			break;
		}
		FUZZ_CHECK(reg_body_job_id_valid(e.job_id));
		FUZZ_CHECK(e.sig >= 0 && e.sig <= 128);
		reg_workers_apply_job(&t, e.job_id, NULL, REG_WEV_JOB_ENDED, "job_ended", NOW + 3,
				      MONO + 3);
		break;
	}
	case 4: {
		struct reg_body_pool p;
		struct buf errs = BUF_INIT;
		bool bad;
		if (reg_body_pool(body, len, &p, &errs, &bad, err, sizeof err) < 0) {
			check_err(err);
			FUZZ_CHECK(!bad || errs.len > 0);
			FUZZ_CHECK(p.cfg == NULL);
		} else {
			FUZZ_CHECK(p.cfg && p.filename && p.filename[0]);
			reg_body_pool_free(&p);
		}
		buf_free(&errs);
		break;
	}
	case 5: {
		int target = -1;
		if (reg_body_scale(body, len, &target, err, sizeof err) < 0)
			check_err(err);
		else
			FUZZ_CHECK(target >= 0 && target <= 100000);
		break;
	}
	case 6: {
		struct reg_body_drain d;
		if (reg_body_drain(body, len, &d, err, sizeof err) < 0) {
			check_err(err);
			break;
		}
		FUZZ_CHECK(!d.worker[0] != !d.job_id[0]);
		break;
	}
	}
	check_table(&t);
	reg_workers_free(&t);
	free(body);
	return 0;
}
