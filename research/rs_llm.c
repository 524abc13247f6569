/* rs_llm.c — see rs_llm.h. */
#include "rs_llm.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "hcall.h"
#include "rs_http.h"
#include "rs_jutil.h"

#define RS_LLM_MAX_BODY ((size_t)64 << 20)
#define RS_LLM_BAD_ANSWERS 2 /* answers that are no completion, asked again */

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

/* Strips trailing slashes; adds "/v1" when the URL has no path. */
static char *base_url(const char *url)
{
	struct buf b = BUF_INIT;
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	buf_append(&b, url, n);
	const char *host = strstr(b.data, "://");
	if (host && !strchr(host + 3, '/'))
		buf_puts(&b, "/v1");
	return buf_steal(&b);
}

static const char *env_lookup(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

void rs_llm_init(struct rs_llm *l, rs_llm_lookup_fn lookup, void *arg)
{
	if (!lookup)
		lookup = env_lookup;
	memset(l, 0, sizeof *l);
	l->timeout_ms = 600000;
	l->retries = 6;
	l->backoff_ms = 1000;
	l->temperature = -1;
	const char *e = lookup("OPENAI_BASE_URL", arg);
	if (e && *e) {
		l->endpoint = base_url(e);
	} else {
		const char *r = lookup("ELASTIC_REGISTRY_URL", arg);
		if (!r || !*r)
			r = RS_LLM_DEFAULT_REGISTRY;
		size_t n = strlen(r);
		while (n > 0 && r[n - 1] == '/')
			n--;
		l->registry = strndup(r, n);
		if (!l->registry)
			abort();
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s/v1", l->registry);
		l->endpoint = buf_steal(&b);
	}
	e = lookup("OPENAI_API_KEY", arg);
	if (e && *e)
		l->api_key = xstrdup(e);
	e = lookup("ELASTIC_AUTH", arg);
	if (e && *e)
		l->auth = xstrdup(e);
	e = lookup("ES_RESEARCH_MODEL", arg);
	if (e && *e)
		l->model = xstrdup(e);
}

void rs_llm_free(struct rs_llm *l)
{
	free(l->endpoint);
	free(l->registry);
	free(l->auth);
	free(l->api_key);
	free(l->model);
	free(l->extra);
	memset(l, 0, sizeof *l);
}

int rs_llm_set_endpoint(struct rs_llm *l, const char *url, char *err, size_t errlen)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint must start with http:// or https://, not '%s'", url);
		return -1;
	}
	if (!url[strncmp(url, "http://", 7) == 0 ? 7 : 8]) {
		snprintf(err, errlen, "endpoint '%s' has no host", url);
		return -1;
	}
	free(l->endpoint);
	l->endpoint = base_url(url);
	free(l->registry);
	l->registry = NULL;
	return 0;
}

/* ---------------------------------------------------------------- replies */

void rs_llm_reply_free(struct rs_llm_reply *r)
{
	free(r->content);
	free(r->reasoning);
	for (size_t i = 0; i < r->ncalls; i++) {
		free(r->calls[i].id);
		free(r->calls[i].name);
		free(r->calls[i].arguments);
	}
	free(r->calls);
	memset(r, 0, sizeof *r);
	r->prompt_tokens = r->completion_tokens = -1;
}

static void reply_reset(struct rs_llm_reply *r)
{
	double secs = r->seconds;
	int att = r->attempts;
	long st = r->status;
	rs_llm_reply_free(r);
	r->seconds = secs;
	r->attempts = att;
	r->status = st;
}

static void str_append(char **dst, const char *s, size_t n)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *p = realloc(*dst, old + n + 1);
	if (!p)
		abort();
	memcpy(p + old, s, n);
	p[old + n] = '\0';
	*dst = p;
}

static struct rs_llm_call *add_call(struct rs_llm_reply *r)
{
	struct rs_llm_call *c = realloc(r->calls, (r->ncalls + 1) * sizeof *c);
	if (!c)
		abort();
	r->calls = c;
	c = &r->calls[r->ncalls++];
	c->id = xstrdup("");
	c->name = xstrdup("");
	c->arguments = xstrdup("");
	return c;
}

static void take_usage(struct json_object *o, struct rs_llm_reply *r)
{
	struct json_object *u = rs_ju_get(o, "usage");
	if (!u || !json_object_is_type(u, json_type_object))
		return;
	double p = rs_ju_num(u, "prompt_tokens", -1), c = rs_ju_num(u, "completion_tokens", -1);
	if (p >= 0)
		r->prompt_tokens = (long)p;
	if (c >= 0)
		r->completion_tokens = (long)c;
}

/* The message of an "error" object, or NULL. */
static const char *error_message(struct json_object *o)
{
	struct json_object *e = rs_ju_get(o, "error");
	if (!e)
		return NULL;
	if (json_object_is_type(e, json_type_string))
		return json_object_get_string(e);
	const char *m = rs_ju_str(e, "message", NULL);
	return m ? m : "an error without a message";
}

static void set_finish(struct rs_llm_reply *r, struct json_object *choice)
{
	const char *f = rs_ju_str(choice, "finish_reason", NULL);
	if (f)
		snprintf(r->finish_reason, sizeof r->finish_reason, "%s", f);
}

int rs_llm_parse_completion(const char *body, size_t len, struct rs_llm_reply *out, char *err,
			    size_t errlen)
{
	char perr[200];
	int rc = -1;
	struct json_object *o = rs_ju_parse(body, len, perr, sizeof perr);
	if (!o) {
		snprintf(err, errlen, "the answer is %s", perr);
		return -1;
	}
	const char *em = error_message(o);
	struct json_object *choices = rs_ju_get(o, "choices"), *c0, *msg;
	if (em) {
		snprintf(err, errlen, "the endpoint sent an error: %s", em);
		goto cleanup;
	}
	if (!choices || !json_object_is_type(choices, json_type_array) ||
	    json_object_array_length(choices) == 0) {
		snprintf(err, errlen, "the answer has no choices");
		goto cleanup;
	}
	c0 = json_object_array_get_idx(choices, 0);
	msg = rs_ju_get(c0, "message");
	if (!msg || !json_object_is_type(msg, json_type_object)) {
		snprintf(err, errlen, "the answer's first choice has no message");
		goto cleanup;
	}
	out->content = xstrdup(rs_ju_str(msg, "content", ""));
	const char *rsn = rs_ju_str(msg, "reasoning_content", NULL);
	if (!rsn)
		rsn = rs_ju_str(msg, "reasoning", NULL);
	if (rsn)
		out->reasoning = xstrdup(rsn);
	struct json_object *tc = rs_ju_get(msg, "tool_calls");
	if (tc && json_object_is_type(tc, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(tc); i++) {
			struct json_object *t = json_object_array_get_idx(tc, i);
			struct json_object *fn = rs_ju_get(t, "function");
			struct rs_llm_call *c = add_call(out);
			set_str(&c->id, rs_ju_str(t, "id", ""));
			set_str(&c->name, rs_ju_str(fn, "name", ""));
			struct json_object *a = rs_ju_get(fn, "arguments");
			/* Arguments are a JSON string; some servers send the object. */
			if (a && json_object_is_type(a, json_type_string))
				set_str(&c->arguments, json_object_get_string(a));
			else if (a)
				set_str(&c->arguments, rs_ju_text(a));
		}
	}
	set_finish(out, c0);
	take_usage(o, out);
	rc = 0;
cleanup:
	json_object_put(o);
	return rc;
}

struct json_object *rs_llm_reply_message(const struct rs_llm_reply *r)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "content", json_object_new_string(r->content ? r->content : ""));
	if (r->ncalls) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < r->ncalls; i++) {
			struct json_object *c = json_object_new_object(), *f = json_object_new_object();
			json_object_object_add(c, "id", json_object_new_string(r->calls[i].id));
			json_object_object_add(c, "type", json_object_new_string("function"));
			json_object_object_add(f, "name", json_object_new_string(r->calls[i].name));
			json_object_object_add(f, "arguments", json_object_new_string(r->calls[i].arguments));
			json_object_object_add(c, "function", f);
			json_object_array_add(a, c);
		}
		json_object_object_add(m, "tool_calls", a);
	}
	return m;
}

/* ---------------------------------------------------------------- streams */

void rs_llm_stream_init(struct rs_llm_stream *s, struct rs_llm_reply *out, rs_llm_delta_fn on_delta,
			void *arg)
{
	memset(s, 0, sizeof *s);
	s->out = out;
	s->on_delta = on_delta;
	s->arg = arg;
}

void rs_llm_stream_free(struct rs_llm_stream *s)
{
	buf_free(&s->line);
	buf_free(&s->event);
}

static void stream_fail(struct rs_llm_stream *s, const char *fmt, const char *a)
{
	if (s->error)
		return;
	s->error = true;
	snprintf(s->errmsg, sizeof s->errmsg, fmt, a);
}

/* The call a tool call delta with INDEX adds to: calls come in the order
 * of their indexes, so the index is the call's place in the reply. */
static struct rs_llm_call *call_at(struct rs_llm_stream *s, long index)
{
	if (index < 0 || index > 1000)
		return NULL;
	while ((long)s->out->ncalls <= index)
		add_call(s->out);
	return &s->out->calls[index];
}

static void deliver(struct rs_llm_stream *s, char kind, const char *text)
{
	size_t n = strlen(text);
	if (!n)
		return;
	if (kind == 'c')
		str_append(&s->out->content, text, n);
	else
		str_append(&s->out->reasoning, text, n);
	s->delivered += n;
	if (s->on_delta)
		s->on_delta(kind, text, n, s->arg);
}

static void stream_event(struct rs_llm_stream *s, const char *data, size_t len)
{
	while (len && isspace((unsigned char)*data)) {
		data++;
		len--;
	}
	if (!len)
		return;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		s->done = true;
		return;
	}
	char perr[200];
	struct json_object *o = rs_ju_parse(data, len, perr, sizeof perr);
	if (!o) {
		stream_fail(s, "a streamed event is %s", perr);
		return;
	}
	const char *em = error_message(o);
	if (em) {
		stream_fail(s, "the endpoint sent an error: %s", em);
		json_object_put(o);
		return;
	}
	s->chunks++;
	take_usage(o, s->out);
	struct json_object *choices = rs_ju_get(o, "choices");
	if (choices && json_object_is_type(choices, json_type_array) && json_object_array_length(choices)) {
		struct json_object *c0 = json_object_array_get_idx(choices, 0);
		struct json_object *d = rs_ju_get(c0, "delta");
		const char *t = rs_ju_str(d, "reasoning_content", NULL);
		if (!t)
			t = rs_ju_str(d, "reasoning", NULL);
		if (t)
			deliver(s, 'r', t);
		t = rs_ju_str(d, "content", NULL);
		if (t)
			deliver(s, 'c', t);
		struct json_object *tc = rs_ju_get(d, "tool_calls");
		if (tc && json_object_is_type(tc, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(tc); i++) {
				struct json_object *x = json_object_array_get_idx(tc, i);
				long idx = (long)rs_ju_num(x, "index", (double)i);
				struct rs_llm_call *c = call_at(s, idx);
				if (!c) {
					stream_fail(s, "a tool call delta has a bad index (%s)", rs_ju_text(x));
					continue;
				}
				const char *id = rs_ju_str(x, "id", NULL);
				if (id && *id)
					set_str(&c->id, id);
				struct json_object *fn = rs_ju_get(x, "function");
				const char *nm = rs_ju_str(fn, "name", NULL);
				if (nm)
					str_append(&c->name, nm, strlen(nm));
				const char *ar = rs_ju_str(fn, "arguments", NULL);
				if (ar)
					str_append(&c->arguments, ar, strlen(ar));
			}
		}
		set_finish(s->out, c0);
	}
	json_object_put(o);
}

/* One line of the SSE stream (without its newline); data lines of one
 * event are joined with "\n" in EVENT, dispatched at the blank line. */
static void stream_line(struct rs_llm_stream *s, struct buf *event, const char *l, size_t n)
{
	if (n && l[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (event->len)
			stream_event(s, event->data, event->len);
		buf_reset(event);
		return;
	}
	if (l[0] == ':')
		return; /* a comment */
	if (n >= 5 && memcmp(l, "data:", 5) == 0) {
		size_t o = 5;
		if (o < n && l[o] == ' ')
			o++;
		if (event->len)
			buf_putc(event, '\n');
		buf_append(event, l + o, n - o);
	}
	/* event:, id:, retry: and unknown fields are ignored. */
}

void rs_llm_stream_feed(struct rs_llm_stream *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n') {
			const char *nl = memchr(data + i, '\n', len - i);
			size_t j = nl ? (size_t)(nl - data) : len;
			buf_append(&s->line, data + i, j - i);
			i = j - 1;
			continue;
		}
		stream_line(s, &s->event, s->line.data ? s->line.data : "", s->line.len);
		buf_reset(&s->line);
	}
}

int rs_llm_stream_end(struct rs_llm_stream *s, char *err, size_t errlen)
{
	if (s->line.len) {
		stream_line(s, &s->event, s->line.data, s->line.len);
		buf_reset(&s->line);
	}
	if (s->event.len) {
		stream_event(s, s->event.data, s->event.len);
		buf_reset(&s->event);
	}
	if (s->error) {
		snprintf(err, errlen, "%s", s->errmsg);
		return -1;
	}
	if (!s->chunks) {
		snprintf(err, errlen, "the stream held no completion chunk");
		return -1;
	}
	if (!s->out->content)
		s->out->content = xstrdup("");
	return 0;
}

/* ---------------------------------------------------------------- requests */

void rs_llm_request_body(const struct rs_llm *l, struct json_object *messages,
			 struct json_object *tools, const char *tool_choice, bool stream,
			 struct buf *out)
{
	struct json_object *o = NULL;
	if (l->extra) {
		char perr[128];
		o = rs_ju_parse(l->extra, strlen(l->extra), perr, sizeof perr);
		if (o && !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
	}
	if (!o)
		o = json_object_new_object();
	json_object_object_add(o, "model", json_object_new_string(l->model ? l->model : ""));
	json_object_object_add(o, "messages", json_object_get(messages));
	if (tools && json_object_array_length(tools)) {
		json_object_object_add(o, "tools", json_object_get(tools));
		if (tool_choice)
			json_object_object_add(o, "tool_choice", json_object_new_string(tool_choice));
	}
	if (l->temperature >= 0)
		json_object_object_add(o, "temperature", json_object_new_double(l->temperature));
	if (l->max_tokens > 0)
		json_object_object_add(o, "max_tokens", json_object_new_int64(l->max_tokens));
	if (stream) {
		json_object_object_add(o, "stream", json_object_new_boolean(1));
		struct json_object *so = json_object_new_object();
		json_object_object_add(so, "include_usage", json_object_new_boolean(1));
		json_object_object_add(o, "stream_options", so);
	} else {
		json_object_object_add(o, "stream", json_object_new_boolean(0));
	}
	buf_puts(out, rs_ju_text(o));
	json_object_put(o);
}

/* "Authorization: Bearer KEY" and friends, NULL-terminated, in HDR (owned
 * by the caller's buffer AUTH). */
static void headers(const struct rs_llm *l, struct buf *auth, const char *hdr[4], bool stream)
{
	int n = 0;
	if (l->api_key && *l->api_key) {
		buf_printf(auth, "Authorization: Bearer %s", l->api_key);
		hdr[n++] = auth->data;
	}
	hdr[n++] = "Content-Type: application/json";
	if (stream)
		hdr[n++] = "Accept: text/event-stream";
	hdr[n] = NULL;
}

/* "endpoint answered 400: MESSAGE" from an error answer's body. */
static void status_error(long status, const char *body, size_t len, char *err, size_t errlen)
{
	char perr[64];
	struct json_object *o = rs_ju_parse(body, len, perr, sizeof perr);
	const char *m = o ? error_message(o) : NULL;
	if (m) {
		snprintf(err, errlen, "the endpoint answered %ld: %s", status, m);
	} else {
		/* Not OpenAI's error JSON: the start of the body, on one line. */
		char snip[121];
		size_t k = 0;
		for (size_t i = 0; i < len && k < sizeof snip - 1; i++)
			snip[k++] = (body[i] == '\n' || body[i] == '\r') ? ' ' : body[i];
		snip[k] = '\0';
		snprintf(err, errlen, "the endpoint answered %ld%s%s", status, k ? ": " : "", snip);
	}
	json_object_put(o);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

static long next_backoff(long b)
{
	b *= 2;
	return b > 30000 ? 30000 : b;
}

static int chat_plain(const struct rs_llm *l, const char *url, const char *body,
		      struct rs_llm_reply *out, char *err, size_t errlen)
{
	struct buf auth = BUF_INIT, resp = BUF_INIT;
	const char *hdr[4];
	headers(l, &auth, hdr, false);
	struct rs_http_opts o = {
		.timeout_ms = l->timeout_ms,
		.retries = l->retries,
		.backoff_ms = l->backoff_ms,
		.headers = hdr,
		.max_body = RS_LLM_MAX_BODY,
	};
	int rc = -1, made = 0;
	o.attempts = &made;
	long backoff = l->backoff_ms > 0 ? l->backoff_ms : 1000;
	for (int bad = 0;; bad++) {
		long status = 0;
		buf_reset(&resp);
		made = 0;
		int hr = rs_http("POST", url, body, &o, &status, &resp, err, errlen);
		out->attempts += made > 0 ? made : 1;
		out->status = status;
		if (hr < 0)
			break;
		if (status < 200 || status > 299) {
			status_error(status, resp.data ? resp.data : "", resp.len, err, errlen);
			break;
		}
		reply_reset(out);
		if (rs_llm_parse_completion(resp.data ? resp.data : "", resp.len, out, err, errlen) == 0) {
			rc = 0;
			break;
		}
		if (bad >= RS_LLM_BAD_ANSWERS)
			break;
		sleep_ms(backoff);
		backoff = next_backoff(backoff);
	}
	buf_free(&auth);
	buf_free(&resp);
	return rc;
}

/* A streamed call over libcurl directly (rs_http hands over whole bodies). */
struct sctx {
	CURL *h;
	struct rs_llm_stream st;
	long status;            /* known at the first body byte */
	struct buf errbody;     /* the body of a non-2xx answer (its start) */
	long retry_after_ms;    /* Retry-After of the answer, 0: none */
};

static size_t s_write(char *p, size_t sz, size_t n, void *arg)
{
	struct sctx *c = arg;
	size_t len = sz * n;
	if (!c->status)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->status >= 200 && c->status <= 299)
		rs_llm_stream_feed(&c->st, p, len);
	else if (c->errbody.len < 65536)
		buf_append(&c->errbody, p, len);
	return len;
}

static size_t s_header(char *p, size_t sz, size_t n, void *arg)
{
	struct sctx *c = arg;
	size_t len = sz * n;
	if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
		long v = strtol(p + 12, NULL, 10);
		if (v > 0 && v < 3600)
			c->retry_after_ms = v * 1000;
	}
	return len;
}

static bool retryable_status(long st)
{
	return st == 408 || st == 429 || st >= 500;
}

static int chat_stream(const struct rs_llm *l, const char *url, const char *body,
		       rs_llm_delta_fn on_delta, void *arg, struct rs_llm_reply *out, char *err,
		       size_t errlen)
{
	struct buf auth = BUF_INIT;
	const char *hdr[4];
	headers(l, &auth, hdr, true);
	struct curl_slist *list = NULL;
	for (int i = 0; hdr[i]; i++)
		list = curl_slist_append(list, hdr[i]);
	int rc = -1;
	long backoff = l->backoff_ms > 0 ? l->backoff_ms : 1000;
	for (int attempt = 0;; attempt++) {
		struct sctx c = {0};
		char cerr[CURL_ERROR_SIZE] = "";
		c.h = curl_easy_init();
		if (!c.h) {
			snprintf(err, errlen, "cannot create a libcurl handle");
			break;
		}
		reply_reset(out);
		rs_llm_stream_init(&c.st, out, on_delta, arg);
		out->attempts++;
		curl_easy_setopt(c.h, CURLOPT_URL, url);
		curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, list);
		curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, s_write);
		curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c);
		curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, s_header);
		curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &c);
		curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
		curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, l->timeout_ms > 0 ? l->timeout_ms : 600000L);
		CURLcode cc = curl_easy_perform(c.h);
		if (!c.status)
			curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &c.status);
		out->status = c.status;
		bool again = false;
		if (cc != CURLE_OK) {
			snprintf(err, errlen, "%s %s: %s", c.st.delivered ? "stream from" : "cannot reach", url,
				 cerr[0] ? cerr : curl_easy_strerror(cc));
			again = c.st.delivered == 0;
		} else if (c.status < 200 || c.status > 299) {
			status_error(c.status, c.errbody.data ? c.errbody.data : "", c.errbody.len, err, errlen);
			again = retryable_status(c.status);
		} else if (rs_llm_stream_end(&c.st, err, errlen) < 0) {
			again = c.st.delivered == 0;
		} else {
			rc = 0;
		}
		rs_llm_stream_free(&c.st);
		buf_free(&c.errbody);
		curl_easy_cleanup(c.h);
		if (rc == 0 || !again || attempt >= l->retries)
			break;
		long wait = c.retry_after_ms > backoff ? c.retry_after_ms : backoff;
		sleep_ms(wait);
		backoff = next_backoff(backoff);
	}
	curl_slist_free_all(list);
	buf_free(&auth);
	return rc;
}

int rs_llm_chat(const struct rs_llm *l, struct json_object *messages, struct json_object *tools,
		const char *tool_choice, rs_llm_delta_fn on_delta, void *arg,
		struct rs_llm_reply *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->prompt_tokens = out->completion_tokens = -1;
	double t0 = rs_mono_time();
	struct buf url = BUF_INIT, body = BUF_INIT;
	buf_printf(&url, "%s/chat/completions", l->endpoint);
	rs_llm_request_body(l, messages, tools, tool_choice, on_delta != NULL, &body);
	int rc = on_delta ? chat_stream(l, url.data, body.data, on_delta, arg, out, err, errlen)
			  : chat_plain(l, url.data, body.data, out, err, errlen);
	out->seconds = rs_mono_time() - t0;
	if (rc == 0 && !out->content)
		out->content = xstrdup("");
	buf_free(&url);
	buf_free(&body);
	return rc;
}

/* ---------------------------------------------------------------- prepare */

/* Asks the registry for the endpoint's key, as `elasticctl key` does. */
static int fetch_key(struct rs_llm *l, char *err, size_t errlen)
{
	struct auth_client a;
	char aerr[256];
	const char *spec = l->auth && *l->auth ? l->auth : "munge";
	if (auth_client_init(&a, spec, aerr, sizeof aerr) < 0) {
		snprintf(err, errlen, "%s", aerr);
		return -1;
	}
	struct hcall_resp r;
	int rc = hcall(l->registry, "GET", "/api/v1/key", NULL, 0, &a, 10000, &r, aerr, sizeof aerr);
	if (rc < 0) {
		snprintf(err, errlen, "cannot ask the registry at %s for the key: %s", l->registry, aerr);
		hcall_resp_free(&r);
		return -1;
	}
	char perr[64];
	struct json_object *o = rs_ju_parse(r.body.data ? r.body.data : "", r.body.len, perr, sizeof perr);
	const char *key = rs_ju_str(o, "key", NULL);
	if (r.status != 200 || !key || !*key) {
		const char *m = o ? error_message(o) : NULL;
		snprintf(err, errlen, "the registry at %s gave no key (%d%s%s)", l->registry, r.status,
			 m ? ": " : "", m ? m : "");
		json_object_put(o);
		hcall_resp_free(&r);
		return -1;
	}
	set_str(&l->api_key, key);
	json_object_put(o);
	hcall_resp_free(&r);
	return 0;
}

static int get_models(struct rs_llm *l, long *status, struct buf *resp, char *err, size_t errlen)
{
	struct buf auth = BUF_INIT, url = BUF_INIT;
	const char *hdr[4];
	headers(l, &auth, hdr, false);
	buf_printf(&url, "%s/models", l->endpoint);
	struct rs_http_opts o = {
		.timeout_ms = 30000,
		.retries = l->retries < 3 ? l->retries : 3,
		.backoff_ms = l->backoff_ms,
		.headers = hdr,
	};
	buf_reset(resp);
	int rc = rs_http("GET", url.data, NULL, &o, status, resp, err, errlen);
	buf_free(&auth);
	buf_free(&url);
	return rc;
}

int rs_llm_prepare(struct rs_llm *l, char *err, size_t errlen)
{
	struct buf resp = BUF_INIT;
	char herr[512];
	long status = 0;
	int rc = -1;
	struct json_object *o = NULL;
	if (get_models(l, &status, &resp, herr, sizeof herr) < 0) {
		snprintf(err, errlen, "cannot reach the endpoint %s: %s", l->endpoint, herr);
		goto cleanup;
	}
	if (status == 401 && !(l->api_key && *l->api_key) && l->registry) {
		if (fetch_key(l, herr, sizeof herr) < 0) {
			snprintf(err, errlen,
				 "the endpoint %s wants an API key (--api-key or OPENAI_API_KEY): %s",
				 l->endpoint, herr);
			goto cleanup;
		}
		if (get_models(l, &status, &resp, herr, sizeof herr) < 0) {
			snprintf(err, errlen, "cannot reach the endpoint %s: %s", l->endpoint, herr);
			goto cleanup;
		}
	}
	if (status == 401) {
		snprintf(err, errlen, "the endpoint %s refused the API key%s (401)", l->endpoint,
			 l->api_key && *l->api_key ? "" : " (none given: --api-key or OPENAI_API_KEY)");
		goto cleanup;
	}
	if (status < 200 || status > 299) {
		status_error(status, resp.data ? resp.data : "", resp.len, herr, sizeof herr);
		snprintf(err, errlen, "%s/models: %s", l->endpoint, herr);
		goto cleanup;
	}
	if (l->model && *l->model) {
		rc = 0; /* the model may come with the next worker: not checked */
		goto cleanup;
	}
	o = rs_ju_parse(resp.data ? resp.data : "", resp.len, herr, sizeof herr);
	struct json_object *data = rs_ju_get(o, "data");
	if (!o || !data || !json_object_is_type(data, json_type_array)) {
		snprintf(err, errlen, "%s/models: the answer is no model list", l->endpoint);
		goto cleanup;
	}
	if (json_object_array_length(data) == 0) {
		snprintf(err, errlen, "%s/models lists no model (no worker ready?); give --model",
			 l->endpoint);
		goto cleanup;
	}
	const char *id = rs_ju_str(json_object_array_get_idx(data, 0), "id", NULL);
	if (!id || !*id) {
		snprintf(err, errlen, "%s/models: the first model has no id", l->endpoint);
		goto cleanup;
	}
	set_str(&l->model, id);
	rc = 0;
cleanup:
	json_object_put(o);
	buf_free(&resp);
	return rc;
}
