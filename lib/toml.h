/* toml.h — a strict TOML 1.0 parser.
 *
 * Parses a whole document into a tree of toml_value nodes. Every node and
 * every key remembers where it was written (line and column, both from 1;
 * columns count bytes), so that callers such as the model.toml schema can
 * report `FILE:LINE:COL: message` for any value.
 *
 *   struct toml_error err;
 *   struct toml_value *doc = toml_parse(text, len, &err);
 *   if (!doc) {
 *       fprintf(stderr, "%s:%d:%d: %s\n", file, err.line, err.col, err.msg);
 *       ...
 *   }
 *   const struct toml_value *tp = toml_table_get(toml_table_get(doc, "parallel"), "tp");
 *   toml_free(doc);
 *
 * The parser implements all of TOML 1.0.0: tables, arrays of tables, dotted
 * keys, inline tables, the four string forms with every escape, UTF-8
 * validation, integers in every base with underscores and overflow checks,
 * floats (inf, nan, exponents), booleans and the four date/time kinds.
 * Errors say what is wrong, e.g. `duplicate key "tp" (first defined at 3:1)`.
 *
 * Choices where TOML 1.0 leaves room: newlines inside multi-line strings
 * come out as LF (also when written CR LF); a float too large for a double
 * (1e400) is an error, like an integer beyond 64 bits; fractional seconds
 * are kept to the nanosecond; a UTF-8 byte order mark at the start is
 * skipped (columns on line 1 count from after it). Arrays, inline tables,
 * dotted keys and headers together nest at most TOML_MAX_DEPTH deep. The
 * input is never modified and the tree does not point into it.
 */
#ifndef ES_TOML_H
#define ES_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL,     /* 07:32:00 */
};

/* A position in the source text. */
struct toml_pos {
	int line; /* 1-based line number */
	int col;  /* 1-based byte column */
};

/* The four date/time kinds share one representation; which fields are
 * meaningful depends on the value's type. */
struct toml_datetime {
	int year, month, day;       /* date kinds only */
	int hour, minute, second;   /* time kinds only */
	int nanosecond;             /* fractional seconds, truncated to ns */
	int frac_digits;            /* digits of fraction written (0: none) */
	int offset_minutes;         /* TOML_DATETIME only; east of UTC */
	bool offset_z;              /* TOML_DATETIME written with Z (not +00:00) */
};

struct toml_value;

/* One key of a table, in document order. */
struct toml_kv {
	char *key;              /* the key, unescaped, NUL-terminated */
	size_t key_len;         /* its length (keys may contain NUL via \u0000) */
	struct toml_pos key_pos; /* where the key was written (for a dotted key,
				    the part that names this entry) */
	struct toml_value *val; /* the value; owned by the table */
};

struct toml_value {
	enum toml_type type;
	struct toml_pos pos; /* where the value starts; for a table, its header
				(or the first dotted key that created it) */
	union {
		struct {
			char *ptr;  /* UTF-8, NUL-terminated */
			size_t len; /* bytes, not counting the NUL */
		} s;                /* TOML_STRING */
		int64_t i;          /* TOML_INTEGER */
		double f;           /* TOML_FLOAT */
		bool b;             /* TOML_BOOL */
		struct toml_datetime dt; /* the four date/time types */
		struct {
			struct toml_value **items;
			size_t len, cap;
		} arr;              /* TOML_ARRAY */
		struct {
			struct toml_kv *items;
			size_t len, cap;
		} tab;              /* TOML_TABLE */
	} u;
	/* Parser bookkeeping, meaningful for tables and arrays only: a
	   combination of enum toml_flag bits. */
	unsigned flags;
};

/* Bits of toml_value.flags: how a table or array came to be. */
enum toml_flag {
	TOML_F_HEADER = 1u << 0,   /* table: defined by a [header], or an
				      element of an array of tables */
	TOML_F_IMPLICIT = 1u << 1, /* table: only named as a parent in a header
				      ([a] of [a.b]) so far */
	TOML_F_DOTTED = 1u << 2,   /* table: created by a dotted key (a.b = 1) */
	TOML_F_INLINE = 1u << 3,   /* table: an inline table { ... }; nothing
				      can be added to it afterwards */
	TOML_F_AOT = 1u << 4,      /* array: an array of tables built by
				      [[header]]s (other arrays are static) */
};

/* Arrays and inline tables nest at most this deep, counting every table and
 * array from the root (a deeper document is an error, not a stack overflow). */
#define TOML_MAX_DEPTH 128

/* Short details of a parse error, filled by toml_parse(). */
struct toml_error {
	int line;      /* 1-based; 0 when no position applies */
	int col;       /* 1-based byte column */
	char msg[256]; /* lower-case, no final full stop */
};

/* Parses LEN bytes of SRC (which need not be NUL-terminated). Returns the
 * root table, to be released with toml_free(), or NULL with ERR filled. */
struct toml_value *toml_parse(const char *src, size_t len, struct toml_error *err);

/* Releases a tree returned by toml_parse(). NULL is allowed. */
void toml_free(struct toml_value *v);

/* The value of KEY in table T, or NULL if T is NULL, not a table, or has no
 * such key. */
const struct toml_value *toml_table_get(const struct toml_value *t, const char *key);

/* The entry of KEY in table T (for its key position), or NULL. */
const struct toml_kv *toml_table_entry(const struct toml_value *t, const char *key);

/* "table", "array", "string", "integer", "float", "boolean",
 * "offset date-time", "local date-time", "local date", "local time". */
const char *toml_type_name(enum toml_type t);

/* Writes a date/time value in RFC 3339 form (as written, with fractional
 * seconds when present). Returns the length written, like snprintf. */
int toml_datetime_format(const struct toml_value *v, char *out, size_t outlen);

#endif
