/* cmd_status.c — elasticctl status: per pool, target, jobs, ready workers
 * and the last event; then the workers by state and recent events. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char status_usage[] = "status [-o table|json] [--registry URL] [--auth MODE]";

int cli_cmd_status(int argc, char **argv)
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
			       "Shows each pool (target, pending and running jobs, ready workers, last\n"
			       "event), the workers by state and the registry's recent events.\n\n"
			       "  -o, --output F   table (default) or json\n",
			       status_usage);
			return CLI_OK;
		}
		return cli_usage(status_usage);
	}
	if (optind != argc)
		return cli_usage(status_usage);
	struct json_object *o;
	int rc = cli_request("GET", "/api/v1/status", NULL, &o, NULL, 0);
	if (rc != CLI_OK)
		return rc;
	if (cli_opts.json) {
		cli_print_json(o);
		json_object_put(o);
		return CLI_OK;
	}
	struct json_object *reg = cli_jget(o, "registry"), *pools = cli_jget(o, "pools");
	printf("registry %s (version %s)%s\n", cli_jstr(reg, "url", cli_registry_url()),
	       cli_jstr(reg, "version", "?"),
	       cli_jget(reg, "synced") && !json_object_get_boolean(cli_jget(reg, "synced"))
		       ? ", waiting for squeue"
		       : "");
	size_t np = pools ? json_object_array_length(pools) : 0;
	int wn = 4;
	for (size_t i = 0; i < np; i++) {
		int l = (int)strlen(cli_jstr(json_object_array_get_idx(pools, i), "name", ""));
		if (l > wn)
			wn = l;
	}
	if (np == 0) {
		printf("no pools (elasticctl up FILE creates one)\n");
	} else {
		/* Nodes throughout, as model.toml counts them; READY counts workers. */
		printf("\n%-*s  %6s  %7s  %7s  %5s  %3s  %s\n", wn, "POOL", "TARGET", "PENDING", "RUNNING",
		       "READY", "MAX", "LAST EVENT");
		for (size_t i = 0; i < np; i++) {
			struct json_object *p = json_object_array_get_idx(pools, i);
			char target[16];
			snprintf(target, sizeof target, "%.0f%s", cli_jnum(p, "target", 0),
				 cli_jget(p, "deleting") && json_object_get_boolean(cli_jget(p, "deleting"))
					 ? "(down)"
					 : "");
			printf("%-*s  %6s  %7.0f  %7.0f  %5.0f  %3.0f  %s\n", wn, cli_jstr(p, "name", "?"),
			       target, cli_jnum(p, "pending", 0) * cli_jnum(p, "job_nodes", 1),
			       cli_jnum(p, "running", 0) * cli_jnum(p, "job_nodes", 1),
			       cli_jnum(p, "ready", 0), cli_jnum(p, "max", 0),
			       cli_jstr(p, "last_event", "-"));
		}
	}
	struct json_object *w = cli_jget(o, "workers");
	printf("\nworkers: %.0f ready, %.0f starting, %.0f draining, %.0f gone\n",
	       cli_jnum(w, "ready", 0), cli_jnum(w, "starting", 0), cli_jnum(w, "draining", 0),
	       cli_jnum(w, "gone", 0));
	struct json_object *ev = cli_jget(o, "events");
	size_t ne = ev ? json_object_array_length(ev) : 0;
	if (ne) {
		printf("\nrecent events:\n");
		for (size_t i = ne > 10 ? ne - 10 : 0; i < ne; i++) {
			struct json_object *e = json_object_array_get_idx(ev, i);
			time_t t = (time_t)cli_jnum(e, "time", 0);
			struct tm tm;
			char ts[16];
			localtime_r(&t, &tm);
			strftime(ts, sizeof ts, "%H:%M:%S", &tm);
			const char *pool = cli_jstr(e, "pool", "");
			printf("  %s %s%s%s\n", ts, pool, *pool ? ": " : "", cli_jstr(e, "text", ""));
		}
	}
	json_object_put(o);
	return CLI_OK;
}
