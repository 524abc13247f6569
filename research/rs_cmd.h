/* rs_cmd.h — elastic-research's subcommands.
 *
 * Each lives in research/cmd_<name>.c as `int rs_cmd_<name>(int argc,
 * char **argv)`, with argv[0] the subcommand's name. Exit codes: RS_OK
 * (0), RS_FAIL (1: the operation or the tool failed), RS_USAGE (2: bad
 * arguments or a bad configuration file).
 */
#ifndef ES_RS_CMD_H
#define ES_RS_CMD_H

#define RS_OK 0
#define RS_FAIL 1
#define RS_USAGE 2

/* elastic-research tool NAME [ARGS_JSON]: runs one tool, prints its result. */
int rs_cmd_tool(int argc, char **argv);

#endif
