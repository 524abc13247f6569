/* es_exec.h — processes the plugin starts: bounded in time, no shell.
 *
 * es_exec_capture() runs a command (scontrol) and reads its output, killing
 * it at the deadline. es_spawn_agent() starts elastic-agent from the batch
 * task: a plain child in its own process group (no daemonizing, so Slurm's
 * process tracking keeps it), stdin from /dev/null, no inherited
 * descriptors beyond stdout and stderr.
 */
#ifndef ES_EXEC_H
#define ES_EXEC_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Milliseconds of the monotonic clock. */
long long es_now_ms(void);

/* Runs ARGV[0] (an absolute path) with ENVP; collects up to 64 KiB of its
 * stdout into OUT. Returns its wait status, or -1 with ERR when it could
 * not run or did not finish within TIMEOUT_MS (it is then killed). */
int es_exec_capture(char *const argv[], char *const envp[], int timeout_ms, struct buf *out,
		    char *err, size_t errlen);

/* Finds PROG in the colon-separated PATH (or the usual system directories
 * when PATH is NULL) and writes its absolute path to OUT. Returns 0 or -1. */
int es_find_program(const char *prog, const char *path, char *out, size_t outlen);

/* Forks and execs ARGV with ENVP. Returns the child's pid, or -1 with ERR. */
pid_t es_spawn_agent(char *const argv[], char *const envp[], char *err, size_t errlen);

/* mkdir -p with MODE for the parts it creates. Returns 0, or -1 (errno). */
int es_mkdir_p(const char *path, mode_t mode);

#endif
