/* cmd_ls.c — elasticctl ls: the workers, one a line. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"

static const char ls_usage[] = "ls [-a] [-o table|json] [--registry URL] [--auth MODE] [MODEL]";

#define NCOL 10

static int width(const char *s)
{
	return (int)strlen(s);
}

int cli_cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int all = 0, opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+aho:", longopts, NULL)) != -1) {
		int c = cli_common_opt(opt, optarg);
		if (c < 0)
			return CLI_USAGE;
		if (c)
			continue;
		switch (opt) {
		case 'a': all = 1; break;
		case 'h':
			printf("usage: elasticctl %s\n\n"
			       "Lists the workers the registry knows (engines, one per GPU slice):\n"
			       "WORKER MODEL NODE JOB GPUS STATE RUN WAIT KV%% AGE. RUN and WAIT are the\n"
			       "requests running and queued in the engine, KV%% its KV-cache use, AGE the\n"
			       "time since it registered.\n\n"
			       "  -a, --all        also workers that are gone (kept a while)\n"
			       "  -o, --output F   table (default) or json\n",
			       ls_usage);
			return CLI_OK;
		default: return cli_usage(ls_usage);
		}
	}
	if (argc - optind > 1)
		return cli_usage(ls_usage);
	struct buf target = BUF_INIT;
	buf_puts(&target, "/api/v1/workers");
	if (all)
		buf_puts(&target, "?all=1");
	if (optind < argc) {
		char *m = cli_path_escape(argv[optind]);
		buf_printf(&target, "%smodel=%s", all ? "&" : "?", m);
		free(m);
	}
	struct json_object *o;
	int rc = cli_request("GET", target.data, NULL, &o, NULL, 0);
	buf_free(&target);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json) {
		cli_print_json(o);
		json_object_put(o);
		return CLI_OK;
	}
	struct json_object *ws = cli_jget(o, "workers");
	size_t n = ws && json_object_is_type(ws, json_type_array) ? json_object_array_length(ws) : 0;
	double now = cli_jnum(o, "now", 0);
	static const char *const head[NCOL] = {"WORKER", "MODEL", "NODE", "JOB", "GPUS",
					       "STATE", "RUN", "WAIT", "KV%", "AGE"};
	char *cell = calloc((n + 1) * NCOL, 64);
	if (!cell)
		abort();
#define CELL(r, c) (cell + ((size_t)(r) * NCOL + (c)) * 64)
	int w[NCOL];
	for (int c = 0; c < NCOL; c++) {
		snprintf(CELL(0, c), 64, "%s", head[c]);
		w[c] = width(head[c]);
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(ws, i), *load = cli_jget(x, "load");
		size_t r = i + 1;
		snprintf(CELL(r, 0), 64, "%s", cli_jstr(x, "id", "?"));
		snprintf(CELL(r, 1), 64, "%s", cli_jstr(x, "model", "?"));
		snprintf(CELL(r, 2), 64, "%s", cli_jstr(x, "node", "?"));
		snprintf(CELL(r, 3), 64, "%s", cli_jstr(x, "job_id", "?"));
		snprintf(CELL(r, 4), 64, "%s", *cli_jstr(x, "gpus", "") ? cli_jstr(x, "gpus", "") : "-");
		snprintf(CELL(r, 5), 64, "%s", cli_jstr(x, "state", "?"));
		snprintf(CELL(r, 6), 64, "%.0f", cli_jnum(load, "running", 0));
		snprintf(CELL(r, 7), 64, "%.0f", cli_jnum(load, "waiting", 0));
		snprintf(CELL(r, 8), 64, "%.0f", 100 * cli_jnum(load, "kv_usage", 0));
		cli_fmt_age(now - cli_jnum(x, "registered_at", now), CELL(r, 9), 64);
		for (int c = 0; c < NCOL; c++)
			if (width(CELL(r, c)) > w[c])
				w[c] = width(CELL(r, c));
	}
	for (size_t r = 0; r <= n; r++) {
		for (int c = 0; c < NCOL; c++) {
			int right = c >= 6; /* numbers */
			const char *sep = c + 1 < NCOL ? "  " : "\n";
			if (right)
				printf("%*s%s", w[c], CELL(r, c), sep);
			else if (c + 1 < NCOL)
				printf("%-*s%s", w[c], CELL(r, c), sep);
			else
				printf("%s%s", CELL(r, c), sep);
		}
	}
#undef CELL
	free(cell);
	json_object_put(o);
	return CLI_OK;
}
