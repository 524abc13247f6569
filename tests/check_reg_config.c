/* check_reg_config.c — registry/reg_config: the registry's config file
 * (defaults, every key, errors with FILE:LINE:COL), listen addresses, the
 * final checks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../registry/reg_config.h"

static int parse(struct reg_config *c, const char *src, struct buf *errs)
{
	reg_config_init(c);
	return reg_config_parse(c, src, strlen(src), "reg.toml", errs);
}

START_TEST(test_full)
{
	struct reg_config c;
	struct buf e = BUF_INIT;
	const char *src =
		"listen = \"127.0.0.1:9999\"\n"
		"advertise_url = \"http://login1:9999\"\n"
		"state_dir = \"/tmp/st\"\n"
		"auth = \"token:/etc/es.token\"\n"
		"allow_uids = [1001, 0, \"root\"]\n"
		"log_level = \"debug\"\n"
		"check_worker_host = false\n"
		"[health]\nheartbeat_interval = \"500ms\"\nheartbeat_timeout = \"2s\"\nkeep_gone = \"1m\"\n"
		"[acquirer]\nmax_pending = 2\npoll_interval = \"1s\"\nbackoff_min = \"1s\"\n"
		"backoff_max = \"10s\"\ndrain_timeout = \"30s\"\njob_script = \"/opt/job.sh\"\n"
		"[slurm]\nsbatch = \"/usr/bin/sbatch\"\nsacct = \"\"\ntimeout = \"5s\"\n"
		"[routing]\npolicy = \"least_load\"\nmigrate = false\n"
		"[proxy]\nmax_migrations = 5\n";
	ck_assert_msg(parse(&c, src, &e) == 0, "%s", e.data);
	ck_assert(!c.proxy.migrate);
	ck_assert_int_eq(c.proxy.max_migrations, 5);
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_int_eq(c.listen_port, 9999);
	ck_assert_str_eq(c.advertise_url, "http://login1:9999");
	ck_assert_str_eq(c.auth, "token:/etc/es.token");
	ck_assert_uint_eq(c.nallow_uids, 3);
	ck_assert_uint_eq(c.allow_uids[0], 1001);
	ck_assert_uint_eq(c.allow_uids[2], 0);
	ck_assert(!c.check_worker_host);
	ck_assert_int_eq(c.heartbeat_ms, 500);
	ck_assert_int_eq(c.heartbeat_timeout_ms, 2000);
	ck_assert_int_eq(c.keep_gone_ms, 60000);
	ck_assert_int_eq(c.max_pending, 2);
	ck_assert_int_eq(c.drain_timeout_ms, 30000);
	ck_assert_str_eq(c.job_script, "/opt/job.sh");
	ck_assert_str_eq(c.sbatch, "/usr/bin/sbatch");
	ck_assert_str_eq(c.squeue, "squeue");
	ck_assert_str_eq(c.sacct, "");
	ck_assert_int_eq(c.command_timeout_ms, 5000);
	ck_assert_int_eq(c.policy, MODEL_POLICY_LEAST_LOAD);
	reg_config_free(&c);
	buf_free(&e);

	/* Defaults. */
	ck_assert_int_eq(parse(&c, "", &e), 0);
	ck_assert_ptr_null(c.listen_host);
	ck_assert_int_eq(c.listen_port, 8780);
	ck_assert_str_eq(c.auth, "munge");
	ck_assert_int_eq(c.heartbeat_ms, 1000);
	ck_assert_int_eq(c.heartbeat_timeout_ms, 3000);
	ck_assert_int_eq(c.max_pending, 4);
	ck_assert(c.proxy.migrate);
	ck_assert_int_eq(c.proxy.max_migrations, 2);
	reg_config_free(&c);
	buf_free(&e);
}
END_TEST

struct err_case {
	const char *src;
	const char *want; /* the first error line after "reg.toml:" */
};

static const struct err_case err_cases[] = {
	{"listen = 8780\n", "1:10: listen must be a string, not an integer"},
	{"listen = \"host:99999\"\n", "1:10: listen: bad port in listen address 'host:99999'"},
	{"listen = \"::1:80\"\n", "1:10: listen: bad listen address '::1:80' (write IPv6 addresses as [ADDRESS]:PORT)"},
	{"lisen = \"x:1\"\n", "1:1: unknown key \"lisen\" (did you mean \"listen\"?)"},
	{"colour = 1\n", "1:1: unknown key \"colour\""},
	{"auth = \"kerberos\"\n", "1:8: unknown auth \"kerberos\"; expected munge, token:PATH or none"},
	{"auth = \"token:\"\n", "1:8: auth \"token:\" needs a path (token:PATH)"},
	{"state_dir = \"rel/dir\"\n", "1:13: state_dir must be an absolute path"},
	{"allow_uids = [1, -1]\n", "1:18: allow_uids[1] must be a uid (0..4294967294) or a user name"},
	{"allow_uids = [\"no-such-user-here\"]\n", "1:15: allow_uids[0]: unknown user 'no-such-user-here'"},
	{"allow_uids = 5\n", "1:14: allow_uids must be an array of uids or user names"},
	{"check_worker_host = \"no\"\n", "1:21: check_worker_host must be a boolean, not a string"},
	{"log_level = \"loud\"\n", "1:13: unknown log_level \"loud\"; expected one of: debug, info, warn, error"},
	{"[health]\nheartbeat_timeout = \"1s\"\n", "2:1: health.heartbeat_timeout must be longer than heartbeat_interval"},
	{"[health]\nheartbeat_interval = \"fast\"\n", NULL},
	{"[health]\nheartbeat = \"1s\"\n", "2:1: unknown key \"heartbeat\" in [health] (did you mean \"heartbeat_interval\"?)"},
	{"[acquirer]\nmax_pending = 0\n", NULL},
	{"[acquirer]\njob_script = \"job.sh\"\n", "2:14: acquirer.job_script must be an absolute path"},
	{"[acquirer]\nbackoff_min = \"1m\"\nbackoff_max = \"10s\"\n", "3:1: acquirer.backoff_max must not be shorter than backoff_min"},
	{"[slurm]\nsbatch = \"\"\n", "2:10: slurm.sbatch must not be empty"},
	{"[slurmm]\n", "1:2: unknown section [slurmm] (did you mean [slurm]?)"},
	{"[routing]\npolicy = \"random\"\n", NULL},
	{"[routing]\nmigrate = \"yes\"\n", "2:11: routing.migrate must be a boolean, not a string"},
	{"[routing]\nmigrat = true\n", "2:1: unknown key \"migrat\" in [routing] (did you mean \"migrate\"?)"},
	{"[proxy]\nmax_migrations = 17\n", NULL},
	{"health = 3\n", "1:10: health must be a table ([health]), not an integer"},
	{"listen = \"a\"\nlisten = \"b\"\n", "2:1: duplicate key \"listen\" (first defined at 1:1)"},
};

START_TEST(test_errors)
{
	const struct err_case *c = &err_cases[_i];
	struct reg_config cfg;
	struct buf e = BUF_INIT;
	ck_assert_msg(parse(&cfg, c->src, &e) == -1, "accepted: %s", c->src);
	ck_assert_ptr_nonnull(e.data);
	ck_assert_msg(strncmp(e.data, "reg.toml:", 9) == 0, "%s", e.data);
	if (c->want) {
		size_t l = strcspn(e.data + 9, "\n");
		ck_assert_msg(strlen(c->want) == l && strncmp(e.data + 9, c->want, l) == 0,
			      "for %s got \"%.*s\", want \"%s\"", c->src, (int)l, e.data + 9, c->want);
	} else {
		/* At least a position. */
		int line, col;
		ck_assert_msg(sscanf(e.data, "reg.toml:%d:%d:", &line, &col) == 2, "%s", e.data);
	}
	reg_config_free(&cfg);
	buf_free(&e);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	struct reg_config cfg;
	struct buf e = BUF_INIT;
	ck_assert_int_eq(parse(&cfg, "listen = 1\nauth = \"x\"\n[acquirer]\nmax_pending = -3\n", &e), -1);
	int lines = 0;
	for (const char *p = e.data; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 3);
	reg_config_free(&cfg);
	buf_free(&e);
}
END_TEST

START_TEST(test_listen)
{
	struct reg_config c;
	char err[200];
	reg_config_init(&c);
	ck_assert_int_eq(reg_config_set_listen(&c, "8781", err, sizeof err), 0);
	ck_assert_ptr_null(c.listen_host);
	ck_assert_int_eq(c.listen_port, 8781);
	ck_assert_int_eq(reg_config_set_listen(&c, ":0", err, sizeof err), 0);
	ck_assert_ptr_null(c.listen_host);
	ck_assert_int_eq(c.listen_port, 0);
	ck_assert_int_eq(reg_config_set_listen(&c, "[::1]:80", err, sizeof err), 0);
	ck_assert_str_eq(c.listen_host, "::1");
	ck_assert_int_eq(reg_config_set_listen(&c, "*:80", err, sizeof err), 0);
	ck_assert_ptr_null(c.listen_host);
	ck_assert_int_eq(reg_config_set_listen(&c, "h:", err, sizeof err), -1);
	ck_assert_int_eq(reg_config_set_listen(&c, "[::1]80", err, sizeof err), -1);
	ck_assert_int_eq(reg_config_set_listen(&c, "x:-1", err, sizeof err), -1);
	ck_assert(reg_config_is_loopback("127.0.0.1"));
	ck_assert(reg_config_is_loopback("127.1.2.3"));
	ck_assert(reg_config_is_loopback("::1"));
	ck_assert(reg_config_is_loopback("localhost"));
	ck_assert(!reg_config_is_loopback("0.0.0.0"));
	ck_assert(!reg_config_is_loopback(NULL));
	reg_config_free(&c);
}
END_TEST

START_TEST(test_finish)
{
	struct reg_config c;
	char err[300];
	reg_config_init(&c);
	c.state_dir = strdup("/tmp/x");
	c.job_script = strdup("/bin/true");
	ck_assert_msg(reg_config_finish(&c, NULL, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.output_dir, "/tmp/x/jobs");
	/* none only on loopback, and only when asked. */
	free(c.auth);
	c.auth = strdup("none");
	ck_assert_int_eq(reg_config_finish(&c, NULL, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "loopback"));
	reg_config_set_listen(&c, "127.0.0.1:0", err, sizeof err);
	ck_assert_int_eq(reg_config_finish(&c, NULL, err, sizeof err), 0);
	c.heartbeat_timeout_ms = 500;
	ck_assert_int_eq(reg_config_finish(&c, NULL, err, sizeof err), -1);
	reg_config_free(&c);

	/* The job script is found beside the program (the source tree). */
	reg_config_init(&c);
	c.state_dir = strdup("/tmp/x");
	char cwd[4096], exe[4200];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	snprintf(exe, sizeof exe, "%s/registry", cwd);
	ck_assert_msg(reg_config_finish(&c, exe, err, sizeof err) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(c.job_script, "/etc/elastic-job.sh"));
	reg_config_free(&c);
}
END_TEST

Suite *suite_reg_config(void)
{
	Suite *s = suite_create("reg_config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_full);
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_listen);
	tcase_add_test(tc, test_finish);
	suite_add_tcase(s, tc);
	return s;
}
