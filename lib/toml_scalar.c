/* toml_scalar.c — the TOML scalars: the four string forms, integers, floats,
 * booleans and the four date/time kinds (see toml_impl.h). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml_impl.h"

/* ------------------------------------------------------------ strings */

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_val(unsigned char c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

/* The \uXXXX or \UXXXXXXXX escape whose backslash is at p->off. */
static int scan_unicode_escape(struct toml_parser *p, struct buf *out)
{
	size_t bs = p->off;
	char kind = p->src[bs + 1];
	int need = kind == 'u' ? 4 : 8;
	char shown[16];
	int n = 0;
	uint32_t cp = 0;

	/* What was written, for the message: the hex-looking part. */
	while (n < need && bs + 2 + (size_t)n < p->len) {
		unsigned char c = (unsigned char)p->src[bs + 2 + n];
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			break;
		shown[n++] = (char)c;
	}
	shown[n] = '\0';
	for (int i = 0; i < need; i++) {
		if (i >= n || !is_hex((unsigned char)shown[i]))
			return toml_fail(p, toml_pos_at(p, bs),
					 "invalid escape \"\\%c%s\" in string (\\%c needs %d hex digits)",
					 kind, shown, kind, need);
		cp = cp << 4 | hex_val((unsigned char)shown[i]);
	}
	if (cp >= 0xd800 && cp <= 0xdfff)
		return toml_fail(p, toml_pos_at(p, bs),
				 "invalid escape \"\\%c%s\" in string (U+%04X is a surrogate, not a character)",
				 kind, shown, (unsigned)cp);
	if (cp > 0x10ffff)
		return toml_fail(p, toml_pos_at(p, bs),
				 "invalid escape \"\\%c%s\" in string (beyond U+10FFFF, the last code point)",
				 kind, shown);
	put_utf8(out, cp);
	p->off = bs + 2 + (size_t)need;
	return 0;
}

/* The escape whose backslash is at p->off, inside a basic string. */
static int scan_escape(struct toml_parser *p, struct buf *out, bool multiline)
{
	size_t bs = p->off;
	char what[64];

	if (bs + 1 >= p->len)
		return toml_fail(p, toml_here(p), "unterminated string (input ends after \"\\\")");
	unsigned char c = (unsigned char)p->src[bs + 1];
	switch (c) {
	case 'b': buf_putc(out, '\b'); break;
	case 't': buf_putc(out, '\t'); break;
	case 'n': buf_putc(out, '\n'); break;
	case 'f': buf_putc(out, '\f'); break;
	case 'r': buf_putc(out, '\r'); break;
	case '"': buf_putc(out, '"'); break;
	case '\\': buf_putc(out, '\\'); break;
	case 'u':
	case 'U':
		return scan_unicode_escape(p, out);
	default:
		if (multiline && (c == ' ' || c == '\t' || toml_at_newline(p, bs + 1))) {
			/* A line-ending backslash: it, the whitespace after it
			 * and every newline and indentation up to the next
			 * other character vanish. */
			size_t j = bs + 1;
			while (j < p->len && (p->src[j] == ' ' || p->src[j] == '\t'))
				j++;
			if (!toml_at_newline(p, j))
				return toml_fail(p, toml_pos_at(p, bs),
						 "invalid escape \"\\%c\" in string (a line-ending backslash "
						 "must be the last thing on its line)", c == '\t' ? 't' : ' ');
			p->off = j;
			for (;;) {
				if (toml_at_newline(p, p->off))
					toml_eat_newline(p);
				else if (p->off < p->len && (p->src[p->off] == ' ' ||
							     p->src[p->off] == '\t'))
					p->off++;
				else
					break;
			}
			return 0;
		}
		if (c >= 0x20 && c < 0x7f)
			return toml_fail(p, toml_pos_at(p, bs), "invalid escape \"\\%c\" in string", c);
		toml_desc_char(p, bs + 1, what, sizeof what);
		return toml_fail(p, toml_pos_at(p, bs),
				 "invalid escape: \"\\\" followed by %s in string%s", what,
				 toml_at_newline(p, bs + 1) ?
				 " (only multi-line strings may end a line with \"\\\")" : "");
	}
	p->off = bs + 2;
	return 0;
}

/* A control character (or a bare carriage return) at p->off in a string. */
static int bad_control(struct toml_parser *p)
{
	return toml_fail(p, toml_here(p), "invalid control character U+%04X in string",
			 (unsigned char)p->src[p->off]);
}

int toml_scan_string(struct toml_parser *p, struct buf *out, bool key)
{
	const char *s = p->src;
	char q = s[p->off];
	bool basic = q == '"';
	bool multiline = p->off + 2 < p->len && s[p->off + 1] == q && s[p->off + 2] == q;
	struct toml_pos start = toml_here(p);

	buf_reset(out);
	buf_reserve(out, 0);
	if (multiline) {
		if (key)
			return toml_fail(p, start, "a key cannot be a multi-line string");
		p->off += 3;
		/* A newline right after the opening quotes is trimmed. */
		if (toml_at_newline(p, p->off))
			toml_eat_newline(p);
	} else {
		p->off++;
	}

	for (;;) {
		/* Copy the run of plain bytes in one go. */
		size_t run = p->off;
		while (run < p->len) {
			unsigned char c = (unsigned char)s[run];
			if (c == (unsigned char)q || (basic && c == '\\') || c == '\n' ||
			    c == '\r' || toml_is_control(c))
				break;
			run++;
		}
		buf_append(out, s + p->off, run - p->off);
		p->off = run;

		if (p->off >= p->len)
			return toml_fail(p, start, multiline ? "unterminated multi-line string" :
					 "unterminated string");
		unsigned char c = (unsigned char)s[p->off];
		if (c == (unsigned char)q) {
			if (!multiline) {
				p->off++;
				return 0;
			}
			size_t n = 0;
			while (p->off + n < p->len && s[p->off + n] == q)
				n++;
			if (n < 3) {
				buf_append(out, s + p->off, n);
				p->off += n;
				continue;
			}
			if (n > 5)
				return toml_fail(p, toml_here(p),
						 "too many quotes: %c%c%c inside a multi-line string %s",
						 q, q, q, basic ? "must be escaped (\\\")" :
						 "cannot be written (use a basic string)");
			/* Up to two quotes just before the closing ones belong
			 * to the string. */
			buf_append(out, s + p->off, n - 3);
			p->off += n;
			return 0;
		}
		if (c == '\\') {
			if (scan_escape(p, out, multiline))
				return -1;
			continue;
		}
		if (toml_at_newline(p, p->off)) {
			if (!multiline)
				return toml_fail(p, start, "unterminated string (a newline comes "
						 "before the closing quote)");
			/* CR LF becomes LF. */
			buf_putc(out, '\n');
			toml_eat_newline(p);
			continue;
		}
		return bad_control(p);
	}
}

/* ------------------------------------------------------------ scalars */

/* Characters of a number, boolean or date/time "word". */
static bool is_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c == '+' || c == '-' || c == '.' || c == ':';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A scanned word: where it starts and how long it is. */
struct word {
	const char *s;       /* its first byte, in the input */
	size_t len;          /* its length in bytes */
	struct toml_pos pos; /* where it starts */
};

/* "invalid WHAT "WORD" (WHY)", or without " (WHY)" when WHY is NULL. */
static int word_fail(struct toml_parser *p, const struct word *w, const char *what,
		     const char *why)
{
	char shown[96];
	toml_quote(w->s, w->len, shown, sizeof shown);
	return toml_fail(p, w->pos, "invalid %s %s%s%s%s", what, shown, why ? " (" : "",
			 why ? why : "", why ? ")" : "");
}

/* "WHAT WORD PROBLEM", the word as written (words are printable ASCII). */
static int word_too_big(struct toml_parser *p, const struct word *w, const char *what,
			const char *problem)
{
	int n = w->len > 64 ? 64 : (int)w->len;
	return toml_fail(p, w->pos, "%s %.*s%s %s", what, n, w->s,
			 w->len > 64 ? "..." : "", problem);
}

/* Checks DIGITS (of BASE) with underscores only between digits. Returns
 * NULL, or why the digits are wrong. */
static const char *check_digits(const char *s, size_t n, int base, char *why, size_t whylen)
{
	if (n == 0)
		return "no digits";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '_') {
			if (i == 0 || i + 1 == n || s[i - 1] == '_' || s[i + 1] == '_')
				return "underscores must be between digits";
			continue;
		}
		bool ok = base == 16 ? is_hex(c) : (c >= '0' && c < '0' + base);
		if (!ok) {
			if (c > 0x20 && c < 0x7f)
				snprintf(why, whylen, "invalid character \"%c\"%s", c,
					 base == 10 ? "" : base == 16 ? " in a hexadecimal number" :
					 base == 8 ? " in an octal number" : " in a binary number");
			else
				snprintf(why, whylen, "invalid character");
			return why;
		}
	}
	return NULL;
}

/* An integer in base 16, 8 or 2 after its prefix. */
static int scan_radix(struct toml_parser *p, const struct word *w, int base,
		      struct toml_value *v)
{
	char why[80];
	const char *bad = check_digits(w->s + 2, w->len - 2, base, why, sizeof why);
	uint64_t x = 0;

	if (bad)
		return word_fail(p, w, "integer", bad);
	for (size_t i = 2; i < w->len; i++) {
		if (w->s[i] == '_')
			continue;
		unsigned d = hex_val((unsigned char)w->s[i]);
		if (x > ((uint64_t)INT64_MAX - d) / (unsigned)base)
			return word_too_big(p, w, "integer", "overflows 64 bits");
		x = x * (unsigned)base + d;
	}
	v->type = TOML_INTEGER;
	v->u.i = (int64_t)x;
	return 0;
}

/* A decimal integer: [+-] then digits, no leading zero. */
static int scan_decimal(struct toml_parser *p, const struct word *w, struct toml_value *v)
{
	char why[80];
	size_t i = (w->s[0] == '+' || w->s[0] == '-') ? 1 : 0;
	bool neg = w->s[0] == '-';
	const char *bad = check_digits(w->s + i, w->len - i, 10, why, sizeof why);
	uint64_t x = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (bad)
		return word_fail(p, w, "integer", bad);
	if (w->s[i] == '0' && w->len - i > 1)
		return word_fail(p, w, "integer", "leading zeros are not allowed");
	for (; i < w->len; i++) {
		if (w->s[i] == '_')
			continue;
		unsigned d = (unsigned)(w->s[i] - '0');
		if (x > (limit - d) / 10)
			return word_too_big(p, w, "integer", "overflows 64 bits");
		x = x * 10 + d;
	}
	v->type = TOML_INTEGER;
	v->u.i = neg ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

/* strtod() in the C locale whatever the process's locale is. */
static double c_strtod(const char *s, char **end)
{
	static locale_t c_locale;
	locale_t loc = __atomic_load_n(&c_locale, __ATOMIC_ACQUIRE);
	if (!loc) {
		locale_t mine = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
		if (!mine)
			return strtod(s, end);
		locale_t expected = (locale_t)0;
		if (__atomic_compare_exchange_n(&c_locale, &expected, mine, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			loc = mine;
		} else {
			freelocale(mine);
			loc = expected;
		}
	}
	return strtod_l(s, end, loc);
}

/* A float: [+-] int [. digits] [e [+-] digits], or [+-]inf, [+-]nan. */
static int scan_float(struct toml_parser *p, const struct word *w, struct toml_value *v)
{
	char why[80];
	const char *s = w->s, *bad;
	size_t n = w->len, i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
	size_t int_end, frac_end;

	if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
		v->type = TOML_FLOAT;
		if (s[i] == 'i')
			v->u.f = s[0] == '-' ? -INFINITY : INFINITY;
		else
			v->u.f = s[0] == '-' ? -NAN : NAN;
		return 0;
	}
	int_end = i;
	while (int_end < n && s[int_end] != '.' && s[int_end] != 'e' && s[int_end] != 'E')
		int_end++;
	if (int_end == i)
		return word_fail(p, w, "float", s[i] == '.' ? "a digit is needed before \".\"" :
				 "a digit is needed before the exponent");
	bad = check_digits(s + i, int_end - i, 10, why, sizeof why);
	if (bad)
		return word_fail(p, w, "float", bad);
	if (s[i] == '0' && int_end - i > 1)
		return word_fail(p, w, "float", "leading zeros are not allowed");
	frac_end = int_end;
	if (frac_end < n && s[frac_end] == '.') {
		size_t f = ++frac_end;
		while (frac_end < n && s[frac_end] != 'e' && s[frac_end] != 'E')
			frac_end++;
		if (frac_end == f)
			return word_fail(p, w, "float", "a digit is needed after \".\"");
		bad = check_digits(s + f, frac_end - f, 10, why, sizeof why);
		if (bad)
			return word_fail(p, w, "float", bad);
	}
	if (frac_end < n) {
		size_t e = frac_end + 1;
		if (e < n && (s[e] == '+' || s[e] == '-'))
			e++;
		if (e == n)
			return word_fail(p, w, "float", "the exponent needs digits");
		bad = check_digits(s + e, n - e, 10, why, sizeof why);
		if (bad)
			return word_fail(p, w, "float", bad);
	}

	/* Convert without the underscores. */
	buf_reset(&p->tmp);
	for (size_t k = 0; k < n; k++)
		if (s[k] != '_')
			buf_putc(&p->tmp, s[k]);
	char *end;
	errno = 0;
	double d = c_strtod(p->tmp.data, &end);
	if (*end != '\0')
		return word_fail(p, w, "float", "not a number");
	if (errno == ERANGE && isinf(d))
		return word_too_big(p, w, "float", "is out of range");
	v->type = TOML_FLOAT;
	v->u.f = d;
	return 0;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* N digits at S into *OUT; false unless all are digits. */
static bool digits(const char *s, size_t avail, int n, int *out)
{
	int x = 0;
	if ((size_t)n > avail)
		return false;
	for (int i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*out = x;
	return true;
}

/* HH:MM:SS[.frac] at W->s + *I. */
static int scan_time(struct toml_parser *p, const struct word *w, size_t *i,
		     struct toml_datetime *dt, const char *what)
{
	const char *s = w->s;
	size_t n = w->len, k = *i;
	char why[80];

	if (!digits(s + k, n - k, 2, &dt->hour) || k + 2 >= n || s[k + 2] != ':' ||
	    !digits(s + k + 3, n - k - 3, 2, &dt->minute) || k + 5 >= n || s[k + 5] != ':' ||
	    !digits(s + k + 6, n - k - 6, 2, &dt->second))
		return word_fail(p, w, what, "expected a time as HH:MM:SS");
	k += 8;
	if (dt->hour > 23) {
		snprintf(why, sizeof why, "hour %02d is out of range 00-23", dt->hour);
		return word_fail(p, w, what, why);
	}
	if (dt->minute > 59) {
		snprintf(why, sizeof why, "minute %02d is out of range 00-59", dt->minute);
		return word_fail(p, w, what, why);
	}
	if (dt->second > 60) {
		snprintf(why, sizeof why, "second %02d is out of range 00-60", dt->second);
		return word_fail(p, w, what, why);
	}
	if (k < n && s[k] == '.') {
		size_t f = ++k;
		int ns = 0;
		while (k < n && is_digit((unsigned char)s[k])) {
			if (k - f < 9)
				ns = ns * 10 + (s[k] - '0');
			k++;
		}
		if (k == f)
			return word_fail(p, w, what, "a digit is needed after \".\"");
		for (size_t d = k - f; d < 9; d++)
			ns *= 10;
		dt->nanosecond = ns;
		dt->frac_digits = k - f > 1000 ? 1000 : (int)(k - f);
	}
	*i = k;
	return 0;
}

/* A date, date-time or time. */
static int scan_datetime(struct toml_parser *p, const struct word *w, struct toml_value *v)
{
	const char *s = w->s;
	size_t n = w->len, i = 0;
	struct toml_datetime *dt = &v->u.dt;
	char why[96];
	const char *what;

	while (i < n && is_digit((unsigned char)s[i]))
		i++;
	if (i < n && s[i] == ':') {
		i = 0;
		what = "time";
		if (scan_time(p, w, &i, dt, what))
			return -1;
		v->type = TOML_TIME_LOCAL;
		goto end;
	}
	what = n > 10 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') ? "date-time" : "date";
	if (!digits(s, n, 4, &dt->year) || n < 5 || s[4] != '-' ||
	    !digits(s + 5, n - 5, 2, &dt->month) || n < 8 || s[7] != '-' ||
	    !digits(s + 8, n - 8, 2, &dt->day))
		return word_fail(p, w, what, "expected a date as YYYY-MM-DD");
	if (dt->month < 1 || dt->month > 12) {
		snprintf(why, sizeof why, "month %02d is out of range 01-12", dt->month);
		return word_fail(p, w, what, why);
	}
	if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month)) {
		snprintf(why, sizeof why, "day %02d is out of range: %04d-%02d has %d days",
			 dt->day, dt->year, dt->month, days_in_month(dt->year, dt->month));
		return word_fail(p, w, what, why);
	}
	i = 10;
	if (i == n) {
		v->type = TOML_DATE_LOCAL;
		return 0;
	}
	if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') {
		v->type = TOML_DATE_LOCAL;
		goto end;
	}
	i++;
	if (scan_time(p, w, &i, dt, what))
		return -1;
	v->type = TOML_DATETIME_LOCAL;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		v->type = TOML_DATETIME;
		dt->offset_z = true;
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int oh, om;
		if (!digits(s + i + 1, n - i - 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
		    !digits(s + i + 4, n - i - 4, 2, &om))
			return word_fail(p, w, what, "expected an offset as Z, +HH:MM or -HH:MM");
		if (oh > 23 || om > 59) {
			snprintf(why, sizeof why, "offset %c%02d:%02d is out of range", s[i], oh, om);
			return word_fail(p, w, what, why);
		}
		v->type = TOML_DATETIME;
		dt->offset_minutes = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
		i += 6;
	}
end:
	if (i < n) {
		char c[8];
		if (s[i] > 0x20 && s[i] < 0x7f)
			snprintf(c, sizeof c, "\"%c\"", s[i]);
		else
			snprintf(c, sizeof c, "U+%04X", (unsigned char)s[i]);
		if (v->type == TOML_TIME_LOCAL && strchr("Zz+-", s[i]))
			snprintf(why, sizeof why, "a time without a date cannot have an offset");
		else
			snprintf(why, sizeof why, "unexpected %s after the %s", c,
				 v->type == TOML_DATETIME ? "offset" :
				 v->type == TOML_DATE_LOCAL ? "date" : "time");
		return word_fail(p, w, what, why);
	}
	return 0;
}

static bool word_is(const struct word *w, const char *lit)
{
	return w->len == strlen(lit) && memcmp(w->s, lit, w->len) == 0;
}

static bool word_is_nocase(const struct word *w, const char *lit)
{
	return w->len == strlen(lit) && strncasecmp(w->s, lit, w->len) == 0;
}

int toml_scan_scalar(struct toml_parser *p, struct toml_value *v)
{
	const char *s = p->src;
	struct word w;
	size_t start = p->off, end = start;

	while (end < p->len && is_word((unsigned char)s[end]))
		end++;
	/* A date and a time may be separated by a space. */
	if (end - start == 10 && end + 1 < p->len && s[end] == ' ' &&
	    is_digit((unsigned char)s[end + 1]) && s[start + 4] == '-' && s[start + 7] == '-') {
		end++;
		while (end < p->len && is_word((unsigned char)s[end]))
			end++;
	}
	w.s = s + start;
	w.len = end - start;
	w.pos = toml_here(p);
	p->off = end;

	if (w.len == 0) {
		char what[64];
		toml_desc_char(p, start, what, sizeof what);
		return toml_fail(p, w.pos, "expected a value, found %s", what);
	}
	if (word_is(&w, "true") || word_is(&w, "false")) {
		v->type = TOML_BOOL;
		v->u.b = s[start] == 't';
		return 0;
	}
	if (word_is_nocase(&w, "true") || word_is_nocase(&w, "false"))
		return word_fail(p, &w, "boolean", "write true or false in lower case");

	/* Dates and times: digits then "-" or ":" (not in an exponent). */
	if (is_digit((unsigned char)w.s[0])) {
		for (size_t i = 1; i < w.len; i++) {
			if (w.s[i] == ':' || (w.s[i] == '-' && is_digit((unsigned char)w.s[i - 1])))
				return scan_datetime(p, &w, v);
			if (!is_digit((unsigned char)w.s[i]))
				break;
		}
	}

	size_t i = (w.s[0] == '+' || w.s[0] == '-') ? 1 : 0;
	const char *r = w.s + i;
	size_t rn = w.len - i;
	if (rn == 3 && (strncasecmp(r, "inf", 3) == 0 || strncasecmp(r, "nan", 3) == 0) &&
	    !(memcmp(r, "inf", 3) == 0 || memcmp(r, "nan", 3) == 0))
		return word_fail(p, &w, "float", "write inf and nan in lower case");
	if (rn >= 2 && r[0] == '0' && (r[1] == 'x' || r[1] == 'o' || r[1] == 'b')) {
		if (i)
			return word_fail(p, &w, "integer", "only decimal integers may have a sign");
		return scan_radix(p, &w, r[1] == 'x' ? 16 : r[1] == 'o' ? 8 : 2, v);
	}
	if (rn >= 2 && r[0] == '0' && (r[1] == 'X' || r[1] == 'O' || r[1] == 'B'))
		return word_fail(p, &w, "integer", r[1] == 'X' ? "the prefix is 0x, in lower case" :
				 r[1] == 'O' ? "the prefix is 0o, in lower case" :
				 "the prefix is 0b, in lower case");
	if (rn == 3 && (memcmp(r, "inf", 3) == 0 || memcmp(r, "nan", 3) == 0))
		return scan_float(p, &w, v);
	if (rn > 0 && (is_digit((unsigned char)r[0]) || r[0] == '.' || r[0] == '_')) {
		if (memchr(r, '.', rn) || memchr(r, 'e', rn) || memchr(r, 'E', rn))
			return scan_float(p, &w, v);
		return scan_decimal(p, &w, v);
	}
	if (rn > 0 && ((r[0] >= 'a' && r[0] <= 'z') || (r[0] >= 'A' && r[0] <= 'Z')) && !i)
		return word_fail(p, &w, "value", "strings must be in quotes");
	return word_fail(p, &w, "value", NULL);
}
