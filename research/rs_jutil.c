/* rs_jutil.c — see rs_jutil.h. */
#include "rs_jutil.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RS_JSON_MAX_DEPTH 64

struct json_object *rs_ju_parse(const char *s, size_t len, char *err, size_t errlen)
{
	if (!s || !len) {
		snprintf(err, errlen, "empty, not JSON");
		return NULL;
	}
	if (len > 0x7fffffff) {
		snprintf(err, errlen, "too large to parse (%zu bytes)", len);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(RS_JSON_MAX_DEPTH);
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o && je == json_tokener_success) {
		/* A literal null. */
		while (used < len && strchr(" \t\r\n", s[used]))
			used++;
		if (used == len) {
			snprintf(err, errlen, "null, not a JSON value of use");
			return NULL;
		}
	}
	if (!o) {
		if (je == json_tokener_continue)
			snprintf(err, errlen, "not JSON: unexpected end of input");
		else
			snprintf(err, errlen, "not JSON: %s at byte %zu", json_tokener_error_desc(je), used);
		return NULL;
	}
	while (used < len && strchr(" \t\r\n", s[used]))
		used++;
	if (used < len) {
		snprintf(err, errlen, "not JSON: trailing data at byte %zu", used);
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *rs_ju_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
		return v;
	return NULL;
}

const char *rs_ju_str(struct json_object *o, const char *key, const char *def)
{
	struct json_object *v = rs_ju_get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

double rs_ju_num(struct json_object *o, const char *key, double def)
{
	struct json_object *v = rs_ju_get(o, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_double(v);
	return def;
}

bool rs_ju_bool(struct json_object *o, const char *key, bool def)
{
	struct json_object *v = rs_ju_get(o, key);
	return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : def;
}

const char *rs_ju_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

int rs_write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	static atomic_uint seq;
	struct buf tmp = BUF_INIT;
	int fd = -1, rc = -1;
	buf_printf(&tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1));
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp.data, strerror(errno));
		goto cleanup;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp.data, n < 0 ? strerror(errno) : "short write");
			goto cleanup;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
		goto cleanup;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp.data, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp.data, path, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.data)
		unlink(tmp.data);
	buf_free(&tmp);
	return rc;
}

int rs_read_file(const char *path, struct buf *out, size_t max, char *err, size_t errlen)
{
	if (!max)
		max = (size_t)256 << 20;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char chunk[65536];
	size_t n, total = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		total += n;
		if (total > max) {
			snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
			fclose(f);
			return -1;
		}
		buf_append(out, chunk, n);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (!out->data)
		buf_puts(out, "");
	return 0;
}

double rs_wall_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double rs_mono_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void rs_iso_time(double t, char *out, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void rs_fmt_duration(double s, char *out, size_t len)
{
	if (s < 0 || s != s)
		s = 0;
	long t = (long)(s + 0.5);
	if (t < 60)
		snprintf(out, len, "%lds", t);
	else if (t < 3600)
		snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}
