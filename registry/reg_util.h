/* reg_util.h — small helpers shared by the registry's modules: clocks,
 * bounded string copies, and typed access to json-c objects with errors that
 * name the field.
 */
#ifndef ES_REG_UTIL_H
#define ES_REG_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Wall-clock time in Unix seconds (for what the API shows and SLURM's
 * times), and a monotonic clock in milliseconds (for timeouts). */
double reg_now(void);
int64_t reg_mono_ms(void);

/* Copies SRC into DST of SIZE bytes, always NUL-terminated, truncating. */
void reg_strlcpy(char *dst, const char *src, size_t size);

/* strdup that aborts on failure; NULL stays NULL. */
char *reg_strdup(const char *s);

/* Containers nest at most this deep in a parsed body. */
#define REG_JSON_MAX_DEPTH 32

/* Parses LEN bytes of S as one JSON object in json-c's strict mode (no
 * comments, NaN or trailing commas), strings in valid UTF-8, at most
 * REG_JSON_MAX_DEPTH levels deep.
 * Returns it (release with json_object_put), or NULL with ERR ("body is
 * not valid JSON: ..."). */
struct json_object *reg_json_parse(const char *s, size_t len, char *err, size_t errlen);

/* Typed getters. They return 1 when KEY is present and valid (*OUT set),
 * 0 when it is absent or null (*OUT untouched), -1 when it has the wrong
 * type or range: ERR then says so, naming KEY ("'port' must be an integer
 * between 1 and 65535"). Strings are borrowed from O. */
int reg_json_str(struct json_object *o, const char *key, const char **out, char *err,
		 size_t errlen);
int reg_json_int(struct json_object *o, const char *key, int64_t min, int64_t max,
		 int64_t *out, char *err, size_t errlen);
int reg_json_num(struct json_object *o, const char *key, double min, double max, double *out,
		 char *err, size_t errlen);
int reg_json_bool(struct json_object *o, const char *key, int *out, char *err, size_t errlen);

/* A string field that must be present, non-empty, at most MAXLEN bytes and
 * free of control characters. Returns 0, or -1 with ERR. */
int reg_json_need_str(struct json_object *o, const char *key, size_t maxlen, const char **out,
		      char *err, size_t errlen);

/* Whether S (any length) holds only printable ASCII and UTF-8 (no control
 * characters). */
int reg_printable(const char *s);

#endif
