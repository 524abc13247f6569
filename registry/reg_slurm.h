/* reg_slurm.h — the SLURM commands the acquirer runs, and their output.
 *
 * Pure functions: argv arrays for sbatch, squeue, scancel and sacct, and
 * parsers for what they print. Running them is reg_proc's business and
 * deciding reg_acquirer's.
 *
 * Jobs are recognised by their comment, "elastic-serve:INSTANCE:POOL",
 * where INSTANCE identifies this registry (its state directory), and named
 * "es-POOL". squeue is asked for the registry user's jobs in every state,
 * with times as Unix seconds (SLURM_TIME_FORMAT=%s):
 *
 *   squeue -h -t all -u UID -o %i|%T|%r|%N|%V|%S|%e|%k
 */
#ifndef ES_REG_SLURM_H
#define ES_REG_SLURM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "reg_config.h"
#include "reg_pools.h"

#define REG_COMMENT_PREFIX "elastic-serve:"

/* A NULL-terminated argv being built. */
struct reg_argv {
	char **v;      /* the arguments, each malloc'd, then NULL */
	size_t n, cap; /* arguments so far, room allocated */
};

void reg_argv_add(struct reg_argv *a, const char *s);
void reg_argv_addf(struct reg_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reg_argv_free(struct reg_argv *a);

/* sbatch --parsable --elastic-serve=CONFIG_PATH --job-name=es-POOL
 * --comment=elastic-serve:INSTANCE:POOL --output=OUTPUT_DIR/es-%j.out
 * --open-mode=append [--partition= --qos= --account= --time=] --nodes=N [--gres=gpu:G]
 * [extra_args...] JOB_SCRIPT */
void reg_slurm_sbatch_argv(const struct reg_config *cfg, const struct reg_pool *pool,
			   const char *config_path, const char *instance, struct reg_argv *out);
void reg_slurm_squeue_argv(const struct reg_config *cfg, uid_t uid, const char *job_id,
			   struct reg_argv *out);
void reg_slurm_scancel_argv(const struct reg_config *cfg, const char *job_id,
			    struct reg_argv *out);
void reg_slurm_sacct_argv(const struct reg_config *cfg, const char *job_id,
			  struct reg_argv *out);

/* The environment squeue and sacct run with (times as Unix seconds). */
extern char *const reg_slurm_env[];

/* Parses sbatch --parsable output ("1234" or "1234;cluster"). Returns 0
 * with the id in ID, or -1. */
int reg_slurm_parse_sbatch(const char *out, char *id, size_t idlen);

/* One job of ours from squeue. */
struct reg_sq_job {
	char id[REG_JOB_ID_MAX];   /* job id, "1234" or "1234_7" */
	char state[24];            /* RUNNING, PENDING, ... (without "by UID") */
	char reason[64];           /* why it is pending ("None" when running) */
	char nodes[256];           /* its nodes, SLURM's list form; "" pending */
	char pool[130];            /* from the comment */
	double submit, start, end; /* submitted, started, time limit's end
				      (Unix s, 0 unknown) */
};

/* Parses squeue output in the format above, keeping the jobs whose
 * comment carries INSTANCE (all when INSTANCE is NULL: then POOL is
 * whatever the comment says, or ""). *JOBS is malloc'd. Lines that do not
 * parse are skipped and counted in *BAD. Returns the number of jobs. */
size_t reg_slurm_parse_squeue(const char *out, const char *instance, struct reg_sq_job **jobs,
			      size_t *bad);

/* Parses `sacct -n -P -X -o JobID,State` for JOB_ID: the state word
 * ("CANCELLED" from "CANCELLED by 0"). Returns 0, or -1 when absent. */
int reg_slurm_parse_sacct(const char *out, const char *job_id, char *state, size_t len);

/* How the registry tracks a job in SLURM state STATE. */
enum reg_jstate reg_slurm_jstate(const char *state);

/* Why a job in a final STATE ended, in the plugin's vocabulary:
 * preempted, cancelled, timeout, completed, failed, node_fail, unknown. */
const char *reg_slurm_end_reason(const char *state);

/* The instance id of a registry whose state directory is STATE_DIR: 12
 * hex digits of SHA-256(uid ":" STATE_DIR). */
void reg_slurm_instance(const char *state_dir, uid_t uid, char out[13]);

#endif
