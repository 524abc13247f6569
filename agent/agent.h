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
 *
 * Workers spanning K > 1 nodes (parallel.nodes_per_worker) take three roles
 * of the same program (agent_hub.c and agent_node.c tell the whole story):
 *   - the hub (--hub), started by the SPANK plugin in the batch step: it
 *     runs no engine; it starts one node agent on every node of the job
 *     with `srun --overlap`, relays the messages of each worker's node
 *     agents and writes the job's status file;
 *   - rank 0's node agent (--node-agent, node id a multiple of K): the
 *     slice above, whose engine is rank 0; it registers the worker (with
 *     its nodes), probes it, heartbeats, drains it, and starts and stops
 *     the other ranks through the hub;
 *   - the other ranks' node agents (followers): they run their rank when
 *     rank 0's agent says so, and when their engine dies on its own they
 *     deregister the worker at once and tell rank 0's agent, which
 *     restarts the whole worker.
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
	const char *path;        /* model.path */
	const char *name;        /* model.name */
	const char *host;        /* address to listen on */
	int port;                /* rank 0's HTTP port (this node's for other ranks) */
	int tp;                  /* parallel.tp: GPUs of the whole worker */
	const char *gpus;        /* this node's CUDA_VISIBLE_DEVICES of the slice */
	int rank;                /* this node's rank in the worker (0 .. nnodes-1) */
	int nnodes;              /* nodes the worker spans (0 or 1: one) */
	const char *master_addr; /* rank 0's host, for the other ranks (nnodes > 1) */
	int master_port;         /* rank 0's rendezvous port (nnodes > 1) */
	int gpus_per_rank;       /* GPUs of this node in the worker (tp / nnodes) */
	const char *agent;       /* elastic-agent's own path (backend ray, rank 0) */
};

/* Substitutes {path} {name} {host} {port} {tp} {gpus} {rank} {nnodes}
 * {master_addr} {master_port} in TMPL ({{ and }} are literal braces) onto
 * OUT. Returns 0, or -1 with ERR. */
int agent_subst(const char *tmpl, const struct agent_engine_vars *v, struct buf *out,
		char *err, size_t errlen);

/* The engine's argv for CFG's engine kind (NULL-terminated, malloc'ed;
 * free with agent_argv_free). SIM is elastic-sim's path (kind sim).
 * Returns NULL with ERR on a bad template. With v->nnodes > 1 the argv is
 * the one of rank v->rank of a worker spanning nnodes nodes (see
 * agent_argv.c); for vLLM with backend "ray" on rank 0 it is elastic-agent
 * --exec-pair running `ray start --head` and then `vllm serve`. */
char **agent_engine_argv(const struct model_config *cfg, const struct agent_engine_vars *v,
			 const char *sim, char *err, size_t errlen);

/* The engine's environment: BASE (e.g. environ) with CUDA_VISIBLE_DEVICES
 * = GPUS and CFG's [engine].env set (they win over BASE). With V non-NULL
 * and v->nnodes > 1 it also sets ELASTIC_SERVE_RANK, ELASTIC_SERVE_NNODES,
 * ELASTIC_SERVE_MASTER_ADDR and ELASTIC_SERVE_MASTER_PORT (and, for rank 0
 * of a Ray worker, RAY_ADDRESS). Free with agent_argv_free. */
char **agent_engine_env(char *const *base, const struct model_config *cfg, const char *gpus,
			const struct agent_engine_vars *v);

/* elastic-agent --exec-pair N --wait-port P A... B...: runs the N words
 * A (a Ray head) and, once 127.0.0.1:P accepts connections, the rest B
 * (vllm serve); ends when either ends, killing the other; exits with B's
 * status (agent_pair.c). */
int agent_pair_main(int argc, char **argv);

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
	bool follower;            /* multi-node, rank > 0: started and stopped by
				     rank 0's agent, never registered */
	int epoch;                /* multi-node: the worker incarnation this
				     engine belongs to (rank 0 counts them) */
	bool halted;              /* follower: rank 0 asked its engine to stop */
	int pending_run;          /* follower: epoch to start once the old engine
				     is gone, 0 none */
	char **nodes;             /* rank 0: every node of the worker (NULL-
				     terminated), sent with the registration */
	size_t nnodes;
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
	bool scrape_failed;       /* the last scrape got no answer at all */
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
	/* workers spanning nodes (parallel.nodes_per_worker > 1) */
	bool hub;                 /* --hub: start the node agents, relay */
	const char *node_agent;   /* --node-agent HOST:PORT: the hub to join */
	int node_id;              /* --node-id; -1: $SLURM_NODEID */
	int master_port;          /* --master-port; 0: $ELASTIC_SERVE_MASTER_PORT */
	int nnodes;               /* --nnodes (hub); 0: $SLURM_JOB_NUM_NODES */
	const char *srun;         /* --srun PATH (hub); NULL: srun in PATH */
	const char *log_level;    /* --log-level as given, passed on by the hub */
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
	char *self_path;           /* this program, for --exec-pair and srun */
	struct agent_node *node;   /* --node-agent: the link to the hub */
	struct agent_hub *hub;     /* --hub */
	bool repeated_term;        /* node agent: a SIGTERM came already */
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
/* Deregisters the worker ID (of this job, on any node) at once. */
void agent_reg_deregister_id(struct agent *ag, const char *id, const char *reason);
/* Deregisters every worker of the job, on every node. */
void agent_reg_deregister_job(struct agent *ag, const char *reason);
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

/* The event loop's parts that the multi-node roles share (agent_loop.c). */
/* Starts the engine of S (argv, environment, log); 0, or -1 with s->error. */
int agent_slice_start(struct agent_slice *s);
/* Feeds EV to the state machine of S and carries out what it says. */
void agent_slice_step(struct agent_slice *s, enum agent_event ev, pid_t old_pid);
void agent_check_done(struct agent *ag);
/* Ends the agent with exit status CODE (after the deregistrations on
 * their way, briefly). */
void agent_finish(struct agent *ag, int code);
void agent_timer_arm(struct event *ev, int64_t ms);
/* Timer kinds of agent_slice.timer_kind. */
enum { AGENT_T_NONE, AGENT_T_PROBE, AGENT_T_BACKOFF, AGENT_T_KILL };

/* ---------------------------------------------------------------- multi-node */

/* The lines node agents and the hub exchange (agent_hub.c), one per line,
 * words separated by one space:
 *   node -> hub   hello TOKEN NODE_ID NODE HOST PORT MASTER_PORT
 *   hub -> node   group HEAD_NODE HEAD_HOST HEAD_PORT HEAD_MASTER_PORT K NODE...
 *   rank 0 -> hub -> ranks   run EPOCH | halt EPOCH TERM|KILL
 *   rank 0 -> hub            state STATE
 *   rank R -> hub            down EPOCH       (its engine died on its own)
 *   hub -> rank 0            down R EPOCH | lost R   (rank R's agent is gone)
 *   hub -> ranks             lost 0           (rank 0's agent is gone) */
#define AGENT_MN_MAX_LINE 8192

/* Node agent (agent_node.c). */
int agent_node_init(struct agent *ag, char *err, size_t errlen);
void agent_node_start(struct agent *ag);
void agent_node_free(struct agent *ag);
/* Hooks of the event loop: the engine of rank 0's slice S was started,
 * is signalled with SIG, has exited; S changed state. */
void agent_node_spawned(struct agent_slice *s);
void agent_node_signalled(struct agent_slice *s, int sig);
void agent_node_head_exited(struct agent_slice *s);
void agent_node_state(struct agent_slice *s);
/* The engine PID of follower S ended with wait status ST. */
void agent_node_follower_exited(struct agent_slice *s, pid_t pid, int st);
/* SIGTERM on a node agent; returns true when it handled it (followers). */
bool agent_node_drain(struct agent *ag);
/* Fills the multi-node fields of V (rank, nnodes, master). */
void agent_node_vars(const struct agent *ag, struct agent_engine_vars *v);

/* Hub (agent_hub.c). */
int agent_hub_init(struct agent *ag, char *err, size_t errlen);
void agent_hub_start(struct agent *ag);
void agent_hub_free(struct agent *ag);
/* A child ended: true when it was the hub's srun (then handled). */
bool agent_hub_reaped(struct agent *ag, pid_t pid, int st);
void agent_hub_drain(struct agent *ag);
/* The srun of the node agents, 0 when none runs. */
pid_t agent_hub_srun_pid(const struct agent *ag);
/* The status file's body for the hub: one entry per worker. */
void agent_hub_status(const struct agent *ag, struct buf *b);
/* The srun command line that starts the node agents (NULL-terminated,
 * malloc'ed; free with agent_argv_free). HUB is HOST:PORT. */
char **agent_hub_srun_argv(const struct agent *ag, const char *srun, const char *hub);

/* Parses one protocol line into at most MAX words (split on single
 * spaces, in place). Returns the number of words, or -1 when there are
 * more, a word is empty, or a character is not printable ASCII. */
int agent_mn_split(char *line, char **words, int max);
/* Whether S is usable as a node or host name on the wire. */
bool agent_mn_name_ok(const char *s);

/* elastic-agent --wait / --wait-ready (agent_wait.c). */
int agent_wait_main(const char *status_file, int pid, bool ready_only, int timeout_s);

/* Milliseconds of the monotonic clock. */
int64_t agent_now_ms(void);

#endif
