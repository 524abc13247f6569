/* rs_common.c — see rs_common.h. */
#include "rs_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_cmd.h"
#include "rs_jutil.h"

struct rs_common rs_common = {.temperature = -1, .retries = -1};

void rs_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int rs_opt_int(const char *opt, const char *arg, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < lo || v > hi) {
		rs_error("%s: '%s' is not a number from %ld to %ld", opt, arg, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int rs_opt_duration(const char *opt, const char *arg, long *ms)
{
	if (rs_conf_parse_duration(arg, ms) < 0 || *ms < 1) {
		rs_error("%s: '%s' is not a duration such as 500ms, 30s, 10m or 1h", opt, arg);
		return -1;
	}
	return 0;
}

int rs_common_opt(int opt, const char *arg)
{
	struct rs_common *c = &rs_common;
	long v;
	switch (opt) {
	case RS_OPT_ENDPOINT: c->endpoint = arg; return 1;
	case RS_OPT_API_KEY: c->api_key = arg; return 1;
	case RS_OPT_MODEL:
		if (!*arg) {
			rs_error("--model: empty name");
			return -1;
		}
		c->model = arg;
		return 1;
	case RS_OPT_AUTH: c->auth = arg; return 1;
	case RS_OPT_ENV_FILE: c->env_file = arg; return 1;
	case RS_OPT_SET: {
		if (!strchr(arg, '=') || arg[0] == '=') {
			rs_error("--set: '%s' is not NAME=VALUE", arg);
			return -1;
		}
		const char **s = realloc(c->sets, (c->nsets + 1) * sizeof *s);
		if (!s)
			abort();
		c->sets = s;
		c->sets[c->nsets++] = arg;
		return 1;
	}
	case RS_OPT_TEMPERATURE: {
		char *end;
		errno = 0;
		double t = strtod(arg, &end);
		if (!*arg || *end || errno || !isfinite(t) || t < 0 || t > 2) {
			rs_error("--temperature: '%s' is not a number from 0 to 2", arg);
			return -1;
		}
		c->temperature = t;
		return 1;
	}
	case RS_OPT_MAX_TOKENS:
		if (rs_opt_int("--max-tokens", arg, 1, 10000000, &v) < 0)
			return -1;
		c->max_tokens = v;
		return 1;
	case RS_OPT_TIMEOUT:
		if (rs_opt_duration("--timeout", arg, &c->timeout_ms) < 0)
			return -1;
		return 1;
	case RS_OPT_RETRIES:
		if (rs_opt_int("--retries", arg, 0, 20, &v) < 0)
			return -1;
		c->retries = (int)v;
		return 1;
	case RS_OPT_SYSTEM_PROMPT: c->system_prompt = arg; return 1;
	}
	return 0;
}

int rs_common_global(int argc, char **argv)
{
	static const struct option longopts[] = {RS_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
	int i = 1;
	while (i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
		const char *a = argv[i] + 2, *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const struct option *o = NULL;
		for (const struct option *p = longopts; p->name; p++)
			if (strlen(p->name) == n && strncmp(p->name, a, n) == 0)
				o = p;
		if (!o)
			break; /* --help, --version, or the subcommand's business */
		const char *val;
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			rs_error("option '%s' needs a value", argv[i]);
			return -1;
		}
		if (rs_common_opt(o->val, val) < 0)
			return -1;
		i++;
	}
	return i - 1;
}

static const char *conf_lookup(const char *name, void *arg)
{
	return rs_conf_env(arg, name);
}

int rs_common_setup(struct rs_conf *conf, struct rs_llm *llm, char **prompt, int prepare)
{
	const struct rs_common *c = &rs_common;
	char err[1024];
	if (prompt)
		*prompt = NULL;
	if (rs_conf_load(conf, c->env_file, err, sizeof err) < 0) {
		rs_error("%s", err);
		return RS_USAGE;
	}
	for (size_t i = 0; i < c->nsets; i++) {
		const char *eq = strchr(c->sets[i], '=');
		char *name = strndup(c->sets[i], (size_t)(eq - c->sets[i]));
		if (!name)
			abort();
		int rc = rs_conf_set(conf, name, eq + 1, err, sizeof err);
		free(name);
		if (rc < 0) {
			rs_error("--set %s: %s", c->sets[i], err);
			return RS_USAGE;
		}
	}
	rs_llm_init(llm, conf_lookup, conf);
	if (c->endpoint && rs_llm_set_endpoint(llm, c->endpoint, err, sizeof err) < 0) {
		rs_error("--endpoint: %s", err);
		return RS_USAGE;
	}
	if (c->api_key) {
		free(llm->api_key);
		llm->api_key = strdup(c->api_key);
	}
	if (c->model) {
		free(llm->model);
		llm->model = strdup(c->model);
	}
	if (c->auth) {
		free(llm->auth);
		llm->auth = strdup(c->auth);
	}
	if (c->temperature >= 0)
		llm->temperature = c->temperature;
	if (c->max_tokens > 0)
		llm->max_tokens = c->max_tokens;
	if (c->timeout_ms > 0)
		llm->timeout_ms = c->timeout_ms;
	if (c->retries >= 0)
		llm->retries = c->retries;
	if (c->system_prompt && prompt) {
		struct buf b = BUF_INIT;
		if (rs_read_file(c->system_prompt, &b, 1 << 20, err, sizeof err) < 0) {
			rs_error("--system-prompt: %s", err);
			buf_free(&b);
			return RS_USAGE;
		}
		if (!b.len) {
			rs_error("--system-prompt: %s is empty", c->system_prompt);
			buf_free(&b);
			return RS_USAGE;
		}
		*prompt = buf_steal(&b);
	}
	if (prepare && rs_llm_prepare(llm, err, sizeof err) < 0) {
		rs_error("%s", err);
		return RS_FAIL;
	}
	return 0;
}
