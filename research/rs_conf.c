/* rs_conf.c — elastic-research's keys, endpoints and limits: defaults,
 * the environment, a .env file, then flags (--set NAME=VALUE). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_tools.h"

#define RS_ENV_MAX_FILE (1u << 20) /* a .env file larger than this is a mistake */

static const char *const rs_default_url[RS_NTOOLS] = {
	[RS_WEB_SEARCH] = "https://google.serper.dev",
	[RS_OPEN_PAGE] = "https://r.jina.ai",
	[RS_PAPER_SEARCH] = "https://api.semanticscholar.org",
	[RS_PUBMED_SEARCH] = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
};

enum rs_set_kind { RS_SET_KEY, RS_SET_URL, RS_SET_TIMEOUT, RS_SET_RETRIES,
		   RS_SET_BACKOFF, RS_SET_PAGE_MAX, RS_SET_RESULTS };

/* One setting: its variable name, what it sets, for which tool (-1: all). */
struct rs_setting {
	const char *name;
	enum rs_set_kind kind;
	int tool;
};

static const struct rs_setting rs_settings[] = {
	{"SERPER_API_KEY", RS_SET_KEY, RS_WEB_SEARCH},
	{"JINA_API_KEY", RS_SET_KEY, RS_OPEN_PAGE},
	{"S2_API_KEY", RS_SET_KEY, RS_PAPER_SEARCH},
	{"NCBI_API_KEY", RS_SET_KEY, RS_PUBMED_SEARCH},
	{"ES_SERPER_URL", RS_SET_URL, RS_WEB_SEARCH},
	{"ES_JINA_URL", RS_SET_URL, RS_OPEN_PAGE},
	{"ES_S2_URL", RS_SET_URL, RS_PAPER_SEARCH},
	{"ES_NCBI_URL", RS_SET_URL, RS_PUBMED_SEARCH},
	{"ES_TOOL_TIMEOUT", RS_SET_TIMEOUT, -1},
	{"ES_WEB_SEARCH_TIMEOUT", RS_SET_TIMEOUT, RS_WEB_SEARCH},
	{"ES_OPEN_PAGE_TIMEOUT", RS_SET_TIMEOUT, RS_OPEN_PAGE},
	{"ES_PAPER_SEARCH_TIMEOUT", RS_SET_TIMEOUT, RS_PAPER_SEARCH},
	{"ES_PUBMED_SEARCH_TIMEOUT", RS_SET_TIMEOUT, RS_PUBMED_SEARCH},
	{"ES_RETRIES", RS_SET_RETRIES, -1},
	{"ES_BACKOFF", RS_SET_BACKOFF, -1},
	{"ES_PAGE_MAX", RS_SET_PAGE_MAX, -1},
	{"ES_RESULTS", RS_SET_RESULTS, -1},
};
#define RS_NSETTINGS (sizeof rs_settings / sizeof rs_settings[0])

static const struct rs_setting *rs_setting_find(const char *name)
{
	for (size_t i = 0; i < RS_NSETTINGS; i++)
		if (strcmp(rs_settings[i].name, name) == 0)
			return &rs_settings[i];
	return NULL;
}

bool rs_conf_known(const char *name)
{
	return rs_setting_find(name) != NULL;
}

int rs_conf_parse_duration(const char *v, long *ms)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (end == v || errno || !isfinite(x) || x < 0)
		return -1;
	double scale;
	if (!*end || strcmp(end, "s") == 0)
		scale = 1000;
	else if (strcmp(end, "ms") == 0)
		scale = 1;
	else if (strcmp(end, "m") == 0)
		scale = 60000;
	else if (strcmp(end, "h") == 0)
		scale = 3600000;
	else
		return -1;
	x *= scale;
	if (x > 24.0 * 3600000)
		return -1;
	*ms = (long)(x + 0.5);
	return 0;
}

static int rs_parse_long(const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || *end || errno || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int rs_check_url(const char *v)
{
	const char *host;
	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else
		return -1;
	if (!*host || *host == '/')
		return -1;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	return 0;
}

int rs_conf_set(struct rs_conf *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct rs_setting *s = rs_setting_find(name);
	long x;
	if (!s) {
		snprintf(err, errlen, "unknown setting '%s'", name);
		return -1;
	}
	switch (s->kind) {
	case RS_SET_KEY:
		free(c->key[s->tool]);
		c->key[s->tool] = *value ? strdup(value) : NULL;
		return 0;
	case RS_SET_URL: {
		if (rs_check_url(value) < 0) {
			snprintf(err, errlen, "%s: '%s' is not an http:// or https:// URL", name, value);
			return -1;
		}
		char *u = strdup(value);
		size_t n = strlen(u);
		while (n > 0 && u[n - 1] == '/')
			u[--n] = 0;
		free(c->base_url[s->tool]);
		c->base_url[s->tool] = u;
		return 0;
	}
	case RS_SET_TIMEOUT:
		if (rs_conf_parse_duration(value, &x) < 0 || x <= 0) {
			snprintf(err, errlen, "%s: '%s' is not a duration (500ms, 30s, 2m)", name, value);
			return -1;
		}
		for (int t = 0; t < RS_NTOOLS; t++)
			if (s->tool < 0 || s->tool == t)
				c->timeout_ms[t] = x;
		return 0;
	case RS_SET_BACKOFF:
		if (rs_conf_parse_duration(value, &x) < 0 || x <= 0) {
			snprintf(err, errlen, "%s: '%s' is not a duration (500ms, 1s)", name, value);
			return -1;
		}
		c->backoff_ms = x;
		return 0;
	case RS_SET_RETRIES:
		if (rs_parse_long(value, 0, 10, &x) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a number from 0 to 10", name, value);
			return -1;
		}
		c->retries = (int)x;
		return 0;
	case RS_SET_PAGE_MAX:
		if (rs_parse_long(value, 200, 16L << 20, &x) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a number of bytes from 200 to 16777216", name, value);
			return -1;
		}
		c->page_max = (size_t)x;
		return 0;
	case RS_SET_RESULTS:
		if (rs_parse_long(value, 1, 100, &x) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a number from 1 to 100", name, value);
			return -1;
		}
		c->results = (int)x;
		return 0;
	}
	return -1;
}

void rs_conf_free(struct rs_conf *c)
{
	for (int t = 0; t < RS_NTOOLS; t++) {
		free(c->key[t]);
		free(c->base_url[t]);
	}
	for (size_t i = 0; i < c->ndotenv; i++)
		free(c->dotenv[i]);
	free(c->dotenv);
	memset(c, 0, sizeof *c);
}

const char *rs_conf_env(const struct rs_conf *c, const char *name)
{
	const char *v = getenv(name);
	if (v && *v)
		return v;
	size_t n = strlen(name);
	for (size_t i = c->ndotenv; i-- > 0;)
		if (strncmp(c->dotenv[i], name, n) == 0 && c->dotenv[i][n] == '=')
			return c->dotenv[i] + n + 1;
	return NULL;
}

/* ---------------------------------------------------------------- .env */

static void rs_dotenv_add(struct rs_conf *c, const char *k, const char *v)
{
	char **d = realloc(c->dotenv, (c->ndotenv + 1) * sizeof *d);
	if (!d)
		abort();
	c->dotenv = d;
	size_t kl = strlen(k), vl = strlen(v);
	char *e = malloc(kl + vl + 2);
	if (!e)
		abort();
	memcpy(e, k, kl);
	e[kl] = '=';
	memcpy(e + kl + 1, v, vl + 1);
	c->dotenv[c->ndotenv++] = e;
}

/* Parses one line (NUL-terminated, no newline) into KEY and VAL (both
 * point into LINE, which is modified). Returns 1 for a variable, 0 for a
 * blank or comment line, -1 with ERR. */
static int rs_dotenv_line(char *line, char **key, struct buf *val, char *err, size_t errlen)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return 0;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
		p += 6;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	char *k = p;
	while (*p && *p != '=' && *p != ' ' && *p != '\t')
		p++;
	char *kend = p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '=') {
		snprintf(err, errlen, "expected KEY=value");
		return -1;
	}
	*kend = 0;
	p++;
	if (!(isalpha((unsigned char)*k) || *k == '_')) {
		snprintf(err, errlen, "'%s' is not a variable name", k);
		return -1;
	}
	for (char *q = k; *q; q++) {
		if (!isalnum((unsigned char)*q) && *q != '_') {
			snprintf(err, errlen, "'%s' is not a variable name", k);
			return -1;
		}
	}
	*key = k;
	while (*p == ' ' || *p == '\t')
		p++;
	buf_reset(val);
	buf_puts(val, ""); /* data never NULL */
	if (*p == '\'' || *p == '"') {
		char quote = *p++;
		for (;;) {
			if (!*p) {
				snprintf(err, errlen, "%s: no closing %c quote", k, quote);
				return -1;
			}
			if (*p == quote)
				break;
			if (quote == '"' && *p == '\\' && p[1]) {
				p++;
				switch (*p) {
				case 'n': buf_putc(val, '\n'); break;
				case 't': buf_putc(val, '\t'); break;
				case 'r': buf_putc(val, '\r'); break;
				default: buf_putc(val, *p); break; /* \" \\ \$ */
				}
				p++;
				continue;
			}
			buf_putc(val, *p++);
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '#') {
			snprintf(err, errlen, "%s: text after the closing quote", k);
			return -1;
		}
		return 1;
	}
	/* unquoted: up to a " #" comment, trimmed */
	char *v = p, *end = p;
	for (; *p; p++) {
		if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t'))
			break;
		if (*p != ' ' && *p != '\t')
			end = p + 1;
	}
	buf_append(val, v, (size_t)(end - v));
	return 1;
}

static int rs_dotenv_load(struct rs_conf *c, const char *path, int required, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	struct buf text = BUF_INIT, val = BUF_INIT;
	char msg[256], chunk[4096];
	int ret = -1, lineno = 0;
	size_t n;
	if (!fp) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
		buf_append(&text, chunk, n);
		if (text.len > RS_ENV_MAX_FILE) {
			snprintf(err, errlen, "%s: larger than %u bytes", path, RS_ENV_MAX_FILE);
			goto cleanup;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (text.len && memchr(text.data, 0, text.len)) {
		size_t at = (size_t)((char *)memchr(text.data, 0, text.len) - text.data);
		int l = 1;
		for (size_t i = 0; i < at; i++)
			l += text.data[i] == '\n';
		snprintf(err, errlen, "%s:%d: a NUL byte", path, l);
		goto cleanup;
	}
	for (char *line = text.data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		size_t ll = strlen(line);
		if (ll && line[ll - 1] == '\r')
			line[ll - 1] = 0;
		lineno++;
		char *key;
		int r = rs_dotenv_line(line, &key, &val, msg, sizeof msg);
		if (r < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto cleanup;
		}
		if (r > 0) {
			rs_dotenv_add(c, key, val.data);
			const char *env = getenv(key);
			if (rs_conf_known(key) && !(env && *env) &&
			    rs_conf_set(c, key, val.data, msg, sizeof msg) < 0) {
				snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
				goto cleanup;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	ret = 0;
cleanup:
	fclose(fp);
	buf_free(&text);
	buf_free(&val);
	return ret;
}

/* The settings the environment sets (not empty); ES_TOOL_TIMEOUT comes
 * before the tools' own timeouts in rs_settings, so that those win. */
static int rs_conf_getenv(struct rs_conf *c, char *err, size_t errlen)
{
	char msg[256];
	for (size_t i = 0; i < RS_NSETTINGS; i++) {
		const char *v = getenv(rs_settings[i].name);
		if (v && *v && rs_conf_set(c, rs_settings[i].name, v, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "environment variable %s", msg);
			return -1;
		}
	}
	return 0;
}

int rs_conf_load(struct rs_conf *c, const char *envfile, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	for (int t = 0; t < RS_NTOOLS; t++) {
		c->base_url[t] = rs_default_url[t] ? strdup(rs_default_url[t]) : NULL;
		c->timeout_ms[t] = t == RS_OPEN_PAGE ? 60000 : 30000;
	}
	c->retries = 3;
	c->backoff_ms = 1000;
	c->page_max = 40000;
	c->results = 10;
	if (rs_conf_getenv(c, err, errlen) < 0)
		goto fail;
	if (rs_dotenv_load(c, envfile ? envfile : ".env", envfile != NULL, err, errlen) < 0)
		goto fail;
	/* again, so that the environment's ES_WEB_SEARCH_TIMEOUT wins over
	 * the file's ES_TOOL_TIMEOUT too */
	if (rs_conf_getenv(c, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rs_conf_free(c);
	return -1;
}
