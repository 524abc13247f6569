/* check_reg_slurm.c — registry/reg_slurm: sbatch argv, squeue/sbatch/sacct
 * output parsing, SLURM states as the registry tracks them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../registry/reg_config.h"
#include "../registry/reg_pools.h"
#include "../registry/reg_slurm.h"
#include "model.h"

static const char sim_toml[] =
	"[model]\npath = \"elastic/sim-7b\"\nname = \"org/sim\"\n"
	"[engine]\nkind = \"sim\"\n"
	"[parallel]\ntp = 2\n"
	"[slurm]\npartition = \"low\"\nqos = \"q\"\naccount = \"acc\"\ntime = \"30:00\"\n"
	"gpus_per_node = 8\nextra_args = [\"--exclusive\", \"--constraint=a b\"]\n"
	"[scale]\nmax_nodes = 2\n";

START_TEST(test_sbatch_argv)
{
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	ck_assert_msg(model_parse(sim_toml, strlen(sim_toml), "t.toml", &cfg, &errs) == 0, "%s", errs.data);
	buf_free(&errs);
	struct reg_pools pools;
	reg_pools_init(&pools);
	struct reg_pool *p = reg_pools_add(&pools, cfg, "t.toml", 2, 1);
	struct reg_config rc;
	reg_config_init(&rc);
	rc.output_dir = strdup("/s/jobs");
	rc.job_script = strdup("/x/elastic-job.sh");
	struct reg_argv a = {0};
	reg_slurm_sbatch_argv(&rc, p, "/s/pools/org%2Fsim.toml", "abc123", &a);
	const char *want[] = {
		"sbatch", "--parsable", "--elastic-serve=/s/pools/org%2Fsim.toml", "--job-name=es-org/sim",
		"--comment=elastic-serve:abc123:org/sim", "--output=/s/jobs/es-%j.out", "--open-mode=append",
		"--partition=low",
		"--qos=q", "--account=acc", "--time=30:00", "--nodes=1", "--gres=gpu:8", "--exclusive",
		"--constraint=a b", "/x/elastic-job.sh", NULL,
	};
	for (size_t i = 0; want[i]; i++)
		ck_assert_str_eq(a.v[i], want[i]);
	ck_assert_ptr_null(a.v[16]);
	reg_argv_free(&a);
	reg_slurm_squeue_argv(&rc, 1001, NULL, &a);
	ck_assert_str_eq(a.v[3], "--user=1001");
	ck_assert_str_eq(a.v[4], "--format=%i|%T|%r|%N|%V|%S|%e|%k");
	reg_argv_free(&a);
	reg_slurm_squeue_argv(&rc, 1001, "77", &a);
	ck_assert_str_eq(a.v[3], "--jobs=77");
	reg_argv_free(&a);
	reg_config_free(&rc);
	reg_pools_free(&pools);
}
END_TEST

START_TEST(test_parse_sbatch)
{
	char id[32];
	ck_assert_int_eq(reg_slurm_parse_sbatch("1234\n", id, sizeof id), 0);
	ck_assert_str_eq(id, "1234");
	ck_assert_int_eq(reg_slurm_parse_sbatch("55;cluster\n", id, sizeof id), 0);
	ck_assert_str_eq(id, "55");
	ck_assert_int_eq(reg_slurm_parse_sbatch("sbatch: warning: x\n77\n\n", id, sizeof id), 0);
	ck_assert_str_eq(id, "77");
	ck_assert_int_eq(reg_slurm_parse_sbatch("", id, sizeof id), -1);
	ck_assert_int_eq(reg_slurm_parse_sbatch("Submitted batch job 5\n", id, sizeof id), -1);
	ck_assert_int_eq(reg_slurm_parse_sbatch("12a\n", id, sizeof id), -1);
	ck_assert_int_eq(reg_slurm_parse_sbatch("123456789012345678901234567890123456\n", id, sizeof id), -1);
}
END_TEST

START_TEST(test_parse_squeue)
{
	const char *out =
		"12|RUNNING|None|n1|1700000000|1700000010|1700001810|elastic-serve:abc:sim-7b\n"
		"13|PENDING|BeginTime||1700000000|N/A|Unknown|elastic-serve:abc:sim-7b\n"
		"14|CANCELLED by 0|None|n2|1700000000|1700000010|1700000020|elastic-serve:abc:org/m:x\n"
		"15|RUNNING|None|n3|1700000000|1700000010|1700001810|elastic-serve:other:sim-7b\n"
		"16|RUNNING|None|n3|1700000000|1700000010|1700001810|(null)\n"
		"garbage line\n"
		"17|RUNNING|None\n"
		"\n"
		"18|COMPLETING|None|n1|1|2|3|elastic-serve:abc:a|b\r\n";
	struct reg_sq_job *j;
	size_t bad;
	size_t n = reg_slurm_parse_squeue(out, "abc", &j, &bad);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(bad, 2);
	ck_assert_str_eq(j[0].id, "12");
	ck_assert_str_eq(j[0].state, "RUNNING");
	ck_assert_str_eq(j[0].nodes, "n1");
	ck_assert_str_eq(j[0].pool, "sim-7b");
	ck_assert(j[0].start == 1700000010 && j[0].end == 1700001810 && j[0].submit == 1700000000);
	ck_assert_str_eq(j[1].reason, "BeginTime");
	ck_assert(j[1].start == 0 && j[1].end == 0);
	ck_assert_str_eq(j[2].state, "CANCELLED");
	ck_assert_str_eq(j[2].pool, "org/m:x");
	ck_assert_str_eq(j[3].pool, "a|b");
	free(j);
	/* Without an instance: every job, pool from any comment of ours. */
	n = reg_slurm_parse_squeue(out, NULL, &j, &bad);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(j[3].pool, "sim-7b");
	ck_assert_str_eq(j[4].pool, "");
	free(j);
	n = reg_slurm_parse_squeue("", "abc", &j, &bad);
	ck_assert_uint_eq(n, 0);
	free(j);
}
END_TEST

START_TEST(test_parse_sacct)
{
	char st[32];
	ck_assert_int_eq(reg_slurm_parse_sacct("12|CANCELLED by 1001\n", "12", st, sizeof st), 0);
	ck_assert_str_eq(st, "CANCELLED");
	ck_assert_int_eq(reg_slurm_parse_sacct("120|COMPLETED\n12|PREEMPTED\n", "12", st, sizeof st), 0);
	ck_assert_str_eq(st, "PREEMPTED");
	ck_assert_int_eq(reg_slurm_parse_sacct("13|FAILED\n", "12", st, sizeof st), -1);
	ck_assert_int_eq(reg_slurm_parse_sacct("12|\n", "12", st, sizeof st), -1);
}
END_TEST

START_TEST(test_states)
{
	static const struct {
		const char *slurm;
		enum reg_jstate want;
		const char *reason;
	} t[] = {
		{"PENDING", REG_J_PENDING, "preempted"},
		{"REQUEUED", REG_J_PENDING, "preempted"},
		{"REQUEUE_HOLD", REG_J_PENDING, "unknown"},
		{"SUSPENDED", REG_J_PENDING, "unknown"},
		{"RUNNING", REG_J_RUNNING, "unknown"},
		{"CONFIGURING", REG_J_RUNNING, "unknown"},
		{"COMPLETING", REG_J_COMPLETING, "unknown"},
		{"STAGE_OUT", REG_J_COMPLETING, "unknown"},
		{"COMPLETED", REG_J_ENDED, "completed"},
		{"CANCELLED", REG_J_ENDED, "cancelled"},
		{"TIMEOUT", REG_J_ENDED, "timeout"},
		{"DEADLINE", REG_J_ENDED, "timeout"},
		{"PREEMPTED", REG_J_ENDED, "preempted"},
		{"FAILED", REG_J_ENDED, "failed"},
		{"OUT_OF_MEMORY", REG_J_ENDED, "failed"},
		{"NODE_FAIL", REG_J_ENDED, "node_fail"},
		{"BOOT_FAIL", REG_J_ENDED, "node_fail"},
		{"SOMETHING_NEW", REG_J_ENDED, "unknown"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_msg(reg_slurm_jstate(t[i].slurm) == t[i].want, "%s", t[i].slurm);
		ck_assert_str_eq(reg_slurm_end_reason(t[i].slurm), t[i].reason);
	}
}
END_TEST

START_TEST(test_instance)
{
	char a[13], b[13], c[13];
	reg_slurm_instance("/var/lib/x", 1000, a);
	reg_slurm_instance("/var/lib/x", 1000, b);
	reg_slurm_instance("/var/lib/y", 1000, c);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_uint_eq(strlen(a), 12);
}
END_TEST

Suite *suite_reg_slurm(void)
{
	Suite *s = suite_create("reg_slurm");
	TCase *tc = tcase_create("slurm");
	tcase_add_test(tc, test_sbatch_argv);
	tcase_add_test(tc, test_parse_sbatch);
	tcase_add_test(tc, test_parse_squeue);
	tcase_add_test(tc, test_parse_sacct);
	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_instance);
	suite_add_tcase(s, tc);
	return s;
}
