/* main.c — elastic-sim: flags, startup, signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "httpd.h"
#include "log.h"
#include "sim.h"
#include "sim_multinode.h"

enum ftype {
	F_STR,    /* const char * */
	F_INT,    /* int */
	F_UINT,   /* unsigned */
	F_LONG,   /* long */
	F_U64,    /* uint64_t */
	F_DBL,    /* double */
	F_SECS,   /* double seconds: 90, 1.5, 90s, 2m, 1h */
	F_ON,     /* bool, no value: set true */
	F_OFF,    /* bool, no value: set false */
	F_NAME,   /* --served-model-name: one or more names */
	F_IGN,    /* accepted for vLLM compatibility, value ignored */
	F_IGN0,   /* accepted, no value */
	F_LOG,    /* --log-level */
	F_HELP,
	F_VERSION,
};

struct flag {
	const char *name; /* without the leading dashes */
	enum ftype type;
	void *p;          /* where the value goes */
	const char *arg;  /* value name in --help, NULL for none */
	const char *help;
};

static struct sim_config cfg;
static struct event_base *g_base;
static struct sim g_sim;
static struct sim_mn *g_mn;
static int g_exit;
static bool g_http_up;
static bool g_stopping;

static const struct flag flags[] = {
	{"host", F_STR, &cfg.host, "ADDR", "address to listen on (default 0.0.0.0; \"::\" for IPv6)"},
	{"port", F_INT, &cfg.port, "N", "HTTP port (default 8000; 0 picks a free one)"},
	{"port-file", F_STR, &cfg.port_file, "PATH", "write the bound port to PATH once listening"},
	{"model", F_STR, &cfg.model, "NAME", "model to \"load\" (default elastic-sim/sim-model)"},
	{"served-model-name", F_NAME, NULL, "NAME...", "names clients use (default: the model)"},
	{"tensor-parallel-size", F_INT, &cfg.tensor_parallel_size, "N", "accepted, reported only (default 1)"},
	{"tp", F_INT, &cfg.tensor_parallel_size, "N", "same as --tensor-parallel-size"},
	{"max-num-seqs", F_UINT, &cfg.max_num_seqs, "N", "most sequences running at once (default 256)"},
	{"max-model-len", F_UINT, &cfg.max_model_len, "N", "context length, prompt + output (default 8192)"},
	{"block-size", F_INT, &cfg.block_size, "N", "tokens per KV-cache block (default 16)"},
	{"num-gpu-blocks", F_INT, &cfg.num_gpu_blocks, "N", "KV-cache capacity in blocks (default 8192)"},
	{"num-gpu-blocks-override", F_INT, &cfg.num_gpu_blocks, "N", "same as --num-gpu-blocks"},
	{"enable-prefix-caching", F_ON, &cfg.prefix_caching, NULL, "automatic prefix caching (the default)"},
	{"no-enable-prefix-caching", F_OFF, &cfg.prefix_caching, NULL, "no prefix caching"},
	{"ttft-ms", F_DBL, &cfg.timing.ttft_ms, "MS", "base time to first token (default 20)"},
	{"prefill-us-per-token", F_DBL, &cfg.timing.prefill_us_per_token, "US", "prefill time per uncached prompt token (default 20)"},
	{"itl-ms", F_DBL, &cfg.timing.itl_ms, "MS", "base inter-token latency (default 10)"},
	{"itl-us-per-seq", F_DBL, &cfg.timing.itl_us_per_seq, "US", "inter-token slowdown per running sequence (default 50)"},
	{"time-scale", F_DBL, &cfg.timing.time_scale, "X", "multiplies every delay; 0: no delay at all (default 1)"},
	{"output-len", F_UINT, &cfg.output_len, "N", "tokens of a reply that max_tokens does not cut (default 128)"},
	{"tool-rounds", F_UINT, &cfg.tool_rounds, "N", "tool calls before a chat with tools gets its answer (default 2)"},
	{"embedding-dim", F_UINT, &cfg.embedding_dim, "N", "size of embedding vectors (default 384)"},
	{"seed", F_U64, &cfg.seed, "N", "seed for replies without a seed, ids and --fail-rate (default 0)"},
	{"startup-delay", F_SECS, &cfg.startup_delay, "SECS", "answer 503 (health fails) for this long after start"},
	{"fail-rate", F_DBL, &cfg.fail_rate, "P", "fraction of inference requests answered 500 (default 0)"},
	{"crash-after", F_LONG, &cfg.crash_after, "N", "exit abruptly (status 70) once N requests are answered"},
	{"hang-after", F_LONG, &cfg.hang_after, "N", "stop answering once N requests are answered"},
	{"garbage-after", F_LONG, &cfg.garbage_after, "N", "answer garbage once N requests are answered"},
	{"nnodes", F_INT, &cfg.nnodes, "N", "nodes the engine spans (default 1)"},
	{"node-rank", F_INT, &cfg.node_rank, "R", "this node's rank, 0 to N-1 (default 0)"},
	{"master-addr", F_STR, &cfg.master_addr, "ADDR", "rank 0's address (default 127.0.0.1)"},
	{"master-port", F_INT, &cfg.master_port, "PORT", "rank 0's port for the other ranks (default 29500)"},
	{"headless", F_ON, &cfg.headless, NULL, "serve no HTTP (ranks other than 0 never do)"},
	{"log-level", F_LOG, NULL, "LEVEL", "debug, info, warn or error (default info)"},
	{"dtype", F_IGN, NULL, "X", "accepted and ignored, as the following vLLM flags"},
	{"gpu-memory-utilization", F_IGN, NULL, "X", NULL},
	{"max-num-batched-tokens", F_IGN, NULL, "X", NULL},
	{"pipeline-parallel-size", F_IGN, NULL, "X", NULL},
	{"data-parallel-size", F_IGN, NULL, "X", NULL},
	{"kv-cache-dtype", F_IGN, NULL, "X", NULL},
	{"quantization", F_IGN, NULL, "X", NULL},
	{"swap-space", F_IGN, NULL, "X", NULL},
	{"tokenizer", F_IGN, NULL, "X", NULL},
	{"download-dir", F_IGN, NULL, "X", NULL},
	{"distributed-executor-backend", F_IGN, NULL, "X", NULL},
	{"uvicorn-log-level", F_IGN, NULL, "X", NULL},
	{"trust-remote-code", F_IGN0, NULL, NULL, NULL},
	{"enforce-eager", F_IGN0, NULL, NULL, NULL},
	{"disable-log-requests", F_IGN0, NULL, NULL, NULL},
	{"disable-log-stats", F_IGN0, NULL, NULL, NULL},
	{"enable-chunked-prefill", F_IGN0, NULL, NULL, NULL},
	{"help", F_HELP, NULL, NULL, "show this help and exit"},
	{"version", F_VERSION, NULL, NULL, "show the version and exit"},
};

#define NFLAGS ((int)(sizeof flags / sizeof flags[0]))

static void usage(FILE *fp)
{
	fprintf(fp, "usage: elastic-sim [serve] [MODEL] [--flag VALUE]...\n\n"
		    "A vLLM-compatible engine simulator: vLLM's OpenAI API, metrics and\n"
		    "flags, with continuous batching, a paged KV cache with prefix caching,\n"
		    "a timing model and fault injection; no GPU. See elastic-sim(1).\n\n");
	for (int i = 0; i < NFLAGS; i++) {
		const struct flag *f = &flags[i];
		char left[64];
		snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "",
			 f->arg ? f->arg : "");
		if (f->help)
			fprintf(fp, "  %-32s %s\n", left, f->help);
		else
			fprintf(fp, "  %s\n", left);
	}
	fprintf(fp, "\nFlags also take the form --flag=VALUE; '_' may stand for '-'.\n");
}

static int parse_num(const char *name, const char *v, enum ftype t, void *p)
{
	char *end;
	errno = 0;
	switch (t) {
	case F_INT:
	case F_UINT:
	case F_LONG: {
		long long n = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			goto bad;
		if (t == F_INT && (n < -2147483647LL || n > 2147483647LL))
			goto bad;
		if (t == F_UINT && (n < 0 || n > 4294967295LL))
			goto bad;
		if (t == F_INT)
			*(int *)p = (int)n;
		else if (t == F_UINT)
			*(unsigned *)p = (unsigned)n;
		else
			*(long *)p = (long)n;
		return 0;
	}
	case F_U64: {
		if (*v == '-')
			goto bad;
		unsigned long long n = strtoull(v, &end, 10);
		if (errno || end == v || *end)
			goto bad;
		*(uint64_t *)p = n;
		return 0;
	}
	case F_DBL:
	case F_SECS: {
		double d = strtod(v, &end);
		if (errno || end == v || d != d)
			goto bad;
		if (t == F_SECS && *end) {
			if (strcmp(end, "s") == 0)
				;
			else if (strcmp(end, "m") == 0)
				d *= 60;
			else if (strcmp(end, "h") == 0)
				d *= 3600;
			else
				goto bad;
		} else if (*end) {
			goto bad;
		}
		*(double *)p = d;
		return 0;
	}
	default:
		return 0;
	}
bad:
	fprintf(stderr, "elastic-sim: invalid value for --%s: '%s'\n", name, v);
	return -1;
}

/* Returns 0 to go on, 1 to exit 0 (help, version), -1 on error. */
static int parse_args(int argc, char **argv)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "serve") == 0)
		i++;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] != '-') {
			if (a[0] == '-' && a[1]) {
				fprintf(stderr, "elastic-sim: unknown option '%s' (see --help)\n", a);
				return -1;
			}
			cfg.model = a; /* vllm serve MODEL */
			continue;
		}
		char name[64];
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof name) {
			fprintf(stderr, "elastic-sim: unknown option '%s' (see --help)\n", a);
			return -1;
		}
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		for (char *c = name; *c; c++)
			if (*c == '_')
				*c = '-';
		const struct flag *f = NULL;
		for (int k = 0; k < NFLAGS; k++)
			if (strcmp(flags[k].name, name) == 0)
				f = &flags[k];
		if (!f) {
			fprintf(stderr, "elastic-sim: unknown option '--%s' (see --help)\n", name);
			return -1;
		}
		bool takes = f->type != F_ON && f->type != F_OFF && f->type != F_IGN0 &&
			     f->type != F_HELP && f->type != F_VERSION;
		const char *v = NULL;
		if (takes) {
			if (eq) {
				v = eq + 1;
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
				fprintf(stderr, "elastic-sim: --%s needs a value\n", name);
				return -1;
			}
		} else if (eq) {
			fprintf(stderr, "elastic-sim: --%s takes no value\n", name);
			return -1;
		}
		switch (f->type) {
		case F_STR:
			*(const char **)f->p = v;
			break;
		case F_ON:
		case F_OFF:
			*(bool *)f->p = f->type == F_ON;
			break;
		case F_NAME:
			/* One or more names, as vLLM's nargs='+'. */
			for (;;) {
				if (cfg.nnames >= SIM_MAX_NAMES) {
					fprintf(stderr, "elastic-sim: at most %d served model names\n",
						SIM_MAX_NAMES);
					return -1;
				}
				if (!*v) {
					fprintf(stderr, "elastic-sim: empty served model name\n");
					return -1;
				}
				cfg.names[cfg.nnames++] = v;
				if (eq || i + 1 >= argc || argv[i + 1][0] == '-')
					break;
				v = argv[++i];
			}
			break;
		case F_LOG: {
			enum log_level lv;
			if (log_parse_level(v, &lv) != 0) {
				fprintf(stderr, "elastic-sim: invalid value for --log-level: '%s'\n", v);
				return -1;
			}
			log_set_level(lv);
			break;
		}
		case F_IGN:
		case F_IGN0:
			break;
		case F_HELP:
			usage(stdout);
			return 1;
		case F_VERSION:
			printf("elastic-sim %s\n", ES_VERSION);
			return 1;
		default:
			if (parse_num(name, v, f->type, f->p) != 0)
				return -1;
		}
	}
	return 0;
}

static int write_port_file(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	char s[16];
	int n = snprintf(s, sizeof s, "%d\n", port);
	if (write(fd, s, (size_t)n) != n) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

static void stop_loop(void *arg)
{
	(void)arg;
	event_base_loopexit(g_base, NULL);
}

static int start_http(void)
{
	char err[512];
	if (sim_api_listen(&g_sim, err, sizeof err) != 0) {
		log_error("%s", err);
		return -1;
	}
	int port = httpd_port(g_sim.http);
	g_http_up = true;
	if (cfg.port_file && write_port_file(cfg.port_file, port) != 0) {
		log_error("cannot write --port-file %s: %s", cfg.port_file, strerror(errno));
		return -1;
	}
	log_info("serving %s on http://%s:%d (max-num-seqs %u, %d KV blocks of %d "
		 "tokens, time scale %g)", g_sim.cfg.names[0], cfg.host, port,
		 cfg.max_num_seqs, cfg.num_gpu_blocks, cfg.block_size,
		 cfg.timing.time_scale);
	return 0;
}

static void mn_ready(void *arg)
{
	(void)arg;
	log_info("multinode: all %d nodes joined", cfg.nnodes);
	if (!g_stopping && start_http() != 0) {
		g_exit = 1;
		event_base_loopbreak(g_base);
	}
}

static void mn_fail(void *arg, int code, const char *why)
{
	(void)arg;
	if (code)
		log_error("multinode: %s: exiting", why);
	else
		log_info("multinode: %s: exiting", why);
	g_exit = code;
	event_base_loopbreak(g_base);
}

/* SLURM signals every process of a job, and may do so more than once
 * within milliseconds (the step, the job, srun passing it on): a SIGTERM
 * within STOP_REPEAT_S of the first is the same stop. */
#define STOP_REPEAT_S 2.0

static double g_stop_at;

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
	if (g_mn && cfg.node_rank > 0 && sim_mn_joined(g_mn) && sig == SIGTERM) {
		/* Rank 0 still finishes its requests in flight, which need this
		 * rank: it leaves when rank 0 does. */
		if (!g_stopping)
			log_info("SIGTERM: node rank %d stays until rank 0 stops (SIGINT ends it now)",
				 cfg.node_rank);
		g_stopping = true;
		return;
	}
	if (g_stopping) {
		if (sig == SIGTERM && mono_s() - g_stop_at < STOP_REPEAT_S) {
			log_debug("SIGTERM again: still stopping");
			return;
		}
		log_warn("second signal: exiting now");
		event_base_loopbreak(g_base);
		return;
	}
	g_stopping = true;
	g_stop_at = mono_s();
	log_info("%s: stopping: no new connections, finishing %u request(s) in flight", name,
		 g_sim.live);
	if (g_http_up)
		sim_api_shutdown(&g_sim, stop_loop, NULL);
	else
		event_base_loopexit(g_base, NULL);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	g_sim.ready = true;
	log_info("startup delay over: healthy");
}

int main(int argc, char **argv)
{
	log_init("elastic-sim");
	sim_config_defaults(&cfg);
	int rc = parse_args(argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	char err[512];
	if (sim_config_check(&cfg, err, sizeof err) != 0) {
		fprintf(stderr, "elastic-sim: %s\n", err);
		return 2;
	}
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	httpd_raise_nofile(); /* every client is a descriptor */
	g_base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!g_base || sim_init(&g_sim, &cfg, g_base, err, sizeof err) != 0) {
		fprintf(stderr, "elastic-sim: %s\n", g_base ? err : "cannot create the event loop");
		return 1;
	}
	struct event *sterm = evsignal_new(g_base, SIGTERM, on_signal, NULL);
	struct event *sint = evsignal_new(g_base, SIGINT, on_signal, NULL);
	struct event *ready = evtimer_new(g_base, on_ready, NULL);
	event_add(sterm, NULL);
	event_add(sint, NULL);
	if (cfg.startup_delay > 0) {
		struct timeval tv = {(time_t)cfg.startup_delay,
				     (suseconds_t)((cfg.startup_delay - (double)(time_t)cfg.startup_delay) * 1e6)};
		evtimer_add(ready, &tv);
	}
	bool serve = cfg.node_rank == 0 && !cfg.headless;
	if (cfg.node_rank > 0 && !cfg.headless)
		log_info("node rank %d: headless (only rank 0 serves HTTP)", cfg.node_rank);
	if (cfg.nnodes > 1) {
		struct sim_mn_ops ops = {mn_ready, mn_fail};
		if (!serve)
			ops.ready = NULL;
		g_mn = sim_mn_start(g_base, &cfg, &ops, NULL, 300, err, sizeof err);
		if (!g_mn) {
			log_error("%s", err);
			g_exit = 1;
			goto out;
		}
		if (!serve && cfg.node_rank == 0)
			log_info("rank 0 headless: waiting for the other ranks, no HTTP");
	} else if (serve) {
		if (start_http() != 0) {
			g_exit = 1;
			goto out;
		}
	} else {
		log_info("headless: no HTTP; waiting for a signal");
	}
	event_base_dispatch(g_base);
	if (g_mn && cfg.node_rank == 0 && g_exit == 0)
		sim_mn_bye(g_mn);
out:
	sim_mn_free(g_mn);
	sim_free(&g_sim);
	event_free(sterm);
	event_free(sint);
	event_free(ready);
	event_base_free(g_base);
	log_info("exiting with status %d", g_exit);
	return g_exit;
}
