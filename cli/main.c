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
	{"validate", cli_cmd_validate, "check model.toml files and print the resolved config"},
};

static void print_help(FILE *fp)
{
	fprintf(fp, "usage: elasticctl [--version] [--help] VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(fp, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(fp, "\nelasticctl VERB --help describes a verb; see elasticctl(1).\n");
}

int main(int argc, char **argv)
{
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
