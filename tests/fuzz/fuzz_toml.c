/* fuzz_toml.c — lib/toml: any bytes either parse into a tree whose every
 * key and string is valid UTF-8, whose keys can be looked up again and
 * whose positions are sane, or fail with a positioned message. */
#include "fuzz.h"
#include "toml.h"

static void walk(const struct toml_value *v, int depth)
{
	FUZZ_CHECK(depth <= TOML_MAX_DEPTH + 1);
	FUZZ_CHECK(v->pos.line >= 1 && v->pos.col >= 1);
	char out[128];
	switch (v->type) {
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.tab.len; i++) {
			const struct toml_kv *kv = &v->u.tab.items[i];
			FUZZ_CHECK(kv->key[kv->key_len] == '\0');
			FUZZ_CHECK(fuzz_utf8_valid(kv->key, kv->key_len));
			FUZZ_CHECK(kv->key_pos.line >= 1 && kv->key_pos.col >= 1);
			/* Keys without NUL can be found by name (the first one with
			 * that name: keys are unique). */
			if (strlen(kv->key) == kv->key_len)
				FUZZ_CHECK(toml_table_get(v, kv->key) == kv->val);
			walk(kv->val, depth + 1);
		}
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr.len; i++)
			walk(v->u.arr.items[i], depth + 1);
		break;
	case TOML_STRING:
		FUZZ_CHECK(v->u.s.ptr[v->u.s.len] == '\0');
		FUZZ_CHECK(fuzz_utf8_valid(v->u.s.ptr, v->u.s.len));
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: {
		int n = toml_datetime_format(v, out, sizeof out);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof out);
		FUZZ_CHECK(strlen(out) == (size_t)n);
		/* A short buffer truncates, never overflows. */
		char small[8];
		toml_datetime_format(v, small, sizeof small);
		FUZZ_CHECK(strlen(small) < sizeof small);
		break;
	}
	default:
		break;
	}
	(void)toml_type_name(v->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_error err;
	memset(&err, 0x55, sizeof err);
	struct toml_value *doc = toml_parse((const char *)data, size, &err);
	if (!doc) {
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
		FUZZ_CHECK(err.msg[0] != '\0');
		FUZZ_CHECK(err.line >= 0 && err.col >= 0);
		return 0;
	}
	FUZZ_CHECK(doc->type == TOML_TABLE);
	walk(doc, 0);
	toml_free(doc);
	return 0;
}
