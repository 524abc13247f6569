/* proxy_migrate.c — see proxy_migrate.h.
 *
 * The request is never parsed whole: proxy_json_scan located the
 * top-level members, and a continuation is the client's body with a few
 * edits at those offsets (a value replaced, a member inserted after the
 * opening brace, text inserted before a closing quote or bracket). The
 * events of the answer are validated by proxy_json_check and walked for
 * the few members that matter; an event of a continuation is rewritten the
 * same way, by edits at its values' offsets (no allocation per event
 * beyond the text kept, no DOM: a few microseconds at most).
 */
#include "proxy_migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oai.h"

/* ---------------------------------------------------------------- values */

static const char *span_ptr(const struct proxy_migrate *m, const char *body, int k)
{
	return body + m->top[k].off;
}

static bool span_is(const struct proxy_migrate *m, const char *body, int k, const char *lit)
{
	size_t l = strlen(lit);
	return m->top[k].len == l && memcmp(span_ptr(m, body, k), lit, l) == 0;
}

/* Absent or null. */
static bool span_none(const struct proxy_migrate *m, const char *body, int k)
{
	return m->top[k].len == 0 || span_is(m, body, k, "null");
}

/* Absent, null or false. */
static bool span_off(const struct proxy_migrate *m, const char *body, int k)
{
	return span_none(m, body, k) || span_is(m, body, k, "false");
}

/* The integer value of member K: 1 (set *V), 0 absent or null, -1 another value. */
static int span_int(const struct proxy_migrate *m, const char *body, int k, int64_t *v)
{
	if (span_none(m, body, k))
		return 0;
	const char *p = span_ptr(m, body, k);
	size_t n = m->top[k].len, i = 0;
	bool neg = false;
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n || n - i > 18)
		return -1;
	int64_t x = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (p[i] - '0');
	}
	*v = neg ? -x : x;
	return 1;
}

/* Whether member K is {"type":"text"} (whitespace aside). */
static bool span_text_format(const struct proxy_migrate *m, const char *body, int k)
{
	static const char want[] = "{\"type\":\"text\"}";
	const char *p = span_ptr(m, body, k);
	size_t j = 0;
	for (size_t i = 0; i < m->top[k].len; i++) {
		char c = p[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (j >= sizeof want - 1 || c != want[j++])
			return false;
	}
	return j == sizeof want - 1;
}

/* ---------------------------------------------------------------- JSON walking */

/* Helpers over JSON text that proxy_json_check validated: they need not
 * look for errors, only stay within the LEN bytes. */

struct jspan {
	size_t off, len; /* a value's bytes (a string's quotes included) */
};

static size_t j_ws(const char *b, size_t n, size_t i)
{
	while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
		i++;
	return i;
}

/* After the string whose quote is at I. */
static size_t j_str_end(const char *b, size_t n, size_t i)
{
	for (i++; i < n;) {
		const char *q = memchr(b + i, '"', n - i);
		if (!q)
			return n;
		size_t e = (size_t)(q - b), k = e;
		/* A quote after an odd number of backslashes is escaped. */
		while (k > i && b[k - 1] == '\\')
			k--;
		if ((e - k) % 2 == 0)
			return e + 1;
		i = e + 1;
	}
	return n;
}

/* After the value at I. */
static size_t j_value_end(const char *b, size_t n, size_t i)
{
	if (i >= n)
		return n;
	if (b[i] == '"')
		return j_str_end(b, n, i);
	if (b[i] == '{' || b[i] == '[') {
		unsigned depth = 0;
		for (; i < n; i++) {
			char c = b[i];
			if (c == '"') {
				i = j_str_end(b, n, i) - 1;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i + 1;
			}
		}
		return n;
	}
	while (i < n && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' &&
	       b[i] != '\n' && b[i] != '\r')
		i++;
	return i;
}

/* The next member of the object whose '{' (first call) or last member ends
 * at *POS: its key (between the quotes) and value. False at the end. */
static bool j_member(const char *b, size_t n, size_t *pos, struct jspan *k, struct jspan *v)
{
	size_t i = j_ws(b, n, *pos);
	if (i < n && (b[i] == '{' || b[i] == ','))
		i = j_ws(b, n, i + 1);
	if (i >= n || b[i] != '"')
		return false;
	size_t ke = j_str_end(b, n, i);
	k->off = i + 1;
	k->len = ke - i - 2;
	i = j_ws(b, n, j_ws(b, n, ke) + 1); /* past ':' */
	size_t ve = j_value_end(b, n, i);
	v->off = i;
	v->len = ve - i;
	*pos = ve;
	return true;
}

/* Whether key K is NAME (escapes decoded). */
static bool j_key(const char *b, const struct jspan *k, const char *name)
{
	size_t l = strlen(name);
	if (!memchr(b + k->off, '\\', k->len))
		return k->len == l && memcmp(b + k->off, name, l) == 0;
	char tmp[32];
	struct proxy_json_str s = {b + k->off, k->len, true};
	int d = k->len < 12 * 24 ? proxy_json_unescape(&s, tmp, sizeof tmp) : -1;
	return d == (int)l && memcmp(tmp, name, l) == 0;
}

static bool j_is(const char *b, const struct jspan *v, char c)
{
	return v->len && b[v->off] == c;
}

static bool j_null(const char *b, const struct jspan *v)
{
	return v->len == 4 && memcmp(b + v->off, "null", 4) == 0;
}

/* A number value as an integer, or -1. */
static int64_t j_int(const char *b, const struct jspan *v)
{
	if (!v->len || v->len > 18 || b[v->off] < '0' || b[v->off] > '9')
		return -1;
	int64_t x = 0;
	for (size_t i = v->off; i < v->off + v->len; i++) {
		if (b[i] < '0' || b[i] > '9')
			return -1;
		x = x * 10 + (b[i] - '0');
	}
	return x;
}

/* Appends string value V decoded to OUT; -1 when it holds \u0000. */
static int j_str_append(const char *b, const struct jspan *v, struct buf *out)
{
	const char *p = b + v->off + 1;
	size_t l = v->len - 2;
	if (!memchr(p, '\\', l)) {
		buf_append(out, p, l);
		return 0;
	}
	buf_reserve(out, l + 1);
	struct proxy_json_str s = {p, l, true};
	int d = proxy_json_unescape(&s, out->data + out->len, l + 1);
	if (d < 0)
		return -1;
	out->len += (size_t)d;
	return 0;
}

/* The first element of array V, or an empty span. */
static struct jspan j_first(const char *b, size_t n, const struct jspan *v)
{
	struct jspan e = {0, 0};
	if (!j_is(b, v, '['))
		return e;
	size_t i = j_ws(b, n, v->off + 1);
	if (i >= n || b[i] == ']')
		return e;
	e.off = i;
	e.len = j_value_end(b, n, i) - i;
	return e;
}

/* ---------------------------------------------------------------- request */

static const char *refusal_of(struct proxy_migrate *m, const char *body)
{
	int64_t v;
	int r;
	if ((r = span_int(m, body, PROXY_JSON_T_N, &v)) < 0 || (r == 1 && v > 1))
		return "n > 1";
	if ((r = span_int(m, body, PROXY_JSON_T_BEST_OF, &v)) < 0 || (r == 1 && v > 1))
		return "best_of > 1";
	if (!span_off(m, body, PROXY_JSON_T_LOGPROBS))
		return "logprobs";
	if (!span_none(m, body, PROXY_JSON_T_PROMPT_LOGPROBS))
		return "prompt_logprobs";
	if (!span_off(m, body, PROXY_JSON_T_ECHO))
		return "echo";
	if (!span_off(m, body, PROXY_JSON_T_BEAM))
		return "beam search";
	if (!span_none(m, body, PROXY_JSON_T_GUIDED))
		return "guided decoding";
	if (!span_none(m, body, PROXY_JSON_T_RESPONSE_FORMAT) &&
	    !span_text_format(m, body, PROXY_JSON_T_RESPONSE_FORMAT))
		return "a response_format";
	if (!span_off(m, body, PROXY_JSON_T_CONTINUE_FINAL))
		return "continue_final_message in the request";
	if (m->chat) {
		if (!m->top[PROXY_JSON_T_MESSAGES].len ||
		    span_ptr(m, body, PROXY_JSON_T_MESSAGES)[0] != '[')
			return "messages that are not an array";
	} else if (!m->top[PROXY_JSON_T_PROMPT].len ||
		   span_ptr(m, body, PROXY_JSON_T_PROMPT)[0] != '"') {
		return "a prompt that is not one string";
	}
	if (span_int(m, body, PROXY_JSON_T_MAX_TOKENS, &v) < 0)
		return "max_tokens that is not an integer";
	if (span_int(m, body, PROXY_JSON_T_MAX_COMPLETION, &v) < 0)
		return "max_completion_tokens that is not an integer";
	if (span_int(m, body, PROXY_JSON_T_MIN_TOKENS, &v) < 0)
		return "min_tokens that is not an integer";
	if (!m->client_stream) {
		if (!span_none(m, body, PROXY_JSON_T_TOOLS) &&
		    !span_is(m, body, PROXY_JSON_T_TOOLS, "[]") &&
		    !span_is(m, body, PROXY_JSON_T_TOOL_CHOICE, "\"none\""))
			return "tools in a request that is not streamed";
		if (!span_none(m, body, PROXY_JSON_T_STREAM_OPTIONS))
			return "stream_options in a request that is not streamed";
	}
	return NULL;
}

struct edit {
	size_t off, len;   /* the bytes replaced (len 0: an insertion at off) */
	const char *s;     /* by these */
	size_t slen;
};

#define MAX_EDITS 16

struct edits {
	struct edit v[MAX_EDITS];
	unsigned n;
	struct buf scratch[MAX_EDITS]; /* owns the texts of the edits */
};

static struct buf *edit_add(struct edits *e, size_t off, size_t len)
{
	if (e->n == MAX_EDITS)
		abort(); /* a bug: no caller makes more */
	struct edit *x = &e->v[e->n];
	struct buf *b = &e->scratch[e->n++];
	x->off = off;
	x->len = len;
	buf_reset(b);
	return b;
}

/* Sets top-level member K (NAME) to VALUE: its value replaced, or the
 * member inserted after the opening brace. */
static void edit_set(struct edits *e, const struct proxy_migrate *m, const char *body, size_t len,
		     int k, const char *name, const char *value)
{
	if (m->top[k].len) {
		buf_puts(edit_add(e, m->top[k].off, m->top[k].len), value);
		return;
	}
	struct buf *b = edit_add(e, m->root_off + 1, 0);
	buf_printf(b, "\"%s\":%s", name, value);
	size_t i = m->root_off + 1;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
		i++;
	if (i < len && body[i] != '}')
		buf_putc(b, ',');
}

static int edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* OUT = BODY with the edits (which must not overlap) applied. */
static void edits_apply(struct edits *e, const char *body, size_t len, struct buf *out)
{
	for (unsigned i = 0; i < e->n; i++) {
		e->v[i].s = e->scratch[i].data ? e->scratch[i].data : "";
		e->v[i].slen = e->scratch[i].len;
	}
	/* Insertions at one offset keep their order: sort by offset, then
	 * by the order they were added (qsort is not stable). */
	for (unsigned i = 1; i < e->n; i++)
		for (unsigned j = i; j > 0 && edit_cmp(&e->v[j - 1], &e->v[j]) > 0; j--) {
			struct edit t = e->v[j];
			e->v[j] = e->v[j - 1];
			e->v[j - 1] = t;
		}
	buf_reset(out);
	buf_reserve(out, len + 256);
	size_t pos = 0;
	for (unsigned i = 0; i < e->n; i++) {
		buf_append(out, body + pos, e->v[i].off - pos);
		buf_append(out, e->v[i].s, e->v[i].slen);
		pos = e->v[i].off + e->v[i].len;
	}
	buf_append(out, body + pos, len - pos);
}

static void edits_free(struct edits *e)
{
	for (unsigned i = 0; i < MAX_EDITS; i++)
		buf_free(&e->scratch[i]);
}

/* The edits that make a non-streamed request a stream with usage. */
static void edits_stream(struct edits *e, const struct proxy_migrate *m, const char *body, size_t len)
{
	edit_set(e, m, body, len, PROXY_JSON_T_STREAM, "stream", "true");
	edit_set(e, m, body, len, PROXY_JSON_T_STREAM_OPTIONS, "stream_options",
		 "{\"include_usage\":true}");
}

void proxy_migrate_init(struct proxy_migrate *m, bool chat, const char *body, size_t len,
			const struct proxy_json_req *jr)
{
	memset(m, 0, sizeof *m);
	m->chat = chat;
	m->client_stream = jr->stream == 1;
	m->root_off = jr->root_off;
	memcpy(m->top, jr->top, sizeof m->top);
	m->prompt_tokens = -1;
	snprintf(m->stop_reason, sizeof m->stop_reason, "null");
	m->refusal = refusal_of(m, body);
	m->migratable = m->refusal == NULL;
	if (m->client_stream) {
		const struct proxy_json_span *so = &m->top[PROXY_JSON_T_STREAM_OPTIONS];
		struct jspan k, v;
		size_t i = 0;
		const char *b = body + so->off;
		while (so->len && b[0] == '{' && j_member(b, so->len, &i, &k, &v))
			if (j_key(b, &k, "include_usage"))
				m->want_usage = v.len == 4 && memcmp(b + v.off, "true", 4) == 0;
	} else if (m->migratable) {
		m->assemble = true;
		struct edits e;
		memset(&e, 0, sizeof e);
		edits_stream(&e, m, body, len);
		edits_apply(&e, body, len, &m->body);
		edits_free(&e);
	}
}

void proxy_migrate_free(struct proxy_migrate *m)
{
	buf_free(&m->body);
	buf_free(&m->text);
	buf_free(&m->reasoning);
	buf_free(&m->ev);
	free(m->id);
	free(m->model);
	m->id = m->model = NULL;
}

bool proxy_migrate_handles(const struct proxy_migrate *m)
{
	return m->client_stream || m->assemble;
}

uint64_t proxy_migrate_tokens(const struct proxy_migrate *m)
{
	return m->base_tokens + m->seg_tokens;
}

/* ---------------------------------------------------------------- events */

/* What an event holds (spans in its data). */
struct chunk {
	struct jspan id, created, model;  /* len 0: absent */
	struct jspan error;               /* not null: an error event */
	struct jspan usage_p, usage_c, usage_t; /* usage's numbers */
	bool usage;                       /* a usage object */
	bool choice;                      /* choices has an element */
	struct jspan content, text, reasoning; /* strings */
	bool role, tool_calls;
	struct jspan finish, stop;        /* finish_reason (not null), stop_reason */
};

static void walk_chunk(const char *b, size_t n, struct chunk *c)
{
	memset(c, 0, sizeof *c);
	struct jspan k, v, k2, v2, k3, v3;
	size_t i = j_ws(b, n, 0);
	while (j_member(b, n, &i, &k, &v)) {
		if (j_key(b, &k, "id"))
			c->id = v;
		else if (j_key(b, &k, "created"))
			c->created = v;
		else if (j_key(b, &k, "model"))
			c->model = v;
		else if (j_key(b, &k, "error") && !j_null(b, &v))
			c->error = v;
		else if (j_key(b, &k, "usage") && j_is(b, &v, '{')) {
			c->usage = true;
			size_t u = v.off;
			while (j_member(b, n, &u, &k2, &v2)) {
				if (j_key(b, &k2, "prompt_tokens"))
					c->usage_p = v2;
				else if (j_key(b, &k2, "completion_tokens"))
					c->usage_c = v2;
				else if (j_key(b, &k2, "total_tokens"))
					c->usage_t = v2;
			}
		} else if (j_key(b, &k, "choices")) {
			struct jspan ch = j_first(b, n, &v);
			if (!j_is(b, &ch, '{'))
				continue;
			c->choice = true;
			size_t u = ch.off;
			while (j_member(b, n, &u, &k2, &v2)) {
				if (j_key(b, &k2, "text") && j_is(b, &v2, '"')) {
					c->text = v2;
				} else if (j_key(b, &k2, "finish_reason") && !j_null(b, &v2)) {
					c->finish = v2;
				} else if (j_key(b, &k2, "stop_reason")) {
					c->stop = v2;
				} else if (j_key(b, &k2, "delta") && j_is(b, &v2, '{')) {
					size_t d = v2.off;
					while (j_member(b, n, &d, &k3, &v3)) {
						if (j_key(b, &k3, "content") && j_is(b, &v3, '"'))
							c->content = v3;
						else if (j_key(b, &k3, "role") && !j_null(b, &v3))
							c->role = true;
						else if (j_key(b, &k3, "tool_calls") && !j_null(b, &v3) &&
							 !(j_is(b, &v3, '[') &&
							   j_first(b, n, &v3).len == 0))
							c->tool_calls = true;
						else if ((j_key(b, &k3, "reasoning_content") ||
							  j_key(b, &k3, "reasoning")) &&
							 j_is(b, &v3, '"'))
							c->reasoning = v3;
					}
				}
			}
		}
	}
}

/* Takes one event's data (B, N bytes, a JSON object): updates the state;
 * sets *DROP for a continuation's role-only chunk. 0, or -1 with ERR. */
static int take_chunk(struct proxy_migrate *m, const char *b, size_t n, const struct chunk *c,
		      bool *drop, char *err, size_t errlen)
{
	*drop = false;
	if (c->error.len) {
		struct jspan k, v;
		struct buf msg = BUF_INIT;
		size_t i = c->error.off;
		if (j_is(b, &c->error, '{')) {
			while (j_member(b, n, &i, &k, &v))
				if (j_key(b, &k, "message") && j_is(b, &v, '"'))
					j_str_append(b, &v, &msg);
		} else if (j_is(b, &c->error, '"')) {
			j_str_append(b, &c->error, &msg);
		}
		snprintf(err, errlen, "error event: %.300s", msg.len ? msg.data : "?");
		buf_free(&msg);
		return -1;
	}
	if (!m->id) {
		struct buf t = BUF_INIT;
		if (j_is(b, &c->id, '"'))
			j_str_append(b, &c->id, &t);
		m->id = buf_steal(&t);
		if (j_is(b, &c->model, '"'))
			j_str_append(b, &c->model, &t);
		m->model = buf_steal(&t);
		int64_t cr = j_int(b, &c->created);
		m->created = cr > 0 ? cr : 0;
	}
	if (c->usage) {
		int64_t p = j_int(b, &c->usage_p), cc = j_int(b, &c->usage_c);
		if (p >= 0 && m->prompt_tokens < 0)
			m->prompt_tokens = m->segment ? p - (int64_t)m->base_tokens : p;
		if (cc >= 0)
			m->seg_tokens = (uint64_t)cc;
		if (!c->choice)
			m->usage_seen = true;
	}
	if (!c->choice)
		return 0;
	size_t before = m->text.len, rbefore = m->reasoning.len;
	if (m->chat) {
		if (c->content.len > 2 && j_str_append(b, &c->content, &m->text) < 0)
			goto nul;
		if (c->reasoning.len > 2) {
			if (j_str_append(b, &c->reasoning, &m->reasoning) < 0)
				goto nul;
			m->thinking = true;
		}
		if (c->tool_calls)
			m->tool_calls = true;
	} else if (c->text.len > 2 && j_str_append(b, &c->text, &m->text) < 0) {
		goto nul;
	}
	bool content = m->text.len > before || m->reasoning.len > rbefore || c->tool_calls;
	if (content && !c->usage)
		m->seg_tokens++;
	if (c->finish.len) {
		m->finish_upstream = true;
		struct buf f = BUF_INIT;
		if (j_is(b, &c->finish, '"'))
			j_str_append(b, &c->finish, &f);
		snprintf(m->finish, sizeof m->finish, "%s", f.len ? f.data : "stop");
		buf_free(&f);
		if (c->stop.len && c->stop.len < sizeof m->stop_reason)
			snprintf(m->stop_reason, sizeof m->stop_reason, "%.*s", (int)c->stop.len,
				 b + c->stop.off);
		else
			snprintf(m->stop_reason, sizeof m->stop_reason, "null");
	}
	*drop = m->segment > 0 && c->role && !content && !c->finish.len && !c->usage;
	return 0;
nul:
	snprintf(err, errlen, "an event's text holds \\u0000 or a lone surrogate");
	return -1;
}

/* Appends to OUT the event B (N bytes of data) of segment > 0 with the
 * first id, created and model, and a usage that counts the whole
 * generation. */
static void splice_event(const struct proxy_migrate *m, const char *b, size_t n,
			 const struct chunk *c, struct buf *out)
{
	struct edits e;
	memset(&e, 0, sizeof e);
	if (c->id.len)
		buf_json_str(edit_add(&e, c->id.off, c->id.len), m->id, strlen(m->id));
	if (c->created.len)
		buf_printf(edit_add(&e, c->created.off, c->created.len), "%" PRId64, m->created);
	if (c->model.len)
		buf_json_str(edit_add(&e, c->model.off, c->model.len), m->model, strlen(m->model));
	int64_t p = j_int(b, &c->usage_p), cc = j_int(b, &c->usage_c);
	if (c->usage && p >= 0 && cc >= 0) {
		int64_t base = (int64_t)m->base_tokens;
		int64_t np = p >= base ? p - base : p, nc = cc + base;
		buf_printf(edit_add(&e, c->usage_p.off, c->usage_p.len), "%" PRId64, np);
		buf_printf(edit_add(&e, c->usage_c.off, c->usage_c.len), "%" PRId64, nc);
		if (c->usage_t.len)
			buf_printf(edit_add(&e, c->usage_t.off, c->usage_t.len), "%" PRId64, np + nc);
	}
	struct buf ed = BUF_INIT;
	edits_apply(&e, b, n, &ed);
	edits_free(&e);
	/* One line: data sent on several lines was joined with newlines, which
	 * can only be whitespace between JSON tokens. */
	for (size_t i = 0; i < ed.len; i++)
		if (ed.data[i] == '\n')
			ed.data[i] = ' ';
	buf_puts(out, "data: ");
	buf_append(out, ed.data, ed.len);
	buf_puts(out, "\n\n");
	buf_free(&ed);
}

/* One whole event: RAW (LEN bytes, its blank line included). */
static int take_event(struct proxy_migrate *m, const char *raw, size_t len, struct buf *out,
		      char *err, size_t errlen)
{
	/* Its data: the "data:" lines joined with newlines. */
	struct buf joined = BUF_INIT;
	const char *data = NULL;
	size_t dlen = 0;
	unsigned ndata = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(raw + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - raw) : len, l = end - pos;
		if (l && raw[end - 1] == '\r')
			l--;
		if (l >= 5 && memcmp(raw + pos, "data:", 5) == 0) {
			size_t v = pos + 5;
			if (v < pos + l && raw[v] == ' ')
				v++;
			if (ndata++ == 0) {
				data = raw + v;
				dlen = pos + l - v;
			} else {
				if (ndata == 2)
					buf_append(&joined, data, dlen);
				buf_putc(&joined, '\n');
				buf_append(&joined, raw + v, pos + l - v);
			}
		}
		pos = end + 1;
	}
	if (ndata > 1) {
		data = joined.data;
		dlen = joined.len;
	}
	int rc = 0;
	bool pass = m->client_stream;
	if (!ndata) {
		/* A comment or another field: clients skip it; passed on as it is. */
		if (pass)
			buf_append(out, raw, len);
		goto out;
	}
	if (dlen == 6 && memcmp(data, "[DONE]", 6) == 0) {
		m->started = true;
		m->done = true;
		if (pass)
			buf_puts(out, "data: [DONE]\n\n");
		goto out;
	}
	char e[160];
	if (proxy_json_check(data, dlen, e, sizeof e) < 0) {
		if (strncmp(e, "the body is not", 15) == 0)
			snprintf(err, errlen, "%s event is not a JSON object",
				 m->started ? "an" : "its first");
		else
			snprintf(err, errlen, "%s event is not JSON: %s", m->started ? "an" : "its first",
				 e);
		rc = -1;
		goto out;
	}
	struct chunk c;
	walk_chunk(data, dlen, &c);
	if (m->segment == 0 && !m->started && !m->assemble && c.error.len) {
		/* A stream that begins with an error: passed on, as before. */
		m->started = true;
		buf_append(out, raw, len);
		goto out;
	}
	bool drop;
	if (take_chunk(m, data, dlen, &c, &drop, err, errlen) < 0) {
		rc = -1;
		goto out;
	}
	m->started = true;
	if (pass && m->segment == 0)
		buf_append(out, raw, len);
	else if (pass && !drop)
		splice_event(m, data, dlen, &c, out);
out:
	buf_free(&joined);
	return rc;
}

int proxy_migrate_feed(struct proxy_migrate *m, const char *data, size_t len, struct buf *out,
		       char *err, size_t errlen)
{
	if (m->done)
		return 0;
	buf_append(&m->ev, data, len);
	size_t start = 0, pos = m->ev_scan;
	int rc = 0;
	/* Events end at an empty line; lines end with LF or CRLF. POS is
	 * always the start of a line. */
	while (pos < m->ev.len) {
		const char *nl = memchr(m->ev.data + pos, '\n', m->ev.len - pos);
		if (!nl)
			break;
		size_t ls = pos, end = (size_t)(nl - m->ev.data);
		bool empty = end == ls || (end == ls + 1 && m->ev.data[ls] == '\r');
		pos = end + 1;
		if (!empty)
			continue;
		/* (A blank line with no event before it is skipped.) */
		if (ls > start && take_event(m, m->ev.data + start, pos - start, out, err, errlen) < 0) {
			rc = -1;
			break;
		}
		start = pos;
		if (m->done)
			break;
	}
	if (rc < 0 || m->done) {
		buf_reset(&m->ev);
		m->ev_scan = 0;
		return rc;
	}
	/* Keep the event not complete yet; its end is looked for from the
	 * start of its last line. */
	size_t keep = m->ev.len - start;
	if (keep > PROXY_MIGRATE_EVENT_MAX) {
		snprintf(err, errlen, "an event longer than %u bytes", PROXY_MIGRATE_EVENT_MAX);
		buf_reset(&m->ev);
		m->ev_scan = 0;
		return -1;
	}
	if (start) {
		memmove(m->ev.data, m->ev.data + start, keep);
		m->ev.len = keep;
		m->ev.data[keep] = '\0';
	}
	m->ev_scan = pos - start;
	return 0;
}

void proxy_migrate_reset_segment(struct proxy_migrate *m)
{
	m->started = false;
	m->done = false;
	m->seg_tokens = 0;
	m->usage_seen = false;
	m->finish_upstream = false;
	m->finish[0] = '\0';
	buf_reset(&m->ev);
	m->ev_scan = 0;
	if (m->segment == 0) {
		/* Nothing of it was taken: the first event sets these again. */
		free(m->id);
		free(m->model);
		m->id = m->model = NULL;
		buf_reset(&m->text);
		buf_reset(&m->reasoning);
	}
}

/* ---------------------------------------------------------------- continuation */

int proxy_migrate_continue(struct proxy_migrate *m, const char *body, size_t len, unsigned max,
			   char *why, size_t whylen)
{
	if (m->finish[0])
		return 0; /* the last token came; only the end is missing */
	uint64_t tokens = proxy_migrate_tokens(m);
	int64_t mt = -1, mc = -1, mn = -1;
	span_int(m, body, PROXY_JSON_T_MAX_TOKENS, &mt);
	span_int(m, body, PROXY_JSON_T_MAX_COMPLETION, &mc);
	span_int(m, body, PROXY_JSON_T_MIN_TOKENS, &mn);
	/* vLLM takes max_completion_tokens before max_tokens. */
	int64_t limit = mc >= 0 ? mc : mt;
	if (limit >= 0 && (int64_t)tokens >= limit) {
		snprintf(m->finish, sizeof m->finish, "length");
		return 0;
	}
	if (!m->migratable) {
		snprintf(why, whylen, "the request cannot be migrated (%s)", m->refusal);
		return -1;
	}
	if (m->tool_calls) {
		snprintf(why, whylen, "the stream carried tool calls");
		return -1;
	}
	if (m->thinking) {
		snprintf(why, whylen, "the stream carried reasoning");
		return -1;
	}
	if (m->segment >= max) {
		snprintf(why, whylen, "%u migration%s made already (max_migrations)", m->segment,
			 m->segment == 1 ? "" : "s");
		return -1;
	}
	struct edits e;
	memset(&e, 0, sizeof e);
	if (m->assemble)
		edits_stream(&e, m, body, len);
	char num[32];
	int64_t vals[3] = {mt, mc, mn};
	int keys[3] = {PROXY_JSON_T_MAX_TOKENS, PROXY_JSON_T_MAX_COMPLETION, PROXY_JSON_T_MIN_TOKENS};
	for (int i = 0; i < 3; i++) {
		if (vals[i] < 0 || !m->top[keys[i]].len)
			continue;
		int64_t left = vals[i] - (int64_t)tokens;
		/* A max below 1 is refused; only the one that counts matters. */
		if (left < (i < 2 ? 1 : 0))
			left = i < 2 ? 1 : 0;
		snprintf(num, sizeof num, "%" PRId64, left);
		buf_puts(edit_add(&e, m->top[keys[i]].off, m->top[keys[i]].len), num);
	}
	struct buf esc = BUF_INIT;
	buf_json_str(&esc, m->text.data ? m->text.data : "", m->text.len);
	if (m->chat) {
		const struct proxy_json_span *s = &m->top[PROXY_JSON_T_MESSAGES];
		bool empty = true;
		for (size_t i = s->off + 1; i + 1 < s->off + s->len && empty; i++)
			if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r')
				empty = false;
		struct buf *b = edit_add(&e, s->off + s->len - 1, 0);
		buf_puts(b, empty ? "{\"role\":\"assistant\",\"content\":"
				  : ",{\"role\":\"assistant\",\"content\":");
		buf_append(b, esc.data, esc.len);
		buf_putc(b, '}');
		edit_set(&e, m, body, len, PROXY_JSON_T_CONTINUE_FINAL, "continue_final_message", "true");
		edit_set(&e, m, body, len, PROXY_JSON_T_ADD_GEN_PROMPT, "add_generation_prompt", "false");
	} else {
		const struct proxy_json_span *s = &m->top[PROXY_JSON_T_PROMPT];
		/* The text escaped, without its quotes, before the prompt's closing quote. */
		buf_append(edit_add(&e, s->off + s->len - 1, 0), esc.data + 1, esc.len - 2);
	}
	buf_free(&esc);
	edits_apply(&e, body, len, &m->body);
	edits_free(&e);
	/* The next segment. */
	m->base_tokens = tokens;
	m->seg_tokens = 0;
	m->segment++;
	m->started = false;
	m->done = false;
	m->usage_seen = false;
	buf_reset(&m->ev);
	m->ev_scan = 0;
	return 1;
}

/* ---------------------------------------------------------------- endings */

/* The start of a chunk the proxy makes: {"id":..,"object":..,"created":..,"model":.. */
static void chunk_head(const struct proxy_migrate *m, struct buf *out, const char *object)
{
	const char *id = m->id ? m->id : "", *model = m->model ? m->model : "";
	buf_puts(out, "{\"id\":");
	buf_json_str(out, id, strlen(id));
	buf_printf(out, ",\"object\":\"%s\",\"created\":%" PRId64 ",\"model\":", object, m->created);
	buf_json_str(out, model, strlen(model));
}

/* ,"usage":{...} of the whole generation, or null when unknown. */
static void usage_json(const struct proxy_migrate *m, struct buf *out)
{
	if (m->prompt_tokens < 0) {
		buf_puts(out, ",\"usage\":null");
		return;
	}
	uint64_t c = proxy_migrate_tokens(m);
	buf_printf(out,
		   ",\"usage\":{\"prompt_tokens\":%" PRId64 ",\"total_tokens\":%" PRIu64
		   ",\"completion_tokens\":%" PRIu64 "}",
		   m->prompt_tokens, (uint64_t)m->prompt_tokens + c, c);
}

void proxy_migrate_complete(struct proxy_migrate *m, struct buf *out)
{
	const char *object = m->chat ? "chat.completion.chunk" : "text_completion";
	if (!m->finish[0])
		snprintf(m->finish, sizeof m->finish, "length");
	if (!m->done && m->client_stream) {
		if (!m->finish_upstream) {
			/* The limit was reached without a last chunk saying so. */
			buf_puts(out, "data: ");
			chunk_head(m, out, object);
			buf_printf(out, ",\"choices\":[{\"index\":0,%s\"logprobs\":null,"
					"\"finish_reason\":\"length\",\"stop_reason\":null}]}\n\n",
				   m->chat ? "\"delta\":{}," : "\"text\":\"\",");
		}
		if (m->want_usage && !m->usage_seen && m->prompt_tokens >= 0) {
			buf_puts(out, "data: ");
			chunk_head(m, out, object);
			buf_puts(out, ",\"choices\":[]");
			usage_json(m, out);
			buf_puts(out, "}\n\n");
		}
		buf_puts(out, "data: [DONE]\n\n");
	}
	m->done = true;
}

void proxy_migrate_answer(const struct proxy_migrate *m, struct buf *out)
{
	chunk_head(m, out, m->chat ? "chat.completion" : "text_completion");
	const char *text = m->text.data ? m->text.data : "";
	buf_puts(out, ",\"choices\":[{\"index\":0,");
	if (m->chat) {
		buf_puts(out, "\"message\":{\"role\":\"assistant\",\"content\":");
		buf_json_str(out, text, m->text.len);
		if (m->reasoning.len) {
			buf_puts(out, ",\"reasoning_content\":");
			buf_json_str(out, m->reasoning.data, m->reasoning.len);
		}
		buf_puts(out, ",\"tool_calls\":[]},");
	} else {
		buf_puts(out, "\"text\":");
		buf_json_str(out, text, m->text.len);
		buf_putc(out, ',');
	}
	buf_puts(out, "\"logprobs\":null,\"finish_reason\":");
	if (m->finish[0])
		buf_json_str(out, m->finish, strlen(m->finish));
	else
		buf_puts(out, "null");
	buf_printf(out, ",\"stop_reason\":%s}]", m->stop_reason);
	usage_json(m, out);
	buf_putc(out, '}');
}

void proxy_migrate_error_event(struct buf *out, int status, const char *msg)
{
	buf_puts(out, "data: ");
	oai_error_json(out, status, msg, NULL);
	buf_puts(out, "\n\ndata: [DONE]\n\n");
}
