/* toml_impl.h — internals shared by the files of the TOML parser.
 *
 *   toml.c         the document: lines, keys, tables, arrays, inline tables
 *   toml_scalar.c  strings, integers, floats, booleans, dates and times
 *   toml_value.c   the tree: allocation, release, lookups, formatting
 *
 * Other modules use toml.h only.
 */
#ifndef ES_TOML_IMPL_H
#define ES_TOML_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toml.h"

/* One slot of the parser's hash index over every table's keys. */
struct toml_slot {
	const struct toml_value *tab; /* the table; NULL: slot empty */
	size_t item;                  /* index of the key in tab->u.tab.items */
	uint64_t hash;                /* hash of (tab, key) */
};

/* One part of a (possibly dotted) key as written. */
struct toml_keypart {
	char *s;             /* unescaped, NUL-terminated; owned */
	size_t len;          /* bytes, not counting the NUL */
	struct toml_pos pos; /* where the part was written */
};

/* A key as written: a.b."c d" has three parts. */
struct toml_key {
	struct toml_keypart *parts; /* owned, with their strings */
	size_t n, cap;              /* parts used and allocated */
};

/* The state of one toml_parse() call. */
struct toml_parser {
	const char *src;         /* the document (not NUL-terminated) */
	size_t len;              /* its length in bytes */
	size_t off;              /* offset of the next byte to read */
	int line;                /* line of src[off], from 1 */
	size_t line_start;       /* offset of column 1 of that line */
	struct toml_error *err;  /* receives the first error */
	bool failed;             /* an error was reported */
	struct buf tmp;          /* scratch for strings and numbers */

	struct toml_value *root; /* the document's root table */
	struct toml_value *cur;  /* table that key/value lines go into */
	int cur_depth;           /* its depth: 0 for root, +1 per table or array */
	struct toml_key cur_name; /* its header as written (empty for root) */

	struct toml_slot *slots; /* hash index: (table, key) -> item */
	size_t nslots;           /* slots allocated (a power of two, or 0) */
	size_t nused;            /* slots in use */
	uint64_t seed;           /* per-parse hash seed */
};

/* The position of byte OFF, which must lie on the current line. */
static inline struct toml_pos toml_pos_at(const struct toml_parser *p, size_t off)
{
	struct toml_pos pos = {p->line, (int)(off - p->line_start) + 1};
	return pos;
}

/* The position of the next byte. */
static inline struct toml_pos toml_here(const struct toml_parser *p)
{
	return toml_pos_at(p, p->off);
}

/* True when a newline (LF or CR LF) starts at OFF. */
static inline bool toml_at_newline(const struct toml_parser *p, size_t off)
{
	return off < p->len && (p->src[off] == '\n' ||
		(p->src[off] == '\r' && off + 1 < p->len && p->src[off + 1] == '\n'));
}

/* Consumes the newline at p->off (see toml_at_newline) and starts a line. */
static inline void toml_eat_newline(struct toml_parser *p)
{
	p->off += p->src[p->off] == '\r' ? 2 : 1;
	p->line++;
	p->line_start = p->off;
}

/* True for the control characters TOML forbids in strings and comments:
 * U+0000 to U+001F except tab, and U+007F. (Newlines are handled apart.) */
static inline bool toml_is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Records the error (the first one only) and returns -1. */
int toml_fail(struct toml_parser *p, struct toml_pos at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Describes the character at OFF for a message: "x", U+000C,
 * "é" (U+00E9), end of line or end of file. */
void toml_desc_char(const struct toml_parser *p, size_t off, char *out, size_t outlen);

/* Quotes LEN bytes of S for a message, as "text" with \" \\ and \uXXXX
 * escapes; long text is cut short with "...". */
void toml_quote(const char *s, size_t len, char *out, size_t outlen);

/* Scans the string (any of the four forms) that starts at p->off into OUT
 * (reset first; NUL bytes from \u0000 are kept). KEY: a key is being read,
 * so multi-line forms are refused. Returns 0 or -1. */
int toml_scan_string(struct toml_parser *p, struct buf *out, bool key);

/* Scans the integer, float, boolean or date/time that starts at p->off into
 * V (whose type it sets). Returns 0 or -1. */
int toml_scan_scalar(struct toml_parser *p, struct toml_value *v);

/* realloc() that aborts on failure, like lib/buf. */
void *toml_xrealloc(void *ptr, size_t size);

/* A new node of TYPE written at POS: zeroed, aborts when out of memory. */
struct toml_value *toml_value_new(enum toml_type type, struct toml_pos pos);

/* Appends ITEM to array A. */
void toml_array_push(struct toml_value *a, struct toml_value *item);

/* Appends KEY (ownership taken) = VAL to table T; returns the new entry's
 * index. No duplicate check: the parser's index does that. */
size_t toml_table_push(struct toml_value *t, char *key, size_t key_len,
		       struct toml_pos key_pos, struct toml_value *val);

#endif
