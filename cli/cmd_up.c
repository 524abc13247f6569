/* cmd_up.c — elasticctl up FILE: create or update a pool from a
 * model.toml; the registry then keeps it at its target. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "model.h"

static const char up_usage[] = "up [-o table|json] [--registry URL] [--auth MODE] FILE";

int cli_cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
		int c = cli_common_opt(opt, optarg);
		if (c < 0)
			return CLI_USAGE;
		if (c)
			continue;
		if (opt == 'h') {
			printf("usage: elasticctl %s\n\n"
			       "Sends FILE (a model.toml) to the registry, which creates the pool named\n"
			       "after its model (or updates it) and submits jobs until the pool has\n"
			       "scale.target_nodes of them (default max_nodes). The file is checked here\n"
			       "first; problems are printed as FILE:LINE:COL: message.\n\n"
			       "  -o, --output F   table (default) or json\n",
			       up_usage);
			return CLI_OK;
		}
		return cli_usage(up_usage);
	}
	if (argc - optind != 1)
		return cli_usage(up_usage);
	const char *path = argv[optind];

	/* Check locally first: the same messages, without a round trip. */
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	if (model_load(path, &cfg, &errs) < 0) {
		fputs(errs.data, stderr);
		buf_free(&errs);
		return CLI_FAIL;
	}
	model_free(cfg);
	buf_free(&errs);
	FILE *fp = fopen(path, "r");
	struct buf text = BUF_INIT;
	char chunk[8192];
	size_t n;
	if (!fp) {
		cli_error("cannot open %s: %m", path);
		return CLI_FAIL;
	}
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(&text, chunk, n);
	fclose(fp);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "config", json_object_new_string_len(text.data ? text.data : "", (int)text.len));
	json_object_object_add(req, "filename", json_object_new_string(base));
	buf_free(&text);
	struct json_object *o;
	int rc = cli_request("POST", "/api/v1/pools", json_object_to_json_string(req), &o, NULL, 0);
	json_object_put(req);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json) {
		cli_print_json(o);
	} else {
		struct json_object *p = cli_jget(o, "pool");
		printf("pool %s: target %.0f (max_nodes %.0f), %.0f pending, %.0f running, %.0f ready\n",
		       cli_jstr(p, "name", "?"), cli_jnum(p, "target", 0), cli_jnum(p, "max", 0),
		       cli_jnum(p, "pending", 0), cli_jnum(p, "running", 0), cli_jnum(p, "ready", 0));
	}
	json_object_put(o);
	return CLI_OK;
}
