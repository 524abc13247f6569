/* cli.h — elasticctl: the verbs and what they share.
 *
 * Each verb lives in cli/cmd_<verb>.c as `int cli_cmd_<verb>(int argc,
 * char **argv)`, with argv[0] the verb's name. Exit codes: CLI_OK (0),
 * CLI_FAIL (1: the operation failed), CLI_USAGE (2: bad arguments).
 * Messages follow git's style ("error: cannot open x").
 */
#ifndef ES_CLI_H
#define ES_CLI_H

#include <stddef.h>

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Prints "error: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "usage: elasticctl USAGE" on stderr and returns CLI_USAGE. */
int cli_usage(const char *usage);

/* ---------------------------------------------------------------- the registry
 *
 * Verbs that talk to elastic-registry share three options, also accepted
 * before the verb: --registry URL (else $ELASTIC_REGISTRY_URL, else
 * http://127.0.0.1:8780), --auth munge|token:PATH (else $ELASTIC_AUTH, else
 * munge) and -o/--output table|json. */

#define CLI_DEFAULT_REGISTRY "http://127.0.0.1:8780"
#define CLI_TIMEOUT_MS 10000

struct json_object;

struct cli_opts {
	const char *registry; /* base URL; NULL: environment or default */
	const char *auth;     /* auth spec; NULL: environment or munge */
	int json;             /* -o json */
};
extern struct cli_opts cli_opts;

/* Long options every remote verb accepts (getopt values 'R', 'A', 'o'). */
#define CLI_COMMON_OPTIONS                                      \
	{"registry", required_argument, NULL, 'R'},             \
	{"auth", required_argument, NULL, 'A'},                 \
	{"output", required_argument, NULL, 'o'}

/* Handles one of the common options. Returns 1 when handled, 0 when OPT is
 * not one of them, -1 on a bad value (message printed). */
int cli_common_opt(int opt, const char *arg);

/* The registry URL in effect. */
const char *cli_registry_url(void);

/* Sends a signed request to the registry. BODY may be NULL. On a 2xx reply
 * sets *OUT (may be NULL) to the parsed JSON and returns CLI_OK; otherwise
 * prints the error in git's style ("error: cannot reach registry at URL:
 * connection refused", or the registry's own message) and returns
 * CLI_FAIL. ERRBUF, when not NULL, gets the message instead of stderr. */
int cli_request(const char *method, const char *target, const char *body,
		struct json_object **out, char *errbuf, size_t errlen);

/* Prints O as indented JSON on stdout. */
void cli_print_json(struct json_object *o);

/* "45s", "12m", "3h", "2d". */
void cli_fmt_age(double secs, char *out, size_t len);

/* Percent-encodes S for a path segment (pool names may hold '/'). The
 * result is malloc'd. */
char *cli_path_escape(const char *s);

/* json-c getters with defaults. */
const char *cli_jstr(struct json_object *o, const char *key, const char *def);
double cli_jnum(struct json_object *o, const char *key, double def);
struct json_object *cli_jget(struct json_object *o, const char *key);

int cli_cmd_validate(int argc, char **argv);
int cli_cmd_ls(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_up(int argc, char **argv);
int cli_cmd_scale(int argc, char **argv);
int cli_cmd_down(int argc, char **argv);
int cli_cmd_drain(int argc, char **argv);
int cli_cmd_top(int argc, char **argv);
int cli_cmd_key(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_bench_agents(int argc, char **argv);

#endif
