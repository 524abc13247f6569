/* rs_jutil.h — small json-c helpers shared by elastic-research's agent,
 * run, eval and chat: parsing with a reason, getters with defaults,
 * writing a file atomically, ISO times.
 */
#ifndef ES_RS_JUTIL_H
#define ES_RS_JUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct json_object;

/* Parses LEN bytes of S as one JSON value (strict: no trailing data).
 * Returns a new reference, or NULL with ERR ("unexpected end of input",
 * "... at byte N", "trailing data at byte N"). */
struct json_object *rs_ju_parse(const char *s, size_t len, char *err, size_t errlen);

/* Member KEY of object O (NULL when O is not an object or has no KEY). */
struct json_object *rs_ju_get(struct json_object *o, const char *key);
/* Member KEY as a string (DEF when absent or not a string). */
const char *rs_ju_str(struct json_object *o, const char *key, const char *def);
/* Member KEY as a number (DEF when absent or not a number). */
double rs_ju_num(struct json_object *o, const char *key, double def);
/* Member KEY as a boolean (DEF when absent or not a boolean). */
bool rs_ju_bool(struct json_object *o, const char *key, bool def);

/* O as compact JSON (no escaped slashes); valid until O changes. */
const char *rs_ju_text(struct json_object *o);

/* Writes LEN bytes of DATA to PATH atomically: a temporary file beside it
 * (PATH.tmp.PID.N), fsync, rename. Returns 0, or -1 with ERR. */
int rs_write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen);

/* Reads the whole file PATH into OUT (appended). Returns 0, or -1 with
 * ERR ("cannot open PATH: ..."). At most MAX bytes (0: 256 MiB). */
int rs_read_file(const char *path, struct buf *out, size_t max, char *err, size_t errlen);

/* Wall clock and monotonic clock in seconds. */
double rs_wall_time(void);
double rs_mono_time(void);

/* Formats epoch seconds T as "2025-01-31T12:00:00Z" into OUT. */
void rs_iso_time(double t, char *out, size_t len);

/* "45s", "3m12s", "2h05m". */
void rs_fmt_duration(double secs, char *out, size_t len);

#endif
