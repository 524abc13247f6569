/* client.c — how elasticctl talks to elastic-registry: options, signed
 * requests (lib/hcall + lib/auth), errors in git's style, JSON helpers. */
#include <ctype.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "cli.h"
#include "hcall.h"

struct cli_opts cli_opts;

int cli_common_opt(int opt, const char *arg)
{
	switch (opt) {
	case 'R':
		cli_opts.registry = arg;
		return 1;
	case 'A':
		cli_opts.auth = arg;
		return 1;
	case 'o':
		if (strcmp(arg, "json") == 0)
			cli_opts.json = 1;
		else if (strcmp(arg, "table") == 0)
			cli_opts.json = 0;
		else {
			cli_error("unknown output format '%s' (use table or json)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

const char *cli_registry_url(void)
{
	if (cli_opts.registry)
		return cli_opts.registry;
	const char *e = getenv("ELASTIC_REGISTRY_URL");
	return e && *e ? e : CLI_DEFAULT_REGISTRY;
}

static void say(char *errbuf, size_t errlen, const char *fmt, const char *a, const char *b)
{
	if (errbuf) {
		snprintf(errbuf, errlen, fmt, a, b);
	} else {
		fputs("error: ", stderr);
		fprintf(stderr, fmt, a, b);
		fputc('\n', stderr);
	}
}

int cli_request(const char *method, const char *target, const char *body,
		struct json_object **out, char *errbuf, size_t errlen)
{
	static struct auth_client auth;
	static int auth_ready;
	char err[512];
	const char *url = cli_registry_url();
	if (out)
		*out = NULL;
	if (!auth_ready) {
		const char *spec = cli_opts.auth ? cli_opts.auth : getenv("ELASTIC_AUTH");
		if (!spec || !*spec)
			spec = "munge";
		if (auth_client_init(&auth, spec, err, sizeof err) < 0) {
			say(errbuf, errlen, "%s%s", err, "");
			return CLI_FAIL;
		}
		auth_ready = 1;
	}
	struct hcall_resp r;
	int rc = hcall(url, method, target, body, body ? strlen(body) : 0, &auth, CLI_TIMEOUT_MS,
		       &r, err, sizeof err);
	if (rc == HCALL_EAUTH) {
		say(errbuf, errlen, "cannot sign the request: %s%s", err, "");
		hcall_resp_free(&r);
		return CLI_FAIL;
	}
	if (rc == HCALL_EURL) {
		say(errbuf, errlen, "bad registry URL: %s%s", err, "");
		hcall_resp_free(&r);
		return CLI_FAIL;
	}
	if (rc < 0) {
		say(errbuf, errlen, "cannot reach registry at %s: %s", url, err);
		hcall_resp_free(&r);
		return CLI_FAIL;
	}
	struct json_object *o = json_tokener_parse(r.body.data);
	if (r.status < 200 || r.status > 299) {
		struct json_object *e = NULL, *m = NULL;
		const char *msg = NULL;
		if (o && json_object_object_get_ex(o, "error", &e) && json_object_object_get_ex(e, "message", &m))
			msg = json_object_get_string(m);
		char st[32];
		snprintf(st, sizeof st, "%d", r.status);
		if (msg && strchr(msg, '\n') && !errbuf) {
			/* Several lines (model.toml problems): one per line, as is. */
			fprintf(stderr, "%s\n", msg);
		} else if (msg) {
			say(errbuf, errlen, "%s%s", msg, "");
		} else {
			say(errbuf, errlen, "registry answered %s to %s", st, target);
		}
		if (r.status == 401 && !errbuf)
			fprintf(stderr, "hint: elasticctl signs requests with --auth (munge by default); the "
					"registry must use the same kind\n");
		json_object_put(o);
		hcall_resp_free(&r);
		return CLI_FAIL;
	}
	hcall_resp_free(&r);
	if (!o) {
		say(errbuf, errlen, "the registry at %s answered something that is not JSON%s", url, "");
		return CLI_FAIL;
	}
	if (out)
		*out = o;
	else
		json_object_put(o);
	return CLI_OK;
}

void cli_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

void cli_fmt_age(double s, char *out, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, len, "%.0fs", s);
	else if (s < 2 * 3600)
		snprintf(out, len, "%.0fm", s / 60);
	else if (s < 2 * 86400)
		snprintf(out, len, "%.0fh", s / 3600);
	else
		snprintf(out, len, "%.0fd", s / 86400);
}

char *cli_path_escape(const char *s)
{
	struct buf b = BUF_INIT;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~:@+", c))
			buf_putc(&b, (char)c);
		else
			buf_printf(&b, "%%%02X", c);
	}
	return buf_steal(&b);
}

struct json_object *cli_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (o && json_object_object_get_ex(o, key, &v))
		return v;
	return NULL;
}

const char *cli_jstr(struct json_object *o, const char *key, const char *def)
{
	struct json_object *v = cli_jget(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

double cli_jnum(struct json_object *o, const char *key, double def)
{
	struct json_object *v = cli_jget(o, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_double(v);
	return def;
}
