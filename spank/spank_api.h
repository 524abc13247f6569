/* spank_api.h — the plugin's only way to SPANK and to Slurm's log.
 *
 * A thin wrapper over libslurm's spank_* calls (spank/spank_api.c). The
 * plugin's logic (spank/es_*.c) includes this header and never spank.h, so
 * the unit tests link tests/fake_spank_api.c instead and drive the plugin
 * through every context without slurmd.
 *
 * Every function takes the SPANK handle as an opaque pointer. Getters
 * return 0 on success and -1 when the item is not available (wrong context,
 * unset variable, buffer too small: BUF is then untouched or truncated).
 */
#ifndef ES_SPANK_API_H
#define ES_SPANK_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spank_handle;

/* Where the plugin runs (spank_context()). */
enum es_ctx {
	ES_CTX_ERROR,
	ES_CTX_LOCAL,     /* srun */
	ES_CTX_REMOTE,    /* slurmstepd */
	ES_CTX_ALLOCATOR, /* sbatch, salloc */
	ES_CTX_SLURMD,
	ES_CTX_JOB_SCRIPT, /* prolog, epilog */
};

/* The step id of a batch script (SLURM_BATCH_SCRIPT). */
#define ES_BATCH_STEP 0xfffffffbu

/* The option the plugin registers (--elastic-serve=FILE). Its callback
 * is es_option_cb() of es_plugin.h. */
int es_spank_register_option(struct spank_handle *sp);

enum es_ctx es_spank_context(void);
/* Whether the handle is remote (slurmstepd). */
int es_spank_remote(struct spank_handle *sp);

/* The job's environment (the batch script's). */
int es_spank_getenv(struct spank_handle *sp, const char *name, char *buf, size_t len);
int es_spank_setenv(struct spank_handle *sp, const char *name, const char *value);
int es_spank_unsetenv(struct spank_handle *sp, const char *name);
/* The job's environment as an array (NULL-terminated; owned by Slurm). */
int es_spank_job_env(struct spank_handle *sp, char ***env);

/* The job control environment (allocator and local contexts): it travels
 * with the job in its record and reaches the batch step as SLURM_SPANK_NAME. */
int es_spank_job_control_setenv(struct spank_handle *sp, const char *name,
				const char *value);

int es_spank_job_id(struct spank_handle *sp, uint32_t *id);
int es_spank_step_id(struct spank_handle *sp, uint32_t *id);
/* 0 / 0 when the job is not an array task. */
int es_spank_array(struct spank_handle *sp, uint32_t *array_job, uint32_t *task);
int es_spank_uid(struct spank_handle *sp, uid_t *uid);
int es_spank_gid(struct spank_handle *sp, gid_t *gid);
int es_spank_restart_count(struct spank_handle *sp, uint32_t *count);
/* The wait status of the task (task_exit only). */
int es_spank_task_exit_status(struct spank_handle *sp, int *status);

/* Messages, each prefixed "elastic_serve: " by the wrapper. Errors reach
 * the user (sbatch's stderr, the job's output); info reaches the user in
 * local contexts and slurmd's log in remote ones. */
void es_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void es_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void es_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
