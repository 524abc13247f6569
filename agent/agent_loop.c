/* agent_loop.c — the agent on its event loop: processes, probes, timers,
 * signals (agent.h).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "gpu.h"
#include "httpc.h"
#include "log.h"
#include "model.h"

extern char **environ;

#define T_NONE AGENT_T_NONE
#define T_PROBE AGENT_T_PROBE
#define T_BACKOFF AGENT_T_BACKOFF
#define T_KILL AGENT_T_KILL

static void slice_apply(struct agent_slice *s, unsigned acts, pid_t old_pid);
static void agent_stop_all(struct agent *ag);
static void exit_timer_cb(evutil_socket_t fd, short what, void *arg);

int64_t agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_timer_arm(struct event *ev, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

void agent_slice_step(struct agent_slice *s, enum agent_event ev, pid_t old_pid)
{
	enum agent_state before = s->sm.state;
	unsigned acts = agent_sm_step(&s->sm, ev, agent_now_ms(), &s->ag->pol);
	if (s->sm.state != before)
		log_debug("slice %d: %s -> %s", s->index, agent_state_name(before),
			  agent_state_name(s->sm.state));
	slice_apply(s, acts, old_pid);
	if (s->ag->node && s->sm.state != before)
		agent_node_state(s);
	agent_status_write(s->ag);
	agent_check_done(s->ag);
}

/* ---------------------------------------------------------------- probes */

static void probe_tick(struct agent_slice *s);

static bool models_lists(const char *body, const char *name)
{
	struct json_object *o = json_tokener_parse(body);
	struct json_object *data;
	bool found = false;
	if (o && json_object_object_get_ex(o, "data", &data) &&
	    json_object_is_type(data, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(data) && !found; i++) {
			struct json_object *m = json_object_array_get_idx(data, i), *id;
			if (json_object_object_get_ex(m, "id", &id) &&
			    json_object_is_type(id, json_type_string) &&
			    strcmp(json_object_get_string(id), name) == 0)
				found = true;
		}
	}
	json_object_put(o);
	return found;
}

static void on_models(struct httpc_req *req, int err, const struct httpc_resp *resp, void *arg)
{
	struct agent_slice *s = arg;
	(void)req;
	s->probe = NULL;
	if (s->sm.state != AS_STARTING)
		return;
	if (!err && httpc_resp_status(resp) == 200) {
		size_t len;
		const char *body = httpc_resp_body(resp, &len);
		if (models_lists(body, s->ag->cfg->name)) {
			log_info("slice %d ready: %s (GPUs %s) after %.1f s", s->index, s->url, s->gpus,
				 (double)(agent_now_ms() - s->started_ms) / 1000);
			s->error[0] = '\0';
			s->answered_ms = agent_now_ms();
			s->hung = false;
			agent_slice_step(s, AE_READY, 0);
			return;
		}
		if (!s->error[0] || strstr(s->error, "does not list") == NULL)
			snprintf(s->error, sizeof s->error,
				 "port %d answers but its /v1/models does not list \"%s\" (another server on the port?)",
				 s->port, s->ag->cfg->name);
	}
	s->timer_kind = T_PROBE;
	agent_timer_arm(s->timer, s->ag->opt.probe_ms);
}

static void on_health(struct httpc_req *req, int err, const struct httpc_resp *resp, void *arg)
{
	struct agent_slice *s = arg;
	(void)req;
	s->probe = NULL;
	if (s->sm.state != AS_STARTING)
		return;
	if (!err && httpc_resp_status(resp) == 200) {
		char url[400], e[200];
		snprintf(url, sizeof url, "%s/v1/models", s->probe_url);
		struct httpc_request rq = {.method = "GET", .url = url, .total_timeout_ms = 3000,
					   .max_body = 1 << 20, .on_done = on_models, .arg = s};
		s->probe = httpc_start(s->ag->http, &rq, e, sizeof e);
		if (s->probe)
			return;
	}
	s->timer_kind = T_PROBE;
	agent_timer_arm(s->timer, s->ag->opt.probe_ms);
}

static void probe_tick(struct agent_slice *s)
{
	if (s->sm.state != AS_STARTING)
		return;
	if (agent_now_ms() >= s->startup_deadline) {
		agent_slice_step(s, AE_STARTUP_TIMEOUT, 0);
		return;
	}
	if (s->probe) {
		s->timer_kind = T_PROBE;
		agent_timer_arm(s->timer, s->ag->opt.probe_ms);
		return;
	}
	char url[600], e[200];
	snprintf(url, sizeof url, "%s%s", s->probe_url, s->ag->cfg->health_path);
	struct httpc_request rq = {.method = "GET", .url = url, .total_timeout_ms = 3000,
				   .connect_timeout_ms = 1000, .max_body = 1 << 16,
				   .on_done = on_health, .arg = s};
	s->probe = httpc_start(s->ag->http, &rq, e, sizeof e);
	if (!s->probe) {
		s->timer_kind = T_PROBE;
		agent_timer_arm(s->timer, s->ag->opt.probe_ms);
	}
}

static void slice_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent_slice *s = arg;
	int kind = s->timer_kind;
	s->timer_kind = T_NONE;
	switch (kind) {
	case T_PROBE:
		probe_tick(s);
		break;
	case T_BACKOFF:
		if (s->pid > 0) {
			/* The old engine is not reaped yet: its port may be held. */
			s->timer_kind = T_BACKOFF;
			agent_timer_arm(s->timer, 200);
			break;
		}
		agent_slice_step(s, AE_BACKOFF_DONE, 0);
		break;
	case T_KILL:
		agent_slice_step(s, AE_KILL_TIMEOUT, 0);
		break;
	}
}

/* ---------------------------------------------------------------- actions */

int agent_slice_start(struct agent_slice *s)
{
	struct agent *ag = s->ag;
	char err[512];
	struct agent_engine_vars v = {
		.path = ag->cfg->path, .name = ag->cfg->name, .host = ag->opt.bind, .port = s->port,
		.tp = ag->cfg->tp, .gpus = s->gpus, .rank = 0, .nnodes = 1,
		.gpus_per_rank = model_gpus_per_rank(ag->cfg), .agent = ag->self_path,
	};
	if (ag->node)
		agent_node_vars(ag, &v);
	char **argv = agent_engine_argv(ag->cfg, &v, ag->sim_path, err, sizeof err);
	if (!argv) {
		snprintf(s->error, sizeof s->error, "%s", err);
		log_error("slice %d: %s", s->index, err);
		return -1;
	}
	char **envp = agent_engine_env(environ, ag->cfg, s->gpus, &v);
	pid_t pid = agent_proc_spawn(s, argv, envp, err, sizeof err);
	agent_argv_free(argv);
	agent_argv_free(envp);
	s->started_ms = agent_now_ms();
	s->startup_deadline = s->started_ms + ag->cfg->startup_timeout_ms;
	if (pid < 0) {
		snprintf(s->error, sizeof s->error, "%s", err);
		log_error("slice %d: %s", s->index, err);
		return -1;
	}
	s->pid = pid;
	if (v.nnodes > 1)
		log_info("slice %d: started %s engine rank %d of %d (pid %d) on GPUs %s, port %d; log %s",
			 s->index, model_engine_name(ag->cfg->engine), v.rank, v.nnodes, (int)pid,
			 s->gpus, s->port, s->log_path);
	else
		log_info("slice %d: started %s engine (pid %d) on GPUs %s, port %d; log %s", s->index,
			 model_engine_name(ag->cfg->engine), (int)pid, s->gpus, s->port, s->log_path);
	return 0;
}

static void slice_spawn(struct agent_slice *s)
{
	if (agent_slice_start(s) < 0) {
		agent_slice_step(s, AE_EXITED, 0);
		return;
	}
	if (s->ag->node)
		agent_node_spawned(s);
}

static void slice_apply(struct agent_slice *s, unsigned acts, pid_t old_pid)
{
	struct agent *ag = s->ag;
	const char *reason = s->sm.reason, *why = s->sm.why;
	if (acts & AA_REAP_GROUP && old_pid > 0)
		kill(-old_pid, SIGKILL); /* what the engine left behind in its group */
	if (acts & AA_DEREGISTER)
		agent_reg_deregister(ag, s, reason ? reason : "engine_exit");
	if (acts & AA_KILL) {
		agent_proc_signal(s, SIGKILL);
		if (ag->node)
			agent_node_signalled(s, SIGKILL);
	}
	if (acts & AA_TERM) {
		agent_proc_signal(s, SIGTERM);
		if (ag->node)
			agent_node_signalled(s, SIGTERM);
	}
	if (acts & AA_KILL_LATER) {
		s->timer_kind = T_KILL;
		agent_timer_arm(s->timer, ag->opt.kill_timeout_ms);
	}
	if (acts & AA_REPORT_FAIL) {
		struct buf tail = BUF_INIT;
		agent_log_tail(s->log_path, 20, &tail);
		snprintf(s->error, sizeof s->error, "%s; last lines of %s:\n%s",
			 why ? why : "failed", s->log_path, tail.data ? tail.data : "(empty)");
		log_error("slice %d (GPUs %s, port %d) failed: %s", s->index, s->gpus, s->port,
			  s->error);
		buf_free(&tail);
	}
	if (acts & AA_RESTART_LATER) {
		log_warn("slice %d: restarting in %.1f s (failure %d in a row)", s->index,
			 s->sm.backoff_ms / 1000.0, s->sm.failures);
		s->timer_kind = T_BACKOFF;
		agent_timer_arm(s->timer, s->sm.backoff_ms);
	}
	if (acts & AA_SPAWN) {
		slice_spawn(s);
		if (s->sm.state != AS_STARTING)
			return; /* the spawn failed and was handled */
	}
	if (acts & AA_PROBE) {
		s->timer_kind = T_PROBE;
		agent_timer_arm(s->timer, ag->opt.probe_ms);
	}
	if (acts & AA_REGISTER)
		agent_reg_register(s);
}

/* ---------------------------------------------------------------- children */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent *ag = arg;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			break;
		if (pid == ag->squeue_pid) {
			ag->squeue_pid = 0;
			continue;
		}
		if (ag->hub && agent_hub_reaped(ag, pid, st))
			continue;
		for (size_t i = 0; i < ag->nslices; i++) {
			struct agent_slice *s = &ag->slices[i];
			if (s->pid != pid)
				continue;
			s->pid = 0;
			s->last_status = st;
			if (s->probe) {
				httpc_cancel(s->probe);
				s->probe = NULL;
			}
			if (s->scrape) {
				httpc_cancel(s->scrape);
				s->scrape = NULL;
			}
			if (s->timer_kind == T_PROBE || s->timer_kind == T_KILL) {
				evtimer_del(s->timer);
				s->timer_kind = T_NONE;
			}
			char what[128];
			if (WIFSIGNALED(st))
				snprintf(what, sizeof what, "engine (pid %d) killed by signal %d",
					 (int)pid, WTERMSIG(st));
			else
				snprintf(what, sizeof what, "engine (pid %d) exited with status %d",
					 (int)pid, WEXITSTATUS(st));
			if (s->follower) {
				agent_node_follower_exited(s, pid, st);
				break;
			}
			if (ag->node)
				agent_node_head_exited(s);
			if (s->sm.state == AS_STARTING || s->sm.state == AS_READY) {
				log_warn("slice %d: %s", s->index, what);
				snprintf(s->error, sizeof s->error, "%s", what);
			} else {
				/* A failed slice keeps the reason it failed for. */
				log_info("slice %d: %s", s->index, what);
			}
			agent_slice_step(s, AE_EXITED, pid);
			break;
		}
	}
}

/* ---------------------------------------------------------------- load and heartbeat */

static void on_scrape(struct httpc_req *req, int err, const struct httpc_resp *resp, void *arg)
{
	struct agent_slice *s = arg;
	(void)req;
	s->scrape = NULL;
	s->load_fresh = true;
	if (!err)
		s->answered_ms = agent_now_ms(); /* any answer: not hung */
	s->scrape_failed = err != 0;
	if (err || httpc_resp_status(resp) != 200) {
		s->load.valid = false;
		return;
	}
	size_t len;
	const char *body = httpc_resp_body(resp, &len);
	char e[200];
	struct agent_load l;
	if (agent_load_parse(body, len, &l, e, sizeof e) < 0) {
		static int warned;
		if (!warned++)
			log_warn("slice %d: cannot read the engine's /metrics: %s", s->index, e);
		s->load.valid = false;
		return;
	}
	s->load = l;
}

static void slice_scrape(struct agent_slice *s, int timeout_ms)
{
	if (s->scrape || s->pid <= 0)
		return;
	char url[400], e[200];
	snprintf(url, sizeof url, "%s/metrics", s->probe_url);
	struct httpc_request rq = {.method = "GET", .url = url,
				   .total_timeout_ms = (unsigned)(timeout_ms > 100 ? timeout_ms : 100),
				   .max_body = 8u << 20, .on_done = on_scrape, .arg = s};
	s->scrape = httpc_start(s->ag->http, &rq, e, sizeof e);
}

static void hb_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent *ag = arg;
	if (ag->phase != AP_RUNNING)
		return;
	int64_t now = agent_now_ms(), hang = ag->cfg->hang_timeout_ms;
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->sm.state != AS_READY || s->follower)
			continue;
		if (hang > 0 && !s->hung && now - s->answered_ms > hang) {
			log_warn("slice %d: the engine (pid %d) answered nothing for %.1f s "
				 "(engine.hang_timeout): killing it",
				 s->index, (int)s->pid, (double)(now - s->answered_ms) / 1000);
			snprintf(s->error, sizeof s->error,
				 "the engine answered nothing for %.1f s (engine.hang_timeout)",
				 (double)(now - s->answered_ms) / 1000);
			s->hung = true;
			agent_slice_step(s, AE_HUNG, 0);
			continue;
		}
		slice_scrape(s, ag->heartbeat_ms - 100);
	}
	agent_reg_heartbeat(ag);
	agent_reg_due(ag, agent_now_ms());
	agent_timer_arm(ag->hb_timer, ag->heartbeat_ms);
}

/* ---------------------------------------------------------------- drain */

static bool slice_live(const struct agent_slice *s)
{
	return s->pid > 0;
}

static void drain_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent *ag = arg;
	if (ag->phase != AP_DRAINING)
		return;
	bool busy = false;
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->sm.state != AS_DRAINING || !slice_live(s))
			continue;
		/* Busy until a scrape since the last poll says otherwise. An
		 * engine that no longer takes connections is finishing its
		 * requests in flight on its own (SLURM's SIGTERM reaches every
		 * process of the job): it is left to end by itself until the
		 * drain time is over, since a second SIGTERM would cut them. */
		if (!s->load_fresh || s->scrape_failed ||
		    (s->load.valid && s->load.running + s->load.waiting > 0))
			busy = true;
		s->load_fresh = false;
		slice_scrape(s, 200);
	}
	if (!busy || agent_now_ms() >= ag->drain_deadline) {
		if (busy)
			log_warn("drain time over with requests still in flight: stopping the engines");
		agent_stop_all(ag);
		return;
	}
	agent_timer_arm(ag->drain_poll, 250);
}

static void agent_stop_all(struct agent *ag)
{
	if (ag->phase >= AP_STOPPING)
		return;
	ag->phase = AP_STOPPING;
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->sm.state == AS_DRAINING && !slice_live(s))
			s->sm.state = AS_STOPPED;
		else
			agent_slice_step(s, AE_STOP, 0);
	}
	agent_status_write(ag);
	agent_check_done(ag);
}

void agent_drain(struct agent *ag)
{
	if (ag->hub) {
		agent_hub_drain(ag);
		return;
	}
	if (ag->node && agent_node_drain(ag))
		return;
	if (ag->phase == AP_DRAINING) {
		log_warn("second signal: stopping the engines now");
		agent_stop_all(ag);
		return;
	}
	if (ag->phase != AP_RUNNING)
		return;
	/* Out of routing first: one request for every worker of this node. */
	agent_reg_deregister(ag, NULL, "sigterm");
	ag->phase = AP_DRAINING;
	int64_t drain = ag->opt.drain_ms >= 0 ? ag->opt.drain_ms : ag->cfg->drain_timeout_ms;
	ag->drain_deadline = agent_now_ms() + drain;
	int n = 0;
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->reg_inflight)
			s->registered = false;
		n += s->sm.state == AS_READY;
		s->load_fresh = false;
		agent_slice_step(s, AE_DRAIN, 0);
	}
	log_info("draining: %d worker(s) deregistered; in-flight requests get up to %.1f s", n,
		 drain / 1000.0);
	agent_status_write(ag);
	agent_timer_arm(ag->drain_poll, 0);
	agent_check_done(ag);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct agent *ag = arg;
	if (sig == SIGHUP)
		return;
	if ((ag->node || ag->hub) && ag->got_signal) {
		/* srun passes on the signal that SLURM sends every process of
		 * the job: the drain has begun already. */
		log_debug("got %s again", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
	log_info("got %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ag->got_signal = true;
	agent_drain(ag);
}

void agent_check_done(struct agent *ag)
{
	if (ag->phase == AP_DONE || ag->hub)
		return; /* the hub ends with its srun (agent_hub.c) */
	bool all_gone = true, all_failed = true;
	for (size_t i = 0; i < ag->nslices; i++) {
		const struct agent_slice *s = &ag->slices[i];
		if (s->pid > 0 || (s->sm.state != AS_STOPPED && s->sm.state != AS_FAILED &&
				   s->sm.state != AS_IDLE))
			all_gone = false;
		if (s->sm.state != AS_FAILED || s->pid > 0)
			all_failed = false;
	}
	if (ag->phase == AP_RUNNING && all_failed && ag->nslices) {
		log_error("every slice failed: nothing left to serve");
		ag->exit_code = 1;
		ag->phase = AP_DONE;
	} else if (ag->phase >= AP_DRAINING && all_gone) {
		ag->exit_code = 0;
		ag->phase = AP_DONE;
		log_info("all engines stopped");
	}
	if (ag->phase == AP_DONE)
		agent_finish(ag, ag->exit_code);
}

void agent_finish(struct agent *ag, int code)
{
	ag->phase = AP_DONE;
	ag->exit_code = code;
	agent_status_write(ag);
	/* A deregistration still on its way is let through, briefly. */
	if (ag->dereg_inflight > 0)
		agent_timer_arm(ag->exit_timer, 1500);
	else
		event_base_loopbreak(ag->base);
}

static void exit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent *ag = arg;
	log_warn("leaving with %d deregistration(s) unanswered", ag->dereg_inflight);
	event_base_loopbreak(ag->base);
}

/* ---------------------------------------------------------------- job end */

static void squeue_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct agent *ag = arg;
	char tmp[256];
	ssize_t n = read(fd, tmp, sizeof tmp);
	if (n > 0) {
		if (ag->squeue_out.len < 4096)
			buf_append(&ag->squeue_out, tmp, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	event_free(ag->squeue_ev);
	ag->squeue_ev = NULL;
	close(ag->squeue_fd);
	ag->squeue_fd = -1;
	char *end;
	double t = ag->squeue_out.data ? strtod(ag->squeue_out.data, &end) : 0;
	if (t > 1e9 && t < 1e11 && t != ag->job_end) {
		ag->job_end = t;
		log_debug("job %s ends at %.0f", ag->opt.job_id, t);
		for (size_t i = 0; i < ag->nslices; i++)
			if (ag->slices[i].registered)
				agent_reg_register(&ag->slices[i]);
	}
	buf_free(&ag->squeue_out);
}

/* Asks squeue when the job's time limit ends (no wait: read from the loop). */
static void agent_lookup_job_end(struct agent *ag)
{
	char path[PATH_MAX];
	const char *p = getenv("PATH");
	bool found = false;
	for (const char *d = p ? p : "/usr/bin:/bin"; *d && !found;) {
		size_t n = strcspn(d, ":");
		snprintf(path, sizeof path, "%.*s/squeue", (int)n, d);
		found = n && access(path, X_OK) == 0;
		d += n + (d[n] == ':');
	}
	if (!found)
		return;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		int dn = open("/dev/null", O_RDWR);
		if (dn >= 0) {
			dup2(dn, 0);
			dup2(dn, 2);
		}
		setenv("SLURM_TIME_FORMAT", "%s", 1);
		execl(path, "squeue", "-h", "-j", ag->opt.job_id, "-o", "%e", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	ag->squeue_pid = pid;
	ag->squeue_fd = fds[0];
	ag->squeue_ev = event_new(ag->base, fds[0], EV_READ | EV_PERSIST, squeue_read_cb, ag);
	event_add(ag->squeue_ev, NULL);
}

/* ---------------------------------------------------------------- setup */

/* elastic-sim: --sim, $ELASTIC_SIM, beside this program (source tree and
 * installed layouts), else the PATH. */
static char *find_sim(const char *given)
{
	const char *env = getenv("ELASTIC_SIM");
	if (given && *given)
		return strdup(given);
	if (env && *env)
		return strdup(env);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			const char *rel[] = {"elastic-sim", "../sim/elastic-sim", "../bin/elastic-sim"};
			for (size_t i = 0; i < 3; i++) {
				char cand[PATH_MAX + 32];
				snprintf(cand, sizeof cand, "%s/%s", self, rel[i]);
				if (access(cand, X_OK) == 0)
					return realpath(cand, NULL);
			}
		}
	}
	return strdup("elastic-sim");
}

static int mkdir_p(const char *path)
{
	char tmp[1024];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int load_config(struct agent *ag, char *err, size_t errlen)
{
	struct buf errs = BUF_INIT;
	int rc;
	if (ag->opt.config_env) {
		const char *text = getenv(ag->opt.config_env);
		if (!text) {
			snprintf(err, errlen, "no configuration: $%s is not set", ag->opt.config_env);
			return -1;
		}
		rc = model_parse(text, strlen(text), ag->opt.config_env, &ag->cfg, &errs);
	} else if (ag->opt.config_file) {
		rc = model_load(ag->opt.config_file, &ag->cfg, &errs);
	} else {
		snprintf(err, errlen, "no configuration: give --config FILE or --config-env VAR");
		return -1;
	}
	if (rc < 0) {
		char *nl = errs.data ? strchr(errs.data, '\n') : NULL;
		if (nl && nl[1])
			*nl = '\0';
		else if (nl)
			*nl = '\0';
		snprintf(err, errlen, "%s", errs.data ? errs.data : "invalid configuration");
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	int k = ag->cfg->nodes_per_worker;
	if (k > 1 && !ag->opt.hub && !ag->opt.node_agent) {
		snprintf(err, errlen,
			 "parallel.nodes_per_worker = %d: a worker spanning nodes needs --hub (as the SPANK plugin starts it) or --node-agent",
			 k);
		return -1;
	}
	if (k == 1 && (ag->opt.hub || ag->opt.node_agent)) {
		snprintf(err, errlen,
			 "--hub and --node-agent are for workers spanning nodes (parallel.nodes_per_worker > 1)");
		return -1;
	}
	if (ag->opt.hub && ag->opt.node_agent) {
		snprintf(err, errlen, "--hub and --node-agent exclude each other");
		return -1;
	}
	return 0;
}

int agent_init(struct agent *ag, struct event_base *base, const struct agent_options *opt,
	       char *err, size_t errlen)
{
	memset(ag, 0, sizeof *ag);
	ag->base = base;
	ag->opt = *opt;
	ag->squeue_fd = -1;
	agent_policy_default(&ag->pol);
	if (!ag->opt.bind)
		ag->opt.bind = "0.0.0.0";
	if (ag->opt.heartbeat_ms <= 0)
		ag->heartbeat_ms = 1000;
	else
		ag->heartbeat_ms = ag->opt.heartbeat_ms;
	if (ag->opt.probe_ms <= 0)
		ag->opt.probe_ms = 500;
	if (ag->opt.kill_timeout_ms <= 0)
		ag->opt.kill_timeout_ms = 10000;
	if (load_config(ag, err, errlen) < 0)
		return -1;
	char host[256] = "localhost";
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	ag->host_name = strdup(ag->opt.host && *ag->opt.host ? ag->opt.host : host);
	if (!ag->opt.node || !*ag->opt.node) {
		const char *nn = getenv("SLURMD_NODENAME");
		ag->opt.node = nn && *nn ? nn : ag->host_name;
	}
	if (!ag->opt.job_id || !*ag->opt.job_id) {
		const char *j = getenv("SLURM_JOB_ID");
		ag->opt.job_id = j && *j ? j : "0";
	}
	if (!ag->opt.log_dir || !*ag->opt.log_dir)
		ag->opt.log_dir = ".";
	if (mkdir_p(ag->opt.log_dir) < 0) {
		snprintf(err, errlen, "cannot create the log directory %s: %s", ag->opt.log_dir,
			 strerror(errno));
		return -1;
	}
	ag->self_path = realpath("/proc/self/exe", NULL);
	if (ag->opt.hub) {
		if (ag->opt.nslices) {
			snprintf(err, errlen, "--hub runs no engine itself: it takes no --slice");
			return -1;
		}
		if (agent_hub_init(ag, err, errlen) < 0)
			return -1;
		goto common;
	}
	if (ag->opt.node_agent && agent_node_init(ag, err, errlen) < 0)
		return -1;
	if (ag->opt.nslices == 0) {
		snprintf(err, errlen, "no slices: give --slice GPUS@PORT for each engine");
		return -1;
	}
	int tp = model_gpus_per_rank(ag->cfg);
	const char *probe_host = strcmp(ag->opt.bind, "0.0.0.0") && strcmp(ag->opt.bind, "::") ?
				 ag->opt.bind : "127.0.0.1";
	ag->slices = calloc(ag->opt.nslices, sizeof *ag->slices);
	if (!ag->slices)
		abort();
	ag->nslices = ag->opt.nslices;
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		const char *spec = ag->opt.slices[i];
		const char *at = strrchr(spec, '@');
		char *end;
		long port = at ? strtol(at + 1, &end, 10) : 0;
		s->ag = ag;
		s->index = (int)i;
		s->reg_logged = -1;
		if (!at || at == spec || *end || port < 1 || port > 65535) {
			snprintf(err, errlen, "--slice %s: expected GPUS@PORT, e.g. 0,1@28000", spec);
			return -1;
		}
		s->gpus = strndup(spec, (size_t)(at - spec));
		s->port = (int)port;
		struct gpu_plan gp;
		char gerr[200] = "";
		memset(&gp, 0, sizeof gp);
		int gr = gpu_plan(s->gpus, tp, &gp, gerr, sizeof gerr);
		size_t got = gr == 0 ? gp.nslices : 0;
		if (gr == 0)
			gpu_plan_free(&gp);
		if (gr < 0 || got != 1) {
			snprintf(err, errlen, "--slice %s: %s (a slice has tp = %d GPUs)", spec,
				 gr < 0 ? gerr : "more GPUs than one slice", tp);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (ag->slices[j].port == s->port) {
				snprintf(err, errlen, "--slice %s: port %d given twice", spec, s->port);
				return -1;
			}
		}
		bool v6 = strchr(ag->host_name, ':') != NULL;
		snprintf(s->url, sizeof s->url, v6 ? "http://[%s]:%d" : "http://%s:%d", ag->host_name,
			 s->port);
		snprintf(s->probe_url, sizeof s->probe_url,
			 strchr(probe_host, ':') ? "http://[%s]:%d" : "http://%s:%d", probe_host,
			 s->port);
		snprintf(s->id, sizeof s->id, "%s.%s.%d", ag->opt.job_id, ag->opt.node, s->index);
		snprintf(s->log_path, sizeof s->log_path, "%s/%s.slice%d.log", ag->opt.log_dir,
			 ag->opt.node, s->index);
		s->timer = evtimer_new(base, slice_timer_cb, s);
	}
	if (ag->node && ag->nslices != 1) {
		snprintf(err, errlen, "a node agent runs one rank: give one --slice");
		return -1;
	}
common:
	ag->have_registry = ag->opt.registry && *ag->opt.registry;
	if (ag->have_registry &&
	    auth_client_init(&ag->auth, ag->opt.auth ? ag->opt.auth : "munge", err, errlen) < 0)
		return -1;
	ag->sim_path = find_sim(ag->opt.sim);
	ag->http = httpc_new(base, NULL);
	ag->job_end = ag->opt.job_end;
	ag->ev_term = evsignal_new(base, SIGTERM, signal_cb, ag);
	ag->ev_int = evsignal_new(base, SIGINT, signal_cb, ag);
	ag->ev_hup = evsignal_new(base, SIGHUP, signal_cb, ag);
	ag->ev_chld = evsignal_new(base, SIGCHLD, reap_cb, ag);
	ag->hb_timer = evtimer_new(base, hb_cb, ag);
	ag->drain_poll = evtimer_new(base, drain_poll_cb, ag);
	ag->exit_timer = evtimer_new(base, exit_timer_cb, ag);
	event_add(ag->ev_term, NULL);
	event_add(ag->ev_int, NULL);
	event_add(ag->ev_hup, NULL);
	event_add(ag->ev_chld, NULL);
	return 0;
}

void agent_start(struct agent *ag)
{
	if (ag->hub) {
		agent_hub_start(ag);
		agent_timer_arm(ag->hb_timer, ag->heartbeat_ms);
		agent_status_write(ag);
		return;
	}
	if (ag->job_end <= 0 && strcmp(ag->opt.job_id, "0") != 0)
		agent_lookup_job_end(ag);
	if (ag->node) {
		log_info("job %s on %s: rank of %s (%s) spanning %d nodes, registry %s, logs in %s",
			 ag->opt.job_id, ag->opt.node, ag->cfg->name,
			 model_engine_name(ag->cfg->engine), ag->cfg->nodes_per_worker,
			 ag->have_registry ? ag->opt.registry : "none", ag->opt.log_dir);
		agent_node_start(ag);
		agent_timer_arm(ag->hb_timer, ag->heartbeat_ms);
		agent_status_write(ag);
		return;
	}
	log_info("job %s on %s: %zu slice(s) of %s (%s), registry %s, logs in %s", ag->opt.job_id,
		 ag->opt.node, ag->nslices, ag->cfg->name, model_engine_name(ag->cfg->engine),
		 ag->have_registry ? ag->opt.registry : "none", ag->opt.log_dir);
	/* Slices start concurrently: every spawn happens now, probes overlap. */
	for (size_t i = 0; i < ag->nslices; i++)
		agent_slice_step(&ag->slices[i], AE_START, 0);
	agent_timer_arm(ag->hb_timer, ag->heartbeat_ms);
	agent_status_write(ag);
}

void agent_free(struct agent *ag)
{
	for (size_t i = 0; i < ag->nslices; i++) {
		struct agent_slice *s = &ag->slices[i];
		if (s->pid > 0) {
			agent_proc_signal(s, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		if (s->timer)
			event_free(s->timer);
		free(s->gpus);
		agent_argv_free(s->nodes);
	}
	if (ag->hub)
		agent_hub_free(ag);
	if (ag->node)
		agent_node_free(ag);
	httpc_free(ag->http);
	if (ag->squeue_ev)
		event_free(ag->squeue_ev);
	if (ag->squeue_fd >= 0)
		close(ag->squeue_fd);
	if (ag->squeue_pid > 0) {
		kill(ag->squeue_pid, SIGKILL);
		waitpid(ag->squeue_pid, NULL, 0);
	}
	buf_free(&ag->squeue_out);
	struct event *evs[] = {ag->ev_term, ag->ev_int, ag->ev_hup, ag->ev_chld, ag->hb_timer,
			       ag->drain_poll, ag->drain_timer, ag->exit_timer};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	free(ag->slices);
	model_free(ag->cfg);
	free(ag->sim_path);
	free(ag->host_name);
	free(ag->self_path);
	memset(&ag->auth, 0, sizeof ag->auth);
}
