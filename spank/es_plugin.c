/* es_plugin.c — see es_plugin.h. */
#include "es_plugin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "es_exec.h"
#include "es_notify.h"
#include "es_options.h"
#include "es_reap.h"
#include "es_reason.h"
#include "es_remote.h"
#include "es_request.h"
#include "es_submit.h"
#include "spank_api.h"

/* The plugin's state. One instance per process: sbatch, or the
 * slurmstepd of one step (and, by fork, its task). */
static struct {
	struct es_opts opts;      /* plugstack arguments */
	/* submit side */
	struct es_carry carry;    /* what travels with the job */
	bool carry_ok;            /* FILE was checked and is valid */
	/* remote side: the batch step of an elastic-serve job, or the step of
	 * its node agents (workers spanning nodes) */
	bool active;              /* a config was carried to this step */
	bool ranks_step;          /* the node agents' step, not the batch step */
	char plan_err[512];       /* why there is no plan ("" when there is) */
	struct es_plan plan;
	bool have_plan;
	char *config;             /* the carried text */
	char registry[512];       /* carried registry URL */
	uint32_t job;             /* numeric job id */
	char job_id[64];          /* as the registry knows it */
	char node[256];
	uid_t uid;                /* the job's user */
	uint32_t restarts;        /* restart count when the step began */
	char token[33];           /* ELASTIC_SERVE_RUN of this step */
	int status;               /* the script's wait status, -1 unknown */
	int agent_pid;            /* in the task: the agent started */
	/* for the tests */
	const char *proc;
	const char *scontrol;
	const char *cmdline;      /* sbatch's argv (default /proc/self/cmdline) */
} es = {.status = -1, .proc = "/proc"};

void es_plugin_reset(void)
{
	es_carry_free(&es.carry);
	if (es.have_plan)
		es_plan_free(&es.plan);
	free(es.config);
	const char *proc = es.proc, *scontrol = es.scontrol, *cmdline = es.cmdline;
	memset(&es, 0, sizeof es);
	es.status = -1;
	es.proc = proc;
	es.scontrol = scontrol;
	es.cmdline = cmdline;
}

void es_plugin_set_paths(const char *proc, const char *scontrol)
{
	es.proc = proc ? proc : "/proc";
	es.scontrol = scontrol;
}

void es_plugin_set_cmdline(const char *path)
{
	es.cmdline = path;
}

int es_plugin_agent_pid(void)
{
	return es.agent_pid;
}

/* ---------------------------------------------------------------- init */

int es_plugin_init(struct spank_handle *sp, int ac, char **av)
{
	char err[512];
	if (es_opts_parse(&es.opts, ac, av, err, sizeof err) < 0) {
		es_log_error("%s", err);
		return -1;
	}
	enum es_ctx ctx = es_spank_context();
	if (ctx == ES_CTX_LOCAL || ctx == ES_CTX_ALLOCATOR || ctx == ES_CTX_REMOTE) {
		if (es_spank_register_option(sp) < 0) {
			es_log_error("cannot register the option --%s", ES_OPTION_NAME);
			return -1;
		}
	}
	return 0;
}

static bool es_is_salloc(void)
{
	extern char *program_invocation_short_name;
	return program_invocation_short_name &&
	       strcmp(program_invocation_short_name, "salloc") == 0;
}

/* A worker spanning nodes: does sbatch's request (its own argv, the
 * SBATCH_* variables, the script's #SBATCH lines) fit it? Prints the
 * problems and returns -1 when it does not (es_request.h). */
static int es_check_request(const struct es_carry *c)
{
	char *cmd = NULL, **argv = NULL;
	size_t len = 0, cap = 0;
	int argc = 0, rc = 0;
	FILE *fp = fopen(es.cmdline ? es.cmdline : "/proc/self/cmdline", "re");
	if (!fp)
		return 0; /* the batch step checks it then */
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0 && len < (1u << 20)) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *nc = realloc(cmd, cap);
			if (!nc)
				break;
			cmd = nc;
		}
		memcpy(cmd + len, tmp, n);
		len += n;
	}
	fclose(fp);
	if (!cmd)
		return 0;
	cmd[len] = '\0';
	for (size_t i = 0; i < len; i++)
		argc += cmd[i] == '\0';
	argv = calloc((size_t)argc + 1, sizeof *argv);
	if (argv) {
		int k = 0;
		for (size_t i = 0; i < len && k < argc; i += strlen(cmd + i) + 1)
			argv[k++] = cmd + i;
		extern char **environ;
		struct es_request r;
		struct buf errs = BUF_INIT;
		es_request_parse(k, argv, environ, &r);
		if (es_request_check(&r, c->nodes_per_worker, c->tp, c->file, &errs) < 0) {
			for (char *p = errs.data, *nl; p && *p; p = nl ? nl + 1 : "") {
				nl = strchr(p, '\n');
				if (nl)
					*nl = '\0';
				es_log_error("%s", p);
			}
			rc = -1;
		} else if (r.nodes < 0 || r.gpus_per_node < 0) {
			es_log_debug("%s: checked in the batch step: %s", c->file,
				     r.nodes < 0 ? r.nodes_why : r.gpus_why);
		}
		buf_free(&errs);
	}
	free(argv);
	free(cmd);
	return rc;
}

int es_option_cb(int val, const char *optarg, int remote)
{
	(void)val;
	if (remote)
		return 0; /* slurmstepd: the job control environment is what counts */
	enum es_ctx ctx = es_spank_context();
	if (ctx == ES_CTX_LOCAL) {
		/* srun inside a job inherits the option of its sbatch: nothing to do. */
		if (getenv("SLURM_JOB_ID"))
			return 0;
		es_log_error("--%s works with sbatch: engines run in the batch step of a job; use sbatch --%s=FILE job.sh",
			     ES_OPTION_NAME, ES_OPTION_NAME);
		return -1;
	}
	if (ctx != ES_CTX_ALLOCATOR)
		return 0;
	if (es_is_salloc()) {
		es_log_error("--%s works with sbatch, not salloc: engines run in the batch step of a job",
			     ES_OPTION_NAME);
		return -1;
	}
	es_carry_free(&es.carry);
	es.carry_ok = false;
	struct buf errs = BUF_INIT;
	if (es_submit_check(optarg ? optarg : "", es.opts.registry, getenv("ELASTIC_REGISTRY_URL"),
			    &es.carry, &errs) < 0) {
		char *p = errs.data ? errs.data : "";
		while (*p) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			if (*p)
				es_log_error("%s", p);
			if (!nl)
				break;
			p = nl + 1;
		}
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	if (es.carry.nodes_per_worker > 1 && es_check_request(&es.carry) < 0) {
		es_carry_free(&es.carry);
		return -1;
	}
	es.carry_ok = true;
	return 0;
}

static int es_remote_plan(struct spank_handle *sp);

int es_plugin_init_post_opt(struct spank_handle *sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (es_spank_context() == ES_CTX_REMOTE)
		return es_remote_plan(sp);
	if (es_spank_context() != ES_CTX_ALLOCATOR || !es.carry_ok)
		return 0;
	if (es_spank_job_control_setenv(sp, ES_CARRY_CONFIG, es.carry.config.data) < 0 ||
	    es_spank_job_control_setenv(sp, ES_CARRY_REGISTRY, es.carry.registry) < 0 ||
	    es_spank_job_control_setenv(sp, ES_CARRY_FILE, es.carry.file) < 0) {
		es_log_error("%s: cannot attach the configuration to the job", es.carry.file);
		return -1;
	}
	if (!es.carry.registry[0])
		es_log_info("%s: no registry is known (no [registry].url, ELASTIC_REGISTRY_URL or plugstack registry=): the engines serve the job's own ELASTIC_SERVE_URLS only",
			    es.carry.file);
	return 0;
}

/* ---------------------------------------------------------------- remote */

/* Reports a problem in the task (batch or srun): slurm_error() there reaches the
 * job's stderr. */
static void es_task_error(const char *fmt, const char *msg)
{
	es_log_error(fmt, msg);
}

static bool es_batch_step(struct spank_handle *sp)
{
	uint32_t step;
	return es_spank_context() == ES_CTX_REMOTE && es_spank_step_id(sp, &step) == 0 &&
	       step == ES_BATCH_STEP;
}

/* The step this plugin acts in: the batch step, or (after the plan said
 * so) the node agents' step. */
static bool es_our_step(struct spank_handle *sp)
{
	return es.active && (es.ranks_step || es_batch_step(sp));
}

/* The node agents' step: the hub's srun puts ELASTIC_SERVE_RANKS into its
 * environment. A user's own srun in the job script does not have it, and
 * the plugin leaves such steps alone. */
static bool es_ranks_step(struct spank_handle *sp)
{
	uint32_t step;
	char mark[16];
	return es_spank_context() == ES_CTX_REMOTE && es_spank_step_id(sp, &step) == 0 &&
	       step != ES_BATCH_STEP &&
	       es_spank_getenv(sp, "ELASTIC_SERVE_RANKS", mark, sizeof mark) == 0;
}

/* The step's plan. Runs in init_post_opt: the last callback of
 * slurmstepd with full root privileges (user_init runs with the job
 * user's effective uid), which the port reservations need. */
static int es_remote_plan(struct spank_handle *sp)
{
	bool ranks = false;
	if (!es_batch_step(sp) && !(ranks = es_ranks_step(sp)))
		return 0;
	size_t cap = ES_CARRY_MAX + 2;
	es.config = malloc(cap);
	if (!es.config)
		return -1;
	int r = es_spank_getenv(sp, ES_JOB_PREFIX ES_CARRY_CONFIG, es.config, cap);
	if (r == -1) {
		free(es.config);
		es.config = NULL;
		return 0; /* not an elastic-serve job */
	}
	es.active = true;
	es.ranks_step = ranks;
	uint32_t aj = 0, at = 0xfffffffeu;
	es_spank_job_id(sp, &es.job);
	es_spank_array(sp, &aj, &at);
	es_job_id_str(es.job, aj, at, es.job_id, sizeof es.job_id);
	es_spank_uid(sp, &es.uid);
	es_spank_restart_count(sp, &es.restarts);
	if (es_spank_getenv(sp, ES_JOB_PREFIX ES_CARRY_REGISTRY, es.registry, sizeof es.registry) < 0)
		es.registry[0] = '\0';
	char host[256] = "";
	if (gethostname(host, sizeof host) < 0 || !host[0])
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	const char *nn = getenv("SLURMD_NODENAME");
	if (nn && *nn)
		snprintf(es.node, sizeof es.node, "%s", nn);
	else if (es_spank_getenv(sp, "SLURMD_NODENAME", es.node, sizeof es.node) < 0)
		snprintf(es.node, sizeof es.node, "%s", host);
	if (auth_random_hex(es.token, 16) < 0) {
		snprintf(es.plan_err, sizeof es.plan_err, "no randomness for the run token");
		return 0;
	}
	if (r < 0) {
		snprintf(es.plan_err, sizeof es.plan_err,
			 "the configuration carried with the job is too large");
		return 0;
	}
	char cuda[4096] = "", gpus[4096] = "", nnodes[32] = "";
	es_spank_getenv(sp, "CUDA_VISIBLE_DEVICES", cuda, sizeof cuda);
	/* In a step started by srun from the batch script, SLURM_JOB_GPUS is
	 * still the batch node's; SLURM_STEP_GPUS is this node's. */
	const char *first = ranks ? "SLURM_STEP_GPUS" : "SLURM_JOB_GPUS";
	const char *second = ranks ? "SLURM_JOB_GPUS" : "SLURM_STEP_GPUS";
	if (es_spank_getenv(sp, first, gpus, sizeof gpus) < 0 && !ranks)
		es_spank_getenv(sp, second, gpus, sizeof gpus);
	es_spank_getenv(sp, "SLURM_JOB_NUM_NODES", nnodes, sizeof nnodes);
	struct es_plan_in in = {.config = es.config, .cuda = cuda, .job_gpus = gpus, .host = host,
				.ranks_step = ranks, .nnodes = atoi(nnodes)};
	char err[512];
	if (es_plan_make(&in, &es.opts, &es.plan, err, sizeof err) < 0) {
		snprintf(es.plan_err, sizeof es.plan_err, "%s", err);
		es_log_error("job %s: %s", es.job_id, err);
		return 0; /* the task reports it and fails; the node stays in service */
	}
	es.have_plan = true;
	if (es.plan.kind == ES_PLAN_HUB)
		es_log_debug("job %s: %d node(s), workers of %d nodes: the agent starts as the hub",
			     es.job_id, es.plan.nnodes, es.plan.nodes_per_worker);
	else
		es_log_debug("job %s: %zu slice(s) of %d GPU(s): %s", es.job_id, es.plan.nslices,
			     es.plan.tp, es.plan.urls.data);
	return 0;
}

/* task_init of the node agents' step: the task is elastic-agent
 * --node-agent itself (srun's command); it learns its slice and ports
 * from here. Its own run token lets the step's exit reap what is left of
 * it without touching the batch step's processes. */
static int es_ranks_task_init(struct spank_handle *sp)
{
	if (!es.have_plan) {
		es_task_error("%s", es.plan_err[0] ? es.plan_err : "no plan for this node");
		return -1;
	}
	char slice[4200], mport[16];
	snprintf(slice, sizeof slice, "%s@%d", es.plan.gpus.slices[0].csv, es.plan.ports[0].port);
	snprintf(mport, sizeof mport, "%d", es.plan.master.port);
	if (es_spank_setenv(sp, "ELASTIC_SERVE_SLICE", slice) < 0 ||
	    es_spank_setenv(sp, "ELASTIC_SERVE_MASTER_PORT", mport) < 0 ||
	    es_spank_setenv(sp, ES_RUN_VAR, es.token) < 0) {
		es_task_error("%s", "cannot pass the node's slice to elastic-agent");
		return -1;
	}
	return 0;
}

/* The first usable log directory, made as the job's user. */
static int es_log_dir(struct spank_handle *sp, char *out, size_t outlen)
{
	char over[1024] = "", submit[1024] = "", home[1024] = "";
	char cand[4][1200];
	int n = 0;
	if (es_spank_getenv(sp, "ELASTIC_SERVE_LOG_DIR", over, sizeof over) == 0 && over[0] == '/')
		snprintf(cand[n++], sizeof cand[0], "%s", over);
	if (es_spank_getenv(sp, "SLURM_SUBMIT_DIR", submit, sizeof submit) == 0 && submit[0] == '/')
		snprintf(cand[n++], sizeof cand[0], "%s/elastic-serve-%s", submit, es.job_id);
	if (es_spank_getenv(sp, "HOME", home, sizeof home) == 0 && home[0] == '/')
		snprintf(cand[n++], sizeof cand[0], "%s/.elastic-serve/logs/%s", home, es.job_id);
	snprintf(cand[n++], sizeof cand[0], "/tmp/elastic-serve-%d/%s", (int)getuid(), es.job_id);
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (es_mkdir_p(cand[i], 0750) < 0)
			continue;
		if (lstat(cand[i], &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
		    access(cand[i], W_OK) < 0)
			continue;
		if (strlen(cand[i]) >= outlen)
			continue;
		snprintf(out, outlen, "%s", cand[i]);
		return 0;
	}
	return -1;
}

int es_plugin_task_init(struct spank_handle *sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (!es_our_step(sp))
		return 0;
	if (es.ranks_step)
		return es_ranks_task_init(sp);
	if (!es.have_plan) {
		es_task_error("%s", es.plan_err[0] ? es.plan_err : "no serving plan");
		return -1;
	}
	/* Engines never run as root unless the job's user is root. */
	if (getuid() != es.uid || geteuid() != es.uid) {
		char m[128];
		snprintf(m, sizeof m, "refusing to start elastic-agent as uid %d for a job of uid %d",
			 (int)geteuid(), (int)es.uid);
		es_task_error("%s", m);
		return -1;
	}
	char logdir[1024], status[1300];
	if (es_log_dir(sp, logdir, sizeof logdir) < 0) {
		es_task_error("%s", "no writable log directory (tried ELASTIC_SERVE_LOG_DIR, the submit directory, $HOME and /tmp)");
		return -1;
	}
	snprintf(status, sizeof status, "%s/%s.status", logdir, es.node);
	char auth[600];
	if (es_spank_getenv(sp, "ELASTIC_SERVE_AUTH", auth, sizeof auth) < 0 || !auth[0])
		snprintf(auth, sizeof auth, "%s", es.opts.auth);

	es_spank_setenv(sp, "ELASTIC_SERVE_URLS", es.plan.urls.data ? es.plan.urls.data : "");
	if (es.registry[0])
		es_spank_setenv(sp, "ELASTIC_REGISTRY_URL", es.registry);
	es_spank_setenv(sp, "ELASTIC_SERVE_MODEL", es.plan.name);
	es_spank_setenv(sp, "ELASTIC_SERVE_LOG_DIR", logdir);
	es_spank_setenv(sp, "ELASTIC_SERVE_STATUS", status);
	es_spank_setenv(sp, "ELASTIC_AGENT", es.opts.agent);

	struct es_agent_args a = {
		.agent = es.opts.agent, .config_env = ES_JOB_PREFIX ES_CARRY_CONFIG,
		.registry = es.registry, .auth = auth, .job_id = es.job_id, .node = es.node,
		.log_dir = logdir, .status = status,
	};
	char **argv = es_agent_argv(&es.plan, &a);
	char **jenv = NULL;
	size_t n = 0;
	if (es_spank_job_env(sp, &jenv) == 0 && jenv)
		while (jenv[n])
			n++;
	char **envp = calloc(n + 2, sizeof *envp);
	char run[80];
	snprintf(run, sizeof run, "%s=%s", ES_RUN_VAR, es.token);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(jenv[i], ES_RUN_VAR "=", sizeof ES_RUN_VAR) != 0)
			envp[k++] = jenv[i];
	envp[k++] = run;
	envp[k] = NULL;
	char err[512];
	pid_t pid = es_spawn_agent(argv, envp, err, sizeof err);
	free(envp);
	es_argv_free(argv);
	if (pid < 0) {
		es_task_error("%s", err);
		return -1;
	}
	es.agent_pid = (int)pid;
	char pid_s[32];
	snprintf(pid_s, sizeof pid_s, "%d", (int)pid);
	es_spank_setenv(sp, "ELASTIC_AGENT_PID", pid_s);
	return 0;
}

int es_plugin_task_exit(struct spank_handle *sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (!es.active || es.ranks_step || !es_batch_step(sp))
		return 0;
	int st;
	if (es_spank_task_exit_status(sp, &st) == 0)
		es.status = st;
	return 0;
}

/* Asks slurmctld about the job within TIMEOUT_MS. */
static void es_job_info(struct es_jobinfo *info, int timeout_ms)
{
	char path[1024], id[32], conf[1100], err[256];
	memset(info, 0, sizeof *info);
	if (es.scontrol)
		snprintf(path, sizeof path, "%s", es.scontrol);
	else if (es_find_program("scontrol", getenv("PATH"), path, sizeof path) < 0)
		return;
	snprintf(id, sizeof id, "%u", es.job);
	char *argv[] = {path, "show", "job", "-o", id, NULL};
	char *envp[4] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL, NULL, NULL};
	const char *sc = getenv("SLURM_CONF");
	if (sc && *sc) {
		snprintf(conf, sizeof conf, "SLURM_CONF=%s", sc);
		envp[1] = conf;
	}
	struct buf out = BUF_INIT;
	int st = es_exec_capture(argv, envp, timeout_ms, &out, err, sizeof err);
	if (st == 0 && out.data)
		es_jobinfo_parse(out.data, info);
	else
		es_log_debug("job %s: scontrol: %s", es.job_id, st < 0 ? err : "failed");
	buf_free(&out);
}

int es_plugin_exit(struct spank_handle *sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (es_spank_context() == ES_CTX_ALLOCATOR) {
		es_carry_free(&es.carry);
		es.carry_ok = false;
		return 0;
	}
	if (!es_our_step(sp))
		return 0;
	long long t0 = es_now_ms();
	int budget = es.opts.notify_timeout_ms;
	if (es.ranks_step) {
		/* The node agents' step: no engine outlives it; the batch step
		 * tells the registry about the job. */
		int killed = es_reap(es.proc, es.uid, es.token, 3);
		if (killed)
			es_log_info("job %s: node agents' step: %d leftover process(es) killed", es.job_id,
				    killed);
		if (es.have_plan) {
			es_plan_free(&es.plan);
			es.have_plan = false;
		}
		free(es.config);
		es.config = NULL;
		es.active = false;
		return 0;
	}

	/* No engine of the job outlives its step. */
	int killed = es_reap(es.proc, es.uid, es.token, 3);

	/* Why it ended: ask slurmctld, with at most 40% of the budget. */
	struct es_jobinfo info;
	int left = budget - (int)(es_now_ms() - t0);
	es_job_info(&info, left * 2 / 5 > 0 ? left * 2 / 5 : 1);
	const char *reason = es.have_plan ? es_reason_decide(&info, es.status, es.restarts)
					  : "failed";
	int code, sig;
	es_status_split(es.status, &code, &sig);

	char result[400] = "no registry";
	if (es.registry[0]) {
		struct es_notice n = {
			.registry = es.registry, .auth = es.opts.auth, .job_id = es.job_id,
			.node = es.node, .reason = reason, .exit_code = code, .sig = sig,
		};
		char err[300];
		left = budget - (int)(es_now_ms() - t0);
		int st = left > 0 ? es_notify_send(&n, left, err, sizeof err) : -1;
		if (left <= 0)
			snprintf(err, sizeof err, "no time left");
		if (st >= 200 && st <= 299)
			snprintf(result, sizeof result, "registry told");
		else
			snprintf(result, sizeof result, "registry not told: %s", err);
	}
	es_log_info("job %s on %s ended: %s (exit %d, signal %d); %d leftover process(es) killed; %s; %lld ms",
		    es.job_id, es.node, reason, code, sig, killed, result, es_now_ms() - t0);
	if (es.have_plan) {
		es_plan_free(&es.plan);
		es.have_plan = false;
	}
	free(es.config);
	es.config = NULL;
	es.active = false;
	return 0;
}
