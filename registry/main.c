/* main.c — elastic-registry: flags, configuration, signals, the loop. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "httpd.h"
#include "log.h"
#include "reg.h"
#include "reg_config.h"
#include "reg_util.h"
#include "tcfg.h"

static const char usage_text[] =
	"usage: elastic-registry [OPTIONS]\n"
	"\n"
	"The elastic-serve control plane: a registry of the workers that serve\n"
	"models on SLURM jobs, their health, and the acquirer that keeps each pool\n"
	"at its target number of jobs. See elastic-registry(8).\n"
	"\n"
	"  -c, --config FILE           settings in TOML (flags override them); default\n"
	"                              " ES_SYSCONFDIR "/elastic-serve/registry.toml when present\n"
	"  -l, --listen ADDR           HOST:PORT, [V6]:PORT, :PORT or PORT (default :8780,\n"
	"                              every address)\n"
	"      --advertise-url URL     where jobs reach this registry (default\n"
	"                              http://HOSTNAME:PORT, or the listen address)\n"
	"  -s, --state-dir DIR         state file, pool configs, job output (default\n"
	"                              ~/.local/state/elastic-serve/registry; for root\n"
	"                              /var/lib/elastic-serve/registry)\n"
	"  -a, --auth MODE             munge (default), token:PATH (a 0600 secret file,\n"
	"                              created when missing) or none (loopback only)\n"
	"      --munge-socket PATH     munged's socket (default: libmunge's)\n"
	"  -u, --allow-uid UID|USER    also allow this user on the control API (repeat)\n"
	"      --no-check-worker-host  accept worker URLs that do not name the\n"
	"                              registering machine (NAT; see elastic-registry(8))\n"
	"      --heartbeat-interval D  heartbeat interval agents are told (default 1s)\n"
	"      --heartbeat-timeout D   evict a worker after D without heartbeat (3s)\n"
	"      --max-pending N         jobs submitting or pending per pool (4)\n"
	"      --poll-interval D       squeue interval (5s)\n"
	"      --drain-timeout D       cancel a draining job after D even if busy (2m)\n"
	"      --backoff-min D         wait after a failed sbatch, doubling (5s)\n"
	"      --backoff-max D         longest wait after failed sbatches (5m)\n"
	"      --job-script FILE       the batch script submitted (default\n"
	"                              elastic-job.sh shipped with elastic-serve)\n"
	"      --output-dir DIR        job output files (default STATE_DIR/jobs)\n"
	"      --sbatch CMD            sbatch command or path (also --squeue, --scancel,\n"
	"                              --sacct; --sacct '' never calls sacct)\n"
	"      --slurm-timeout D       kill a SLURM command after D (30s)\n"
	"      --log-level LEVEL       debug, info (default), warn or error\n"
	"      --log-file FILE         append the log to FILE instead of stderr\n"
	"      --check                 check the configuration and exit\n"
	"  -h, --help                  this help\n"
	"  -V, --version               the version\n"
	"\n"
	"Durations: 500ms, 90s, 20m, 2h. Control requests need a MUNGE credential (or\n"
	"a token HMAC) from the registry's own uid or an allowed one; root may only\n"
	"report ended jobs. GET /metrics (Prometheus) needs none.\n";

enum {
	OPT_ADVERTISE = 256,
	OPT_HB_INTERVAL,
	OPT_HB_TIMEOUT,
	OPT_MAX_PENDING,
	OPT_POLL,
	OPT_DRAIN,
	OPT_BACKOFF_MIN,
	OPT_BACKOFF_MAX,
	OPT_JOB_SCRIPT,
	OPT_OUTPUT_DIR,
	OPT_SBATCH,
	OPT_SQUEUE,
	OPT_SCANCEL,
	OPT_SACCT,
	OPT_SLURM_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_LOG_FILE,
	OPT_CHECK,
	OPT_NO_CHECK_HOST,
	OPT_MUNGE_SOCKET,
};

static const struct option longopts[] = {
	{"config", required_argument, NULL, 'c'},
	{"listen", required_argument, NULL, 'l'},
	{"advertise-url", required_argument, NULL, OPT_ADVERTISE},
	{"state-dir", required_argument, NULL, 's'},
	{"auth", required_argument, NULL, 'a'},
	{"allow-uid", required_argument, NULL, 'u'},
	{"heartbeat-interval", required_argument, NULL, OPT_HB_INTERVAL},
	{"heartbeat-timeout", required_argument, NULL, OPT_HB_TIMEOUT},
	{"max-pending", required_argument, NULL, OPT_MAX_PENDING},
	{"poll-interval", required_argument, NULL, OPT_POLL},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"backoff-min", required_argument, NULL, OPT_BACKOFF_MIN},
	{"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
	{"job-script", required_argument, NULL, OPT_JOB_SCRIPT},
	{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	{"sbatch", required_argument, NULL, OPT_SBATCH},
	{"squeue", required_argument, NULL, OPT_SQUEUE},
	{"scancel", required_argument, NULL, OPT_SCANCEL},
	{"sacct", required_argument, NULL, OPT_SACCT},
	{"slurm-timeout", required_argument, NULL, OPT_SLURM_TIMEOUT},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"log-file", required_argument, NULL, OPT_LOG_FILE},
	{"check", no_argument, NULL, OPT_CHECK},
	{"no-check-worker-host", no_argument, NULL, OPT_NO_CHECK_HOST},
	{"munge-socket", required_argument, NULL, OPT_MUNGE_SOCKET},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};
static const char shortopts[] = "c:l:s:a:u:hV";

static int die(const char *fmt, const char *a, const char *b)
{
	fputs("elastic-registry: error: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 2;
}

static int duration(const char *opt, const char *s, int64_t min, int64_t *out)
{
	char err[200];
	if (tcfg_parse_duration(s, out, err, sizeof err) < 0)
		return die("--%s: %s", opt, err);
	if (*out < min)
		return die("--%s: %s is too short", opt, s);
	return 0;
}

static void set(char **dst, const char *v)
{
	free(*dst);
	*dst = reg_strdup(v);
}

/* Applies one flag (the config file is read already). Returns 0, 1 to
 * exit 0 (help, version), or 2 on a usage error. */
static int apply(struct reg_config *cfg, int opt, const char *arg, int *check)
{
	char err[300];
	const char *name = "";
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == opt)
			name = o->name;
	switch (opt) {
	case 'c':
		return 0; /* read first */
	case 'l':
		if (reg_config_set_listen(cfg, arg, err, sizeof err) < 0)
			return die("%s%s", err, "");
		return 0;
	case OPT_ADVERTISE:
		if (strncmp(arg, "http://", 7) != 0)
			return die("--advertise-url must start with http:// (%s)%s", arg, "");
		set(&cfg->advertise_url, arg);
		return 0;
	case 's':
		set(&cfg->state_dir, arg);
		return 0;
	case 'a':
		set(&cfg->auth, arg);
		return 0;
	case 'u':
		if (reg_config_add_uid(cfg, arg, err, sizeof err) < 0)
			return die("--allow-uid: %s%s", err, "");
		return 0;
	case OPT_HB_INTERVAL: return duration(name, arg, 100, &cfg->heartbeat_ms);
	case OPT_HB_TIMEOUT: return duration(name, arg, 200, &cfg->heartbeat_timeout_ms);
	case OPT_POLL: return duration(name, arg, 200, &cfg->poll_ms);
	case OPT_DRAIN: return duration(name, arg, 0, &cfg->drain_timeout_ms);
	case OPT_BACKOFF_MIN: return duration(name, arg, 100, &cfg->backoff_min_ms);
	case OPT_BACKOFF_MAX: return duration(name, arg, 100, &cfg->backoff_max_ms);
	case OPT_SLURM_TIMEOUT: return duration(name, arg, 1000, &cfg->command_timeout_ms);
	case OPT_MAX_PENDING: {
		char *end;
		long v = strtol(arg, &end, 10);
		if (!*arg || *end || v < 1 || v > 10000)
			return die("--max-pending: '%s' is not a number from 1 to 10000%s", arg, "");
		cfg->max_pending = (int)v;
		return 0;
	}
	case OPT_JOB_SCRIPT: {
		char real[PATH_MAX];
		if (!realpath(arg, real))
			return die("--job-script: cannot find %s%s", arg, "");
		set(&cfg->job_script, real);
		return 0;
	}
	case OPT_OUTPUT_DIR: set(&cfg->output_dir, arg); return 0;
	case OPT_SBATCH: set(&cfg->sbatch, arg); return 0;
	case OPT_SQUEUE: set(&cfg->squeue, arg); return 0;
	case OPT_SCANCEL: set(&cfg->scancel, arg); return 0;
	case OPT_SACCT: set(&cfg->sacct, arg); return 0;
	case OPT_LOG_LEVEL: {
		enum log_level l;
		if (log_parse_level(arg, &l) < 0)
			return die("--log-level: '%s' is not debug, info, warn or error%s", arg, "");
		set(&cfg->log_level, arg);
		return 0;
	}
	case OPT_LOG_FILE: set(&cfg->log_file, arg); return 0;
	case OPT_CHECK: *check = 1; return 0;
	case OPT_NO_CHECK_HOST: cfg->check_worker_host = false; return 0;
	case OPT_MUNGE_SOCKET:
		if (arg[0] != '/' || strlen(arg) >= 108)
			return die("--munge-socket: '%s' is not an absolute path of at most 107 bytes%s", arg, "");
		set(&cfg->munge_socket, arg);
		return 0;
	case 'h': fputs(usage_text, stdout); return 1;
	case 'V': printf("elastic-registry %s\n", ES_VERSION); return 1;
	default:
		fputs("usage: elastic-registry [OPTIONS]; see elastic-registry --help\n", stderr);
		return 2;
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct reg *r = arg;
	log_info("signal %d: stopping", (int)sig);
	reg_stop(r);
}

int main(int argc, char **argv)
{
	struct reg_config cfg;
	const char *config_path = NULL;
	int opt, check = 0, rc;
	log_init("elastic-registry");
	reg_config_init(&cfg);

	/* First pass: only --config, --help and --version. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 'c')
			config_path = optarg;
		else if (opt == 'h' || opt == 'V') {
			rc = apply(&cfg, opt, optarg, &check);
			reg_config_free(&cfg);
			return rc == 1 ? 0 : rc;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "elastic-registry: error: unexpected argument '%s'\n", argv[optind]);
		reg_config_free(&cfg);
		return 2;
	}
	char sysconf[PATH_MAX];
	snprintf(sysconf, sizeof sysconf, "%s/elastic-serve/registry.toml", ES_SYSCONFDIR);
	if (!config_path && access(sysconf, F_OK) == 0)
		config_path = sysconf;
	if (config_path) {
		struct buf errs = BUF_INIT;
		if (reg_config_load(&cfg, config_path, &errs) < 0) {
			fputs(errs.data, stderr);
			buf_free(&errs);
			reg_config_free(&cfg);
			return 1;
		}
		buf_free(&errs);
	}

	/* Second pass: every flag, over the file. */
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		rc = apply(&cfg, opt, optarg, &check);
		if (rc) {
			reg_config_free(&cfg);
			return rc == 1 ? 0 : rc;
		}
	}

	char exe[PATH_MAX], err[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if (reg_config_finish(&cfg, n > 0 ? exe : NULL, err, sizeof err) < 0) {
		fprintf(stderr, "elastic-registry: error: %s\n", err);
		reg_config_free(&cfg);
		return 1;
	}
	if (cfg.log_level) {
		enum log_level l;
		log_parse_level(cfg.log_level, &l);
		log_set_level(l);
	}
	if (cfg.log_file && log_set_file(cfg.log_file) < 0) {
		fprintf(stderr, "elastic-registry: error: cannot open %s: %m\n", cfg.log_file);
		reg_config_free(&cfg);
		return 1;
	}
	if (check) {
		printf("configuration ok: listen %s:%d, state in %s, auth %s, job script %s\n",
		       cfg.listen_host ? cfg.listen_host : "*", cfg.listen_port, cfg.state_dir,
		       cfg.auth, cfg.job_script);
		reg_config_free(&cfg);
		return 0;
	}

	httpd_raise_nofile(); /* every client is a descriptor */
	struct event_base *base = event_base_new();
	if (!base) {
		fprintf(stderr, "elastic-registry: error: cannot create the event loop\n");
		reg_config_free(&cfg);
		return 1;
	}
	struct reg *r = reg_new(base, &cfg, err, sizeof err);
	if (!r) {
		log_error("%s", err);
		event_base_free(base);
		reg_config_free(&cfg);
		return 1;
	}
	struct event *sigs[3];
	const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(base, signums[i], on_signal, r);
		event_add(sigs[i], NULL);
	}
	event_base_dispatch(base);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	reg_free(r);
	event_base_free(base);
	reg_config_free(&cfg);
	log_info("stopped");
	return 0;
}
