/* reg_config.c — see reg_config.h. */
#include "reg_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcfg.h"
#include "toml.h"
#include "reg_util.h"

#define REG_CONFIG_MAX_BYTES (256 * 1024)

void reg_config_init(struct reg_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->listen_port = REG_DEFAULT_PORT;
	cfg->auth = reg_strdup("munge");
	cfg->check_worker_host = true;
	cfg->heartbeat_ms = 1000;
	cfg->heartbeat_timeout_ms = 3000;
	cfg->keep_gone_ms = 10 * 60 * 1000;
	cfg->max_pending = 4;
	cfg->poll_ms = 5000;
	cfg->backoff_min_ms = 5000;
	cfg->backoff_max_ms = 5 * 60 * 1000;
	cfg->drain_timeout_ms = 2 * 60 * 1000;
	cfg->sbatch = reg_strdup("sbatch");
	cfg->squeue = reg_strdup("squeue");
	cfg->scancel = reg_strdup("scancel");
	cfg->sacct = reg_strdup("sacct");
	cfg->command_timeout_ms = 30000;
	cfg->policy = MODEL_POLICY_CACHE_AWARE;
	proxy_config_init(&cfg->proxy);
}

void reg_config_free(struct reg_config *cfg)
{
	free(cfg->listen_host);
	free(cfg->advertise_url);
	free(cfg->state_dir);
	free(cfg->auth);
	free(cfg->munge_socket);
	free(cfg->allow_uids);
	free(cfg->log_level);
	free(cfg->log_file);
	free(cfg->job_script);
	free(cfg->output_dir);
	free(cfg->sbatch);
	free(cfg->squeue);
	free(cfg->scancel);
	free(cfg->sacct);
	proxy_config_free(&cfg->proxy);
	memset(cfg, 0, sizeof *cfg);
}

int reg_config_set_listen(struct reg_config *cfg, const char *spec, char *err, size_t errlen)
{
	const char *host = NULL, *port = spec;
	size_t hl = 0;
	if (spec[0] == '[') {
		const char *e = strchr(spec, ']');
		if (!e || e[1] != ':') {
			snprintf(err, errlen, "bad listen address '%s' (expected [ADDRESS]:PORT)", spec);
			return -1;
		}
		host = spec + 1;
		hl = (size_t)(e - host);
		port = e + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (colon) {
			if (strchr(spec, ':') != colon) {
				snprintf(err, errlen,
					 "bad listen address '%s' (write IPv6 addresses as [ADDRESS]:PORT)",
					 spec);
				return -1;
			}
			host = spec;
			hl = (size_t)(colon - spec);
			port = colon + 1;
		}
	}
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 0 || p > 65535 || !isdigit((unsigned char)*port)) {
		snprintf(err, errlen, "bad port in listen address '%s'", spec);
		return -1;
	}
	free(cfg->listen_host);
	cfg->listen_host = NULL;
	if (host && hl > 0 && !(hl == 1 && host[0] == '*')) {
		cfg->listen_host = strndup(host, hl);
		if (!cfg->listen_host)
			abort();
	}
	cfg->listen_port = (int)p;
	return 0;
}

int reg_config_add_uid(struct reg_config *cfg, const char *spec, char *err, size_t errlen)
{
	uid_t uid;
	char *end;
	errno = 0;
	unsigned long v = strtoul(spec, &end, 10);
	if (*spec && isdigit((unsigned char)*spec) && !*end && !errno && v < (unsigned long)UINT32_MAX) {
		uid = (uid_t)v;
	} else {
		struct passwd *pw = getpwnam(spec);
		if (!pw) {
			snprintf(err, errlen, "unknown user '%s'", spec);
			return -1;
		}
		uid = pw->pw_uid;
	}
	uid_t *u = realloc(cfg->allow_uids, (cfg->nallow_uids + 1) * sizeof *u);
	if (!u)
		abort();
	cfg->allow_uids = u;
	u[cfg->nallow_uids++] = uid;
	return 0;
}

static const char *const top_keys[] = {
	"listen", "advertise_url", "state_dir", "auth", "allow_uids", "log_level", "log_file",
	"check_worker_host", "munge_socket", "health", "acquirer", "slurm", "routing", "proxy",
	NULL,
};
static const char *const health_keys[] = {
	"heartbeat_interval", "heartbeat_timeout", "keep_gone", NULL,
};
static const char *const acquirer_keys[] = {
	"max_pending", "poll_interval", "backoff_min", "backoff_max", "drain_timeout",
	"job_script", "output_dir", NULL,
};
static const char *const slurm_keys[] = {
	"sbatch", "squeue", "scancel", "sacct", "timeout", NULL,
};
static const char *const routing_keys[] = {"policy", PROXY_CONFIG_ROUTING_KEYS, NULL};
static const char *const policy_names[] = {"cache_aware", "round_robin", "least_load", "session", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

static void parse_top(struct tcfg *c, const struct toml_value *root, struct reg_config *cfg)
{
	char *s = NULL;
	char err[256];
	if (tcfg_str(c, root, NULL, "listen", &s) == 1 &&
	    reg_config_set_listen(cfg, s, err, sizeof err) < 0)
		tcfg_error(c, toml_table_get(root, "listen")->pos, "listen: %s", err);
	free(s);
	s = NULL;
	if (tcfg_str(c, root, NULL, "advertise_url", &cfg->advertise_url) == 1 &&
	    strncmp(cfg->advertise_url, "http://", 7) != 0)
		tcfg_error(c, toml_table_get(root, "advertise_url")->pos,
			   "advertise_url must start with http://");
	if (tcfg_str(c, root, NULL, "state_dir", &cfg->state_dir) == 1 && cfg->state_dir[0] != '/')
		tcfg_error(c, toml_table_get(root, "state_dir")->pos,
			   "state_dir must be an absolute path");
	if (tcfg_str(c, root, NULL, "auth", &s) == 1) {
		if (strcmp(s, "munge") && strcmp(s, "none") && strncmp(s, "token:", 6))
			tcfg_error(c, toml_table_get(root, "auth")->pos,
				   "unknown auth \"%s\"; expected munge, token:PATH or none", s);
		else if (strncmp(s, "token:", 6) == 0 && !s[6])
			tcfg_error(c, toml_table_get(root, "auth")->pos,
				   "auth \"token:\" needs a path (token:PATH)");
		free(cfg->auth);
		cfg->auth = s;
		s = NULL;
	}
	int lv;
	if (tcfg_enum(c, root, NULL, "log_level", level_names, &lv) == 1) {
		free(cfg->log_level);
		cfg->log_level = reg_strdup(level_names[lv]);
	}
	tcfg_str(c, root, NULL, "log_file", &cfg->log_file);
	int check;
	if (tcfg_bool(c, root, NULL, "check_worker_host", &check) == 1)
		cfg->check_worker_host = check;
	if (tcfg_str(c, root, NULL, "munge_socket", &cfg->munge_socket) == 1 &&
	    (cfg->munge_socket[0] != '/' || strlen(cfg->munge_socket) >= 108))
		tcfg_error(c, toml_table_get(root, "munge_socket")->pos,
			   "munge_socket must be an absolute path of at most 107 bytes");

	const struct toml_value *u = toml_table_get(root, "allow_uids");
	if (u && u->type != TOML_ARRAY) {
		tcfg_error(c, u->pos, "allow_uids must be an array of uids or user names");
	} else if (u) {
		for (size_t i = 0; i < u->u.arr.len; i++) {
			const struct toml_value *e = u->u.arr.items[i];
			char spec[64];
			if (e->type == TOML_INTEGER && e->u.i >= 0 && e->u.i < 4294967295LL) {
				snprintf(spec, sizeof spec, "%lld", (long long)e->u.i);
			} else if (e->type == TOML_STRING && e->u.s.len > 0 && e->u.s.len < sizeof spec &&
				   strlen(e->u.s.ptr) == e->u.s.len) {
				snprintf(spec, sizeof spec, "%s", e->u.s.ptr);
			} else {
				tcfg_error(c, e->pos, "allow_uids[%zu] must be a uid (0..4294967294) or a user name", i);
				continue;
			}
			if (reg_config_add_uid(cfg, spec, err, sizeof err) < 0)
				tcfg_error(c, e->pos, "allow_uids[%zu]: %s", i, err);
		}
	}
}

static void parse_health(struct tcfg *c, const struct toml_value *root, struct reg_config *cfg)
{
	const struct toml_value *h = tcfg_table(c, root, "health");
	if (!h)
		return;
	tcfg_check_keys(c, h, "health", health_keys);
	tcfg_duration(c, h, "health", "heartbeat_interval", 100, &cfg->heartbeat_ms);
	tcfg_duration(c, h, "health", "heartbeat_timeout", 200, &cfg->heartbeat_timeout_ms);
	tcfg_duration(c, h, "health", "keep_gone", 0, &cfg->keep_gone_ms);
	if (cfg->heartbeat_timeout_ms <= cfg->heartbeat_ms)
		tcfg_error(c, tcfg_pos(h, "heartbeat_timeout"),
			   "health.heartbeat_timeout must be longer than heartbeat_interval");
}

static void parse_acquirer(struct tcfg *c, const struct toml_value *root, struct reg_config *cfg)
{
	const struct toml_value *a = tcfg_table(c, root, "acquirer");
	if (!a)
		return;
	tcfg_check_keys(c, a, "acquirer", acquirer_keys);
	tcfg_int(c, a, "acquirer", "max_pending", 1, 10000, &cfg->max_pending);
	tcfg_duration(c, a, "acquirer", "poll_interval", 200, &cfg->poll_ms);
	tcfg_duration(c, a, "acquirer", "backoff_min", 100, &cfg->backoff_min_ms);
	tcfg_duration(c, a, "acquirer", "backoff_max", 100, &cfg->backoff_max_ms);
	tcfg_duration(c, a, "acquirer", "drain_timeout", 0, &cfg->drain_timeout_ms);
	if (tcfg_str(c, a, "acquirer", "job_script", &cfg->job_script) == 1 &&
	    cfg->job_script[0] != '/')
		tcfg_error(c, toml_table_get(a, "job_script")->pos,
			   "acquirer.job_script must be an absolute path");
	if (tcfg_str(c, a, "acquirer", "output_dir", &cfg->output_dir) == 1 &&
	    cfg->output_dir[0] != '/')
		tcfg_error(c, toml_table_get(a, "output_dir")->pos,
			   "acquirer.output_dir must be an absolute path");
	if (cfg->backoff_max_ms < cfg->backoff_min_ms)
		tcfg_error(c, tcfg_pos(a, "backoff_max"),
			   "acquirer.backoff_max must not be shorter than backoff_min");
}

static void parse_slurm(struct tcfg *c, const struct toml_value *root, struct reg_config *cfg)
{
	const struct toml_value *s = tcfg_table(c, root, "slurm");
	if (!s)
		return;
	tcfg_check_keys(c, s, "slurm", slurm_keys);
	static const char *const cmds[] = {"sbatch", "squeue", "scancel"};
	char **dst[] = {&cfg->sbatch, &cfg->squeue, &cfg->scancel};
	for (int i = 0; i < 3; i++)
		if (tcfg_str(c, s, "slurm", cmds[i], dst[i]) == 1 && !*dst[i][0])
			tcfg_error(c, toml_table_get(s, cmds[i])->pos, "slurm.%s must not be empty",
				   cmds[i]);
	tcfg_str(c, s, "slurm", "sacct", &cfg->sacct);
	tcfg_duration(c, s, "slurm", "timeout", 1000, &cfg->command_timeout_ms);
}

static void parse_routing(struct tcfg *c, const struct toml_value *root, struct reg_config *cfg)
{
	const struct toml_value *r = tcfg_table(c, root, "routing");
	if (!r)
		return;
	tcfg_check_keys(c, r, "routing", routing_keys);
	int p;
	if (tcfg_enum(c, r, "routing", "policy", policy_names, &p) == 1)
		model_policy_parse(policy_names[p], &cfg->policy);
	proxy_config_parse_routing(c, r, &cfg->proxy);
}

/* Unknown top-level keys and sections (tcfg_check_keys expects only
 * sections at the top, as in model.toml; this file has keys there too). */
static void check_top_keys(struct tcfg *c, const struct toml_value *root)
{
	static const char *const keys[] = {"listen", "advertise_url", "state_dir", "auth",
					   "allow_uids", "log_level", "log_file",
					   "check_worker_host", "munge_socket", NULL};
	static const char *const sections[] = {"health", "acquirer", "slurm", "routing", "proxy",
					       NULL};
	for (size_t i = 0; i < root->u.tab.len; i++) {
		const struct toml_kv *kv = &root->u.tab.items[i];
		if (tcfg_is_key(kv->key, top_keys))
			continue;
		if (kv->val->type == TOML_TABLE) {
			tcfg_unknown_key(c, kv, NULL, sections);
			continue;
		}
		const char *near = tcfg_suggest(kv->key, keys);
		if (near)
			tcfg_error(c, kv->key_pos, "unknown key \"%s\" (did you mean \"%s\"?)", kv->key, near);
		else
			tcfg_error(c, kv->key_pos, "unknown key \"%s\"", kv->key);
	}
}

int reg_config_parse(struct reg_config *cfg, const char *src, size_t len, const char *filename,
		     struct buf *errs)
{
	struct tcfg c = {filename, errs, 0};
	struct toml_error terr;
	struct toml_value *root = toml_parse(src, len, &terr);
	if (!root) {
		tcfg_error(&c, (struct toml_pos){terr.line, terr.col}, "%s", terr.msg);
		return -1;
	}
	check_top_keys(&c, root);
	parse_top(&c, root, cfg);
	parse_health(&c, root, cfg);
	parse_acquirer(&c, root, cfg);
	parse_slurm(&c, root, cfg);
	parse_routing(&c, root, cfg);
	proxy_config_parse(&c, root, &cfg->proxy);
	toml_free(root);
	return c.nerr ? -1 : 0;
}

int reg_config_load(struct reg_config *cfg, const char *path, struct buf *errs)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_printf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	struct buf b = BUF_INIT;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf_printf(errs, "%s: cannot read: %s\n", path, strerror(errno));
			close(fd);
			buf_free(&b);
			return -1;
		}
		if (n == 0)
			break;
		buf_append(&b, chunk, (size_t)n);
		if (b.len > REG_CONFIG_MAX_BYTES) {
			buf_printf(errs, "%s: larger than %d bytes\n", path, REG_CONFIG_MAX_BYTES);
			close(fd);
			buf_free(&b);
			return -1;
		}
	}
	close(fd);
	int rc = reg_config_parse(cfg, b.data ? b.data : "", b.len, path, errs);
	buf_free(&b);
	return rc;
}

int reg_config_is_loopback(const char *host)
{
	if (!host)
		return 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 1;
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return 0;
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (!s)
		abort();
	snprintf(s, n, "%s/%s", a, b);
	return s;
}

int reg_config_finish(struct reg_config *cfg, const char *exe_dir, char *err, size_t errlen)
{
	if (!cfg->state_dir) {
		const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (geteuid() == 0)
			cfg->state_dir = reg_strdup("/var/lib/elastic-serve/registry");
		else if (xdg && xdg[0] == '/')
			cfg->state_dir = join(xdg, "elastic-serve/registry");
		else if (home && home[0] == '/')
			cfg->state_dir = join(home, ".local/state/elastic-serve/registry");
		else {
			snprintf(err, errlen, "no state directory: set state_dir or --state-dir");
			return -1;
		}
	}
	if (cfg->state_dir[0] != '/') {
		/* A relative --state-dir is taken from the working directory. */
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd)) {
			snprintf(err, errlen, "cannot get the working directory: %s", strerror(errno));
			return -1;
		}
		char *abs = join(cwd, cfg->state_dir);
		free(cfg->state_dir);
		cfg->state_dir = abs;
	}
	if (!cfg->output_dir)
		cfg->output_dir = join(cfg->state_dir, "jobs");
	if (!cfg->job_script && exe_dir) {
		/* Installed: PREFIX/sbin/.. /share/elastic-serve; in the source
		 * tree: registry/../etc. */
		static const char *const rel[] = {"../share/elastic-serve/elastic-job.sh",
						  "../etc/elastic-job.sh"};
		for (size_t i = 0; i < 2 && !cfg->job_script; i++) {
			char *p = join(exe_dir, rel[i]);
			char real[PATH_MAX];
			if (realpath(p, real) && access(real, R_OK) == 0)
				cfg->job_script = reg_strdup(real);
			free(p);
		}
	}
	if (!cfg->job_script) {
		snprintf(err, errlen,
			 "cannot find the job script elastic-job.sh; set acquirer.job_script or --job-script");
		return -1;
	}
	if (cfg->heartbeat_timeout_ms <= cfg->heartbeat_ms) {
		snprintf(err, errlen, "heartbeat timeout (%lld ms) must be longer than the interval (%lld ms)",
			 (long long)cfg->heartbeat_timeout_ms, (long long)cfg->heartbeat_ms);
		return -1;
	}
	if (strcmp(cfg->auth, "none") == 0 && !reg_config_is_loopback(cfg->listen_host)) {
		snprintf(err, errlen,
			 "auth none is only allowed on a loopback address (listen on 127.0.0.1:PORT), not %s",
			 cfg->listen_host ? cfg->listen_host : "every address");
		return -1;
	}
	if (strcmp(cfg->auth, "munge") && strcmp(cfg->auth, "none") &&
	    (strncmp(cfg->auth, "token:", 6) || !cfg->auth[6])) {
		snprintf(err, errlen, "unknown auth '%s'; expected munge, token:PATH or none", cfg->auth);
		return -1;
	}
	return 0;
}
