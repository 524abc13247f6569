/* agent_pair.c — elastic-agent --exec-pair: two processes as one engine
 * (agent.h).
 *
 *   elastic-agent --exec-pair N --wait-port P A1 .. AN B1 ...
 *
 * Rank 0 of a vLLM worker with parallel.backend = "ray" is two programs:
 * the Ray head (`ray start --head --block`) and `vllm serve`, which needs
 * the head up before it starts. The agent supervises one process per
 * slice, so this small supervisor is that process: it runs A, waits until
 * 127.0.0.1:P accepts a connection (the head's GCS port), runs B, and ends
 * as soon as either ends, stopping the other (SIGTERM, SIGKILL 10 s
 * later). Its exit status is B's (1 when A ended first). SIGTERM and SIGINT
 * are passed on to both. Both stay in this process's group, so the agent's
 * signals to the engine's group reach them too. argv arrays only: no shell.
 */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t pair_sig;

static void pair_on_signal(int sig)
{
	pair_sig = sig;
}

static pid_t pair_spawn(char **argv)
{
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "elastic-agent: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int pair_port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

static void pair_nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Stops PID (SIGTERM, SIGKILL after 10 s) and reaps it. */
static void pair_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		pair_nap(100);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int pair_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

int agent_pair_main(int argc, char **argv)
{
	/* argv: N --wait-port P A1..AN B1... */
	char *end;
	long n = argc > 0 ? strtol(argv[0], &end, 10) : 0;
	long port = argc > 2 ? strtol(argv[2], &end, 10) : 0;
	if (argc < 4 || n < 1 || strcmp(argv[1], "--wait-port") != 0 || *end || port < 1 ||
	    port > 65535 || argc < 3 + n + 1) {
		fprintf(stderr, "usage: elastic-agent --exec-pair N --wait-port PORT A1..AN B1...\n");
		return 2;
	}
	char **a = calloc((size_t)n + 1, sizeof *a);
	if (!a)
		return 1;
	for (long i = 0; i < n; i++)
		a[i] = argv[3 + i];
	char **b = argv + 3 + n;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = pair_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	pid_t pa = pair_spawn(a), pb = -1;
	free(a);
	if (pa < 0) {
		fprintf(stderr, "elastic-agent: fork: %s\n", strerror(errno));
		return 1;
	}
	int code = 1, st;
	while (pb < 0) {
		if (pair_sig) {
			pair_stop(pa);
			return 128 + pair_sig;
		}
		if (waitpid(pa, &st, WNOHANG) == pa) {
			fprintf(stderr, "elastic-agent: %s ended before its port %ld opened (status %d)\n",
				argv[3], port, pair_code(st));
			return 1;
		}
		if (pair_port_open((int)port)) {
			pb = pair_spawn(b);
			if (pb < 0) {
				pair_stop(pa);
				return 1;
			}
			break;
		}
		pair_nap(200);
	}
	int forwarded = 0;
	for (;;) {
		if (pair_sig && !forwarded) {
			forwarded = pair_sig;
			kill(pb, pair_sig);
			kill(pa, pair_sig);
		}
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == pb) {
			code = pair_code(st);
			pair_stop(pa);
			break;
		}
		if (w == pa) {
			fprintf(stderr, "elastic-agent: %s ended (status %d): stopping %s\n", argv[3],
				pair_code(st), b[0]);
			pair_stop(pb);
			code = 1;
			break;
		}
		if (w < 0)
			break;
	}
	return code;
}
