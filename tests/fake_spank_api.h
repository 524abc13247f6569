/* fake_spank_api.h — spank/spank_api.h without Slurm, for the unit tests.
 *
 * One global fake: the tests set its context, step, ids and environments,
 * call the plugin's callbacks (es_plugin.h) with FAKE_SP as the handle,
 * and look at what the plugin left: the job environment, the job control
 * environment, the registered option and every message.
 */
#ifndef ES_FAKE_SPANK_API_H
#define ES_FAKE_SPANK_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "spank_api.h"

struct fake_spank {
	enum es_ctx ctx;       /* what es_spank_context() returns */
	char **env;            /* the job environment, NULL-terminated */
	char **ctl;            /* the job control environment */
	uint32_t job, step, array_job, array_task, restarts;
	uid_t uid;
	gid_t gid;
	int exit_status;       /* for task_exit */
	bool registered;       /* the option was registered */
	int fail_ctl_setenv;   /* make job_control_setenv fail */
	struct buf log;        /* "error: elastic_serve: ...\n" lines */
};

extern struct fake_spank fake_spank;
#define FAKE_SP ((struct spank_handle *)&fake_spank)

/* Empties the fake: context ALLOCATOR, batch step, job 42, uid = getuid(). */
void fake_spank_reset(void);
void fake_spank_free(void);
void fake_env_set(char ***env, const char *name, const char *value);
const char *fake_env_get(char **env, const char *name);

#endif
