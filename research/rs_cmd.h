/* rs_cmd.h — elastic-research's subcommands.
 *
 * Each lives in research/cmd_<name>.c (chat, run and eval in
 * research/rs_<name>.c) as `int rs_cmd_<name>(int argc,
 * char **argv)`, with argv[0] the subcommand's name. Exit codes: RS_OK
 * (0), RS_FAIL (1: the operation or the tool failed), RS_USAGE (2: bad
 * arguments or a bad configuration file).
 */
#ifndef ES_RS_CMD_H
#define ES_RS_CMD_H

#define RS_OK 0
#define RS_FAIL 1
#define RS_USAGE 2

/* elastic-research chat: an interactive chat with tool use (rs_chat.c). */
int rs_cmd_chat(int argc, char **argv);
/* elastic-research run: batch trajectories, resumable (rs_run.c). */
int rs_cmd_run(int argc, char **argv);
/* elastic-research eval: accuracy and pass@k of a run (rs_eval.c). */
int rs_cmd_eval(int argc, char **argv);

/* elastic-research tool NAME [ARGS_JSON]: runs one tool, prints its result. */
int rs_cmd_tool(int argc, char **argv);

#endif
