/* model.h — model.toml: the contract between every component.
 *
 * A model.toml names a model, the engine that serves it, how its GPUs are
 * split, how the acquirer submits jobs for it and how the proxy routes to it.
 * model_parse() reads and validates the whole file strictly: types, ranges,
 * durations, engine kinds, command placeholders, unknown sections and keys
 * (with a "did you mean" suggestion). Every problem found becomes one line
 * `FILE:LINE:COL: message` in the caller's error buffer; parsing goes on
 * after an error so that a user sees all of them at once.
 *
 * model_dump() writes the resolved configuration (defaults filled in) as
 * TOML that model_parse() accepts again: the plugin carries that text with
 * the job, the registry stores it with a pool, `elasticctl validate` prints it.
 * Every field is documented for users in elastic-serve.toml(5).
 */
#ifndef ES_MODEL_H
#define ES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The largest model.toml accepted, in bytes (it travels in the job's
 * environment). */
#define MODEL_MAX_BYTES (64 * 1024)

enum model_engine {
	MODEL_ENGINE_VLLM,    /* vllm serve PATH ... */
	MODEL_ENGINE_SGLANG,  /* python3 -m sglang.launch_server ... */
	MODEL_ENGINE_SIM,     /* elastic-sim, the simulator */
	MODEL_ENGINE_COMMAND, /* [engine].command, placeholders substituted */
};

/* How a worker spanning several nodes forms its process group (vLLM only). */
enum model_backend {
	MODEL_BACKEND_MP,  /* vLLM's multiprocessing + --nnodes/--node-rank */
	MODEL_BACKEND_RAY, /* a Ray cluster over the worker's nodes */
};

enum model_policy {
	MODEL_POLICY_CACHE_AWARE, /* prompt-prefix affinity, load-bounded (default) */
	MODEL_POLICY_ROUND_ROBIN,
	MODEL_POLICY_LEAST_LOAD,
	MODEL_POLICY_SESSION,     /* X-Session-ID header or the "user" field */
};

/* One environment variable for the engine. */
struct model_env {
	char *name;  /* a valid variable name, not CUDA_VISIBLE_DEVICES */
	char *value;
};

struct model_config {
	/* [model] */
	char *path;                 /* what the engine loads: HF id or local path */
	char *name;                 /* the model id clients send; default: the
				       last part of path */
	/* [engine] */
	enum model_engine engine;   /* kind */
	char **args;                /* appended to the engine's argv as given */
	size_t nargs;
	struct model_env *env;      /* added to the engine's environment */
	size_t nenv;
	char **command;             /* kind = "command": the argv template */
	size_t ncommand;
	char *health_path;          /* readiness probe path; default "/health" */
	int64_t startup_timeout_ms; /* engine must be ready within this (20m) */
	int64_t drain_timeout_ms;   /* in-flight grace after SIGTERM (20s) */
	int64_t hang_timeout_ms;    /* a ready engine that answers nothing for
				       this long is killed and restarted (60s);
				       0: never */

	/* [parallel] */
	int tp;                     /* GPUs per engine instance, across its nodes */
	int nodes_per_worker;       /* nodes one engine spans (1) */
	int ep;                     /* expert-parallel size (1) */
	enum model_backend backend; /* multi-node vLLM: "mp" (default) or "ray" */

	/* [slurm]: how the acquirer submits jobs for this model */
	char *partition;            /* NULL: the cluster's default */
	char *qos;                  /* NULL: none */
	char *account;              /* NULL: none */
	char *time;                 /* time limit as written, NULL: partition's */
	int64_t time_limit_s;       /* the same in seconds; 0 when unset */
	int gpus_per_node;          /* GPUs to request per node (8) */
	int nodes;                  /* nodes per job (nodes_per_worker) */
	char **extra_args;          /* more sbatch arguments, as given */
	size_t nextra_args;

	/* [scale] */
	int min_nodes;              /* floor for `elasticctl scale` (0) */
	int max_nodes;              /* ceiling (1) */
	int target_nodes;           /* initial target (max_nodes) */
	int64_t renew_before_ms;    /* replace a job this long before its time
				       limit (10m) */

	/* [registry] */
	char *registry_url;         /* NULL: from plugstack.conf or environment */

	/* [routing] */
	enum model_policy policy;   /* default cache_aware */
	int migrate;                /* stream migration: 1 on, 0 off, -1 not
				       set (the registry's [routing] migrate) */
};

/* Parses and validates LEN bytes of SRC. FILENAME is used in messages only.
 * On success returns 0 and sets *OUT (free with model_free()). On failure
 * returns -1, leaves *OUT NULL and appends one line per problem to ERRS:
 * "FILENAME:LINE:COL: message\n". */
int model_parse(const char *src, size_t len, const char *filename,
		struct model_config **out, struct buf *errs);

/* Reads PATH (at most MODEL_MAX_BYTES) and parses it as model_parse() does;
 * an unreadable or oversized file is one error line "PATH: message". */
int model_load(const char *path, struct model_config **out, struct buf *errs);

/* Appends the resolved configuration as TOML, every field written. */
void model_dump(const struct model_config *cfg, struct buf *out);

void model_free(struct model_config *cfg);

/* GPUs that each rank of a worker uses on its node: tp / nodes_per_worker. */
int model_gpus_per_rank(const struct model_config *cfg);

/* Names used in files and messages: "vllm", "round_robin", ... */
const char *model_engine_name(enum model_engine e);
const char *model_policy_name(enum model_policy p);
/* Parses a policy name; returns 0, or -1 if unknown. */
int model_policy_parse(const char *s, enum model_policy *out);

/* Parses a SLURM time limit ("30", "30:00", "24:00:00", "1-12",
 * "1-12:30", "1-12:30:00") into seconds. Returns 0, or -1 with ERR. */
int model_parse_slurm_time(const char *s, int64_t *secs, char *err, size_t errlen);

/* Checks that S is usable as a model id (and a pool name): 1 to 128
 * characters of letters, digits and ._:/@+-, not starting with a separator,
 * without "..". Returns 0, or -1 with ERR saying why. */
int model_check_name(const char *s, char *err, size_t errlen);

#endif
