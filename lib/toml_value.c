/* toml_value.c — the tree of a parsed TOML document: allocation, release,
 * lookups and formatting (see toml.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "toml_impl.h"

void *toml_xrealloc(void *ptr, size_t size)
{
	void *q = realloc(ptr, size ? size : 1);
	if (!q) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return q;
}

struct toml_value *toml_value_new(enum toml_type type, struct toml_pos pos)
{
	struct toml_value *v = toml_xrealloc(NULL, sizeof *v);
	memset(v, 0, sizeof *v);
	v->type = type;
	v->pos = pos;
	return v;
}

/* Capacity for at least one more item: doubles from 4. */
static size_t grow(size_t cap, size_t elem)
{
	if (cap == 0)
		return 4;
	if (cap > ((size_t)-1) / 2 / elem) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return cap * 2;
}

void toml_array_push(struct toml_value *a, struct toml_value *item)
{
	if (a->u.arr.len == a->u.arr.cap) {
		a->u.arr.cap = grow(a->u.arr.cap, sizeof *a->u.arr.items);
		a->u.arr.items = toml_xrealloc(a->u.arr.items,
					       a->u.arr.cap * sizeof *a->u.arr.items);
	}
	a->u.arr.items[a->u.arr.len++] = item;
}

size_t toml_table_push(struct toml_value *t, char *key, size_t key_len,
		       struct toml_pos key_pos, struct toml_value *val)
{
	if (t->u.tab.len == t->u.tab.cap) {
		t->u.tab.cap = grow(t->u.tab.cap, sizeof *t->u.tab.items);
		t->u.tab.items = toml_xrealloc(t->u.tab.items,
					       t->u.tab.cap * sizeof *t->u.tab.items);
	}
	struct toml_kv *kv = &t->u.tab.items[t->u.tab.len];
	kv->key = key;
	kv->key_len = key_len;
	kv->key_pos = key_pos;
	kv->val = val;
	return t->u.tab.len++;
}

/* Recursion is bounded: the parser refuses trees deeper than
 * TOML_MAX_DEPTH. */
void toml_free(struct toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.tab.len; i++) {
			free(v->u.tab.items[i].key);
			toml_free(v->u.tab.items[i].val);
		}
		free(v->u.tab.items);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr.len; i++)
			toml_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case TOML_STRING:
		free(v->u.s.ptr);
		break;
	default:
		break;
	}
	free(v);
}

const struct toml_kv *toml_table_entry(const struct toml_value *t, const char *key)
{
	if (!t || t->type != TOML_TABLE || !key)
		return NULL;
	size_t len = strlen(key);
	for (size_t i = 0; i < t->u.tab.len; i++) {
		const struct toml_kv *kv = &t->u.tab.items[i];
		if (kv->key_len == len && memcmp(kv->key, key, len) == 0)
			return kv;
	}
	return NULL;
}

const struct toml_value *toml_table_get(const struct toml_value *t, const char *key)
{
	const struct toml_kv *kv = toml_table_entry(t, key);
	return kv ? kv->val : NULL;
}

const char *toml_type_name(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE: return "table";
	case TOML_ARRAY: return "array";
	case TOML_STRING: return "string";
	case TOML_INTEGER: return "integer";
	case TOML_FLOAT: return "float";
	case TOML_BOOL: return "boolean";
	case TOML_DATETIME: return "offset date-time";
	case TOML_DATETIME_LOCAL: return "local date-time";
	case TOML_DATE_LOCAL: return "local date";
	case TOML_TIME_LOCAL: return "local time";
	}
	return "unknown";
}

int toml_datetime_format(const struct toml_value *v, char *out, size_t outlen)
{
	char date[32] = "", time[48] = "", off[16] = "";
	const struct toml_datetime *dt;
	bool has_date, has_time;

	if (!v)
		return snprintf(out, outlen, "%s", "");
	dt = &v->u.dt;
	has_date = v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL ||
		   v->type == TOML_DATE_LOCAL;
	has_time = v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL ||
		   v->type == TOML_TIME_LOCAL;
	if (!has_date && !has_time)
		return snprintf(out, outlen, "%s", "");
	if (has_date)
		snprintf(date, sizeof date, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
	if (has_time) {
		int n = snprintf(time, sizeof time, "%s%02d:%02d:%02d", has_date ? "T" : "",
				 dt->hour, dt->minute, dt->second);
		if (dt->frac_digits > 0) {
			/* As many digits as written, down to nanoseconds. */
			int digits = dt->frac_digits < 9 ? dt->frac_digits : 9;
			int ns = dt->nanosecond;
			for (int i = digits; i < 9; i++)
				ns /= 10;
			snprintf(time + n, sizeof time - (size_t)n, ".%0*d", digits, ns);
		}
	}
	if (v->type == TOML_DATETIME) {
		if (dt->offset_z) {
			strcpy(off, "Z");
		} else {
			int m = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
			snprintf(off, sizeof off, "%c%02d:%02d",
				 dt->offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
		}
	}
	return snprintf(out, outlen, "%s%s%s", date, time, off);
}
