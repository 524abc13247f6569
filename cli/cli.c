/* cli.c — what elasticctl's verbs share: messages and usage. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const char *usage)
{
	fprintf(stderr, "usage: elasticctl %s\n", usage);
	return CLI_USAGE;
}
