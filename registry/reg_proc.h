/* reg_proc.h — run a command asynchronously on the event loop.
 *
 * The registry runs sbatch, squeue, scancel and sacct without ever waiting
 * for them: the child is started with posix_spawn from an argv array (no
 * shell), in its own process group, stdin from /dev/null, its stdout and
 * stderr read through non-blocking pipes (each capped). The exit is
 * noticed by polling waitpid(pid, WNOHANG) from a timer, so no SIGCHLD
 * handler is installed and no other child is ever reaped. A command
 * running past its timeout is killed (the whole group, SIGKILL). The done
 * callback runs exactly once, from the event loop (or from
 * reg_procs_free()), never from within reg_proc_run().
 */
#ifndef ES_REG_PROC_H
#define ES_REG_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct event_base;
struct reg_procs;

struct reg_proc_result {
	const char *argv0;   /* the command, for messages */
	int status;          /* exit code, or -1 when killed by a signal */
	int signal;          /* the signal that killed it, 0 if none */
	bool timed_out;      /* killed because it ran past its timeout */
	bool cancelled;      /* killed by reg_procs_free(): only free ARG */
	int spawn_errno;     /* the command could not be started (0: it was) */
	struct buf out;      /* its stdout (at most the cap) */
	struct buf err;      /* its stderr (at most the cap) */
	bool truncated;      /* output beyond the cap was dropped */
	int64_t elapsed_ms;  /* run time */
};

/* Called once per command. R is valid during the call only. */
typedef void (*reg_proc_done_fn)(const struct reg_proc_result *r, void *arg);

struct reg_procs *reg_procs_new(struct event_base *base);
/* Kills (SIGKILL, whole group) and reaps every command still running;
 * their callbacks run with `cancelled` set, to free what they hold. */
void reg_procs_free(struct reg_procs *ps);
/* Commands running. */
size_t reg_procs_running(const struct reg_procs *ps);

/* Starts ARGV (argv[0] looked up in PATH when it has no '/'), with the
 * registry's environment plus ENV ("NAME=VALUE" strings, NULL-terminated,
 * may be NULL). Kills it after TIMEOUT_MS. Keeps at most MAX_OUT bytes of
 * each output stream. DONE runs later with the result, also when the
 * command cannot be started (spawn_errno). Returns 0, or -1 when no pipe or
 * timer could be made (ERR says why; DONE will not run). */
int reg_proc_run(struct reg_procs *ps, char *const argv[], char *const env[], int64_t timeout_ms,
		 size_t max_out, reg_proc_done_fn done, void *arg, char *err, size_t errlen);

/* A one-line summary of a failed result for messages: "exit status 1:
 * sbatch: error: invalid partition", "killed after 30000 ms", "cannot run
 * sbatch: No such file or directory". */
void reg_proc_describe(const struct reg_proc_result *r, char *out, size_t len);

#endif
