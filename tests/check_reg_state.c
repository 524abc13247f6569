/* check_reg_state.c — registry/reg_state: the state file round trip, atomic
 * writes, corrupt and truncated files moved aside (never reset), recovery
 * of pools from their config files, the API key. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../registry/reg_state.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/check_reg_state_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char toml_a[] = "[model]\npath = \"org/a\"\nname = \"a\"\n[scale]\nmax_nodes = 4\n";
static const char toml_b[] = "[model]\npath = \"org/b-model\"\nname = \"org/b\"\n[scale]\nmax_nodes = 2\n";

static struct reg_pool *add_pool(struct reg_pools *p, const char *toml, int target)
{
	struct model_config *cfg;
	struct buf e = BUF_INIT;
	ck_assert_msg(model_parse(toml, strlen(toml), "x.toml", &cfg, &e) == 0, "%s", e.data);
	buf_free(&e);
	return reg_pools_add(p, cfg, "x.toml", target, 1000);
}

static void fill(struct reg_pools *p)
{
	reg_pools_init(p);
	struct reg_pool *a = add_pool(p, toml_a, 3);
	struct reg_job *j = reg_pool_add_job(a);
	strcpy(j->id, "12");
	j->state = REG_J_RUNNING;
	strcpy(j->slurm_state, "RUNNING");
	strcpy(j->nodes, "n1");
	j->submitted_at = 1700000000.5;
	j->started_at = 1700000010;
	j->end_time = 1700001810;
	j->runs = 2;
	j->preempted_runs = 1;
	j->draining = true;
	j->drain_started_at = 1700000100;
	strcpy(j->drain_why, "scale_down");
	j->cancel_sent = true; /* not stored */
	j = reg_pool_add_job(a);
	strcpy(j->id, "13_2");
	j->state = REG_J_PENDING;
	strcpy(j->reason, "BeginTime \"q\"");
	reg_pool_add_job(a); /* submitting: no id, not stored */
	struct reg_pool *b = add_pool(p, toml_b, 0);
	b->deleting = true;
}

START_TEST(test_round_trip)
{
	struct reg_pools p, q;
	struct buf b = BUF_INIT;
	char err[300];
	fill(&p);
	reg_state_encode(&p, 1700000200, &b);
	reg_pools_init(&q);
	ck_assert_msg(reg_state_decode(b.data, b.len, &q, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(q.n, 2);
	struct reg_pool *a = reg_pools_find(&q, "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->target, 3);
	ck_assert_uint_eq(a->njobs, 2);
	struct reg_job *j = reg_pool_find_job(a, "12");
	ck_assert_int_eq(j->state, REG_J_RUNNING);
	ck_assert_str_eq(j->nodes, "n1");
	ck_assert(j->submitted_at == 1700000000.5 && j->end_time == 1700001810);
	ck_assert_int_eq(j->runs, 2);
	ck_assert_int_eq(j->preempted_runs, 1);
	ck_assert(j->draining);
	ck_assert_str_eq(j->drain_why, "scale_down");
	ck_assert(!j->cancel_sent);
	ck_assert_str_eq(reg_pool_find_job(a, "13_2")->reason, "BeginTime \"q\"");
	struct reg_pool *bp = reg_pools_find(&q, "org/b");
	ck_assert(bp && bp->deleting);
	ck_assert_str_eq(bp->config_text, reg_pools_find(&p, "org/b")->config_text);
	/* Encoding the decoded state gives the same text. */
	struct buf b2 = BUF_INIT;
	reg_state_encode(&q, 1700000200, &b2);
	ck_assert_str_eq(b.data, b2.data);
	buf_free(&b);
	buf_free(&b2);
	reg_pools_free(&p);
	reg_pools_free(&q);
}
END_TEST

struct bad_case {
	const char *text;
	const char *want; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{"", "empty"},
	{"{\"version\":1,\"pools\":[", "unexpected end of input"},
	{"{\"version\":1,\"pools\":[]} x", "not valid JSON: unexpected character at byte 25"},
	/* Strict JSON only, in UTF-8 (json-c's lenient mode took these). */
	{"{\"version\":1,\"pools\":[],}", "not valid JSON"},
	{"{\"version\":1,/* c */\"pools\":[]}", "not valid JSON"},
	{"{\"version\":1,\"pools\":[],\"x\":\"\xff\"}", "not valid JSON"},
	{"[]", "must be a JSON object"},
	{"{\"pools\":[]}", "version: missing"},
	{"{\"version\":2,\"pools\":[]}", "version 2 is not supported"},
	{"{\"version\":1}", "pools: missing or not an array"},
	{"{\"version\":1,\"pools\":[1]}", "pools[0]: not an object"},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"jobs\":[]}]}", "pools[0].config: missing"},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = 1\\n\",\"jobs\":[]}]}",
	 "pools[0].config: a:2:8: model.path must be a string"},
	{"{\"version\":1,\"pools\":[{\"name\":\"b\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\",\"jobs\":[]}]}",
	 "does not match its config's model name \"a\""},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\"}]}",
	 "pools[0].jobs: missing"},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\",\"jobs\":[{\"job_id\":\"1\",\"state\":\"flying\"}]}]}",
	 "pools[0].jobs[0].state: unknown state \"flying\""},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\",\"jobs\":[{\"job_id\":\"x1\",\"state\":\"pending\"}]}]}",
	 "is not a SLURM job id"},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\",\"jobs\":[{\"job_id\":\"1\",\"state\":\"pending\",\"runs\":\"2\"}]}]}",
	 "pools[0].jobs[0].runs: 'runs' must be an integer"},
	{"{\"version\":1,\"pools\":[{\"name\":\"a\",\"config\":\"[model]\\npath = \\\"x/a\\\"\\n\",\"jobs\":[{\"job_id\":\"1\",\"state\":\"pending\"},{\"job_id\":\"1\",\"state\":\"running\"}]}]}",
	 "job 1 appears twice"},
};

START_TEST(test_decode_errors)
{
	struct reg_pools q;
	char err[400] = "";
	reg_pools_init(&q);
	const struct bad_case *c = &bad_cases[_i];
	ck_assert_msg(reg_state_decode(c->text, strlen(c->text), &q, err, sizeof err) == -1,
		      "accepted %s", c->text);
	ck_assert_msg(strstr(err, c->want), "%s: got \"%s\", want \"%s\"", c->text, err, c->want);
	ck_assert_uint_eq(q.n, 0);
	reg_pools_free(&q);
}
END_TEST

static int count_entries(const char *d, const char *prefix)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	int n = 0;
	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dp);
	return n;
}

START_TEST(test_write_atomic)
{
	char err[300], path[128];
	struct stat st;
	ck_assert_int_eq(reg_state_write_file(dir, "f", "one", 3, 0600, err, sizeof err), 0);
	ck_assert_int_eq(reg_state_write_file(dir, "f", "two!", 4, 0600, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/f", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 4);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(count_entries(dir, "."), 2); /* . and .. only: no temp file left */
	/* A directory that cannot be written: an error, the old file intact. */
	ck_assert_int_eq(reg_state_write_file("/nonexistent-dir", "f", "x", 1, 0600, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot create"));
}
END_TEST

START_TEST(test_load_corrupt_and_truncated)
{
	struct reg_pools p, q;
	char err[400], aside[4200], path[128];
	struct buf b = BUF_INIT;
	ck_assert_int_eq(reg_state_mkdirs(dir, NULL, err, sizeof err), 0);
	reg_pools_init(&q);
	ck_assert_int_eq(reg_state_load(dir, &q, aside, sizeof aside, err, sizeof err), REG_STATE_NONE);

	fill(&p);
	for (size_t i = 0; i < p.n; i++)
		ck_assert_int_eq(reg_state_write_pool(dir, p.v[i], err, sizeof err), 0);
	reg_state_encode(&p, 1, &b);
	ck_assert_int_eq(reg_state_write_file(dir, REG_STATE_FILE, b.data, b.len, 0600, err, sizeof err), 0);
	ck_assert_int_eq(reg_state_load(dir, &q, aside, sizeof aside, err, sizeof err), REG_STATE_LOADED);
	ck_assert_uint_eq(q.n, 2);
	reg_pools_free(&q);
	reg_pools_init(&q);

	/* Truncated: moved aside with its content intact; nothing loaded. */
	ck_assert_int_eq(reg_state_write_file(dir, REG_STATE_FILE, b.data, b.len / 2, 0600, err, sizeof err), 0);
	ck_assert_int_eq(reg_state_load(dir, &q, aside, sizeof aside, err, sizeof err), REG_STATE_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "unexpected end of input"));
	ck_assert_ptr_nonnull(strstr(aside, "/state.json.corrupt-"));
	ck_assert_uint_eq(q.n, 0);
	snprintf(path, sizeof path, "%s/state.json", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	struct stat st;
	ck_assert_int_eq(stat(aside, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)(b.len / 2));

	/* Recovery from the pools' config files. */
	struct buf log = BUF_INIT;
	ck_assert_uint_eq(reg_state_recover_pools(dir, &q, 5, &log), 2);
	ck_assert_ptr_nonnull(reg_pools_find(&q, "org/b"));
	ck_assert(reg_pools_find(&q, "a")->recovered);
	ck_assert_int_eq(reg_pools_find(&q, "a")->target, 0);
	ck_assert_ptr_nonnull(strstr(log.data, "recovered pool a"));
	ck_assert_uint_eq(reg_state_recover_pools(dir, &q, 5, &log), 0); /* no duplicates */
	buf_free(&log);
	reg_pools_free(&q);
	reg_pools_init(&q);

	/* Garbage: the same, and a second one gets its own name. */
	ck_assert_int_eq(reg_state_write_file(dir, REG_STATE_FILE, "\x01garbage", 8, 0600, err, sizeof err), 0);
	char aside2[4200];
	ck_assert_int_eq(reg_state_load(dir, &q, aside2, sizeof aside2, err, sizeof err), REG_STATE_CORRUPT);
	ck_assert_str_ne(aside, aside2);
	ck_assert_int_eq(count_entries(dir, "state.json.corrupt-"), 2);

	/* Unreadable (a directory): an error, nothing moved. */
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(reg_state_load(dir, &q, aside, sizeof aside, err, sizeof err), REG_STATE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "cannot read"));
	ck_assert_int_eq(count_entries(dir, "state.json.corrupt-"), 2);
	rmdir(path);

	buf_free(&b);
	reg_pools_free(&p);
	reg_pools_free(&q);
}
END_TEST

START_TEST(test_paths_and_key)
{
	char path[4200], err[300], k1[80], k2[80];
	reg_state_pool_path("/s", "org/m%1", path, sizeof path);
	ck_assert_str_eq(path, "/s/pools/org%2Fm%251.toml");
	ck_assert_int_eq(reg_state_api_key(dir, k1, sizeof k1, err, sizeof err), 0);
	ck_assert_int_eq(reg_state_api_key(dir, k2, sizeof k2, err, sizeof err), 0);
	ck_assert_str_eq(k1, k2);
	ck_assert_uint_eq(strlen(k1), 67);
	struct stat st;
	snprintf(path, sizeof path, "%s/api_key", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

Suite *suite_reg_state(void)
{
	Suite *s = suite_create("reg_state");
	TCase *tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_decode_errors, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, test_write_atomic);
	tcase_add_test(tc, test_load_corrupt_and_truncated);
	tcase_add_test(tc, test_paths_and_key);
	suite_add_tcase(s, tc);
	return s;
}
