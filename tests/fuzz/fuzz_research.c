/* fuzz_research.c — elastic-research's readers of the services' answers
 * (research/rs_tool_*.c): whatever Serper, Semantic Scholar, E-utilities
 * or Jina Reader answer, the text for the model is valid UTF-8 without a
 * NUL byte, and a refusal is an "error: ..." line, never a crash.
 *
 * (The readers may pass invalid UTF-8 through; rs_tool_run cleans the
 * whole result once, and the target checks the text after that step.)
 *
 * The first byte picks the reader; the rest is the service's answer. For
 * Jina Reader a page that reads is then rendered with a cut and searched
 * with find_in_page, as the tools do.
 */
#include <json-c/json.h>

#include "buf.h"
#include "fuzz.h"
#include "rs_tools_impl.h"

/* What the model gets: rs_tool_run passes every result through
 * rs_put_utf8, which must leave valid UTF-8 without NUL bytes and keep
 * every valid byte of it. */
static void check_text(const struct buf *out)
{
	struct buf clean = {0};
	size_t bad;
	rs_put_utf8(&clean, out->data ? out->data : "", out->len);
	FUZZ_CHECK(clean.len == 0 || memchr(clean.data, '\0', clean.len) == NULL);
	FUZZ_CHECK(buf_utf8_valid(clean.data ? clean.data : "", clean.len, &bad));
	if (out->len && buf_utf8_valid(out->data, out->len, &bad) &&
	    memchr(out->data, '\0', out->len) == NULL)
		FUZZ_CHECK(clean.len == out->len && memcmp(clean.data, out->data, out->len) == 0);
	buf_free(&clean);
}

static void check_result(int r, const struct buf *out)
{
	FUZZ_CHECK(r == 0 || r == -1);
	if (r == -1)
		FUZZ_CHECK(out->len > 0 && strstr(out->data, "error: ") != NULL);
	check_text(out);
}

static void jina(const char *body, size_t len, struct json_object *j, uint8_t knob)
{
	struct buf out = {0};
	struct rs_page pg = {0};
	int r = rs_jina_page(j, body, len, &pg, &out);
	check_result(r, &out);
	if (r == 0) {
		struct rs_conf conf = {0};
		struct rs_session *s = rs_session_new(&conf);
		s->page = pg.text;
		s->page_len = pg.text_len;
		s->page_url = pg.url;
		s->page_title = pg.title;
		pg.text = pg.url = pg.title = NULL;
		buf_reset(&out);
		rs_render_page(s, 1 + (size_t)knob * 7, &out);
		check_text(&out);
		/* a pattern taken from the page itself, and one that is not there */
		char pat[8] = "zq!";
		if (s->page_len >= 4)
			memcpy(pat, s->page + s->page_len / 2 - (s->page_len / 2 >= 2 ? 2 : 0), 3);
		pat[3] = '\0';
		if (strlen(pat) > 0) {
			buf_reset(&out);
			r = rs_find_in_page(s, pat, false, &out);
			check_result(r, &out);
		}
		rs_session_free(s);
	}
	rs_page_free(&pg);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t pick = data[0];
	char *body = fuzz_strndup(data + 1, size - 1);
	size_t len = size - 1;
	char err[256];
	struct json_object *j = rs_json_parse(body, len, err, sizeof err);
	struct buf out = {0}, ids = {0};
	long count = -1;
	int r;

	switch (pick % 7) {
	case 0:
		if (j)
			check_result(rs_render_serper(j, "q", 1 + pick % 12, &out), &out);
		break;
	case 1:
		if (j)
			check_result(rs_render_s2_papers(j, "q", 1 + pick % 12, &out), &out);
		break;
	case 2:
		if (j)
			check_result(rs_render_s2_snippets(j, "q", 1 + pick % 12, &out), &out);
		break;
	case 3:
		if (!j)
			break;
		r = rs_parse_esearch(j, &ids, &count, &out);
		check_result(r, &out);
		if (r == 0)
			FUZZ_CHECK(count >= -1); /* -1: not said */
		break;
	case 4:
		if (j)
			check_result(rs_render_esummary(j, "q", 3, &out), &out);
		break;
	case 5:
		jina(body, len, j, pick);
		break;
	case 6:
		rs_service_message(&out, body, len, len > 8 ? "secretkey" : NULL);
		check_text(&out);
		FUZZ_CHECK(out.len <= 310);
		if (out.len)
			FUZZ_CHECK(strstr(out.data, "secretkey") == NULL);
		break;
	}
	json_object_put(j);
	buf_free(&out);
	buf_free(&ids);
	free(body);
	return 0;
}
