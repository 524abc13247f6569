/* agent_argv.c — engine command lines and environments (agent.h).
 *
 *   vllm     vllm serve PATH --host H --port P --tensor-parallel-size TP
 *            --served-model-name NAME ARGS...
 *   sglang   python3 -m sglang.launch_server --model-path PATH --host H
 *            --port P --tp-size TP --served-model-name NAME ARGS...
 *   sim      elastic-sim --model PATH --host H --port P
 *            --tensor-parallel-size TP --served-model-name NAME ARGS...
 *   command  [engine].command with {path} {name} {host} {port} {tp} {gpus}
 *            {rank} substituted in each word, then ARGS...
 *
 * Each word stays one argv element whatever it holds: no shell ever parses
 * a value from model.toml.
 */
#include "agent.h"

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

char **agent_engine_argv(const struct model_config *cfg, const struct agent_engine_vars *v,
			 const char *sim, char *err, size_t errlen)
{
	size_t cap = 24 + cfg->nargs + cfg->ncommand, n = 0;
	char **a = calloc(cap, sizeof *a);
	char port[16], tp[16];
	if (!a)
		abort();
	snprintf(port, sizeof port, "%d", v->port);
	snprintf(tp, sizeof tp, "%d", v->tp);
#define ARG(s) (a[n++] = agent_xstrdup(s))
	switch (cfg->engine) {
	case MODEL_ENGINE_VLLM:
		ARG("vllm");
		ARG("serve");
		ARG(v->path);
		ARG("--host");
		ARG(v->host);
		ARG("--port");
		ARG(port);
		ARG("--tensor-parallel-size");
		ARG(tp);
		ARG("--served-model-name");
		ARG(v->name);
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
		break;
	case MODEL_ENGINE_SIM:
		ARG(sim && *sim ? sim : "elastic-sim");
		ARG("--model");
		ARG(v->path);
		ARG("--host");
		ARG(v->host);
		ARG("--port");
		ARG(port);
		ARG("--tensor-parallel-size");
		ARG(tp);
		ARG("--served-model-name");
		ARG(v->name);
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

char **agent_engine_env(char *const *base, const struct model_config *cfg, const char *gpus)
{
	size_t nb = 0;
	while (base && base[nb])
		nb++;
	char **e = calloc(nb + cfg->nenv + 2, sizeof *e);
	size_t n = 0;
	if (!e)
		abort();
	for (size_t i = 0; i < nb; i++) {
		const char *s = base[i];
		int drop = env_is(s, "CUDA_VISIBLE_DEVICES", 20);
		for (size_t j = 0; !drop && j < cfg->nenv; j++)
			drop = env_is(s, cfg->env[j].name, strlen(cfg->env[j].name));
		if (!drop)
			e[n++] = agent_xstrdup(s);
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "CUDA_VISIBLE_DEVICES=%s", gpus);
	e[n++] = buf_steal(&b);
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
