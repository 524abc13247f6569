/* check_buf.c — lib/buf. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

START_TEST(test_append_and_printf)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "a");
	buf_printf(&b, "%d-%s", 42, "x");
	buf_putc(&b, '!');
	ck_assert_str_eq(b.data, "a42-x!");
	ck_assert_uint_eq(b.len, 6);
	buf_reset(&b);
	ck_assert_str_eq(b.data, "");
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, "0123456789");
	ck_assert_uint_eq(b.len, 10000);
	ck_assert_uint_eq(strlen(b.data), 10000);
	buf_free(&b);
}
END_TEST

START_TEST(test_json_str)
{
	struct buf b = BUF_INIT;
	const char s[] = "q\"b\\n\n\x01\x7f\xc3\xa9";
	buf_json_str(&b, s, sizeof s - 1);
	ck_assert_str_eq(b.data, "\"q\\\"b\\\\n\\n\\u0001\\u007f\xc3\xa9\"");
	buf_free(&b);
}
END_TEST

START_TEST(test_numbers)
{
	struct buf b = BUF_INIT;
	buf_put_u64(&b, 0);
	buf_putc(&b, ' ');
	buf_put_u64(&b, 18446744073709551615ull);
	buf_putc(&b, ' ');
	buf_put_hex(&b, 0);
	buf_putc(&b, ' ');
	buf_put_hex(&b, 0xdeadbeef12ull);
	buf_putc(&b, ' ');
	buf_put_u64(&b, 4096);
	ck_assert_str_eq(b.data, "0 18446744073709551615 0 deadbeef12 4096");
	buf_free(&b);
}
END_TEST

START_TEST(test_steal_empty)
{
	struct buf b = BUF_INIT;
	char *p = buf_steal(&b);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "");
	free(p);
}
END_TEST

START_TEST(test_utf8_trim)
{
	/* what snprintf leaves when it cuts a message inside a character */
	char a[] = "bad port in http://h:1\xef\xbb";      /* U+FEFF cut after 2 of 3 */
	ck_assert_str_eq(buf_utf8_trim(a), "bad port in http://h:1");
	char b[] = "x\xf0\x9f\x98";                        /* 4-byte cut after 3 */
	ck_assert_str_eq(buf_utf8_trim(b), "x");
	char c[] = "y\xc3";                                 /* 2-byte cut after 1 */
	ck_assert_str_eq(buf_utf8_trim(c), "y");
	/* whole characters and plain text stay */
	char d[] = "caf\xc3\xa9 \xef\xbb\xbf \xf0\x9f\x98\x80";
	ck_assert_str_eq(buf_utf8_trim(d), "caf\xc3\xa9 \xef\xbb\xbf \xf0\x9f\x98\x80");
	char e[] = "", f[] = "abc";
	ck_assert_str_eq(buf_utf8_trim(e), "");
	ck_assert_str_eq(buf_utf8_trim(f), "abc");
}
END_TEST

START_TEST(test_utf8_valid)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
		size_t bad;
	} c[] = {
		{"", 0, true, 0},
		{"abc\0d", 5, true, 0},
		{"\xc3\xa9t\xc3\xa9", 5, true, 0},
		{"\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 13, true, 0},
		{"a\xff", 2, false, 1},
		{"ab\xc0\xaf", 4, false, 2},         /* overlong '/' */
		{"\xe0\x80\xaf", 3, false, 0},       /* overlong, 3 bytes */
		{"x\xed\xa0\x80", 4, false, 1},      /* surrogate */
		{"\xf4\x90\x80\x80", 4, false, 0},  /* beyond U+10FFFF */
		{"\xf5\x80\x80\x80", 4, false, 0},
		{"ok\xc3", 3, false, 2},              /* cut short */
		{"\xe2\x82x", 3, false, 0},           /* missing continuation */
		{"\x80", 1, false, 0},                 /* stray continuation */
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		size_t bad = 99;
		ck_assert_msg(buf_utf8_valid(c[i].s, c[i].len, &bad) == c[i].ok, "case %zu", i);
		if (!c[i].ok)
			ck_assert_msg(bad == c[i].bad, "case %zu: bad at %zu, want %zu", i, bad, c[i].bad);
	}
	ck_assert(!buf_utf8_valid("\xff", 1, NULL));
}
END_TEST

Suite *suite_buf(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_append_and_printf);
	tcase_add_test(tc, test_json_str);
	tcase_add_test(tc, test_steal_empty);
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_trim);
	tcase_add_test(tc, test_numbers);
	suite_add_tcase(s, tc);
	return s;
}
