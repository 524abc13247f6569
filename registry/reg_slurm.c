/* reg_slurm.c — see reg_slurm.h. */
#include "reg_slurm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg_util.h"
#include "sha256.h"

char *const reg_slurm_env[] = {"SLURM_TIME_FORMAT=%s", NULL};

void reg_argv_add(struct reg_argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, cap * sizeof *v);
		if (!v)
			abort();
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = reg_strdup(s);
	a->v[a->n] = NULL;
}

void reg_argv_addf(struct reg_argv *a, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	char tmp[512];
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof tmp) {
		reg_argv_add(a, tmp);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		abort();
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	reg_argv_add(a, big);
	free(big);
	buf_free(&b);
}

void reg_argv_free(struct reg_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof *a);
}

void reg_slurm_sbatch_argv(const struct reg_config *cfg, const struct reg_pool *pool,
			   const char *config_path, const char *instance, struct reg_argv *out)
{
	const struct model_config *m = pool->cfg;
	reg_argv_add(out, cfg->sbatch);
	reg_argv_add(out, "--parsable");
	reg_argv_addf(out, "--elastic-serve=%s", config_path);
	reg_argv_addf(out, "--job-name=es-%s", pool->name);
	reg_argv_addf(out, "--comment=" REG_COMMENT_PREFIX "%s:%s", instance, pool->name);
	reg_argv_addf(out, "--output=%s/es-%%j.out", cfg->output_dir);
	reg_argv_add(out, "--open-mode=append"); /* a requeued run keeps the earlier output */
	if (m->partition)
		reg_argv_addf(out, "--partition=%s", m->partition);
	if (m->qos)
		reg_argv_addf(out, "--qos=%s", m->qos);
	if (m->account)
		reg_argv_addf(out, "--account=%s", m->account);
	if (m->time)
		reg_argv_addf(out, "--time=%s", m->time);
	reg_argv_addf(out, "--nodes=%d", m->nodes > 0 ? m->nodes : 1);
	if (m->gpus_per_node > 0)
		reg_argv_addf(out, "--gres=gpu:%d", m->gpus_per_node);
	for (size_t i = 0; i < m->nextra_args; i++)
		reg_argv_add(out, m->extra_args[i]);
	reg_argv_add(out, cfg->job_script);
}

void reg_slurm_squeue_argv(const struct reg_config *cfg, uid_t uid, const char *job_id,
			   struct reg_argv *out)
{
	reg_argv_add(out, cfg->squeue);
	reg_argv_add(out, "--noheader");
	reg_argv_add(out, "--states=all");
	if (job_id)
		reg_argv_addf(out, "--jobs=%s", job_id);
	else
		reg_argv_addf(out, "--user=%u", (unsigned)uid);
	reg_argv_add(out, "--format=%i|%T|%r|%N|%V|%S|%e|%k");
}

void reg_slurm_scancel_argv(const struct reg_config *cfg, const char *job_id,
			    struct reg_argv *out)
{
	reg_argv_add(out, cfg->scancel);
	reg_argv_add(out, job_id);
}

void reg_slurm_sacct_argv(const struct reg_config *cfg, const char *job_id,
			  struct reg_argv *out)
{
	reg_argv_add(out, cfg->sacct);
	reg_argv_add(out, "--noheader");
	reg_argv_add(out, "--parsable2");
	reg_argv_add(out, "--allocations");
	reg_argv_addf(out, "--jobs=%s", job_id);
	reg_argv_add(out, "--format=JobID,State");
}

static int valid_job_id(const char *s)
{
	if (!isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '_' && *s != '+')
			return 0;
	return 1;
}

int reg_slurm_parse_sbatch(const char *out, char *id, size_t idlen)
{
	/* The id is on the last non-empty line (sbatch may warn first). */
	const char *line = NULL, *p = out;
	while (*p) {
		const char *e = p + strcspn(p, "\n");
		if (e > p)
			line = p;
		p = *e ? e + 1 : e;
	}
	if (!line)
		return -1;
	size_t l = strcspn(line, ";\n\r");
	if (l == 0 || l >= idlen || l >= REG_JOB_ID_MAX)
		return -1;
	memcpy(id, line, l);
	id[l] = '\0';
	return valid_job_id(id) ? 0 : -1;
}

static double parse_time(const char *s)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return 0; /* N/A, Unknown, None */
	double v = strtod(s, &end);
	return *end ? 0 : v;
}

/* Splits LINE at '|' into at most MAX fields (the last keeps the rest). */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++) {
		if (*p == '|') {
			*p = '\0';
			f[n++] = p + 1;
		}
	}
	return n;
}

size_t reg_slurm_parse_squeue(const char *out, const char *instance, struct reg_sq_job **jobs,
			      size_t *bad)
{
	size_t n = 0, cap = 0;
	*jobs = NULL;
	*bad = 0;
	char prefix[64];
	snprintf(prefix, sizeof prefix, REG_COMMENT_PREFIX "%s:", instance ? instance : "");
	const char *p = out;
	while (*p) {
		size_t l = strcspn(p, "\n");
		char *line = strndup(p, l);
		if (!line)
			abort();
		p += l;
		if (*p)
			p++;
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l == 0) {
			free(line);
			continue;
		}
		char *f[8];
		if (split(line, f, 8) != 8 || !valid_job_id(f[0]) || strlen(f[0]) >= REG_JOB_ID_MAX) {
			(*bad)++;
			free(line);
			continue;
		}
		const char *pool = "";
		if (instance) {
			if (strncmp(f[7], prefix, strlen(prefix)) != 0) {
				free(line);
				continue;
			}
			pool = f[7] + strlen(prefix);
		} else if (strncmp(f[7], REG_COMMENT_PREFIX, strlen(REG_COMMENT_PREFIX)) == 0) {
			const char *c = strchr(f[7] + strlen(REG_COMMENT_PREFIX), ':');
			pool = c ? c + 1 : "";
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct reg_sq_job *v = realloc(*jobs, cap * sizeof *v);
			if (!v)
				abort();
			*jobs = v;
		}
		struct reg_sq_job *j = &(*jobs)[n++];
		memset(j, 0, sizeof *j);
		reg_strlcpy(j->id, f[0], sizeof j->id);
		f[1][strcspn(f[1], " ")] = '\0'; /* "CANCELLED by 0" */
		reg_strlcpy(j->state, f[1], sizeof j->state);
		reg_strlcpy(j->reason, f[2], sizeof j->reason);
		reg_strlcpy(j->nodes, f[3], sizeof j->nodes);
		reg_strlcpy(j->pool, pool, sizeof j->pool);
		j->submit = parse_time(f[4]);
		j->start = parse_time(f[5]);
		j->end = parse_time(f[6]);
		free(line);
	}
	return n;
}

int reg_slurm_parse_sacct(const char *out, const char *job_id, char *state, size_t len)
{
	const char *p = out;
	size_t idl = strlen(job_id);
	while (*p) {
		size_t l = strcspn(p, "\n");
		if (l > idl && strncmp(p, job_id, idl) == 0 && p[idl] == '|') {
			const char *s = p + idl + 1;
			size_t sl = strcspn(s, " \n|");
			if (sl == 0)
				return -1;
			if (sl >= len)
				sl = len - 1;
			memcpy(state, s, sl);
			state[sl] = '\0';
			return 0;
		}
		p += l;
		if (*p)
			p++;
	}
	return -1;
}

enum reg_jstate reg_slurm_jstate(const char *s)
{
	static const char *const pending[] = {
		"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
		"SPECIAL_EXIT", "SUSPENDED", "STOPPED", NULL,
	};
	static const char *const running[] = {"RUNNING", "CONFIGURING", "RESIZING", NULL};
	static const char *const completing[] = {"COMPLETING", "SIGNALING", "STAGE_OUT", NULL};
	for (int i = 0; pending[i]; i++)
		if (strcmp(s, pending[i]) == 0)
			return REG_J_PENDING;
	for (int i = 0; running[i]; i++)
		if (strcmp(s, running[i]) == 0)
			return REG_J_RUNNING;
	for (int i = 0; completing[i]; i++)
		if (strcmp(s, completing[i]) == 0)
			return REG_J_COMPLETING;
	/* COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED,
	 * BOOT_FAIL, DEADLINE, OUT_OF_MEMORY, REVOKED and anything new. */
	return REG_J_ENDED;
}

const char *reg_slurm_end_reason(const char *s)
{
	static const struct {
		const char *state, *reason;
	} map[] = {
		{"PREEMPTED", "preempted"}, {"CANCELLED", "cancelled"}, {"TIMEOUT", "timeout"},
		{"DEADLINE", "timeout"},    {"COMPLETED", "completed"}, {"FAILED", "failed"},
		{"OUT_OF_MEMORY", "failed"}, {"BOOT_FAIL", "node_fail"}, {"NODE_FAIL", "node_fail"},
		{"REVOKED", "cancelled"},   {"REQUEUED", "preempted"},  {"PENDING", "preempted"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(s, map[i].state) == 0)
			return map[i].reason;
	return "unknown";
}

void reg_slurm_instance(const char *state_dir, uid_t uid, char out[13])
{
	char in[4200];
	uint8_t d[SHA256_LEN];
	char hex[65];
	int n = snprintf(in, sizeof in, "%u:%s", (unsigned)uid, state_dir);
	sha256(in, (size_t)n < sizeof in ? (size_t)n : sizeof in - 1, d);
	sha256_hex(d, hex);
	memcpy(out, hex, 12);
	out[12] = '\0';
}
