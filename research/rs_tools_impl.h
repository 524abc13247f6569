/* rs_tools_impl.h — what the tools' source files share: the session, the
 * call to a service, text helpers and the renderers of each service's
 * JSON. Not an API for other modules (they use rs_tools.h); the unit tests
 * (tests/check_rs_tools.c) use it to render sample answers offline.
 */
#ifndef ES_RS_TOOLS_IMPL_H
#define ES_RS_TOOLS_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "rs_tools.h"

struct json_object;

/* One trajectory's tool state. */
struct rs_session {
	const struct rs_conf *conf;  /* the caller's; outlives the session */
	char *page;                  /* the last opened page's whole text (NUL-terminated); NULL: none */
	size_t page_len;             /* its length in bytes */
	char *page_url;              /* the URL it was opened from */
	char *page_title;            /* its title ("" when it has none) */
};

/* ---------------------------------------------------------------- a service */

/* One request to a service. */
struct rs_req {
	enum rs_tool_id tool;        /* whose timeout and key apply */
	const char *service;         /* "Serper", "Jina Reader"...: names it in errors */
	const char *method;          /* GET or POST */
	const char *url;             /* the whole URL */
	const char *body;            /* POST body, or NULL */
	const char *const *headers;  /* NULL-terminated, or NULL */
	bool text_ok;                /* a 2xx answer that is not JSON is returned, not an error */
};

/* Sends R with the tool's timeout and the configured retries, adding the
 * requests made to ST->http_calls. Returns 0 with *JSON (a new reference)
 * for a 2xx JSON answer, 1 with RAW holding a 2xx answer that is not JSON
 * (only with R->text_ok), or -1 with "error: ..." appended to OUT: the
 * service's failure (status and its message, keys redacted), a timeout,
 * a refused connection, or an answer that is not JSON. */
int rs_service(const struct rs_session *s, const struct rs_req *r, struct json_object **json,
	       struct buf *raw, struct buf *out, struct rs_tool_stat *st);

/* Appends "error: SERVICE answered with JSON of an unexpected shape: WHAT". */
int rs_bad_shape(struct buf *out, const char *service, const char *what);

/* The message in a service's error answer (BODY, LEN bytes): the JSON
 * fields readableMessage, message, error, error.message, detail or
 * esearchresult.ERROR, else the first line of a text body; whitespace
 * collapsed, at most 300 bytes, KEY (may be NULL) replaced by "***".
 * Appends nothing when there is none. */
void rs_service_message(struct buf *out, const char *body, size_t len, const char *key);

/* Parses LEN bytes at S as one JSON value (trailing whitespace allowed).
 * NULL with ERR when it is not JSON. */
struct json_object *rs_json_parse(const char *s, size_t len, char *err, size_t errlen);

/* ---------------------------------------------------------------- text */

/* The largest N <= MAX such that S[0..N) ends on a UTF-8 character
 * boundary (LEN bytes at S). */
size_t rs_utf8_cut(const char *s, size_t len, size_t max);

/* Appends LEN bytes at S with every invalid UTF-8 sequence replaced by
 * U+FFFD and NUL bytes dropped (tool results become JSON strings). */
void rs_put_utf8(struct buf *out, const char *s, size_t len);

/* Appends S (may be NULL) on one line: runs of whitespace made one space,
 * trimmed, cut at a character boundary to at most MAX bytes with "..."
 * added when cut. */
void rs_put_line(struct buf *out, const char *s, size_t max);

/* The string field KEY of O, or NULL when absent or not a string. */
const char *rs_jstr(struct json_object *o, const char *key);

/* The tools' own functions (rs_tool_web.c, rs_tool_papers.c, rs_tools.c):
 * ARGS is the call's arguments, a JSON object. Each appends its result or
 * "error: ..." to OUT and returns 0 or -1. */
int rs_tool_web_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st);
int rs_tool_open_page(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st);
int rs_tool_find_in_page(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st);
int rs_tool_paper_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st);
int rs_tool_pubmed_search(struct rs_session *s, struct json_object *args, struct buf *out, struct rs_tool_stat *st);

/* The string argument NAME of TOOL, trimmed; NULL after appending "error:
 * TOOL needs a string 'NAME'" to OUT when it is missing, not a string or
 * blank. The result points into ARGS. */
const char *rs_arg_str(struct json_object *args, const char *tool, const char *name, struct buf *out);

/* ---------------------------------------------------------------- renderers */

/* Each renders a service's 2xx JSON answer J for the model into OUT, at
 * most MAX results. Returns 0, or -1 with "error: ... unexpected shape"
 * appended to OUT. */
int rs_render_serper(struct json_object *j, const char *query, int max, struct buf *out);
int rs_render_s2_papers(struct json_object *j, const char *query, int max, struct buf *out);
int rs_render_s2_snippets(struct json_object *j, const char *query, int max, struct buf *out);
/* esearch: the PMIDs (comma-separated) into IDS and the total into *COUNT. */
int rs_parse_esearch(struct json_object *j, struct buf *ids, long *count, struct buf *out);
int rs_render_esummary(struct json_object *j, const char *query, long count, struct buf *out);

/* A page read by Jina Reader. */
struct rs_page {
	char *title;                 /* "" when none */
	char *url;                   /* as Jina reports it; may be "" */
	char *warning;               /* Jina's warning ("Target URL returned error 404"), or NULL */
	char *text;                  /* the content */
	size_t text_len;             /* its length */
};
/* Reads Jina's JSON answer (J not NULL: {"data": {"title", "url",
 * "content"}}) or its text answer (BODY: "Title: ...\nURL Source:
 * ...\nMarkdown Content:\n..."). Returns 0, or -1 with an error appended
 * to OUT. */
int rs_jina_page(struct json_object *j, const char *body, size_t len, struct rs_page *p, struct buf *out);
void rs_page_free(struct rs_page *p);

/* Appends the text for the model of the session's page: title, URL, the
 * first PAGE_MAX bytes (cut at a character boundary) and the mark of the
 * cut "[... truncated: N of M bytes shown; use find_in_page]". */
void rs_render_page(const struct rs_session *s, size_t page_max, struct buf *out);

/* find_in_page on the session's page: case-insensitive substring, or a
 * POSIX extended regular expression when REGEX. Returns 0, or -1 with an
 * error appended (no page open, bad expression). */
int rs_find_in_page(const struct rs_session *s, const char *pattern, bool regex, struct buf *out);

#endif
