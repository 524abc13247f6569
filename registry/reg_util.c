/* reg_util.c — see reg_util.h. */
#include "reg_util.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

double reg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int64_t reg_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void reg_strlcpy(char *dst, const char *src, size_t size)
{
	if (size == 0)
		return;
	size_t n = src ? strlen(src) : 0;
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

char *reg_strdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

struct json_object *reg_json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "request body is empty; a JSON object is expected");
		return NULL;
	}
	if (memchr(s, '\0', len)) {
		snprintf(err, errlen, "request body contains a NUL byte");
		return NULL;
	}
	/* json-c's own check lets overlong forms and surrogates through. */
	size_t bad;
	if (!buf_utf8_valid(s, len, &bad)) {
		snprintf(err, errlen, "request body is not valid JSON: invalid UTF-8 at byte %zu", bad);
		return NULL;
	}
	/* json-c's strict mode (no comments, NaN, trailing commas...) and
	 * strings in valid UTF-8, so that whatever the registry echoes back
	 * (ids in replies, events, ls) is valid JSON. */
	struct json_tokener *tok = json_tokener_new_ex(REG_JSON_MAX_DEPTH);
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)(len > 0x7fffffff ? 0x7fffffff : len));
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		if (je == json_tokener_continue)
			snprintf(err, errlen, "request body is not valid JSON: unexpected end of input");
		else
			snprintf(err, errlen, "request body is not valid JSON: %s at byte %zu",
				 json_tokener_error_desc(je), used);
		return NULL;
	}
	while (used < len && strchr(" \t\r\n", s[used]))
		used++;
	if (used < len) {
		snprintf(err, errlen, "request body is not valid JSON: trailing data at byte %zu", used);
		json_object_put(o);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "request body must be a JSON object");
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v; /* NULL for JSON null too */
}

int reg_json_str(struct json_object *o, const char *key, const char **out, char *err,
		 size_t errlen)
{
	struct json_object *v = field(o, key);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return -1;
	}
	const char *s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s)) {
		snprintf(err, errlen, "'%s' must not contain a NUL character", key);
		return -1;
	}
	*out = s;
	return 1;
}

int reg_json_int(struct json_object *o, const char *key, int64_t min, int64_t max,
		 int64_t *out, char *err, size_t errlen)
{
	struct json_object *v = field(o, key);
	if (!v)
		return 0;
	int64_t x;
	if (json_object_is_type(v, json_type_int)) {
		x = json_object_get_int64(v);
		/* json-c saturates values beyond int64 */
		if (x == INT64_MAX || x == INT64_MIN)
			goto range;
	} else if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (d != floor(d) || !isfinite(d) || d < -9e15 || d > 9e15) {
			snprintf(err, errlen, "'%s' must be an integer", key);
			return -1;
		}
		x = (int64_t)d;
	} else {
		snprintf(err, errlen, "'%s' must be an integer", key);
		return -1;
	}
	if (x < min || x > max)
		goto range;
	*out = x;
	return 1;
range:
	snprintf(err, errlen, "'%s' must be an integer between %lld and %lld", key,
		 (long long)min, (long long)max);
	return -1;
}

int reg_json_num(struct json_object *o, const char *key, double min, double max, double *out,
		 char *err, size_t errlen)
{
	struct json_object *v = field(o, key);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
		snprintf(err, errlen, "'%s' must be a number", key);
		return -1;
	}
	double d = json_object_get_double(v);
	if (!isfinite(d) || d < min || d > max) {
		snprintf(err, errlen, "'%s' must be a number between %g and %g", key, min, max);
		return -1;
	}
	*out = d;
	return 1;
}

int reg_json_bool(struct json_object *o, const char *key, int *out, char *err, size_t errlen)
{
	struct json_object *v = field(o, key);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "'%s' must be true or false", key);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 1;
}

int reg_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int reg_json_need_str(struct json_object *o, const char *key, size_t maxlen, const char **out,
		      char *err, size_t errlen)
{
	const char *s = NULL;
	int r = reg_json_str(o, key, &s, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0 || !*s) {
		snprintf(err, errlen, "'%s' is required", key);
		return -1;
	}
	if (strlen(s) > maxlen) {
		snprintf(err, errlen, "'%s' is longer than %zu bytes", key, maxlen);
		return -1;
	}
	if (!reg_printable(s)) {
		snprintf(err, errlen, "'%s' must not contain control characters", key);
		return -1;
	}
	*out = s;
	return 0;
}
