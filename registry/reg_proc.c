/* reg_proc.c — see reg_proc.h. */
#include "reg_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "reg_util.h"

extern char **environ;

#define PROC_POLL_MS 50

struct reg_proc {
	struct reg_procs *ps;
	pid_t pid;                 /* 0 when not started or reaped */
	int fd_out, fd_err;        /* -1 once at EOF */
	struct event *ev_out, *ev_err;
	struct event *timer;       /* polls waitpid; enforces the timeout */
	int64_t started, deadline; /* monotonic ms */
	int64_t exited_at;         /* monotonic ms of the exit, 0 before */
	size_t max_out;
	struct reg_proc_result r;
	char *argv0;
	reg_proc_done_fn done;
	void *arg;
	struct reg_proc *prev, *next;
};

struct reg_procs {
	struct event_base *base;
	struct reg_proc *list;
	size_t n;
};

struct reg_procs *reg_procs_new(struct event_base *base)
{
	struct reg_procs *ps = calloc(1, sizeof *ps);
	if (!ps)
		abort();
	ps->base = base;
	return ps;
}

size_t reg_procs_running(const struct reg_procs *ps)
{
	return ps->n;
}

static void proc_unlink(struct reg_proc *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->ps->list = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->ps->n--;
}

static void proc_close_fd(struct reg_proc *p, int which)
{
	int *fd = which ? &p->fd_err : &p->fd_out;
	struct event **ev = which ? &p->ev_err : &p->ev_out;
	if (*ev) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void proc_destroy(struct reg_proc *p)
{
	proc_close_fd(p, 0);
	proc_close_fd(p, 1);
	if (p->timer)
		event_free(p->timer);
	buf_free(&p->r.out);
	buf_free(&p->r.err);
	free(p->argv0);
	free(p);
}

static void proc_finish(struct reg_proc *p)
{
	proc_unlink(p);
	p->r.elapsed_ms = reg_mono_ms() - p->started;
	p->r.argv0 = p->argv0;
	if (!p->r.out.data)
		buf_puts(&p->r.out, "");
	if (!p->r.err.data)
		buf_puts(&p->r.err, "");
	p->done(&p->r, p->arg);
	proc_destroy(p);
}

static void proc_read(struct reg_proc *p, int which)
{
	int fd = which ? p->fd_err : p->fd_out;
	struct buf *b = which ? &p->r.err : &p->r.out;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			size_t room = b->len < p->max_out ? p->max_out - b->len : 0;
			if ((size_t)n > room)
				p->r.truncated = true;
			buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		proc_close_fd(p, which); /* EOF or error */
		return;
	}
}

static void proc_out_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	proc_read(arg, 0);
}

static void proc_err_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	proc_read(arg, 1);
}

static void proc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg_proc *p = arg;
	int64_t now = reg_mono_ms();
	if (p->pid > 0) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			p->exited_at = now;
			if (WIFEXITED(st)) {
				p->r.status = WEXITSTATUS(st);
			} else {
				p->r.status = -1;
				p->r.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
			}
		} else if (r < 0 && errno == ECHILD) {
			p->pid = 0; /* someone else reaped it */
			p->exited_at = now;
			p->r.status = -1;
		} else if (now >= p->deadline && !p->r.timed_out) {
			p->r.timed_out = true;
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
		}
	}
	if (p->pid == 0) {
		/* Drain what is left in the pipes; stop waiting for EOF a while
		 * after the exit (a grandchild may hold them open). */
		if (p->fd_out >= 0)
			proc_read(p, 0);
		if (p->fd_err >= 0)
			proc_read(p, 1);
		if ((p->fd_out < 0 && p->fd_err < 0) || now - p->exited_at > 1000) {
			proc_finish(p);
			return;
		}
	}
	struct timeval tv = {0, PROC_POLL_MS * 1000};
	evtimer_add(p->timer, &tv);
}

static char **make_env(char *const extra[])
{
	size_t n = 0, ne = 0;
	while (environ && environ[n])
		n++;
	while (extra && extra[ne])
		ne++;
	char **env = calloc(n + ne + 1, sizeof *env);
	if (!env)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = 0;
		for (size_t j = 0; j < ne; j++)
			if (strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=')
				replaced = 1;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < ne; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

int reg_proc_run(struct reg_procs *ps, char *const argv[], char *const env[], int64_t timeout_ms,
		 size_t max_out, reg_proc_done_fn done, void *arg, char *err, size_t errlen)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	if (pipe2(po, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(pe, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (po[i] >= 0)
				close(po[i]);
			if (pe[i] >= 0)
				close(pe[i]);
		}
		return -1;
	}
	struct reg_proc *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->ps = ps;
	p->fd_out = po[0];
	p->fd_err = pe[0];
	p->max_out = max_out;
	p->done = done;
	p->arg = arg;
	p->argv0 = reg_strdup(argv[0]);
	p->started = reg_mono_ms();
	p->deadline = p->started + timeout_ms;
	p->ev_out = event_new(ps->base, po[0], EV_READ | EV_PERSIST, proc_out_cb, p);
	p->ev_err = event_new(ps->base, pe[0], EV_READ | EV_PERSIST, proc_err_cb, p);
	p->timer = evtimer_new(ps->base, proc_timer_cb, p);
	if (!p->ev_out || !p->ev_err || !p->timer) {
		snprintf(err, errlen, "cannot make events for %s", argv[0]);
		close(po[1]);
		close(pe[1]);
		proc_destroy(p);
		return -1;
	}

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	char **envp = make_env(env);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
	free(envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);

	p->next = ps->list;
	if (ps->list)
		ps->list->prev = p;
	ps->list = p;
	ps->n++;
	if (rc != 0) {
		/* Report from the loop, as for any other result. */
		p->r.spawn_errno = rc;
		p->r.status = -1;
		p->pid = 0;
		p->exited_at = p->started - 2000;
		proc_close_fd(p, 0);
		proc_close_fd(p, 1);
	} else {
		p->pid = pid;
		event_add(p->ev_out, NULL);
		event_add(p->ev_err, NULL);
	}
	struct timeval tv = {0, (rc ? 0 : PROC_POLL_MS) * 1000};
	evtimer_add(p->timer, &tv);
	return 0;
}

void reg_procs_free(struct reg_procs *ps)
{
	if (!ps)
		return;
	while (ps->list) {
		struct reg_proc *p = ps->list;
		if (p->pid > 0) {
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
			while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		p->pid = 0;
		p->r.status = -1;
		p->r.signal = SIGKILL;
		p->r.cancelled = true;
		proc_finish(p);
	}
	free(ps);
}

void reg_proc_describe(const struct reg_proc_result *r, char *out, size_t len)
{
	if (r->spawn_errno) {
		snprintf(out, len, "cannot run %s: %s", r->argv0, strerror(r->spawn_errno));
		return;
	}
	if (r->timed_out) {
		snprintf(out, len, "%s killed after %lld ms", r->argv0, (long long)r->elapsed_ms);
		return;
	}
	/* The first non-empty line of stderr, else of stdout. */
	const char *src = r->err.data && r->err.len ? r->err.data : r->out.data ? r->out.data : "";
	while (*src == '\n' || *src == ' ')
		src++;
	size_t l = strcspn(src, "\n");
	if (l > 200)
		l = 200;
	if (r->status >= 0)
		snprintf(out, len, "%s: exit status %d%s%.*s", r->argv0, r->status, l ? ": " : "",
			 (int)l, src);
	else
		snprintf(out, len, "%s: killed by signal %d%s%.*s", r->argv0, r->signal,
			 l ? ": " : "", (int)l, src);
}
