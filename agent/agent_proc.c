/* agent_proc.c — engine processes: start, signal, log tail (agent.h). */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* In the child: closes every descriptor above 2. */
static void close_from_3(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close((int)fd);
}

pid_t agent_proc_spawn(struct agent_slice *s, char **argv, char **envp, char *err,
		       size_t errlen)
{
	int lfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (lfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", s->log_path, strerror(errno));
		return -1;
	}
	/* A header per start, so restarts are easy to tell apart. */
	char head[2048];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int hl = snprintf(head, sizeof head, "\n==== elastic-agent %04d-%02d-%02dT%02d:%02d:%02dZ: slice %d (GPUs %s, port %d), start %d:",
			  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			  s->index, s->gpus, s->port, s->sm.restarts + 1);
	for (char **a = argv; *a && hl > 0 && (size_t)hl < sizeof head - 4; a++)
		hl += snprintf(head + hl, sizeof head - (size_t)hl, " %s", *a);
	if (hl > 0 && (size_t)hl < sizeof head - 1)
		head[hl++] = '\n';
	if (hl > 0 && write(lfd, head, (size_t)hl) < 0)
		log_warn("slice %d: cannot write %s: %s", s->index, s->log_path, strerror(errno));

	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(lfd);
		return -1;
	}
	if (pid == 0) {
		/* Its own process group: the engine and whatever it starts are
		 * signalled together, and apart from the agent. */
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		int in = open("/dev/null", O_RDONLY);
		if (in >= 0)
			dup2(in, 0);
		dup2(lfd, 1);
		dup2(lfd, 2);
		close_from_3();
		execvpe(argv[0], argv, envp);
		dprintf(2, "elastic-agent: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also from here: no race with a signal to the group */
	close(lfd);
	return pid;
}

void agent_proc_signal(struct agent_slice *s, int sig)
{
	if (s->pid <= 0)
		return;
	if (kill(-s->pid, sig) < 0 && errno == ESRCH)
		kill(s->pid, sig);
}

void agent_log_tail(const char *path, int lines, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	char buf[4096];
	off_t off = 0;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof buf - 1)
		off = st.st_size - (off_t)(sizeof buf - 1);
	ssize_t n = pread(fd, buf, sizeof buf - 1, off);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* Drop a trailing newline, then find the start of the last LINES. */
	size_t end = (size_t)n;
	while (end > 0 && buf[end - 1] == '\n')
		end--;
	size_t start = end;
	int seen = 0;
	while (start > 0) {
		if (buf[start - 1] == '\n' && ++seen == lines)
			break;
		start--;
	}
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];
		buf_putc(out, (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : (char)c);
	}
}
