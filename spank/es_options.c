/* es_options.c — see es_options.h. */
#include "es_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcfg.h"

static const char *const es_keys[] = {
	"registry", "agent", "auth", "notify_timeout", "port_base", "run_dir", NULL,
};

void es_opts_default(struct es_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->agent, sizeof o->agent, "%s", ES_DEFAULT_AGENT);
	snprintf(o->auth, sizeof o->auth, "munge");
	o->notify_timeout_ms = ES_DEFAULT_NOTIFY_MS;
	o->port_base = ES_DEFAULT_PORT_BASE;
	snprintf(o->run_dir, sizeof o->run_dir, "%s", ES_DEFAULT_RUN_DIR);
}

static int set_str(char *dst, size_t cap, const char *key, const char *v, char *err,
		   size_t errlen)
{
	if (strlen(v) >= cap) {
		snprintf(err, errlen, "plugstack argument %s= is too long", key);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "plugstack argument %s= holds a control character", key);
			return -1;
		}
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int parse_int(const char *key, const char *v, long min, long max, int *out, char *err,
		     size_t errlen)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max) {
		snprintf(err, errlen, "plugstack argument %s=%s: expected a number from %ld to %ld",
			 key, v, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int check_url(const char *v, char *err, size_t errlen)
{
	const char *h = strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
	if (!h || !*h || *h == '/' || *h == ':' || strchr(v, ' ')) {
		snprintf(err, errlen,
			 "plugstack argument registry=%s: expected an http:// URL with a host, e.g. registry=http://login1:8780",
			 v);
		return -1;
	}
	return 0;
}

int es_opts_parse(struct es_opts *o, int ac, char **av, char *err, size_t errlen)
{
	es_opts_default(o);
	for (int i = 0; i < ac; i++) {
		const char *a = av[i];
		const char *eq = strchr(a, '=');
		char key[64];
		size_t kl = eq ? (size_t)(eq - a) : strlen(a);
		if (kl >= sizeof key)
			kl = sizeof key - 1;
		memcpy(key, a, kl);
		key[kl] = '\0';
		if (!tcfg_is_key(key, es_keys)) {
			const char *near = tcfg_suggest(key, es_keys);
			if (near)
				snprintf(err, errlen,
					 "unknown plugstack argument \"%s\" (did you mean \"%s\"?)", a,
					 near);
			else
				snprintf(err, errlen,
					 "unknown plugstack argument \"%s\"; known: registry= agent= auth= notify_timeout= port_base= run_dir=",
					 a);
			return -1;
		}
		if (!eq) {
			snprintf(err, errlen, "plugstack argument \"%s\" needs a value: %s=...", a, key);
			return -1;
		}
		const char *v = eq + 1;
		if (!strcmp(key, "registry")) {
			if (set_str(o->registry, sizeof o->registry, key, v, err, errlen) < 0)
				return -1;
			if (*v && check_url(v, err, errlen) < 0)
				return -1;
		} else if (!strcmp(key, "agent")) {
			if (set_str(o->agent, sizeof o->agent, key, v, err, errlen) < 0)
				return -1;
			if (v[0] != '/') {
				snprintf(err, errlen, "plugstack argument agent=%s must be an absolute path", v);
				return -1;
			}
		} else if (!strcmp(key, "auth")) {
			if (set_str(o->auth, sizeof o->auth, key, v, err, errlen) < 0)
				return -1;
			if (strcmp(v, "munge") && strcmp(v, "none") &&
			    !(strncmp(v, "token:/", 7) == 0 && v[7])) {
				snprintf(err, errlen,
					 "plugstack argument auth=%s: expected munge, token:/ABSOLUTE/PATH or none",
					 v);
				return -1;
			}
		} else if (!strcmp(key, "notify_timeout")) {
			if (parse_int(key, v, 100, 10000, &o->notify_timeout_ms, err, errlen) < 0)
				return -1;
		} else if (!strcmp(key, "port_base")) {
			if (parse_int(key, v, 1024, 60000, &o->port_base, err, errlen) < 0)
				return -1;
		} else if (!strcmp(key, "run_dir")) {
			if (set_str(o->run_dir, sizeof o->run_dir, key, v, err, errlen) < 0)
				return -1;
			if (v[0] != '/') {
				snprintf(err, errlen, "plugstack argument run_dir=%s must be an absolute path",
					 v);
				return -1;
			}
		}
	}
	return 0;
}
