/* cmd_drain.c — elasticctl drain WORKER|JOB: take a worker, or every
 * worker of a job, out of routing. */
#include <ctype.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char drain_usage[] = "drain [-o table|json] [--registry URL] [--auth MODE] WORKER|JOB";

int cli_cmd_drain(int argc, char **argv)
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
			       "Drains a worker (an id such as 1234.n1.0): it finishes its requests and\n"
			       "gets no new ones. Given a job id (1234), drains every worker of the job;\n"
			       "a job of a pool is then cancelled once idle and replaced.\n\n"
			       "  -o, --output F   table (default) or json\n",
			       drain_usage);
			return CLI_OK;
		}
		return cli_usage(drain_usage);
	}
	if (argc - optind != 1)
		return cli_usage(drain_usage);
	const char *arg = argv[optind];
	int is_job = *arg && strspn(arg, "0123456789_+") == strlen(arg);
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, is_job ? "job_id" : "worker", json_object_new_string(arg));
	struct json_object *o;
	int rc = cli_request("POST", "/api/v1/drain", json_object_to_json_string(req), &o, NULL, 0);
	json_object_put(req);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json)
		cli_print_json(o);
	else
		printf("%s %s: %.0f worker(s) draining\n", is_job ? "job" : "worker", arg,
		       cli_jnum(o, "drained", 0));
	json_object_put(o);
	return CLI_OK;
}
