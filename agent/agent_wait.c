/* agent_wait.c — elastic-agent --wait and --wait-ready, for job scripts
 * (agent.h).
 *
 *   exec elastic-agent --wait      block while the agent serves; exit with
 *                                  its status (143 when the job was
 *                                  signalled), after its drain
 *   elastic-agent --wait-ready     block until every slice is ready (0),
 *                                  one failed or the agent died (1), or the
 *                                  timeout passed (2)
 *
 * Both find the agent through the status file ($ELASTIC_SERVE_STATUS) and
 * $ELASTIC_AGENT_PID, which the SPANK plugin exports to the job script.
 * --wait outlives SIGTERM on purpose: at preemption Slurm signals every
 * process of the job at once, and the job must not end (and be killed
 * whole) before the agent has drained.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

static volatile sig_atomic_t wait_sig;

static void wait_on_signal(int sig)
{
	if (!wait_sig)
		wait_sig = sig;
}

/* Reads the status file; NULL when missing or unreadable. */
static struct json_object *read_status(const char *path)
{
	FILE *fp = path ? fopen(path, "r") : NULL;
	if (!fp)
		return NULL;
	char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return json_tokener_parse(buf);
}

static int status_int(struct json_object *o, const char *key, int dflt)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
		return json_object_get_int(v);
	return dflt;
}

static const char *status_str(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL); /* a signal ends it early: fine */
}

/* Whether PID still runs. The agent is often this process's own child
 * (`exec elastic-agent --wait` replaces the job script, whose task started
 * the agent): then it is reaped here and *STATUS gets its wait status. */
static bool alive(int pid, int *status)
{
	if (pid <= 0)
		return false;
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		*status = st;
		return false;
	}
	if (r == 0)
		return true;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	/* Not ours: a zombie waiting for another parent is gone too. */
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return true;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

int agent_wait_main(const char *status_file, int pid, bool ready_only, int timeout_s)
{
	if (!status_file || !*status_file)
		status_file = getenv("ELASTIC_SERVE_STATUS");
	if (pid <= 0 && getenv("ELASTIC_AGENT_PID"))
		pid = atoi(getenv("ELASTIC_AGENT_PID"));
	if ((!status_file || !*status_file) && pid <= 0) {
		fprintf(stderr, "elastic-agent: no agent to wait for: $ELASTIC_SERVE_STATUS and $ELASTIC_AGENT_PID are not set (is this an sbatch --elastic-serve job?)\n");
		return 1;
	}
	if (!ready_only) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = wait_on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	int64_t start = agent_now_ms();
	for (;;) {
		struct json_object *st = read_status(status_file);
		if (pid <= 0)
			pid = status_int(st, "pid", 0);
		int64_t waited = agent_now_ms() - start;
		if (pid <= 0 && waited > 30000) {
			fprintf(stderr, "elastic-agent: no agent appeared (no pid in %s)\n", status_file);
			json_object_put(st);
			return 1;
		}
		int wst = -1;
		bool gone = pid > 0 && !alive(pid, &wst);
		if (ready_only) {
			struct json_object *slices;
			int n = 0, ready = 0, failed = 0;
			if (st && json_object_object_get_ex(st, "slices", &slices) &&
			    json_object_is_type(slices, json_type_array)) {
				n = (int)json_object_array_length(slices);
				for (int i = 0; i < n; i++) {
					struct json_object *s = json_object_array_get_idx(slices, i);
					const char *state = status_str(s, "state");
					if (!strcmp(state, "ready"))
						ready++;
					else if (!strcmp(state, "failed")) {
						failed++;
						fprintf(stderr, "elastic-agent: slice %d failed: %s\n",
							status_int(s, "index", i), status_str(s, "error"));
					}
				}
			}
			if (n > 0 && ready == n) {
				for (int i = 0; i < n; i++)
					printf("%s%s", i ? "," : "",
					       status_str(json_object_array_get_idx(slices, i), "url"));
				printf("\n");
				json_object_put(st);
				return 0;
			}
			json_object_put(st);
			if (failed)
				return 1;
			if (gone) {
				fprintf(stderr, "elastic-agent: the agent (pid %d) is gone\n", pid);
				return 1;
			}
			if (timeout_s > 0 && waited >= (int64_t)timeout_s * 1000) {
				fprintf(stderr, "elastic-agent: not every slice was ready within %d s\n",
					timeout_s);
				return 2;
			}
			nap(200);
			continue;
		}
		if (gone) {
			int code = 1;
			json_object_put(st); /* the last words come just before the exit */
			st = read_status(status_file);
			if (wst >= 0 && WIFEXITED(wst))
				code = WEXITSTATUS(wst);
			else if (wst >= 0 && WIFSIGNALED(wst))
				code = 128 + WTERMSIG(wst);
			else if (!strcmp(status_str(st, "phase"), "exited"))
				code = status_int(st, "exit_code", 1);
			json_object_put(st);
			if (wait_sig)
				return 128 + wait_sig;
			return code;
		}
		json_object_put(st);
		nap(wait_sig ? 50 : 200);
	}
}
