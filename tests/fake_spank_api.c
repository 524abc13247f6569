/* fake_spank_api.c — see fake_spank_api.h. */
#include "fake_spank_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake_spank fake_spank;

static void env_free(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

void fake_spank_free(void)
{
	env_free(fake_spank.env);
	env_free(fake_spank.ctl);
	buf_free(&fake_spank.log);
	memset(&fake_spank, 0, sizeof fake_spank);
}

void fake_spank_reset(void)
{
	fake_spank_free();
	fake_spank.ctx = ES_CTX_ALLOCATOR;
	fake_spank.job = 42;
	fake_spank.step = ES_BATCH_STEP;
	fake_spank.array_task = 0xfffffffeu;
	fake_spank.uid = getuid();
	fake_spank.gid = getgid();
	fake_spank.exit_status = 0;
}

const char *fake_env_get(char **env, const char *name)
{
	size_t n = strlen(name);
	for (char **e = env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

void fake_env_set(char ***envp, const char *name, const char *value)
{
	size_t n = strlen(name), count = 0;
	char **env = *envp;
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s=%s", name, value);
	for (; env && env[count]; count++) {
		if (strncmp(env[count], name, n) == 0 && env[count][n] == '=') {
			free(env[count]);
			env[count] = buf_steal(&b);
			return;
		}
	}
	env = realloc(env, (count + 2) * sizeof *env);
	env[count] = buf_steal(&b);
	env[count + 1] = NULL;
	*envp = env;
}

static void env_unset(char **env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=') {
			free(env[i]);
			for (size_t j = i; env[j]; j++)
				env[j] = env[j + 1];
			return;
		}
	}
}

int es_spank_register_option(struct spank_handle *sp)
{
	(void)sp;
	fake_spank.registered = true;
	return 0;
}

enum es_ctx es_spank_context(void)
{
	return fake_spank.ctx;
}

int es_spank_remote(struct spank_handle *sp)
{
	(void)sp;
	return fake_spank.ctx == ES_CTX_REMOTE;
}

int es_spank_getenv(struct spank_handle *sp, const char *name, char *buf, size_t len)
{
	(void)sp;
	const char *v = fake_env_get(fake_spank.env, name);
	if (!v)
		return -1;
	if (strlen(v) >= len)
		return -2;
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

int es_spank_setenv(struct spank_handle *sp, const char *name, const char *value)
{
	(void)sp;
	fake_env_set(&fake_spank.env, name, value);
	return 0;
}

int es_spank_unsetenv(struct spank_handle *sp, const char *name)
{
	(void)sp;
	env_unset(fake_spank.env, name);
	return 0;
}

int es_spank_job_env(struct spank_handle *sp, char ***env)
{
	(void)sp;
	*env = fake_spank.env;
	return 0;
}

int es_spank_job_control_setenv(struct spank_handle *sp, const char *name, const char *value)
{
	(void)sp;
	if (fake_spank.fail_ctl_setenv)
		return -1;
	fake_env_set(&fake_spank.ctl, name, value);
	return 0;
}

int es_spank_job_id(struct spank_handle *sp, uint32_t *id)
{
	(void)sp;
	*id = fake_spank.job;
	return 0;
}

int es_spank_step_id(struct spank_handle *sp, uint32_t *id)
{
	(void)sp;
	*id = fake_spank.step;
	return 0;
}

int es_spank_array(struct spank_handle *sp, uint32_t *array_job, uint32_t *task)
{
	(void)sp;
	*array_job = fake_spank.array_job;
	*task = fake_spank.array_task;
	return 0;
}

int es_spank_uid(struct spank_handle *sp, uid_t *uid)
{
	(void)sp;
	*uid = fake_spank.uid;
	return 0;
}

int es_spank_gid(struct spank_handle *sp, gid_t *gid)
{
	(void)sp;
	*gid = fake_spank.gid;
	return 0;
}

int es_spank_restart_count(struct spank_handle *sp, uint32_t *count)
{
	(void)sp;
	*count = fake_spank.restarts;
	return 0;
}

int es_spank_task_exit_status(struct spank_handle *sp, int *status)
{
	(void)sp;
	*status = fake_spank.exit_status;
	return 0;
}

static void fake_log(const char *level, const char *fmt, va_list ap)
{
	buf_printf(&fake_spank.log, "%s: elastic_serve: ", level);
	char msg[4096];
	vsnprintf(msg, sizeof msg, fmt, ap);
	buf_puts(&fake_spank.log, msg);
	buf_putc(&fake_spank.log, '\n');
}

void es_log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fake_log("error", fmt, ap);
	va_end(ap);
}

void es_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fake_log("info", fmt, ap);
	va_end(ap);
}

void es_log_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fake_log("debug", fmt, ap);
	va_end(ap);
}
