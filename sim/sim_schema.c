/* sim_schema.c — see sim_schema.h. */
#include "sim_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "sim.h"
#include "sim_tok.h"

/* JSON schema type names, as bits. */
enum {
	T_STRING = 1,
	T_INTEGER = 2,
	T_NUMBER = 4,
	T_BOOLEAN = 8,
	T_ARRAY = 16,
	T_OBJECT = 32,
	T_NULL = 64,
};

static const struct {
	const char *name;
	int bit;
} sc_types[] = {
	{"string", T_STRING}, {"integer", T_INTEGER}, {"number", T_NUMBER}, {"boolean", T_BOOLEAN},
	{"array", T_ARRAY},   {"object", T_OBJECT},   {"null", T_NULL},
};

/* Keywords that only describe. */
static const char *const sc_annotations[] = {
	"title", "description", "default", "examples", "$schema", "$id", "$comment",
	"deprecated", "readOnly", "writeOnly", NULL,
};

/* Keywords that constrain, and are supported. */
static const char *const sc_keywords[] = {
	"type", "enum", "const", "anyOf", "oneOf", "properties", "required",
	"additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL,
};

/* Bounds beyond which numbers are clamped (exact in a double). */
#define SC_NUM_LIMIT 1e15

static int sc_fail(char *err, size_t errlen, const struct buf *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int sc_fail(char *err, size_t errlen, const struct buf *path, const char *fmt, ...)
{
	int n = snprintf(err, errlen, "%s: ", path->data ? path->data : "schema");
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static struct json_object *sc_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static bool sc_has(struct json_object *o, const char *key)
{
	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, NULL);
}

static bool sc_in(const char *const *list, const char *key)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

static bool sc_is_num(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* A child's seed. */
static uint64_t sc_sub(uint64_t seed, uint64_t salt)
{
	return sim_mix64(seed + 0x9e3779b97f4a7c15ULL * (salt + 1));
}

static uint64_t sc_key_salt(const char *key)
{
	return sim_hash64(key, strlen(key), 0x6b6579);
}

/* The type bits of a JSON value. */
static int sc_value_type(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return T_NULL;
	case json_type_boolean: return T_BOOLEAN;
	case json_type_int: return T_INTEGER | T_NUMBER;
	case json_type_double: {
		double d = json_object_get_double(v);
		return isfinite(d) && d == floor(d) ? T_INTEGER | T_NUMBER : T_NUMBER;
	}
	case json_type_string: return T_STRING;
	case json_type_array: return T_ARRAY;
	case json_type_object: return T_OBJECT;
	}
	return 0;
}

/* The schema's "type" as bits (0: absent; -1: not a type). */
static int sc_type_mask(struct json_object *s)
{
	struct json_object *t = sc_get(s, "type");
	if (!t)
		return 0;
	size_t n = 1;
	bool list = json_object_is_type(t, json_type_array);
	if (list) {
		n = json_object_array_length(t);
		if (n == 0)
			return -1;
	}
	int mask = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = list ? json_object_array_get_idx(t, i) : t;
		if (!json_object_is_type(x, json_type_string))
			return -1;
		int bit = 0;
		for (size_t k = 0; k < sizeof sc_types / sizeof sc_types[0]; k++)
			if (strcmp(json_object_get_string(x), sc_types[k].name) == 0)
				bit = sc_types[k].bit;
		if (!bit)
			return -1;
		mask |= bit;
	}
	return mask;
}

/* The type generated for a checked schema without enum, const or anyOf:
 * the first listed that is not "null" (null when only null), else what its
 * keywords are about; 0: any value. */
static int sc_gen_type(struct json_object *s)
{
	struct json_object *t = sc_get(s, "type");
	if (t) {
		bool list = json_object_is_type(t, json_type_array);
		size_t n = list ? json_object_array_length(t) : 1;
		for (size_t i = 0; i < n; i++) {
			const char *name = json_object_get_string(list ? json_object_array_get_idx(t, i) : t);
			for (size_t k = 0; k < sizeof sc_types / sizeof sc_types[0]; k++)
				if (strcmp(name, sc_types[k].name) == 0 && sc_types[k].bit != T_NULL)
					return sc_types[k].bit;
		}
		return T_NULL;
	}
	if (sc_has(s, "properties") || sc_has(s, "required") || sc_has(s, "additionalProperties"))
		return T_OBJECT;
	if (sc_has(s, "items") || sc_has(s, "minItems") || sc_has(s, "maxItems"))
		return T_ARRAY;
	if (sc_has(s, "minLength") || sc_has(s, "maxLength"))
		return T_STRING;
	if (sc_has(s, "minimum") || sc_has(s, "maximum") || sc_has(s, "exclusiveMinimum") ||
	    sc_has(s, "exclusiveMaximum"))
		return T_NUMBER;
	return 0;
}

/* Whether V has one of the types of MASK (0: any). */
static bool sc_fits(struct json_object *v, int mask)
{
	return !mask || (sc_value_type(v) & mask);
}

/* A non-negative integer keyword KEY of S into *OUT (absent: DEF). */
static int sc_count(struct json_object *s, const char *key, int64_t def, int64_t *out,
		    struct buf *path, char *err, size_t errlen)
{
	struct json_object *v = sc_get(s, key);
	*out = def;
	if (!sc_has(s, key))
		return 0;
	if (!sc_is_num(v) || !(sc_value_type(v) & T_INTEGER) || json_object_get_double(v) < 0)
		return sc_fail(err, errlen, path, "'%s' must be a non-negative integer", key);
	double d = json_object_get_double(v);
	*out = d > 1e15 ? (int64_t)1e15 : json_object_get_int64(v);
	return 0;
}

/* The range of a number schema: [lo, hi], each end open when its flag
 * says so. */
struct sc_range {
	double lo, hi;
	bool lo_open, hi_open;
	bool has_lo, has_hi;
};

static int sc_bound(struct json_object *s, const char *key, const char *ex, bool upper,
		    struct sc_range *r, struct buf *path, char *err, size_t errlen)
{
	double *b = upper ? &r->hi : &r->lo;
	bool *open = upper ? &r->hi_open : &r->lo_open;
	bool *has = upper ? &r->has_hi : &r->has_lo;
	struct json_object *v = sc_get(s, key), *x = sc_get(s, ex);
	if (sc_has(s, key)) {
		if (!sc_is_num(v) || !isfinite(json_object_get_double(v)))
			return sc_fail(err, errlen, path, "'%s' must be a number", key);
		*b = json_object_get_double(v);
		*has = true;
	}
	if (sc_has(s, ex)) {
		if (json_object_is_type(x, json_type_boolean)) {
			/* Draft 4: a flag on minimum/maximum. */
			*open = *has && json_object_get_boolean(x);
		} else if (sc_is_num(x) && isfinite(json_object_get_double(x))) {
			double d = json_object_get_double(x);
			if (!*has || (upper ? d <= *b : d >= *b)) {
				*b = d;
				*open = true;
				*has = true;
			}
		} else {
			return sc_fail(err, errlen, path, "'%s' must be a number", ex);
		}
	}
	if (*has && fabs(*b) > SC_NUM_LIMIT) {
		/* Far bounds: clamped, the range only shrinks. */
		if (upper ? *b > 0 : *b < 0) {
			*has = false;
			*open = false;
		} else {
			return sc_fail(err, errlen, path,
				       "'%s' is beyond what elastic-sim generates (|x| <= 1e15)",
				       sc_has(s, ex) && *open ? ex : key);
		}
	}
	return 0;
}

static int sc_range_of(struct json_object *s, struct sc_range *r, struct buf *path, char *err,
		       size_t errlen)
{
	memset(r, 0, sizeof *r);
	if (sc_bound(s, "minimum", "exclusiveMinimum", false, r, path, err, errlen) < 0 ||
	    sc_bound(s, "maximum", "exclusiveMaximum", true, r, path, err, errlen) < 0)
		return -1;
	/* Open ranges get a default width of 100. */
	if (!r->has_lo && !r->has_hi) {
		r->lo = 0;
		r->hi = 100;
	} else if (!r->has_lo) {
		r->lo = r->hi - 100;
	} else if (!r->has_hi) {
		r->hi = r->lo + 100;
	}
	return 0;
}

/* The integers of R: [*LO, *HI]; false when there is none. */
static bool sc_int_range(const struct sc_range *r, int64_t *lo, int64_t *hi)
{
	double a = ceil(r->lo), b = floor(r->hi);
	if (r->lo_open && a == r->lo)
		a += 1;
	if (r->hi_open && b == r->hi)
		b -= 1;
	if (a > b)
		return false;
	*lo = (int64_t)a;
	*hi = (int64_t)b;
	return true;
}

static int sc_check_at(struct json_object *s, struct buf *path, int depth, char *err,
		       size_t errlen);

/* Checks the schema at PATH + SUFFIX. */
static int sc_check_child(struct json_object *s, struct buf *path, int depth, char *err,
			  size_t errlen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int sc_check_child(struct json_object *s, struct buf *path, int depth, char *err,
			  size_t errlen, const char *fmt, ...)
{
	size_t len = path->len;
	char suffix[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(suffix, sizeof suffix, fmt, ap);
	va_end(ap);
	buf_puts(path, suffix);
	int rc = sc_check_at(s, path, depth, err, errlen);
	path->len = len;
	path->data[len] = '\0';
	return rc;
}

static int sc_check_at(struct json_object *s, struct buf *path, int depth, char *err,
		       size_t errlen)
{
	if (json_object_is_type(s, json_type_boolean)) {
		if (!json_object_get_boolean(s))
			return sc_fail(err, errlen, path, "the schema false admits no value");
		return 0;
	}
	if (!json_object_is_type(s, json_type_object))
		return sc_fail(err, errlen, path, "a schema must be a JSON object");
	if (depth > SIM_SCHEMA_MAX_DEPTH)
		return sc_fail(err, errlen, path, "the schema nests more than %d levels deep",
			       SIM_SCHEMA_MAX_DEPTH);
	const char *branches = NULL; /* "anyOf" or "oneOf" */
	const char *other = NULL;    /* a constraining keyword beside them */
	json_object_object_foreach(s, key, val) {
		(void)val;
		if (sc_in(sc_annotations, key))
			continue;
		if (!sc_in(sc_keywords, key))
			return sc_fail(err, errlen, path,
				       "'%.64s' is not supported by elastic-sim's structured output "
				       "(see STRUCTURED OUTPUT in elastic-sim(1))", key);
		if (strcmp(key, "anyOf") == 0 || strcmp(key, "oneOf") == 0) {
			if (branches)
				return sc_fail(err, errlen, path,
					       "'anyOf' and 'oneOf' together are not supported");
			branches = key;
		} else {
			other = key;
		}
	}
	if (branches) {
		if (other)
			return sc_fail(err, errlen, path,
				       "'%s' beside '%s' is not supported: put it in each branch",
				       other, branches);
		struct json_object *b = sc_get(s, branches);
		if (!json_object_is_type(b, json_type_array) || json_object_array_length(b) == 0)
			return sc_fail(err, errlen, path, "'%s' must be a non-empty array of schemas",
				       branches);
		for (size_t i = 0; i < json_object_array_length(b); i++)
			if (sc_check_child(json_object_array_get_idx(b, i), path, depth + 1, err, errlen,
					   ".%s[%zu]", branches, i) < 0)
				return -1;
		return 0;
	}
	int mask = sc_type_mask(s);
	if (mask < 0)
		return sc_fail(err, errlen, path,
			       "'type' must be one of string, integer, number, boolean, array, "
			       "object, null, or a non-empty list of them");
	if (sc_has(s, "const") && !sc_fits(sc_get(s, "const"), mask))
		return sc_fail(err, errlen, path, "'const' is not of the schema's 'type'");
	if (sc_has(s, "enum")) {
		struct json_object *en = sc_get(s, "enum");
		if (!json_object_is_type(en, json_type_array) || json_object_array_length(en) == 0)
			return sc_fail(err, errlen, path, "'enum' must be a non-empty array");
		size_t fit = 0;
		for (size_t i = 0; i < json_object_array_length(en); i++)
			fit += sc_fits(json_object_array_get_idx(en, i), mask);
		if (!fit)
			return sc_fail(err, errlen, path, "no value of 'enum' is of the schema's 'type'");
	}
	/* Objects. */
	struct json_object *props = sc_get(s, "properties");
	if (sc_has(s, "properties")) {
		if (!json_object_is_type(props, json_type_object))
			return sc_fail(err, errlen, path,
				       "'properties' must be an object of schemas");
		json_object_object_foreach(props, pk, ps) {
			if (sc_check_child(ps, path, depth + 1, err, errlen, ".properties.%.64s", pk) < 0)
				return -1;
		}
	}
	if (sc_has(s, "required")) {
		struct json_object *req = sc_get(s, "required");
		bool ok = json_object_is_type(req, json_type_array);
		for (size_t i = 0; ok && i < json_object_array_length(req); i++)
			ok = json_object_is_type(json_object_array_get_idx(req, i), json_type_string);
		if (!ok)
			return sc_fail(err, errlen, path, "'required' must be an array of strings");
	}
	if (sc_has(s, "additionalProperties")) {
		struct json_object *ap = sc_get(s, "additionalProperties");
		if (!json_object_is_type(ap, json_type_boolean) &&
		    sc_check_child(ap, path, depth + 1, err, errlen, ".additionalProperties") < 0)
			return -1;
	}
	/* Arrays. */
	int64_t min_items, max_items;
	if (sc_count(s, "minItems", 0, &min_items, path, err, errlen) < 0 ||
	    sc_count(s, "maxItems", INT64_MAX, &max_items, path, err, errlen) < 0)
		return -1;
	if (min_items > max_items)
		return sc_fail(err, errlen, path, "'minItems' is above 'maxItems'");
	if (min_items > SIM_SCHEMA_MAX_ITEMS)
		return sc_fail(err, errlen, path, "'minItems' above %d is not supported",
			       SIM_SCHEMA_MAX_ITEMS);
	if (sc_has(s, "items")) {
		struct json_object *it = sc_get(s, "items");
		if (json_object_is_type(it, json_type_boolean) && !json_object_get_boolean(it)) {
			if (min_items > 0)
				return sc_fail(err, errlen, path,
					       "'items' is false but 'minItems' is above 0");
		} else if (json_object_is_type(it, json_type_array)) {
			return sc_fail(err, errlen, path,
				       "'items' as a list (tuple validation) is not supported");
		} else if (sc_check_child(it, path, depth + 1, err, errlen, ".items") < 0) {
			return -1;
		}
	}
	/* Strings. */
	int64_t min_len, max_len;
	if (sc_count(s, "minLength", 0, &min_len, path, err, errlen) < 0 ||
	    sc_count(s, "maxLength", INT64_MAX, &max_len, path, err, errlen) < 0)
		return -1;
	if (min_len > max_len)
		return sc_fail(err, errlen, path, "'minLength' is above 'maxLength'");
	if (min_len > SIM_SCHEMA_MAX_LENGTH)
		return sc_fail(err, errlen, path, "'minLength' above %d is not supported",
			       SIM_SCHEMA_MAX_LENGTH);
	/* Numbers. */
	struct sc_range r;
	if (sc_range_of(s, &r, path, err, errlen) < 0)
		return -1;
	if (!sc_has(s, "enum") && !sc_has(s, "const")) {
		int t = sc_gen_type(s);
		int64_t a, b;
		if (t == T_INTEGER && !sc_int_range(&r, &a, &b))
			return sc_fail(err, errlen, path, "no integer is within its bounds");
		if (t == T_NUMBER && (r.lo > r.hi || (r.lo == r.hi && (r.lo_open || r.hi_open))))
			return sc_fail(err, errlen, path, "no number is within its bounds");
	}
	return 0;
}

int sim_schema_check(struct json_object *schema, const char *path, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	buf_puts(&p, path);
	int rc = sc_check_at(schema, &p, 0, err, errlen);
	buf_free(&p);
	return rc;
}

/* ---------------------------------------------------------------- generation */

static void sc_put_json(struct buf *out, struct json_object *v)
{
	if (!v) {
		buf_puts(out, "null");
		return;
	}
	buf_puts(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A few words (2 to 5), grown to MIN and cut to MAX characters. */
static void sc_put_words(struct buf *out, uint64_t seed, int64_t min, int64_t max)
{
	struct buf w = BUF_INIT;
	uint32_t n = 2 + (uint32_t)(seed % 4);
	for (uint32_t i = 0; i < n || (int64_t)w.len < min; i++) {
		size_t wl;
		const char *x = sim_tok_word(seed, i, &wl);
		buf_append(&w, x, wl);
	}
	size_t len = (int64_t)w.len > max ? (size_t)max : w.len;
	buf_json_str(out, w.data, len);
	buf_free(&w);
}

static void sc_put_number(struct buf *out, struct json_object *s, uint64_t seed, bool integer)
{
	struct sc_range r;
	char err[8];
	struct buf path = BUF_INIT;
	sc_range_of(s, &r, &path, err, sizeof err); /* checked before */
	buf_free(&path);
	if (integer) {
		int64_t lo, hi;
		if (!sc_int_range(&r, &lo, &hi))
			lo = hi = 0;
		uint64_t span = (uint64_t)hi - (uint64_t)lo;
		int64_t v = span == UINT64_MAX ? (int64_t)seed : lo + (int64_t)(seed % (span + 1));
		buf_printf(out, "%lld", (long long)v);
		return;
	}
	double u = ((double)(seed >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
	double v = r.lo + (r.hi - r.lo) * u;
	if (v < r.lo || (r.lo_open && v == r.lo) || v > r.hi || (r.hi_open && v == r.hi))
		v = r.lo + (r.hi - r.lo) / 2;
	if (r.lo == r.hi)
		v = r.lo;
	/* Two decimals when that stays inside. */
	double k = round(v * 100) / 100;
	if (k >= r.lo && k <= r.hi && !(r.lo_open && k == r.lo) && !(r.hi_open && k == r.hi))
		v = k;
	char num[40];
	snprintf(num, sizeof num, "%.15g", v);
	if (strtod(num, NULL) != v)
		snprintf(num, sizeof num, "%.17g", v);
	buf_puts(out, num);
}

/* A JSON object of 1 to 3 word keys with words for values. */
static void sc_put_free_object(struct buf *out, uint64_t seed)
{
	uint32_t n = 1 + (uint32_t)(seed % 3);
	char seen[3][8]; /* sim_tok_word's buffer is static: copies */
	size_t nseen = 0;
	buf_putc(out, '{');
	for (uint32_t i = 1; i <= n; i++) {
		size_t wl;
		const char *w = sim_tok_word(seed, i, &wl) + 1; /* past its space */
		bool dup = false;
		for (size_t k = 0; k < nseen; k++)
			dup = dup || strcmp(seen[k], w) == 0;
		if (dup)
			continue;
		snprintf(seen[nseen++], sizeof seen[0], "%s", w);
		buf_puts(out, nseen > 1 ? ", " : "");
		buf_json_str(out, w, wl - 1);
		buf_puts(out, ": ");
		sc_put_words(out, sc_sub(seed, i), 0, INT64_MAX);
	}
	buf_putc(out, '}');
}

static void sc_gen(struct json_object *s, uint64_t seed, size_t end, struct buf *out);

static void sc_gen_object(struct json_object *s, uint64_t seed, size_t end, struct buf *out)
{
	struct json_object *props = sc_get(s, "properties"), *req = sc_get(s, "required");
	bool first = true;
	buf_putc(out, '{');
	if (json_object_is_type(props, json_type_object)) {
		json_object_object_foreach(props, key, ps) {
			if (out->len > end)
				return;
			buf_puts(out, first ? "" : ", ");
			first = false;
			buf_json_str(out, key, strlen(key));
			buf_puts(out, ": ");
			sc_gen(ps, sc_sub(seed, sc_key_salt(key)), end, out);
		}
	}
	size_t nreq = json_object_is_type(req, json_type_array) ? json_object_array_length(req) : 0;
	for (size_t i = 0; i < nreq; i++) {
		const char *key = json_object_get_string(json_object_array_get_idx(req, i));
		bool done = sc_has(props, key);
		for (size_t k = 0; k < i && !done; k++)
			done = strcmp(key, json_object_get_string(json_object_array_get_idx(req, k))) == 0;
		if (done)
			continue;
		if (out->len > end)
			return;
		buf_puts(out, first ? "" : ", ");
		first = false;
		buf_json_str(out, key, strlen(key));
		buf_puts(out, ": ");
		sc_put_words(out, sc_sub(seed, sc_key_salt(key)), 0, INT64_MAX);
	}
	buf_putc(out, '}');
}

static void sc_gen_array(struct json_object *s, uint64_t seed, size_t end, struct buf *out)
{
	int64_t lo = 0, hi = INT64_MAX;
	char err[8];
	struct buf path = BUF_INIT;
	sc_count(s, "minItems", 0, &lo, &path, err, sizeof err); /* checked before */
	sc_count(s, "maxItems", INT64_MAX, &hi, &path, err, sizeof err);
	buf_free(&path);
	struct json_object *items = sc_get(s, "items");
	if (json_object_is_type(items, json_type_boolean) && !json_object_get_boolean(items))
		hi = 0;
	int64_t top = lo > 3 ? lo : 3;
	if (top > hi)
		top = hi;
	int64_t base = lo == 0 && top >= 1 ? 1 : lo;
	int64_t n = base + (int64_t)(seed % (uint64_t)(top - base + 1));
	buf_putc(out, '[');
	for (int64_t i = 0; i < n; i++) {
		if (out->len > end)
			return;
		buf_puts(out, i ? ", " : "");
		uint64_t is = sc_sub(seed, (uint64_t)i + 0x6974656d);
		if (items && !json_object_is_type(items, json_type_boolean))
			sc_gen(items, is, end, out);
		else
			sc_put_words(out, is, 0, INT64_MAX);
	}
	buf_putc(out, ']');
}

/* A value of S (checked) for SEED. */
static void sc_gen(struct json_object *s, uint64_t seed, size_t end, struct buf *out)
{
	if (!json_object_is_type(s, json_type_object)) {
		sc_put_words(out, seed, 0, INT64_MAX); /* true: any value */
		return;
	}
	struct json_object *b = sc_get(s, "anyOf");
	if (!b)
		b = sc_get(s, "oneOf");
	if (b) {
		sc_gen(json_object_array_get_idx(b, 0), seed, end, out);
		return;
	}
	int mask = sc_type_mask(s);
	if (sc_has(s, "const")) {
		sc_put_json(out, sc_get(s, "const"));
		return;
	}
	struct json_object *en = sc_get(s, "enum");
	if (en) {
		size_t fit = 0, n = json_object_array_length(en);
		for (size_t i = 0; i < n; i++)
			fit += sc_fits(json_object_array_get_idx(en, i), mask);
		size_t pick = (size_t)(sim_mix64(seed ^ 0x656e756d) % fit);
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(en, i);
			if (sc_fits(v, mask) && pick-- == 0) {
				sc_put_json(out, v);
				return;
			}
		}
		return;
	}
	int64_t min_len = 0, max_len = INT64_MAX;
	switch (sc_gen_type(s)) {
	case T_OBJECT:
		sc_gen_object(s, seed, end, out);
		break;
	case T_ARRAY:
		sc_gen_array(s, seed, end, out);
		break;
	case T_INTEGER:
		sc_put_number(out, s, seed, true);
		break;
	case T_NUMBER:
		sc_put_number(out, s, seed, false);
		break;
	case T_BOOLEAN:
		buf_puts(out, sim_mix64(seed ^ 0x626f6f6c) & 1 ? "true" : "false");
		break;
	case T_NULL:
		buf_puts(out, "null");
		break;
	default: { /* a string, or any value */
		char err[8];
		struct buf path = BUF_INIT;
		sc_count(s, "minLength", 0, &min_len, &path, err, sizeof err);
		sc_count(s, "maxLength", INT64_MAX, &max_len, &path, err, sizeof err);
		buf_free(&path);
		sc_put_words(out, seed, min_len, max_len);
		break;
	}
	}
}

/* Whether S admits any value and says nothing else. */
static bool sc_is_any(struct json_object *s)
{
	if (json_object_is_type(s, json_type_boolean))
		return true;
	json_object_object_foreach(s, key, val) {
		(void)val;
		if (!sc_in(sc_annotations, key))
			return false;
	}
	return true;
}

void sim_schema_generate(const struct sim_schema_req *r, uint64_t seed, size_t max_bytes,
			 struct buf *out)
{
	size_t end = out->len + max_bytes;
	switch (r->kind) {
	case SIM_SCHEMA_NONE:
		break;
	case SIM_SCHEMA_OBJECT:
		sc_put_free_object(out, seed);
		break;
	case SIM_SCHEMA_JSON:
		if (sc_is_any(r->schema))
			sc_put_free_object(out, seed);
		else
			sc_gen(r->schema, seed, end, out);
		break;
	case SIM_SCHEMA_CHOICE: {
		size_t n = json_object_array_length(r->choices);
		struct json_object *c = json_object_array_get_idx(r->choices, (size_t)(sim_mix64(seed ^ 0x63686f) % n));
		buf_append(out, json_object_get_string(c), (size_t)json_object_get_string_len(c));
		break;
	}
	}
	if (out->len > end) {
		out->len = end;
		out->data[end] = '\0';
	}
}

/* ---------------------------------------------------------------- requests */

void sim_schema_req_free(struct sim_schema_req *r)
{
	json_object_put(r->schema);
	json_object_put(r->choices);
	memset(r, 0, sizeof *r);
}

/* Sets OUT to KIND asked for by PARAM, unless another field asked first. */
static int sr_set(struct sim_schema_req *out, enum sim_schema_kind kind, const char *param,
		  const char **perr, char *err, size_t errlen)
{
	if (out->kind != SIM_SCHEMA_NONE)
		return sim_fail(perr, param, err, errlen,
			       "'%s' and '%s' both ask for structured output: use one", out->param,
			       param);
	out->kind = kind;
	out->param = param;
	return 0;
}

/* A schema given as an object or as JSON text (guided_json). */
static int sr_schema(struct sim_schema_req *out, struct json_object *v, const char *param,
		     const char *path, const char **perr, char *err, size_t errlen)
{
	struct json_object *s = NULL;
	if (json_object_is_type(v, json_type_string)) {
		enum json_tokener_error je;
		s = json_tokener_parse_verbose(json_object_get_string(v), &je);
		if (!s || je != json_tokener_success) {
			json_object_put(s);
			return sim_fail(perr, param, err, errlen, "%s is not valid JSON: %s", path,
				       json_tokener_error_desc(je));
		}
	} else if (json_object_is_type(v, json_type_object) ||
		   json_object_is_type(v, json_type_boolean)) {
		s = json_object_get(v);
	} else {
		return sim_fail(perr, param, err, errlen, "%s must be a JSON schema (an object)", path);
	}
	if (sr_set(out, SIM_SCHEMA_JSON, param, perr, err, errlen) < 0) {
		json_object_put(s);
		return -1;
	}
	out->schema = s;
	if (sim_schema_check(s, path, err, errlen) < 0) {
		*perr = param;
		return -1;
	}
	return 0;
}

static int sr_choice(struct sim_schema_req *out, struct json_object *v, const char *param,
		     const char *path, const char **perr, char *err, size_t errlen)
{
	bool ok = json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0;
	for (size_t i = 0; ok && i < json_object_array_length(v); i++)
		ok = json_object_is_type(json_object_array_get_idx(v, i), json_type_string);
	if (!ok)
		return sim_fail(perr, param, err, errlen, "%s must be a non-empty array of strings",
			       path);
	if (sr_set(out, SIM_SCHEMA_CHOICE, param, perr, err, errlen) < 0)
		return -1;
	out->choices = json_object_get(v);
	return 0;
}

static int sr_response_format(struct sim_schema_req *out, struct json_object *rf,
			      const char **perr, char *err, size_t errlen)
{
	static const char P[] = "response_format";
	static const char shapes[] =
		"'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or "
		"{\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}";
	struct json_object *type = sc_get(rf, "type");
	if (!json_object_is_type(rf, json_type_object) || !json_object_is_type(type, json_type_string))
		return sim_fail(perr, P, err, errlen, "%s", shapes);
	const char *t = json_object_get_string(type);
	if (strcmp(t, "text") == 0)
		return 0;
	if (strcmp(t, "json_object") == 0)
		return sr_set(out, SIM_SCHEMA_OBJECT, P, perr, err, errlen);
	if (strcmp(t, "json_schema") != 0)
		return sim_fail(perr, P, err, errlen, "response_format.type '%.32s' is not one of "
			       "text, json_object, json_schema", t);
	struct json_object *js = sc_get(rf, "json_schema");
	if (!json_object_is_type(js, json_type_object))
		return sim_fail(perr, P, err, errlen,
			       "response_format of type json_schema needs a 'json_schema' object "
			       "({\"name\": ..., \"schema\": {...}})");
	struct json_object *name = sc_get(js, "name"), *strict = sc_get(js, "strict"),
			   *desc = sc_get(js, "description");
	if (!json_object_is_type(name, json_type_string) || json_object_get_string_len(name) == 0)
		return sim_fail(perr, P, err, errlen,
			       "response_format.json_schema needs a non-empty string 'name'");
	if (strict && !json_object_is_type(strict, json_type_boolean))
		return sim_fail(perr, P, err, errlen,
			       "response_format.json_schema.strict must be a boolean");
	if (desc && !json_object_is_type(desc, json_type_string))
		return sim_fail(perr, P, err, errlen,
			       "response_format.json_schema.description must be a string");
	/* vLLM also takes the schema under "json_schema" (its alias). */
	const char *key = sc_has(js, "schema") ? "schema" : "json_schema";
	struct json_object *schema = sc_get(js, key);
	if (!schema)
		return sr_set(out, SIM_SCHEMA_OBJECT, P, perr, err, errlen);
	if (!json_object_is_type(schema, json_type_object) &&
	    !json_object_is_type(schema, json_type_boolean))
		return sim_fail(perr, P, err, errlen,
			       "response_format.json_schema.%s must be a JSON schema (an object)", key);
	char path[64];
	snprintf(path, sizeof path, "response_format.json_schema.%s", key);
	return sr_schema(out, schema, P, path, perr, err, errlen);
}

static int sr_structured_outputs(struct sim_schema_req *out, struct json_object *so,
				 const char **perr, char *err, size_t errlen)
{
	static const char P[] = "structured_outputs";
	if (!json_object_is_type(so, json_type_object))
		return sim_fail(perr, P, err, errlen, "'structured_outputs' must be an object");
	json_object_object_foreach(so, key, v) {
		if (!v)
			continue;
		char path[64];
		snprintf(path, sizeof path, "structured_outputs.%.32s", key);
		if (strcmp(key, "json") == 0) {
			if (sr_schema(out, v, P, path, perr, err, errlen) < 0)
				return -1;
		} else if (strcmp(key, "choice") == 0) {
			if (sr_choice(out, v, P, path, perr, err, errlen) < 0)
				return -1;
		} else if (strcmp(key, "json_object") == 0) {
			if (!json_object_is_type(v, json_type_boolean))
				return sim_fail(perr, P, err, errlen, "%s must be a boolean", path);
			if (json_object_get_boolean(v) &&
			    sr_set(out, SIM_SCHEMA_OBJECT, P, perr, err, errlen) < 0)
				return -1;
		} else if (strcmp(key, "regex") == 0 || strcmp(key, "grammar") == 0 ||
			   strcmp(key, "structural_tag") == 0) {
			return sim_fail(perr, P, err, errlen,
				       "%s is not supported by elastic-sim (json, choice and "
				       "json_object are)", path);
		} else if (strcmp(key, "disable_fallback") != 0 &&
			   strcmp(key, "disable_any_whitespace") != 0 &&
			   strcmp(key, "disable_additional_properties") != 0 &&
			   strcmp(key, "whitespace_pattern") != 0) {
			return sim_fail(perr, P, err, errlen, "%s is not a field of structured_outputs",
				       path);
		}
	}
	return 0;
}

int sim_schema_parse(struct json_object *req, struct sim_schema_req *out, const char **param,
		     char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct json_object *v;
	if ((v = sc_get(req, "response_format")) &&
	    sr_response_format(out, v, param, err, errlen) < 0)
		return -1;
	if ((v = sc_get(req, "guided_json")) &&
	    sr_schema(out, v, "guided_json", "guided_json", param, err, errlen) < 0)
		return -1;
	if ((v = sc_get(req, "guided_choice")) &&
	    sr_choice(out, v, "guided_choice", "guided_choice", param, err, errlen) < 0)
		return -1;
	if ((v = sc_get(req, "structured_outputs")) &&
	    sr_structured_outputs(out, v, param, err, errlen) < 0)
		return -1;
	static const char *const unsupported[] = {"guided_regex", "guided_grammar", NULL};
	for (int i = 0; unsupported[i]; i++)
		if (sc_get(req, unsupported[i]))
			return sim_fail(param, unsupported[i], err, errlen,
				       "'%s' is not supported by elastic-sim (response_format, "
				       "guided_json and guided_choice are)", unsupported[i]);
	return 0;
}
