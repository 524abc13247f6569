/* cmd_tool.c — elastic-research tool NAME [ARGS_JSON]: runs one tool as the
 * model would and prints what the model would get. For checking keys,
 * endpoints and the services' answers by hand, and for the tests. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "rs_cmd.h"
#include "rs_tools.h"

static const char rs_tool_usage[] =
	"usage: elastic-research tool [--env-file FILE] [--set NAME=VALUE]... [-v]\n"
	"                             NAME [ARGS_JSON|-]\n"
	"       elastic-research tool --schema\n"
	"\n"
	"Runs one tool and prints its result; ARGS_JSON is the call's arguments\n"
	"(default {}; - reads them from stdin). A tool's error goes to stderr.\n"
	"NAME may be a comma-separated list run in one session, with ARGS_JSON a\n"
	"JSON list of as many argument objects: open_page,find_in_page\n"
	"'[{\"url\": \"...\"}, {\"pattern\": \"...\"}]'.\n"
	"\n"
	"tools:\n"
	"  web_search     {\"query\": \"...\"}                      Serper (SERPER_API_KEY)\n"
	"  open_page      {\"url\": \"https://...\"}                Jina Reader (JINA_API_KEY, optional)\n"
	"  find_in_page   {\"pattern\": \"...\", \"regex\": false}    the page opened last (below)\n"
	"  paper_search   {\"query\": \"...\", \"mode\": \"metadata\"|\"snippets\"}\n"
	"                                                      Semantic Scholar (S2_API_KEY, optional)\n"
	"  pubmed_search  {\"query\": \"...\"}                      NCBI E-utilities (NCBI_API_KEY, optional)\n"
	"\n"
	"options:\n"
	"  --env-file FILE   read keys and settings from FILE (default ./.env when present)\n"
	"  --set NAME=VALUE  a setting, over the environment and the file (ES_RETRIES=0,\n"
	"                    ES_WEB_SEARCH_TIMEOUT=5s, ES_SERPER_URL=..., see elastic-research(1))\n"
	"  -v, --verbose     print each call's time and HTTP requests on stderr\n"
	"  --schema          print the tools' JSON schema (OpenAI function format)\n"
	"\n"
	"Exit status: 0 done, 1 a tool failed, 2 bad usage or a bad .env file.\n";

static int rs_tool_usage_error(const char *fmt, const char *arg)
{
	fputs("error: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(rs_tool_usage, stderr);
	return RS_USAGE;
}

static int rs_read_stdin(struct buf *b)
{
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_append(b, chunk, n);
	return ferror(stdin) ? -1 : 0;
}

int rs_cmd_tool(int argc, char **argv)
{
	static const struct option opts[] = {
		{"env-file", required_argument, NULL, 'e'},
		{"set", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'},
		{"schema", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct rs_conf conf = {0};
	struct rs_session *sess = NULL;
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct json_object *calls = NULL;
	const char *envfile = NULL;
	char **sets = calloc((size_t)argc + 1, sizeof *sets);
	char err[512];
	int nsets = 0, verbose = 0, schema = 0, o, ret = RS_USAGE, loaded = 0;

	if (!sets)
		abort();
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (o) {
		case 'e': envfile = optarg; break;
		case 's': sets[nsets++] = optarg; break;
		case 'v': verbose = 1; break;
		case 'S': schema = 1; break;
		case 'h':
			fputs(rs_tool_usage, stdout);
			ret = RS_OK;
			goto cleanup;
		default:
			ret = rs_tool_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
			goto cleanup;
		}
	}
	if (schema) {
		struct json_object *s = rs_tools_schema();
		puts(json_object_to_json_string_ext(s, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(s);
		ret = RS_OK;
		goto cleanup;
	}
	if (argc - optind < 1 || argc - optind > 2) {
		ret = rs_tool_usage_error("%s", argc - optind < 1 ? "which tool?" : "too many arguments");
		goto cleanup;
	}
	const char *names = argv[optind];
	const char *args = argc - optind == 2 ? argv[optind + 1] : "{}";
	if (strcmp(args, "-") == 0) {
		if (rs_read_stdin(&in) < 0) {
			fprintf(stderr, "error: cannot read the arguments from stdin\n");
			ret = RS_FAIL;
			goto cleanup;
		}
		args = in.data ? in.data : "";
	}

	if (rs_conf_load(&conf, envfile, err, sizeof err) < 0) {
		fprintf(stderr, "error: %s\n", err);
		goto cleanup;
	}
	loaded = 1;
	for (int i = 0; i < nsets; i++) {
		char *eq = strchr(sets[i], '=');
		if (!eq) {
			ret = rs_tool_usage_error("--set takes NAME=VALUE, not '%s'", sets[i]);
			goto cleanup;
		}
		*eq = 0;
		if (rs_conf_set(&conf, sets[i], eq + 1, err, sizeof err) < 0) {
			fprintf(stderr, "error: --set %s\n", err);
			goto cleanup;
		}
	}

	/* One tool, or a comma-separated chain of them (open_page,find_in_page)
	 * with a JSON list of as many argument objects, run in one session. */
	char *names_copy = strdup(names), *save = NULL;
	char *list[16];
	size_t ncalls = 0;
	for (char *t = strtok_r(names_copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (ncalls == sizeof list / sizeof list[0] || rs_tool_find(t) < 0) {
			ret = rs_tool_usage_error(ncalls == sizeof list / sizeof list[0] ? "too many tools: %s"
											 : "unknown tool '%s'", t);
			free(names_copy);
			goto cleanup;
		}
		list[ncalls++] = t;
	}
	if (ncalls == 0) {
		free(names_copy);
		ret = rs_tool_usage_error("%s", "which tool?");
		goto cleanup;
	}
	if (ncalls > 1) {
		calls = json_tokener_parse(args);
		if (!calls || !json_object_is_type(calls, json_type_array) ||
		    json_object_array_length(calls) != ncalls) {
			free(names_copy);
			ret = rs_tool_usage_error("%s", "a list of tools takes a JSON list of as many argument objects");
			goto cleanup;
		}
	}
	sess = rs_session_new(&conf);
	ret = RS_OK;
	for (size_t i = 0; i < ncalls; i++) {
		const char *a = ncalls > 1 ? json_object_to_json_string(json_object_array_get_idx(calls, i)) : args;
		struct rs_tool_stat st;
		buf_reset(&out);
		int rc = rs_tool_run(sess, list[i], a, &out, &st);
		fprintf(rc < 0 ? stderr : stdout, "%s\n", out.data ? out.data : "");
		fflush(stdout);
		if (verbose)
			fprintf(stderr, "%s: %.3f s, %d HTTP request%s%s\n", list[i], st.seconds, st.http_calls,
				st.http_calls == 1 ? "" : "s", st.failed ? ", failed" : "");
		if (rc < 0)
			ret = RS_FAIL;
	}
	free(names_copy);

cleanup:
	rs_session_free(sess);
	if (loaded)
		rs_conf_free(&conf);
	json_object_put(calls);
	buf_free(&in);
	buf_free(&out);
	free(sets);
	return ret;
}
