/* spank_api.c — spank_api.h over libslurm's SPANK calls. Nothing else of
 * the plugin includes slurm/spank.h. */
#include "spank_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <slurm/spank.h>

#include "es_plugin.h"

static struct spank_option es_option = {
	ES_OPTION_NAME, ES_OPTION_ARG, ES_OPTION_USAGE, 1, 0, es_option_cb,
};

int es_spank_register_option(struct spank_handle *sp)
{
	return spank_option_register(sp, &es_option) == ESPANK_SUCCESS ? 0 : -1;
}

enum es_ctx es_spank_context(void)
{
	switch (spank_context()) {
	case S_CTX_LOCAL: return ES_CTX_LOCAL;
	case S_CTX_REMOTE: return ES_CTX_REMOTE;
	case S_CTX_ALLOCATOR: return ES_CTX_ALLOCATOR;
	case S_CTX_SLURMD: return ES_CTX_SLURMD;
	case S_CTX_JOB_SCRIPT: return ES_CTX_JOB_SCRIPT;
	default: return ES_CTX_ERROR;
	}
}

int es_spank_remote(struct spank_handle *sp)
{
	return spank_remote(sp);
}

int es_spank_getenv(struct spank_handle *sp, const char *name, char *buf, size_t len)
{
	spank_err_t e = spank_getenv(sp, name, buf, (int)len);
	if (e == ESPANK_SUCCESS)
		return 0;
	return e == ESPANK_ENV_NOEXIST ? -1 : -2;
}

int es_spank_setenv(struct spank_handle *sp, const char *name, const char *value)
{
	return spank_setenv(sp, name, value, 1) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_unsetenv(struct spank_handle *sp, const char *name)
{
	return spank_unsetenv(sp, name) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_job_env(struct spank_handle *sp, char ***env)
{
	return spank_get_item(sp, S_JOB_ENV, env) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_job_control_setenv(struct spank_handle *sp, const char *name, const char *value)
{
	return spank_job_control_setenv(sp, name, value, 1) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_job_id(struct spank_handle *sp, uint32_t *id)
{
	return spank_get_item(sp, S_JOB_ID, id) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_step_id(struct spank_handle *sp, uint32_t *id)
{
	return spank_get_item(sp, S_JOB_STEPID, id) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_array(struct spank_handle *sp, uint32_t *array_job, uint32_t *task)
{
	if (spank_get_item(sp, S_JOB_ARRAY_ID, array_job) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_ARRAY_TASK_ID, task) != ESPANK_SUCCESS) {
		*array_job = 0;
		*task = 0;
		return -1;
	}
	return 0;
}

int es_spank_uid(struct spank_handle *sp, uid_t *uid)
{
	return spank_get_item(sp, S_JOB_UID, uid) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_gid(struct spank_handle *sp, gid_t *gid)
{
	return spank_get_item(sp, S_JOB_GID, gid) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_restart_count(struct spank_handle *sp, uint32_t *count)
{
	return spank_get_item(sp, S_SLURM_RESTART_COUNT, count) == ESPANK_SUCCESS ? 0 : -1;
}

int es_spank_task_exit_status(struct spank_handle *sp, int *status)
{
	return spank_get_item(sp, S_TASK_EXIT_STATUS, status) == ESPANK_SUCCESS ? 0 : -1;
}

static void es_vlog(void (*fn)(const char *, ...), const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fn("elastic_serve: %s", msg);
}

void es_log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	es_vlog(slurm_error, fmt, ap);
	va_end(ap);
}

void es_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	es_vlog(slurm_info, fmt, ap);
	va_end(ap);
}

void es_log_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	es_vlog(slurm_debug, fmt, ap);
	va_end(ap);
}
