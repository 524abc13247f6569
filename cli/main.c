/* main.c — elasticctl: see, steer and benchmark elastic-serve. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cli_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct cli_verb verbs[] = {
	{"ls", cli_cmd_ls, "list the workers (engines) the registry knows"},
	{"status", cli_cmd_status, "pools, jobs, ready workers and recent events"},
	{"up", cli_cmd_up, "create or update a pool from a model.toml"},
	{"scale", cli_cmd_scale, "set how many jobs a pool keeps"},
	{"down", cli_cmd_down, "delete a pool, cancelling its jobs"},
	{"drain", cli_cmd_drain, "take a worker, or a job's workers, out of routing"},
	{"top", cli_cmd_top, "a live dashboard of workers, load and events"},
	{"key", cli_cmd_key, "print the API key of the OpenAI-compatible endpoint"},
	{"bench", cli_cmd_bench, "load-test an OpenAI-compatible endpoint (like vllm bench serve)"},
	{"bench-agents", cli_cmd_bench_agents, "play many agents against a registry (control-plane load)"},
	{"validate", cli_cmd_validate, "check model.toml files and print the resolved config"},
};

static void print_help(FILE *fp)
{
	fprintf(fp, "usage: elasticctl [--version] [--help] [--registry URL] [--auth MODE]\n"
		    "                  [-o table|json] VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(fp, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(fp, "\noptions (before or after the verb):\n"
		    "  --registry URL   the registry (default $ELASTIC_REGISTRY_URL, else %s)\n"
		    "  --auth MODE      munge (default, or $ELASTIC_AUTH), token:PATH or none\n"
		    "  -o, --output F   table (default) or json\n"
		    "\nelasticctl VERB --help describes a verb; see elasticctl(1).\n"
		    "Exit status: 0 done, 1 failed, 2 bad usage.\n",
		CLI_DEFAULT_REGISTRY);
}

/* Takes the common options given before the verb. Returns how many
 * arguments they used, or -1 on a usage error. */
static int global_options(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		const char *a = argv[i], *val = NULL;
		int opt;
		size_t nl;
		if (strncmp(a, "--registry", nl = 10) == 0 && (a[nl] == '=' || !a[nl]))
			opt = 'R';
		else if (strncmp(a, "--auth", nl = 6) == 0 && (a[nl] == '=' || !a[nl]))
			opt = 'A';
		else if (strncmp(a, "--output", nl = 8) == 0 && (a[nl] == '=' || !a[nl]))
			opt = 'o';
		else if (strncmp(a, "-o", nl = 2) == 0)
			opt = 'o';
		else
			break;
		if (a[nl] == '=' || (opt == 'o' && nl == 2 && a[nl])) {
			val = a + nl + (a[nl] == '=');
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			cli_error("option '%s' needs a value", a);
			return -1;
		}
		if (cli_common_opt(opt, val) < 0)
			return -1;
		i++;
	}
	return i - 1;
}

int main(int argc, char **argv)
{
	int used = global_options(argc, argv);
	if (used < 0)
		return CLI_USAGE;
	argv[used] = argv[0];
	argc -= used;
	argv += used;
	if (argc < 2) {
		print_help(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_help(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("elasticctl %s\n", ES_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	cli_error("unknown verb '%s'; see 'elasticctl --help'", argv[1]);
	return CLI_USAGE;
}
