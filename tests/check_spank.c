/* check_spank.c — the SPANK plugin without Slurm: tests/fake_spank_api.c
 * stands in for libslurm, so the callbacks run through every context.
 *
 * Plugstack arguments (unknown keys refused in every context), the submit
 * side (validation with FILE:LINE:COL, salloc/srun, the carried config and
 * registry), the batch step's plan (slices, ports, URLs, reservations, the
 * agent's argv and environment, the job script's variables, never as root
 * for another user), the end reason, the bounded and authenticated exit
 * notice, and the reaping of leftover processes.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "buf.h"
#include "es_exec.h"
#include "es_notify.h"
#include "es_options.h"
#include "es_plugin.h"
#include "es_ports.h"
#include "es_reap.h"
#include "es_reason.h"
#include "es_remote.h"
#include "es_request.h"
#include "es_submit.h"
#include "fake_spank_api.h"
#include "httpd.h"
#include "model.h"

static char sp_dir[64];

static void sp_setup(void)
{
	fake_spank_reset();
	es_plugin_reset();
	es_plugin_set_paths(NULL, "/nonexistent/scontrol");
	snprintf(sp_dir, sizeof sp_dir, "/tmp/check_spank_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sp_dir));
	unsetenv("ELASTIC_REGISTRY_URL");
	unsetenv("SLURM_JOB_ID");
}

static void sp_teardown(void)
{
	es_plugin_reset();
	fake_spank_free();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", sp_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *sp_file(const char *name, const char *text)
{
	static char path[8][256];
	static int n;
	char *p = path[n++ % 8];
	snprintf(p, 256, "%s/%s", sp_dir, name);
	FILE *fp = fopen(p, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return p;
}

static void sp_log_has(const char *want)
{
	const char *log = fake_spank.log.data ? fake_spank.log.data : "";
	if (!strstr(log, want))
		fprintf(stderr, "---- log:\n%s----\n", log);
	ck_assert_msg(strstr(log, want), "log lacks \"%s\" (the log is above)", want);
}

static const char sp_good[] = "[model]\npath = \"sim/tiny\"\nname = \"tiny\"\n"
			      "[engine]\nkind = \"sim\"\n[parallel]\ntp = 2\n";

/* ---------------------------------------------------------------- arguments */

START_TEST(test_options)
{
	struct es_opts o;
	char err[512];
	char *ok[] = {"registry=http://login1:8780", "agent=/opt/es/sbin/elastic-agent",
		      "auth=token:/etc/es/token", "notify_timeout=1500", "port_base=30000",
		      "run_dir=/var/run/es"};
	ck_assert_int_eq(es_opts_parse(&o, 6, ok, err, sizeof err), 0);
	ck_assert_str_eq(o.registry, "http://login1:8780");
	ck_assert_str_eq(o.agent, "/opt/es/sbin/elastic-agent");
	ck_assert_str_eq(o.auth, "token:/etc/es/token");
	ck_assert_int_eq(o.notify_timeout_ms, 1500);
	ck_assert_int_eq(o.port_base, 30000);
	ck_assert_str_eq(o.run_dir, "/var/run/es");
	ck_assert_int_eq(es_opts_parse(&o, 0, NULL, err, sizeof err), 0);
	ck_assert_str_eq(o.auth, "munge");
	ck_assert_int_eq(o.notify_timeout_ms, 2000);
	ck_assert_str_eq(o.agent, ES_SBINDIR "/elastic-agent");
	ck_assert_str_eq(o.registry, "");

	struct {
		const char *arg, *msg;
	} bad[] = {
		{"registy=http://x", "unknown plugstack argument \"registy=http://x\" (did you mean \"registry\"?)"},
		{"colour=red", "unknown plugstack argument \"colour=red\"; known: registry="},
		{"registry", "needs a value"},
		{"registry=https://x", "expected an http:// URL"},
		{"agent=bin/elastic-agent", "must be an absolute path"},
		{"auth=kerberos", "expected munge, token:/ABSOLUTE/PATH or none"},
		{"auth=token:rel", "expected munge"},
		{"notify_timeout=20", "from 100 to 10000"},
		{"notify_timeout=2s", "expected a number"},
		{"port_base=80", "from 1024"},
		{"run_dir=run", "absolute"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *av[] = {(char *)bad[i].arg};
		ck_assert_msg(es_opts_parse(&o, 1, av, err, sizeof err) == -1, "%s accepted", bad[i].arg);
		ck_assert_msg(strstr(err, bad[i].msg), "%s: \"%s\"", bad[i].arg, err);
	}
}
END_TEST

START_TEST(test_init_every_context)
{
	enum es_ctx ctxs[] = {ES_CTX_ALLOCATOR, ES_CTX_LOCAL, ES_CTX_REMOTE, ES_CTX_SLURMD,
			      ES_CTX_JOB_SCRIPT};
	for (size_t i = 0; i < 5; i++) {
		sp_setup();
		fake_spank.ctx = ctxs[i];
		char *bad[] = {"registry=http://r:1", "notify=5"};
		ck_assert_int_eq(es_plugin_init(FAKE_SP, 2, bad), -1);
		sp_log_has("error: elastic_serve: unknown plugstack argument \"notify=5\" (did you mean \"notify_timeout\"?)");
		fake_spank_reset();
		fake_spank.ctx = ctxs[i];
		char *good[] = {"registry=http://r:1"};
		ck_assert_int_eq(es_plugin_init(FAKE_SP, 1, good), 0);
		/* The option exists where users give it and where Slurm passes it on. */
		ck_assert_int_eq(fake_spank.registered, i < 3);
		sp_teardown();
	}
}
END_TEST

/* ---------------------------------------------------------------- submit side */

START_TEST(test_submit_good)
{
	sp_setup();
	char *av[] = {"registry=http://plugstack:1"};
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 1, av), 0);
	char *f = sp_file("model.toml", sp_good);
	ck_assert_int_eq(es_option_cb(0, f, 0), 0);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	const char *cfg = fake_env_get(fake_spank.ctl, ES_CARRY_CONFIG);
	ck_assert_ptr_nonnull(cfg);
	/* What travels is the resolved config, and it parses again. */
	struct model_config *m = NULL;
	struct buf errs = BUF_INIT;
	ck_assert_int_eq(model_parse(cfg, strlen(cfg), "carried", &m, &errs), 0);
	ck_assert_str_eq(m->name, "tiny");
	ck_assert_int_eq(m->tp, 2);
	ck_assert_ptr_nonnull(strstr(cfg, "startup_timeout = \"20m\"")); /* defaults filled in */
	model_free(m);
	buf_free(&errs);
	ck_assert_str_eq(fake_env_get(fake_spank.ctl, ES_CARRY_REGISTRY), "http://plugstack:1");
	ck_assert_str_eq(fake_env_get(fake_spank.ctl, ES_CARRY_FILE), f);
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	sp_teardown();
}
END_TEST

START_TEST(test_submit_registry_precedence)
{
	struct es_carry c;
	struct buf errs = BUF_INIT;
	sp_setup();
	char *f = sp_file("m.toml", sp_good);
	ck_assert_int_eq(es_submit_check(f, "http://plug:1", NULL, &c, &errs), 0);
	ck_assert_str_eq(c.registry, "http://plug:1");
	es_carry_free(&c);
	ck_assert_int_eq(es_submit_check(f, "http://plug:1", "http://env:2", &c, &errs), 0);
	ck_assert_str_eq(c.registry, "http://env:2");
	es_carry_free(&c);
	char *g = sp_file("g.toml", "[model]\npath = \"x\"\n[registry]\nurl = \"http://toml:3\"\n");
	ck_assert_int_eq(es_submit_check(g, "http://plug:1", "http://env:2", &c, &errs), 0);
	ck_assert_str_eq(c.registry, "http://toml:3");
	es_carry_free(&c);
	ck_assert_int_eq(es_submit_check(f, "", NULL, &c, &errs), 0);
	ck_assert_str_eq(c.registry, "");
	es_carry_free(&c);
	ck_assert_int_eq(es_submit_check(f, "", "ftp://x", &c, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.data, "ELASTIC_REGISTRY_URL=ftp://x"));
	buf_free(&errs);
	sp_teardown();
}
END_TEST

START_TEST(test_submit_bad_file)
{
	sp_setup();
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 0, NULL), 0);
	char *f = sp_file("bad.toml", "[model]\npath = \"x\"\n[parallel]\ntp = \"two\"\nfoo = 1\n");
	ck_assert_int_eq(es_option_cb(0, f, 0), -1);
	char want[512];
	snprintf(want, sizeof want, "error: elastic_serve: %s:4:6: ", f);
	sp_log_has(want); /* line 4, column 6: the value of tp */
	snprintf(want, sizeof want, "error: elastic_serve: %s:5:1: ", f);
	sp_log_has(want);
	/* Nothing is carried: sbatch stops before the job is created. */
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_null(fake_spank.ctl);

	fake_spank_reset();
	ck_assert_int_eq(es_option_cb(0, "/nonexistent/model.toml", 0), -1);
	sp_log_has("error: elastic_serve: /nonexistent/model.toml: cannot open: No such file or directory");
	fake_spank_reset();
	ck_assert_int_eq(es_option_cb(0, "", 0), -1);
	sp_log_has("needs a model.toml file");
	fake_spank_reset();
	/* Too large to carry: model.toml itself is limited to 64 KiB. */
	fake_spank_reset();
	struct buf big = BUF_INIT;
	buf_puts(&big, "[model]\npath = \"x\"\n");
	while (big.len < 70000)
		buf_puts(&big, "# padding padding padding padding padding padding\n");
	char *bf = sp_file("big.toml", big.data);
	buf_free(&big);
	ck_assert_int_eq(es_option_cb(0, bf, 0), -1);
	sp_log_has("a model.toml may have at most 65536");
	sp_teardown();
}
END_TEST

START_TEST(test_submit_salloc_srun)
{
	sp_setup();
	char *f = sp_file("model.toml", sp_good);
	char *saved = program_invocation_short_name;
	program_invocation_short_name = "salloc";
	ck_assert_int_eq(es_option_cb(0, f, 0), -1);
	program_invocation_short_name = saved;
	sp_log_has("works with sbatch, not salloc");
	fake_spank_reset();
	fake_spank.ctx = ES_CTX_LOCAL;
	ck_assert_int_eq(es_option_cb(0, f, 0), -1);
	sp_log_has("works with sbatch");
	/* srun inside a job inherits the option of its sbatch: quietly fine. */
	fake_spank_reset();
	fake_spank.ctx = ES_CTX_LOCAL;
	setenv("SLURM_JOB_ID", "5", 1);
	ck_assert_int_eq(es_option_cb(0, "relative/path/elsewhere.toml", 0), 0);
	unsetenv("SLURM_JOB_ID");
	ck_assert_ptr_null(fake_spank.log.data);
	/* In slurmstepd the option callback is not where the config comes from. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_option_cb(0, "whatever", 1), 0);
	sp_teardown();
}
END_TEST

/* ---------------------------------------------------------------- ports */

static int sp_base(void)
{
	/* A base whose candidates are free: from an ephemeral port's neighbourhood. */
	for (int tries = 0; tries < 50; tries++) {
		int base = 20000 + (int)(getpid() * 7919 + tries * 131) % 8000;
		bool ok = true;
		for (int i = 0; i < 8 && ok; i++)
			ok = es_port_bindable(base + i) && es_port_bindable(base + ES_PORT_SPAN + i);
		if (ok)
			return base;
	}
	ck_abort_msg("no free port range");
	return 0;
}

START_TEST(test_ports)
{
	sp_setup();
	char err[256];
	int base = sp_base();
	ck_assert_int_eq(es_port_gpu_id("0,1,2,3,4,5,6,7", 8, 2, 2), 4);
	ck_assert_int_eq(es_port_gpu_id("4,5,6,7", 4, 1, 2), 6);
	ck_assert_int_eq(es_port_gpu_id("4,5,6,7", 2, 1, 2), -1); /* lists do not match */
	ck_assert_int_eq(es_port_gpu_id("GPU-a,GPU-b", 2, 0, 1), -1);
	ck_assert_int_eq(es_port_gpu_id(NULL, 2, 0, 1), -1);
	ck_assert_int_eq(es_port_gpu_id("3,,4", 3, 1, 1), -1);

	struct es_port_lock a, b, c;
	ck_assert_int_eq(es_port_pick(sp_dir, base, 4, 2, &a, err, sizeof err), 0);
	ck_assert_int_eq(a.port, base + 4);
	ck_assert_int_ge(a.fd, 0);
	/* Another step on this host wants GPU 4's port: the next candidate. */
	ck_assert_int_eq(es_port_pick(sp_dir, base, 4, 0, &b, err, sizeof err), 0);
	ck_assert_int_eq(b.port, base + 4 + ES_PORT_SPAN);
	es_port_release(&a);
	ck_assert_int_eq(es_port_pick(sp_dir, base, 4, 0, &c, err, sizeof err), 0);
	ck_assert_int_eq(c.port, base + 4); /* released, free again */
	es_port_release(&b);
	es_port_release(&c);
	/* A foreign server on the port: skipped. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + 1)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert(!es_port_bindable(base + 1));
	ck_assert_int_eq(es_port_pick(sp_dir, base, 1, 0, &a, err, sizeof err), 0);
	ck_assert_int_eq(a.port, base + 1 + ES_PORT_SPAN);
	es_port_release(&a);
	close(fd);
	/* No global id: the slice's position. */
	ck_assert_int_eq(es_port_pick(NULL, base, -1, 3, &a, err, sizeof err), 0);
	ck_assert_int_eq(a.port, base + 3);
	ck_assert_int_eq(a.fd, -1);
	/* A run directory others can write to is refused. */
	char loose[128];
	snprintf(loose, sizeof loose, "%s/loose", sp_dir);
	mkdir(loose, 0777);
	chmod(loose, 0777);
	ck_assert_int_eq(es_port_pick(loose, base, 0, 0, &a, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not writable by others"));
	sp_teardown();
}
END_TEST

START_TEST(test_plan)
{
	sp_setup();
	struct es_opts o;
	char err[512], *av[2], a0[64], a1[128];
	int base = sp_base();
	snprintf(a0, sizeof a0, "port_base=%d", base);
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	av[0] = a0;
	av[1] = a1;
	ck_assert_int_eq(es_opts_parse(&o, 2, av, err, sizeof err), 0);
	struct buf cfg = BUF_INIT;
	struct model_config *m;
	struct buf errs = BUF_INIT;
	ck_assert_int_eq(model_parse(sp_good, strlen(sp_good), "m", &m, &errs), 0);
	model_dump(m, &cfg);
	model_free(m);

	/* gpu:8, tp = 2: four slices on disjoint pairs, distinct ports. */
	struct es_plan p1, p2;
	struct es_plan_in in = {.config = cfg.data, .cuda = "0,1,2,3,4,5,6,7",
				.job_gpus = "0,1,2,3,4,5,6,7", .host = "n1"};
	ck_assert_msg(es_plan_make(&in, &o, &p1, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(p1.nslices, 4);
	char want[512];
	snprintf(want, sizeof want, "http://n1:%d,http://n1:%d,http://n1:%d,http://n1:%d", base,
		 base + 2, base + 4, base + 6);
	ck_assert_str_eq(p1.urls.data, want);
	ck_assert_str_eq(p1.gpus.slices[3].csv, "6,7");
	es_plan_free(&p1);

	/* Two gpu:4 jobs on one node; cgroups renumber CUDA_VISIBLE_DEVICES but
	 * SLURM_JOB_GPUS keeps the global ids: no collision. */
	struct es_plan_in j1 = {.config = cfg.data, .cuda = "0,1,2,3", .job_gpus = "0,1,2,3", .host = "n1"};
	struct es_plan_in j2 = {.config = cfg.data, .cuda = "0,1,2,3", .job_gpus = "4,5,6,7", .host = "n1"};
	ck_assert_int_eq(es_plan_make(&j1, &o, &p1, err, sizeof err), 0);
	ck_assert_int_eq(es_plan_make(&j2, &o, &p2, err, sizeof err), 0);
	snprintf(want, sizeof want, "http://n1:%d,http://n1:%d", base, base + 2);
	ck_assert_str_eq(p1.urls.data, want);
	snprintf(want, sizeof want, "http://n1:%d,http://n1:%d", base + 4, base + 6);
	ck_assert_str_eq(p2.urls.data, want);
	ck_assert_str_eq(p2.gpus.slices[0].csv, "0,1"); /* the engine sees the renumbered ids */
	es_plan_free(&p2);
	/* Same global GPUs on another Slurm node of this host (a test cluster):
	 * the reservation moves it one span up. */
	ck_assert_int_eq(es_plan_make(&j1, &o, &p2, err, sizeof err), 0);
	snprintf(want, sizeof want, "http://n1:%d,http://n1:%d", base + ES_PORT_SPAN,
		 base + ES_PORT_SPAN + 2);
	ck_assert_str_eq(p2.urls.data, want);
	es_plan_free(&p2);
	es_plan_free(&p1);

	/* Errors. */
	struct es_plan_in e1 = {.config = cfg.data, .cuda = "", .host = "n1"};
	ck_assert_int_eq(es_plan_make(&e1, &o, &p1, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "the job has no GPUs"));
	struct es_plan_in e2 = {.config = cfg.data, .cuda = "0,1,2", .host = "n1"};
	ck_assert_int_eq(es_plan_make(&e2, &o, &p1, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot split the job's GPUs (0,1,2) into slices of tp = 2"));
	struct es_plan_in e3 = {.config = "[model]\npath = 3\n", .cuda = "0,1", .host = "n1"};
	ck_assert_int_eq(es_plan_make(&e3, &o, &p1, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "carried with the job is invalid"));

	/* The agent's command line: argv, no shell. */
	struct es_plan_in in2 = {.config = cfg.data, .cuda = "2,3", .job_gpus = "2,3", .host = "n1"};
	ck_assert_int_eq(es_plan_make(&in2, &o, &p1, err, sizeof err), 0);
	struct es_agent_args aa = {.agent = "/a/elastic-agent", .config_env = "CFG",
				   .registry = "http://r:1", .auth = "munge", .job_id = "9_3",
				   .node = "n1", .log_dir = "/l", .status = "/l/n1.status"};
	char **argv = es_agent_argv(&p1, &aa);
	char s[64];
	snprintf(s, sizeof s, "2,3@%d", base + 2);
	const char *wantv[] = {"/a/elastic-agent", "--config-env", "CFG", "--job-id", "9_3", "--node",
			       "n1", "--host", "n1", "--registry", "http://r:1", "--auth", "munge",
			       "--log-dir", "/l", "--status-file", "/l/n1.status", "--slice", s, NULL};
	for (size_t i = 0; wantv[i] || argv[i]; i++) {
		ck_assert_msg(wantv[i] && argv[i], "argv[%zu]", i);
		ck_assert_str_eq(argv[i], wantv[i]);
	}
	es_argv_free(argv);
	es_plan_free(&p1);
	char id[32];
	es_job_id_str(1235, 1234, 7, id, sizeof id);
	ck_assert_str_eq(id, "1234_7");
	es_job_id_str(1235, 0, 0xfffffffeu, id, sizeof id);
	ck_assert_str_eq(id, "1235");
	buf_free(&cfg);
	buf_free(&errs);
	sp_teardown();
}
END_TEST

/* ---------------------------------------------------------------- multi-node request */

/* Parses an sbatch command line (words separated by |) with ENV. */
static void sp_req(const char *cmd, char **env, struct es_request *r)
{
	char buf[2048], *argv[64];
	int argc = 0;
	snprintf(buf, sizeof buf, "%s", cmd);
	for (char *p = buf, *bar; p && argc < 63; p = bar ? bar + 1 : NULL) {
		bar = strchr(p, '|');
		if (bar)
			*bar = '\0';
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	es_request_parse(argc, argv, env, r);
}

START_TEST(test_request)
{
	sp_setup();
	char *noenv[] = {NULL};
	struct es_request r;
	char cwd[512];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(sp_dir), 0);
	sp_file("job.sh", "#!/bin/sh\n# a comment\n\n#SBATCH -N 4\n#SBATCH --gres=gpu:a100:8 # eight\n"
			  "#SBATCH --job-name \"a b\"\nsrun hostname\n#SBATCH -N 6\n");
	sp_file("plain.sh", "#!/bin/sh\nexec true\n");
	sp_file("pbs.sh", "#!/bin/sh\n#PBS -l nodes=2\nexec true\n");

	/* The command line, in every spelling. */
	sp_req("sbatch|-N|2|--gres=gpu:4|plain.sh|-N|3", noenv, &r);
	ck_assert_int_eq(r.nodes, 2); /* words after the script are the script's */
	ck_assert_int_eq(r.gpus_per_node, 4);
	ck_assert_str_eq(r.nodes_src, "--nodes=2");
	sp_req("sbatch|-vN2|--gres|gpu:tesla:4,shard:2|--elastic-serve|m.toml|plain.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, 2);
	ck_assert_int_eq(r.gpus_per_node, 4);
	sp_req("sbatch|--nodes=2-2|--gpus-per-node=a100:4|--exclusive=user|--wrap=x", noenv, &r);
	ck_assert_int_eq(r.nodes, 2);
	ck_assert_int_eq(r.gpus_per_node, 4);
	sp_req("sbatch|--gres=gpu|plain.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, 1); /* the default */
	ck_assert_int_eq(r.gpus_per_node, 1);
	sp_req("sbatch|-p|low|plain.sh", noenv, &r);
	ck_assert_int_eq(r.gpus_per_node, 0);

	/* The script's #SBATCH lines, up to the first command; then the
	 * environment; the command line wins. */
	sp_req("sbatch|job.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, 4);
	ck_assert_int_eq(r.gpus_per_node, 8);
	ck_assert_str_eq(r.nodes_src, "line 4 of the script: --nodes=4");
	char *env1[] = {"SBATCH_GRES=gpu:2", NULL};
	sp_req("sbatch|job.sh", env1, &r);
	ck_assert_int_eq(r.gpus_per_node, 2);
	ck_assert_str_eq(r.gpus_src, "SBATCH_GRES=gpu:2");
	sp_req("sbatch|--gres=gpu:1|-N|8|job.sh", env1, &r);
	ck_assert_int_eq(r.nodes, 8);
	ck_assert_int_eq(r.gpus_per_node, 1);

	/* Unknowable here: left to the batch step. */
	sp_req("sbatch|-N|2-4|--gres=gpu:4|plain.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, -1);
	ck_assert_msg(strstr(r.nodes_why, "not one number"), "%s", r.nodes_why);
	ck_assert_int_eq(r.gpus_per_node, 4);
	sp_req("sbatch|-n|16|--gres=gpu:4|plain.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, -1);
	sp_req("sbatch|-N|2|-G|8|plain.sh", noenv, &r);
	ck_assert_int_eq(r.gpus_per_node, -1);
	sp_req("sbatch|-N|2|--exclusive|plain.sh", noenv, &r);
	ck_assert_int_eq(r.gpus_per_node, -1);
	char *env2[] = {"SBATCH_EXCLUSIVE=exclusive", NULL};
	sp_req("sbatch|-N|2|--gres=gpu:4|plain.sh", env2, &r);
	ck_assert_int_eq(r.gpus_per_node, -1);
	sp_req("sbatch|-N|2|--gres=gpu:4|--gpus-per-node=4|plain.sh", noenv, &r);
	ck_assert_int_eq(r.gpus_per_node, -1);
	sp_req("sbatch|--container-image|x|-N|2|plain.sh", noenv, &r); /* another plugin's */
	ck_assert_int_eq(r.nodes, -1);
	ck_assert_msg(strstr(r.nodes_why, "--container-image"), "%s", r.nodes_why);
	sp_req("sbatch|--container-image=x|-N|2|--gres=gpu:4|plain.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, 2); /* with its value attached it is harmless */
	sp_req("sbatch|--gres=gpu:4", noenv, &r); /* the script on stdin */
	ck_assert_int_eq(r.nodes, -1);
	ck_assert_int_eq(r.gpus_per_node, 4);
	sp_req("sbatch|-N|2|--gres=gpu:4|pbs.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, -1);
	sp_req("sbatch|missing.sh", noenv, &r);
	ck_assert_int_eq(r.nodes, -1);

	/* The rules: K divides the nodes, tp = K x GPUs per node. */
	struct buf errs = BUF_INIT;
	sp_req("sbatch|-N|4|--gres=gpu:8|plain.sh", noenv, &r);
	ck_assert_int_eq(es_request_check(&r, 2, 16, "m.toml", &errs), 0);
	ck_assert_int_eq(es_request_check(&r, 1, 2, "m.toml", &errs), 0);
	sp_req("sbatch|-N|3|--gres=gpu:8|plain.sh", noenv, &r);
	ck_assert_int_eq(es_request_check(&r, 2, 16, "m.toml", &errs), -1);
	ck_assert_msg(strstr(errs.data, "m.toml: parallel.nodes_per_worker = 2: the job's nodes must be a multiple of 2, and it asks for 3 (--nodes=3): submit it with --nodes=2\n"),
		      "%s", errs.data);
	buf_reset(&errs);
	sp_req("sbatch|-N|4|--gres=gpu:4|plain.sh", noenv, &r);
	ck_assert_int_eq(es_request_check(&r, 2, 16, "m.toml", &errs), -1);
	ck_assert_msg(strstr(errs.data, "uses 8 GPU(s) on each node, and the job asks for 4 per node (--gres=gpu:4): submit it with --gres=gpu:8, or set parallel.tp = 8"),
		      "%s", errs.data);
	buf_reset(&errs);
	sp_req("sbatch|-N|1|plain.sh", noenv, &r);
	ck_assert_int_eq(es_request_check(&r, 2, 16, "m.toml", &errs), -1);
	ck_assert_msg(strstr(errs.data, "multiple of 2"), "%s", errs.data);
	ck_assert_msg(strstr(errs.data, "asks for none (no --gres or --gpus-per-node): submit it with --gres=gpu:8"), "%s", errs.data);
	buf_reset(&errs);
	sp_req("sbatch|-N|2-4|--exclusive|plain.sh", noenv, &r);
	ck_assert_int_eq(es_request_check(&r, 2, 16, "m.toml", &errs), 0); /* the batch step's */
	buf_free(&errs);
	ck_assert_int_eq(chdir(cwd), 0);
	sp_teardown();
}
END_TEST

/* The option callback checks the request of a multi-node model. */
START_TEST(test_submit_multinode)
{
	sp_setup();
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 0, NULL), 0);
	char *mn = sp_file("mn.toml", "[model]\npath = \"x\"\n[parallel]\ntp = 16\nnodes_per_worker = 2\n");
	char *job = sp_file("job.sh", "#!/bin/sh\n#SBATCH --gres=gpu:8\nexec true\n");
	char cmd[1024];
	int n = snprintf(cmd, sizeof cmd, "sbatch%c-N%c3%c--elastic-serve=%s%c%s%c", 0, 0, 0, mn, 0, job, 0);
	char *cl = sp_file("cmdline", "");
	FILE *fp = fopen(cl, "w");
	fwrite(cmd, 1, (size_t)n, fp);
	fclose(fp);
	es_plugin_set_cmdline(cl);
	ck_assert_int_eq(es_option_cb(0, mn, 0), -1);
	char want[600];
	snprintf(want, sizeof want, "error: elastic_serve: %s: parallel.nodes_per_worker = 2: the job's nodes must be a multiple of 2, and it asks for 3 (--nodes=3)", mn);
	sp_log_has(want);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_null(fake_spank.ctl); /* nothing carried: no job */

	fake_spank_reset();
	n = snprintf(cmd, sizeof cmd, "sbatch%c-N%c4%c--elastic-serve=%s%c%s%c", 0, 0, 0, mn, 0, job, 0);
	fp = fopen(cl, "w");
	fwrite(cmd, 1, (size_t)n, fp);
	fclose(fp);
	ck_assert_int_eq(es_option_cb(0, mn, 0), 0);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_nonnull(fake_env_get(fake_spank.ctl, ES_CARRY_CONFIG));
	es_plugin_set_cmdline(NULL);
	sp_teardown();
}
END_TEST

static const char sp_mn[] = "[model]\npath = \"sim/big\"\nname = \"big\"\n[engine]\nkind = \"sim\"\n"
			    "[parallel]\ntp = 8\nnodes_per_worker = 2\n[slurm]\ngpus_per_node = 4\nnodes = 2\n";

START_TEST(test_plan_multinode)
{
	sp_setup();
	struct es_opts o;
	char err[512], a0[64], a1[128], *av[] = {a0, a1};
	int base = sp_base();
	snprintf(a0, sizeof a0, "port_base=%d", base);
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	ck_assert_int_eq(es_opts_parse(&o, 2, av, err, sizeof err), 0);
	struct model_config *m;
	struct buf cfg = BUF_INIT, errs = BUF_INIT;
	ck_assert_int_eq(model_parse(sp_mn, strlen(sp_mn), "m", &m, &errs), 0);
	model_dump(m, &cfg);
	model_free(m);
	struct es_plan p, q;

	/* The batch step: the hub, after the checks the submit side could not make. */
	struct es_plan_in hub = {.config = cfg.data, .cuda = "0,1,2,3", .job_gpus = "0,1,2,3",
				 .host = "n1", .nnodes = 4};
	ck_assert_msg(es_plan_make(&hub, &o, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(p.kind, ES_PLAN_HUB);
	ck_assert_uint_eq(p.nslices, 0);
	ck_assert_str_eq(p.urls.data, "");
	struct es_agent_args aa = {.agent = "/a/elastic-agent", .config_env = "CFG", .auth = "munge",
				   .job_id = "9", .node = "n1", .log_dir = "/l", .status = "/l/s"};
	char **argv = es_agent_argv(&p, &aa);
	bool hub_flag = false;
	for (char **a = argv; *a; a++) {
		ck_assert_str_ne(*a, "--slice");
		hub_flag |= !strcmp(*a, "--hub");
	}
	ck_assert(hub_flag);
	es_argv_free(argv);
	es_plan_free(&p);
	hub.nnodes = 3;
	ck_assert_int_eq(es_plan_make(&hub, &o, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "the job has 3 node(s), but parallel.nodes_per_worker = 2 needs a multiple of 2: submit it with --nodes=2"), "%s", err);
	hub.nnodes = 2;
	hub.cuda = "0,1,2,3,4,5,6,7";
	ck_assert_int_eq(es_plan_make(&hub, &o, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "this node has 8 GPU(s) for the job (CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7), but parallel.tp = 8 over nodes_per_worker = 2 needs 4 on each node"), "%s", err);
	hub.cuda = "";
	ck_assert_int_eq(es_plan_make(&hub, &o, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "no GPUs"), "%s", err);

	/* The node agents' step: one rank on every GPU of the node, its port
	 * and a rendezvous port, both reserved host-wide. */
	struct es_plan_in rk = {.config = cfg.data, .cuda = "0,1,2,3", .job_gpus = "4,5,6,7",
				.host = "n2", .ranks_step = 1};
	ck_assert_msg(es_plan_make(&rk, &o, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(p.kind, ES_PLAN_RANK);
	ck_assert_uint_eq(p.nslices, 1);
	ck_assert_str_eq(p.gpus.slices[0].csv, "0,1,2,3");
	ck_assert_int_eq(p.ports[0].port, base + 4);
	ck_assert_int_eq(p.master.port, base + ES_MASTER_OFFSET + 4);
	/* Another node of this host with the same GPU ids: one span up. */
	ck_assert_msg(es_plan_make(&rk, &o, &q, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(q.ports[0].port, base + ES_PORT_SPAN + 4);
	ck_assert_int_eq(q.master.port, base + ES_MASTER_OFFSET + ES_PORT_SPAN + 4);
	es_plan_free(&q);
	es_plan_free(&p);
	/* Released with the plan. */
	ck_assert_int_eq(es_plan_make(&rk, &o, &p, err, sizeof err), 0);
	ck_assert_int_eq(p.master.port, base + ES_MASTER_OFFSET + 4);
	es_plan_free(&p);
	rk.cuda = "0,1";
	ck_assert_int_eq(es_plan_make(&rk, &o, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "this node has 2 GPU(s)"), "%s", err);
	/* A one-node model has no node agents' step. */
	struct buf one = BUF_INIT;
	ck_assert_int_eq(model_parse(sp_good, strlen(sp_good), "m", &m, &errs), 0);
	model_dump(m, &one);
	model_free(m);
	struct es_plan_in bad = {.config = one.data, .cuda = "0,1", .host = "n2", .ranks_step = 1};
	ck_assert_int_eq(es_plan_make(&bad, &o, &p, err, sizeof err), -1);
	buf_free(&one);
	buf_free(&cfg);
	buf_free(&errs);
	sp_teardown();
}
END_TEST

/* ---------------------------------------------------------------- end reason */

/* Lines as `scontrol show job -o` printed them on the local cluster in the
 * exit callback (Slurm 22.05; fields cut for length). */
#define SC_HEAD "JobId=7 JobName=job.sh UserId=estest(1001) GroupId=estest(1001) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) "
static const char sc_preempted[] = SC_HEAD "JobState=COMPLETING Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=00:05:00 TimeMin=N/A PreemptEligibleTime=2026-11-25T14:41:21 PreemptTime=None\n";
static const char sc_cancelled[] = SC_HEAD "JobState=COMPLETING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:17 TimeLimit=00:05:00 TimeMin=N/A PreemptTime=None\n";
static const char sc_timeout[] = SC_HEAD "JobState=COMPLETING Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:01:06 TimeLimit=00:01:00 TimeMin=N/A PreemptTime=None\n";
static const char sc_running[] = SC_HEAD "JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=365-00:00:00 TimeMin=N/A PreemptTime=None\n";

START_TEST(test_reason)
{
	ck_assert_int_eq(es_slurm_duration("00:01:06"), 66);
	ck_assert_int_eq(es_slurm_duration("365-00:00:00"), 365 * 86400);
	ck_assert_int_eq(es_slurm_duration("1-12"), 86400 + 12 * 3600);
	ck_assert_int_eq(es_slurm_duration("05:30"), 330);
	ck_assert_int_eq(es_slurm_duration("UNLIMITED"), -1);
	ck_assert_int_eq(es_slurm_duration(""), -1);

	struct es_jobinfo i;
	int term = SIGTERM, kill9 = SIGKILL; /* wait statuses of signalled scripts */
	int by143 = 143 << 8, ok = 0, failed = 2 << 8;
	ck_assert_int_eq(es_jobinfo_parse(sc_preempted, &i), 0);
	ck_assert_int_eq(i.restarts, 1);
	ck_assert_str_eq(es_reason_decide(&i, term, 0), "preempted");
	ck_assert_str_eq(es_reason_decide(&i, by143, 0), "preempted");
	ck_assert_str_eq(es_reason_decide(&i, term, 1), "cancelled"); /* restarted before */
	ck_assert_int_eq(es_jobinfo_parse(sc_cancelled, &i), 0);
	ck_assert_str_eq(es_reason_decide(&i, term, 0), "cancelled");
	ck_assert_str_eq(es_reason_decide(&i, kill9, 0), "cancelled");
	ck_assert_int_eq(es_jobinfo_parse(sc_timeout, &i), 0);
	ck_assert_int_eq(i.run_s, 66);
	ck_assert_int_eq(i.limit_s, 60);
	ck_assert_str_eq(es_reason_decide(&i, term, 0), "timeout");
	ck_assert_int_eq(es_jobinfo_parse(sc_running, &i), 0);
	ck_assert_str_eq(es_reason_decide(&i, ok, 0), "completed");
	ck_assert_str_eq(es_reason_decide(&i, failed, 0), "failed");
	/* scontrol gone: a signal cannot be told apart. */
	struct es_jobinfo none;
	memset(&none, 0, sizeof none);
	ck_assert_str_eq(es_reason_decide(&none, term, 0), "unknown");
	ck_assert_str_eq(es_reason_decide(&none, ok, 0), "completed");
	ck_assert_str_eq(es_reason_decide(&none, failed, 0), "failed");
	ck_assert_str_eq(es_reason_decide(&none, -1, 0), "unknown");
	ck_assert_str_eq(es_reason_decide(NULL, by143, 0), "unknown");
	ck_assert_int_eq(es_jobinfo_parse("slurm_load_jobs error: Invalid job id", &i), -1);
	struct es_jobinfo st;
	ck_assert_int_eq(es_jobinfo_parse("JobId=1 JobState=CANCELLED Reason=None", &st), 0);
	ck_assert_str_eq(es_reason_decide(&st, 0, 0), "cancelled");
	ck_assert_int_eq(es_jobinfo_parse("JobId=1 JobState=PREEMPTED", &st), 0);
	ck_assert_str_eq(es_reason_decide(&st, term, 0), "preempted");
	ck_assert_int_eq(es_jobinfo_parse("JobId=1 JobState=COMPLETING PreemptTime=2026-11-25T14:41:21", &st), 0);
	ck_assert_str_eq(es_reason_decide(&st, term, 0), "preempted");
	int code, sig;
	es_status_split(term, &code, &sig);
	ck_assert(code == 143 && sig == 15);
	es_status_split(by143, &code, &sig);
	ck_assert(code == 143 && sig == 15);
	es_status_split(failed, &code, &sig);
	ck_assert(code == 2 && sig == 0);
	es_status_split(-1, &code, &sig);
	ck_assert(code == -1 && sig == 0);
}
END_TEST

/* ---------------------------------------------------------------- processes */

START_TEST(test_exec_capture)
{
	struct buf out = BUF_INIT;
	char err[256];
	char *echo[] = {"/bin/echo", "JobId=1", "JobState=RUNNING", NULL};
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	ck_assert_int_eq(es_exec_capture(echo, env, 2000, &out, err, sizeof err), 0);
	ck_assert_str_eq(out.data, "JobId=1 JobState=RUNNING\n");
	buf_reset(&out);
	char *sleep[] = {"/bin/sleep", "10", NULL};
	long long t0 = es_now_ms();
	ck_assert_int_eq(es_exec_capture(sleep, env, 300, &out, err, sizeof err), -1);
	long long dt = es_now_ms() - t0;
	ck_assert_msg(dt >= 290 && dt < 1000, "took %lld ms", dt);
	ck_assert_ptr_nonnull(strstr(err, "did not finish within 300 ms"));
	char *none[] = {"/nonexistent/scontrol", NULL};
	ck_assert_int_eq(es_exec_capture(none, env, 1000, &out, err, sizeof err) != 0, 1);
	char path[256];
	ck_assert_int_eq(es_find_program("sleep", "/nonexistent:/bin:/usr/bin", path, sizeof path), 0);
	ck_assert_int_eq(es_find_program("no-such-program-x", "/bin", path, sizeof path), -1);
	buf_free(&out);
}
END_TEST

START_TEST(test_reap)
{
	/* A child and a grandchild in a session of its own (re-parented
	 * escapees), both with the token, and a bystander without it. */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t a = fork();
	if (a == 0) {
		setenv(ES_RUN_VAR, "feedc0de", 1);
		pid_t g = fork();
		if (g == 0) {
			setsid();
			ssize_t w = write(p[1], "g", 1);
			(void)w;
			execl("/bin/sleep", "sleep", "30", (char *)NULL);
			_exit(1);
		}
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(1);
	}
	pid_t b = fork();
	if (b == 0) {
		setenv(ES_RUN_VAR, "otherrun", 1);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(1);
	}
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	usleep(200000); /* let the execs happen: environ is read from /proc */
	ck_assert_int_eq(es_reap("/proc", getuid(), "feedc0de", 3), 2);
	int st;
	ck_assert_int_eq(waitpid(a, &st, 0), a);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(kill(b, 0), 0); /* untouched */
	ck_assert_int_eq(es_reap("/proc", getuid(), "feedc0de", 3), 0);
	ck_assert_int_eq(es_reap("/proc", getuid(), "", 3), 0);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
}
END_TEST

/* ---------------------------------------------------------------- the notice */

/* A registry in a child process: checks the credential with lib/auth,
 * writes each request to a file, answers (or, with MODE "silent", never). */
static pid_t sp_reg_pid;
static int sp_reg_port;
static char sp_reg_out[256];
static char sp_token[256];

struct sp_reg {
	struct auth_server auth;
	const char *out;
};

static void sp_reg_handler(struct httpd_req *req, void *arg)
{
	struct sp_reg *r = arg;
	size_t len;
	const char *body = httpd_req_body(req, &len);
	const char *authz = httpd_req_header(req, "Authorization");
	struct auth_who who;
	char err[256] = "";
	enum auth_result ar = auth_check(&r->auth, authz, httpd_req_method(req),
					 httpd_req_path(req), body, len, time(NULL), &who, err,
					 sizeof err);
	FILE *fp = fopen(r->out, "a");
	fprintf(fp, "%s %s auth=%s %s\n", httpd_req_method(req), httpd_req_path(req),
		ar == AUTH_OK ? "ok" : err, body);
	fclose(fp);
	if (ar != AUTH_OK) {
		httpd_reply(req, 401, "application/json", "{\"error\":{\"message\":\"bad credential\"}}", 38);
		return;
	}
	httpd_reply(req, 200, "application/json", "{\"removed\":0,\"reason\":\"cancelled\"}", 34);
}

static void sp_silent_handler(struct httpd_req *req, void *arg)
{
	(void)req;
	(void)arg; /* never answers */
}

static void sp_reg_start(const char *mode)
{
	snprintf(sp_reg_out, sizeof sp_reg_out, "%s/requests", sp_dir);
	snprintf(sp_token, sizeof sp_token, "%s/token", sp_dir);
	int fd = open(sp_token, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cret-s3cret-s3cret", 20), 20);
	close(fd);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	sp_reg_pid = fork();
	if (sp_reg_pid == 0) {
		struct event_base *base = event_base_new();
		static struct sp_reg r;
		char err[256];
		r.out = sp_reg_out;
		if (auth_server_init(&r.auth, AUTH_TOKEN, sp_token, 0, err, sizeof err) < 0)
			_exit(3);
		struct httpd *h = httpd_new(base, NULL,
					    strcmp(mode, "silent") ? sp_reg_handler : sp_silent_handler, &r);
		if (httpd_listen(h, "127.0.0.1", 0, err, sizeof err) < 0)
			_exit(2);
		int port = httpd_port(h);
		ssize_t w = write(p[1], &port, sizeof port);
		(void)w;
		event_base_dispatch(base);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &sp_reg_port, sizeof sp_reg_port), (ssize_t)sizeof sp_reg_port);
	close(p[0]);
}

static void sp_reg_stop(void)
{
	kill(sp_reg_pid, SIGKILL);
	waitpid(sp_reg_pid, NULL, 0);
}

static char *sp_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return strdup("");
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
		buf_append(&b, tmp, n);
	fclose(fp);
	return buf_steal(&b);
}

START_TEST(test_notify)
{
	sp_setup();
	sp_reg_start("answer");
	char url[64], auth[400], err[300];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", sp_reg_port);
	snprintf(auth, sizeof auth, "token:%s", sp_token);
	struct es_notice n = {.registry = url, .auth = auth, .job_id = "12_3", .node = "n\"1",
			      .reason = "preempted", .exit_code = 143, .sig = 15};
	struct buf body = BUF_INIT;
	es_notice_body(&n, &body);
	ck_assert_str_eq(body.data, "{\"job_id\": \"12_3\", \"node\": \"n\\\"1\", \"reason\": \"preempted\", \"exit_status\": 143, \"signal\": 15}");
	ck_assert_int_eq(es_notify_send(&n, 2000, err, sizeof err), 200);
	char *log = sp_read(sp_reg_out);
	ck_assert_msg(strstr(log, "POST /api/v1/jobs/ended auth=ok {\"job_id\": \"12_3\""), "%s", log);
	free(log);
	/* A forged credential is refused, and said so. */
	char wrong[300];
	snprintf(wrong, sizeof wrong, "%s/wrong", sp_dir);
	int fd = open(wrong, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "another-secret-x", 16), 16);
	close(fd);
	snprintf(auth, sizeof auth, "token:%s", wrong);
	ck_assert_int_eq(es_notify_send(&n, 2000, err, sizeof err), 401);
	ck_assert_msg(strstr(err, "registry answered 401"), "%s", err);
	sp_reg_stop();
	buf_free(&body);

	/* Nobody listening: a quick, clear failure. */
	n.auth = "none";
	long long t0 = es_now_ms();
	ck_assert_int_eq(es_notify_send(&n, 2000, err, sizeof err), -1);
	ck_assert_msg(es_now_ms() - t0 < 1000, "took %lld ms", es_now_ms() - t0);
	ck_assert_msg(strstr(err, "refused"), "%s", err);

	/* A registry that never answers: the bound holds. */
	sp_reg_start("silent");
	snprintf(url, sizeof url, "http://127.0.0.1:%d", sp_reg_port);
	t0 = es_now_ms();
	ck_assert_int_eq(es_notify_send(&n, 400, err, sizeof err), -1);
	long long dt = es_now_ms() - t0;
	ck_assert_msg(dt >= 350 && dt < 600, "took %lld ms", dt);
	sp_reg_stop();
	sp_teardown();
}
END_TEST

/* ---------------------------------------------------------------- the whole step */

static void sp_remote_env(int base)
{
	(void)base;
	struct model_config *m;
	struct buf errs = BUF_INIT, cfg = BUF_INIT;
	ck_assert_int_eq(model_parse(sp_good, strlen(sp_good), "m", &m, &errs), 0);
	model_dump(m, &cfg);
	model_free(m);
	buf_free(&errs);
	fake_spank.ctx = ES_CTX_REMOTE;
	fake_spank.job = 77;
	fake_env_set(&fake_spank.env, "SLURM_SPANK_" ES_CARRY_CONFIG, cfg.data);
	fake_env_set(&fake_spank.env, "SLURM_SPANK_" ES_CARRY_REGISTRY, "http://127.0.0.1:1");
	fake_env_set(&fake_spank.env, "CUDA_VISIBLE_DEVICES", "4,5,6,7");
	fake_env_set(&fake_spank.env, "SLURM_JOB_GPUS", "4,5,6,7");
	fake_env_set(&fake_spank.env, "SLURMD_NODENAME", "n7");
	fake_env_set(&fake_spank.env, "SLURM_SUBMIT_DIR", sp_dir);
	fake_env_set(&fake_spank.env, "HOME", "/nonexistent-home");
	buf_free(&cfg);
}

START_TEST(test_batch_step)
{
	sp_setup();
	int base = sp_base();
	char a0[64], a1[128], a2[600], out[256];
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n] = '\0';
	snprintf(a0, sizeof a0, "port_base=%d", base);
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	snprintf(a2, sizeof a2, "agent=%s", self); /* the runner plays the agent */
	char *av[] = {a0, a1, a2, "notify_timeout=500"};
	fake_spank.ctx = ES_CTX_REMOTE;
	unsetenv("SLURMD_NODENAME");
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env(base);
	snprintf(out, sizeof out, "%s/agent.out", sp_dir);
	fake_env_set(&fake_spank.env, "ES_FAKE_AGENT_OUT", out);

	/* Another step of the job (srun): nothing happens. */
	fake_spank.step = 0;
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_agent_pid(), 0);
	fake_spank.step = ES_BATCH_STEP;

	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	int pid = es_plugin_agent_pid();
	ck_assert_int_gt(pid, 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* What the job script sees. */
	char host[256];
	gethostname(host, sizeof host);
	char want[1200];
	snprintf(want, sizeof want, "http://%s:%d,http://%s:%d", host, base + 4, host, base + 6);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_URLS"), want);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_REGISTRY_URL"), "http://127.0.0.1:1");
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_MODEL"), "tiny");
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_AGENT"), self);
	char logdir[300], status[700], pid_s[32];
	snprintf(logdir, sizeof logdir, "%s/elastic-serve-77", sp_dir);
	snprintf(status, sizeof status, "%s/n7.status", logdir);
	snprintf(pid_s, sizeof pid_s, "%d", pid);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_LOG_DIR"), logdir);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_STATUS"), status);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_AGENT_PID"), pid_s);
	struct stat sb;
	ck_assert_int_eq(stat(logdir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0750);

	/* What the agent was given. */
	char *got = sp_read(out);
	char line[512];
	snprintf(line, sizeof line, "argv --slice\nargv 4,5@%d\nargv --slice\nargv 6,7@%d\n", base + 4,
		 base + 6);
	ck_assert_msg(strstr(got, line), "%s", got);
	ck_assert_ptr_nonnull(strstr(got, "argv --config-env\nargv SLURM_SPANK_ELASTIC_SERVE_CONFIG\n"));
	ck_assert_ptr_nonnull(strstr(got, "argv --job-id\nargv 77\nargv --node\nargv n7\n"));
	ck_assert_ptr_nonnull(strstr(got, "argv --registry\nargv http://127.0.0.1:1\nargv --auth\nargv munge\n"));
	ck_assert_ptr_nonnull(strstr(got, "env SLURM_SPANK_ELASTIC_SERVE_CONFIG=[model]"));
	ck_assert_ptr_nonnull(strstr(got, "env ELASTIC_SERVE_URLS="));
	const char *run = strstr(got, "env " ES_RUN_VAR "=");
	ck_assert_ptr_nonnull(run);
	ck_assert_int_eq(strcspn(run + strlen("env " ES_RUN_VAR "="), "\n"), 32);
	snprintf(line, sizeof line, "uid %d euid %d pgid %d pid %d", (int)getuid(), (int)geteuid(), pid, pid);
	ck_assert_msg(strstr(got, line), "%s", got); /* its own process group */
	free(got);

	/* The end: status, leftovers, reason, notice (nobody at port 1). */
	fake_spank.exit_status = 143 << 8;
	ck_assert_int_eq(es_plugin_task_exit(FAKE_SP, 0, NULL), 0);
	long long t0 = es_now_ms();
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	ck_assert_msg(es_now_ms() - t0 < 600, "exit took %lld ms", es_now_ms() - t0);
	sp_log_has("info: elastic_serve: job 77 on n7 ended: unknown (exit 143, signal 15); 0 leftover process(es) killed; registry not told:");
	/* The ports are free for the next job. */
	struct es_port_lock l;
	char err[256];
	ck_assert_int_eq(es_port_pick(a1 + strlen("run_dir="), base, 4, 0, &l, err, sizeof err), 0);
	ck_assert_int_eq(l.port, base + 4);
	es_port_release(&l);
	sp_teardown();
}
END_TEST

/* Sets up a multi-node model's remote side (2 nodes of a gpu:4 job). */
static void sp_remote_env_mn(void)
{
	struct model_config *m;
	struct buf errs = BUF_INIT, cfg = BUF_INIT;
	ck_assert_int_eq(model_parse(sp_mn, strlen(sp_mn), "m", &m, &errs), 0);
	model_dump(m, &cfg);
	model_free(m);
	buf_free(&errs);
	fake_spank.ctx = ES_CTX_REMOTE;
	fake_spank.job = 78;
	fake_env_set(&fake_spank.env, "SLURM_SPANK_" ES_CARRY_CONFIG, cfg.data);
	fake_env_set(&fake_spank.env, "SLURM_SPANK_" ES_CARRY_REGISTRY, "http://127.0.0.1:1");
	fake_env_set(&fake_spank.env, "CUDA_VISIBLE_DEVICES", "4,5,6,7");
	fake_env_set(&fake_spank.env, "SLURM_JOB_GPUS", "0,1,2,3"); /* the batch node's */
	fake_env_set(&fake_spank.env, "SLURM_STEP_GPUS", "4,5,6,7");
	fake_env_set(&fake_spank.env, "SLURM_JOB_NUM_NODES", "2");
	fake_env_set(&fake_spank.env, "SLURMD_NODENAME", "n8");
	fake_env_set(&fake_spank.env, "SLURM_SUBMIT_DIR", sp_dir);
	buf_free(&cfg);
}

START_TEST(test_steps_multinode)
{
	sp_setup();
	int base = sp_base();
	char a0[64], a1[128], a2[600], out[256], self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n] = '\0';
	snprintf(a0, sizeof a0, "port_base=%d", base);
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	snprintf(a2, sizeof a2, "agent=%s", self);
	char *av[] = {a0, a1, a2, "notify_timeout=300"};
	unsetenv("SLURMD_NODENAME");

	/* The batch step starts the agent as the hub: no slice, no port. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env_mn();
	snprintf(out, sizeof out, "%s/agent.out", sp_dir);
	fake_env_set(&fake_spank.env, "ES_FAKE_AGENT_OUT", out);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	int pid = es_plugin_agent_pid(), st;
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	char *got = sp_read(out);
	ck_assert_msg(strstr(got, "argv --hub\n") && !strstr(got, "argv --slice"), "%s", got);
	free(got);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_URLS"), "");
	ck_assert_int_eq(es_plugin_task_exit(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	sp_log_has("job 78 on n8 ended:");
	es_plugin_reset();
	fake_spank_reset();

	/* A node count that K does not divide, seen only now: the task fails
	 * before anything starts. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env_mn();
	fake_env_set(&fake_spank.env, "SLURM_JOB_NUM_NODES", "3");
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), -1);
	sp_log_has("error: elastic_serve: the job has 3 node(s), but parallel.nodes_per_worker = 2 needs a multiple of 2");
	ck_assert_int_eq(es_plugin_agent_pid(), 0);
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	es_plugin_reset();
	fake_spank_reset();

	/* A user's own srun in the job: left alone. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env_mn();
	fake_spank.step = 0;
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_null(fake_env_get(fake_spank.env, "ELASTIC_SERVE_SLICE"));
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_null(fake_spank.log.data);
	es_plugin_reset();
	fake_spank_reset();

	/* The node agents' step: this node's slice (SLURM_STEP_GPUS for the
	 * port, not the batch node's SLURM_JOB_GPUS) and rendezvous port, a
	 * run token of its own; nothing started; no notice at its end. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env_mn();
	fake_spank.step = 0;
	fake_env_set(&fake_spank.env, "ELASTIC_SERVE_RANKS", "1");
	fake_env_set(&fake_spank.env, ES_RUN_VAR, "batchtoken");
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	/* The ports are held while the step runs. */
	struct es_port_lock l;
	char err[256], want[64];
	ck_assert_int_eq(es_port_pick(a1 + strlen("run_dir="), base, 4, 0, &l, err, sizeof err), 0);
	ck_assert_int_eq(l.port, base + ES_PORT_SPAN + 4);
	es_port_release(&l);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_agent_pid(), 0);
	snprintf(want, sizeof want, "4,5,6,7@%d", base + 4);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_SLICE"), want);
	snprintf(want, sizeof want, "%d", base + ES_MASTER_OFFSET + 4);
	ck_assert_str_eq(fake_env_get(fake_spank.env, "ELASTIC_SERVE_MASTER_PORT"), want);
	const char *tok = fake_env_get(fake_spank.env, ES_RUN_VAR);
	ck_assert(tok && strlen(tok) == 32 && strcmp(tok, "batchtoken") != 0);
	ck_assert_int_eq(es_plugin_task_exit(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	const char *log = fake_spank.log.data ? fake_spank.log.data : "";
	ck_assert_msg(!strstr(log, "ended"), "%s", log);
	ck_assert_int_eq(es_port_pick(a1 + strlen("run_dir="), base, 4, 0, &l, err, sizeof err), 0);
	ck_assert_int_eq(l.port, base + 4); /* released */
	es_port_release(&l);
	es_plugin_reset();
	fake_spank_reset();

	/* That step on a node with the wrong number of GPUs: its task fails. */
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av), 0);
	sp_remote_env_mn();
	fake_spank.step = 0;
	fake_env_set(&fake_spank.env, "ELASTIC_SERVE_RANKS", "1");
	fake_env_set(&fake_spank.env, "CUDA_VISIBLE_DEVICES", "4,5");
	fake_env_set(&fake_spank.env, "SLURM_STEP_GPUS", "4,5");
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), -1);
	sp_log_has("error: elastic_serve: this node has 2 GPU(s) for the job");
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	sp_teardown();
}
END_TEST

START_TEST(test_batch_step_errors)
{
	/* Not an elastic-serve job: nothing at all. */
	sp_setup();
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	ck_assert_ptr_null(fake_spank.log.data);
	sp_teardown();

	/* No GPUs: the task fails with the reason; the exit reports "failed". */
	sp_setup();
	int base = sp_base();
	char a0[64], a1[128];
	snprintf(a0, sizeof a0, "port_base=%d", base);
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	char *av[] = {a0, a1, "notify_timeout=300"};
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 3, av), 0);
	sp_remote_env(base);
	fake_env_set(&fake_spank.env, "CUDA_VISIBLE_DEVICES", "");
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), -1);
	sp_log_has("error: elastic_serve: the job has no GPUs");
	ck_assert_int_eq(es_plugin_exit(FAKE_SP, 0, NULL), 0);
	sp_log_has("job 77 on n7 ended: failed");
	sp_teardown();

	/* The task runs as another user than the job's: refused. */
	sp_setup();
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 3, av), 0);
	sp_remote_env(base);
	fake_spank.uid = getuid() + 1;
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), -1);
	sp_log_has("refusing to start elastic-agent as uid");
	ck_assert_int_eq(es_plugin_agent_pid(), 0);
	es_plugin_exit(FAKE_SP, 0, NULL);
	sp_teardown();

	/* The agent cannot be run. */
	sp_setup();
	snprintf(a1, sizeof a1, "run_dir=%s/run", sp_dir);
	char *av2[] = {a0, a1, "agent=/nonexistent/elastic-agent", "notify_timeout=300"};
	fake_spank.ctx = ES_CTX_REMOTE;
	ck_assert_int_eq(es_plugin_init(FAKE_SP, 4, av2), 0);
	sp_remote_env(base);
	ck_assert_int_eq(es_plugin_init_post_opt(FAKE_SP, 0, NULL), 0);
	ck_assert_int_eq(es_plugin_task_init(FAKE_SP, 0, NULL), -1);
	sp_log_has("cannot run /nonexistent/elastic-agent: No such file or directory");
	es_plugin_exit(FAKE_SP, 0, NULL);
	sp_teardown();
}
END_TEST

Suite *suite_spank(void)
{
	Suite *s = suite_create("spank");
	TCase *tc = tcase_create("spank");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_init_every_context);
	tcase_add_test(tc, test_submit_good);
	tcase_add_test(tc, test_submit_registry_precedence);
	tcase_add_test(tc, test_submit_bad_file);
	tcase_add_test(tc, test_submit_salloc_srun);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_plan);
	tcase_add_test(tc, test_request);
	tcase_add_test(tc, test_submit_multinode);
	tcase_add_test(tc, test_plan_multinode);
	tcase_add_test(tc, test_reason);
	tcase_add_test(tc, test_exec_capture);
	tcase_add_test(tc, test_reap);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_batch_step);
	tcase_add_test(tc, test_batch_step_errors);
	tcase_add_test(tc, test_steps_multinode);
	suite_add_tcase(s, tc);
	return s;
}
