/* check_proxy_keys.c — registry/proxy_keys: the keys file, the generated
 * key, Bearer parsing, file checks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../registry/proxy_keys.h"

START_TEST(test_check)
{
	struct proxy_keys *k = proxy_keys_new();
	char err[256];
	ck_assert(!proxy_keys_check(k, "Bearer anything"));
	proxy_keys_add(k, "es-generated-key", 16);
	ck_assert(proxy_keys_check(k, "Bearer es-generated-key"));
	ck_assert(proxy_keys_check(k, "bearer  es-generated-key "));
	ck_assert(!proxy_keys_check(k, "Bearer es-generated-ke"));
	ck_assert(!proxy_keys_check(k, "Bearer es-generated-keyy"));
	ck_assert(!proxy_keys_check(k, "es-generated-key"));
	ck_assert(!proxy_keys_check(k, "Basic es-generated-key"));
	ck_assert(!proxy_keys_check(k, "Bearer "));
	ck_assert(!proxy_keys_check(k, NULL));
	const char *file = "# team keys\n\n  sk-alice-0123456789  \r\nsk-bob-abcdefgh\n#sk-carol-disabled\n";
	ck_assert_int_eq(proxy_keys_parse(k, file, strlen(file), "keys", err, sizeof err), 2);
	ck_assert_uint_eq(proxy_keys_count(k), 3);
	ck_assert(proxy_keys_check(k, "Bearer sk-alice-0123456789"));
	ck_assert(proxy_keys_check(k, "Bearer sk-bob-abcdefgh"));
	ck_assert(!proxy_keys_check(k, "Bearer sk-carol-disabled"));
	ck_assert(!proxy_keys_check(k, "Bearer #sk-carol-disabled"));
	/* A reload replaces the file's keys; the generated one stays. */
	ck_assert_int_eq(proxy_keys_parse(k, "sk-new-key-1\n", 13, "keys", err, sizeof err), 1);
	ck_assert(!proxy_keys_check(k, "Bearer sk-bob-abcdefgh"));
	ck_assert(proxy_keys_check(k, "Bearer sk-new-key-1"));
	ck_assert(proxy_keys_check(k, "Bearer es-generated-key"));
	/* A bad file leaves the keys as they were, and names the line but
	 * never the key. */
	const char *bad = "sk-good-key-1\nsk bad key\n";
	ck_assert_int_eq(proxy_keys_parse(k, bad, strlen(bad), "keys", err, sizeof err), -1);
	ck_assert_str_eq(err, "keys:2: a key is printable ASCII without spaces");
	ck_assert(proxy_keys_check(k, "Bearer sk-new-key-1"));
	ck_assert_int_eq(proxy_keys_parse(k, "short\n", 6, "keys", err, sizeof err), -1);
	ck_assert_str_eq(err, "keys:1: key too short (at least 8 characters)");
	char big[600];
	memset(big, 'k', sizeof big);
	ck_assert_int_eq(proxy_keys_parse(k, big, sizeof big, "keys", err, sizeof err), -1);
	char hdr[620] = "Bearer ";
	memcpy(hdr + 7, big, sizeof big);
	hdr[7 + sizeof big] = '\0';
	ck_assert(!proxy_keys_check(k, hdr));
	proxy_keys_free(k);
}
END_TEST

START_TEST(test_load_file_checks)
{
	char dir[] = "/tmp/check_proxy_keys_XXXXXX", path[128], err[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/keys", dir);
	FILE *fp = fopen(path, "w");
	fputs("sk-file-key-0001\nsk-file-key-0002\n", fp);
	fclose(fp);
	struct proxy_keys *k = proxy_keys_new();
	chmod(path, 0644);
	ck_assert_int_eq(proxy_keys_load(k, path, err, sizeof err), -1);
	ck_assert(strstr(err, "chmod 600"));
	chmod(path, 0600);
	ck_assert_int_eq(proxy_keys_load(k, path, err, sizeof err), 2);
	ck_assert(proxy_keys_check(k, "Bearer sk-file-key-0002"));
	ck_assert_int_eq(proxy_keys_load(k, dir, err, sizeof err), -1);
	char missing[160];
	snprintf(missing, sizeof missing, "%s/none", dir);
	ck_assert_int_eq(proxy_keys_load(k, missing, err, sizeof err), -1);
	ck_assert(strstr(err, "cannot open"));
	ck_assert(proxy_keys_check(k, "Bearer sk-file-key-0001"));
	proxy_keys_free(k);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *suite_proxy_keys(void)
{
	Suite *s = suite_create("proxy_keys");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_load_file_checks);
	suite_add_tcase(s, tc);
	return s;
}
