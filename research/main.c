/* main.c — elastic-research: deep-research agents (web search, page
 * reading, paper search, PubMed) over an OpenAI-compatible endpoint. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "rs_cmd.h"
#include "rs_common.h"

struct rs_verb {
	const char *name;
	int (*fn)(int argc, char **argv); /* NULL: not built yet */
	const char *summary;
};

static const struct rs_verb verbs[] = {
	{"chat", rs_cmd_chat, "an interactive chat with a model that uses the tools"},
	{"run", rs_cmd_run, "batch runs: K trajectories per question of a JSONL file"},
	{"eval", rs_cmd_eval, "accuracy and pass@k of a run's trajectories"},
	{"tool", rs_cmd_tool, "run one tool and print its result (checks keys and services)"},
};

static void print_help(FILE *fp)
{
	fprintf(fp, "usage: elastic-research [--version] [--help] [--endpoint URL] [--model NAME]\n"
		    "                        [--api-key KEY] [--env-file FILE] ... SUBCOMMAND [ARGS]\n\n"
		    "subcommands:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(fp, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(fp, "\n" RS_COMMON_HELP);
	fprintf(fp, "\nelastic-research SUBCOMMAND --help describes a subcommand; see elastic-research(1).\n"
		    "Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
	int used = rs_common_global(argc, argv);
	if (used < 0)
		return RS_USAGE;
	argv[used] = argv[0];
	argc -= used;
	argv += used;
	if (argc < 2) {
		print_help(stderr);
		return RS_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_help(stdout);
		return RS_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("elastic-research %s\n", ES_VERSION);
		return RS_OK;
	}
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		if (used && verbs[i].fn == rs_cmd_tool) {
			/* tool reads its own --env-file and --set: none is lost. */
			fprintf(stderr, "error: give tool's options after its name "
					"(elastic-research tool --env-file FILE NAME ...)\n");
			return RS_USAGE;
		}
		if (!verbs[i].fn) {
			fprintf(stderr, "error: '%s' is not built yet\n", argv[1]);
			return RS_FAIL;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "error: cannot initialize libcurl\n");
			return RS_FAIL;
		}
		int rc = verbs[i].fn(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "error: unknown subcommand '%s'; see 'elastic-research --help'\n", argv[1]);
	return RS_USAGE;
}
