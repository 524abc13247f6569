/* es_reason.c — see es_reason.h. */
#include "es_reason.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

long es_slurm_duration(const char *s)
{
	long d = 0, f[3] = {0, 0, 0};
	int nf = 0;
	const char *p = s;
	if (!s || !*s)
		return -1;
	const char *dash = strchr(s, '-');
	if (dash) {
		char *end;
		d = strtol(s, &end, 10);
		if (end != dash || d < 0)
			return -1;
		p = dash + 1;
	}
	while (*p && nf < 3) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		f[nf++] = strtol(p, &end, 10);
		if (*end == ':')
			p = end + 1;
		else if (*end == '\0')
			p = end;
		else
			return -1;
	}
	if (*p || nf == 0)
		return -1;
	long t;
	if (nf == 3)
		t = f[0] * 3600 + f[1] * 60 + f[2];
	else if (nf == 2)
		t = dash ? f[0] * 3600 + f[1] * 60 : f[0] * 60 + f[1];
	else
		t = dash ? f[0] * 3600 : f[0] * 60;
	return d * 86400 + t;
}

/* Copies the value of KEY= from the space-separated TEXT into OUT. */
static bool field(const char *text, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strstr(p, key)); p += kl) {
		if ((p != text && p[-1] != ' ' && p[-1] != '\t') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t n = strcspn(v, " \t\n");
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

int es_jobinfo_parse(const char *text, struct es_jobinfo *info)
{
	char v[64];
	memset(info, 0, sizeof *info);
	info->run_s = info->limit_s = -1;
	if (!text || !field(text, "JobId", v, sizeof v) ||
	    !field(text, "JobState", info->state, sizeof info->state))
		return -1;
	field(text, "Reason", info->reason, sizeof info->reason);
	if (field(text, "Restarts", v, sizeof v))
		info->restarts = strtol(v, NULL, 10);
	if (field(text, "RunTime", v, sizeof v))
		info->run_s = es_slurm_duration(v);
	if (field(text, "TimeLimit", v, sizeof v))
		info->limit_s = es_slurm_duration(v);
	if (field(text, "PreemptTime", v, sizeof v))
		info->preempt_time = strcmp(v, "None") && strcmp(v, "Unknown") && *v;
	info->ok = true;
	return 0;
}

void es_status_split(int status, int *exit_code, int *sig)
{
	*exit_code = -1;
	*sig = 0;
	if (status < 0)
		return;
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		*exit_code = 128 + *sig;
	} else if (WIFEXITED(status)) {
		*exit_code = WEXITSTATUS(status);
		/* A shell or elastic-agent --wait reports a signal as 128+N. */
		if (*exit_code > 128 && *exit_code < 128 + 65)
			*sig = *exit_code - 128;
	}
}

const char *es_reason_decide(const struct es_jobinfo *info, int status, long start_restarts)
{
	if (info && info->ok) {
		if (info->restarts > start_restarts || info->preempt_time ||
		    !strcmp(info->state, "PREEMPTED"))
			return "preempted";
		if (!strcmp(info->state, "TIMEOUT") || !strcmp(info->reason, "TimeLimit") ||
		    (info->limit_s > 0 && info->run_s >= info->limit_s))
			return "timeout";
		if (!strcmp(info->state, "CANCELLED"))
			return "cancelled";
		if (!strcmp(info->state, "NODE_FAIL"))
			return "node_fail";
	}
	int code, sig;
	es_status_split(status, &code, &sig);
	if (code == 0)
		return "completed";
	if (sig)
		return info && info->ok ? "cancelled" : "unknown";
	if (code < 0)
		return "unknown";
	return "failed";
}
