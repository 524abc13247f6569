/* check_toml.c — lib/toml: values, positions, and every error's message,
 * line and column.
 *
 * Every document is parsed from a heap copy of exactly its length, without
 * a terminating NUL, so that AddressSanitizer catches any read past `len`.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "toml.h"

/* Parses LEN bytes of SRC from an exact-size heap copy. */
static struct toml_value *parse_n(const char *src, size_t len, struct toml_error *err)
{
	char *copy = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, src, len);
	struct toml_value *doc = toml_parse(copy, len, err);
	free(copy); /* the tree must not point into the input */
	return doc;
}

/* Parses SRC, which must be valid. */
static struct toml_value *parse_ok(const char *src)
{
	struct toml_error err;
	struct toml_value *doc = parse_n(src, strlen(src), &err);
	ck_assert_msg(doc != NULL, "unexpected error %d:%d: %s in:\n%s", err.line, err.col,
		      err.msg, src);
	return doc;
}

static const struct toml_value *get(const struct toml_value *t, const char *key)
{
	const struct toml_value *v = toml_table_get(t, key);
	ck_assert_msg(v != NULL, "no key \"%s\"", key);
	return v;
}

static int64_t get_int(const struct toml_value *t, const char *key)
{
	const struct toml_value *v = get(t, key);
	ck_assert_int_eq(v->type, TOML_INTEGER);
	return v->u.i;
}

static double get_float(const struct toml_value *t, const char *key)
{
	const struct toml_value *v = get(t, key);
	ck_assert_int_eq(v->type, TOML_FLOAT);
	return v->u.f;
}

static const char *get_str(const struct toml_value *t, const char *key)
{
	const struct toml_value *v = get(t, key);
	ck_assert_int_eq(v->type, TOML_STRING);
	ck_assert_uint_eq(strlen(v->u.s.ptr), v->u.s.len);
	return v->u.s.ptr;
}

#define ck_assert_pos(p, l, c)                                                       \
	do {                                                                         \
		ck_assert_int_eq((p).line, (l));                                     \
		ck_assert_int_eq((p).col, (c));                                      \
	} while (0)

/* ------------------------------------------------------------ errors */

struct err_case {
	const char *src; /* the document */
	size_t len;      /* its length; 0: strlen(src) */
	int line, col;   /* where the error must be reported */
	const char *msg; /* the exact message */
};


static const struct err_case err_cases[] = {
	/* keys and tables */
	{"a = 1\na = 2\n", 0, 2, 1, "duplicate key \"a\" (first defined at 1:1)"},
	{"[parallel]\ntp = 4\n\ntp = 8\n", 0, 4, 1, "duplicate key \"tp\" (first defined at 2:1)"},
	{"name \"x\"\n", 0, 1, 6, "expected \"=\" after key \"name\""},
	{"a = {b = 1, b = 2}\n", 0, 1, 13, "duplicate key \"b\" (first defined at 1:6)"},
	{"'a.b' = 1\n'a.b' = 2\n", 0, 2, 1, "duplicate key \"'a.b'\" (first defined at 1:1)"},
	{"[slurm]\na = 1\n[slurm]\n", 0, 3, 1, "table [slurm] defined twice (first at 1:1)"},
	{"[a]\n[a.b]\nc = 1\n[a]\n", 0, 4, 1, "table [a] defined twice (first at 1:1)"},
	{"[a.\"b c\".d]\n[a.\"b c\".d]\n", 0, 2, 1, "table [a.'b c'.d] defined twice (first at 1:1)"},
	{"a = {}\na.x = 1\n", 0, 2, 3, "cannot add key \"x\" to inline table defined at 1:5"},
	{"a = {b = {c = 1}, b.d = 2}\n", 0, 1, 21,
	 "cannot add key \"d\" to inline table defined at 1:10"},
	{"a = {}\n[a.b]\n", 0, 2, 1, "cannot add table [a.b] to inline table defined at 1:5"},
	{"[a]\nb = 1\n[a.b]\n", 0, 3, 1,
	 "cannot define table [a.b]: key \"a.b\" already holds an integer (defined at 2:1)"},
	{"a = 1\n[a.b]\n", 0, 2, 1,
	 "cannot define table [a.b]: key \"a\" already holds an integer (defined at 1:1)"},
	{"a = [{}]\n[a.b]\n", 0, 2, 1,
	 "cannot define table [a.b]: key \"a\" already holds an array (defined at 1:1)"},
	{"a = [1]\n[[a]]\n", 0, 2, 1,
	 "cannot define array of tables [[a]]: key \"a\" already holds an array (defined at 1:1)"},
	{"[[a]]\n[a]\n", 0, 2, 1, "cannot define table [a]: key \"a\" already holds an array "
	 "of tables (defined at 1:1)"},
	{"[a]\n[[a]]\n", 0, 2, 1, "cannot define array of tables [[a]]: key \"a\" already "
	 "holds a table (defined at 1:1)"},
	{"a.b = 1\n[a]\n", 0, 2, 1, "table [a] defined twice (first by a dotted key at 1:1)"},
	{"a.b.c = 1\n[a.b]\n", 0, 2, 1, "table [a.b] defined twice (first by a dotted key at 1:3)"},
	{"a = {b = 1}\n[a]\n", 0, 2, 1, "table [a] defined twice (first as an inline table at 1:5)"},
	{"[a.b.c]\nz = 1\n[a]\nb.c.t = 1\n", 0, 4, 1, "cannot extend table [a.b.c] with dotted "
	 "key \"b.c.t\" (defined by the header at 1:1)"},
	{"[a.b]\n[a]\nb.c = 1\n", 0, 3, 1, "cannot extend table [a.b] with dotted "
	 "key \"b.c\" (defined by the header at 1:1)"},
	{"[a.b.c]\n[a]\nb.d = 1\n[a.b]\n", 0, 4, 1,
	 "table [a.b] defined twice (first by a dotted key at 3:1)"},
	{"a.b = 1\na.b.c = 2\n", 0, 2, 1, "cannot define key \"a.b.c\": key \"a.b\" already "
	 "holds an integer (defined at 1:3)"},
	{"= 1", 0, 1, 1, "missing key before \"=\""},
	{"a =", 0, 1, 4, "missing value for key \"a\""},
	{"a = #x\n", 0, 1, 5, "missing value for key \"a\""},
	{"a$b = 1", 0, 1, 2,
	 "invalid character \"$\" in bare key (use A-Z a-z 0-9 _ - or put the key in quotes)"},
	{"\xca\x8e = 1", 0, 1, 1, "expected a key, found \"\xca\x8e\" (U+028E) "
	 "(bare keys may only use A-Z a-z 0-9 _ -)"},
	{"a.. = 1", 0, 1, 3, "expected a key after \".\", found \".\""},
	{"a. = 1", 0, 1, 4, "expected a key after \".\", found \"=\""},
	{"\"\"\"a\"\"\" = 1", 0, 1, 1, "a key cannot be a multi-line string"},
	{"[a", 0, 1, 3, "expected \"]\" after table name \"a\""},
	{"[[a]", 0, 1, 4, "expected \"]]\" after array of tables name \"a\""},
	{"[]\n", 0, 1, 2, "expected a table name, found \"]\""},
	{"[a.]\n", 0, 1, 4, "expected a key after \".\", found \"]\""},
	{"[ a ] ]\n", 0, 1, 7, "unexpected \"]\" after table header"},
	{"key = \"value\" # ok\n[tbl] extra\n", 0, 2, 7, "unexpected \"e\" after table header"},
	{"a = 1 2\n", 0, 1, 7, "unexpected \"2\" after value"},
	{"a = \"x\" \"y\"\n", 0, 1, 9, "unexpected '\"' after value"},

	/* arrays and inline tables */
	{"a = [1,,2]\n", 0, 1, 8, "expected a value, found \",\""},
	{"a = [1 2]\n", 0, 1, 8, "expected \",\" or \"]\" after an array element, found \"2\""},
	{"a = [1, 2", 0, 1, 5, "unterminated array (missing \"]\")"},
	{"a = [\n 1,\n 2\n", 0, 1, 5, "unterminated array (missing \"]\")"},
	{"a = {b = 1,}\n", 0, 1, 12, "trailing comma in inline table (not allowed in TOML 1.0)"},
	{"a = {b = 1\n}\n", 0, 1, 11,
	 "newline in inline table (TOML 1.0 inline tables must be on one line)"},
	{"a = {b = 1 c = 2}\n", 0, 1, 12,
	 "expected \",\" or \"}\" after a value in an inline table, found \"c\""},
	{"a = {b = 1", 0, 1, 5, "unterminated inline table (missing \"}\")"},

	/* strings */
	{"a = \"\\q\"\n", 0, 1, 6, "invalid escape \"\\q\" in string"},
	{"a = \"\\x41\"\n", 0, 1, 6, "invalid escape \"\\x\" in string"},
	{"a = \"\\uD800\"\n", 0, 1, 6,
	 "invalid escape \"\\uD800\" in string (U+D800 is a surrogate, not a character)"},
	{"a = \"\\U00110000\"\n", 0, 1, 6,
	 "invalid escape \"\\U00110000\" in string (beyond U+10FFFF, the last code point)"},
	{"a = \"\\u12\"\n", 0, 1, 6, "invalid escape \"\\u12\" in string (\\u needs 4 hex digits)"},
	{"a = \"\\\n\"", 0, 1, 6, "invalid escape: \"\\\" followed by end of line in string "
	 "(only multi-line strings may end a line with \"\\\")"},
	{"a = \"\"\"x\\ y\"\"\"\n", 0, 1, 9, "invalid escape \"\\ \" in string (a line-ending "
	 "backslash must be the last thing on its line)"},
	{"a = \"\"\"x\"\"\"\"\"\"\n", 0, 1, 9,
	 "too many quotes: \"\"\" inside a multi-line string must be escaped (\\\")"},
	{"a = '''x''''''\n", 0, 1, 9, "too many quotes: ''' inside a multi-line string "
	 "cannot be written (use a basic string)"},
	{"a = \"\"\"abc\n", 0, 1, 5, "unterminated multi-line string"},
	{"a = \"\"\"\nabc\n\n", 0, 1, 5, "unterminated multi-line string"},
	{"a = \"abc\nb = 1\n", 0, 1, 5,
	 "unterminated string (a newline comes before the closing quote)"},
	{"a = 'abc", 0, 1, 5, "unterminated string"},
	{"a = \"abc\\", 0, 1, 9, "unterminated string (input ends after \"\\\")"},
	{"a = vllm\n", 0, 1, 5, "invalid value \"vllm\" (strings must be in quotes)"},

	/* control characters, NUL, CR */
	{"# comment \x01\n", 0, 1, 11, "invalid control character U+0001 in comment"},
	{"# comment \x7f\n", 0, 1, 11, "invalid control character U+007F in comment"},
	{"a = \"x\0y\"\n", 10, 1, 7, "invalid control character U+0000 in string"},
	{"a = 1\0", 6, 1, 6, "unexpected U+0000 after value"},
	{"\0", 1, 1, 1, "expected a key, found U+0000"},
	{"a = \"a\tb\x7f\"\n", 0, 1, 9, "invalid control character U+007F in string"},
	{"a = '''a\x0b" "b'''\n", 0, 1, 9, "invalid control character U+000B in string"},
	{"a = 'x\ry'\n", 0, 1, 7, "invalid control character U+000D in string"},
	{"a = 1\r", 0, 1, 6, "unexpected U+000D (a carriage return without a line feed) after value"},
	{"a = 1\r\nb = 2\r\nc = x\r\n", 0, 3, 5, "invalid value \"x\" (strings must be in quotes)"},
	{"a = \"\"\"\r\n1\r\n2\r\n\"\"\"\r\nb = \"\\q\"\r\n", 0, 5, 6,
	 "invalid escape \"\\q\" in string"},
	{"\xef\xbb\xbf" "a = x", 0, 1, 5, "invalid value \"x\" (strings must be in quotes)"},
	{"\xff\xfe" "a\0", 4, 1, 1,
	 "invalid UTF-8 byte 0xff (the file looks like UTF-16; TOML files must be UTF-8)"},

	/* UTF-8 */
	{"a = \"\xff\"\n", 0, 1, 6, "invalid UTF-8 byte 0xff"},
	{"a = \"\x80\"\n", 0, 1, 6, "invalid UTF-8 byte 0x80"},
	{"a = \"\xc0\x80\"", 0, 1, 6, "invalid UTF-8 byte 0xc0"},
	{"a = \"\xe0\x80\x80\"", 0, 1, 6, "invalid UTF-8: overlong encoding of U+0000"},
	{"a = \"\xf0\x8f\xbf\xbf\"", 0, 1, 6, "invalid UTF-8: overlong encoding of U+FFFF"},
	{"a = \"\xed\xa0\x80\"", 0, 1, 6, "invalid UTF-8: encoded surrogate U+D800"},
	{"a = \"\xf4\x90\x80\x80\"", 0, 1, 6, "invalid UTF-8: U+110000 is beyond U+10FFFF"},
	{"a = \"\xe2\x82\"", 0, 1, 6, "invalid UTF-8 byte 0xe2 (incomplete sequence)"},
	{"x = 1\ny = \"abc\xe2\x80", 0, 2, 9, "invalid UTF-8 byte 0xe2 (incomplete sequence)"},
	{"# \xc3\xa9 ok\n# \xc3(\n", 0, 2, 3, "invalid UTF-8 byte 0xc3 (incomplete sequence)"},

	/* integers */
	{"a = 9223372036854775808\n", 0, 1, 5, "integer 9223372036854775808 overflows 64 bits"},
	{"a = -9223372036854775809\n", 0, 1, 5, "integer -9223372036854775809 overflows 64 bits"},
	{"a = 0x8000000000000000\n", 0, 1, 5, "integer 0x8000000000000000 overflows 64 bits"},
	{"a = 0o1000000000000000000000\n", 0, 1, 5,
	 "integer 0o1000000000000000000000 overflows 64 bits"},
	{"a = 01\n", 0, 1, 5, "invalid integer \"01\" (leading zeros are not allowed)"},
	{"a = -0_1\n", 0, 1, 5, "invalid integer \"-0_1\" (leading zeros are not allowed)"},
	{"a = 1__0\n", 0, 1, 5, "invalid integer \"1__0\" (underscores must be between digits)"},
	{"a = 10_\n", 0, 1, 5, "invalid integer \"10_\" (underscores must be between digits)"},
	{"a = 0x_1\n", 0, 1, 5, "invalid integer \"0x_1\" (underscores must be between digits)"},
	{"a = +0x10", 0, 1, 5, "invalid integer \"+0x10\" (only decimal integers may have a sign)"},
	{"a = 0X10", 0, 1, 5, "invalid integer \"0X10\" (the prefix is 0x, in lower case)"},
	{"a = 0b102\n", 0, 1, 5,
	 "invalid integer \"0b102\" (invalid character \"2\" in a binary number)"},
	{"a = 0o8\n", 0, 1, 5, "invalid integer \"0o8\" (invalid character \"8\" in an octal number)"},
	{"a = 0xfg\n", 0, 1, 5,
	 "invalid integer \"0xfg\" (invalid character \"g\" in a hexadecimal number)"},
	{"a = 0x\n", 0, 1, 5, "invalid integer \"0x\" (no digits)"},
	{"a = 12a\n", 0, 1, 5, "invalid integer \"12a\" (invalid character \"a\")"},
	{"a = ++1\n", 0, 1, 5, "invalid value \"++1\""},

	/* floats */
	{"a = 1.\n", 0, 1, 5, "invalid float \"1.\" (a digit is needed after \".\")"},
	{"a = .5\n", 0, 1, 5, "invalid float \".5\" (a digit is needed before \".\")"},
	{"a = 1e\n", 0, 1, 5, "invalid float \"1e\" (the exponent needs digits)"},
	{"a = 1e+\n", 0, 1, 5, "invalid float \"1e+\" (the exponent needs digits)"},
	{"a = 03.14\n", 0, 1, 5, "invalid float \"03.14\" (leading zeros are not allowed)"},
	{"a = 1_.5\n", 0, 1, 5, "invalid float \"1_.5\" (underscores must be between digits)"},
	{"a = 1.5_\n", 0, 1, 5, "invalid float \"1.5_\" (underscores must be between digits)"},
	{"a = 1e_5\n", 0, 1, 5, "invalid float \"1e_5\" (underscores must be between digits)"},
	{"a = 1.2.3\n", 0, 1, 5, "invalid float \"1.2.3\" (invalid character \".\")"},
	{"a = 1e400", 0, 1, 5, "float 1e400 is out of range"},
	{"a = Inf\n", 0, 1, 5, "invalid float \"Inf\" (write inf and nan in lower case)"},
	{"a = -NaN\n", 0, 1, 5, "invalid float \"-NaN\" (write inf and nan in lower case)"},
	{"a = inf_\n", 0, 1, 5, "invalid value \"inf_\" (strings must be in quotes)"},

	/* booleans */
	{"a = True", 0, 1, 5, "invalid boolean \"True\" (write true or false in lower case)"},
	{"a = truex", 0, 1, 5, "invalid value \"truex\" (strings must be in quotes)"},

	/* dates and times */
	{"a = 2021-02-29\n", 0, 1, 5,
	 "invalid date \"2021-02-29\" (day 29 is out of range: 2021-02 has 28 days)"},
	{"a = 1900-02-29\n", 0, 1, 5,
	 "invalid date \"1900-02-29\" (day 29 is out of range: 1900-02 has 28 days)"},
	{"a = 2021-04-31\n", 0, 1, 5,
	 "invalid date \"2021-04-31\" (day 31 is out of range: 2021-04 has 30 days)"},
	{"a = 2021-01-00\n", 0, 1, 5,
	 "invalid date \"2021-01-00\" (day 00 is out of range: 2021-01 has 31 days)"},
	{"a = 2000-13-01\n", 0, 1, 5, "invalid date \"2000-13-01\" (month 13 is out of range 01-12)"},
	{"a = 2000-00-01\n", 0, 1, 5, "invalid date \"2000-00-01\" (month 00 is out of range 01-12)"},
	{"a = 2000-1-01\n", 0, 1, 5, "invalid date \"2000-1-01\" (expected a date as YYYY-MM-DD)"},
	{"a = 24:00:00\n", 0, 1, 5, "invalid time \"24:00:00\" (hour 24 is out of range 00-23)"},
	{"a = 12:60:00\n", 0, 1, 5, "invalid time \"12:60:00\" (minute 60 is out of range 00-59)"},
	{"a = 12:00:61\n", 0, 1, 5, "invalid time \"12:00:61\" (second 61 is out of range 00-60)"},
	{"a = 12:00\n", 0, 1, 5, "invalid time \"12:00\" (expected a time as HH:MM:SS)"},
	{"a = 07:32:00Z\n", 0, 1, 5,
	 "invalid time \"07:32:00Z\" (a time without a date cannot have an offset)"},
	{"a = 1979-05-27 07:32\n", 0, 1, 5,
	 "invalid date-time \"1979-05-27 07:32\" (expected a time as HH:MM:SS)"},
	{"a = 1979-05-27T07:32:00+24:00\n", 0, 1, 5,
	 "invalid date-time \"1979-05-27T07:32:00+24:00\" (offset +24:00 is out of range)"},
	{"a = 1979-05-27T07:32:00+05\n", 0, 1, 5, "invalid date-time \"1979-05-27T07:32:00+05\" "
	 "(expected an offset as Z, +HH:MM or -HH:MM)"},
	{"a = 1979-05-27T07:32:00.Z\n", 0, 1, 5,
	 "invalid date-time \"1979-05-27T07:32:00.Z\" (a digit is needed after \".\")"},
	{"a = 1979-05-27X\n", 0, 1, 5, "invalid date \"1979-05-27X\" (unexpected \"X\" after the date)"},
	{"a = 1979-05-27T07:32:00Z1\n", 0, 1, 5,
	 "invalid date-time \"1979-05-27T07:32:00Z1\" (unexpected \"1\" after the offset)"},
	{"a = 1979-05-27T07:32:00x\n", 0, 1, 5,
	 "invalid date-time \"1979-05-27T07:32:00x\" (unexpected \"x\" after the time)"},
	{"a = 10000-01-01\n", 0, 1, 5,
	 "invalid date \"10000-01-01\" (expected a date as YYYY-MM-DD)"},

	/* positions inside a larger document */
	{"[model]\npath = \"x\"\n\n[engine]\nargs = [\n  \"--a\",\n  \"b\" \"c\",\n]\n", 0, 7, 7,
	 "expected \",\" or \"]\" after an array element, found '\"'"},
	{"a = \"\"\"\nline 2\nline 3 \\q\"\"\"\n", 0, 3, 8, "invalid escape \"\\q\" in string"},
	{"a = '''\nline 2\nline 3'''x\n", 0, 3, 10, "unexpected \"x\" after value"},
	{"a = \"\"\"\\\n   \n  x\"\"\" 1\n", 0, 3, 8, "unexpected \"1\" after value"},
};

START_TEST(test_errors)
{
	const struct err_case *c = &err_cases[_i];
	size_t len = c->len ? c->len : strlen(c->src);
	struct toml_error err;
	struct toml_value *doc = parse_n(c->src, len, &err);

	ck_assert_msg(doc == NULL, "case %d: accepted an invalid document", _i);
	ck_assert_msg(strcmp(err.msg, c->msg) == 0, "case %d: message\n  got:  %s\n  want: %s",
		      _i, err.msg, c->msg);
	ck_assert_msg(err.line == c->line && err.col == c->col,
		      "case %d (%s): position %d:%d, want %d:%d", _i, c->msg, err.line, err.col,
		      c->line, c->col);
}
END_TEST

/* Messages follow git's style: lower-case first letter, no final full stop. */
START_TEST(test_error_style)
{
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const char *m = err_cases[i].msg;
		size_t n = strlen(m);
		ck_assert_msg(n > 0 && m[n - 1] != '.', "case %zu ends with a full stop", i);
		ck_assert_msg(!(m[0] >= 'A' && m[0] <= 'Z'), "case %zu starts upper-case", i);
		ck_assert_msg(n < sizeof ((struct toml_error *)0)->msg, "case %zu too long", i);
	}
}
END_TEST

/* ------------------------------------------------------------ values */

START_TEST(test_strings)
{
	struct toml_value *doc = parse_ok(
		"basic = \"tab\\there \\\"q\\\" back\\\\slash \\b\\f\\n\\r\"\n"
		"uni = \"\\u00e9 \\U0001F600 \\u0041\"\n"
		"literal = 'C:\\Users\\x \"q\"'\n"
		"empty = \"\"\n"
		"empty_lit = ''\n"
		"ml = \"\"\"\nline 1\nline 2\"\"\"\n"
		"ml_cont = \"\"\"\\\n    The quick \\\n\n    brown \\\n    fox.\\\n    \"\"\"\n"
		"ml_quotes = \"\"\"a \"\"quoted\"\" b\"\"\"\"\"\n"
		"ml_lit = '''\nraw \\n here\n'''\n"
		"ml_lit_q = ''''one' 'two'''''\n"
		"utf8 = \"\xe2\x82\xac \xf0\x9f\x98\x80\"\n"
		"nul = \"a\\u0000b\"\n"
		"tab_ok = \"a\tb\"\n");
	ck_assert_str_eq(get_str(doc, "basic"), "tab\there \"q\" back\\slash \b\f\n\r");
	ck_assert_str_eq(get_str(doc, "uni"), "\xc3\xa9 \xf0\x9f\x98\x80 A");
	ck_assert_str_eq(get_str(doc, "literal"), "C:\\Users\\x \"q\"");
	ck_assert_str_eq(get_str(doc, "empty"), "");
	ck_assert_str_eq(get_str(doc, "empty_lit"), "");
	ck_assert_str_eq(get_str(doc, "ml"), "line 1\nline 2");
	ck_assert_str_eq(get_str(doc, "ml_cont"), "The quick brown fox.");
	ck_assert_str_eq(get_str(doc, "ml_quotes"), "a \"\"quoted\"\" b\"\"");
	ck_assert_str_eq(get_str(doc, "ml_lit"), "raw \\n here\n");
	ck_assert_str_eq(get_str(doc, "ml_lit_q"), "'one' 'two''");
	ck_assert_str_eq(get_str(doc, "utf8"), "\xe2\x82\xac \xf0\x9f\x98\x80");
	ck_assert_str_eq(get_str(doc, "tab_ok"), "a\tb");

	const struct toml_value *nul = toml_table_get(doc, "nul");
	ck_assert_ptr_nonnull(nul);
	ck_assert_uint_eq(nul->u.s.len, 3);
	ck_assert_int_eq(memcmp(nul->u.s.ptr, "a\0b", 4), 0);
	toml_free(doc);
}
END_TEST

START_TEST(test_integers)
{
	struct toml_value *doc = parse_ok(
		"zero = 0\nplus = +99\nminus = -17\npz = +0\nmz = -0\n"
		"under = 1_000_000\nhex = 0xDEADBEEF\nhex_us = 0xdead_beef\n"
		"hex0 = 0x00ff\noct = 0o755\nbin = 0b1101_0110\n"
		"max = 9223372036854775807\nmin = -9223372036854775808\n"
		"hexmax = 0x7FFFFFFFFFFFFFFF\n"
		"octmax = 0o777777777777777777777\n"
		"binmax = 0b111111111111111111111111111111111111111111111111111111111111111\n");
	ck_assert_int_eq(get_int(doc, "zero"), 0);
	ck_assert_int_eq(get_int(doc, "plus"), 99);
	ck_assert_int_eq(get_int(doc, "minus"), -17);
	ck_assert_int_eq(get_int(doc, "pz"), 0);
	ck_assert_int_eq(get_int(doc, "mz"), 0);
	ck_assert_int_eq(get_int(doc, "under"), 1000000);
	ck_assert_int_eq(get_int(doc, "hex"), 0xDEADBEEF);
	ck_assert_int_eq(get_int(doc, "hex_us"), 0xDEADBEEF);
	ck_assert_int_eq(get_int(doc, "hex0"), 255);
	ck_assert_int_eq(get_int(doc, "oct"), 0755);
	ck_assert_int_eq(get_int(doc, "bin"), 0xd6);
	ck_assert(get_int(doc, "max") == INT64_MAX);
	ck_assert(get_int(doc, "min") == INT64_MIN);
	ck_assert(get_int(doc, "hexmax") == INT64_MAX);
	ck_assert(get_int(doc, "octmax") == INT64_MAX);
	ck_assert(get_int(doc, "binmax") == INT64_MAX);
	toml_free(doc);
}
END_TEST

START_TEST(test_floats)
{
	struct toml_value *doc = parse_ok(
		"a = 3.14\nb = -0.01\nc = 5e+22\nd = 1e06\ne = -2E-2\nf = 6.626e-34\n"
		"g = 224_617.445_991\nh = 0.0\ni = -0.0\nj = +1.5\nk = 1e-400\n"
		"pinf = inf\nminf = -inf\nplusinf = +inf\nnan1 = nan\nnan2 = -nan\nnan3 = +nan\n"
		"exp0 = 0e0\nexp_us = 1e1_0\n");
	ck_assert_double_eq(get_float(doc, "a"), 3.14);
	ck_assert_double_eq(get_float(doc, "b"), -0.01);
	ck_assert_double_eq(get_float(doc, "c"), 5e22);
	ck_assert_double_eq(get_float(doc, "d"), 1e6);
	ck_assert_double_eq(get_float(doc, "e"), -2e-2);
	ck_assert_double_eq(get_float(doc, "f"), 6.626e-34);
	ck_assert_double_eq(get_float(doc, "g"), 224617.445991);
	ck_assert_double_eq(get_float(doc, "h"), 0.0);
	ck_assert(signbit(get_float(doc, "i")));
	ck_assert_double_eq(get_float(doc, "j"), 1.5);
	ck_assert_double_eq(get_float(doc, "k"), 0.0); /* underflow is not an error */
	ck_assert(isinf(get_float(doc, "pinf")) && get_float(doc, "pinf") > 0);
	ck_assert(isinf(get_float(doc, "minf")) && get_float(doc, "minf") < 0);
	ck_assert(isinf(get_float(doc, "plusinf")) && get_float(doc, "plusinf") > 0);
	ck_assert(isnan(get_float(doc, "nan1")));
	ck_assert(isnan(get_float(doc, "nan2")));
	ck_assert(isnan(get_float(doc, "nan3")));
	ck_assert_double_eq(get_float(doc, "exp0"), 0.0);
	ck_assert_double_eq(get_float(doc, "exp_us"), 1e10);
	toml_free(doc);
}
END_TEST

START_TEST(test_bools_and_types)
{
	struct toml_value *doc = parse_ok("t = true\nf = false\n");
	const struct toml_value *t = get(doc, "t"), *f = get(doc, "f");
	ck_assert_int_eq(t->type, TOML_BOOL);
	ck_assert(t->u.b);
	ck_assert_int_eq(f->type, TOML_BOOL);
	ck_assert(!f->u.b);
	toml_free(doc);

	ck_assert_str_eq(toml_type_name(TOML_TABLE), "table");
	ck_assert_str_eq(toml_type_name(TOML_ARRAY), "array");
	ck_assert_str_eq(toml_type_name(TOML_STRING), "string");
	ck_assert_str_eq(toml_type_name(TOML_INTEGER), "integer");
	ck_assert_str_eq(toml_type_name(TOML_FLOAT), "float");
	ck_assert_str_eq(toml_type_name(TOML_BOOL), "boolean");
	ck_assert_str_eq(toml_type_name(TOML_DATETIME), "offset date-time");
	ck_assert_str_eq(toml_type_name(TOML_DATETIME_LOCAL), "local date-time");
	ck_assert_str_eq(toml_type_name(TOML_DATE_LOCAL), "local date");
	ck_assert_str_eq(toml_type_name(TOML_TIME_LOCAL), "local time");
}
END_TEST

static void check_dt(const struct toml_value *doc, const char *key, enum toml_type type,
		     const char *text)
{
	char out[64];
	const struct toml_value *v = get(doc, key);
	ck_assert_msg(v->type == type, "%s: type %s", key, toml_type_name(v->type));
	int n = toml_datetime_format(v, out, sizeof out);
	ck_assert_str_eq(out, text);
	ck_assert_int_eq(n, (int)strlen(text));
}

START_TEST(test_datetimes)
{
	struct toml_value *doc = parse_ok(
		"odt1 = 1979-05-27T07:32:00Z\n"
		"odt2 = 1979-05-27T00:32:00-07:00\n"
		"odt3 = 1979-05-27T00:32:00.999999+05:30\n"
		"odt4 = 1979-05-27 07:32:00z\n"
		"odt5 = 1979-05-27t07:32:00.123456789123Z\n"
		"ldt1 = 1979-05-27T07:32:00\n"
		"ldt2 = 1979-05-27T00:32:00.5\n"
		"ld = 1979-05-27\n"
		"lt1 = 07:32:00\n"
		"lt2 = 00:32:00.999999\n"
		"leap = 2000-02-29\n"
		"leap4 = 2024-02-29\n"
		"leapsec = 1990-12-31T23:59:60Z\n"
		"first = 0001-01-01\n");
	check_dt(doc, "odt1", TOML_DATETIME, "1979-05-27T07:32:00Z");
	check_dt(doc, "odt2", TOML_DATETIME, "1979-05-27T00:32:00-07:00");
	check_dt(doc, "odt3", TOML_DATETIME, "1979-05-27T00:32:00.999999+05:30");
	check_dt(doc, "odt4", TOML_DATETIME, "1979-05-27T07:32:00Z");
	check_dt(doc, "odt5", TOML_DATETIME, "1979-05-27T07:32:00.123456789Z");
	check_dt(doc, "ldt1", TOML_DATETIME_LOCAL, "1979-05-27T07:32:00");
	check_dt(doc, "ldt2", TOML_DATETIME_LOCAL, "1979-05-27T00:32:00.5");
	check_dt(doc, "ld", TOML_DATE_LOCAL, "1979-05-27");
	check_dt(doc, "lt1", TOML_TIME_LOCAL, "07:32:00");
	check_dt(doc, "lt2", TOML_TIME_LOCAL, "00:32:00.999999");
	check_dt(doc, "leap", TOML_DATE_LOCAL, "2000-02-29");
	check_dt(doc, "leap4", TOML_DATE_LOCAL, "2024-02-29");
	check_dt(doc, "leapsec", TOML_DATETIME, "1990-12-31T23:59:60Z");
	check_dt(doc, "first", TOML_DATE_LOCAL, "0001-01-01");

	const struct toml_datetime *dt = &get(doc, "odt2")->u.dt;
	ck_assert_int_eq(dt->year, 1979);
	ck_assert_int_eq(dt->month, 5);
	ck_assert_int_eq(dt->day, 27);
	ck_assert_int_eq(dt->hour, 0);
	ck_assert_int_eq(dt->minute, 32);
	ck_assert_int_eq(dt->second, 0);
	ck_assert_int_eq(dt->offset_minutes, -420);
	ck_assert(!dt->offset_z);
	dt = &get(doc, "odt3")->u.dt;
	ck_assert_int_eq(dt->nanosecond, 999999000);
	ck_assert_int_eq(dt->frac_digits, 6);
	ck_assert_int_eq(dt->offset_minutes, 330);
	dt = &get(doc, "odt5")->u.dt;
	ck_assert_int_eq(dt->nanosecond, 123456789);
	ck_assert_int_eq(dt->frac_digits, 12);
	ck_assert(dt->offset_z);
	dt = &get(doc, "ldt2")->u.dt;
	ck_assert_int_eq(dt->nanosecond, 500000000);
	ck_assert_int_eq(dt->frac_digits, 1);

	/* A short buffer truncates like snprintf. */
	char small[8];
	int n = toml_datetime_format(get(doc, "odt1"), small, sizeof small);
	ck_assert_int_eq(n, 20);
	ck_assert_str_eq(small, "1979-05");
	/* Not a date/time: empty. */
	ck_assert_int_eq(toml_datetime_format(doc, small, sizeof small), 0);
	ck_assert_str_eq(small, "");
	toml_free(doc);
}
END_TEST

START_TEST(test_arrays)
{
	struct toml_value *doc = parse_ok(
		"ints = [ 1, 2, 3 ]\n"
		"empty = []\n"
		"mixed = [ 1, 'a', 2.5, [true], {x = 1} ]\n"
		"nested = [ [ 1, 2 ], [\"a\", \"b\"] ]\n"
		"multi = [\n  1, # one\n  2,\n\n  # comment only\n  3,\n]\n"
		"trailing = [1,]\n");
	const struct toml_value *a = get(doc, "ints");
	ck_assert_int_eq(a->type, TOML_ARRAY);
	ck_assert_uint_eq(a->u.arr.len, 3);
	ck_assert_int_eq(a->u.arr.items[2]->u.i, 3);
	ck_assert_uint_eq(get(doc, "empty")->u.arr.len, 0);
	a = get(doc, "mixed");
	ck_assert_uint_eq(a->u.arr.len, 5);
	ck_assert_int_eq(a->u.arr.items[0]->type, TOML_INTEGER);
	ck_assert_int_eq(a->u.arr.items[1]->type, TOML_STRING);
	ck_assert_int_eq(a->u.arr.items[2]->type, TOML_FLOAT);
	ck_assert_int_eq(a->u.arr.items[3]->type, TOML_ARRAY);
	ck_assert_int_eq(a->u.arr.items[4]->type, TOML_TABLE);
	ck_assert(a->u.arr.items[4]->flags & TOML_F_INLINE);
	ck_assert(!(a->flags & TOML_F_AOT));
	a = get(doc, "nested");
	ck_assert_str_eq(a->u.arr.items[1]->u.arr.items[0]->u.s.ptr, "a");
	a = get(doc, "multi");
	ck_assert_uint_eq(a->u.arr.len, 3);
	ck_assert_pos(a->pos, 5, 9);
	ck_assert_pos(a->u.arr.items[0]->pos, 6, 3);
	ck_assert_pos(a->u.arr.items[2]->pos, 10, 3);
	ck_assert_uint_eq(get(doc, "trailing")->u.arr.len, 1);
	toml_free(doc);
}
END_TEST

START_TEST(test_tables)
{
	struct toml_value *doc = parse_ok(
		"top = 1\n"
		"[a.b.c]\n"
		"x = 1\n"
		"[a]\n"
		"y = 2\n"
		"[a.d]\n"
		"[\"quoted key\".'lit']\n"
		"z = 3\n"
		"[fruit]\n"
		"apple.color = \"red\"\n"
		"apple.taste.sweet = true\n"
		"[fruit.apple.texture]\n"
		"smooth = true\n"
		"[[products]]\n"
		"name = \"Hammer\"\n"
		"[[products]]\n"
		"[[products]]\n"
		"name = \"Nail\"\n"
		"[products.dims]\n"
		"w = 1\n"
		"[[products.parts]]\n"
		"p = 1\n"
		"[ spaced . key ]\n"
		"inl = { a = 1, b.c = 2, d = { e = 3 } }\n");
	ck_assert_int_eq(get_int(doc, "top"), 1);
	const struct toml_value *a = get(doc, "a");
	ck_assert(a->flags & TOML_F_HEADER);
	ck_assert_int_eq(get_int(a, "y"), 2);
	ck_assert_int_eq(get_int(get(get(a, "b"), "c"), "x"), 1);
	ck_assert(get(a, "b")->flags & TOML_F_IMPLICIT);
	ck_assert_int_eq(get(a, "d")->type, TOML_TABLE);
	ck_assert_int_eq(get_int(get(get(doc, "quoted key"), "lit"), "z"), 3);

	const struct toml_value *apple = get(get(doc, "fruit"), "apple");
	ck_assert(apple->flags & TOML_F_DOTTED);
	ck_assert_str_eq(get_str(apple, "color"), "red");
	ck_assert(get(get(apple, "taste"), "sweet")->u.b);
	ck_assert(get(get(apple, "texture"), "smooth")->u.b);

	const struct toml_value *products = get(doc, "products");
	ck_assert_int_eq(products->type, TOML_ARRAY);
	ck_assert(products->flags & TOML_F_AOT);
	ck_assert_uint_eq(products->u.arr.len, 3);
	ck_assert_str_eq(get_str(products->u.arr.items[0], "name"), "Hammer");
	ck_assert_uint_eq(products->u.arr.items[1]->u.tab.len, 0);
	const struct toml_value *nail = products->u.arr.items[2];
	ck_assert_str_eq(get_str(nail, "name"), "Nail");
	ck_assert_int_eq(get_int(get(nail, "dims"), "w"), 1);
	ck_assert_int_eq(get_int(get(nail, "parts")->u.arr.items[0], "p"), 1);
	ck_assert_pos(products->pos, 14, 1);
	ck_assert_pos(products->u.arr.items[1]->pos, 16, 1);
	ck_assert_pos(nail->pos, 17, 1);

	const struct toml_value *inl = get(get(doc, "spaced"), "key");
	inl = get(inl, "inl");
	ck_assert(inl->flags & TOML_F_INLINE);
	ck_assert_int_eq(get_int(inl, "a"), 1);
	ck_assert_int_eq(get_int(get(inl, "b"), "c"), 2);
	ck_assert_int_eq(get_int(get(inl, "d"), "e"), 3);

	/* Keys stay in document order. */
	ck_assert_str_eq(doc->u.tab.items[0].key, "top");
	ck_assert_str_eq(doc->u.tab.items[1].key, "a");
	ck_assert_str_eq(doc->u.tab.items[2].key, "quoted key");

	toml_free(doc);

	/* A table only named in a header may then be defined by dotted keys
	 * (but one defined by its own header may not: see err_cases). */
	doc = parse_ok("[a.b.c]\nx = 1\n[a]\nb.d = 2\n[a.b.e]\ny = 3\n");
	const struct toml_value *b = get(get(doc, "a"), "b");
	ck_assert(b->flags & TOML_F_DOTTED);
	ck_assert(!(b->flags & TOML_F_IMPLICIT));
	ck_assert_pos(b->pos, 4, 1);
	ck_assert_int_eq(get_int(b, "d"), 2);
	ck_assert_int_eq(get_int(get(b, "c"), "x"), 1);
	ck_assert_int_eq(get_int(get(b, "e"), "y"), 3);

	/* Lookups on what is not a table. */
	ck_assert_ptr_null(toml_table_get(NULL, "a"));
	ck_assert_ptr_null(toml_table_get(get(b, "d"), "a"));
	ck_assert_ptr_null(toml_table_get(doc, "missing"));
	ck_assert_ptr_null(toml_table_entry(doc, "missing"));
	toml_free(doc);
}
END_TEST

/* Positions as a schema uses them: model.toml:LINE:COL for keys and values. */
START_TEST(test_positions)
{
	struct toml_value *doc = parse_ok(
		"# model\n"                          /* 1 */
		"[model]\n"                          /* 2 */
		"path = \"openai/gpt-oss-120b\"\n"   /* 3 */
		"\n"                                 /* 4 */
		"  [ parallel ]\n"                   /* 5 */
		"tp = 4\n"                           /* 6 */
		"  nodes_per_worker   =   1  # x\n"  /* 7 */
		"[engine]\n"                         /* 8 */
		"env = { VLLM_LEVEL = \"WARNING\" }\n" /* 9 */
		"args = [\"--max-model-len\", \"32768\"]\n" /* 10 */
		"a.b.c = 1\n"                        /* 11 */
		"[slurm.extra]\n"                    /* 12 */
		"[slurm]\n"                          /* 13 */
		"time = 1979-05-27T07:32:00Z\n");    /* 14 */

	const struct toml_kv *kv = toml_table_entry(doc, "parallel");
	ck_assert_ptr_nonnull(kv);
	ck_assert_pos(kv->key_pos, 5, 5);
	ck_assert_pos(kv->val->pos, 5, 3);
	const struct toml_value *parallel = kv->val;
	kv = toml_table_entry(parallel, "tp");
	ck_assert_pos(kv->key_pos, 6, 1);
	ck_assert_pos(kv->val->pos, 6, 6);
	kv = toml_table_entry(parallel, "nodes_per_worker");
	ck_assert_pos(kv->key_pos, 7, 3);
	ck_assert_pos(kv->val->pos, 7, 26);

	kv = toml_table_entry(get(doc, "model"), "path");
	ck_assert_pos(kv->key_pos, 3, 1);
	ck_assert_pos(kv->val->pos, 3, 8);
	ck_assert_pos(get(doc, "model")->pos, 2, 1);

	const struct toml_value *engine = get(doc, "engine");
	kv = toml_table_entry(engine, "env");
	ck_assert_pos(kv->key_pos, 9, 1);
	ck_assert_pos(kv->val->pos, 9, 7);
	kv = toml_table_entry(kv->val, "VLLM_LEVEL");
	ck_assert_pos(kv->key_pos, 9, 9);
	ck_assert_pos(kv->val->pos, 9, 22);
	const struct toml_value *args = get(engine, "args");
	ck_assert_pos(args->pos, 10, 8);
	ck_assert_pos(args->u.arr.items[1]->pos, 10, 28);

	/* Dotted keys: each part names its entry; tables start there. */
	kv = toml_table_entry(engine, "a");
	ck_assert_pos(kv->key_pos, 11, 1);
	ck_assert_pos(kv->val->pos, 11, 1);
	kv = toml_table_entry(kv->val, "b");
	ck_assert_pos(kv->key_pos, 11, 3);
	kv = toml_table_entry(kv->val, "c");
	ck_assert_pos(kv->key_pos, 11, 5);
	ck_assert_pos(kv->val->pos, 11, 9);

	/* [slurm] defined after [slurm.extra]: its own header counts. */
	kv = toml_table_entry(doc, "slurm");
	ck_assert_pos(kv->key_pos, 13, 2);
	ck_assert_pos(kv->val->pos, 13, 1);
	ck_assert_pos(get(kv->val, "extra")->pos, 12, 1);
	ck_assert_pos(get(kv->val, "time")->pos, 14, 8);

	ck_assert_pos(doc->pos, 1, 1);
	toml_free(doc);
}
END_TEST

START_TEST(test_crlf)
{
	struct toml_value *doc = parse_ok(
		"a = 1\r\n"
		"# comment\r\n"
		"s = \"\"\"\r\nx\r\ny\"\"\"\r\n"
		"l = '''\r\nraw\r\n'''\r\n"
		"c = \"\"\"a\\\r\n   b\"\"\"\r\n"
		"[t]\r\n"
		"arr = [\r\n 1,\r\n 2\r\n]\r\n"
		"k = 'v'\r\n");
	ck_assert_int_eq(get_int(doc, "a"), 1);
	/* Newlines inside multi-line strings come out as LF. */
	ck_assert_str_eq(get_str(doc, "s"), "x\ny");
	ck_assert_str_eq(get_str(doc, "l"), "raw\n");
	ck_assert_str_eq(get_str(doc, "c"), "ab");
	const struct toml_value *t = get(doc, "t");
	ck_assert_pos(t->pos, 11, 1);
	ck_assert_uint_eq(get(t, "arr")->u.arr.len, 2);
	ck_assert_pos(get(t, "arr")->u.arr.items[1]->pos, 14, 2);
	ck_assert_pos(toml_table_entry(t, "k")->key_pos, 16, 1);
	toml_free(doc);
}
END_TEST

START_TEST(test_empty_and_bom)
{
	struct toml_error err;
	struct toml_value *doc = parse_n("", 0, &err);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(doc->type, TOML_TABLE);
	ck_assert_uint_eq(doc->u.tab.len, 0);
	toml_free(doc);

	doc = toml_parse(NULL, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	toml_free(doc);
	toml_free(NULL);

	doc = parse_ok("\xef\xbb\xbf" "a = 1\n");
	ck_assert_pos(toml_table_entry(doc, "a")->key_pos, 1, 1);
	toml_free(doc);

	doc = parse_ok("  \t\n# only a comment\n\n");
	ck_assert_uint_eq(doc->u.tab.len, 0);
	toml_free(doc);

	/* The input need not end with a newline, nor be NUL-terminated. */
	doc = parse_ok("a = 'x'");
	ck_assert_str_eq(get_str(doc, "a"), "x");
	toml_free(doc);
	doc = parse_ok("a = 1 # end");
	toml_free(doc);
	doc = parse_ok("a = 2000-01-01");
	toml_free(doc);
	doc = parse_ok("[t]");
	toml_free(doc);

	/* Without an error struct, failures still return NULL. */
	ck_assert_ptr_null(toml_parse("a = ", 4, NULL));
}
END_TEST

/* A NUL byte: inside the input it is an error wherever it is, not an end. */
START_TEST(test_nul_byte)
{
	static const char src[] = "a = 1\nb = 2\0\nc = 3\n";
	struct toml_error err;
	struct toml_value *doc = parse_n(src, sizeof src - 1, &err);
	ck_assert_ptr_null(doc);
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_eq(err.col, 6);
	ck_assert_str_eq(err.msg, "unexpected U+0000 after value");

	/* Keys may hold NUL through \u0000 and are kept whole. */
	doc = parse_ok("\"a\\u0000b\" = 1\n\"a\" = 2\n");
	ck_assert_uint_eq(doc->u.tab.len, 2);
	ck_assert_uint_eq(doc->u.tab.items[0].key_len, 3);
	ck_assert_int_eq(memcmp(doc->u.tab.items[0].key, "a\0b", 4), 0);
	ck_assert_int_eq(get_int(doc, "a"), 2);
	toml_free(doc);
}
END_TEST

static char *repeat(const char *s, int n, const char *mid, const char *t)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < n; i++)
		buf_puts(&b, s);
	buf_puts(&b, mid);
	for (int i = 0; i < n; i++)
		buf_puts(&b, t);
	return buf_steal(&b);
}

START_TEST(test_deep_nesting)
{
	struct toml_error err;
	struct toml_value *doc;
	char *src;
	struct buf b = BUF_INIT;

	/* 128 levels (the array under the root is level 1) are fine... */
	src = repeat("[", TOML_MAX_DEPTH, "", "]");
	buf_printf(&b, "a = %s\n", src);
	free(src);
	doc = parse_ok(b.data);
	toml_free(doc);

	/* ... 129 are not, nor 100000. */
	buf_reset(&b);
	src = repeat("[", TOML_MAX_DEPTH + 1, "", "]");
	buf_printf(&b, "a = %s\n", src);
	free(src);
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "too deeply nested (more than 128 levels of tables and arrays)");
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 5 + TOML_MAX_DEPTH);

	buf_reset(&b);
	src = repeat("[", 100000, "", "]");
	buf_printf(&b, "a = %s\n", src);
	free(src);
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_int_eq(err.col, 5 + TOML_MAX_DEPTH);

	buf_reset(&b);
	src = repeat("{b=", 100000, "1", "}");
	buf_printf(&b, "a = %s\n", src);
	free(src);
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "too deeply nested (more than 128 levels of tables and arrays)");

	/* Unclosed: an error, never a crash. */
	buf_reset(&b);
	src = repeat("[", 100000, "", "");
	buf_printf(&b, "a = %s", src);
	free(src);
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));

	/* Dotted keys and headers count too. */
	buf_reset(&b);
	buf_puts(&b, "a");
	for (int i = 0; i < 200; i++)
		buf_puts(&b, ".a");
	buf_puts(&b, " = 1\n");
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "too deeply nested (more than 128 levels of tables and arrays)");
	ck_assert_int_eq(err.col, 1 + 2 * TOML_MAX_DEPTH);

	buf_reset(&b);
	buf_puts(&b, "[a");
	for (int i = 0; i < 200; i++)
		buf_puts(&b, ".a");
	buf_puts(&b, "]\n");
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "too deeply nested (more than 128 levels of tables and arrays)");

	/* Arrays of tables: each level is an array and a table, so the 65th
	 * nested [[a.a...]] would be 130 deep. */
	buf_reset(&b);
	for (int i = 0; i < 70; i++) {
		buf_puts(&b, "[[a");
		for (int j = 0; j < i; j++)
			buf_puts(&b, ".a");
		buf_puts(&b, "]]\n");
	}
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "too deeply nested (more than 128 levels of tables and arrays)");
	ck_assert_int_eq(err.line, 65);
	ck_assert_int_eq(err.col, 1);
	buf_free(&b);
}
END_TEST

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_huge_tables)
{
	struct buf b = BUF_INIT;
	struct toml_error err;
	char key[32];

	/* 50,000 keys in one table: duplicate checks must not be quadratic. */
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "key%d = %d\n", i, i);
	double t0 = now();
	struct toml_value *doc = parse_n(b.data, b.len, &err);
	double dt = now() - t0;
	ck_assert_ptr_nonnull(doc);
	ck_assert_msg(dt < 1.0, "50,000 keys took %.3f s", dt);
	ck_assert_uint_eq(doc->u.tab.len, 50000);
	ck_assert_int_eq(get_int(doc, "key49999"), 49999);
	ck_assert_pos(toml_table_entry(doc, "key49999")->key_pos, 50000, 1);
	toml_free(doc);

	/* ... and the duplicate is still found, at the end. */
	buf_puts(&b, "key123 = 0\n");
	ck_assert_ptr_null(parse_n(b.data, b.len, &err));
	ck_assert_str_eq(err.msg, "duplicate key \"key123\" (first defined at 124:1)");
	ck_assert_int_eq(err.line, 50001);

	/* 50,000 sub-tables, 50,000 dotted keys, 50,000 inline keys, a long
	 * array of tables. */
	buf_reset(&b);
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "d.k%d = %d\n", i, i);
	buf_puts(&b, "inl = {");
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "%sk%d = %d", i ? ", " : "", i, i);
	buf_puts(&b, "}\n");
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "[t.s%d]\nv = %d\n", i, i);
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "[[aot]]\nv = %d\n", i);
	t0 = now();
	doc = parse_n(b.data, b.len, &err);
	dt = now() - t0;
	ck_assert_msg(doc != NULL, "%d:%d: %s", err.line, err.col, err.msg);
	ck_assert_msg(dt < 2.0, "200,000 entries took %.3f s", dt);
	snprintf(key, sizeof key, "s%d", 31337);
	ck_assert_int_eq(get_int(get(get(doc, "t"), key), "v"), 31337);
	ck_assert_uint_eq(get(doc, "aot")->u.arr.len, 50000);
	ck_assert_uint_eq(get(doc, "inl")->u.tab.len, 50000);
	ck_assert_uint_eq(get(doc, "d")->u.tab.len, 50000);
	toml_free(doc);
	buf_free(&b);
}
END_TEST

/* Every prefix of a valid document is either valid or an error: no crash,
 * no read past the end, no leak (ASan checks all three). */
START_TEST(test_truncations)
{
	static const char src[] =
		"# doc\n[a.b]\nx = \"s\\u00e9\\n\"\ny = '''m\nl'''\nz = [1, 2.5e3, {q = true}]\n"
		"[[c]]\nd = 1979-05-27T07:32:00.5-08:00\ne = 0x_ff\nf = \"\"\"\\\n  g\"\"\"\n"
		"h = -inf\n'i'.\"j\" = 07:00:00\n";
	struct toml_error err;
	for (size_t n = 0; n <= sizeof src - 1; n++) {
		struct toml_value *doc = parse_n(src, n, &err);
		if (doc)
			toml_free(doc);
		else
			ck_assert_msg(err.line > 0 && err.col > 0 && err.msg[0],
				      "prefix %zu: no position or message", n);
	}
}
END_TEST

Suite *suite_toml(void)
{
	Suite *s = suite_create("toml");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_floats);
	tcase_add_test(tc, test_bools_and_types);
	tcase_add_test(tc, test_datetimes);
	tcase_add_test(tc, test_arrays);
	tcase_add_test(tc, test_tables);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_empty_and_bom);
	tcase_add_test(tc, test_nul_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
	tcase_add_test(tc, test_error_style);
	tcase_add_test(tc, test_truncations);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_huge_tables);
	suite_add_tcase(s, tc);
	return s;
}
