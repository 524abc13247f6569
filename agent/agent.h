/* agent.h — elastic-agent: runs and supervises the engines of one job node.
 *
 * One engine per tensor-parallel slice of the node's GPUs. For each slice
 * the agent builds the engine's argv from model.toml (agent_argv.c, never a
 * shell), starts it in its own process group with CUDA_VISIBLE_DEVICES set
 * to the slice and its output in a per-slice log file (agent_proc.c), waits
 * until /health answers and /v1/models lists the model, registers it with
 * the registry, scrapes its /metrics and heartbeats (agent_loop.c,
 * agent_registry.c, agent_metrics.c). The life of a slice is a small state
 * machine (agent_sm.c):
 *
 *   IDLE -start-> STARTING -ready-> READY
 *   STARTING -exit-> BACKOFF (or FAILED after too many failures in a row)
 *   STARTING -startup_timeout-> FAILED        (the log tail is reported)
 *   READY -exit-> BACKOFF -backoff done-> STARTING   (restart, bounded backoff)
 *   STARTING/READY -drain-> DRAINING -stop-> STOPPING -exit-> STOPPED
 *   BACKOFF -drain-> STOPPED
 *
 * SIGTERM (preemption, scancel, time limit) drains: one deregister request
 * for all workers first, then in-flight requests get up to the drain time,
 * then the engines get SIGTERM and, after the kill timeout, SIGKILL.
 */
#ifndef ES_AGENT_H
#define ES_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "buf.h"

struct model_config;
struct event;
struct event_base;
struct httpc;
struct httpc_req;

/* ---------------------------------------------------------------- load */

/* An engine's load, scraped from its /metrics. */
struct agent_load {
	bool valid;            /* a scrape succeeded */
	int running;           /* requests being processed */
	int waiting;           /* requests queued */
	double kv_usage;       /* KV-cache use, 0..1 */
	double prefix_queries; /* prefix-cache lookups (tokens), counter */
	double prefix_hits;    /* prefix-cache hits (tokens), counter */
};

/* Bounds of what agent_load_parse() reports, whatever the page says:
 * requests (running, waiting), and counters (exact in a double). */
#define AGENT_LOAD_MAX_REQS 1e6
#define AGENT_LOAD_MAX_COUNT 9007199254740992.0 /* 2^53 */

/* Reads LEN bytes of a Prometheus page from vLLM (either KV name, old or
 * new prefix-cache names, any engine/dp labels), SGLang or elastic-sim into
 * L, every value within 0..its bound above (KV use 0..1). Returns 0, or -1
 * with ERR when the page is malformed or has none of the known gauges. */
int agent_load_parse(const char *text, size_t len, struct agent_load *l, char *err,
		     size_t errlen);

/* ---------------------------------------------------------------- argv */

/* What an engine command line is made of. */
struct agent_engine_vars {
	const char *path; /* model.path */
	const char *name; /* model.name */
	const char *host; /* address to listen on */
	int port;
	int tp;
	const char *gpus; /* the slice's CUDA_VISIBLE_DEVICES */
	int rank;         /* this node's rank in the worker (0) */
};

/* Substitutes {path} {name} {host} {port} {tp} {gpus} {rank} in TMPL
 * ({{ and }} are literal braces) onto OUT. Returns 0, or -1 with ERR. */
int agent_subst(const char *tmpl, const struct agent_engine_vars *v, struct buf *out,
		char *err, size_t errlen);

/* The engine's argv for CFG's engine kind (NULL-terminated, malloc'ed;
 * free with agent_argv_free). SIM is elastic-sim's path (kind sim).
 * Returns NULL with ERR on a bad template. */
char **agent_engine_argv(const struct model_config *cfg, const struct agent_engine_vars *v,
			 const char *sim, char *err, size_t errlen);

/* The engine's environment: BASE (e.g. environ) with CUDA_VISIBLE_DEVICES
 * = GPUS and CFG's [engine].env set (they win over BASE). Free with
 * agent_argv_free. */
char **agent_engine_env(char *const *base, const struct model_config *cfg, const char *gpus);

void agent_argv_free(char **v);

/* ---------------------------------------------------------------- state machine */

enum agent_state {
	AS_IDLE,     /* not started */
	AS_STARTING, /* running, not ready yet */
	AS_READY,    /* serving, registered */
	AS_BACKOFF,  /* dead, restarts after a delay */
	AS_FAILED,   /* given up */
	AS_DRAINING, /* finishing in-flight requests; no restart */
	AS_STOPPING, /* SIGTERM sent, waiting for the exit */
	AS_STOPPED,  /* gone after a stop */
};

enum agent_event {
	AE_START,            /* start the engine */
	AE_READY,            /* /health and /v1/models passed */
	AE_STARTUP_TIMEOUT,  /* not ready within startup_timeout */
	AE_EXITED,           /* the engine process ended */
	AE_BACKOFF_DONE,     /* restart now */
	AE_DRAIN,            /* the agent was told to stop */
	AE_STOP,             /* drain over: terminate the engine */
	AE_KILL_TIMEOUT,     /* it ignored SIGTERM */
	AE_HUNG,             /* ready, but it answered nothing for hang_timeout */
};

/* What the caller must do after a step (bit set). */
#define AA_SPAWN 0x001          /* start the engine process */
#define AA_PROBE 0x002          /* begin readiness probing, startup deadline */
#define AA_REGISTER 0x004       /* (re)register the worker with its state */
#define AA_DEREGISTER 0x008     /* deregister it (reason in the machine) */
#define AA_RESTART_LATER 0x010  /* arm the backoff timer (backoff_ms) */
#define AA_REPORT_FAIL 0x020    /* report the failure with the log tail */
#define AA_TERM 0x040           /* SIGTERM the engine's process group */
#define AA_KILL 0x080           /* SIGKILL the engine's process group */
#define AA_KILL_LATER 0x100     /* arm the kill timer */
#define AA_REAP_GROUP 0x200     /* SIGKILL what is left of the group */

struct agent_policy {
	int max_failures;   /* failures in a row before giving up (5) */
	int backoff_min_ms; /* first restart delay (1000) */
	int backoff_max_ms; /* longest restart delay (30000) */
	int64_t stable_ms;  /* ready this long resets the failure count (60000) */
};

void agent_policy_default(struct agent_policy *p);

struct agent_sm {
	enum agent_state state;
	int failures;          /* in a row */
	int restarts;          /* in all */
	int backoff_ms;        /* delay of the pending restart */
	int64_t ready_since;   /* ms, when it became ready */
	const char *reason;    /* deregistration reason with AA_DEREGISTER */
	const char *why;       /* failure description with AA_REPORT_FAIL */
};

/* Feeds EV at NOW (ms) to SM; returns the actions (AA_*). */
unsigned agent_sm_step(struct agent_sm *sm, enum agent_event ev, int64_t now,
		       const struct agent_policy *pol);

const char *agent_state_name(enum agent_state s);

/* ---------------------------------------------------------------- the agent */

struct agent;

struct agent_slice {
	struct agent *ag;
	int index;
	char *gpus;               /* CUDA_VISIBLE_DEVICES of the slice */
	int port;
	char url[300];            /* http://HOST:PORT */
	char probe_url[300];      /* http://127.0.0.1:PORT */
	char id[256];             /* JOB.NODE.SLICE */
	char log_path[1100];
	struct agent_sm sm;
	pid_t pid;                /* engine, 0 when none */
	int64_t started_ms;       /* spawn time */
	int64_t startup_deadline; /* ms */
	int last_status;          /* wait status of the last exit */
	struct event *timer;      /* probe / backoff / kill */
	int timer_kind;           /* what the timer is armed for */
	struct httpc_req *probe;  /* readiness probe in flight */
	struct httpc_req *scrape; /* /metrics scrape in flight */
	struct agent_load load;
	bool load_fresh;          /* a scrape ended since load_fresh was cleared */
	int64_t answered_ms;      /* when the engine last answered an HTTP request
				     of ours (a /metrics scrape), or became ready */
	bool hung;                /* killed for not answering (AE_HUNG) */
	bool registered;          /* the registry has it (as starting or ready) */
	bool reg_inflight;        /* a register request is out */
	enum agent_state reg_sent; /* the state the last registration carried */
	int reg_logged;           /* state last reported in the log, -1 none */
	int reg_backoff_ms;       /* next retry delay */
	int64_t reg_next_ms;      /* not before */
	char error[8192];         /* last failure, for the status file */
};

struct agent_options {
	const char *config_file;  /* --config FILE ("-" stdin) */
	const char *config_env;   /* --config-env VAR */
	const char *job_id;       /* --job-id (default $SLURM_JOB_ID or "0") */
	const char *node;         /* --node (default $SLURMD_NODENAME or host name) */
	const char *host;         /* --host: advertised in URLs (default host name) */
	const char *bind;         /* --bind: engines listen here (0.0.0.0) */
	const char *registry;     /* --registry URL (NULL: none) */
	const char *auth;         /* --auth munge|token:PATH|none */
	const char *log_dir;      /* --log-dir */
	const char *status_file;  /* --status-file */
	const char *sim;          /* --sim PATH of elastic-sim */
	int heartbeat_ms;         /* --heartbeat-ms (1000) */
	int probe_ms;             /* --probe-ms (500) */
	int kill_timeout_ms;      /* --kill-timeout-ms (10000) */
	int64_t drain_ms;         /* --drain-ms; -1: the model's drain_timeout */
	double job_end;           /* --job-end; 0: ask squeue */
	char **slices;            /* --slice GPUS@PORT ... */
	size_t nslices;
};

enum agent_phase {
	AP_RUNNING,
	AP_DRAINING, /* deregistered, waiting for in-flight requests */
	AP_STOPPING, /* engines told to stop */
	AP_DONE,
};

struct agent {
	struct event_base *base;
	struct httpc *http;
	struct model_config *cfg;
	struct agent_options opt;
	struct agent_policy pol;
	struct auth_client auth;
	bool have_registry;
	struct agent_slice *slices;
	size_t nslices;
	enum agent_phase phase;
	int heartbeat_ms;
	double job_end;
	bool got_signal;
	int exit_code;
	struct event *ev_term, *ev_int, *ev_chld, *ev_hup;
	struct event *hb_timer, *drain_timer, *drain_poll;
	int64_t drain_deadline;
	bool hb_inflight;
	int dereg_inflight;        /* deregistrations not answered yet */
	struct event *exit_timer;  /* bounds the wait for them at the end */
	int hb_failures;           /* heartbeats failed in a row */
	unsigned sign_failures;    /* requests that could not be signed in a row
				      (munged down on this node) */
	pid_t squeue_pid;          /* job end lookup */
	int squeue_fd;
	struct event *squeue_ev;
	struct buf squeue_out;
	char *sim_path;
	char *host_name;
};

/* Builds the agent from options (parses the config, the slices). Returns 0,
 * or -1 with ERR. */
int agent_init(struct agent *ag, struct event_base *base, const struct agent_options *opt,
	       char *err, size_t errlen);
/* Starts the engines and the timers. */
void agent_start(struct agent *ag);
/* Begins the drain, as SIGTERM does. */
void agent_drain(struct agent *ag);
void agent_free(struct agent *ag);

/* Registry calls (agent_registry.c). */
void agent_reg_register(struct agent_slice *s);
void agent_reg_deregister(struct agent *ag, struct agent_slice *s, const char *reason);
void agent_reg_heartbeat(struct agent *ag);
/* The bodies, for the tests. */
void agent_body_register(const struct agent *ag, const struct agent_slice *s, struct buf *b);
void agent_body_heartbeat(const struct agent *ag, struct buf *b);
void agent_body_deregister(const struct agent *ag, const struct agent_slice *s,
			   const char *reason, struct buf *b);
/* Applies a heartbeat reply: marks unknown workers for registration. */
int agent_reg_apply_heartbeat_reply(struct agent *ag, const char *body, size_t len);
/* Called by the loop to (re)try registrations that are due. */
void agent_reg_due(struct agent *ag, int64_t now);

/* Processes (agent_proc.c). */
pid_t agent_proc_spawn(struct agent_slice *s, char **argv, char **envp, char *err,
		       size_t errlen);
void agent_proc_signal(struct agent_slice *s, int sig);
/* The last LINES lines of PATH (at most 4 KiB) onto OUT. */
void agent_log_tail(const char *path, int lines, struct buf *out);

/* The status file (agent_status.c). */
void agent_status_write(struct agent *ag);

/* elastic-agent --wait / --wait-ready (agent_wait.c). */
int agent_wait_main(const char *status_file, int pid, bool ready_only, int timeout_s);

/* Milliseconds of the monotonic clock. */
int64_t agent_now_ms(void);

#endif
