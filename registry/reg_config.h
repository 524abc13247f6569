/* reg_config.h — elastic-registry's configuration: defaults, the TOML
 * file (strict, through lib/tcfg: every problem as FILE:LINE:COL: message)
 * and the command-line flags that override it.
 *
 *   listen = "0.0.0.0:8780"          # HOST:PORT, [V6]:PORT, :PORT or PORT
 *   advertise_url = "http://login1:8780"  # what jobs use to reach us
 *   state_dir = "/var/lib/elastic-serve/registry"
 *   auth = "munge"                   # munge | token:PATH | none (loopback)
 *   munge_socket = "/run/munge/munge.socket.2"  # munged's socket (default: libmunge's)
 *   allow_uids = [1001, "alice"]     # besides the registry's own uid
 *   log_level = "info"
 *   log_file = "/var/log/elastic-registry.log"
 *   check_worker_host = true         # a worker's URL must name its caller
 *                                    # (registry/reg_peer.h)
 *
 *   [health]
 *   heartbeat_interval = "1s"
 *   heartbeat_timeout = "3s"
 *   keep_gone = "10m"                # how long `ls --all` shows gone workers
 *
 *   [acquirer]
 *   max_pending = 4                  # per pool
 *   poll_interval = "5s"             # squeue
 *   backoff_min = "5s"               # after a failed sbatch, doubling
 *   backoff_max = "5m"
 *   drain_timeout = "2m"             # cancel a draining job after this
 *   job_script = "/usr/local/share/elastic-serve/elastic-job.sh"
 *   output_dir = ""                  # job output files; default STATE_DIR/jobs
 *
 *   [slurm]
 *   sbatch = "sbatch"                # commands (PATH lookup) or paths
 *   squeue = "squeue"
 *   scancel = "scancel"
 *   sacct = "sacct"                  # "" to never call sacct
 *   timeout = "30s"                  # a command running longer is killed
 *
 *   [routing]
 *   policy = "cache_aware"           # default for pools that do not say
 *
 *   [proxy] and the other [routing] keys: see proxy_config.h
 */
#ifndef ES_REG_CONFIG_H
#define ES_REG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "model.h"
#include "proxy_config.h"

#define REG_DEFAULT_PORT 8780

struct reg_config {
	char *listen_host;           /* NULL: every address */
	int listen_port;             /* 0: an ephemeral port (tests) */
	char *advertise_url;         /* NULL: derived from listen and hostname */
	char *state_dir;             /* pools, jobs, state.json, api_key */
	char *auth;                  /* "munge", "token:PATH" or "none" */
	char *munge_socket;          /* NULL: libmunge's default socket */
	uid_t *allow_uids;           /* uids allowed besides our own */
	size_t nallow_uids;
	char *log_level;             /* NULL: info */
	char *log_file;              /* NULL: stderr */
	bool check_worker_host;      /* registrations must name the caller's
					host (reg_peer.h); default true */
	/* [health] */
	int64_t heartbeat_ms;        /* interval agents are told to use */
	int64_t heartbeat_timeout_ms;/* evicted after this without heartbeat */
	int64_t keep_gone_ms;        /* gone workers kept for display */
	/* [acquirer] */
	int max_pending;             /* submitting + pending jobs per pool */
	int64_t poll_ms;             /* squeue interval */
	int64_t backoff_min_ms;      /* first backoff after a failed sbatch */
	int64_t backoff_max_ms;      /* longest backoff */
	int64_t drain_timeout_ms;    /* draining job cancelled after this */
	char *job_script;            /* the batch script submitted */
	char *output_dir;            /* NULL: STATE_DIR/jobs */
	/* [slurm] */
	char *sbatch, *squeue, *scancel, *sacct; /* sacct "" or NULL: unused */
	int64_t command_timeout_ms;  /* SLURM commands killed after this */
	/* [routing] */
	enum model_policy policy;    /* default routing policy */
	/* [proxy], and [routing]'s other keys */
	struct proxy_config proxy;
};

/* Fills CFG with the defaults (state_dir and job_script depend on the
 * user and the program's location: see reg_config_finish). */
void reg_config_init(struct reg_config *cfg);
void reg_config_free(struct reg_config *cfg);

/* Reads a config file over CFG. Every problem is appended to ERRS as
 * "FILE:LINE:COL: message\n". Returns 0, or -1. */
int reg_config_parse(struct reg_config *cfg, const char *src, size_t len, const char *filename,
		     struct buf *errs);
int reg_config_load(struct reg_config *cfg, const char *path, struct buf *errs);

/* Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" into CFG's listen
 * fields. Returns 0, or -1 with ERR. */
int reg_config_set_listen(struct reg_config *cfg, const char *spec, char *err, size_t errlen);
/* Adds a uid given as a number or a user name. Returns 0, or -1 with ERR. */
int reg_config_add_uid(struct reg_config *cfg, const char *spec, char *err, size_t errlen);

/* Fills what is still unset (state_dir, job_script, output_dir) from
 * the environment and EXE_DIR (the directory of the running program), and
 * checks the whole: timeout longer than the interval, `none` only on
 * loopback... Returns 0, or -1 with ERR. */
int reg_config_finish(struct reg_config *cfg, const char *exe_dir, char *err, size_t errlen);

/* Whether HOST is a loopback address (127.0.0.0/8, ::1, "localhost"). */
int reg_config_is_loopback(const char *host);

#endif
