/* bench_run.c — see bench_run.h. */
#include "bench_run.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_sched.h"
#include "bench_sse.h"
#include "buf.h"
#include "httpc.h"

#define ERR_BODY_MAX (64u << 10)  /* error replies kept for their message */
#define BODY_MAX (256u << 20)     /* non-streamed answers */

struct run;

/* One request in flight. */
struct req {
	struct run *run;         /* the run it belongs to */
	size_t id;               /* request id (bench_sched.h) */
	struct httpc_req *h;     /* the HTTP exchange */
	struct bench_sse sse;    /* the event-stream parser */
	struct buf body;         /* a non-streamed body (answer or error) */
	struct buf text;         /* the answer's text (multiturn, non-streamed) */
	bool sse_mode;           /* 200 with text/event-stream */
	bool saw_done;           /* data: [DONE] */
	bool saw_finish;         /* a chunk with a finish_reason */
	double t_last;           /* the last output chunk */
	long chunks;             /* chunks that carried output */
	long words;              /* the prompt's words */
	char *failure;           /* set by the stream parser */
};

/* One run of the load generator. */
struct run {
	const struct bench_cfg *cfg;       /* what to run */
	const struct bench_dataset *data;  /* the prompts */
	struct bench_result *res;          /* what it leaves, one record per request */
	struct event_base *base;           /* the one event loop */
	struct httpc *http;                /* the HTTP client, its keep-alive pool */
	struct bench_sched sched;          /* when each request starts */
	struct event *arrival_ev;          /* the next unit's arrival */
	struct event *progress_ev;         /* the progress line */
	bool arrival_armed;                /* arrival_ev is pending */
	struct timespec t0;                /* when the run began */
	char **answers;                    /* multiturn: each turn's answer */
	struct httpc_header *hdrs;         /* every request's headers */
	size_t nhdrs;                      /* how many */
	char *auth;                        /* "Bearer KEY" */
	char **hdr_copies;                 /* name and value copies of --header */
	size_t ok, failed;                 /* requests ended so far */
	bool multiturn;                    /* answers go into the next turns */
	bool progress_shown;               /* a progress line is on the terminal */
};

static double elapsed(const struct run *r)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - r->t0.tv_sec) + (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- request bodies */

static void put_msg(struct buf *b, bool *first, const char *role, const char *text)
{
	if (!*first)
		buf_putc(b, ',');
	*first = false;
	buf_printf(b, "{\"role\":\"%s\",\"content\":", role);
	buf_json_str(b, text ? text : "", text ? strlen(text) : 0);
	buf_putc(b, '}');
}

void bench_body(const struct bench_cfg *cfg, const struct bench_dataset *data, size_t id,
		char *const *answers, struct buf *body, long *words)
{
	const struct bench_prompt *p = &data->p[id];
	size_t turn = id % data->turns, first_id = id - turn;
	long n = 0;
	buf_puts(body, "{\"model\":");
	buf_json_str(body, cfg->model, strlen(cfg->model));
	if (data->kind == BENCH_DS_MULTITURN) {
		/* The conversation is the session: "user" lets a router keep it on
		 * one engine (elastic-serve's session policy reads it). */
		buf_printf(body, ",\"user\":\"conversation-%zu\"", id / data->turns);
		struct buf conv = BUF_INIT;
		bool first = true;
		if (cfg->chat)
			buf_puts(&conv, ",\"messages\":[");
		if (data->system) {
			n += data->system_len;
			if (cfg->chat)
				put_msg(&conv, &first, "system", data->system);
		}
		struct buf plain = BUF_INIT;
		if (data->system)
			buf_puts(&plain, data->system);
		for (size_t k = first_id; k <= id; k++) {
			const char *u = data->p[k].text, *a = k < id ? answers[k] : NULL;
			n += data->p[k].input_len;
			if (k < id && a)
				n += bench_count_words(a, strlen(a));
			if (cfg->chat) {
				put_msg(&conv, &first, "user", u);
				if (k < id)
					put_msg(&conv, &first, "assistant", a);
			} else {
				buf_printf(&plain, "%sUser: %s\n\nAssistant:", plain.len ? "\n\n" : "",
					   u);
				if (k < id)
					buf_printf(&plain, " %s", a ? a : "");
			}
		}
		if (cfg->chat) {
			buf_putc(&conv, ']');
			buf_append(body, conv.data, conv.len);
		} else {
			buf_puts(body, ",\"prompt\":");
			buf_json_str(body, plain.data ? plain.data : "", plain.len);
		}
		buf_free(&conv);
		buf_free(&plain);
	} else if (p->messages) {
		buf_puts(body, ",\"messages\":");
		buf_puts(body, p->messages);
		n = p->input_len;
	} else if (cfg->chat) {
		buf_puts(body, ",\"messages\":[{\"role\":\"user\",\"content\":");
		buf_json_str(body, p->text, strlen(p->text));
		buf_puts(body, "}]");
		n = p->input_len;
	} else {
		buf_puts(body, ",\"prompt\":");
		buf_json_str(body, p->text, strlen(p->text));
		n = p->input_len;
	}
	if (p->output_len > 0)
		buf_printf(body, ",\"max_tokens\":%ld", p->output_len);
	buf_puts(body, ",\"temperature\":0");
	if (cfg->ignore_eos)
		buf_puts(body, ",\"ignore_eos\":true");
	if (cfg->stream)
		buf_puts(body, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
	buf_putc(body, '}');
	*words = n;
}

/* ---------------------------------------------------------------- the loop */

static void pump(struct run *r);

static void progress(struct run *r, bool final)
{
	if (!r->cfg->progress)
		return;
	if (final) {
		if (r->progress_shown)
			fputs("\r\033[K", stderr);
		return;
	}
	double t = elapsed(r);
	size_t total = r->res->n, done = r->ok + r->failed;
	fprintf(stderr, "\r\033[K%zu/%zu done, %zu failed, %zu in flight, %.1f req/s, %.1f s", done,
		total, r->failed, r->sched.inflight, t > 0 ? (double)r->ok / t : 0.0, t);
	r->progress_shown = true;
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	progress(arg, false);
}

static void req_free(struct req *q)
{
	bench_sse_free(&q->sse);
	buf_free(&q->body);
	buf_free(&q->text);
	free(q->failure);
	free(q);
}

/* The message of an OpenAI error body, or the body's start. */
static void error_message(int status, const struct buf *body, struct buf *out)
{
	struct bench_oai o;
	buf_printf(out, "HTTP %d", status);
	if (body->len && bench_oai_parse(body->data, body->len, &o, NULL) == 0 && o.error[0]) {
		buf_printf(out, ": %s", o.error);
		return;
	}
	if (body->len) {
		size_t n = body->len > 120 ? 120 : body->len;
		buf_puts(out, ": ");
		for (size_t i = 0; i < n; i++) {
			char c = body->data[i];
			buf_putc(out, c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
		}
	}
}

static void finish(struct req *q, bool ok, const char *why)
{
	struct run *r = q->run;
	struct bench_rec *rec = &r->res->rec[q->id];
	rec->t_end = elapsed(r);
	rec->ok = ok;
	if (!ok)
		rec->error = strdup(why ? why : "failed");
	if (rec->prompt_tokens < 0)
		rec->prompt_tokens = q->words > 0 ? q->words : 0;
	if (rec->output_tokens < 0) {
		if (q->sse_mode)
			rec->output_tokens = q->chunks;
		else
			rec->output_tokens = bench_count_words(q->text.data ? q->text.data : "",
							       q->text.len);
	}
	if (ok && r->multiturn)
		r->answers[q->id] = buf_steal(&q->text);
	if (ok)
		r->ok++;
	else
		r->failed++;
	bench_sched_done(&r->sched, q->id, ok);
	req_free(q);
	pump(r);
}

static void fail_text(struct req *q, const char *fmt, const char *arg)
{
	if (q->failure)
		return;
	struct buf b = BUF_INIT;
	buf_printf(&b, fmt, arg);
	q->failure = buf_steal(&b);
}

/* One event of a stream: a chunk, [DONE], or an error. */
static int on_event(const char *data, size_t len, void *arg)
{
	struct req *q = arg;
	struct run *r = q->run;
	struct bench_rec *rec = &r->res->rec[q->id];
	struct bench_oai o;
	double now = elapsed(r);
	if (bench_oai_parse(data, len, &o, r->multiturn ? &q->text : NULL) < 0) {
		fail_text(q, "%s", o.error);
		return 1;
	}
	if (o.error[0]) {
		fail_text(q, "error in the stream: %s", o.error);
		return 1;
	}
	if (o.done)
		q->saw_done = true;
	if (o.has_text) {
		if (rec->t_first < 0)
			rec->t_first = now;
		else
			bench_samples_add(&rec->itl, (now - q->t_last) * 1000.0);
		q->t_last = now;
		q->chunks++;
	}
	if (o.finished)
		q->saw_finish = true;
	if (o.prompt_tokens >= 0 || o.completion_tokens >= 0)
		rec->usage = true;
	if (o.prompt_tokens >= 0)
		rec->prompt_tokens = o.prompt_tokens;
	if (o.completion_tokens >= 0)
		rec->output_tokens = o.completion_tokens;
	return 0;
}

static void on_head(struct httpc_req *h, const struct httpc_resp *resp, void *arg)
{
	(void)h;
	struct req *q = arg;
	struct bench_rec *rec = &q->run->res->rec[q->id];
	rec->status = httpc_resp_status(resp);
	const char *w = httpc_resp_header(resp, "X-Elastic-Worker");
	if (w && !rec->worker)
		rec->worker = strdup(w);
	const char *ct = httpc_resp_header(resp, "Content-Type");
	q->sse_mode = rec->status == 200 && ct && strncasecmp(ct, "text/event-stream", 17) == 0;
}

static void on_body(struct httpc_req *h, const char *data, size_t len, void *arg)
{
	struct req *q = arg;
	if (q->sse_mode) {
		int rc = bench_sse_feed(&q->sse, data, len);
		if (rc) {
			if (rc < 0)
				fail_text(q, "%s", "an event of the stream is over 16 MiB");
			httpc_cancel(h);
			finish(q, false, q->failure);
		}
		return;
	}
	size_t max = q->run->res->rec[q->id].status == 200 ? BODY_MAX : ERR_BODY_MAX;
	if (q->body.len + len > max)
		len = q->body.len < max ? max - q->body.len : 0;
	buf_append(&q->body, data, len);
}

static void on_done(struct httpc_req *h, int err, const struct httpc_resp *resp, void *arg)
{
	(void)resp;
	struct req *q = arg;
	struct bench_rec *rec = &q->run->res->rec[q->id];
	struct buf msg = BUF_INIT;
	bool ok = false;
	if (err) {
		buf_puts(&msg, httpc_req_errmsg(h));
		if (!msg.len)
			buf_puts(&msg, httpc_strerror(err));
	} else if (rec->status != 200) {
		error_message(rec->status, &q->body, &msg);
	} else if (q->sse_mode) {
		int rc = bench_sse_finish(&q->sse);
		if (rc || q->failure)
			buf_puts(&msg, q->failure ? q->failure : "malformed event stream");
		else if (!q->saw_done && !q->saw_finish)
			buf_puts(&msg, "stream ended before [DONE]");
		else if (rec->t_first < 0)
			buf_puts(&msg, "no output in the stream");
		else
			ok = true;
	} else {
		struct bench_oai o;
		if (bench_oai_parse(q->body.data ? q->body.data : "", q->body.len, &o, &q->text) < 0)
			buf_puts(&msg, o.error);
		else if (o.error[0])
			buf_printf(&msg, "error in the response: %s", o.error);
		else if (!o.has_choices)
			buf_puts(&msg, "no choices in the response");
		else {
			ok = true;
			rec->usage = o.prompt_tokens >= 0 || o.completion_tokens >= 0;
			if (o.prompt_tokens >= 0)
				rec->prompt_tokens = o.prompt_tokens;
			if (o.completion_tokens >= 0)
				rec->output_tokens = o.completion_tokens;
		}
	}
	finish(q, ok, msg.data);
	buf_free(&msg);
}

static void start(struct run *r, size_t id)
{
	struct bench_rec *rec = &r->res->rec[id];
	struct req *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	q->run = r;
	q->id = id;
	bench_sse_init(&q->sse, on_event, q);
	rec->started = true;
	rec->t_first = -1;
	rec->prompt_tokens = rec->output_tokens = -1;
	struct buf body = BUF_INIT;
	bench_body(r->cfg, r->data, id, r->answers, &body, &q->words);
	struct httpc_request hr = {
		.method = "POST",
		.url = r->cfg->url,
		.headers = r->hdrs,
		.nheaders = r->nhdrs,
		.body = body.data,
		.body_len = body.len,
		.response_timeout_ms = r->cfg->timeout_ms,
		.read_timeout_ms = r->cfg->timeout_ms,
		.total_timeout_ms = r->cfg->timeout_ms,
		.retry = true,
		.on_head = on_head,
		.on_body = on_body,
		.on_done = on_done,
		.arg = q,
	};
	char err[256];
	rec->t_start = elapsed(r);
	q->h = httpc_start(r->http, &hr, err, sizeof err);
	buf_free(&body);
	if (!q->h)
		finish(q, false, err);
}

static void arrival_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct run *r = arg;
	r->arrival_armed = false;
	pump(r);
}

static void pump(struct run *r)
{
	double now = elapsed(r);
	bench_sched_arrive(&r->sched, now);
	long id;
	while ((id = bench_sched_pop(&r->sched)) >= 0)
		start(r, (size_t)id);
	if (bench_sched_finished(&r->sched)) {
		event_base_loopexit(r->base, NULL);
		return;
	}
	double next = bench_sched_next_arrival(&r->sched);
	if (isfinite(next) && !r->arrival_armed) {
		double d = next - elapsed(r);
		if (d < 0)
			d = 0;
		struct timeval tv = {(time_t)d, (suseconds_t)((d - floor(d)) * 1e6)};
		event_add(r->arrival_ev, &tv);
		r->arrival_armed = true;
	}
}

/* Thousands of connections need more than the usual 1,024 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int make_headers(struct run *r, const struct bench_cfg *cfg, char *err, size_t errlen)
{
	r->hdrs = calloc(cfg->nheaders + 3, sizeof *r->hdrs);
	r->hdr_copies = calloc(cfg->nheaders + 1, sizeof *r->hdr_copies);
	if (!r->hdrs || !r->hdr_copies)
		abort();
	r->hdrs[r->nhdrs++] = (struct httpc_header){"Content-Type", "application/json"};
	r->hdrs[r->nhdrs++] = (struct httpc_header){"Accept",
						    cfg->stream ? "text/event-stream"
								: "application/json"};
	if (cfg->api_key && *cfg->api_key) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "Bearer %s", cfg->api_key);
		r->auth = buf_steal(&b);
		r->hdrs[r->nhdrs++] = (struct httpc_header){"Authorization", r->auth};
	}
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *h = cfg->headers[i], *colon = strchr(h, ':');
		if (!colon || colon == h) {
			snprintf(err, errlen, "bad header '%s' (use NAME:VALUE)", h);
			return -1;
		}
		char *copy = strdup(h);
		if (!copy)
			abort();
		r->hdr_copies[i] = copy;
		copy[colon - h] = '\0';
		const char *v = copy + (colon - h) + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		r->hdrs[r->nhdrs++] = (struct httpc_header){copy, v};
	}
	return 0;
}

int bench_run(const struct bench_cfg *cfg, const struct bench_dataset *data,
	      struct bench_result *out, char *err, size_t errlen)
{
	*out = (struct bench_result){0};
	struct run r = {.cfg = cfg, .data = data, .res = out,
			.multiturn = data->kind == BENCH_DS_MULTITURN};
	int rc = -1;
	raise_nofile();
	out->n = data->n;
	out->rec = calloc(data->n ? data->n : 1, sizeof *out->rec);
	if (!out->rec)
		abort();
	if (r.multiturn) {
		r.answers = calloc(data->n, sizeof *r.answers);
		if (!r.answers)
			abort();
	}
	if (make_headers(&r, cfg, err, errlen) < 0)
		goto out;
	r.base = event_base_new();
	if (!r.base) {
		snprintf(err, errlen, "cannot create an event loop");
		goto out;
	}
	struct httpc_config hc;
	httpc_config_init(&hc);
	size_t conns = cfg->max_concurrency ? cfg->max_concurrency : data->n;
	hc.max_idle_per_host = conns > 65536 ? 65536 : (unsigned)conns;
	hc.response_timeout_ms = cfg->timeout_ms;
	r.http = httpc_new(r.base, &hc);
	r.arrival_ev = evtimer_new(r.base, arrival_cb, &r);
	r.progress_ev = event_new(r.base, -1, EV_PERSIST, progress_cb, &r);
	if (!r.http || !r.arrival_ev || !r.progress_ev) {
		snprintf(err, errlen, "cannot set up the HTTP client");
		goto out;
	}
	bench_sched_init(&r.sched, data->conversations, data->turns, cfg->request_rate,
			 cfg->max_concurrency, cfg->seed);
	if (cfg->progress) {
		struct timeval half = {0, 500000};
		event_add(r.progress_ev, &half);
	}
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	out->start_time = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
	pump(&r);
	if (!bench_sched_finished(&r.sched))
		event_base_dispatch(r.base);
	progress(&r, true);
	double last = 0;
	for (size_t i = 0; i < out->n; i++)
		if (out->rec[i].started && out->rec[i].t_end > last)
			last = out->rec[i].t_end;
	out->duration = last;
	out->peak_inflight = r.sched.peak;
	for (size_t i = 0; i < out->n; i++)
		if (!out->rec[i].started && !out->rec[i].error)
			out->rec[i].error = strdup("not sent: an earlier turn of its conversation failed");
	bench_sched_free(&r.sched);
	rc = 0;
out:
	if (r.http)
		httpc_free(r.http);
	if (r.arrival_ev)
		event_free(r.arrival_ev);
	if (r.progress_ev)
		event_free(r.progress_ev);
	if (r.base)
		event_base_free(r.base);
	if (r.answers) {
		for (size_t i = 0; i < data->n; i++)
			free(r.answers[i]);
		free(r.answers);
	}
	for (size_t i = 0; r.hdr_copies && i < cfg->nheaders; i++)
		free(r.hdr_copies[i]);
	free(r.hdr_copies);
	free(r.hdrs);
	free(r.auth);
	return rc;
}

void bench_result_free(struct bench_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		bench_samples_free(&r->rec[i].itl);
		free(r->rec[i].error);
		free(r->rec[i].worker);
	}
	free(r->rec);
	*r = (struct bench_result){0};
}

/* ---------------------------------------------------------------- the probe */

/* The /v1/models request of bench_probe(). */
struct probe {
	struct event_base *base; /* its own loop, left when the answer is in */
	int status;              /* HTTP status */
	int err;                 /* HTTPC_E*, or 0 */
	char errmsg[256];        /* httpc's message when err */
	struct buf body;         /* the answer */
};

static void probe_done(struct httpc_req *h, int err, const struct httpc_resp *resp, void *arg)
{
	struct probe *p = arg;
	p->err = err;
	event_base_loopexit(p->base, NULL); /* not waiting for the idle connection */
	if (err) {
		snprintf(p->errmsg, sizeof p->errmsg, "%s", httpc_req_errmsg(h));
		return;
	}
	size_t len;
	const char *b = httpc_resp_body(resp, &len);
	p->status = httpc_resp_status(resp);
	buf_append(&p->body, b, len);
}

int bench_probe(const char *models_url, const char *api_key, const char *model,
		char **found, char *err, size_t errlen)
{
	*found = NULL;
	struct event_base *base = event_base_new();
	if (!base) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	struct httpc *c = httpc_new(base, NULL);
	struct probe p = {.base = base};
	struct buf auth = BUF_INIT;
	struct httpc_header h[1];
	size_t nh = 0;
	if (api_key && *api_key) {
		buf_printf(&auth, "Bearer %s", api_key);
		h[nh++] = (struct httpc_header){"Authorization", auth.data};
	}
	struct httpc_request rq = {
		.method = "GET",
		.url = models_url,
		.headers = h,
		.nheaders = nh,
		.total_timeout_ms = 10000,
		.on_done = probe_done,
		.arg = &p,
	};
	int rc = -1;
	if (!c || !httpc_start(c, &rq, err, errlen)) {
		if (!c)
			snprintf(err, errlen, "cannot set up the HTTP client");
		goto out;
	}
	event_base_dispatch(base);
	if (p.err) {
		snprintf(err, errlen, "cannot reach %s: %s", models_url, p.errmsg);
		goto out;
	}
	if (p.status == 404 && model) {
		rc = 0;
		goto out;
	}
	if (p.status != 200) {
		struct buf m = BUF_INIT;
		error_message(p.status, &p.body, &m);
		snprintf(err, errlen, "%s: %s", models_url, m.data);
		buf_free(&m);
		goto out;
	}
	if (model) {
		rc = 0;
		goto out;
	}
	struct json_object *o = json_tokener_parse(p.body.data ? p.body.data : "");
	struct json_object *d = NULL, *m0 = NULL, *id = NULL;
	if (o && json_object_object_get_ex(o, "data", &d) &&
	    json_object_is_type(d, json_type_array) && json_object_array_length(d) > 0 &&
	    (m0 = json_object_array_get_idx(d, 0)) && json_object_object_get_ex(m0, "id", &id) &&
	    json_object_is_type(id, json_type_string)) {
		*found = strdup(json_object_get_string(id));
		rc = *found ? 0 : -1;
	} else {
		snprintf(err, errlen, "%s lists no model; name one with --model", models_url);
	}
	json_object_put(o);
out:
	if (c)
		httpc_free(c);
	event_base_free(base);
	buf_free(&p.body);
	buf_free(&auth);
	return rc;
}
