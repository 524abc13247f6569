/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *log_prog = "elastic-serve";
static enum log_level log_min = LOG_LVL_INFO;
static FILE *log_fp; /* NULL: stderr */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *progname)
{
	if (progname && *progname)
		log_prog = progname;
}

void log_set_level(enum log_level level)
{
	log_min = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_set_file(const char *path)
{
	FILE *fp = fopen(path, "ae");
	if (!fp)
		return -1;
	setvbuf(fp, NULL, _IOLBF, 0);
	if (log_fp)
		fclose(log_fp);
	log_fp = fp;
	return 0;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_min)
		return;
	int saved = errno;
	struct timeval tv;
	struct tm tm;
	char ts[32];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

	char line[2048];
	int n = snprintf(line, sizeof line, "%s.%03dZ %s %s: ", ts,
			 (int)(tv.tv_usec / 1000), log_prog, level_names[level]);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	/* One write per line so that concurrent writers do not interleave. */
	FILE *fp = log_fp ? log_fp : stderr;
	fprintf(fp, "%s\n", line);
	fflush(fp);
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
