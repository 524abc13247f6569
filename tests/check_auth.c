/* check_auth.c — lib/auth: request-bound credentials, MUNGE and token. The
 * MUNGE cases talk to the real munged (make check starts it). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"

static char tmpdir[64];
static char token_path[128];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_auth_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(token_path, sizeof token_path, "%s/token", tmpdir);
}

static void teardown(void)
{
	unlink(token_path);
	rmdir(tmpdir);
}

static const char body[] = "{\"id\":\"1.n1.0\"}";

START_TEST(test_token_round_trip)
{
	struct auth_server srv;
	struct auth_client cli;
	struct auth_who who;
	char err[256], spec[160];
	struct buf h = BUF_INIT;
	ck_assert_msg(auth_server_init(&srv, AUTH_TOKEN, token_path, 1, err, sizeof err) == 0, "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(token_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(spec, sizeof spec, "token:%s", token_path);
	ck_assert_msg(auth_client_init(&cli, spec, err, sizeof err) == 0, "%s", err);

	ck_assert_int_eq(auth_sign(&cli, "POST", "/api/heartbeat", body, strlen(body), &h, err, sizeof err), 0);
	int64_t now = time(NULL);
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/heartbeat", body, strlen(body), now, &who,
				    err, sizeof err), AUTH_OK);
	ck_assert_int_eq(who.uid, geteuid());
	ck_assert_int_eq(who.via, AUTH_TOKEN);
	/* The same credential again: a replay. */
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/heartbeat", body, strlen(body), now, &who,
				    err, sizeof err), AUTH_DENIED);
	ck_assert_str_eq(err, "token credential replayed");

	/* A fresh credential used for another path, body or method. */
	buf_reset(&h);
	auth_sign(&cli, "POST", "/api/heartbeat", body, strlen(body), &h, err, sizeof err);
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/pools/x/scale", body, strlen(body), now,
				    &who, err, sizeof err), AUTH_DENIED);
	ck_assert_str_eq(err, "token credential does not match this request");
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/heartbeat", "{}", 2, now, &who, err,
				    sizeof err), AUTH_DENIED);
	ck_assert_int_eq(auth_check(&srv, h.data, "DELETE", "/api/heartbeat", body, strlen(body), now,
				    &who, err, sizeof err), AUTH_DENIED);
	/* Outside the time window. */
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/heartbeat", body, strlen(body),
				    now + AUTH_WINDOW_S + 5, &who, err, sizeof err), AUTH_DENIED);
	ck_assert_ptr_nonnull(strstr(err, "expired"));
	/* Tampered and malformed headers, a missing one, another scheme. */
	h.data[h.len - 1] = h.data[h.len - 1] == '0' ? '1' : '0';
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/heartbeat", body, strlen(body), now,
				    &who, err, sizeof err), AUTH_DENIED);
	ck_assert_int_eq(auth_check(&srv, "ES-HMAC ts=1", "POST", "/", NULL, 0, now, &who, err, sizeof err),
			 AUTH_DENIED);
	ck_assert_str_eq(err, "malformed ES-HMAC credential");
	ck_assert_int_eq(auth_check(&srv, NULL, "POST", "/", NULL, 0, now, &who, err, sizeof err), AUTH_DENIED);
	ck_assert_str_eq(err, "missing Authorization header (token credential required)");
	ck_assert_int_eq(auth_check(&srv, "Bearer abc", "POST", "/", NULL, 0, now, &who, err, sizeof err),
			 AUTH_DENIED);
	buf_free(&h);
	auth_server_free(&srv);
}
END_TEST

START_TEST(test_many_nonces)
{
	struct auth_server srv;
	struct auth_client cli;
	struct auth_who who;
	char err[256], spec[160];
	ck_assert_int_eq(auth_server_init(&srv, AUTH_TOKEN, token_path, 1, err, sizeof err), 0);
	snprintf(spec, sizeof spec, "token:%s", token_path);
	ck_assert_int_eq(auth_client_init(&cli, spec, err, sizeof err), 0);
	int64_t now = time(NULL);
	struct buf first = BUF_INIT;
	auth_sign(&cli, "GET", "/api/workers", NULL, 0, &first, err, sizeof err);
	ck_assert_int_eq(auth_check(&srv, first.data, "GET", "/api/workers", NULL, 0, now, &who, err,
				    sizeof err), AUTH_OK);
	for (int i = 0; i < 5000; i++) {
		struct buf h = BUF_INIT;
		auth_sign(&cli, "GET", "/api/workers", NULL, 0, &h, err, sizeof err);
		ck_assert_int_eq(auth_check(&srv, h.data, "GET", "/api/workers", NULL, 0, now, &who, err,
					    sizeof err), AUTH_OK);
		buf_free(&h);
	}
	/* The first nonce is still remembered after the table grew. */
	ck_assert_int_eq(auth_check(&srv, first.data, "GET", "/api/workers", NULL, 0, now, &who, err,
				    sizeof err), AUTH_DENIED);
	buf_free(&first);
	auth_server_free(&srv);
}
END_TEST

START_TEST(test_secret_file_checks)
{
	struct auth_client cli;
	char err[256], spec[160];
	FILE *fp = fopen(token_path, "w");
	fputs("0123456789abcdef0123\n", fp);
	fclose(fp);
	chmod(token_path, 0644);
	snprintf(spec, sizeof spec, "token:%s", token_path);
	ck_assert_int_eq(auth_client_init(&cli, spec, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "is accessible by group or others (mode 0644); run chmod 600"));
	chmod(token_path, 0600);
	ck_assert_int_eq(auth_client_init(&cli, spec, err, sizeof err), 0);
	ck_assert_uint_eq(cli.token_len, 20);
	fp = fopen(token_path, "w");
	fputs("short\n", fp);
	fclose(fp);
	ck_assert_int_eq(auth_client_init(&cli, spec, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "at least 16 are needed"));
	ck_assert_int_eq(auth_client_init(&cli, "token:/nonexistent/t", err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot open /nonexistent/t: No such file or directory");
	ck_assert_int_eq(auth_client_init(&cli, "kerberos", err, sizeof err), -1);
	ck_assert_str_eq(err, "invalid auth \"kerberos\"; expected munge, token:PATH or none");
}
END_TEST

START_TEST(test_munge)
{
	struct auth_server srv;
	struct auth_client cli;
	struct auth_who who;
	char err[256];
	struct buf h = BUF_INIT;
	ck_assert_int_eq(auth_server_init(&srv, AUTH_MUNGE, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(auth_client_init(&cli, "munge", err, sizeof err), 0);
	ck_assert_msg(auth_sign(&cli, "POST", "/api/jobs/ended", body, strlen(body), &h, err, sizeof err) == 0,
		      "%s (make check starts munged; run scripts/cluster.sh up)", err);
	int64_t now = time(NULL);
	ck_assert_msg(auth_check(&srv, h.data, "POST", "/api/jobs/ended", body, strlen(body), now, &who,
				 err, sizeof err) == AUTH_OK, "%s", err);
	ck_assert_int_eq(who.uid, geteuid());
	ck_assert_int_eq(who.via, AUTH_MUNGE);
	/* munged refuses the same credential twice. */
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/jobs/ended", body, strlen(body), now, &who,
				    err, sizeof err), AUTH_DENIED);
	ck_assert_ptr_nonnull(strstr(err, "invalid MUNGE credential"));
	/* A credential made for one request does not fit another. */
	buf_reset(&h);
	auth_sign(&cli, "POST", "/api/jobs/ended", body, strlen(body), &h, err, sizeof err);
	ck_assert_int_eq(auth_check(&srv, h.data, "POST", "/api/pools", body, strlen(body), now, &who, err,
				    sizeof err), AUTH_DENIED);
	ck_assert_str_eq(err, "MUNGE credential was made for another request");
	ck_assert_int_eq(auth_check(&srv, "MUNGE garbage", "GET", "/", NULL, 0, now, &who, err, sizeof err),
			 AUTH_DENIED);
	buf_free(&h);
	auth_server_free(&srv);
}
END_TEST

START_TEST(test_equal_and_random)
{
	char a[65], b[65];
	ck_assert_int_eq(auth_random_hex(a, 32), 0);
	ck_assert_int_eq(auth_random_hex(b, 32), 0);
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert_str_ne(a, b);
	ck_assert(auth_equal("abc", "abc", 3));
	ck_assert(!auth_equal("abc", "abd", 3));
}
END_TEST

Suite *suite_auth(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("token");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_token_round_trip);
	tcase_add_test(tc, test_many_nonces);
	tcase_add_test(tc, test_secret_file_checks);
	tcase_add_test(tc, test_equal_and_random);
	suite_add_tcase(s, tc);
	tc = tcase_create("munge");
	tcase_add_test(tc, test_munge);
	suite_add_tcase(s, tc);
	return s;
}
