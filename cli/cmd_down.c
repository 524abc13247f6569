/* cmd_down.c — elasticctl down NAME: delete a pool (its jobs are
 * cancelled, then the pool is forgotten). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "cli.h"

static const char down_usage[] = "down [-o table|json] [--registry URL] [--auth MODE] NAME";

int cli_cmd_down(int argc, char **argv)
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
			       "Deletes pool NAME: its pending jobs are cancelled, its running ones\n"
			       "drained and cancelled; the pool is removed once they are gone.\n\n"
			       "  -o, --output F   table (default) or json\n",
			       down_usage);
			return CLI_OK;
		}
		return cli_usage(down_usage);
	}
	if (argc - optind != 1)
		return cli_usage(down_usage);
	char *name = cli_path_escape(argv[optind]);
	struct buf target = BUF_INIT;
	buf_printf(&target, "/api/v1/pools/%s", name);
	free(name);
	struct json_object *o;
	int rc = cli_request("DELETE", target.data, NULL, &o, NULL, 0);
	buf_free(&target);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json) {
		cli_print_json(o);
	} else {
		struct json_object *p = cli_jget(o, "pool");
		printf("pool %s: going down (%.0f pending, %.0f running job(s) to cancel)\n",
		       cli_jstr(p, "name", "?"), cli_jnum(p, "pending", 0), cli_jnum(p, "running", 0));
	}
	json_object_put(o);
	return CLI_OK;
}
