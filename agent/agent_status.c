/* agent_status.c — the status file: what elastic-agent --wait and
 * --wait-ready read, and what users can look at (agent.h).
 *
 *   {"pid": 4242, "phase": "running", "job_id": "12", "node": "n1",
 *    "exit_code": null,
 *    "slices": [{"index": 0, "gpus": "0,1", "url": "http://n1:28000",
 *                "state": "ready", "pid": 4250, "restarts": 0,
 *                "log": "/home/u/elastic-serve-12/n1.slice0.log", "error": ""}]}
 *
 * Written to a temporary file and renamed, so a reader never sees half.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *phase_name(enum agent_phase p)
{
	switch (p) {
	case AP_RUNNING: return "running";
	case AP_DRAINING: return "draining";
	case AP_STOPPING: return "stopping";
	case AP_DONE: return "exited";
	}
	return "?";
}

void agent_status_write(struct agent *ag)
{
	const char *path = ag->opt.status_file;
	if (!path || !*path)
		return;
	struct buf b = BUF_INIT;
	buf_printf(&b, "{\"pid\": %d, \"phase\": \"%s\", \"job_id\": ", (int)getpid(),
		   phase_name(ag->phase));
	buf_json_str(&b, ag->opt.job_id, strlen(ag->opt.job_id));
	buf_puts(&b, ", \"node\": ");
	buf_json_str(&b, ag->opt.node, strlen(ag->opt.node));
	if (ag->phase == AP_DONE)
		buf_printf(&b, ", \"exit_code\": %d", ag->exit_code);
	else
		buf_puts(&b, ", \"exit_code\": null");
	buf_puts(&b, ", \"slices\": [");
	if (ag->hub)
		agent_hub_status(ag, &b);
	for (size_t i = 0; i < ag->nslices; i++) {
		const struct agent_slice *s = &ag->slices[i];
		buf_printf(&b, "%s{\"index\": %d, \"gpus\": ", i ? ", " : "", s->index);
		buf_json_str(&b, s->gpus, strlen(s->gpus));
		buf_puts(&b, ", \"url\": ");
		buf_json_str(&b, s->url, strlen(s->url));
		buf_printf(&b, ", \"state\": \"%s\", \"pid\": %d, \"restarts\": %d, \"log\": ",
			   agent_state_name(s->sm.state), (int)s->pid, s->sm.restarts);
		buf_json_str(&b, s->log_path, strlen(s->log_path));
		buf_puts(&b, ", \"error\": ");
		buf_json_str(&b, s->error, strlen(s->error));
		buf_puts(&b, "}");
	}
	buf_puts(&b, "]}\n");
	char tmp[1200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
	if (fd >= 0 && close(fd) < 0)
		ok = 0;
	if (ok && rename(tmp, path) < 0)
		ok = 0;
	if (!ok) {
		static int warned;
		if (!warned++)
			log_warn("cannot write the status file %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	buf_free(&b);
}
