/* cmd_scale.c — elasticctl scale NAME N: set a pool's target. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"

static const char scale_usage[] = "scale [-o table|json] [--registry URL] [--auth MODE] NAME N";

int cli_cmd_scale(int argc, char **argv)
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
			       "Sets how many jobs (of [slurm] nodes nodes each) pool NAME keeps, between\n"
			       "its scale.min_nodes and max_nodes. Scaling down cancels pending jobs\n"
			       "first, then drains and cancels the least loaded running ones; 0 cancels\n"
			       "everything but keeps the pool.\n\n"
			       "  -o, --output F   table (default) or json\n",
			       scale_usage);
			return CLI_OK;
		}
		return cli_usage(scale_usage);
	}
	if (argc - optind != 2)
		return cli_usage(scale_usage);
	char *end;
	const char *ns = argv[optind + 1];
	long n = strtol(ns, &end, 10);
	if (!*ns || *end || n < 0 || n > 100000) {
		cli_error("'%s' is not a number of nodes (0 or more)", ns);
		return CLI_USAGE;
	}
	char *name = cli_path_escape(argv[optind]);
	struct buf target = BUF_INIT, body = BUF_INIT;
	buf_printf(&target, "/api/v1/pools/%s/scale", name);
	buf_printf(&body, "{\"target\":%ld}", n);
	free(name);
	struct json_object *o;
	int rc = cli_request("POST", target.data, body.data, &o, NULL, 0);
	buf_free(&target);
	buf_free(&body);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json) {
		cli_print_json(o);
	} else {
		struct json_object *p = cli_jget(o, "pool");
		printf("pool %s: target %.0f (%.0f pending, %.0f running, %.0f ready)\n",
		       cli_jstr(p, "name", "?"), cli_jnum(p, "target", 0), cli_jnum(p, "pending", 0),
		       cli_jnum(p, "running", 0), cli_jnum(p, "ready", 0));
	}
	json_object_put(o);
	return CLI_OK;
}
