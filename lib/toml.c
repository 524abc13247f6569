/* toml.c — a strict TOML 1.0 parser: the document's structure (see toml.h).
 *
 * One pass over the bytes, after a first pass that validates the UTF-8 of
 * the whole input. Scalars are read by toml_scalar.c. Every key of every
 * table also goes into one hash index (table, key) -> entry, so that
 * duplicate checks stay O(1) however big a table grows.
 *
 * How tables come to be decides what may extend them (TOML 1.0, "Table"):
 *   [a.b]       defines b (TOML_F_HEADER) and a, unless it exists
 *               (TOML_F_IMPLICIT, which a later [a] may define once);
 *   a.b = 1     creates a (TOML_F_DOTTED), or defines it if it was only
 *               implicit: other dotted keys of the same section may extend
 *               it, headers may add sub-tables to it, but no [a] header
 *               may define it;
 *   a = {...}   is an inline table (TOML_F_INLINE): complete as written;
 *   [[a]]       appends a table to the array of tables a (TOML_F_AOT);
 *               static arrays (a = [...]) cannot be appended to.
 * Dotted keys may only walk through tables that dotted keys created (or
 * implicit ones, which they thereby define), as Python's tomllib does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "toml.h"
#include "toml_impl.h"

/* ------------------------------------------------------------ messages */

int toml_fail(struct toml_parser *p, struct toml_pos at, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	p->err->line = at.line;
	p->err->col = at.col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* Length of the UTF-8 sequence led by C (the input is valid UTF-8). */
static size_t utf8_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static uint32_t utf8_decode(const unsigned char *s, size_t n)
{
	static const unsigned char mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = s[0] & mask[n];
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}

void toml_desc_char(const struct toml_parser *p, size_t off, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)p->src;

	if (off >= p->len) {
		snprintf(out, outlen, "end of file");
	} else if (toml_at_newline(p, off)) {
		snprintf(out, outlen, "end of line");
	} else if (s[off] == '"') {
		snprintf(out, outlen, "'\"'");
	} else if (s[off] >= 0x20 && s[off] < 0x7f) {
		snprintf(out, outlen, "\"%c\"", s[off]);
	} else if (s[off] == '\r') {
		snprintf(out, outlen, "U+000D (a carriage return without a line feed)");
	} else if (s[off] < 0x80) {
		snprintf(out, outlen, "U+%04X", s[off]);
	} else {
		size_t n = utf8_len(s[off]);
		if (off + n > p->len)
			n = p->len - off;
		snprintf(out, outlen, "\"%.*s\" (U+%04X)", (int)n, (const char *)s + off,
			 (unsigned)utf8_decode(s + off, n));
	}
}

/* Appends S quoted: "..." with escapes, cut at about MAX bytes. */
static void quote_into(struct buf *b, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = len;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* not inside a UTF-8 sequence */
	}
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_append(b, e, 6);
		} else {
			buf_putc(b, (char)c);
		}
	}
	if (n < len)
		buf_puts(b, "...");
	buf_putc(b, '"');
}

/* Copies B into OUT, cut at a character boundary if it does not fit. */
static void buf_to(struct buf *b, char *out, size_t outlen)
{
	size_t n = b->len;
	if (outlen == 0)
		return;
	if (n >= outlen) {
		n = outlen - 1;
		while (n > 0 && ((unsigned char)b->data[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, b->data ? b->data : "", n);
	out[n] = '\0';
}

void toml_quote(const char *s, size_t len, char *out, size_t outlen)
{
	struct buf b = BUF_INIT;
	quote_into(&b, s, len, outlen > 16 ? outlen - 16 : 1);
	buf_to(&b, out, outlen);
	buf_free(&b);
}

static bool is_bare(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Appends a key part as TOML would write it: bare when it can be, else in
 * single quotes, else in double quotes with escapes. */
static void fmt_part(struct buf *b, const struct toml_keypart *kp)
{
	bool bare = kp->len > 0, literal = true;
	for (size_t i = 0; i < kp->len; i++) {
		unsigned char c = (unsigned char)kp->s[i];
		if (!is_bare(c))
			bare = false;
		if (c == '\'' || c < 0x20 || c == 0x7f)
			literal = false;
	}
	if (bare && kp->len <= 48) {
		buf_append(b, kp->s, kp->len);
	} else if (bare) {
		buf_append(b, kp->s, 45);
		buf_puts(b, "...");
	} else if (literal) {
		size_t n = kp->len;
		if (n > 45) {
			n = 45;
			while (n > 0 && ((unsigned char)kp->s[n] & 0xc0) == 0x80)
				n--;
		}
		buf_putc(b, '\'');
		buf_append(b, kp->s, n);
		if (n < kp->len)
			buf_puts(b, "...");
		buf_putc(b, '\'');
	} else {
		quote_into(b, kp->s, kp->len, 45);
	}
}

/* A key name for messages: the parts A[0..NA) then B[0..NB), dotted. */
struct keyname {
	char s[128]; /* a.'b c'.d, cut short with "..." */
};

static const char *fmt_key2(struct keyname *kn, const struct toml_keypart *a, size_t na,
			    const struct toml_keypart *b, size_t nb)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < na + nb; i++) {
		if (i)
			buf_putc(&out, '.');
		fmt_part(&out, i < na ? &a[i] : &b[i - na]);
		if (out.len >= sizeof kn->s)
			break;
	}
	if (out.len >= sizeof kn->s) {
		out.len = sizeof kn->s - 4;
		while (out.len > 0 && ((unsigned char)out.data[out.len] & 0xc0) == 0x80)
			out.len--;
		buf_puts(&out, "...");
	}
	buf_to(&out, kn->s, sizeof kn->s);
	buf_free(&out);
	return kn->s;
}

static const char *fmt_key(struct keyname *kn, const struct toml_key *k, size_t n)
{
	return fmt_key2(kn, k->parts, n, NULL, 0);
}

/* "an integer", "an inline table", ... for messages. */
static const char *a_type(const struct toml_value *v)
{
	switch (v->type) {
	case TOML_TABLE: return v->flags & TOML_F_INLINE ? "an inline table" : "a table";
	case TOML_ARRAY: return v->flags & TOML_F_AOT ? "an array of tables" : "an array";
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME: return "an offset date-time";
	case TOML_DATETIME_LOCAL: return "a local date-time";
	case TOML_DATE_LOCAL: return "a local date";
	case TOML_TIME_LOCAL: return "a local time";
	}
	return "a value";
}

/* Where an entry was defined, for messages: its header for tables and
 * arrays of tables, its key otherwise. */
static struct toml_pos defined_at(const struct toml_kv *kv)
{
	const struct toml_value *v = kv->val;
	if (v->type == TOML_TABLE || (v->type == TOML_ARRAY && (v->flags & TOML_F_AOT)))
		return v->pos;
	return kv->key_pos;
}

static int too_deep(struct toml_parser *p, struct toml_pos at)
{
	return toml_fail(p, at, "too deeply nested (more than %d levels of tables and arrays)",
			 TOML_MAX_DEPTH);
}

/* ------------------------------------------------------------ UTF-8 */

/* Checks that the whole input is UTF-8: no stray or missing continuation
 * bytes, no overlong forms, no surrogates, nothing above U+10FFFF. */
static int check_utf8(struct toml_parser *p)
{
	const unsigned char *s = (const unsigned char *)p->src;
	size_t i = p->off, ls = p->line_start;
	int line = 1;

	while (i < p->len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if (c == '\n') {
				line++;
				ls = i + 1;
			}
			i++;
			continue;
		}
		struct toml_pos at = {line, (int)(i - ls) + 1};
		size_t n;
		uint32_t min;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			min = 0x10000;
		} else {
			bool utf16 = i == 0 && p->len >= 2 && ((c == 0xfe && s[1] == 0xff) ||
							     (c == 0xff && s[1] == 0xfe));
			return toml_fail(p, at, "invalid UTF-8 byte 0x%02x%s", c, utf16 ?
					 " (the file looks like UTF-16; TOML files must be UTF-8)" : "");
		}
		for (size_t k = 1; k < n; k++)
			if (i + k >= p->len || (s[i + k] & 0xc0) != 0x80)
				return toml_fail(p, at, "invalid UTF-8 byte 0x%02x (incomplete sequence)", c);
		uint32_t cp = utf8_decode(s + i, n);
		if (cp < min)
			return toml_fail(p, at, "invalid UTF-8: overlong encoding of U+%04X",
					 (unsigned)cp);
		if (cp >= 0xd800 && cp <= 0xdfff)
			return toml_fail(p, at, "invalid UTF-8: encoded surrogate U+%04X",
					 (unsigned)cp);
		if (cp > 0x10ffff)
			return toml_fail(p, at, "invalid UTF-8: U+%X is beyond U+10FFFF",
					 (unsigned)cp);
		i += n;
	}
	return 0;
}

/* ------------------------------------------------------------ index */

static uint64_t key_hash(const struct toml_parser *p, const struct toml_value *t,
			 const char *key, size_t len)
{
	uint64_t h = p->seed ^ ((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull);
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* The entry KEY of table T, or NULL. */
static struct toml_kv *index_find(const struct toml_parser *p, const struct toml_value *t,
				  const char *key, size_t len)
{
	if (!p->nslots)
		return NULL;
	uint64_t h = key_hash(p, t, key, len);
	size_t mask = p->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct toml_slot *sl = &p->slots[i];
		if (!sl->tab)
			return NULL;
		if (sl->tab == t && sl->hash == h) {
			struct toml_kv *kv = &t->u.tab.items[sl->item];
			if (kv->key_len == len && memcmp(kv->key, key, len) == 0)
				return kv;
		}
	}
}

static void index_put(struct toml_slot *slots, size_t nslots, const struct toml_slot *in)
{
	size_t mask = nslots - 1;
	size_t i = in->hash & mask;
	while (slots[i].tab)
		i = (i + 1) & mask;
	slots[i] = *in;
}

/* Adds KP (copied) = VAL to T, in the table and in the index. */
static struct toml_kv *table_add(struct toml_parser *p, struct toml_value *t,
				 const struct toml_keypart *kp, struct toml_value *val)
{
	if ((p->nused + 1) * 2 > p->nslots) {
		size_t n = p->nslots ? p->nslots * 2 : 64;
		struct toml_slot *s = toml_xrealloc(NULL, n * sizeof *s);
		memset(s, 0, n * sizeof *s);
		for (size_t i = 0; i < p->nslots; i++)
			if (p->slots[i].tab)
				index_put(s, n, &p->slots[i]);
		free(p->slots);
		p->slots = s;
		p->nslots = n;
	}
	char *key = toml_xrealloc(NULL, kp->len + 1);
	memcpy(key, kp->s, kp->len + 1);
	struct toml_slot sl = {t, toml_table_push(t, key, kp->len, kp->pos, val),
			       key_hash(p, t, kp->s, kp->len)};
	index_put(p->slots, p->nslots, &sl);
	p->nused++;
	return &t->u.tab.items[sl.item];
}

/* ------------------------------------------------------------ lexing */

static void skip_ws(struct toml_parser *p)
{
	while (p->off < p->len && (p->src[p->off] == ' ' || p->src[p->off] == '\t'))
		p->off++;
}

/* Skips the comment at p->off ("#" up to the end of the line). */
static int skip_comment(struct toml_parser *p)
{
	size_t i = p->off + 1;
	for (; i < p->len; i++) {
		unsigned char c = (unsigned char)p->src[i];
		if (toml_at_newline(p, i))
			break;
		if (toml_is_control(c)) {
			p->off = i;
			return toml_fail(p, toml_here(p),
					 "invalid control character U+%04X in comment", c);
		}
	}
	p->off = i;
	return 0;
}

/* Skips whitespace, comments and newlines (inside arrays). */
static int skip_blank(struct toml_parser *p)
{
	for (;;) {
		skip_ws(p);
		if (p->off < p->len && p->src[p->off] == '#' && skip_comment(p))
			return -1;
		if (!toml_at_newline(p, p->off))
			return 0;
		toml_eat_newline(p);
	}
}

static void key_free(struct toml_key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	memset(k, 0, sizeof *k);
}

/* Reads a key (one or more dot-separated parts) at p->off. WHAT names it
 * for messages: "a key" or "a table name". */
static int parse_key(struct toml_parser *p, struct toml_key *k, const char *what)
{
	char desc[64];

	for (;;) {
		struct toml_keypart kp = {NULL, 0, toml_here(p)};
		unsigned char c = p->off < p->len ? (unsigned char)p->src[p->off] : 0;

		if (p->off < p->len && (c == '"' || c == '\'')) {
			if (toml_scan_string(p, &p->tmp, true))
				return -1;
			kp.len = p->tmp.len;
			kp.s = toml_xrealloc(NULL, kp.len + 1);
			memcpy(kp.s, p->tmp.data, kp.len + 1);
		} else if (p->off < p->len && is_bare(c)) {
			size_t start = p->off;
			while (p->off < p->len && is_bare((unsigned char)p->src[p->off]))
				p->off++;
			kp.len = p->off - start;
			kp.s = toml_xrealloc(NULL, kp.len + 1);
			memcpy(kp.s, p->src + start, kp.len);
			kp.s[kp.len] = '\0';
			/* A character glued to a bare key that cannot follow it. */
			c = p->off < p->len ? (unsigned char)p->src[p->off] : 0;
			if (p->off < p->len &&
			    (c >= 0x80 || (c > 0x20 && c < 0x7f && !strchr(".=]", c)))) {
				free(kp.s);
				toml_desc_char(p, p->off, desc, sizeof desc);
				return toml_fail(p, toml_here(p), "invalid character %s in bare key "
						 "(use A-Z a-z 0-9 _ - or put the key in quotes)", desc);
			}
		} else {
			toml_desc_char(p, p->off, desc, sizeof desc);
			if (k->n == 0 && c == '=')
				return toml_fail(p, toml_here(p), "missing key before \"=\"");
			return toml_fail(p, toml_here(p), "expected %s%s, found %s%s",
					 k->n ? "a key" : what, k->n ? " after \".\"" : "", desc,
					 c >= 0x80 ? " (bare keys may only use A-Z a-z 0-9 _ -)" : "");
		}
		if (k->n == k->cap) {
			k->cap = k->cap ? k->cap * 2 : 4;
			k->parts = toml_xrealloc(k->parts, k->cap * sizeof *k->parts);
		}
		k->parts[k->n++] = kp;

		skip_ws(p);
		if (p->off >= p->len || p->src[p->off] != '.')
			return 0;
		p->off++;
		skip_ws(p);
	}
}

/* ------------------------------------------------------------ values */

static int parse_value(struct toml_parser *p, int depth, struct toml_value **out);
static int parse_keyval(struct toml_parser *p, struct toml_value *tab, int depth);

static int parse_array(struct toml_parser *p, int depth, struct toml_value **out)
{
	struct toml_pos pos = toml_here(p);
	struct toml_value *arr, *item;
	char desc[64];

	if (depth > TOML_MAX_DEPTH)
		return too_deep(p, pos);
	arr = toml_value_new(TOML_ARRAY, pos);
	p->off++;
	for (;;) {
		if (skip_blank(p))
			goto fail;
		if (p->off >= p->len)
			goto unterminated;
		if (p->src[p->off] == ']')
			break;
		if (parse_value(p, depth + 1, &item))
			goto fail;
		toml_array_push(arr, item);
		if (skip_blank(p))
			goto fail;
		if (p->off >= p->len)
			goto unterminated;
		if (p->src[p->off] == ']')
			break;
		if (p->src[p->off] != ',') {
			toml_desc_char(p, p->off, desc, sizeof desc);
			toml_fail(p, toml_here(p),
				  "expected \",\" or \"]\" after an array element, found %s", desc);
			goto fail;
		}
		p->off++;
	}
	p->off++;
	*out = arr;
	return 0;
unterminated:
	toml_fail(p, pos, "unterminated array (missing \"]\")");
fail:
	toml_free(arr);
	return -1;
}

static int parse_inline_table(struct toml_parser *p, int depth, struct toml_value **out)
{
	struct toml_pos pos = toml_here(p);
	struct toml_value *t;
	char desc[64];

	if (depth > TOML_MAX_DEPTH)
		return too_deep(p, pos);
	t = toml_value_new(TOML_TABLE, pos);
	p->off++;
	skip_ws(p);
	if (p->off < p->len && p->src[p->off] == '}') {
		p->off++;
		goto done;
	}
	for (;;) {
		skip_ws(p);
		if (p->off >= p->len)
			goto unterminated;
		if (toml_at_newline(p, p->off))
			goto newline;
		if (p->src[p->off] == '}') {
			toml_fail(p, toml_here(p), "trailing comma in inline table "
				  "(not allowed in TOML 1.0)");
			goto fail;
		}
		if (parse_keyval(p, t, depth))
			goto fail;
		skip_ws(p);
		if (p->off >= p->len)
			goto unterminated;
		if (toml_at_newline(p, p->off))
			goto newline;
		if (p->src[p->off] == '}') {
			p->off++;
			break;
		}
		if (p->src[p->off] != ',') {
			toml_desc_char(p, p->off, desc, sizeof desc);
			toml_fail(p, toml_here(p), "expected \",\" or \"}\" after a value in an "
				  "inline table, found %s", desc);
			goto fail;
		}
		p->off++;
	}
done:
	t->flags |= TOML_F_INLINE;
	*out = t;
	return 0;
newline:
	toml_fail(p, toml_here(p), "newline in inline table (TOML 1.0 inline tables "
		  "must be on one line)");
	goto fail;
unterminated:
	toml_fail(p, pos, "unterminated inline table (missing \"}\")");
fail:
	toml_free(t);
	return -1;
}

/* Any value at p->off; DEPTH is its own depth if it is a container. */
static int parse_value(struct toml_parser *p, int depth, struct toml_value **out)
{
	struct toml_pos pos = toml_here(p);
	struct toml_value *v;
	char c = p->off < p->len ? p->src[p->off] : '\0';

	if (p->off < p->len && c == '[')
		return parse_array(p, depth, out);
	if (p->off < p->len && c == '{')
		return parse_inline_table(p, depth, out);
	if (p->off < p->len && (c == '"' || c == '\'')) {
		if (toml_scan_string(p, &p->tmp, false))
			return -1;
		v = toml_value_new(TOML_STRING, pos);
		v->u.s.len = p->tmp.len;
		v->u.s.ptr = toml_xrealloc(NULL, p->tmp.len + 1);
		memcpy(v->u.s.ptr, p->tmp.data, p->tmp.len + 1);
		*out = v;
		return 0;
	}
	v = toml_value_new(TOML_BOOL, pos);
	if (toml_scan_scalar(p, v)) {
		toml_free(v);
		return -1;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------------ structure */

/* KEY = VALUE into table TAB, which lies at depth DEPTH. */
static int parse_keyval(struct toml_parser *p, struct toml_value *tab, int depth)
{
	struct toml_key k = {0};
	struct keyname n1, n2;
	struct toml_value *t = tab, *val;
	struct toml_kv *kv;
	size_t i;

	if (parse_key(p, &k, "a key"))
		goto fail;
	if (p->off >= p->len || p->src[p->off] != '=') {
		toml_fail(p, toml_here(p), "expected \"=\" after key \"%s\"", fmt_key(&n1, &k, k.n));
		goto fail;
	}
	p->off++;
	skip_ws(p);
	if (p->off >= p->len || toml_at_newline(p, p->off) || p->src[p->off] == '#' ||
	    p->src[p->off] == ',' || p->src[p->off] == '}') {
		toml_fail(p, toml_here(p), "missing value for key \"%s\"", fmt_key(&n1, &k, k.n));
		goto fail;
	}

	/* Walk (and create) the tables of a dotted key. */
	for (i = 0; i + 1 < k.n; i++) {
		struct toml_keypart *kp = &k.parts[i];
		kv = index_find(p, t, kp->s, kp->len);
		if (!kv) {
			if (depth + 1 > TOML_MAX_DEPTH) {
				too_deep(p, kp->pos);
				goto fail;
			}
			struct toml_value *nt = toml_value_new(TOML_TABLE, kp->pos);
			nt->flags = TOML_F_DOTTED;
			table_add(p, t, kp, nt);
			t = nt;
			depth++;
			continue;
		}
		struct toml_value *v = kv->val;
		struct toml_pos at = defined_at(kv);
		if (v->type == TOML_TABLE && (v->flags & TOML_F_INLINE)) {
			toml_fail(p, k.parts[i + 1].pos, "cannot add key \"%s\" to inline table "
				  "defined at %d:%d", fmt_key2(&n1, &k.parts[i + 1], 1, NULL, 0),
				  at.line, at.col);
			goto fail;
		}
		if (v->type == TOML_TABLE && (v->flags & TOML_F_IMPLICIT)) {
			/* Only named as the parent in a header so far ([a.b.c],
			 * then [a] b.d = 1): the dotted key defines it now. */
			v->flags = (v->flags & ~TOML_F_IMPLICIT) | TOML_F_DOTTED;
			v->pos = kp->pos;
		}
		if (v->type == TOML_TABLE && !(v->flags & TOML_F_DOTTED)) {
			toml_fail(p, k.parts[0].pos, "cannot extend table [%s] with dotted key "
				  "\"%s\" (defined by the header at %d:%d)",
				  fmt_key2(&n1, p->cur_name.parts, p->cur_name.n, k.parts, i + 1),
				  fmt_key(&n2, &k, k.n), at.line, at.col);
			goto fail;
		}
		if (v->type != TOML_TABLE) {
			toml_fail(p, k.parts[0].pos, "cannot define key \"%s\": key \"%s\" already "
				  "holds %s (defined at %d:%d)", fmt_key(&n1, &k, k.n),
				  fmt_key(&n2, &k, i + 1), a_type(v), at.line, at.col);
			goto fail;
		}
		t = v;
		depth++;
	}

	struct toml_keypart *last = &k.parts[k.n - 1];
	kv = index_find(p, t, last->s, last->len);
	if (kv) {
		struct toml_pos at = defined_at(kv);
		toml_fail(p, last->pos, "duplicate key \"%s\" (first defined at %d:%d)",
			  fmt_key(&n1, &k, k.n), at.line, at.col);
		goto fail;
	}
	if (parse_value(p, depth + 1, &val))
		goto fail;
	table_add(p, t, last, val);
	key_free(&k);
	return 0;
fail:
	key_free(&k);
	return -1;
}

/* A [table] or [[array of tables]] header at p->off. */
static int parse_header(struct toml_parser *p)
{
	struct toml_pos hpos = toml_here(p);
	bool aot = p->off + 1 < p->len && p->src[p->off + 1] == '[';
	struct toml_key k = {0};
	struct keyname n1, n2;
	struct toml_value *t = p->root, *nt;
	struct toml_kv *kv;
	int depth = 0;
	const char *open = aot ? "[[" : "[", *close = aot ? "]]" : "]";
	const char *kind = aot ? "array of tables" : "table";

	p->off += aot ? 2 : 1;
	skip_ws(p);
	if (parse_key(p, &k, "a table name"))
		goto fail;
	if (p->off >= p->len || p->src[p->off] != ']' ||
	    (aot && (p->off + 1 >= p->len || p->src[p->off + 1] != ']'))) {
		toml_fail(p, toml_here(p), "expected \"%s\" after %s name \"%s\"", close,
			  kind, fmt_key(&n1, &k, k.n));
		goto fail;
	}
	p->off += aot ? 2 : 1;

	for (size_t i = 0; i + 1 < k.n; i++) {
		struct toml_keypart *kp = &k.parts[i];
		kv = index_find(p, t, kp->s, kp->len);
		if (!kv) {
			if (depth + 1 > TOML_MAX_DEPTH) {
				too_deep(p, kp->pos);
				goto fail;
			}
			nt = toml_value_new(TOML_TABLE, hpos);
			nt->flags = TOML_F_IMPLICIT;
			table_add(p, t, kp, nt);
			t = nt;
			depth++;
			continue;
		}
		struct toml_value *v = kv->val;
		struct toml_pos at = defined_at(kv);
		if (v->type == TOML_TABLE && (v->flags & TOML_F_INLINE)) {
			toml_fail(p, hpos, "cannot add %s %s%s%s to inline table defined at %d:%d",
				  kind, open, fmt_key(&n1, &k, k.n), close, at.line, at.col);
			goto fail;
		}
		if (v->type == TOML_TABLE) {
			t = v;
			depth++;
		} else if (v->type == TOML_ARRAY && (v->flags & TOML_F_AOT)) {
			/* The most recent table of the array. */
			t = v->u.arr.items[v->u.arr.len - 1];
			depth += 2;
		} else {
			toml_fail(p, hpos, "cannot define %s %s%s%s: key \"%s\" already holds %s "
				  "(defined at %d:%d)", kind, open, fmt_key(&n1, &k, k.n), close,
				  fmt_key(&n2, &k, i + 1), a_type(v), at.line, at.col);
			goto fail;
		}
	}

	struct toml_keypart *last = &k.parts[k.n - 1];
	kv = index_find(p, t, last->s, last->len);
	if (kv) {
		struct toml_value *v = kv->val;
		struct toml_pos at = defined_at(kv);
		const char *how = NULL;
		if (aot && v->type == TOML_ARRAY && (v->flags & TOML_F_AOT)) {
			if (depth + 2 > TOML_MAX_DEPTH) {
				too_deep(p, hpos);
				goto fail;
			}
			nt = toml_value_new(TOML_TABLE, hpos);
			nt->flags = TOML_F_HEADER;
			toml_array_push(v, nt);
			depth += 2;
			goto section;
		}
		if (!aot && v->type == TOML_TABLE) {
			if (v->flags & TOML_F_IMPLICIT) {
				/* [a] after [a.b]: now defined, here. */
				v->flags = (v->flags & ~TOML_F_IMPLICIT) | TOML_F_HEADER;
				v->pos = hpos;
				kv->key_pos = last->pos;
				nt = v;
				depth++;
				goto section;
			}
			how = v->flags & TOML_F_INLINE ? "as an inline table " :
			      v->flags & TOML_F_DOTTED ? "by a dotted key " : "";
			toml_fail(p, hpos, "table [%s] defined twice (first %sat %d:%d)",
				  fmt_key(&n1, &k, k.n), how, at.line, at.col);
			goto fail;
		}
		toml_fail(p, hpos, "cannot define %s %s%s%s: key \"%s\" already holds %s "
			  "(defined at %d:%d)", kind, open, fmt_key(&n1, &k, k.n), close,
			  fmt_key(&n2, &k, k.n), a_type(v), at.line, at.col);
		goto fail;
	}
	if (depth + (aot ? 2 : 1) > TOML_MAX_DEPTH) {
		too_deep(p, hpos);
		goto fail;
	}
	nt = toml_value_new(TOML_TABLE, hpos);
	nt->flags = TOML_F_HEADER;
	if (aot) {
		struct toml_value *arr = toml_value_new(TOML_ARRAY, hpos);
		arr->flags = TOML_F_AOT;
		toml_array_push(arr, nt);
		table_add(p, t, last, arr);
		depth += 2;
	} else {
		table_add(p, t, last, nt);
		depth++;
	}
section:
	p->cur = nt;
	p->cur_depth = depth;
	key_free(&p->cur_name);
	p->cur_name = k;
	return 0;
fail:
	key_free(&k);
	return -1;
}

static int parse_document(struct toml_parser *p)
{
	char desc[64];

	for (;;) {
		const char *after;
		skip_ws(p);
		if (p->off >= p->len)
			return 0;
		if (toml_at_newline(p, p->off)) {
			toml_eat_newline(p);
			continue;
		}
		if (p->src[p->off] == '#') {
			after = "comment";
		} else if (p->src[p->off] == '[') {
			if (parse_header(p))
				return -1;
			after = "table header";
		} else {
			if (parse_keyval(p, p->cur, p->cur_depth))
				return -1;
			after = "value";
		}
		skip_ws(p);
		if (p->off < p->len && p->src[p->off] == '#' && skip_comment(p))
			return -1;
		if (p->off >= p->len)
			return 0;
		if (!toml_at_newline(p, p->off)) {
			toml_desc_char(p, p->off, desc, sizeof desc);
			return toml_fail(p, toml_here(p), "unexpected %s after %s", desc, after);
		}
		toml_eat_newline(p);
	}
}

/* A seed for the hash index, so that no input can be crafted to collide. */
static uint64_t hash_seed(void)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	return (uint64_t)(uintptr_t)&seed ^ 0x2545f4914f6cdd1dull;
}

struct toml_value *toml_parse(const char *src, size_t len, struct toml_error *err)
{
	struct toml_parser p;
	struct toml_error dummy;
	struct toml_pos start = {1, 1};

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof *err);
	memset(&p, 0, sizeof p);
	p.src = src ? src : "";
	p.len = src ? len : 0;
	p.err = err;
	p.line = 1;
	/* A byte order mark is allowed (and skipped) at the very start. */
	if (p.len >= 3 && memcmp(p.src, "\xef\xbb\xbf", 3) == 0)
		p.off = p.line_start = 3;
	if (check_utf8(&p))
		return NULL;

	p.seed = hash_seed();
	p.root = toml_value_new(TOML_TABLE, start);
	p.root->flags = TOML_F_HEADER;
	p.cur = p.root;
	parse_document(&p);

	free(p.slots);
	buf_free(&p.tmp);
	key_free(&p.cur_name);
	if (p.failed) {
		toml_free(p.root);
		return NULL;
	}
	return p.root;
}
