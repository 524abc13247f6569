/* proxy_config.c — see proxy_config.h. */
#include "proxy_config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tcfg.h"
#include "toml.h"

void proxy_config_init(struct proxy_config *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->api_keys = PROXY_KEYS_AUTO;
	pc->max_body = 32 << 20;
	pc->header_timeout_ms = 10000;
	pc->body_timeout_ms = 60000;
	pc->idle_timeout_ms = 75000;
	pc->write_timeout_ms = 60000;
	pc->max_connections = 10000;
	pc->connect_timeout_ms = 3000;
	pc->response_timeout_ms = 5 * 60000;
	pc->stream_idle_timeout_ms = 2 * 60000;
	pc->wait_for_worker_ms = 30000;
	pc->attempts = 3;
	pc->eject_after = 3;
	pc->eject_time_ms = 5000;
	pc->eject_max_ms = 2 * 60000;
	pc->upstream_idle = 256;
	pc->max_migrations = 2;
	pc->migrate = true;
	proxy_route_params_default(&pc->route);
	pc->prefix_block = 64;
	pc->prefix_max_blocks = 2048;
	pc->prefix_entries = 262144;
}

void proxy_config_free(struct proxy_config *pc)
{
	free(pc->keys_file);
	pc->keys_file = NULL;
}

int proxy_keys_mode_parse(const char *s, enum proxy_keys_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = PROXY_KEYS_AUTO;
	else if (strcmp(s, "required") == 0)
		*out = PROXY_KEYS_REQUIRED;
	else if (strcmp(s, "off") == 0)
		*out = PROXY_KEYS_OFF;
	else
		return -1;
	return 0;
}

int proxy_parse_size(const char *s, int64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	int64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	static const struct {
		const char *unit;
		int shift;
	} units[] = {
		{"", 0}, {"B", 0}, {"k", 10}, {"K", 10}, {"KiB", 10}, {"M", 20}, {"MiB", 20},
		{"G", 30}, {"GiB", 30},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s, units[i].unit) == 0) {
			if (v > (INT64_MAX >> units[i].shift))
				return -1;
			*out = v << units[i].shift;
			return 0;
		}
	}
	return -1;
}

static const char *const proxy_keys[] = {
	"api_keys", "keys_file", "max_body", "header_timeout", "body_timeout", "idle_timeout",
	"write_timeout", "max_connections", "connect_timeout", "response_timeout",
	"stream_idle_timeout", "wait_for_worker", "attempts", "eject_after", "eject_time",
	"eject_max", "upstream_idle", "max_migrations", NULL,
};

/* A number (integer or float) in MIN..MAX. */
static void get_double(struct tcfg *c, const struct toml_value *tab, const char *sect,
		       const char *key, double min, double max, double *out)
{
	const struct toml_value *v = toml_table_get(tab, key);
	if (!v)
		return;
	double d;
	if (v->type == TOML_FLOAT)
		d = v->u.f;
	else if (v->type == TOML_INTEGER)
		d = (double)v->u.i;
	else {
		tcfg_error(c, v->pos, "%s.%s must be a number", sect, key);
		return;
	}
	if (!(d >= min && d <= max)) {
		tcfg_error(c, v->pos, "%s.%s must be between %g and %g", sect, key, min, max);
		return;
	}
	*out = d;
}

void proxy_config_parse(struct tcfg *c, const struct toml_value *root, struct proxy_config *pc)
{
	const struct toml_value *p = tcfg_table(c, root, "proxy");
	if (!p)
		return;
	tcfg_check_keys(c, p, "proxy", proxy_keys);
	static const char *const modes[] = {"auto", "required", "off", NULL};
	int m;
	if (tcfg_enum(c, p, "proxy", "api_keys", modes, &m) == 1)
		pc->api_keys = (enum proxy_keys_mode)m;
	if (tcfg_str(c, p, "proxy", "keys_file", &pc->keys_file) == 1 && pc->keys_file[0] != '/')
		tcfg_error(c, toml_table_get(p, "keys_file")->pos,
			   "proxy.keys_file must be an absolute path");
	const struct toml_value *mb = toml_table_get(p, "max_body");
	if (mb) {
		int64_t v = -1;
		if (mb->type == TOML_INTEGER)
			v = mb->u.i;
		else if (mb->type != TOML_STRING || proxy_parse_size(mb->u.s.ptr, &v) < 0)
			v = -1;
		if (v < 1024 || v > ((int64_t)4 << 30))
			tcfg_error(c, mb->pos,
				   "proxy.max_body must be a size from 1KiB to 4GiB (\"32MiB\", or bytes)");
		else
			pc->max_body = v;
	}
	tcfg_duration(c, p, "proxy", "header_timeout", 100, &pc->header_timeout_ms);
	tcfg_duration(c, p, "proxy", "body_timeout", 100, &pc->body_timeout_ms);
	tcfg_duration(c, p, "proxy", "idle_timeout", 100, &pc->idle_timeout_ms);
	tcfg_duration(c, p, "proxy", "write_timeout", 100, &pc->write_timeout_ms);
	tcfg_int(c, p, "proxy", "max_connections", 16, 1000000, &pc->max_connections);
	tcfg_duration(c, p, "proxy", "connect_timeout", 10, &pc->connect_timeout_ms);
	tcfg_duration(c, p, "proxy", "response_timeout", 10, &pc->response_timeout_ms);
	tcfg_duration(c, p, "proxy", "stream_idle_timeout", 10, &pc->stream_idle_timeout_ms);
	tcfg_duration(c, p, "proxy", "wait_for_worker", 0, &pc->wait_for_worker_ms);
	tcfg_int(c, p, "proxy", "attempts", 1, 16, &pc->attempts);
	tcfg_int(c, p, "proxy", "eject_after", 0, 1000, &pc->eject_after);
	tcfg_duration(c, p, "proxy", "eject_time", 10, &pc->eject_time_ms);
	tcfg_duration(c, p, "proxy", "eject_max", 10, &pc->eject_max_ms);
	tcfg_int(c, p, "proxy", "upstream_idle", 0, 100000, &pc->upstream_idle);
	tcfg_int(c, p, "proxy", "max_migrations", 0, 16, &pc->max_migrations);
	int64_t d[] = {pc->header_timeout_ms, pc->body_timeout_ms, pc->idle_timeout_ms,
		       pc->write_timeout_ms, pc->connect_timeout_ms, pc->response_timeout_ms,
		       pc->stream_idle_timeout_ms, pc->wait_for_worker_ms, pc->eject_time_ms,
		       pc->eject_max_ms};
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		if (d[i] > (int64_t)24 * 3600 * 1000)
			tcfg_error(c, p->pos, "[proxy] durations must not exceed a day");
	if (pc->eject_max_ms < pc->eject_time_ms)
		tcfg_error(c, tcfg_pos(p, "eject_max"),
			   "proxy.eject_max must not be shorter than eject_time");
}

void proxy_config_parse_routing(struct tcfg *c, const struct toml_value *r, struct proxy_config *pc)
{
	if (!r)
		return;
	int v = (int)pc->route.imbalance_abs;
	if (tcfg_int(c, r, "routing", "imbalance_abs", 0, 1000000, &v) == 1)
		pc->route.imbalance_abs = v;
	get_double(c, r, "routing", "imbalance_rel", 1.0, 1000.0, &pc->route.imbalance_rel);
	get_double(c, r, "routing", "cache_threshold", 0.0, 1.0, &pc->route.cache_threshold);
	tcfg_int(c, r, "routing", "prefix_block", 16, 4096, &pc->prefix_block);
	tcfg_int(c, r, "routing", "prefix_max_blocks", 1, 65536, &pc->prefix_max_blocks);
	tcfg_int(c, r, "routing", "prefix_entries", 1024, 1 << 26, &pc->prefix_entries);
	int mig;
	if (tcfg_bool(c, r, "routing", "migrate", &mig) == 1)
		pc->migrate = mig;
}
