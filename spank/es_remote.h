/* es_remote.h — the compute side of a job: what a step serves.
 *
 * From the carried configuration and the job's GPUs, es_plan_make() cuts
 * the slices (lib/gpu), picks and reserves one port per slice (es_ports)
 * and writes the URLs the job script will see. es_agent_argv() builds the
 * command line of elastic-agent from the plan: an argv array, never a shell.
 *
 * Workers spanning K = parallel.nodes_per_worker > 1 nodes make two plans:
 *   - ES_PLAN_HUB, the batch step: nothing runs on its GPUs directly; it
 *     checks that K divides the job's nodes and that this node has tp / K
 *     GPUs (what sbatch could not tell is caught here, before anything
 *     starts), and the agent is started as the hub (--hub);
 *   - ES_PLAN_RANK, the node agents' step (srun, ELASTIC_SERVE_RANKS in its
 *     environment), on every node: one slice of all the node's GPUs (tp / K
 *     of them), its port and a rendezvous port for rank 0 (the master
 *     port of vLLM, SGLang's dist-init port, the Ray head's port, the
 *     simulator's), both reserved host-wide like every engine port. The
 *     master port is BASE + 128 + the id of the node's first GPU (then +256
 *     steps), never an engine port while GPU ids stay below 128.
 */
#ifndef ES_REMOTE_H
#define ES_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "es_ports.h"
#include "gpu.h"

struct es_opts;

enum es_plan_kind {
	ES_PLAN_SLICES, /* one engine per slice of tp GPUs (nodes_per_worker 1) */
	ES_PLAN_HUB,    /* batch step of a multi-node job: the hub, no engine */
	ES_PLAN_RANK,   /* node agents' step: one rank on every GPU of the node */
};

/* Offset of the rendezvous ports from port_base. */
#define ES_MASTER_OFFSET 128

struct es_plan {
	enum es_plan_kind kind;
	int nodes_per_worker;          /* parallel.nodes_per_worker (K) */
	int nnodes;                    /* the job's nodes (ES_PLAN_HUB) */
	struct es_port_lock master;    /* ES_PLAN_RANK: the rendezvous port */
	struct gpu_plan gpus;          /* slices of CUDA_VISIBLE_DEVICES */
	struct es_port_lock *ports;    /* one per slice */
	size_t nslices;
	int tp;                        /* GPUs per slice (per rank: tp / K) */
	char host[256];                /* advertised in URLs: this node's name */
	char name[160];                /* model name */
	int64_t drain_ms;              /* the model's drain_timeout */
	struct buf urls;               /* http://HOST:PORT,... in slice order */
};

/* Inputs of a plan, read from the job's environment. */
struct es_plan_in {
	const char *config;      /* carried model.toml text */
	const char *cuda;        /* CUDA_VISIBLE_DEVICES */
	const char *job_gpus;    /* SLURM_JOB_GPUS (or SLURM_STEP_GPUS); may be NULL */
	const char *host;        /* this node's host name */
	int ranks_step;          /* 1: the node agents' step (ES_PLAN_RANK) */
	int nnodes;              /* the job's nodes (SLURM_JOB_NUM_NODES), 0 unknown */
};

/* Makes the plan. Returns 0, or -1 with ERR (an invalid carried config, no
 * GPUs, GPUs not divisible by tp, no free port; for a multi-node model: a
 * node count K does not divide, a number of GPUs other than tp / K).
 * Release with es_plan_free. */
int es_plan_make(const struct es_plan_in *in, const struct es_opts *o, struct es_plan *p,
		 char *err, size_t errlen);

/* Releases the port reservations and memory. */
void es_plan_free(struct es_plan *p);

/* Everything elastic-agent is told on its command line. */
struct es_agent_args {
	const char *agent;       /* path of elastic-agent */
	const char *config_env;  /* variable holding the config text */
	const char *registry;    /* "" or NULL: none */
	const char *auth;        /* munge|token:PATH|none */
	const char *job_id;      /* "1234" or "1234_7" */
	const char *node;        /* SLURMD_NODENAME */
	const char *log_dir;     /* where the logs go */
	const char *status;      /* the status file */
};

/* Builds the argv (NULL-terminated, each string malloc'ed; free with
 * es_argv_free). */
char **es_agent_argv(const struct es_plan *p, const struct es_agent_args *a);
void es_argv_free(char **argv);

/* The job id as the registry knows it: "JOB" or "ARRAYJOB_TASK". */
void es_job_id_str(unsigned job, unsigned array_job, unsigned array_task, char *out,
		   size_t outlen);

#endif
