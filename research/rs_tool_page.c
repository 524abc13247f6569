/* rs_tool_page.c — open_page through Jina Reader (r.jina.ai), and
 * find_in_page over the page the session opened last.
 *
 *   GET {base}/{URL}   Accept: application/json   Authorization: Bearer KEY (optional:
 *   without one Jina serves fewer requests a minute)
 *   200 {"code": 200, "status": 20000, "data": {"title", "description", "url",
 *        "content", "warning"?, "usage": {"tokens"}}}
 *   or, from a Reader that ignores Accept, text: "Title: ...\nURL Source: ...\n
 *   Markdown Content:\n..."
 *   errors: {"data": null, "code": 422, "name": "...", "status": 42206,
 *            "message": "...", "readableMessage": "..."}
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "rs_tools_impl.h"

#define RS_JINA "Jina Reader"
#define RS_FIND_MAX 20      /* matching lines shown */
#define RS_FIND_LINE 300    /* a line longer than this is shown around the match */

void rs_page_free(struct rs_page *p)
{
	free(p->title);
	free(p->url);
	free(p->warning);
	free(p->text);
	memset(p, 0, sizeof *p);
}

static char *rs_strndup0(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		abort();
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* The rest of the line after PREFIX when LINE (in TEXT) starts with it. */
static char *rs_text_field(const char *text, const char *end, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *l = text; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *le = nl ? nl : end;
		if ((size_t)(le - l) >= pl && strncmp(l, prefix, pl) == 0) {
			const char *v = l + pl;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			return rs_strndup0(v, (size_t)(ve - v));
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	return NULL;
}

int rs_jina_page(struct json_object *j, const char *body, size_t len, struct rs_page *p, struct buf *out)
{
	memset(p, 0, sizeof *p);
	if (j) {
		struct json_object *d;
		if (!json_object_is_type(j, json_type_object) || !json_object_object_get_ex(j, "data", &d) ||
		    !json_object_is_type(d, json_type_object))
			return rs_bad_shape(out, RS_JINA, "no \"data\" object");
		const char *text = rs_jstr(d, "content");
		if (!text)
			text = rs_jstr(d, "text");
		if (!text)
			return rs_bad_shape(out, RS_JINA, "no \"data.content\" text");
		struct json_object *tv = NULL;
		json_object_object_get_ex(d, rs_jstr(d, "content") ? "content" : "text", &tv);
		p->text_len = (size_t)json_object_get_string_len(tv);
		p->text = rs_strndup0(text, p->text_len);
		p->title = strdup(rs_jstr(d, "title") ? rs_jstr(d, "title") : "");
		p->url = strdup(rs_jstr(d, "url") ? rs_jstr(d, "url") : "");
		if (rs_jstr(d, "warning") && *rs_jstr(d, "warning"))
			p->warning = strdup(rs_jstr(d, "warning"));
		return 0;
	}
	/* the text shape: a head of "Name: value" lines, then the content */
	if (len < 6 || strncmp(body, "Title:", 6) != 0) {
		buf_puts(out, "error: " RS_JINA " answered with something that is not JSON");
		return -1;
	}
	static const char mark[] = "Markdown Content:";
	const char *end = body + len, *content = body + len;
	const char *m = memmem(body, len, mark, sizeof mark - 1);
	if (m) {
		content = m + sizeof mark - 1;
		while (content < end && *content != '\n')
			content++;
		if (content < end)
			content++;
	}
	const char *head_end = m ? m : end;
	p->title = rs_text_field(body, head_end, "Title:");
	p->url = rs_text_field(body, head_end, "URL Source:");
	p->warning = rs_text_field(body, head_end, "Warning:");
	if (!p->url)
		p->url = strdup("");
	if (!m) {
		/* no content mark: everything after the head's first blank line */
		const char *blank = memmem(body, len, "\n\n", 2);
		content = blank ? blank + 2 : end;
	}
	p->text_len = (size_t)(end - content);
	p->text = rs_strndup0(content, p->text_len);
	return 0;
}

void rs_render_page(const struct rs_session *s, size_t page_max, struct buf *out)
{
	buf_puts(out, "Title: ");
	rs_put_line(out, *s->page_title ? s->page_title : "(none)", 300);
	buf_puts(out, "\nURL: ");
	rs_put_line(out, s->page_url, 1000);
	buf_puts(out, "\n\n");
	if (!s->page_len) {
		buf_puts(out, "(the page has no text)");
		return;
	}
	size_t n = rs_utf8_cut(s->page, s->page_len, page_max);
	buf_append(out, s->page, n);
	if (n < s->page_len)
		buf_printf(out, "\n\n[... truncated: %zu of %zu bytes shown; use find_in_page]",
			   n, s->page_len);
}

/* Checks a URL for open_page; returns it (in FIXED when a scheme was
 * added) or NULL after appending the error to OUT. */
static const char *rs_check_page_url(const char *url, struct buf *fixed, struct buf *out)
{
	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			buf_puts(out, "error: '");
			rs_put_line(out, url, 200);
			buf_puts(out, "' is not a URL (it has spaces or control characters)");
			return NULL;
		}
	}
	if (!strstr(url, "://") && isalnum((unsigned char)url[0]) && strchr(url, '.') &&
	    !strchr(url, ':')) {
		/* example.org/page: the model left the scheme out */
		buf_printf(fixed, "https://%s", url);
		url = fixed->data;
	}
	size_t sl = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	if (sl > 0 && url[sl] == ':' && isalpha((unsigned char)url[0]) &&
	    !(sl == 4 && strncasecmp(url, "http", 4) == 0) && !(sl == 5 && strncasecmp(url, "https", 5) == 0)) {
		buf_puts(out, "error: open_page reads http:// and https:// URLs only, not '");
		rs_put_line(out, url, 200);
		buf_puts(out, "'");
		return NULL;
	}
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *ret = NULL;
	if (!u)
		abort();
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		buf_puts(out, "error: '");
		rs_put_line(out, url, 200);
		buf_printf(out, "' is not a URL (%s)", curl_url_strerror(rc));
	} else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		buf_puts(out, "error: open_page reads http:// and https:// URLs only, not '");
		rs_put_line(out, url, 200);
		buf_puts(out, "'");
	} else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		buf_puts(out, "error: '");
		rs_put_line(out, url, 200);
		buf_puts(out, "' is not a URL (no host)");
	} else {
		ret = url;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

int rs_tool_open_page(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st)
{
	const struct rs_conf *c = s->conf;
	const char *arg = rs_arg_str(args, "open_page", "url", out);
	if (!arg)
		return -1;
	struct buf fixed = BUF_INIT, url = BUF_INIT, auth = BUF_INIT, raw = BUF_INIT;
	struct json_object *j = NULL;
	struct rs_page pg = {0};
	int ret = -1;
	const char *target = rs_check_page_url(arg, &fixed, out);
	if (!target)
		goto cleanup;
	/* Jina takes the page's URL as the path; a fragment is not sent */
	buf_printf(&url, "%s/", c->base_url[RS_OPEN_PAGE]);
	buf_append(&url, target, strcspn(target, "#"));
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	if (c->key[RS_OPEN_PAGE]) {
		buf_printf(&auth, "Authorization: Bearer %s", c->key[RS_OPEN_PAGE]);
		headers[1] = auth.data;
	}
	struct rs_req r = {
		.tool = RS_OPEN_PAGE, .service = RS_JINA, .method = "GET",
		.url = url.data, .headers = headers, .text_ok = true,
	};
	int rc = rs_service(s, &r, &j, &raw, out, st);
	if (rc < 0 || rs_jina_page(rc == 0 ? j : NULL, raw.data, raw.len, &pg, out) < 0)
		goto cleanup;
	free(s->page);
	free(s->page_url);
	free(s->page_title);
	s->page = pg.text;
	s->page_len = pg.text_len;
	s->page_url = *pg.url ? pg.url : strdup(target);
	if (!*pg.url)
		free(pg.url);
	s->page_title = pg.title ? pg.title : strdup("");
	pg.text = pg.url = pg.title = NULL;
	if (pg.warning) {
		buf_puts(out, "Warning: ");
		rs_put_line(out, pg.warning, 300);
		buf_putc(out, '\n');
	}
	rs_render_page(s, c->page_max, out);
	ret = 0;
cleanup:
	rs_page_free(&pg);
	json_object_put(j);
	buf_free(&fixed);
	buf_free(&url);
	buf_free(&auth);
	buf_free(&raw);
	return ret;
}

/* ---------------------------------------------------------------- find_in_page */

/* The first case-insensitive (ASCII) occurrence of N (NL bytes) in H (HL
 * bytes), or NULL. */
static const char *rs_memcasemem(const char *h, size_t hl, const char *n, size_t nl)
{
	if (nl == 0 || nl > hl)
		return NULL;
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t k = 0;
		while (k < nl && tolower((unsigned char)h[i + k]) == tolower((unsigned char)n[k]))
			k++;
		if (k == nl)
			return h + i;
	}
	return NULL;
}

/* Appends the line L (LEN bytes) around the match at OFF (MLEN bytes). */
static void rs_put_excerpt(struct buf *out, const char *l, size_t len, size_t off, size_t mlen)
{
	struct buf ex = BUF_INIT;
	size_t a = 0, b = len;
	if (len > RS_FIND_LINE) {
		a = off > RS_FIND_LINE / 3 ? off - RS_FIND_LINE / 3 : 0;
		b = off + mlen + RS_FIND_LINE * 2 / 3;
		if (b > len)
			b = len;
		while (a > 0 && a < len && ((unsigned char)l[a] & 0xC0) == 0x80)
			a++;
		b = rs_utf8_cut(l, len, b);
	}
	if (a > 0)
		buf_puts(&ex, "...");
	buf_append(&ex, l + a, b - a);
	if (b < len)
		buf_puts(&ex, "...");
	rs_put_line(out, ex.data ? ex.data : "", RS_FIND_LINE + 20);
	buf_free(&ex);
}

int rs_find_in_page(const struct rs_session *s, const char *pattern, bool regex, struct buf *out)
{
	regex_t re;
	struct buf line = BUF_INIT, hits = BUF_INIT;
	size_t nlines = 0, matched = 0, plen = strlen(pattern);
	if (!s->page) {
		buf_puts(out, "error: no page is open; call open_page first");
		return -1;
	}
	if (regex) {
		int rc = regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NEWLINE);
		if (rc) {
			char m[128];
			regerror(rc, &re, m, sizeof m);
			buf_printf(out, "error: find_in_page: bad regular expression: %s", m);
			return -1;
		}
	}
	const char *p = s->page, *end = s->page + s->page_len;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		if (ll && le[-1] == '\r')
			ll--;
		nlines++;
		size_t off = 0, mlen = 0;
		int hit = 0;
		if (regex) {
			regmatch_t m;
			buf_reset(&line);
			buf_append(&line, p, ll);
			buf_puts(&line, "");
			/* a NUL in the line ends it for regexec: pages have none (Jina's are JSON strings) */
			if (regexec(&re, line.data, 1, &m, 0) == 0) {
				hit = 1;
				off = (size_t)m.rm_so;
				mlen = (size_t)(m.rm_eo - m.rm_so);
			}
		} else {
			const char *f = rs_memcasemem(p, ll, pattern, plen);
			if (f) {
				hit = 1;
				off = (size_t)(f - p);
				mlen = plen;
			}
		}
		if (hit) {
			matched++;
			if (matched <= RS_FIND_MAX) {
				buf_printf(&hits, "\n[L%zu @%zu] ", nlines, (size_t)(p - s->page) + off);
				rs_put_excerpt(&hits, p, ll, off, mlen);
			}
		}
		if (!nl || nl + 1 == end)
			break;
		p = nl + 1;
	}
	if (regex)
		regfree(&re);
	buf_puts(out, "find_in_page \"");
	rs_put_line(out, pattern, 200);
	buf_puts(out, "\"");
	if (matched)
		buf_printf(out, ": %zu matching line%s", matched, matched == 1 ? "" : "s");
	else
		buf_puts(out, ": no match");
	buf_printf(out, " of %zu in \"", nlines);
	rs_put_line(out, *s->page_title ? s->page_title : s->page_url, 200);
	buf_printf(out, "\" (%zu bytes; [L<line> @<byte>])", s->page_len);
	if (hits.len)
		buf_append(out, hits.data, hits.len);
	if (matched > RS_FIND_MAX)
		buf_printf(out, "\n... and %zu more matching lines: search for something more precise",
			   matched - RS_FIND_MAX);
	buf_free(&line);
	buf_free(&hits);
	return 0;
}

int rs_tool_find_in_page(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st)
{
	(void)st;
	struct json_object *rv;
	bool regex = false;
	const char *pat = rs_jstr(args, "pattern");
	if (!pat || !*pat) {
		buf_puts(out, "error: find_in_page needs a string 'pattern'");
		return -1;
	}
	if (json_object_object_get_ex(args, "regex", &rv) && !json_object_is_type(rv, json_type_null)) {
		if (!json_object_is_type(rv, json_type_boolean)) {
			buf_puts(out, "error: find_in_page's 'regex' must be true or false");
			return -1;
		}
		regex = json_object_get_boolean(rv);
	}
	return rs_find_in_page(s, pat, regex, out);
}
