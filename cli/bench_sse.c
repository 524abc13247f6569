/* bench_sse.c — see bench_sse.h. */
#include "bench_sse.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

void bench_sse_init(struct bench_sse *p, bench_sse_fn fn, void *arg)
{
	*p = (struct bench_sse){.fn = fn, .arg = arg};
}

void bench_sse_free(struct bench_sse *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
}

static int dispatch(struct bench_sse *p)
{
	if (!p->has_data)
		return 0;
	p->has_data = false;
	int rc = p->fn(p->data.data ? p->data.data : "", p->data.len, p->arg);
	buf_reset(&p->data);
	return rc;
}

/* One complete line (without its end). */
static int line(struct bench_sse *p)
{
	const char *s = p->line.data ? p->line.data : "";
	size_t n = p->line.len;
	int rc = 0;
	if (n == 0) {
		rc = dispatch(p);
	} else if (s[0] != ':') {
		const char *colon = memchr(s, ':', n);
		size_t nlen = colon ? (size_t)(colon - s) : n;
		if (nlen == 4 && memcmp(s, "data", 4) == 0) {
			const char *v = colon ? colon + 1 : s + n;
			if (v < s + n && *v == ' ')
				v++;
			size_t vlen = (size_t)(s + n - v);
			if (p->data.len + vlen + 1 > BENCH_SSE_MAX) {
				p->failed = true;
				rc = -1;
			} else {
				if (p->has_data)
					buf_putc(&p->data, '\n');
				buf_append(&p->data, v, vlen);
				p->has_data = true;
			}
		}
	}
	buf_reset(&p->line);
	return rc;
}

int bench_sse_feed(struct bench_sse *p, const char *data, size_t len)
{
	if (p->failed)
		return -1;
	size_t i = 0;
	while (i < len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t j = i;
		while (j < len && data[j] != '\n' && data[j] != '\r')
			j++;
		if (p->line.len + (j - i) > BENCH_SSE_MAX) {
			p->failed = true;
			return -1;
		}
		buf_append(&p->line, data + i, j - i);
		if (j == len)
			break;
		p->after_cr = data[j] == '\r';
		i = j + 1;
		int rc = line(p);
		if (rc)
			return rc;
	}
	return 0;
}

int bench_sse_finish(struct bench_sse *p)
{
	if (p->failed)
		return -1;
	int rc = 0;
	if (p->line.len)
		rc = line(p);
	if (!rc)
		rc = dispatch(p);
	return rc;
}

/* ---------------------------------------------------------------- OpenAI objects */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool nonempty_str(struct json_object *v)
{
	return v && json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0;
}

static long get_count(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);
	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -1;
	long n = (long)json_object_get_int64(v);
	return n < 0 ? -1 : n;
}

static void put_text(struct buf *text, struct json_object *v)
{
	if (text && nonempty_str(v))
		buf_append(text, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int bench_oai_parse(const char *data, size_t len, struct bench_oai *out, struct buf *text)
{
	*out = (struct bench_oai){.prompt_tokens = -1, .completion_tokens = -1};
	while (len && is_ws(*data))
		data++, len--;
	while (len && is_ws(data[len - 1]))
		len--;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		out->done = true;
		return 0;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return -1;
	struct json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	bool trailing = o && json_tokener_get_parse_end(tok) < len;
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success || trailing ||
	    !json_object_is_type(o, json_type_object)) {
		/* DATA need not end in a NUL: never read past LEN. */
		snprintf(out->error, sizeof out->error, "malformed JSON in the response: %.*s%s",
			 (int)(len > 60 ? 60 : len), data, len > 60 ? "..." : "");
		json_object_put(o);
		return -1;
	}
	struct json_object *err = get(o, "error");
	if (err && !json_object_is_type(err, json_type_null)) {
		struct json_object *m = get(err, "message");
		snprintf(out->error, sizeof out->error, "%s",
			 nonempty_str(m) ? json_object_get_string(m)
					 : json_object_to_json_string_ext(err, JSON_C_TO_STRING_PLAIN));
		if (!out->error[0])
			snprintf(out->error, sizeof out->error, "error");
	}
	struct json_object *choices = get(o, "choices");
	if (choices && json_object_is_type(choices, json_type_array) &&
	    json_object_array_length(choices) > 0) {
		struct json_object *c = json_object_array_get_idx(choices, 0);
		out->has_choices = true;
		struct json_object *m = get(c, "delta");
		if (!m)
			m = get(c, "message");
		struct json_object *content = get(m, "content"), *reasoning = get(m, "reasoning_content"),
				   *tools = get(m, "tool_calls"), *t = get(c, "text");
		if (!reasoning)
			reasoning = get(m, "reasoning");
		out->has_text = nonempty_str(content) || nonempty_str(reasoning) || nonempty_str(t) ||
				(tools && json_object_is_type(tools, json_type_array) &&
				 json_object_array_length(tools) > 0);
		put_text(text, nonempty_str(content) ? content : t);
		out->finished = nonempty_str(get(c, "finish_reason"));
	}
	struct json_object *usage = get(o, "usage");
	if (usage && json_object_is_type(usage, json_type_object)) {
		out->prompt_tokens = get_count(usage, "prompt_tokens");
		out->completion_tokens = get_count(usage, "completion_tokens");
	}
	json_object_put(o);
	return 0;
}
