/* agent_argv.c — engine command lines and environments (agent.h).
 *
 *   vllm     vllm serve PATH --host H --port P --tensor-parallel-size TP
 *            --served-model-name NAME ARGS...
 *   sglang   python3 -m sglang.launch_server --model-path PATH --host H
 *            --port P --tp-size TP --served-model-name NAME ARGS...
 *   sim      elastic-sim --model PATH --host H --port P
 *            --tensor-parallel-size TP --served-model-name NAME ARGS...
 *   command  [engine].command with {path} {name} {host} {port} {tp} {gpus}
 *            {rank} {nnodes} {master_addr} {master_port} substituted in
 *            each word, then ARGS...
 *
 * A worker spanning K > 1 nodes (parallel.nodes_per_worker) runs one rank
 * per node; TP counts the GPUs of all K nodes, HEAD and MP are rank 0's
 * host and rendezvous port, R the rank:
 *
 *   vllm     ... --nnodes K --node-rank R --master-addr HEAD --master-port MP
 *            [--headless on R > 0] ARGS...
 *   vllm, parallel.backend = "ray":
 *            R = 0: elastic-agent --exec-pair 8 --wait-port MP
 *                     ray start --head --port=MP --num-gpus=G --block
 *                     --disable-usage-stats --include-dashboard=false
 *                     vllm serve PATH ... --distributed-executor-backend ray ARGS...
 *            R > 0: ray start --address=HEAD:MP --num-gpus=G --block
 *                     --disable-usage-stats
 *   sglang   ... --nnodes K --node-rank R --dist-init-addr HEAD:MP ARGS...
 *   sim      ... --nnodes K --node-rank R --master-addr HEAD --master-port MP
 *            [--headless on R > 0] ARGS...
 *
 * Each word stays one argv element whatever it holds: no shell ever parses
 * a value from model.toml.
 */
#include "agent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static char *agent_xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

int agent_subst(const char *tmpl, const struct agent_engine_vars *v, struct buf *out,
		char *err, size_t errlen)
{
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '{' && p[1] == '{') {
			buf_putc(out, '{');
			p++;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			buf_putc(out, '}');
			p++;
			continue;
		}
		if (*p == '}') {
			snprintf(err, errlen, "unmatched \"}\" in \"%s\"", tmpl);
			return -1;
		}
		if (*p != '{') {
			buf_putc(out, *p);
			continue;
		}
		const char *end = strchr(p, '}');
		if (!end) {
			snprintf(err, errlen, "unterminated placeholder in \"%s\"", tmpl);
			return -1;
		}
		size_t n = (size_t)(end - p - 1);
		const char *name = p + 1;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
		if (IS("path"))
			buf_puts(out, v->path);
		else if (IS("name"))
			buf_puts(out, v->name);
		else if (IS("host"))
			buf_puts(out, v->host);
		else if (IS("port"))
			buf_printf(out, "%d", v->port);
		else if (IS("tp"))
			buf_printf(out, "%d", v->tp);
		else if (IS("gpus"))
			buf_puts(out, v->gpus);
		else if (IS("rank"))
			buf_printf(out, "%d", v->rank);
		else if (IS("nnodes"))
			buf_printf(out, "%d", v->nnodes > 1 ? v->nnodes : 1);
		else if (IS("master_addr"))
			buf_puts(out, v->master_addr ? v->master_addr : "");
		else if (IS("master_port"))
			buf_printf(out, "%d", v->master_port);
		else {
			snprintf(err, errlen, "unknown placeholder \"{%.*s}\" in \"%s\"", (int)n, name,
				 tmpl);
			return -1;
		}
#undef IS
		p = end;
	}
	return 0;
}

/* The Ray worker of rank R > 0 (backend "ray"). */
static size_t argv_ray_worker(char **a, size_t n, const struct agent_engine_vars *v)
{
	struct buf b = BUF_INIT;
	a[n++] = agent_xstrdup("ray");
	a[n++] = agent_xstrdup("start");
	buf_printf(&b, "--address=%s:%d", v->master_addr ? v->master_addr : "", v->master_port);
	a[n++] = buf_steal(&b);
	buf_printf(&b, "--num-gpus=%d", v->gpus_per_rank > 0 ? v->gpus_per_rank : 1);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--block");
	a[n++] = agent_xstrdup("--disable-usage-stats");
	return n;
}

/* The Ray head of rank 0 (backend "ray"): RAY_HEAD_WORDS words. */
#define RAY_HEAD_WORDS 8
static size_t argv_ray_head(char **a, size_t n, const struct agent_engine_vars *v)
{
	struct buf b = BUF_INIT;
	a[n++] = agent_xstrdup("ray");
	a[n++] = agent_xstrdup("start");
	a[n++] = agent_xstrdup("--head");
	buf_printf(&b, "--port=%d", v->master_port);
	a[n++] = buf_steal(&b);
	buf_printf(&b, "--num-gpus=%d", v->gpus_per_rank > 0 ? v->gpus_per_rank : 1);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--block");
	a[n++] = agent_xstrdup("--disable-usage-stats");
	a[n++] = agent_xstrdup("--include-dashboard=false");
	return n;
}

/* vLLM's serving flags after the model (elastic-sim takes the same), and
 * with DIST its multi-node flags (torch distributed, not Ray): rank 0
 * serves, the other ranks join it headless. Returns the new count. */
static size_t argv_vllm_flags(char **a, size_t n, const struct agent_engine_vars *v, bool dist)
{
	struct buf b = BUF_INIT;
	a[n++] = agent_xstrdup("--host");
	a[n++] = agent_xstrdup(v->host);
	a[n++] = agent_xstrdup("--port");
	buf_printf(&b, "%d", v->port);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--tensor-parallel-size");
	buf_printf(&b, "%d", v->tp);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--served-model-name");
	a[n++] = agent_xstrdup(v->name);
	if (!dist)
		return n;
	a[n++] = agent_xstrdup("--nnodes");
	buf_printf(&b, "%d", v->nnodes);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--node-rank");
	buf_printf(&b, "%d", v->rank);
	a[n++] = buf_steal(&b);
	a[n++] = agent_xstrdup("--master-addr");
	a[n++] = agent_xstrdup(v->master_addr ? v->master_addr : "");
	a[n++] = agent_xstrdup("--master-port");
	buf_printf(&b, "%d", v->master_port);
	a[n++] = buf_steal(&b);
	if (v->rank > 0)
		a[n++] = agent_xstrdup("--headless");
	return n;
}

char **agent_engine_argv(const struct model_config *cfg, const struct agent_engine_vars *v,
			 const char *sim, char *err, size_t errlen)
{
	size_t cap = 48 + cfg->nargs + cfg->ncommand, n = 0;
	char **a = calloc(cap, sizeof *a);
	char port[16], tp[16], nn[16], rank[16], mport[16];
	bool multi = v->nnodes > 1;
	if (!a)
		abort();
	snprintf(port, sizeof port, "%d", v->port);
	snprintf(tp, sizeof tp, "%d", v->tp);
	snprintf(nn, sizeof nn, "%d", v->nnodes);
	snprintf(rank, sizeof rank, "%d", v->rank);
	snprintf(mport, sizeof mport, "%d", v->master_port);
	const char *maddr = v->master_addr ? v->master_addr : "";
#define ARG(s) (a[n++] = agent_xstrdup(s))
	switch (cfg->engine) {
	case MODEL_ENGINE_VLLM:
		if (multi && cfg->backend == MODEL_BACKEND_RAY) {
			if (v->rank > 0) {
				/* A Ray worker: vllm serve runs on rank 0 only. */
				n = argv_ray_worker(a, n, v);
				a[n] = NULL;
				return a;
			}
			char words[16];
			snprintf(words, sizeof words, "%d", RAY_HEAD_WORDS);
			ARG(v->agent && *v->agent ? v->agent : "elastic-agent");
			ARG("--exec-pair");
			ARG(words);
			ARG("--wait-port");
			ARG(mport);
			n = argv_ray_head(a, n, v);
		}
		ARG("vllm");
		ARG("serve");
		ARG(v->path);
		n = argv_vllm_flags(a, n, v, multi && cfg->backend != MODEL_BACKEND_RAY);
		if (multi && cfg->backend == MODEL_BACKEND_RAY) {
			ARG("--distributed-executor-backend");
			ARG("ray");
		}
		break;
	case MODEL_ENGINE_SGLANG:
		ARG("python3");
		ARG("-m");
		ARG("sglang.launch_server");
		ARG("--model-path");
		ARG(v->path);
		ARG("--host");
		ARG(v->host);
		ARG("--port");
		ARG(port);
		ARG("--tp-size");
		ARG(tp);
		ARG("--served-model-name");
		ARG(v->name);
		if (multi) {
			struct buf d = BUF_INIT;
			buf_printf(&d, "%s:%d", maddr, v->master_port);
			ARG("--nnodes");
			ARG(nn);
			ARG("--node-rank");
			ARG(rank);
			ARG("--dist-init-addr");
			a[n++] = buf_steal(&d);
		}
		break;
	case MODEL_ENGINE_SIM:
		ARG(sim && *sim ? sim : "elastic-sim");
		ARG("--model");
		ARG(v->path);
		n = argv_vllm_flags(a, n, v, multi); /* elastic-sim takes vLLM's flags */
		break;
	case MODEL_ENGINE_COMMAND:
		for (size_t i = 0; i < cfg->ncommand; i++) {
			struct buf w = BUF_INIT;
			if (agent_subst(cfg->command[i], v, &w, err, errlen) < 0) {
				buf_free(&w);
				a[n] = NULL;
				agent_argv_free(a);
				return NULL;
			}
			a[n++] = buf_steal(&w);
		}
		break;
	}
	for (size_t i = 0; i < cfg->nargs; i++)
		ARG(cfg->args[i]);
#undef ARG
	a[n] = NULL;
	if (n == 0 || !a[0][0]) {
		snprintf(err, errlen, "empty engine command");
		agent_argv_free(a);
		return NULL;
	}
	return a;
}

/* Whether ENTRY ("NAME=value") sets NAME (LEN bytes). */
static int env_is(const char *entry, const char *name, size_t len)
{
	return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

/* The variables a rank of a multi-node worker gets (NULL-terminated names). */
static const char *const mn_vars[] = {
	"ELASTIC_SERVE_RANK", "ELASTIC_SERVE_NNODES", "ELASTIC_SERVE_MASTER_ADDR",
	"ELASTIC_SERVE_MASTER_PORT", "RAY_ADDRESS", NULL,
};

char **agent_engine_env(char *const *base, const struct model_config *cfg, const char *gpus,
			const struct agent_engine_vars *v)
{
	size_t nb = 0;
	bool multi = v && v->nnodes > 1;
	while (base && base[nb])
		nb++;
	char **e = calloc(nb + cfg->nenv + 8, sizeof *e);
	size_t n = 0;
	if (!e)
		abort();
	for (size_t i = 0; i < nb; i++) {
		const char *s = base[i];
		int drop = env_is(s, "CUDA_VISIBLE_DEVICES", 20);
		for (size_t j = 0; multi && !drop && mn_vars[j]; j++)
			drop = env_is(s, mn_vars[j], strlen(mn_vars[j]));
		for (size_t j = 0; !drop && j < cfg->nenv; j++)
			drop = env_is(s, cfg->env[j].name, strlen(cfg->env[j].name));
		if (!drop)
			e[n++] = agent_xstrdup(s);
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "CUDA_VISIBLE_DEVICES=%s", gpus);
	e[n++] = buf_steal(&b);
	if (multi) {
		const char *maddr = v->master_addr ? v->master_addr : "";
		buf_printf(&b, "ELASTIC_SERVE_RANK=%d", v->rank);
		e[n++] = buf_steal(&b);
		buf_printf(&b, "ELASTIC_SERVE_NNODES=%d", v->nnodes);
		e[n++] = buf_steal(&b);
		buf_printf(&b, "ELASTIC_SERVE_MASTER_ADDR=%s", maddr);
		e[n++] = buf_steal(&b);
		buf_printf(&b, "ELASTIC_SERVE_MASTER_PORT=%d", v->master_port);
		e[n++] = buf_steal(&b);
		if (cfg->engine == MODEL_ENGINE_VLLM && cfg->backend == MODEL_BACKEND_RAY &&
		    v->rank == 0) {
			buf_printf(&b, "RAY_ADDRESS=%s:%d", maddr, v->master_port);
			e[n++] = buf_steal(&b);
		}
	}
	for (size_t j = 0; j < cfg->nenv; j++) {
		buf_printf(&b, "%s=%s", cfg->env[j].name, cfg->env[j].value);
		e[n++] = buf_steal(&b);
	}
	e[n] = NULL;
	return e;
}

void agent_argv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
