/* es_notify.c — see es_notify.h. */
#include "es_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "es_exec.h"
#include "hcall.h"

#define ES_ENDED_PATH "/api/v1/jobs/ended"

void es_notice_body(const struct es_notice *n, struct buf *out)
{
	buf_puts(out, "{\"job_id\": ");
	buf_json_str(out, n->job_id, strlen(n->job_id));
	buf_puts(out, ", \"node\": ");
	buf_json_str(out, n->node, strlen(n->node));
	buf_puts(out, ", \"reason\": ");
	buf_json_str(out, n->reason, strlen(n->reason));
	buf_printf(out, ", \"exit_status\": %d, \"signal\": %d}", n->exit_code, n->sig);
}

int es_notify_direct(const struct es_notice *n, int timeout_ms, char *err, size_t errlen)
{
	long long start = es_now_ms();
	struct buf body = BUF_INIT;
	struct auth_client ac;
	struct hcall_resp resp;
	int status = -1;
	memset(&resp, 0, sizeof resp);
	es_notice_body(n, &body);
	if (auth_client_init(&ac, n->auth, err, errlen) < 0)
		goto out;
	/* hcall signs with AC; the MUNGE credential (uid 0) is made inside it. */
	int left = timeout_ms - (int)(es_now_ms() - start);
	if (left <= 0) {
		snprintf(err, errlen, "no time left for the notice");
		goto out;
	}
	if (hcall(n->registry, "POST", ES_ENDED_PATH, body.data, body.len, &ac, left, &resp, err,
		  errlen) < 0)
		goto out;
	status = resp.status;
	if (status < 200 || status > 299)
		snprintf(err, errlen, "registry answered %d: %.200s", status,
			 resp.body.data ? resp.body.data : "");
out:
	memset(&ac, 0, sizeof ac);
	hcall_resp_free(&resp);
	buf_free(&body);
	return status;
}

/* What the child reports: the status and the message. */
struct es_notify_result {
	int status;
	char err[256];
};

int es_notify_send(const struct es_notice *n, int timeout_ms, char *err, size_t errlen)
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
		close(p[0]);
		signal(SIGPIPE, SIG_IGN);
		struct es_notify_result r;
		memset(&r, 0, sizeof r);
		/* Leave the parent a little time to read the answer. */
		r.status = es_notify_direct(n, timeout_ms > 100 ? timeout_ms - 50 : timeout_ms, r.err,
					    sizeof r.err);
		ssize_t w = write(p[1], &r, sizeof r);
		(void)w;
		_exit(0);
	}
	close(p[1]);
	struct es_notify_result r;
	size_t got = 0;
	while (got < sizeof r) {
		long long left = deadline - es_now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		ssize_t k = read(p[0], (char *)&r + got, sizeof r - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(p[0]);
	kill(pid, SIGKILL); /* done or out of time: either way it goes now */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (got < sizeof r) {
		snprintf(err, errlen, "no answer from the registry within %d ms", timeout_ms);
		return -1;
	}
	r.err[sizeof r.err - 1] = '\0';
	snprintf(err, errlen, "%s", r.err);
	return r.status;
}
