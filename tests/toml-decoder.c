/* toml-decoder.c — the toml-test decoder for lib/toml.
 *
 * Reads a TOML document on stdin and prints it on stdout as toml-test's
 * tagged JSON: tables as objects, arrays as arrays, every scalar as
 * {"type": T, "value": "text"}. An invalid document prints
 * `LINE:COL: message` on stderr and exits 1.
 *
 *   make check-toml     runs ../shared/toml-test/run tests/toml-decoder
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "toml.h"

static void put_scalar(struct buf *b, const char *type, const char *text)
{
	buf_puts(b, "{\"type\":");
	buf_json_str(b, type, strlen(type));
	buf_puts(b, ",\"value\":");
	buf_json_str(b, text, strlen(text));
	buf_putc(b, '}');
}

static void put_value(struct buf *b, const struct toml_value *v)
{
	char text[64];

	switch (v->type) {
	case TOML_TABLE:
		buf_putc(b, '{');
		for (size_t i = 0; i < v->u.tab.len; i++) {
			const struct toml_kv *kv = &v->u.tab.items[i];
			if (i)
				buf_putc(b, ',');
			buf_json_str(b, kv->key, kv->key_len);
			buf_putc(b, ':');
			put_value(b, kv->val);
		}
		buf_putc(b, '}');
		break;
	case TOML_ARRAY:
		buf_putc(b, '[');
		for (size_t i = 0; i < v->u.arr.len; i++) {
			if (i)
				buf_putc(b, ',');
			put_value(b, v->u.arr.items[i]);
		}
		buf_putc(b, ']');
		break;
	case TOML_STRING:
		buf_puts(b, "{\"type\":\"string\",\"value\":");
		buf_json_str(b, v->u.s.ptr, v->u.s.len);
		buf_putc(b, '}');
		break;
	case TOML_INTEGER:
		snprintf(text, sizeof text, "%lld", (long long)v->u.i);
		put_scalar(b, "integer", text);
		break;
	case TOML_FLOAT:
		if (isnan(v->u.f))
			snprintf(text, sizeof text, "nan");
		else if (isinf(v->u.f))
			snprintf(text, sizeof text, "%sinf", v->u.f < 0 ? "-" : "");
		else
			snprintf(text, sizeof text, "%.17g", v->u.f);
		put_scalar(b, "float", text);
		break;
	case TOML_BOOL:
		put_scalar(b, "bool", v->u.b ? "true" : "false");
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		toml_datetime_format(v, text, sizeof text);
		put_scalar(b, v->type == TOML_DATETIME ? "datetime" :
			   v->type == TOML_DATETIME_LOCAL ? "datetime-local" :
			   v->type == TOML_DATE_LOCAL ? "date-local" : "time-local", text);
		break;
	}
}

int main(void)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct toml_error err;
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_append(&in, chunk, n);
	if (ferror(stdin)) {
		perror("toml-decoder: stdin");
		return 2;
	}
	struct toml_value *doc = toml_parse(in.data, in.len, &err);
	buf_free(&in);
	if (!doc) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		return 1;
	}
	put_value(&out, doc);
	buf_putc(&out, '\n');
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	toml_free(doc);
	return 0;
}
