/* check_sha256.c — lib/sha256 against FIPS 180-4 and RFC 4231 vectors. */
#include <check.h>
#include <string.h>

#include "sha256.h"

static void hex_of(const void *data, size_t len, char out[65])
{
	uint8_t d[SHA256_LEN];
	sha256(data, len, d);
	sha256_hex(d, out);
}

START_TEST(test_vectors)
{
	char h[65];
	hex_of("", 0, h);
	ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, h);
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hex_of(m, strlen(m), h);
	ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* One million 'a', fed in uneven pieces. */
	struct sha256 s;
	uint8_t d[SHA256_LEN];
	char a[997];
	memset(a, 'a', sizeof a);
	sha256_init(&s);
	size_t left = 1000000;
	while (left) {
		size_t n = left < sizeof a ? left : sizeof a;
		sha256_update(&s, a, n);
		left -= n;
	}
	sha256_final(&s, d);
	sha256_hex(d, h);
	ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(test_hmac)
{
	uint8_t key[20], d[SHA256_LEN];
	char h[65];
	memset(key, 0x0b, sizeof key);
	hmac_sha256(key, sizeof key, "Hi There", 8, d);
	sha256_hex(d, h);
	ck_assert_str_eq(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	sha256_hex(d, h);
	ck_assert_str_eq(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	uint8_t big[131];
	memset(big, 0xaa, sizeof big);
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac_sha256(big, sizeof big, msg, strlen(msg), d);
	sha256_hex(d, h);
	ck_assert_str_eq(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}
END_TEST

Suite *suite_sha256(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_hmac);
	suite_add_tcase(s, tc);
	return s;
}
