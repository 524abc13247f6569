/* rs_tool_web.c — web_search through Serper (google.serper.dev).
 *
 *   POST {base}/search   X-API-KEY: KEY   {"q": QUERY, "num": N}
 *   200 {"searchParameters": {...}, "answerBox": {...}?, "knowledgeGraph": {...}?,
 *        "organic": [{"title", "link", "snippet", "date"?, "position"}, ...], ...}
 *   errors: {"message": "Unauthorized.", "statusCode": 403}
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "rs_tools_impl.h"

#define RS_SERPER "Serper"

int rs_render_serper(struct json_object *j, const char *query, int max, struct buf *out)
{
	struct json_object *org = NULL, *v;
	if (!json_object_is_type(j, json_type_object))
		return rs_bad_shape(out, RS_SERPER, "not an object");
	if (json_object_object_get_ex(j, "organic", &org)) {
		if (!json_object_is_type(org, json_type_array))
			return rs_bad_shape(out, RS_SERPER, "\"organic\" is not a list");
	} else if (!json_object_object_get_ex(j, "searchParameters", &v)) {
		return rs_bad_shape(out, RS_SERPER, "no \"organic\" results");
	}
	size_t n = org ? json_object_array_length(org) : 0;
	int shown = 0;

	buf_puts(out, "web_search \"");
	rs_put_line(out, query, 200);
	buf_puts(out, "\"");
	if (json_object_object_get_ex(j, "answerBox", &v) && json_object_is_type(v, json_type_object)) {
		const char *a = rs_jstr(v, "answer");
		if (!a)
			a = rs_jstr(v, "snippet");
		if (a) {
			buf_puts(out, "\nAnswer box: ");
			rs_put_line(out, a, 400);
			if (rs_jstr(v, "link")) {
				buf_puts(out, " (");
				rs_put_line(out, rs_jstr(v, "link"), 300);
				buf_puts(out, ")");
			}
		}
	}
	if (json_object_object_get_ex(j, "knowledgeGraph", &v) && json_object_is_type(v, json_type_object) &&
	    rs_jstr(v, "title")) {
		buf_puts(out, "\nKnowledge graph: ");
		rs_put_line(out, rs_jstr(v, "title"), 200);
		if (rs_jstr(v, "type")) {
			buf_puts(out, " (");
			rs_put_line(out, rs_jstr(v, "type"), 100);
			buf_puts(out, ")");
		}
		if (rs_jstr(v, "description")) {
			buf_puts(out, ": ");
			rs_put_line(out, rs_jstr(v, "description"), 400);
		}
	}
	for (size_t i = 0; i < n && shown < max; i++) {
		struct json_object *r = json_object_array_get_idx(org, i);
		const char *link = rs_jstr(r, "link");
		if (!link)
			continue; /* a result without a URL is of no use */
		shown++;
		buf_printf(out, "\n[%d] ", shown);
		rs_put_line(out, rs_jstr(r, "title") ? rs_jstr(r, "title") : "(no title)", 300);
		buf_puts(out, "\n    ");
		rs_put_line(out, link, 500);
		if (rs_jstr(r, "snippet")) {
			buf_puts(out, "\n    ");
			rs_put_line(out, rs_jstr(r, "snippet"), 400);
		}
		if (rs_jstr(r, "date")) {
			buf_puts(out, " (");
			rs_put_line(out, rs_jstr(r, "date"), 40);
			buf_puts(out, ")");
		}
	}
	if (!shown)
		buf_puts(out, ": no results");
	return 0;
}

int rs_tool_web_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st)
{
	const struct rs_conf *c = s->conf;
	const char *q = rs_arg_str(args, "web_search", "query", out);
	if (!q)
		return -1;
	if (!c->key[RS_WEB_SEARCH]) {
		buf_puts(out, "error: SERPER_API_KEY is not set");
		return -1;
	}
	struct buf url = BUF_INIT, body = BUF_INIT, hdr = BUF_INIT, raw = BUF_INIT;
	struct json_object *j = NULL;
	int ret = -1;
	buf_printf(&url, "%s/search", c->base_url[RS_WEB_SEARCH]);
	buf_puts(&body, "{\"q\":");
	buf_json_str(&body, q, strlen(q));
	buf_printf(&body, ",\"num\":%d}", c->results);
	buf_printf(&hdr, "X-API-KEY: %s", c->key[RS_WEB_SEARCH]);
	const char *headers[] = {hdr.data, "Accept: application/json", NULL};
	struct rs_req r = {
		.tool = RS_WEB_SEARCH, .service = RS_SERPER, .method = "POST",
		.url = url.data, .body = body.data, .headers = headers,
	};
	if (rs_service(s, &r, &j, &raw, out, st) == 0)
		ret = rs_render_serper(j, q, c->results, out);
	json_object_put(j);
	buf_free(&url);
	buf_free(&body);
	buf_free(&hdr);
	buf_free(&raw);
	return ret;
}
