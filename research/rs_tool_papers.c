/* rs_tool_papers.c — paper_search through the Semantic Scholar Graph API
 * and pubmed_search through NCBI's E-utilities.
 *
 * Semantic Scholar (x-api-key: KEY, optional):
 *   GET {base}/graph/v1/paper/search?query=Q&limit=N&fields=title,year,...
 *     200 {"total": 123, "offset": 0, "next": 10, "data": [{"paperId", "title",
 *          "year", "venue", "authors": [{"authorId", "name"}], "abstract",
 *          "externalIds": {"DOI", "PubMed", "ArXiv", "CorpusId"}, "url", "citationCount"}]}
 *   GET {base}/graph/v1/snippet/search?query=Q&limit=N
 *     200 {"data": [{"snippet": {"text", "snippetKind", "section", ...}, "score",
 *          "paper": {"corpusId", "title", "authors": ["name", ...]}}], "retrievalVersion"}
 *   errors: {"error": "..."} (400), {"message": "..."} (403, 429)
 *
 * E-utilities (api_key=KEY, optional):
 *   GET {base}/esearch.fcgi?db=pubmed&term=Q&retmode=json&retmax=N
 *     200 {"header": {...}, "esearchresult": {"count": "12", "idlist": ["1", ...]}}
 *   GET {base}/esummary.fcgi?db=pubmed&id=1,2&retmode=json
 *     200 {"header": {...}, "result": {"uids": ["1", "2"], "1": {"uid", "title",
 *          "authors": [{"name"}], "source", "fulljournalname", "pubdate",
 *          "articleids": [{"idtype": "doi", "value"}]}, ...}}
 *   errors: {"error": "API key invalid", "api-key": "...", "type": "invalid"} (400),
 *           {"error": "API rate limit exceeded", ...} (429)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "rs_http.h"
#include "rs_tools_impl.h"

#define RS_S2 "Semantic Scholar"
#define RS_NCBI "PubMed (E-utilities)"
#define RS_S2_FIELDS "title,year,authors,venue,abstract,externalIds,url,citationCount"
#define RS_AUTHORS_SHOWN 3

/* Appends up to RS_AUTHORS_SHOWN names of the list A (strings or objects
 * with "name"), then "et al." */
static void rs_put_authors(struct buf *out, struct json_object *a)
{
	size_t n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	int shown = 0;
	for (size_t i = 0; i < n && shown < RS_AUTHORS_SHOWN; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *name = json_object_is_type(e, json_type_string) ? json_object_get_string(e)
									     : rs_jstr(e, "name");
		if (!name || !*name)
			continue;
		if (shown++)
			buf_puts(out, ", ");
		rs_put_line(out, name, 80);
	}
	if (!shown)
		buf_puts(out, "(authors unknown)");
	else if (n > RS_AUTHORS_SHOWN)
		buf_puts(out, " et al.");
}

/* The value of an id that may be a string or a number, or NULL. */
static const char *rs_jid(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
		return json_object_get_string(v);
	return NULL;
}

static void rs_put_id(struct buf *out, int *first, const char *label, const char *v)
{
	if (!v || !*v)
		return;
	buf_puts(out, *first ? "\n    " : " | ");
	*first = 0;
	buf_printf(out, "%s ", label);
	rs_put_line(out, v, 120);
}

/* The list "data" of J, NULL when J has none but MARKER (an answer with no
 * results); -1 with an error when J is of another shape. */
static int rs_s2_data(struct json_object *j, const char *marker, struct json_object **data, struct buf *out)
{
	struct json_object *v;
	*data = NULL;
	if (!json_object_is_type(j, json_type_object))
		return rs_bad_shape(out, RS_S2, "not an object");
	if (json_object_object_get_ex(j, "data", data)) {
		if (!json_object_is_type(*data, json_type_array))
			return rs_bad_shape(out, RS_S2, "\"data\" is not a list");
		return 0;
	}
	if (!json_object_object_get_ex(j, marker, &v))
		return rs_bad_shape(out, RS_S2, "no \"data\" list");
	return 0;
}

int rs_render_s2_papers(struct json_object *j, const char *query, int max, struct buf *out)
{
	struct json_object *data, *v;
	if (rs_s2_data(j, "total", &data, out) < 0)
		return -1;
	size_t n = data ? json_object_array_length(data) : 0;
	int shown = 0;
	buf_puts(out, "paper_search \"");
	rs_put_line(out, query, 200);
	buf_puts(out, "\" (metadata)");
	if (json_object_object_get_ex(j, "total", &v) && json_object_is_type(v, json_type_int))
		buf_printf(out, ": %zu of %lld papers", n < (size_t)max ? n : (size_t)max,
			   (long long)json_object_get_int64(v));
	for (size_t i = 0; i < n && shown < max; i++) {
		struct json_object *p = json_object_array_get_idx(data, i), *ids = NULL, *a = NULL;
		if (!json_object_is_type(p, json_type_object))
			continue;
		shown++;
		buf_printf(out, "\n[%d] ", shown);
		rs_put_line(out, rs_jstr(p, "title") ? rs_jstr(p, "title") : "(no title)", 300);
		const char *venue = rs_jstr(p, "venue");
		int year = json_object_object_get_ex(p, "year", &v) && json_object_is_type(v, json_type_int)
				   ? json_object_get_int(v) : 0;
		if (year || (venue && *venue)) {
			buf_puts(out, " (");
			if (year)
				buf_printf(out, "%d", year);
			if (venue && *venue) {
				buf_puts(out, year ? ", " : "");
				rs_put_line(out, venue, 120);
			}
			buf_puts(out, ")");
		}
		if (json_object_object_get_ex(p, "citationCount", &v) && json_object_is_type(v, json_type_int))
			buf_printf(out, " - %lld citations", (long long)json_object_get_int64(v));
		buf_puts(out, "\n    ");
		json_object_object_get_ex(p, "authors", &a);
		rs_put_authors(out, a);
		json_object_object_get_ex(p, "externalIds", &ids);
		int first = 1;
		rs_put_id(out, &first, "DOI", rs_jid(ids, "DOI"));
		rs_put_id(out, &first, "PMID", rs_jid(ids, "PubMed"));
		rs_put_id(out, &first, "arXiv", rs_jid(ids, "ArXiv"));
		rs_put_id(out, &first, "S2", rs_jstr(p, "paperId"));
		if (rs_jstr(p, "url")) {
			buf_puts(out, "\n    ");
			rs_put_line(out, rs_jstr(p, "url"), 300);
		}
		if (rs_jstr(p, "abstract")) {
			buf_puts(out, "\n    Abstract: ");
			rs_put_line(out, rs_jstr(p, "abstract"), 500);
		}
	}
	if (!shown)
		buf_puts(out, ": no papers");
	return 0;
}

int rs_render_s2_snippets(struct json_object *j, const char *query, int max, struct buf *out)
{
	struct json_object *data, *v;
	if (rs_s2_data(j, "retrievalVersion", &data, out) < 0)
		return -1;
	size_t n = data ? json_object_array_length(data) : 0;
	int shown = 0;
	buf_puts(out, "paper_search \"");
	rs_put_line(out, query, 200);
	buf_puts(out, "\" (snippets)");
	for (size_t i = 0; i < n && shown < max; i++) {
		struct json_object *m = json_object_array_get_idx(data, i), *sn, *p = NULL, *a = NULL;
		if (!json_object_object_get_ex(m, "snippet", &sn) || !rs_jstr(sn, "text"))
			continue;
		json_object_object_get_ex(m, "paper", &p);
		shown++;
		buf_printf(out, "\n[%d] ", shown);
		rs_put_line(out, rs_jstr(p, "title") ? rs_jstr(p, "title") : "(no title)", 300);
		if (rs_jid(p, "corpusId")) {
			buf_puts(out, " (S2 corpus ");
			rs_put_line(out, rs_jid(p, "corpusId"), 40);
			buf_puts(out, ")");
		}
		buf_puts(out, "\n    ");
		json_object_object_get_ex(p, "authors", &a);
		rs_put_authors(out, a);
		const char *kind = rs_jstr(sn, "snippetKind"), *sec = rs_jstr(sn, "section");
		if (kind || sec) {
			buf_puts(out, "\n    ");
			rs_put_line(out, kind ? kind : "body", 40);
			if (sec && *sec) {
				buf_puts(out, ", section \"");
				rs_put_line(out, sec, 120);
				buf_puts(out, "\"");
			}
		}
		if (json_object_object_get_ex(m, "score", &v) &&
		    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
			buf_printf(out, "%sscore %.2f", kind || sec ? ", " : "\n    ", json_object_get_double(v));
		buf_puts(out, "\n    \"");
		rs_put_line(out, rs_jstr(sn, "text"), 1000);
		buf_puts(out, "\"");
	}
	if (!shown)
		buf_puts(out, ": no passages");
	return 0;
}

int rs_tool_paper_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st)
{
	const struct rs_conf *c = s->conf;
	const char *q = rs_arg_str(args, "paper_search", "query", out);
	struct json_object *mv;
	int snippets = 0;
	if (!q)
		return -1;
	if (json_object_object_get_ex(args, "mode", &mv) && !json_object_is_type(mv, json_type_null)) {
		const char *m = json_object_is_type(mv, json_type_string) ? json_object_get_string(mv) : NULL;
		if (m && (strcmp(m, "snippets") == 0 || strcmp(m, "snippet") == 0)) {
			snippets = 1;
		} else if (!m || (*m && strcmp(m, "metadata") != 0)) {
			buf_puts(out, "error: paper_search's 'mode' must be \"metadata\" or \"snippets\"");
			return -1;
		}
	}
	struct buf url = BUF_INIT, key = BUF_INIT, raw = BUF_INIT;
	struct json_object *j = NULL;
	int ret = -1;
	buf_printf(&url, "%s/graph/v1/%s/search?query=", c->base_url[RS_PAPER_SEARCH],
		   snippets ? "snippet" : "paper");
	rs_http_escape(&url, q);
	buf_printf(&url, "&limit=%d", c->results);
	if (!snippets)
		buf_puts(&url, "&fields=" RS_S2_FIELDS);
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	if (c->key[RS_PAPER_SEARCH]) {
		buf_printf(&key, "x-api-key: %s", c->key[RS_PAPER_SEARCH]);
		headers[1] = key.data;
	}
	struct rs_req r = {
		.tool = RS_PAPER_SEARCH, .service = RS_S2, .method = "GET",
		.url = url.data, .headers = headers,
	};
	if (rs_service(s, &r, &j, &raw, out, st) == 0)
		ret = snippets ? rs_render_s2_snippets(j, q, c->results, out)
			       : rs_render_s2_papers(j, q, c->results, out);
	json_object_put(j);
	buf_free(&url);
	buf_free(&key);
	buf_free(&raw);
	return ret;
}

/* ---------------------------------------------------------------- PubMed */

int rs_parse_esearch(struct json_object *j, struct buf *ids, long *count, struct buf *out)
{
	struct json_object *r, *list, *v;
	if (!json_object_is_type(j, json_type_object) || !json_object_object_get_ex(j, "esearchresult", &r) ||
	    !json_object_is_type(r, json_type_object)) {
		if (rs_jstr(j, "error")) {
			buf_puts(out, "error: " RS_NCBI ": ");
			rs_put_line(out, rs_jstr(j, "error"), 300);
			return -1;
		}
		return rs_bad_shape(out, RS_NCBI, "no \"esearchresult\" object");
	}
	if (rs_jstr(r, "ERROR")) {
		buf_puts(out, "error: " RS_NCBI ": ");
		rs_put_line(out, rs_jstr(r, "ERROR"), 300);
		return -1;
	}
	if (!json_object_object_get_ex(r, "idlist", &list) || !json_object_is_type(list, json_type_array))
		return rs_bad_shape(out, RS_NCBI, "no \"esearchresult.idlist\" list");
	*count = -1;
	if (json_object_object_get_ex(r, "count", &v))
		*count = strtol(json_object_get_string(v), NULL, 10);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(list, i));
		if (!id || !*id || strspn(id, "0123456789") != strlen(id))
			return rs_bad_shape(out, RS_NCBI, "an id in \"idlist\" is not a number");
		if (ids->len)
			buf_putc(ids, ',');
		buf_puts(ids, id);
	}
	return 0;
}

int rs_render_esummary(struct json_object *j, const char *query, long count, struct buf *out)
{
	struct json_object *res, *uids;
	if (!json_object_is_type(j, json_type_object) || !json_object_object_get_ex(j, "result", &res) ||
	    !json_object_is_type(res, json_type_object))
		return rs_bad_shape(out, RS_NCBI, "no \"result\" object");
	if (!json_object_object_get_ex(res, "uids", &uids) || !json_object_is_type(uids, json_type_array))
		return rs_bad_shape(out, RS_NCBI, "no \"result.uids\" list");
	size_t n = json_object_array_length(uids);
	buf_puts(out, "pubmed_search \"");
	rs_put_line(out, query, 200);
	buf_puts(out, "\"");
	if (count >= 0)
		buf_printf(out, ": %zu of %ld articles", n, count);
	for (size_t i = 0; i < n; i++) {
		const char *uid = json_object_get_string(json_object_array_get_idx(uids, i));
		struct json_object *d, *a = NULL, *ids = NULL;
		buf_printf(out, "\n[%zu] ", i + 1);
		if (!uid || !json_object_object_get_ex(res, uid, &d) || !json_object_is_type(d, json_type_object)) {
			buf_puts(out, "(no summary)");
			continue;
		}
		if (rs_jstr(d, "error")) {
			buf_puts(out, "PMID ");
			rs_put_line(out, uid, 20);
			buf_puts(out, ": ");
			rs_put_line(out, rs_jstr(d, "error"), 200);
			continue;
		}
		rs_put_line(out, rs_jstr(d, "title") && *rs_jstr(d, "title") ? rs_jstr(d, "title") : "(no title)", 300);
		buf_puts(out, "\n    ");
		json_object_object_get_ex(d, "authors", &a);
		rs_put_authors(out, a);
		const char *journal = rs_jstr(d, "source");
		if (!journal || !*journal)
			journal = rs_jstr(d, "fulljournalname");
		if (journal && *journal) {
			buf_puts(out, " | ");
			rs_put_line(out, journal, 120);
		}
		if (rs_jstr(d, "pubdate") && *rs_jstr(d, "pubdate")) {
			buf_puts(out, " | ");
			rs_put_line(out, rs_jstr(d, "pubdate"), 40);
		}
		int first = 1;
		rs_put_id(out, &first, "PMID", uid);
		json_object_object_get_ex(d, "articleids", &ids);
		const char *doi = NULL, *pmc = NULL;
		for (size_t k = 0; json_object_is_type(ids, json_type_array) && k < json_object_array_length(ids); k++) {
			struct json_object *e = json_object_array_get_idx(ids, k);
			const char *t = rs_jstr(e, "idtype");
			if (t && strcmp(t, "doi") == 0)
				doi = rs_jstr(e, "value");
			else if (t && strcmp(t, "pmc") == 0)
				pmc = rs_jstr(e, "value");
		}
		rs_put_id(out, &first, "DOI", doi);
		rs_put_id(out, &first, "PMC", pmc);
		buf_puts(out, "\n    https://pubmed.ncbi.nlm.nih.gov/");
		rs_put_line(out, uid, 20);
		buf_puts(out, "/");
	}
	return 0;
}

int rs_tool_pubmed_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st)
{
	const struct rs_conf *c = s->conf;
	const char *q = rs_arg_str(args, "pubmed_search", "query", out);
	if (!q)
		return -1;
	const char *key = c->key[RS_PUBMED_SEARCH];
	const char *base = c->base_url[RS_PUBMED_SEARCH];
	struct buf url = BUF_INIT, ids = BUF_INIT, raw = BUF_INIT;
	struct json_object *j = NULL;
	const char *headers[] = {"Accept: application/json", NULL};
	long count = -1;
	int ret = -1;
	buf_printf(&url, "%s/esearch.fcgi?db=pubmed&term=", base);
	rs_http_escape(&url, q);
	buf_printf(&url, "&retmode=json&retmax=%d", c->results);
	if (key) {
		buf_puts(&url, "&api_key=");
		rs_http_escape(&url, key);
	}
	struct rs_req r = {
		.tool = RS_PUBMED_SEARCH, .service = RS_NCBI, .method = "GET",
		.url = url.data, .headers = headers,
	};
	if (rs_service(s, &r, &j, &raw, out, st) < 0 || rs_parse_esearch(j, &ids, &count, out) < 0)
		goto cleanup;
	json_object_put(j);
	j = NULL;
	if (!ids.len) {
		buf_puts(out, "pubmed_search \"");
		rs_put_line(out, q, 200);
		buf_puts(out, "\": no articles");
		ret = 0;
		goto cleanup;
	}
	buf_reset(&url);
	buf_printf(&url, "%s/esummary.fcgi?db=pubmed&id=%s&retmode=json", base, ids.data);
	if (key) {
		buf_puts(&url, "&api_key=");
		rs_http_escape(&url, key);
	}
	r.url = url.data;
	if (rs_service(s, &r, &j, &raw, out, st) == 0)
		ret = rs_render_esummary(j, q, count, out);
cleanup:
	json_object_put(j);
	buf_free(&url);
	buf_free(&ids);
	buf_free(&raw);
	return ret;
}
