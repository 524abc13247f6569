/* model.c — model.toml: parse, validate, dump. See model.h. */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcfg.h"
#include "toml.h"

static const char *const sections[] = {
	"model", "engine", "parallel", "slurm", "scale", "registry", "routing", NULL,
};
static const char *const keys_model[] = {"path", "name", NULL};
static const char *const keys_engine[] = {
	"kind", "args", "env", "command", "health_path", "startup_timeout",
	"drain_timeout", "hang_timeout", NULL,
};
static const char *const keys_parallel[] = {"tp", "nodes_per_worker", "ep", "backend", NULL};
static const char *const keys_slurm[] = {
	"partition", "qos", "account", "time", "gpus_per_node", "nodes", "extra_args", NULL,
};
static const char *const keys_scale[] = {
	"min_nodes", "max_nodes", "target_nodes", "renew_before", NULL,
};
static const char *const keys_registry[] = {"url", NULL};
static const char *const keys_routing[] = {"policy", "migrate", NULL};
static const char *const *const section_keys[] = {
	keys_model, keys_engine, keys_parallel, keys_slurm, keys_scale, keys_registry,
	keys_routing,
};

static const char *const engine_names[] = {"vllm", "sglang", "sim", "command", NULL};
static const char *const backend_names[] = {"mp", "ray", NULL};
static const char *const policy_names[] = {
	"cache_aware", "round_robin", "least_load", "session", NULL,
};

/* Placeholders that [engine].command may use. */
static const char *const placeholders[] = {
	"path", "name", "host", "port", "tp", "gpus", "rank", "nnodes", "master_addr",
	"master_port", NULL,
};

/* Engine flags the agent sets itself: users must not set them in args. */
static const char *const reserved_vllm[] = {
	"--host", "--port", "--tensor-parallel-size", "-tp", "--served-model-name",
	"--model", "--nnodes", "--node-rank", "--master-addr", "--master-port",
	"--headless", "--distributed-executor-backend", NULL,
};
static const char *const reserved_sglang[] = {
	"--host", "--port", "--tp-size", "--tp", "--tensor-parallel-size", "--model-path",
	"--model", "--served-model-name", "--nnodes", "--node-rank", "--dist-init-addr",
	NULL,
};
static const char *const reserved_sim[] = {
	"--host", "--port", "--model", "--served-model-name", "--tensor-parallel-size", "--tp",
	"--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless",
	"--port-file", NULL,
};

/* sbatch options the acquirer sets from other fields, and the field to use. */
static const struct {
	const char *opt;
	const char *use;
} reserved_sbatch[] = {
	{"--partition", "slurm.partition"}, {"-p", "slurm.partition"},
	{"--qos", "slurm.qos"}, {"-q", "slurm.qos"},
	{"--account", "slurm.account"}, {"-A", "slurm.account"},
	{"--time", "slurm.time"}, {"-t", "slurm.time"},
	{"--nodes", "slurm.nodes"}, {"-N", "slurm.nodes"},
	{"--gres", "slurm.gpus_per_node"}, {"--gpus", "slurm.gpus_per_node"},
	{"--gpus-per-node", "slurm.gpus_per_node"}, {"-G", "slurm.gpus_per_node"},
	{"--job-name", NULL}, {"-J", NULL}, {"--comment", NULL}, {"--parsable", NULL},
	{"--wrap", NULL}, {"--array", NULL}, {"-a", NULL}, {"--elastic-serve", NULL},
	{"--export", NULL},
	{NULL, NULL},
};

static void check_keys(struct tcfg *c, const struct toml_value *tab, const char *sect,
		       const char *const *allowed);

const char *model_engine_name(enum model_engine e)
{
	return engine_names[e];
}

const char *model_policy_name(enum model_policy p)
{
	return policy_names[p];
}

int model_policy_parse(const char *s, enum model_policy *out)
{
	for (int i = 0; policy_names[i]; i++) {
		if (strcmp(s, policy_names[i]) == 0) {
			*out = (enum model_policy)i;
			return 0;
		}
	}
	return -1;
}

int model_gpus_per_rank(const struct model_config *cfg)
{
	return cfg->tp / cfg->nodes_per_worker;
}

int model_check_name(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n == 0) {
		snprintf(err, errlen, "empty name");
		return -1;
	}
	if (n > 128) {
		snprintf(err, errlen, "name is longer than 128 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && !strchr("._:/@+-", ch)) {
			if (ch < 0x20 || ch >= 0x7f)
				snprintf(err, errlen, "name contains byte 0x%02x; use letters, digits and ._:/@+-", ch);
			else
				snprintf(err, errlen, "name contains '%c'; use letters, digits and ._:/@+-", ch);
			return -1;
		}
	}
	if (strchr("._:/@+-", s[0])) {
		snprintf(err, errlen, "name starts with '%c'; start with a letter or digit", s[0]);
		return -1;
	}
	if (strstr(s, "..")) {
		snprintf(err, errlen, "name contains \"..\"");
		return -1;
	}
	return 0;
}

int model_parse_slurm_time(const char *s, int64_t *secs, char *err, size_t errlen)
{
	/* minutes | MM:SS | HH:MM:SS | D-HH | D-HH:MM | D-HH:MM:SS */
	long days = 0, f[3] = {0, 0, 0};
	int nf = 0;
	const char *p = s;
	const char *dash = strchr(s, '-');
	if (!*s)
		goto bad;
	if (dash) {
		if (dash == s)
			goto bad;
		char *end;
		errno = 0;
		days = strtol(s, &end, 10);
		if (end != dash || errno || days < 0 || days > 3650)
			goto bad;
		p = dash + 1;
	}
	while (*p) {
		if (nf == 3 || !isdigit((unsigned char)*p))
			goto bad;
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || v < 0 || v > 100000000)
			goto bad;
		f[nf++] = v;
		if (*end == ':') {
			p = end + 1;
			if (!*p)
				goto bad;
		} else if (*end == '\0') {
			p = end;
		} else {
			goto bad;
		}
	}
	if (nf == 0)
		goto bad;
	int64_t t;
	if (dash) {
		/* D-HH, D-HH:MM, D-HH:MM:SS */
		if (f[0] > 23 || (nf > 1 && f[1] > 59) || (nf > 2 && f[2] > 59))
			goto bad;
		t = (int64_t)days * 86400 + f[0] * 3600 + (nf > 1 ? f[1] * 60 : 0) + (nf > 2 ? f[2] : 0);
	} else if (nf == 1) {
		t = (int64_t)f[0] * 60; /* minutes */
	} else if (nf == 2) {
		if (f[1] > 59)
			goto bad;
		t = (int64_t)f[0] * 60 + f[1]; /* MM:SS */
	} else {
		if (f[1] > 59 || f[2] > 59)
			goto bad;
		t = (int64_t)f[0] * 3600 + f[1] * 60 + f[2]; /* HH:MM:SS */
	}
	if (t <= 0) {
		snprintf(err, errlen, "time limit \"%s\" is zero", s);
		return -1;
	}
	*secs = t;
	return 0;
bad:
	snprintf(err, errlen,
		 "invalid time limit \"%s\"; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
		 s);
	return -1;
}

/* --- validation helpers ------------------------------------------------ */

/* Checks a plain text field: no control characters. */
static void check_text(struct tcfg *c, const struct toml_value *tab, const char *sect,
		       const char *key, const char *s, int allow_space)
{
	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' ')) {
			const struct toml_value *v = toml_table_get(tab, key);
			tcfg_error(c, v ? v->pos : tcfg_pos(tab, key),
				   "%s.%s must not contain %s", sect, key,
				   *p == ' ' ? "spaces" : "control characters");
			return;
		}
	}
}

/* The option name of an argument: "--port=8000" -> "--port". */
static int arg_is(const char *arg, const char *opt)
{
	size_t n = strlen(opt);
	return strncmp(arg, opt, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static void check_reserved_args(struct tcfg *c, const struct toml_value *eng,
				const struct model_config *cfg)
{
	const char *const *reserved = NULL;
	switch (cfg->engine) {
	case MODEL_ENGINE_VLLM: reserved = reserved_vllm; break;
	case MODEL_ENGINE_SGLANG: reserved = reserved_sglang; break;
	case MODEL_ENGINE_SIM: reserved = reserved_sim; break;
	case MODEL_ENGINE_COMMAND: return;
	}
	const struct toml_value *arr = toml_table_get(eng, "args");
	for (size_t i = 0; i < cfg->nargs; i++) {
		for (size_t j = 0; reserved[j]; j++) {
			if (arg_is(cfg->args[i], reserved[j])) {
				tcfg_error(c, arr->u.arr.items[i]->pos,
					   "engine.args[%zu] sets \"%s\", which elastic-agent sets itself; remove it",
					   i, reserved[j]);
				break;
			}
		}
	}
}

/* Checks the placeholders of one command word; sets *has_port. Returns
 * -1 after recording an error. */
static int check_placeholders(struct tcfg *c, const struct toml_value *v, size_t idx,
			      int *has_port)
{
	int rc = 0;
	const char *s = v->u.s.ptr;
	for (const char *p = s; *p; p++) {
		if (*p == '{' && p[1] == '{') {
			p++;
			continue;
		}
		if (*p == '}' && p[1] == '}') {
			p++;
			continue;
		}
		if (*p == '}') {
			tcfg_error(c, v->pos, "engine.command[%zu]: unmatched \"}\" (write \"}}\" for a literal brace)", idx);
			return -1;
		}
		if (*p != '{')
			continue;
		const char *end = strchr(p, '}');
		if (!end) {
			tcfg_error(c, v->pos, "engine.command[%zu]: unterminated placeholder \"%s\" (write \"{{\" for a literal brace)",
				   idx, p);
			return -1;
		}
		char name[64];
		size_t n = (size_t)(end - p - 1);
		if (n >= sizeof name)
			n = sizeof name - 1;
		memcpy(name, p + 1, n);
		name[n] = '\0';
		int known = 0;
		for (size_t k = 0; placeholders[k]; k++)
			if (strcmp(name, placeholders[k]) == 0)
				known = 1;
		if (!known) {
			const char *near = tcfg_suggest(name, placeholders);
			rc = -1;
			if (near)
				tcfg_error(c, v->pos, "engine.command[%zu]: unknown placeholder \"{%s}\" (did you mean \"{%s}\"?)",
					   idx, name, near);
			else
				tcfg_error(c, v->pos, "engine.command[%zu]: unknown placeholder \"{%s}\"; known: {path} {name} {host} {port} {tp} {gpus} {rank} {nnodes} {master_addr} {master_port}",
					   idx, name);
		} else if (strcmp(name, "port") == 0) {
			*has_port = 1;
		}
		p = end;
	}
	return rc;
}

static int valid_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

static void parse_env(struct tcfg *c, const struct toml_value *eng, struct model_config *cfg)
{
	const struct toml_value *env = toml_table_get(eng, "env");
	if (!env)
		return;
	if (env->type != TOML_TABLE) {
		tcfg_error(c, env->pos, "engine.env must be a table of strings, e.g. env = { NAME = \"value\" }");
		return;
	}
	cfg->env = calloc(env->u.tab.len + 1, sizeof *cfg->env);
	if (!cfg->env)
		abort();
	for (size_t i = 0; i < env->u.tab.len; i++) {
		const struct toml_kv *kv = &env->u.tab.items[i];
		if (!valid_env_name(kv->key) || strlen(kv->key) != kv->key_len) {
			tcfg_error(c, kv->key_pos, "engine.env: invalid variable name \"%s\"", kv->key);
			continue;
		}
		if (strcmp(kv->key, "CUDA_VISIBLE_DEVICES") == 0) {
			tcfg_error(c, kv->key_pos,
				   "engine.env must not set CUDA_VISIBLE_DEVICES: elastic-agent sets it to each slice's GPUs");
			continue;
		}
		if (kv->val->type != TOML_STRING) {
			tcfg_error(c, kv->val->pos, "engine.env.%s must be a string, not %s", kv->key,
				   toml_type_name(kv->val->type));
			continue;
		}
		if (strlen(kv->val->u.s.ptr) != kv->val->u.s.len) {
			tcfg_error(c, kv->val->pos, "engine.env.%s must not contain a NUL character", kv->key);
			continue;
		}
		struct model_env *e = &cfg->env[cfg->nenv++];
		e->name = strdup(kv->key);
		e->value = strdup(kv->val->u.s.ptr);
		if (!e->name || !e->value)
			abort();
	}
}

static char *default_name(const char *path)
{
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	size_t start = n;
	while (start > 0 && path[start - 1] != '/')
		start--;
	return strndup(path + start, n - start);
}

static void parse_model(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *m = tcfg_table(c, root, "model");
	char err[256];
	check_keys(c, m, "model", keys_model);
	int path_ok = 0;
	if (!m && toml_table_get(root, "model"))
		return; /* [model] is not a table: already reported */
	if (tcfg_str(c, m, "model", "path", &cfg->path) == 0) {
		if (m)
			tcfg_error(c, m->pos, "missing model.path: what the engine loads (a Hugging Face id or a local path)");
		else
			tcfg_error(c, (struct toml_pos){1, 1},
				   "missing section [model] with path = \"...\" (what the engine loads)");
	} else if (cfg->path && !*cfg->path) {
		tcfg_error(c, toml_table_get(m, "path")->pos, "model.path must not be empty");
	} else if (cfg->path) {
		int before = c->nerr;
		check_text(c, m, "model", "path", cfg->path, 1);
		path_ok = c->nerr == before;
	}
	int r = tcfg_str(c, m, "model", "name", &cfg->name);
	if (r == 1 && model_check_name(cfg->name, err, sizeof err) < 0)
		tcfg_error(c, toml_table_get(m, "name")->pos, "model.name: %s", err);
	if (r == 0 && path_ok) {
		cfg->name = default_name(cfg->path);
		if (!cfg->name)
			abort();
		if (model_check_name(cfg->name, err, sizeof err) < 0)
			tcfg_error(c, toml_table_get(m, "path")->pos,
				   "cannot use \"%s\" from model.path as the model name (%s); set model.name",
				   cfg->name, err);
	}
}

static void parse_engine(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *e = tcfg_table(c, root, "engine");
	int kind = MODEL_ENGINE_VLLM;
	check_keys(c, e, "engine", keys_engine);
	tcfg_enum(c, e, "engine", "kind", engine_names, &kind);
	cfg->engine = (enum model_engine)kind;
	tcfg_strv(c, e, "engine", "args", &cfg->args, &cfg->nargs);
	parse_env(c, e, cfg);
	int rc = tcfg_strv(c, e, "engine", "command", &cfg->command, &cfg->ncommand);
	if (cfg->engine == MODEL_ENGINE_COMMAND) {
		if (rc == 0) {
			tcfg_error(c, tcfg_pos(e, "kind"),
				   "engine.kind = \"command\" needs engine.command, e.g. [\"my-server\", \"--port\", \"{port}\"]");
		} else if (rc == 1) {
			const struct toml_value *arr = toml_table_get(e, "command");
			int has_port = 0, bad = 0;
			if (cfg->ncommand == 0 || !cfg->command[0][0])
				tcfg_error(c, arr->pos, "engine.command must start with a program name");
			for (size_t i = 0; i < cfg->ncommand; i++)
				if (check_placeholders(c, arr->u.arr.items[i], i, &has_port) < 0)
					bad = 1;
			if (cfg->ncommand > 0 && !has_port && !bad)
				tcfg_error(c, arr->pos,
					   "engine.command must contain {port}: the engine listens where elastic-agent says");
		}
	} else if (rc == 1) {
		tcfg_error(c, tcfg_pos(e, "command"),
			   "engine.command is only used with kind = \"command\" (kind is \"%s\")",
			   engine_names[cfg->engine]);
	}
	check_reserved_args(c, e, cfg);
	cfg->health_path = strdup("/health");
	if (tcfg_str(c, e, "engine", "health_path", &cfg->health_path) == 1) {
		if (cfg->health_path[0] != '/')
			tcfg_error(c, toml_table_get(e, "health_path")->pos,
				   "engine.health_path must start with \"/\"");
		else
			check_text(c, e, "engine", "health_path", cfg->health_path, 0);
	}
	cfg->startup_timeout_ms = 20 * 60 * 1000;
	tcfg_duration(c, e, "engine", "startup_timeout", 1000, &cfg->startup_timeout_ms);
	cfg->drain_timeout_ms = 20 * 1000;
	tcfg_duration(c, e, "engine", "drain_timeout", 0, &cfg->drain_timeout_ms);
	cfg->hang_timeout_ms = 60 * 1000;
	if (tcfg_duration(c, e, "engine", "hang_timeout", 0, &cfg->hang_timeout_ms) == 1 &&
	    cfg->hang_timeout_ms > 0 && cfg->hang_timeout_ms < 1000)
		tcfg_error(c, tcfg_pos(e, "hang_timeout"),
			   "engine.hang_timeout must be at least 1s (or 0 to never restart a hung engine)");
}

static void parse_parallel(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *p = tcfg_table(c, root, "parallel");
	int backend = MODEL_BACKEND_MP;
	check_keys(c, p, "parallel", keys_parallel);
	cfg->tp = 1;
	tcfg_int(c, p, "parallel", "tp", 1, 1024, &cfg->tp);
	cfg->nodes_per_worker = 1;
	tcfg_int(c, p, "parallel", "nodes_per_worker", 1, 256, &cfg->nodes_per_worker);
	cfg->ep = 1;
	if (tcfg_int(c, p, "parallel", "ep", 1, 1024, &cfg->ep) == 1 &&
	    (cfg->ep > cfg->tp || cfg->tp % cfg->ep != 0))
		tcfg_error(c, toml_table_get(p, "ep")->pos,
			   "parallel.ep (%d) must divide parallel.tp (%d)", cfg->ep, cfg->tp);
	if (tcfg_enum(c, p, "parallel", "backend", backend_names, &backend) == 1 &&
	    backend == MODEL_BACKEND_RAY && cfg->engine != MODEL_ENGINE_VLLM)
		tcfg_error(c, toml_table_get(p, "backend")->pos,
			   "parallel.backend = \"ray\" is for engine.kind = \"vllm\" only");
	cfg->backend = (enum model_backend)backend;
}

static void check_slurm_text(struct tcfg *c, const struct toml_value *s, const char *key,
			     const char *v)
{
	if (!v)
		return;
	if (!*v || v[0] == '-')
		tcfg_error(c, toml_table_get(s, key)->pos, "slurm.%s must not be empty or start with \"-\"", key);
	else
		check_text(c, s, "slurm", key, v, 0);
}

static void parse_slurm(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *s = tcfg_table(c, root, "slurm");
	char err[256];
	check_keys(c, s, "slurm", keys_slurm);
	tcfg_str(c, s, "slurm", "partition", &cfg->partition);
	check_slurm_text(c, s, "partition", cfg->partition);
	tcfg_str(c, s, "slurm", "qos", &cfg->qos);
	check_slurm_text(c, s, "qos", cfg->qos);
	tcfg_str(c, s, "slurm", "account", &cfg->account);
	check_slurm_text(c, s, "account", cfg->account);
	if (tcfg_str(c, s, "slurm", "time", &cfg->time) == 1 &&
	    model_parse_slurm_time(cfg->time, &cfg->time_limit_s, err, sizeof err) < 0)
		tcfg_error(c, toml_table_get(s, "time")->pos, "slurm.time: %s", err);
	cfg->gpus_per_node = 8;
	tcfg_int(c, s, "slurm", "gpus_per_node", 1, 1024, &cfg->gpus_per_node);
	cfg->nodes = cfg->nodes_per_worker;
	tcfg_int(c, s, "slurm", "nodes", 1, 100000, &cfg->nodes);
	if (tcfg_strv(c, s, "slurm", "extra_args", &cfg->extra_args, &cfg->nextra_args) == 1) {
		const struct toml_value *arr = toml_table_get(s, "extra_args");
		for (size_t i = 0; i < cfg->nextra_args; i++) {
			const char *a = cfg->extra_args[i];
			struct toml_pos pos = arr->u.arr.items[i]->pos;
			if (a[0] != '-') {
				tcfg_error(c, pos, "slurm.extra_args[%zu] \"%s\" is not an sbatch option (options start with \"-\")",
					   i, a);
				continue;
			}
			for (size_t j = 0; reserved_sbatch[j].opt; j++) {
				const char *o = reserved_sbatch[j].opt;
				int hit = arg_is(a, o) || (o[1] != '-' && strncmp(a, o, 2) == 0);
				if (!hit)
					continue;
				if (reserved_sbatch[j].use)
					tcfg_error(c, pos, "slurm.extra_args[%zu] sets \"%s\": use %s instead",
						   i, o, reserved_sbatch[j].use);
				else
					tcfg_error(c, pos, "slurm.extra_args[%zu] sets \"%s\", which the acquirer sets itself",
						   i, o);
				break;
			}
		}
	}
}

static void parse_scale(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *s = tcfg_table(c, root, "scale");
	check_keys(c, s, "scale", keys_scale);
	cfg->min_nodes = 0;
	tcfg_int(c, s, "scale", "min_nodes", 0, 100000, &cfg->min_nodes);
	cfg->max_nodes = cfg->nodes > 0 ? cfg->nodes : 1;
	tcfg_int(c, s, "scale", "max_nodes", 0, 100000, &cfg->max_nodes);
	cfg->target_nodes = cfg->max_nodes;
	tcfg_int(c, s, "scale", "target_nodes", 0, 100000, &cfg->target_nodes);
	cfg->renew_before_ms = 10 * 60 * 1000;
	tcfg_duration(c, s, "scale", "renew_before", 0, &cfg->renew_before_ms);
}

static void parse_registry(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *r = tcfg_table(c, root, "registry");
	check_keys(c, r, "registry", keys_registry);
	if (tcfg_str(c, r, "registry", "url", &cfg->registry_url) == 1) {
		const char *u = cfg->registry_url;
		const char *host = NULL;
		if (strncmp(u, "http://", 7) == 0)
			host = u + 7;
		else if (strncmp(u, "https://", 8) == 0)
			host = u + 8;
		if (!host || !*host || *host == '/' || *host == ':')
			tcfg_error(c, toml_table_get(r, "url")->pos,
				   "registry.url \"%s\" must be an http:// URL with a host, e.g. \"http://login1:8780\"",
				   u);
		else
			check_text(c, r, "registry", "url", u, 0);
	}
}

static void parse_routing(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *r = tcfg_table(c, root, "routing");
	int policy = MODEL_POLICY_CACHE_AWARE;
	check_keys(c, r, "routing", keys_routing);
	tcfg_enum(c, r, "routing", "policy", policy_names, &policy);
	cfg->policy = (enum model_policy)policy;
	cfg->migrate = -1;
	int mig;
	if (tcfg_bool(c, r, "routing", "migrate", &mig) == 1)
		cfg->migrate = mig;
}

/* Checks between fields of different sections. */
static void check_cross(struct tcfg *c, const struct toml_value *root, struct model_config *cfg)
{
	const struct toml_value *par = toml_table_get(root, "parallel");
	const struct toml_value *sl = toml_table_get(root, "slurm");
	const struct toml_value *sc = toml_table_get(root, "scale");
	int k = cfg->nodes_per_worker;

	if (k == 1) {
		if (cfg->gpus_per_node % cfg->tp != 0)
			tcfg_error(c, tcfg_pos(par, "tp"),
				   "parallel.tp (%d) must divide slurm.gpus_per_node (%d): each node runs gpus_per_node / tp engines",
				   cfg->tp, cfg->gpus_per_node);
	} else {
		if (cfg->tp != k * cfg->gpus_per_node)
			tcfg_error(c, tcfg_pos(par, "tp"),
				   "parallel.tp (%d) must equal nodes_per_worker (%d) x slurm.gpus_per_node (%d) = %d: a worker spanning %d nodes uses every GPU of each",
				   cfg->tp, k, cfg->gpus_per_node, k * cfg->gpus_per_node, k);
		if (cfg->nodes % k != 0)
			tcfg_error(c, tcfg_pos(sl, "nodes"),
				   "slurm.nodes (%d) must be a multiple of parallel.nodes_per_worker (%d)",
				   cfg->nodes, k);
	}
	if (cfg->min_nodes > cfg->max_nodes)
		tcfg_error(c, tcfg_pos(sc, "min_nodes"),
			   "scale.min_nodes (%d) must not exceed scale.max_nodes (%d)",
			   cfg->min_nodes, cfg->max_nodes);
	/* A defaulted target follows max_nodes: report only what was written. */
	if (toml_table_get(sc, "target_nodes") && cfg->min_nodes <= cfg->max_nodes &&
	    (cfg->target_nodes > cfg->max_nodes || cfg->target_nodes < cfg->min_nodes))
		tcfg_error(c, tcfg_pos(sc, "target_nodes"),
			   "scale.target_nodes (%d) must lie between min_nodes (%d) and max_nodes (%d)",
			   cfg->target_nodes, cfg->min_nodes, cfg->max_nodes);
	const char *const names[] = {"min_nodes", "max_nodes", "target_nodes"};
	const int vals[] = {cfg->min_nodes, cfg->max_nodes, cfg->target_nodes};
	for (int i = 0; i < 3; i++) {
		if (toml_table_get(sc, names[i]) && vals[i] % cfg->nodes != 0)
			tcfg_error(c, tcfg_pos(sc, names[i]),
				   "scale.%s (%d) must be a multiple of slurm.nodes (%d), the nodes of one job",
				   names[i], vals[i], cfg->nodes);
	}
	if (cfg->time_limit_s > 0 && cfg->renew_before_ms / 1000 >= cfg->time_limit_s)
		tcfg_error(c, tcfg_pos(sc, "renew_before"),
			   "scale.renew_before must be shorter than slurm.time (%s)", cfg->time);
}

/* The section that has KEY among its keys, or NULL. */
static const char *home_section(const char *key)
{
	for (size_t s = 0; sections[s]; s++)
		if (tcfg_is_key(key, section_keys[s]))
			return sections[s];
	return NULL;
}

/* Unknown keys of section SECT, with a hint when a key belongs in
 * another section; SECT NULL checks the top level. */
static void check_keys(struct tcfg *c, const struct toml_value *tab, const char *sect,
		       const char *const *allowed)
{
	if (!tab || tab->type != TOML_TABLE)
		return;
	for (size_t i = 0; i < tab->u.tab.len; i++) {
		const struct toml_kv *kv = &tab->u.tab.items[i];
		if (tcfg_is_key(kv->key, allowed))
			continue;
		const char *home = home_section(kv->key);
		if (home && sect)
			tcfg_error(c, kv->key_pos, "key \"%s\" belongs in [%s], not [%s]", kv->key,
				   home, sect);
		else if (home)
			tcfg_error(c, kv->key_pos, "key \"%s\" belongs in section [%s]", kv->key, home);
		else
			tcfg_unknown_key(c, kv, sect, allowed);
	}
}

int model_parse(const char *src, size_t len, const char *filename,
		struct model_config **out, struct buf *errs)
{
	struct tcfg c = {filename, errs, 0};
	struct toml_error terr;
	size_t start = errs->len;
	*out = NULL;
	if (len > MODEL_MAX_BYTES) {
		buf_printf(errs, "%s: file is %zu bytes; a model.toml may have at most %d\n",
			   filename, len, MODEL_MAX_BYTES);
		return -1;
	}
	struct toml_value *root = toml_parse(src, len, &terr);
	if (!root) {
		tcfg_error(&c, (struct toml_pos){terr.line, terr.col}, "%s", terr.msg);
		return -1;
	}
	struct model_config *cfg = calloc(1, sizeof *cfg);
	if (!cfg)
		abort();
	check_keys(&c, root, NULL, sections);
	parse_model(&c, root, cfg);
	parse_engine(&c, root, cfg);
	parse_parallel(&c, root, cfg);
	parse_slurm(&c, root, cfg);
	parse_scale(&c, root, cfg);
	parse_registry(&c, root, cfg);
	parse_routing(&c, root, cfg);
	if (c.nerr == 0)
		check_cross(&c, root, cfg);
	toml_free(root);
	if (c.nerr) {
		tcfg_sort_errors(&c, start);
		model_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

int model_load(const char *path, struct model_config **out, struct buf *errs)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_printf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		buf_printf(errs, "%s: not a regular file\n", path);
		close(fd);
		return -1;
	}
	if (st.st_size > MODEL_MAX_BYTES) {
		buf_printf(errs, "%s: file is %lld bytes; a model.toml may have at most %d\n", path,
			   (long long)st.st_size, MODEL_MAX_BYTES);
		close(fd);
		return -1;
	}
	struct buf b = BUF_INIT;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			buf_printf(errs, "%s: cannot read: %s\n", path, strerror(errno));
			close(fd);
			buf_free(&b);
			return -1;
		}
		if (n == 0)
			break;
		buf_append(&b, chunk, (size_t)n);
		if (b.len > MODEL_MAX_BYTES)
			break;
	}
	close(fd);
	int rc = model_parse(b.data ? b.data : "", b.len, path, out, errs);
	buf_free(&b);
	return rc;
}

/* --- dump -------------------------------------------------------------- */

static void dump_str(struct buf *b, const char *key, const char *v)
{
	buf_printf(b, "%s = ", key);
	buf_json_str(b, v, strlen(v));
	buf_putc(b, '\n');
}

static void dump_strv(struct buf *b, const char *key, char *const *v, size_t n)
{
	buf_printf(b, "%s = [", key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_puts(b, ", ");
		buf_json_str(b, v[i], strlen(v[i]));
	}
	buf_puts(b, "]\n");
}

static void dump_duration(struct buf *b, const char *key, int64_t ms)
{
	if (ms % 3600000 == 0 && ms > 0)
		buf_printf(b, "%s = \"%lldh\"\n", key, (long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms > 0)
		buf_printf(b, "%s = \"%lldm\"\n", key, (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		buf_printf(b, "%s = \"%llds\"\n", key, (long long)(ms / 1000));
	else
		buf_printf(b, "%s = \"%lldms\"\n", key, (long long)ms);
}

void model_dump(const struct model_config *cfg, struct buf *b)
{
	buf_puts(b, "[model]\n");
	dump_str(b, "path", cfg->path);
	dump_str(b, "name", cfg->name);

	buf_puts(b, "\n[engine]\n");
	dump_str(b, "kind", engine_names[cfg->engine]);
	if (cfg->engine == MODEL_ENGINE_COMMAND)
		dump_strv(b, "command", cfg->command, cfg->ncommand);
	dump_strv(b, "args", cfg->args, cfg->nargs);
	buf_puts(b, "env = {");
	for (size_t i = 0; i < cfg->nenv; i++) {
		buf_printf(b, "%s %s = ", i ? "," : "", cfg->env[i].name);
		buf_json_str(b, cfg->env[i].value, strlen(cfg->env[i].value));
	}
	buf_puts(b, cfg->nenv ? " }\n" : "}\n");
	dump_str(b, "health_path", cfg->health_path);
	dump_duration(b, "startup_timeout", cfg->startup_timeout_ms);
	dump_duration(b, "drain_timeout", cfg->drain_timeout_ms);
	dump_duration(b, "hang_timeout", cfg->hang_timeout_ms);

	buf_puts(b, "\n[parallel]\n");
	buf_printf(b, "tp = %d\nnodes_per_worker = %d\nep = %d\n", cfg->tp,
		   cfg->nodes_per_worker, cfg->ep);
	dump_str(b, "backend", backend_names[cfg->backend]);

	buf_puts(b, "\n[slurm]\n");
	if (cfg->partition)
		dump_str(b, "partition", cfg->partition);
	if (cfg->qos)
		dump_str(b, "qos", cfg->qos);
	if (cfg->account)
		dump_str(b, "account", cfg->account);
	if (cfg->time)
		dump_str(b, "time", cfg->time);
	buf_printf(b, "gpus_per_node = %d\nnodes = %d\n", cfg->gpus_per_node, cfg->nodes);
	dump_strv(b, "extra_args", cfg->extra_args, cfg->nextra_args);

	buf_puts(b, "\n[scale]\n");
	buf_printf(b, "min_nodes = %d\nmax_nodes = %d\ntarget_nodes = %d\n", cfg->min_nodes,
		   cfg->max_nodes, cfg->target_nodes);
	dump_duration(b, "renew_before", cfg->renew_before_ms);

	if (cfg->registry_url) {
		buf_puts(b, "\n[registry]\n");
		dump_str(b, "url", cfg->registry_url);
	}

	buf_puts(b, "\n[routing]\n");
	dump_str(b, "policy", policy_names[cfg->policy]);
	if (cfg->migrate >= 0)
		buf_printf(b, "migrate = %s\n", cfg->migrate ? "true" : "false");
}

void model_free(struct model_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->name);
	tcfg_strv_free(cfg->args);
	for (size_t i = 0; i < cfg->nenv; i++) {
		free(cfg->env[i].name);
		free(cfg->env[i].value);
	}
	free(cfg->env);
	tcfg_strv_free(cfg->command);
	free(cfg->health_path);
	free(cfg->partition);
	free(cfg->qos);
	free(cfg->account);
	free(cfg->time);
	tcfg_strv_free(cfg->extra_args);
	free(cfg->registry_url);
	free(cfg);
}
