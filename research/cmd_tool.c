/* cmd_tool.c — elastic-research tool NAME [ARGS_JSON] (being built). */
#include <stdio.h>

#include "rs_cmd.h"

int rs_cmd_tool(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "error: 'tool' is not built yet\n");
	return RS_FAIL;
}
