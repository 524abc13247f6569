/* rs_tools.c — the deep-research tools: their schema for the model, the
 * dispatch of a call, sessions, and what every tool shares (a call to a
 * service, its errors, text helpers). The tools themselves are in
 * rs_tool_web.c (web_search), rs_tool_page.c (open_page, find_in_page)
 * and rs_tool_papers.c (paper_search, pubmed_search).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "rs_http.h"
#include "rs_tools_impl.h"

#define RS_JSON_DEPTH 64
#define RS_SERVICE_MAX_BODY (8u << 20)

static const char *const rs_names[RS_NTOOLS] = {
	[RS_WEB_SEARCH] = "web_search",
	[RS_OPEN_PAGE] = "open_page",
	[RS_FIND_IN_PAGE] = "find_in_page",
	[RS_PAPER_SEARCH] = "paper_search",
	[RS_PUBMED_SEARCH] = "pubmed_search",
};

int rs_tool_find(const char *name)
{
	for (int i = 0; name && i < RS_NTOOLS; i++)
		if (strcmp(rs_names[i], name) == 0)
			return i;
	return -1;
}

const char *rs_tool_name(enum rs_tool_id id)
{
	return (unsigned)id < RS_NTOOLS ? rs_names[id] : NULL;
}

/* ---------------------------------------------------------------- schema */

/* The tools for the model, OpenAI's function format. Descriptions say what
 * each returns and how the tools chain. */
static const char rs_schema_json[] =
	"["
	"{\"type\":\"function\",\"function\":{\"name\":\"web_search\","
	"\"description\":\"Search the web (Google). Returns numbered results, each with a title, "
	"URL and snippet, plus a direct answer when Google has one. Snippets are short: call "
	"open_page on a promising URL to read the page itself.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"description\":\"What to search for, as you would type it "
	"into Google; quotes, site: and - work.\"}},"
	"\"required\":[\"query\"]}}},"
	"{\"type\":\"function\",\"function\":{\"name\":\"open_page\","
	"\"description\":\"Read a web page or PDF as text (Markdown). Returns its title, URL and "
	"text. A long page is cut, and the cut is marked; find_in_page then searches the whole "
	"page, past the cut too.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{"
	"\"url\":{\"type\":\"string\",\"description\":\"The http:// or https:// URL to read, "
	"e.g. from a web_search result.\"}},"
	"\"required\":[\"url\"]}}},"
	"{\"type\":\"function\",\"function\":{\"name\":\"find_in_page\","
	"\"description\":\"Find text in the page opened last with open_page (all of it, also "
	"what was cut). Case-insensitive. Returns each matching line with its line number.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{"
	"\"pattern\":{\"type\":\"string\",\"description\":\"The text to find, e.g. a name, a "
	"number or a word of the answer.\"},"
	"\"regex\":{\"type\":\"boolean\",\"description\":\"Treat pattern as a POSIX extended "
	"regular expression (default false).\"}},"
	"\"required\":[\"pattern\"]}}},"
	"{\"type\":\"function\",\"function\":{\"name\":\"paper_search\","
	"\"description\":\"Search scientific papers (Semantic Scholar). mode metadata returns "
	"papers with title, authors, year, venue, citation count, ids (DOI, PMID, arXiv) and "
	"the start of the abstract; mode snippets returns passages of papers' text that match "
	"the query, with the paper each comes from.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"description\":\"Keywords or a question about the "
	"research.\"},"
	"\"mode\":{\"type\":\"string\",\"enum\":[\"metadata\",\"snippets\"],\"description\":"
	"\"metadata (default): papers; snippets: matching passages of their text.\"}},"
	"\"required\":[\"query\"]}}},"
	"{\"type\":\"function\",\"function\":{\"name\":\"pubmed_search\","
	"\"description\":\"Search PubMed (biomedical and life-science literature). Returns "
	"articles with title, authors, journal, date, PMID and DOI. To read an abstract, "
	"open_page https://pubmed.ncbi.nlm.nih.gov/PMID/.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"description\":\"A PubMed query; its syntax works, "
	"e.g. asthma[ti] AND 2020[dp].\"}},"
	"\"required\":[\"query\"]}}}"
	"]";

struct json_object *rs_tools_schema(void)
{
	struct json_object *j = json_tokener_parse(rs_schema_json);
	if (!j)
		abort(); /* a bug in the string above; the unit tests parse it */
	return j;
}

/* ---------------------------------------------------------------- sessions */

struct rs_session *rs_session_new(const struct rs_conf *c)
{
	struct rs_session *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->conf = c;
	return s;
}

void rs_session_free(struct rs_session *s)
{
	if (!s)
		return;
	free(s->page);
	free(s->page_url);
	free(s->page_title);
	free(s);
}

/* ---------------------------------------------------------------- text */

size_t rs_utf8_cut(const char *s, size_t len, size_t max)
{
	if (max >= len)
		return len;
	size_t n = max;
	/* back over continuation bytes, at most 3 */
	for (int i = 0; i < 4 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
		n--;
	return n;
}

void rs_put_utf8(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t bad;
		if (buf_utf8_valid(s + i, len - i, &bad)) {
			bad = len - i;
		}
		/* copy the valid run without its NULs */
		for (size_t k = 0; k < bad;) {
			const char *z = memchr(s + i + k, 0, bad - k);
			size_t run = z ? (size_t)(z - (s + i + k)) : bad - k;
			buf_append(out, s + i + k, run);
			k += run + (z != NULL);
		}
		i += bad;
		if (i < len) {
			buf_puts(out, "\xEF\xBF\xBD");
			i++;
			/* and the continuation bytes of the broken sequence */
			while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
				i++;
		}
	}
}

void rs_put_line(struct buf *out, const char *s, size_t max)
{
	if (!s)
		return;
	size_t start = out->len;
	int space = 0;
	for (const char *p = s; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = out->len > start;
			continue;
		}
		if (space)
			buf_putc(out, ' ');
		space = 0;
		buf_putc(out, *p);
		if (out->len - start > max + 4)
			break;
	}
	size_t n = out->len - start;
	if (n > max) {
		size_t cut = rs_utf8_cut(out->data + start, n, max);
		while (cut > 0 && out->data[start + cut - 1] == ' ')
			cut--;
		out->len = start + cut;
		out->data[out->len] = 0;
		buf_puts(out, "...");
	}
}

const char *rs_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

struct json_object *rs_json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	if (len > 0x7fffffff) {
		snprintf(err, errlen, "too large");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(RS_JSON_DEPTH);
	if (!tok)
		abort();
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		if (je == json_tokener_continue || je == json_tokener_success)
			snprintf(err, errlen, "unexpected end of input");
		else
			snprintf(err, errlen, "%s at byte %zu", json_tokener_error_desc(je), used);
		return NULL;
	}
	while (used < len && strchr(" \t\r\n", s[used]))
		used++;
	if (used < len) {
		snprintf(err, errlen, "trailing data at byte %zu", used);
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- a service */

/* Appends S with every occurrence of KEY replaced by "***". */
static void rs_put_redacted(struct buf *out, const char *s, const char *key)
{
	size_t kl = key ? strlen(key) : 0;
	if (kl < 4) { /* a key that short would blank out ordinary words */
		buf_puts(out, s);
		return;
	}
	for (const char *p = s;;) {
		const char *k = strstr(p, key);
		if (!k) {
			buf_puts(out, p);
			return;
		}
		buf_append(out, p, (size_t)(k - p));
		buf_puts(out, "***");
		p = k + kl;
	}
}

void rs_service_message(struct buf *out, const char *body, size_t len, const char *key)
{
	char jerr[64];
	struct buf msg = BUF_INIT;
	struct json_object *j = len ? rs_json_parse(body, len, jerr, sizeof jerr) : NULL;
	const char *m = NULL;
	if (j && json_object_is_type(j, json_type_object)) {
		struct json_object *e;
		m = rs_jstr(j, "readableMessage");
		if (!m)
			m = rs_jstr(j, "message");
		if (!m)
			m = rs_jstr(j, "error");
		if (!m && json_object_object_get_ex(j, "error", &e))
			m = rs_jstr(e, "message");
		if (!m)
			m = rs_jstr(j, "detail");
		if (!m && json_object_object_get_ex(j, "esearchresult", &e))
			m = rs_jstr(e, "ERROR");
		if (m)
			rs_put_line(&msg, m, 300);
	} else if (!j && len && body[0] != '<') {
		/* a text answer: its first line */
		size_t l = strcspn(body, "\r\n");
		struct buf line = BUF_INIT;
		rs_put_utf8(&line, body, l < 1000 ? l : 1000);
		rs_put_line(&msg, line.data, 300);
		buf_free(&line);
	}
	if (msg.len)
		rs_put_redacted(out, msg.data, key);
	buf_free(&msg);
	json_object_put(j);
}

int rs_bad_shape(struct buf *out, const char *service, const char *what)
{
	buf_printf(out, "error: %s answered with JSON of an unexpected shape: %s", service, what);
	return -1;
}

int rs_service(const struct rs_session *s, const struct rs_req *r, struct json_object **json,
	       struct buf *raw, struct buf *out, struct rs_tool_stat *st)
{
	const struct rs_conf *c = s->conf;
	struct buf body = BUF_INIT;
	char err[512];
	long status = 0;
	int attempts = 0, ret = -1;
	struct rs_http_opts o = {
		.timeout_ms = c->timeout_ms[r->tool],
		.retries = c->retries,
		.backoff_ms = c->backoff_ms,
		.headers = r->headers,
		.max_body = RS_SERVICE_MAX_BODY,
		.attempts = &attempts,
	};
	*json = NULL;
	int rc = rs_http(r->method, r->url, r->body, &o, &status, &body, err, sizeof err);
	st->http_calls += attempts;
	if (rc < 0) {
		buf_printf(out, "error: %s did not answer: ", r->service);
		rs_put_redacted(out, err, c->key[r->tool]);
		goto cleanup;
	}
	if (status < 200 || status > 299) {
		buf_printf(out, "error: %s answered HTTP %ld", r->service, status);
		if (attempts > 1)
			buf_printf(out, " after %d attempts", attempts);
		size_t before = out->len;
		buf_puts(out, ": ");
		size_t mark = out->len;
		rs_service_message(out, body.data, body.len, c->key[r->tool]);
		if (out->len == mark) {
			out->len = before;
			out->data[out->len] = 0;
		}
		if (status == 401 || status == 403)
			buf_puts(out, " (is the API key right?)");
		goto cleanup;
	}
	*json = body.len ? rs_json_parse(body.data, body.len, err, sizeof err) : NULL;
	if (*json) {
		ret = 0;
	} else if (r->text_ok && body.len) {
		buf_reset(raw);
		buf_append(raw, body.data, body.len);
		ret = 1;
	} else {
		buf_printf(out, "error: %s answered with something that is not JSON (HTTP %ld, %zu bytes)",
			   r->service, status, body.len);
	}
cleanup:
	buf_free(&body);
	return ret;
}

/* ---------------------------------------------------------------- running a tool */

const char *rs_arg_str(struct json_object *args, const char *tool, const char *name, struct buf *out)
{
	const char *v = rs_jstr(args, name);
	if (v) {
		while (isspace((unsigned char)*v))
			v++;
		if (*v)
			return v;
	}
	buf_printf(out, "error: %s needs a string '%s'", tool, name);
	return NULL;
}

static double rs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int rs_tool_run(struct rs_session *s, const char *name, const char *args,
		struct buf *out, struct rs_tool_stat *st)
{
	struct rs_tool_stat dummy;
	struct buf res = BUF_INIT;
	struct json_object *a = NULL;
	double t0 = rs_now();
	int ret = -1, id = rs_tool_find(name);
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);

	if (id < 0) {
		buf_puts(&res, "error: unknown tool '");
		rs_put_line(&res, name ? name : "", 100);
		buf_puts(&res, "'; the tools are");
		for (int i = 0; i < RS_NTOOLS; i++)
			buf_printf(&res, "%s %s", i ? "," : "", rs_names[i]);
		goto done;
	}
	const char *p = args ? args : "";
	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		a = json_object_new_object();
	} else {
		char err[128];
		a = rs_json_parse(p, strlen(p), err, sizeof err);
		if (!a) {
			buf_printf(&res, "error: the arguments of %s are not JSON (%s)", name, err);
			goto done;
		}
		if (!json_object_is_type(a, json_type_object)) {
			buf_printf(&res, "error: the arguments of %s must be a JSON object", name);
			goto done;
		}
	}
	switch ((enum rs_tool_id)id) {
	case RS_WEB_SEARCH: ret = rs_tool_web_search(s, a, &res, st); break;
	case RS_OPEN_PAGE: ret = rs_tool_open_page(s, a, &res, st); break;
	case RS_FIND_IN_PAGE: ret = rs_tool_find_in_page(s, a, &res, st); break;
	case RS_PAPER_SEARCH: ret = rs_tool_paper_search(s, a, &res, st); break;
	case RS_PUBMED_SEARCH: ret = rs_tool_pubmed_search(s, a, &res, st); break;
	case RS_NTOOLS: break;
	}
done:
	/* what the model gets is a JSON string: valid UTF-8, no NUL */
	rs_put_utf8(out, res.data ? res.data : "", res.len);
	st->failed = ret < 0;
	st->seconds = rs_now() - t0;
	buf_free(&res);
	json_object_put(a);
	return ret < 0 ? -1 : 0;
}
