/* reg_pools.c — see reg_pools.h. */
#include "reg_pools.h"

#include <stdlib.h>
#include <string.h>

#include "reg_util.h"

static const char *const jstate_names[REG_J_NSTATES] = {
	"submitting", "pending", "running", "completing", "ended",
};

const char *reg_jstate_name(enum reg_jstate s)
{
	return (unsigned)s < REG_J_NSTATES ? jstate_names[s] : "unknown";
}

int reg_jstate_parse(const char *s, enum reg_jstate *out)
{
	for (int i = 0; i < REG_J_NSTATES; i++) {
		if (strcmp(s, jstate_names[i]) == 0) {
			*out = (enum reg_jstate)i;
			return 0;
		}
	}
	return -1;
}

void reg_pools_init(struct reg_pools *p)
{
	memset(p, 0, sizeof *p);
}

static void pool_free(struct reg_pool *pool)
{
	for (size_t i = 0; i < pool->njobs; i++)
		free(pool->jobs[i]);
	free(pool->jobs);
	model_free(pool->cfg);
	free(pool->name);
	free(pool->config_text);
	free(pool->filename);
	free(pool);
}

void reg_pools_free(struct reg_pools *p)
{
	for (size_t i = 0; i < p->n; i++)
		pool_free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof *p);
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void reg_pool_set_config(struct reg_pool *pool, struct model_config *cfg, const char *filename)
{
	struct buf b = BUF_INIT;
	model_dump(cfg, &b);
	model_free(pool->cfg);
	free(pool->config_text);
	free(pool->filename);
	pool->cfg = cfg;
	pool->config_text = buf_steal(&b);
	pool->filename = reg_strdup(filename ? filename : "model.toml");
	pool->target = clamp(pool->target, cfg->min_nodes, cfg->max_nodes);
}

struct reg_pool *reg_pools_add(struct reg_pools *p, struct model_config *cfg,
			       const char *filename, int target, double now)
{
	struct reg_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		abort();
	pool->name = reg_strdup(cfg->name);
	pool->target = target;
	pool->created_at = now;
	reg_pool_set_config(pool, cfg, filename);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct reg_pool **v = realloc(p->v, cap * sizeof *v);
		if (!v)
			abort();
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = pool;
	return pool;
}

struct reg_pool *reg_pools_find(const struct reg_pools *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i]->name, name) == 0)
			return p->v[i];
	return NULL;
}

void reg_pools_remove(struct reg_pools *p, struct reg_pool *pool)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i] == pool) {
			memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof *p->v);
			p->n--;
			pool_free(pool);
			return;
		}
	}
}

struct reg_job *reg_pool_add_job(struct reg_pool *pool)
{
	if (pool->njobs == pool->capjobs) {
		size_t cap = pool->capjobs ? pool->capjobs * 2 : 8;
		struct reg_job **v = realloc(pool->jobs, cap * sizeof *v);
		if (!v)
			abort();
		pool->jobs = v;
		pool->capjobs = cap;
	}
	struct reg_job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->state = REG_J_SUBMITTING;
	pool->jobs[pool->njobs++] = j;
	return j;
}

struct reg_job *reg_pool_find_job(const struct reg_pool *pool, const char *id)
{
	if (!id || !*id)
		return NULL;
	for (size_t i = 0; i < pool->njobs; i++)
		if (strcmp(pool->jobs[i]->id, id) == 0)
			return pool->jobs[i];
	return NULL;
}

struct reg_job *reg_pools_find_job(const struct reg_pools *p, const char *id,
				   struct reg_pool **pool)
{
	for (size_t i = 0; i < p->n; i++) {
		struct reg_job *j = reg_pool_find_job(p->v[i], id);
		if (j) {
			if (pool)
				*pool = p->v[i];
			return j;
		}
	}
	return NULL;
}

void reg_pool_remove_job(struct reg_pool *pool, struct reg_job *j)
{
	for (size_t i = 0; i < pool->njobs; i++) {
		if (pool->jobs[i] == j) {
			memmove(&pool->jobs[i], &pool->jobs[i + 1],
				(pool->njobs - i - 1) * sizeof *pool->jobs);
			pool->njobs--;
			free(j);
			return;
		}
	}
}

size_t reg_pool_count(const struct reg_pool *pool, enum reg_jstate state)
{
	size_t n = 0;
	for (size_t i = 0; i < pool->njobs; i++)
		if (pool->jobs[i]->state == state)
			n++;
	return n;
}

size_t reg_pool_live(const struct reg_pool *pool)
{
	return pool->njobs - reg_pool_count(pool, REG_J_ENDED);
}

void reg_job_json(const struct reg_job *j, struct buf *out)
{
	buf_puts(out, "{\"job_id\":");
	buf_json_str(out, j->id, strlen(j->id));
	buf_printf(out, ",\"state\":\"%s\",\"slurm_state\":", reg_jstate_name(j->state));
	buf_json_str(out, j->slurm_state, strlen(j->slurm_state));
	buf_puts(out, ",\"nodes\":");
	buf_json_str(out, j->nodes, strlen(j->nodes));
	buf_printf(out, ",\"submitted_at\":%.3f,\"started_at\":%.0f,\"end_time\":%.0f", j->submitted_at,
		   j->started_at, j->end_time);
	buf_puts(out, ",\"reason\":");
	buf_json_str(out, j->reason, strlen(j->reason));
	buf_printf(out, ",\"runs\":%d,\"draining\":%s,\"ready\":%d,\"workers\":%d", j->runs,
		   j->draining ? "true" : "false", j->ready, j->workers);
	if (j->state == REG_J_ENDED)
		buf_printf(out, ",\"ended_at\":%.3f", j->ended_at);
	buf_putc(out, '}');
}

void reg_pool_json(const struct reg_pool *pool, size_t ready, const char *last_event,
		   bool with_config, struct buf *out)
{
	buf_puts(out, "{\"name\":");
	buf_json_str(out, pool->name, strlen(pool->name));
	if (with_config) {
		buf_puts(out, ",\"config\":");
		buf_json_str(out, pool->config_text, strlen(pool->config_text));
	}
	buf_puts(out, ",\"filename\":");
	buf_json_str(out, pool->filename, strlen(pool->filename));
	buf_printf(out, ",\"target\":%d,\"min\":%d,\"max\":%d,\"job_nodes\":%d,\"deleting\":%s,\"jobs\":[",
		   pool->target, pool->cfg->min_nodes, pool->cfg->max_nodes, pool->cfg->nodes,
		   pool->deleting ? "true" : "false");
	for (size_t i = 0; i < pool->njobs; i++) {
		if (i)
			buf_putc(out, ',');
		reg_job_json(pool->jobs[i], out);
	}
	size_t pending = reg_pool_count(pool, REG_J_PENDING) + reg_pool_count(pool, REG_J_SUBMITTING);
	buf_printf(out, "],\"pending\":%zu,\"running\":%zu,\"ready\":%zu,\"last_event\":", pending,
		   reg_pool_count(pool, REG_J_RUNNING), ready);
	if (last_event)
		buf_json_str(out, last_event, strlen(last_event));
	else
		buf_puts(out, "null");
	buf_putc(out, '}');
}
