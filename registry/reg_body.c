/* reg_body.c — see reg_body.h. */
#include "reg_body.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hcall.h"
#include "model.h"
#include "reg_util.h"

bool reg_body_job_id_valid(const char *s)
{
	if (!isdigit((unsigned char)*s) || strlen(s) >= REG_JOB_ID_MAX)
		return false;
	return strspn(s, "0123456789_+") == strlen(s);
}

static int need_job_id(struct json_object *o, const char **out, char *err, size_t errlen)
{
	if (reg_json_need_str(o, "job_id", REG_JOB_ID_MAX - 1, out, err, errlen) < 0)
		return -1;
	if (!reg_body_job_id_valid(*out)) {
		snprintf(err, errlen, "'job_id' must be a SLURM job id such as \"1234\" or \"1234_7\"");
		return -1;
	}
	return 0;
}

static int one_of(const char *s, const char *const *set)
{
	for (int i = 0; set[i]; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- register */

int reg_body_register(const char *body, size_t len, struct reg_body_register *out, char *err,
		      size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	const char *id, *model, *url, *job_id, *node, *host = NULL, *gpus = "", *state = "starting";
	int64_t port = 0, slice = 0, tp = 1;
	double job_end = 0;
	struct hcall_url u;
	struct reg_worker *w = reg_worker_new();
	char merr[200];
	if (reg_json_need_str(o, "id", REG_BODY_MAX_ID, &id, err, errlen) < 0 ||
	    reg_json_need_str(o, "model", 128, &model, err, errlen) < 0 ||
	    reg_json_need_str(o, "url", 512, &url, err, errlen) < 0 ||
	    need_job_id(o, &job_id, err, errlen) < 0 ||
	    reg_json_need_str(o, "node", REG_BODY_MAX_ID, &node, err, errlen) < 0 ||
	    reg_json_str(o, "host", &host, err, errlen) < 0 ||
	    reg_json_str(o, "gpus", &gpus, err, errlen) < 0 ||
	    reg_json_str(o, "state", &state, err, errlen) < 0 ||
	    reg_json_int(o, "port", 1, 65535, &port, err, errlen) < 0 ||
	    reg_json_int(o, "slice", 0, 4096, &slice, err, errlen) < 0 ||
	    reg_json_int(o, "tp", 1, 4096, &tp, err, errlen) < 0 ||
	    reg_json_num(o, "job_end", 0, 1e11, &job_end, err, errlen) < 0)
		goto bad;
	if (model_check_name(model, merr, sizeof merr) < 0) {
		snprintf(err, errlen, "'model': %s", merr);
		goto bad;
	}
	if (hcall_parse_url(url, &u, merr, sizeof merr) < 0) {
		snprintf(err, errlen, "'url': %s", merr);
		goto bad;
	}
	if (strlen(gpus) > 512 || !reg_printable(gpus)) {
		snprintf(err, errlen, "'gpus' must be printable text of at most 512 bytes");
		goto bad;
	}
	/* The URL is where the proxy sends requests: `host` and `port` are
	 * only its parts, never another place. */
	if (host && *host && strcasecmp(host, u.host) != 0) {
		snprintf(err, errlen, "'host' must be the host of 'url' (%s), not \"%.64s\"", u.host,
			 host);
		goto bad;
	}
	if (port && port != u.port) {
		snprintf(err, errlen, "'port' must be the port of 'url' (%d), not %lld", u.port,
			 (long long)port);
		goto bad;
	}
	if (strcmp(state, "ready") == 0)
		out->want = REG_W_READY;
	else if (strcmp(state, "starting") == 0)
		out->want = REG_W_STARTING;
	else {
		snprintf(err, errlen, "'state' must be \"starting\" or \"ready\", not \"%.40s\"", state);
		goto bad;
	}
	struct json_object *nodes = NULL;
	if (json_object_object_get_ex(o, "nodes", &nodes) && nodes) {
		if (!json_object_is_type(nodes, json_type_array) ||
		    json_object_array_length(nodes) > REG_BODY_MAX_NODES) {
			snprintf(err, errlen, "'nodes' must be an array of at most %d node names",
				 REG_BODY_MAX_NODES);
			goto bad;
		}
		size_t nn = json_object_array_length(nodes);
		w->nodes = calloc(nn + 1, sizeof *w->nodes);
		if (!w->nodes)
			abort();
		for (size_t i = 0; i < nn; i++) {
			struct json_object *e = json_object_array_get_idx(nodes, i);
			const char *s =
				json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
			if (!s || !*s || strlen(s) > REG_BODY_MAX_ID || !reg_printable(s) ||
			    (size_t)json_object_get_string_len(e) != strlen(s)) {
				snprintf(err, errlen, "'nodes' must be an array of node names (item %zu is not)", i);
				goto bad;
			}
			w->nodes[w->nnodes++] = reg_strdup(s);
		}
	}
	if (!w->nnodes) {
		free(w->nodes);
		w->nodes = calloc(2, sizeof *w->nodes);
		if (!w->nodes)
			abort();
		w->nodes[w->nnodes++] = reg_strdup(node);
	}
	w->id = reg_strdup(id);
	w->model = reg_strdup(model);
	w->url = reg_strdup(url);
	w->host = reg_strdup(u.host);
	w->port = u.port;
	w->job_id = reg_strdup(job_id);
	w->node = reg_strdup(node);
	w->gpus = reg_strdup(gpus);
	w->slice = (int)slice;
	w->tp = (int)tp;
	w->job_end = job_end;
	json_object_put(o);
	out->w = w;
	return 0;
bad:
	json_object_put(o);
	reg_worker_free(w);
	buf_utf8_trim(err);
	return -1;
}

/* ---------------------------------------------------------------- heartbeat */

static int parse_load(struct json_object *o, struct reg_load *l, const char *where, char *err,
		      size_t errlen)
{
	char e[200];
	struct json_object *lo = NULL;
	if (!json_object_object_get_ex(o, "load", &lo) || !lo)
		return 0;
	if (!json_object_is_type(lo, json_type_object)) {
		snprintf(err, errlen, "'%sload' must be an object", where);
		return -1;
	}
	static const char *const ints[] = {"running", "waiting", "prefix_queries", "prefix_hits",
					   "requests"};
	int64_t *dst[] = {&l->running, &l->waiting, &l->prefix_queries, &l->prefix_hits,
			  &l->requests};
	for (int i = 0; i < 5; i++) {
		if (reg_json_int(lo, ints[i], 0, INT64_MAX / 2, dst[i], e, sizeof e) < 0) {
			snprintf(err, errlen, "'%sload.%s' must be an integer of at least 0", where,
				 ints[i]);
			return -1;
		}
	}
	double kv = 0;
	if (reg_json_num(lo, "kv_usage", 0, 1e6, &kv, e, sizeof e) < 0) {
		snprintf(err, errlen, "'%sload.kv_usage' must be a number between 0 and 1", where);
		return -1;
	}
	l->kv_usage = kv > 1 ? 1 : kv; /* engines round; never above full */
	return 1;
}

void reg_body_heartbeat_free(struct reg_body_heartbeat *hb)
{
	for (size_t i = 0; i < hb->n; i++)
		free(hb->v[i].id);
	free(hb->v);
	free(hb->job_id);
	free(hb->node);
	memset(hb, 0, sizeof *hb);
}

int reg_body_heartbeat(const char *body, size_t len, struct reg_body_heartbeat *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	char e[200];
	const char *job_id = NULL, *node = NULL;
	struct json_object *ws = NULL;
	if (reg_json_str(o, "job_id", &job_id, err, errlen) < 0 ||
	    reg_json_str(o, "node", &node, err, errlen) < 0)
		goto bad;
	if (!json_object_object_get_ex(o, "workers", &ws) || !ws ||
	    !json_object_is_type(ws, json_type_array)) {
		snprintf(err, errlen, "'workers' must be an array");
		goto bad;
	}
	size_t n = json_object_array_length(ws);
	if (n > REG_BODY_MAX_HB_WORKERS) {
		snprintf(err, errlen, "'workers' has %zu entries; at most %d", n,
			 REG_BODY_MAX_HB_WORKERS);
		goto bad;
	}
	out->v = calloc(n ? n : 1, sizeof *out->v);
	if (!out->v)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct json_object *w = json_object_array_get_idx(ws, i);
		struct reg_body_hb_worker *hw = &out->v[i];
		char where[40];
		snprintf(where, sizeof where, "workers[%zu].", i);
		if (!json_object_is_type(w, json_type_object)) {
			snprintf(err, errlen, "'workers[%zu]' must be an object", i);
			goto bad;
		}
		const char *id = NULL, *st = NULL;
		if (reg_json_need_str(w, "id", REG_BODY_MAX_ID, &id, e, sizeof e) < 0 ||
		    reg_json_str(w, "state", &st, e, sizeof e) < 0) {
			snprintf(err, errlen, "'%s%s", where, e + 1);
			goto bad;
		}
		hw->state = -1;
		if (st) {
			if (strcmp(st, "starting") == 0)
				hw->state = REG_W_STARTING;
			else if (strcmp(st, "ready") == 0)
				hw->state = REG_W_READY;
			else if (strcmp(st, "draining") == 0)
				hw->state = REG_W_DRAINING;
			else {
				snprintf(err, errlen, "'%sstate' must be starting, ready or draining",
					 where);
				goto bad;
			}
		}
		hw->load.requests = -1;
		int got = parse_load(w, &hw->load, where, err, errlen);
		if (got < 0)
			goto bad;
		hw->has_load = got > 0;
		hw->id = reg_strdup(id);
		out->n++;
	}
	out->job_id = reg_strdup(job_id);
	out->node = reg_strdup(node);
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	reg_body_heartbeat_free(out);
	buf_utf8_trim(err);
	return -1;
}

/* ---------------------------------------------------------------- deregister */

static const char *const dereg_reasons[] = {"sigterm", "engine_exit", "startup_failed",
					    "shutdown", NULL};
static const char *const end_reasons[] = {"preempted", "cancelled", "timeout", "completed",
					  "failed", "node_fail", "unknown", NULL};

void reg_body_deregister_free(struct reg_body_deregister *d)
{
	for (size_t i = 0; i < d->nids; i++)
		free(d->ids[i]);
	free(d->ids);
	d->ids = NULL;
	d->nids = 0;
}

int reg_body_deregister(const char *body, size_t len, struct reg_body_deregister *out,
			char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	const char *job_id, *node = NULL, *reason = NULL;
	struct json_object *ids = NULL;
	if (need_job_id(o, &job_id, err, errlen) < 0 ||
	    reg_json_str(o, "node", &node, err, errlen) < 0 ||
	    reg_json_need_str(o, "reason", 31, &reason, err, errlen) < 0)
		goto bad;
	if (node && (strlen(node) > REG_BODY_MAX_ID || !reg_printable(node))) {
		snprintf(err, errlen, "'node' must be a node name");
		goto bad;
	}
	if (!one_of(reason, dereg_reasons)) {
		snprintf(err, errlen,
			 "'reason' must be sigterm, engine_exit, startup_failed or shutdown, not \"%.32s\"",
			 reason);
		goto bad;
	}
	if (json_object_object_get_ex(o, "ids", &ids) && ids) {
		if (!json_object_is_type(ids, json_type_array) ||
		    json_object_array_length(ids) > REG_BODY_MAX_HB_WORKERS) {
			snprintf(err, errlen, "'ids' must be an array of at most %d worker ids",
				 REG_BODY_MAX_HB_WORKERS);
			goto bad;
		}
		size_t n = json_object_array_length(ids);
		out->has_ids = true;
		out->ids = calloc(n ? n : 1, sizeof *out->ids);
		if (!out->ids)
			abort();
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(ids, i);
			if (!json_object_is_type(e, json_type_string) ||
			    (size_t)json_object_get_string_len(e) != strlen(json_object_get_string(e))) {
				snprintf(err, errlen, "'ids' must be an array of worker ids (item %zu is not)", i);
				goto bad;
			}
			out->ids[out->nids++] = reg_strdup(json_object_get_string(e));
		}
	}
	reg_strlcpy(out->job_id, job_id, sizeof out->job_id);
	reg_strlcpy(out->node, node ? node : "", sizeof out->node);
	reg_strlcpy(out->reason, reason, sizeof out->reason);
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	reg_body_deregister_free(out);
	buf_utf8_trim(err);
	return -1;
}

/* ---------------------------------------------------------------- jobs/ended */

int reg_body_ended(const char *body, size_t len, struct reg_body_ended *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	const char *job_id, *node = NULL, *reason = "unknown";
	if (need_job_id(o, &job_id, err, errlen) < 0 ||
	    reg_json_str(o, "node", &node, err, errlen) < 0 ||
	    reg_json_str(o, "reason", &reason, err, errlen) < 0 ||
	    reg_json_int(o, "exit_status", -1000000, 1000000, &out->exit_status, err, errlen) < 0 ||
	    reg_json_int(o, "signal", 0, 128, &out->sig, err, errlen) < 0)
		goto bad;
	if (!one_of(reason, end_reasons)) {
		snprintf(err, errlen,
			 "'reason' must be preempted, cancelled, timeout, completed, failed, node_fail or unknown");
		goto bad;
	}
	if (node && (strlen(node) >= sizeof out->node || !reg_printable(node))) {
		snprintf(err, errlen, "'node' must be a node name of at most %zu bytes",
			 sizeof out->node - 1);
		goto bad;
	}
	reg_strlcpy(out->job_id, job_id, sizeof out->job_id);
	reg_strlcpy(out->node, node && *node ? node : "?", sizeof out->node);
	reg_strlcpy(out->reason, reason, sizeof out->reason);
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	buf_utf8_trim(err);
	return -1;
}

/* ---------------------------------------------------------------- pools */

void reg_body_pool_free(struct reg_body_pool *p)
{
	model_free(p->cfg);
	free(p->filename);
	memset(p, 0, sizeof *p);
}

int reg_body_pool(const char *body, size_t len, struct reg_body_pool *out, struct buf *errs,
		  bool *config_bad, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	*config_bad = false;
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	const char *config = NULL, *filename = "model.toml";
	if (reg_json_str(o, "filename", &filename, err, errlen) < 0)
		goto bad;
	if (!*filename || strlen(filename) > 255 || !reg_printable(filename)) {
		snprintf(err, errlen, "'filename' must be a file name of 1 to 255 printable characters");
		goto bad;
	}
	if (reg_json_str(o, "config", &config, err, errlen) < 0)
		goto bad;
	if (!config) {
		snprintf(err, errlen, "'config' is required: the text of a model.toml");
		goto bad;
	}
	if (model_parse(config, strlen(config), filename, &out->cfg, errs) < 0) {
		while (errs->len && errs->data[errs->len - 1] == '\n')
			errs->data[--errs->len] = '\0';
		snprintf(err, errlen, "'config' is not a valid model.toml");
		*config_bad = true;
		goto bad;
	}
	out->filename = reg_strdup(filename);
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	reg_body_pool_free(out);
	return -1;
}

int reg_body_scale(const char *body, size_t len, int *target, char *err, size_t errlen)
{
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	int64_t t = 0;
	int got = reg_json_int(o, "target", 0, 100000, &t, err, errlen);
	json_object_put(o);
	if (got == 0)
		snprintf(err, errlen, "'target' is required: the number of nodes wanted");
	if (got <= 0)
		return -1;
	*target = (int)t;
	return 0;
}

int reg_body_drain(const char *body, size_t len, struct reg_body_drain *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *o = reg_json_parse(body, len, err, errlen);
	if (!o)
		return -1;
	const char *wid = NULL, *job_id = NULL;
	int rc = -1;
	if (reg_json_str(o, "worker", &wid, err, errlen) < 0 ||
	    reg_json_str(o, "job_id", &job_id, err, errlen) < 0)
		goto out;
	if (!wid == !job_id) {
		snprintf(err, errlen, "give either \"worker\" or \"job_id\"");
		goto out;
	}
	if (wid && (!*wid || strlen(wid) > REG_BODY_MAX_ID || !reg_printable(wid))) {
		snprintf(err, errlen, "'worker' must be a worker id");
		goto out;
	}
	if (job_id && !reg_body_job_id_valid(job_id)) {
		snprintf(err, errlen, "'job_id' must be a SLURM job id such as \"1234\" or \"1234_7\"");
		goto out;
	}
	reg_strlcpy(out->worker, wid ? wid : "", sizeof out->worker);
	reg_strlcpy(out->job_id, job_id ? job_id : "", sizeof out->job_id);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}
