/* cmd_key.c — elasticctl key: print the OpenAI endpoint's API key, the one
 * the registry generated at its first start (GET /api/v1/key). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char key_usage[] = "key [-o table|json] [--registry URL] [--auth MODE]";

int cli_cmd_key(int argc, char **argv)
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
			       "Prints the API key of the registry's OpenAI-compatible endpoint (the\n"
			       "key it generated at its first start), for any OpenAI client:\n\n"
			       "  OPENAI_BASE_URL=http://REGISTRY:8780/v1 OPENAI_API_KEY=$(elasticctl key)\n\n"
			       "Only the registry's own user and the allowed uids may read it.\n\n"
			       "  -o, --output F   table (default: the key alone) or json\n",
			       key_usage);
			return CLI_OK;
		}
		return cli_usage(key_usage);
	}
	if (argc != optind)
		return cli_usage(key_usage);
	struct json_object *o;
	int rc = cli_request("GET", "/api/v1/key", NULL, &o, NULL, 0);
	if (rc != CLI_OK)
		return rc;
	const char *key = cli_jstr(o, "key", NULL);
	if (!key || !*key) {
		cli_error("the registry sent no key");
		json_object_put(o);
		return CLI_FAIL;
	}
	if (cli_opts.json)
		cli_print_json(o);
	else
		printf("%s\n", key);
	json_object_put(o);
	return CLI_OK;
}
