/* es_submit.c — see es_submit.h. */
#include "es_submit.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

/* Whether S is an http:// URL with a host, without spaces or controls. */
static int es_url_ok(const char *s)
{
	if (strncmp(s, "http://", 7) != 0 || !s[7] || s[7] == '/' || s[7] == ':')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

int es_submit_check(const char *file, const char *default_registry,
		    const char *env_registry, struct es_carry *c, struct buf *errs)
{
	struct model_config *cfg = NULL;
	memset(c, 0, sizeof *c);
	snprintf(c->file, sizeof c->file, "%s", file);
	if (!*file) {
		buf_puts(errs, "--elastic-serve needs a model.toml file: --elastic-serve=FILE\n");
		return -1;
	}
	if (model_load(file, &cfg, errs) < 0)
		return -1;
	c->nodes_per_worker = cfg->nodes_per_worker;
	c->tp = cfg->tp;
	const char *reg = cfg->registry_url;
	if (!reg && env_registry && *env_registry) {
		if (!es_url_ok(env_registry)) {
			buf_printf(errs,
				   "ELASTIC_REGISTRY_URL=%s: expected an http:// URL with a host\n",
				   env_registry);
			goto fail;
		}
		reg = env_registry;
	}
	if (!reg && default_registry && *default_registry)
		reg = default_registry;
	if (reg) {
		if (strlen(reg) >= sizeof c->registry) {
			buf_printf(errs, "%s: the registry URL is too long\n", file);
			goto fail;
		}
		snprintf(c->registry, sizeof c->registry, "%s", reg);
	}
	snprintf(c->name, sizeof c->name, "%s", cfg->name);
	model_dump(cfg, &c->config);
	if (c->config.len > ES_CARRY_MAX) {
		buf_printf(errs,
			   "%s: the resolved configuration is %zu bytes; at most %d can travel with the job\n",
			   file, c->config.len, ES_CARRY_MAX);
		goto fail;
	}
	model_free(cfg);
	return 0;
fail:
	model_free(cfg);
	es_carry_free(c);
	return -1;
}

void es_carry_free(struct es_carry *c)
{
	buf_free(&c->config);
}
