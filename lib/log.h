/* log.h — logging for the daemons and tools of elastic-serve.
 *
 * One process-wide logger. Messages go to stderr (default) or a file, each
 * line prefixed with a timestamp, the level and the program's name:
 *
 *   2026-11-25T14:23:01.123Z elastic-registry info: worker 12.n1.0 ready
 *
 * Messages follow git's style: lower-case, problem first, no final full stop.
 * The SPANK plugin does not use this module: it logs through slurm_error()
 * and slurm_info() (see spank/).
 */
#ifndef ES_LOG_H
#define ES_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO = 1,
	LOG_LVL_WARN = 2,
	LOG_LVL_ERROR = 3,
};

/* Sets the program name printed on each line (default "elastic-serve"). */
void log_init(const char *progname);

/* Messages below LEVEL are dropped (default LOG_LVL_INFO). */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_parse_level(const char *name, enum log_level *out);

/* Appends to PATH instead of stderr. Returns 0, or -1 with errno set. */
int log_set_file(const char *path);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
