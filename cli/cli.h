/* cli.h — elasticctl: the verbs and what they share.
 *
 * Each verb lives in cli/cmd_<verb>.c as `int cli_cmd_<verb>(int argc,
 * char **argv)`, with argv[0] the verb's name. Exit codes: CLI_OK (0),
 * CLI_FAIL (1: the operation failed), CLI_USAGE (2: bad arguments).
 * Messages follow git's style ("error: cannot open x").
 */
#ifndef ES_CLI_H
#define ES_CLI_H

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Prints "error: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "usage: elasticctl USAGE" on stderr and returns CLI_USAGE. */
int cli_usage(const char *usage);

int cli_cmd_validate(int argc, char **argv);

#endif
