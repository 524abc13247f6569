/* reg_auth.h — who may call what on the registry (registry/API.md).
 *
 *   open       GET /metrics, GET /health, /v1/... (the OpenAI side takes
 *              API keys, not control credentials)
 *   jobs_ended POST /api/v1/jobs/ended: root, besides the control users
 *   control    every other /api/ request: the registry's own uid and the
 *              uids in allow_uids
 *
 * Credentials are checked by lib/auth (auth_check); this module only
 * decides, given who the sender is.
 */
#ifndef ES_REG_AUTH_H
#define ES_REG_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth.h"

enum reg_access {
	REG_ACCESS_OPEN,
	REG_ACCESS_JOBS_ENDED,
	REG_ACCESS_CONTROL,
};

/* The access class of a request. */
enum reg_access reg_auth_class(const char *method, const char *path);

/* Whether WHO may make a request of class NEED to a registry running as
 * SELF that also allows the NALLOW uids of ALLOW. */
bool reg_auth_allowed(const struct auth_who *who, enum reg_access need, uid_t self,
		      const uid_t *allow, size_t nallow);

/* Parses an auth spec ("munge", "token:PATH", "none") into MODE and, for
 * a token, *PATH (pointing into SPEC). Returns 0, or -1 with ERR. */
int reg_auth_parse(const char *spec, enum auth_mode *mode, const char **path, char *err,
		   size_t errlen);

#endif
