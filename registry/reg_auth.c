/* reg_auth.c — see reg_auth.h. */
#include "reg_auth.h"

#include <stdio.h>
#include <string.h>

enum reg_access reg_auth_class(const char *method, const char *path)
{
	if (strncmp(path, "/api/", 5) != 0)
		return REG_ACCESS_OPEN;
	if (strcmp(method, "POST") == 0 && strcmp(path, "/api/v1/jobs/ended") == 0)
		return REG_ACCESS_JOBS_ENDED;
	return REG_ACCESS_CONTROL;
}

bool reg_auth_allowed(const struct auth_who *who, enum reg_access need, uid_t self,
		      const uid_t *allow, size_t nallow)
{
	if (need == REG_ACCESS_OPEN)
		return true;
	if (who->uid == self)
		return true;
	for (size_t i = 0; i < nallow; i++)
		if (allow[i] == who->uid)
			return true;
	return need == REG_ACCESS_JOBS_ENDED && who->uid == 0;
}

int reg_auth_parse(const char *spec, enum auth_mode *mode, const char **path, char *err,
		   size_t errlen)
{
	*path = NULL;
	if (strcmp(spec, "munge") == 0) {
		*mode = AUTH_MUNGE;
	} else if (strcmp(spec, "none") == 0) {
		*mode = AUTH_NONE;
	} else if (strncmp(spec, "token:", 6) == 0 && spec[6]) {
		*mode = AUTH_TOKEN;
		*path = spec + 6;
	} else {
		snprintf(err, errlen, "unknown auth '%s'; expected munge, token:PATH or none", spec);
		return -1;
	}
	return 0;
}
