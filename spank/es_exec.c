/* es_exec.c — see es_exec.h. */
#include "es_exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long es_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes descriptors FIRST .. LAST (-1: all above FIRST), in a child. */
static void es_close_range(int first, int last)
{
	if (last >= 0 && last < first)
		return;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, last < 0 ? ~0U : (unsigned)last, 0U) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	if (max <= 0 || max > 65536)
		max = 65536;
	for (long fd = first; fd < max && (last < 0 || fd <= last); fd++)
		close((int)fd);
}

/* Closes every descriptor from 3 up (in a child before exec). */
static void es_close_from_3(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int dfd = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			int fd = atoi(e->d_name);
			if (fd > 2 && fd != dfd)
				close(fd);
		}
		closedir(d);
		return;
	}
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close((int)fd);
}

/* Restores the signal state a fresh program expects. */
static void es_child_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
}

int es_exec_capture(char *const argv[], char *const envp[], int timeout_ms, struct buf *out,
		    char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	long long deadline = es_now_ms() + timeout_ms;
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		es_child_signals();
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 2);
		}
		dup2(p[1], 1);
		es_close_from_3();
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(p[1]);
	bool done = false;
	while (!done) {
		long long left = deadline - es_now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		char tmp[4096];
		ssize_t n = read(p[0], tmp, sizeof tmp);
		if (n > 0) {
			if (out->len + (size_t)n <= 65536)
				buf_append(out, tmp, (size_t)n);
		} else if (n == 0 || errno != EINTR) {
			done = true;
		}
	}
	close(p[0]);
	int status = 0;
	if (done) {
		/* EOF: the output is complete; the exit follows at once. */
		while (es_now_ms() < deadline) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				return status;
			if (w < 0 && errno == ECHILD)
				return 0; /* reaped by someone else; output is what counts */
			usleep(2000);
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	snprintf(err, errlen, "%s did not finish within %d ms", argv[0], timeout_ms);
	return -1;
}

int es_find_program(const char *prog, const char *path, char *out, size_t outlen)
{
	const char *p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > 0 && p[0] == '/') {
			snprintf(out, outlen, "%.*s/%s", (int)n, p, prog);
			if (access(out, X_OK) == 0)
				return 0;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return -1;
}

pid_t es_spawn_agent(char *const argv[], char *const envp[], char *err, size_t errlen)
{
	/* The child reports a failed exec through a close-on-exec pipe. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		es_child_signals();
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		/* Keep the pipe's write end above 2 across the descriptor sweep. */
		int keep = fcntl(p[1], F_DUPFD_CLOEXEC, 3);
		int w = keep >= 0 ? keep : p[1];
		if (keep >= 0 && keep != p[1])
			close(p[1]);
		/* Close everything else without touching W. */
		es_close_range(3, w - 1);
		es_close_range(w + 1, -1);
		execve(argv[0], argv, envp);
		int e = errno;
		ssize_t n = write(w, &e, sizeof e);
		(void)n;
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(p[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		return -1;
	}
	return pid;
}

int es_mkdir_p(const char *path, mode_t mode)
{
	char tmp[1024];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(tmp, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}
