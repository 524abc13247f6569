/* check_agent.c — elastic-agent: engine argv and environment, placeholder
 * substitution, the per-slice state machine, registry bodies, and the agent
 * itself on an event loop with real processes (the fake engine of
 * tests/fake_engine.c) and a fake registry (lib/httpd in the same loop):
 * ready -> registered, kill -9 -> deregistered, restarted, registered,
 * SIGTERM drain, startup timeout with the log tail, a foreign server on the
 * port, the registry down and back, unknown workers, --wait/--wait-ready.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "agent.h"
#include "buf.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "model.h"

/* ---------------------------------------------------------------- pure parts */

static struct model_config *ag_model(const char *text)
{
	struct model_config *cfg = NULL;
	struct buf errs = BUF_INIT;
	int rc = model_parse(text, strlen(text), "test.toml", &cfg, &errs);
	ck_assert_msg(rc == 0, "%s", errs.data ? errs.data : "");
	buf_free(&errs);
	return cfg;
}

static const struct agent_engine_vars ag_vars = {
	.path = "/models/Llama 3; rm -rf /", .name = "llama", .host = "0.0.0.0", .port = 28002,
	.tp = 2, .gpus = "2,3", .rank = 0,
};

static void ag_expect_argv(char **argv, const char *const *want)
{
	size_t i = 0;
	for (; want[i]; i++) {
		ck_assert_msg(argv[i] != NULL, "argv ends at %zu, want \"%s\"", i, want[i]);
		ck_assert_str_eq(argv[i], want[i]);
	}
	ck_assert_ptr_null(argv[i]);
}

START_TEST(test_subst)
{
	struct buf b = BUF_INIT;
	char err[256];
	ck_assert_int_eq(agent_subst("{path}|{name}|{host}:{port}|tp={tp}|{gpus}|r{rank}|{{x}}",
				     &ag_vars, &b, err, sizeof err), 0);
	ck_assert_str_eq(b.data, "/models/Llama 3; rm -rf /|llama|0.0.0.0:28002|tp=2|2,3|r0|{x}");
	buf_reset(&b);
	ck_assert_int_eq(agent_subst("--port={port}", &ag_vars, &b, err, sizeof err), 0);
	ck_assert_str_eq(b.data, "--port=28002");
	buf_reset(&b);
	ck_assert_int_eq(agent_subst("{nope}", &ag_vars, &b, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown placeholder \"{nope}\""));
	ck_assert_int_eq(agent_subst("{port", &ag_vars, &b, err, sizeof err), -1);
	ck_assert_int_eq(agent_subst("a}b", &ag_vars, &b, err, sizeof err), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_argv_kinds)
{
	char err[256];
	struct model_config *cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"vllm\"\n"
					    "args = [\"--max-model-len\", \"8192\", \"a b;c\"]\n");
	char **a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *vllm[] = {"vllm", "serve", ag_vars.path, "--host", "0.0.0.0", "--port", "28002",
			      "--tensor-parallel-size", "2", "--served-model-name", "llama",
			      "--max-model-len", "8192", "a b;c", NULL};
	ag_expect_argv(a, vllm);
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"sglang\"\nargs = [\"--mem-fraction-static\", \"0.8\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *sgl[] = {"python3", "-m", "sglang.launch_server", "--model-path", ag_vars.path,
			     "--host", "0.0.0.0", "--port", "28002", "--tp-size", "2",
			     "--served-model-name", "llama", "--mem-fraction-static", "0.8", NULL};
	ag_expect_argv(a, sgl);
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"sim\"\nargs = [\"--time-scale\", \"0\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, "/opt/es/bin/elastic-sim", err, sizeof err);
	const char *sim[] = {"/opt/es/bin/elastic-sim", "--model", ag_vars.path, "--host", "0.0.0.0",
			     "--port", "28002", "--tensor-parallel-size", "2",
			     "--served-model-name", "llama", "--time-scale", "0", NULL};
	ag_expect_argv(a, sim);
	agent_argv_free(a);
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	ck_assert_str_eq(a[0], "elastic-sim"); /* the PATH decides */
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"command\"\n"
		       "command = [\"my-server\", \"--listen={host}:{port}\", \"{path}\", \"--gpus\", \"{gpus}\", \"-n\", \"{name}\", \"{tp}/{rank}\", \"$(id)\"]\n"
		       "args = [\"--extra\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *cmd[] = {"my-server", "--listen=0.0.0.0:28002", ag_vars.path, "--gpus", "2,3",
			     "-n", "llama", "2/0", "$(id)", "--extra", NULL};
	ag_expect_argv(a, cmd);
	agent_argv_free(a);
	model_free(cfg);
}
END_TEST

START_TEST(test_env)
{
	struct model_config *cfg = ag_model("[model]\npath = \"x\"\n[engine]\nenv = { VLLM_LOGGING_LEVEL = \"WARNING\", HOME = \"/scratch\" }\n");
	char *base[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=0,1,2,3", "HOME=/home/u",
			"CUDA_VISIBLE_DEVICES_X=keep", NULL};
	char **e = agent_engine_env(base, cfg, "2,3");
	const char *want[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES_X=keep",
			      "CUDA_VISIBLE_DEVICES=2,3", "VLLM_LOGGING_LEVEL=WARNING",
			      "HOME=/scratch", NULL};
	ag_expect_argv(e, want);
	agent_argv_free(e);
	model_free(cfg);
}
END_TEST

START_TEST(test_state_machine)
{
	struct agent_policy pol;
	agent_policy_default(&pol);
	struct agent_sm sm = {0};
	ck_assert_uint_eq(agent_sm_step(&sm, AE_START, 0, &pol), AA_SPAWN | AA_PROBE | AA_REGISTER);
	ck_assert_int_eq(sm.state, AS_STARTING);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_READY, 1000, &pol), AA_REGISTER);
	ck_assert_int_eq(sm.state, AS_READY);
	/* Death of a ready engine: deregister, restart after 1 s. */
	unsigned a = agent_sm_step(&sm, AE_EXITED, 2000, &pol);
	ck_assert_uint_eq(a, AA_DEREGISTER | AA_REAP_GROUP | AA_RESTART_LATER);
	ck_assert_str_eq(sm.reason, "engine_exit");
	ck_assert_int_eq(sm.state, AS_BACKOFF);
	ck_assert_int_eq(sm.backoff_ms, 1000);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_BACKOFF_DONE, 3000, &pol),
			  AA_SPAWN | AA_PROBE | AA_REGISTER);
	ck_assert_int_eq(sm.restarts, 1);
	/* Dying before ready, again and again: 2 s, 4 s, 8 s... then give up. */
	int want[] = {2000, 4000, 8000};
	for (int i = 0; i < 3; i++) {
		a = agent_sm_step(&sm, AE_EXITED, 4000, &pol);
		ck_assert_str_eq(sm.reason, "startup_failed");
		ck_assert_int_eq(sm.state, AS_BACKOFF);
		ck_assert_int_eq(sm.backoff_ms, want[i]);
		agent_sm_step(&sm, AE_BACKOFF_DONE, 4000, &pol);
	}
	a = agent_sm_step(&sm, AE_EXITED, 5000, &pol);
	ck_assert_int_eq(sm.state, AS_FAILED);
	ck_assert(a & AA_REPORT_FAIL);
	ck_assert(!(a & AA_RESTART_LATER));
	ck_assert_uint_eq(agent_sm_step(&sm, AE_BACKOFF_DONE, 5000, &pol), 0);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_DRAIN, 5000, &pol), 0);
	ck_assert_int_eq(sm.state, AS_FAILED);

	/* Long-lived engines start over with the short backoff. */
	struct agent_sm s2 = {0};
	agent_sm_step(&s2, AE_START, 0, &pol);
	agent_sm_step(&s2, AE_READY, 0, &pol);
	for (int i = 0; i < 10; i++) {
		agent_sm_step(&s2, AE_EXITED, i * 100000 + 90000, &pol);
		ck_assert_int_eq(s2.backoff_ms, 1000);
		agent_sm_step(&s2, AE_BACKOFF_DONE, i * 100000 + 91000, &pol);
		agent_sm_step(&s2, AE_READY, i * 100000 + 92000, &pol);
	}
	ck_assert_int_eq(s2.state, AS_READY);

	/* Startup timeout: kill it, report, no retry. */
	struct agent_sm s3 = {0};
	agent_sm_step(&s3, AE_START, 0, &pol);
	a = agent_sm_step(&s3, AE_STARTUP_TIMEOUT, 0, &pol);
	ck_assert_uint_eq(a, AA_KILL | AA_DEREGISTER | AA_REPORT_FAIL);
	ck_assert_int_eq(s3.state, AS_FAILED);
	ck_assert_uint_eq(agent_sm_step(&s3, AE_EXITED, 0, &pol), AA_REAP_GROUP);

	/* SIGTERM: ready -> draining -> stopping -> stopped; no restart. */
	struct agent_sm s4 = {0};
	agent_sm_step(&s4, AE_START, 0, &pol);
	agent_sm_step(&s4, AE_READY, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_DRAIN, 0, &pol), 0);
	ck_assert_int_eq(s4.state, AS_DRAINING);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_STOP, 0, &pol), AA_TERM | AA_KILL_LATER);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_KILL_TIMEOUT, 0, &pol), AA_KILL);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_EXITED, 0, &pol), AA_REAP_GROUP);
	ck_assert_int_eq(s4.state, AS_STOPPED);
	/* ... an engine dying during the drain is not restarted. */
	struct agent_sm s5 = {0};
	agent_sm_step(&s5, AE_START, 0, &pol);
	agent_sm_step(&s5, AE_READY, 0, &pol);
	agent_sm_step(&s5, AE_DRAIN, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s5, AE_EXITED, 0, &pol), AA_REAP_GROUP);
	ck_assert_int_eq(s5.state, AS_STOPPED);
	/* ... a starting one stops at once, one waiting to restart never does. */
	struct agent_sm s6 = {0};
	agent_sm_step(&s6, AE_START, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s6, AE_DRAIN, 0, &pol), AA_TERM | AA_KILL_LATER);
	ck_assert_int_eq(s6.state, AS_STOPPING);
	struct agent_sm s7 = {0};
	agent_sm_step(&s7, AE_START, 0, &pol);
	agent_sm_step(&s7, AE_EXITED, 0, &pol);
	ck_assert_int_eq(s7.state, AS_BACKOFF);
	ck_assert_uint_eq(agent_sm_step(&s7, AE_DRAIN, 0, &pol), 0);
	ck_assert_int_eq(s7.state, AS_STOPPED);
	ck_assert_uint_eq(agent_sm_step(&s7, AE_BACKOFF_DONE, 0, &pol), 0);
	ck_assert_str_eq(agent_state_name(AS_BACKOFF), "restarting");

	/* A ready engine that stopped answering: out of routing and killed at
	   once; its exit is then one failure, restarted like any death. */
	struct agent_sm s8 = {0};
	agent_sm_step(&s8, AE_START, 0, &pol);
	agent_sm_step(&s8, AE_READY, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s8, AE_HUNG, 70000, &pol), AA_DEREGISTER | AA_KILL);
	ck_assert_str_eq(s8.reason, "engine_exit");
	ck_assert_int_eq(s8.state, AS_READY);
	a = agent_sm_step(&s8, AE_EXITED, 70001, &pol);
	ck_assert(a & AA_RESTART_LATER);
	ck_assert_int_eq(s8.state, AS_BACKOFF);
	ck_assert_int_eq(s8.failures, 1);
	/* Only a ready engine counts as hung. */
	struct agent_sm s9 = {0};
	agent_sm_step(&s9, AE_START, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s9, AE_HUNG, 0, &pol), 0);
	agent_sm_step(&s9, AE_READY, 0, &pol);
	agent_sm_step(&s9, AE_DRAIN, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s9, AE_HUNG, 0, &pol), 0);
}
END_TEST

/* ---------------------------------------------------------------- the loop */

static struct event_base *ag_base;
static struct event *ag_guard;
static char ag_dir[64];
static char ag_status[128];
static char ag_logdir[128];
static char ag_cfg_path[128];

struct ag_registry {
	struct httpd *h;
	int port;
	struct buf log;       /* "PATH BODY\n" per request, in order */
	int registers, heartbeats, deregisters;
	char unknown[256];    /* ids the next heartbeat reply says are unknown */
	int status;           /* reply status (200) */
};
static struct ag_registry ag_reg;

static void ag_reg_handler(struct httpd_req *req, void *arg)
{
	struct ag_registry *r = arg;
	const char *path = httpd_req_path(req);
	size_t len;
	const char *body = httpd_req_body(req, &len);
	buf_printf(&r->log, "%s %.*s\n", path, (int)len, body);
	struct buf out = BUF_INIT;
	if (r->status != 200) {
		httpd_reply(req, r->status, "application/json", "{\"error\":{\"message\":\"no\"}}", 26);
		return;
	}
	if (!strcmp(path, "/api/v1/workers")) {
		r->registers++;
		buf_puts(&out, "{\"id\":\"x\",\"state\":\"ready\",\"heartbeat_ms\":200,\"timeout_ms\":600}");
	} else if (!strcmp(path, "/api/v1/heartbeat")) {
		r->heartbeats++;
		buf_printf(&out, "{\"unknown\":[%s],\"heartbeat_ms\":200}", r->unknown);
		r->unknown[0] = '\0';
	} else if (!strcmp(path, "/api/v1/deregister")) {
		r->deregisters++;
		buf_puts(&out, "{\"removed\":1}");
	}
	httpd_reply(req, 200, "application/json", out.data ? out.data : "{}", out.len ? out.len : 2);
	buf_free(&out);
}

static void ag_reg_start(int port)
{
	char err[256];
	buf_free(&ag_reg.log);
	memset(&ag_reg, 0, sizeof ag_reg);
	ag_reg.status = 200;
	ag_reg.h = httpd_new(ag_base, NULL, ag_reg_handler, &ag_reg);
	ck_assert_int_eq(httpd_listen(ag_reg.h, "127.0.0.1", port, err, sizeof err), 0);
	ag_reg.port = httpd_port(ag_reg.h);
}

static int ag_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	socklen_t l = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &l);
	close(fd);
	return ntohs(sa.sin_port);
}

static void ag_guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until PRED(ARG) holds; fails after MS. */
static void ag_run_until(bool (*pred)(void *), void *arg, int ms, const char *what)
{
	int expired = 0;
	struct event *g = evtimer_new(ag_base, ag_guard_cb, &expired);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(g, &tv);
	while (!pred(arg) && !expired)
		event_base_loop(ag_base, EVLOOP_ONCE);
	event_free(g);
	ck_assert_msg(pred(arg), "timed out after %d ms waiting for %s", ms, what);
}

static void ag_setup(const char *mode, const char *startup)
{
	log_init("check-agent");
	log_set_level(LOG_LVL_ERROR);
	ag_base = event_base_new();
	ag_guard = NULL;
	snprintf(ag_dir, sizeof ag_dir, "/tmp/check_agent_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ag_dir));
	snprintf(ag_status, sizeof ag_status, "%s/n1.status", ag_dir);
	snprintf(ag_logdir, sizeof ag_logdir, "%s/logs", ag_dir);
	snprintf(ag_cfg_path, sizeof ag_cfg_path, "%s/model.toml", ag_dir);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	FILE *fp = fopen(ag_cfg_path, "w");
	fprintf(fp, "[model]\npath = \"fake/m\"\nname = \"m\"\n[engine]\nkind = \"command\"\n"
		    "command = [\"%s\", \"--port\", \"{port}\", \"--served-model-name\", \"{name}\"]\n"
		    "env = { ES_FAKE_ENGINE = \"%s\", FAKE_EXTRA = \"a b;$(c)\" }\n"
		    "startup_timeout = \"%s\"\ndrain_timeout = \"2s\"\n[parallel]\ntp = 1\n",
		self, mode, startup);
	fclose(fp);
}

static void ag_teardown(void)
{
	if (ag_reg.h)
		httpd_free(ag_reg.h);
	ag_reg.h = NULL;
	buf_free(&ag_reg.log);
	event_base_free(ag_base);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", ag_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void ag_opts(struct agent_options *o, char **slices, size_t n, const char *registry)
{
	memset(o, 0, sizeof *o);
	o->config_file = ag_cfg_path;
	o->job_id = "77";
	o->node = "n1";
	o->host = "127.0.0.1";
	o->bind = "127.0.0.1";
	o->registry = registry;
	o->auth = "none";
	o->log_dir = ag_logdir;
	o->status_file = ag_status;
	o->probe_ms = 50;
	o->kill_timeout_ms = 2000;
	o->drain_ms = -1;
	o->job_end = 1e9 + 1; /* no squeue */
	o->slices = slices;
	o->nslices = n;
}

struct ag_wait {
	struct agent *ag;
	enum agent_state state;
	int count;     /* slices in that state */
};

static bool ag_slices_in(void *arg)
{
	struct ag_wait *w = arg;
	int n = 0;
	for (size_t i = 0; i < w->ag->nslices; i++)
		n += w->ag->slices[i].sm.state == w->state;
	return n >= w->count;
}

static bool ag_registered_ready(void *arg)
{
	struct agent *ag = arg;
	for (size_t i = 0; i < ag->nslices; i++)
		if (ag->slices[i].sm.state != AS_READY || !ag->slices[i].registered ||
		    ag->slices[i].reg_sent != AS_READY || ag->slices[i].reg_inflight)
			return false;
	return true;
}

static bool ag_done(void *arg)
{
	return ((struct agent *)arg)->phase == AP_DONE;
}

static int *ag_counter;
static int ag_target;
static bool ag_count_reached(void *arg)
{
	(void)arg;
	return *ag_counter >= ag_target;
}

static void ag_wait_count(int *counter, int target, int ms, const char *what)
{
	ag_counter = counter;
	ag_target = target;
	ag_run_until(ag_count_reached, NULL, ms, what);
}

/* Fetches URL synchronously on the loop. */
struct ag_fetch {
	int done, status;
	struct buf body;
};

static void ag_fetch_done(struct httpc_req *req, int err, const struct httpc_resp *resp,
			  void *arg)
{
	(void)req;
	struct ag_fetch *f = arg;
	f->done = 1;
	f->status = err ? -1 : httpc_resp_status(resp);
	if (!err) {
		size_t len;
		const char *b = httpc_resp_body(resp, &len);
		buf_append(&f->body, b, len);
	}
}

static bool ag_fetched(void *arg)
{
	return ((struct ag_fetch *)arg)->done;
}

static struct json_object *ag_get_json(struct httpc *c, const char *url)
{
	struct ag_fetch f = {0};
	char err[128];
	struct httpc_request rq = {.method = "GET", .url = url, .total_timeout_ms = 2000,
				   .on_done = ag_fetch_done, .arg = &f};
	ck_assert_ptr_nonnull(httpc_start(c, &rq, err, sizeof err));
	ag_run_until(ag_fetched, &f, 3000, url);
	ck_assert_int_eq(f.status, 200);
	struct json_object *o = json_tokener_parse(f.body.data);
	buf_free(&f.body);
	ck_assert_ptr_nonnull(o);
	return o;
}

static const char *ag_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

START_TEST(test_loop_ready_and_heartbeat)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32], s1[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	int p0 = ag_free_port(), p1 = ag_free_port();
	snprintf(s0, sizeof s0, "0@%d", p0);
	snprintf(s1, sizeof s1, "1@%d", p1);
	char *slices[] = {s0, s1};
	struct agent_options o;
	ag_opts(&o, slices, 2, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	/* Both start at once: two engine processes before either is ready. */
	ck_assert(ag.slices[0].pid > 0 && ag.slices[1].pid > 0);
	ag_run_until(ag_registered_ready, &ag, 8000, "both slices ready and registered");
	ck_assert_str_eq(ag.slices[0].id, "77.n1.0");
	char want_url[64];
	snprintf(want_url, sizeof want_url, "http://127.0.0.1:%d", p1);
	ck_assert_str_eq(ag.slices[1].url, want_url);

	/* Registered first as starting, then as ready, with everything API.md asks. */
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"state\": \"starting\""));
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"state\": \"ready\""));
	const char *line = strstr(ag_reg.log.data, "/api/v1/workers {\"id\": \"77.n1.1\"");
	ck_assert_ptr_nonnull(line);
	char *one = strndup(strchr(line, '{'), strcspn(strchr(line, '{'), "\n"));
	struct json_object *o1 = json_tokener_parse(one);
	free(one);
	ck_assert_str_eq(ag_jstr(o1, "model"), "m");
	ck_assert_str_eq(ag_jstr(o1, "job_id"), "77");
	ck_assert_str_eq(ag_jstr(o1, "node"), "n1");
	ck_assert_str_eq(ag_jstr(o1, "gpus"), "1");
	ck_assert_int_eq(atoi(ag_jstr(o1, "port")), p1);
	ck_assert_int_eq(atoi(ag_jstr(o1, "slice")), 1);
	ck_assert_int_eq(atoi(ag_jstr(o1, "tp")), 1);
	json_object_put(o1);

	/* The engine got its slice and [engine].env, in its own process group. */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/info", p1);
	struct json_object *info = ag_get_json(ag.http, url);
	ck_assert_str_eq(ag_jstr(info, "cvd"), "1");
	ck_assert_str_eq(ag_jstr(info, "extra"), "a b;$(c)");
	ck_assert_int_eq(atoi(ag_jstr(info, "pgid")), atoi(ag_jstr(info, "pid")));
	ck_assert_int_eq(atoi(ag_jstr(info, "pid")), ag.slices[1].pid);
	json_object_put(info);

	/* Heartbeats every 200 ms (the registry said so) with the scraped load. */
	int hb = ag_reg.heartbeats;
	ag_wait_count(&ag_reg.heartbeats, hb + 3, 3000, "heartbeats");
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"load\": {\"running\": 1, \"waiting\": 0, \"kv_usage\": 0.5000"));
	ck_assert_int_eq(ag.heartbeat_ms, 200);

	/* The status file says so too. */
	FILE *fp = fopen(ag_status, "r");
	ck_assert_ptr_nonnull(fp);
	char sbuf[4096];
	size_t n = fread(sbuf, 1, sizeof sbuf - 1, fp);
	sbuf[n] = '\0';
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(sbuf, "\"state\": \"ready\""));
	ck_assert_ptr_nonnull(strstr(sbuf, "\"phase\": \"running\""));

	/* Unknown worker in a heartbeat reply: registered again. */
	snprintf(ag_reg.unknown, sizeof ag_reg.unknown, "\"77.n1.0\"");
	int regs = ag_reg.registers;
	ag_wait_count(&ag_reg.registers, regs + 1, 3000, "registration again");
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_restart_after_kill9)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "3@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	ag.pol.backoff_min_ms = 100;
	agent_start(&ag);
	ag_run_until(ag_registered_ready, &ag, 8000, "ready");
	pid_t first = ag.slices[0].pid;
	int regs = ag_reg.registers;
	ck_assert_int_eq(kill(first, SIGKILL), 0);
	ag_wait_count(&ag_reg.deregisters, 1, 3000, "the deregistration");
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "/api/v1/deregister {\"job_id\": \"77\", \"node\": \"n1\", \"ids\": [\"77.n1.0\"], \"reason\": \"engine_exit\"}"));
	ag_run_until(ag_registered_ready, &ag, 8000, "ready again");
	ck_assert_int_gt(ag_reg.registers, regs + 1); /* starting, then ready */
	ck_assert_int_ne(ag.slices[0].pid, first);
	ck_assert_int_eq(ag.slices[0].sm.restarts, 1);
	/* Two starts in the slice's log, each with its header. */
	char buf[8192];
	FILE *fp = fopen(ag.slices[0].log_path, "r");
	ck_assert_ptr_nonnull(fp);
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "start 1:"));
	ck_assert_ptr_nonnull(strstr(buf, "start 2:"));
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_sigterm_drain)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32], s1[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	snprintf(s1, sizeof s1, "1@%d", ag_free_port());
	char *slices[] = {s0, s1};
	struct agent_options o;
	ag_opts(&o, slices, 2, reg);
	o.drain_ms = 600;
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_registered_ready, &ag, 8000, "ready");
	int hb = ag_reg.heartbeats;
	ag_wait_count(&ag_reg.heartbeats, hb + 1, 3000, "a heartbeat");
	pid_t pids[2] = {ag.slices[0].pid, ag.slices[1].pid};
	size_t before = ag_reg.log.len;
	int64_t t0 = agent_now_ms();
	/* A real SIGTERM to this process, as Slurm sends it. */
	kill(getpid(), SIGTERM);
	ag_wait_count(&ag_reg.deregisters, 1, 2000, "the deregistration");
	int64_t dereg_ms = agent_now_ms() - t0;
	ck_assert_msg(dereg_ms < 1000, "deregistered after %lld ms", (long long)dereg_ms);
	/* One request for every worker, before anything else happened. */
	ck_assert_str_eq(ag_reg.log.data + before,
			 "/api/v1/deregister {\"job_id\": \"77\", \"node\": \"n1\", \"reason\": \"sigterm\"}\n");
	/* The fake engines report 1 request running: the drain time runs out,
	 * then they get SIGTERM and exit. */
	ag_run_until(ag_done, &ag, 8000, "the agent to finish");
	int64_t total = agent_now_ms() - t0;
	ck_assert_msg(total >= 550, "engines stopped after %lld ms, before the drain time", (long long)total);
	ck_assert_int_eq(ag.exit_code, 0);
	ck_assert_int_eq(ag_reg.deregisters, 1);
	ck_assert(kill(pids[0], 0) < 0 && kill(pids[1], 0) < 0);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_STOPPED);
	FILE *fp = fopen(ag_status, "r");
	char sbuf[4096];
	size_t n = fread(sbuf, 1, sizeof sbuf - 1, fp);
	sbuf[n] = '\0';
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(sbuf, "\"phase\": \"exited\", \"job_id\": \"77\", \"node\": \"n1\", \"exit_code\": 0"));
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_startup_timeout)
{
	ag_setup("hang", "1s");
	ag_reg_start(0);
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_done, &ag, 8000, "the agent to give up");
	ck_assert_int_eq(ag.exit_code, 1);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_FAILED);
	ck_assert_int_eq(ag.slices[0].pid, 0);
	ck_assert_msg(strstr(ag.slices[0].error, "not ready within engine.startup_timeout") &&
		      strstr(ag.slices[0].error, "fake engine: mode hang"),
		      "error: %s", ag.slices[0].error);
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"reason\": \"startup_failed\""));
	agent_free(&ag);
	ag_teardown();
}
END_TEST

/* Another job's server on the port: /health answers, /v1/models does not
 * list our model. Never ready. */
static void ag_foreign_handler(struct httpd_req *req, void *arg)
{
	(void)arg;
	if (!strcmp(httpd_req_path(req), "/v1/models"))
		httpd_reply(req, 200, "application/json", "{\"data\":[{\"id\":\"other\"}]}", 25);
	else
		httpd_reply(req, 200, NULL, "", 0);
}

START_TEST(test_loop_foreign_server)
{
	ag_setup("nobind", "1s");
	char err[512], s0[32];
	struct httpd *foreign = httpd_new(ag_base, NULL, ag_foreign_handler, NULL);
	ck_assert_int_eq(httpd_listen(foreign, "127.0.0.1", 0, err, sizeof err), 0);
	snprintf(s0, sizeof s0, "0@%d", httpd_port(foreign));
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, NULL);
	struct agent ag;
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_done, &ag, 8000, "the agent to give up");
	ck_assert_int_eq(ag.slices[0].sm.state, AS_FAILED);
	ck_assert_msg(strstr(ag.slices[0].error, "not ready within"), "%s", ag.slices[0].error);
	agent_free(&ag);
	httpd_free(foreign);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_registry_down)
{
	ag_setup("ok", "20s");
	int rport = ag_free_port();
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", rport);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	o.heartbeat_ms = 200;
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	/* Ready and serving without a registry. */
	struct ag_wait w = {&ag, AS_READY, 1};
	ag_run_until(ag_slices_in, &w, 8000, "ready without a registry");
	ck_assert(!ag.slices[0].registered);
	ck_assert_int_gt(ag.slices[0].reg_backoff_ms, 0);
	/* The registry comes up: the retry registers it. */
	ag_reg_start(rport);
	ag_run_until(ag_registered_ready, &ag, 8000, "registered once the registry is up");
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_init_errors)
{
	ag_setup("ok", "20s");
	struct agent_options o;
	struct agent ag;
	char err[512];
	char *bad1[] = {"0,1@28000"}; /* tp = 1: two GPUs are two slices */
	ag_opts(&o, bad1, 1, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "--slice 0,1@28000"), "%s", err);
	agent_free(&ag);
	char *bad2[] = {"0@99999"};
	ag_opts(&o, bad2, 1, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	agent_free(&ag);
	char *bad3[] = {"0@28000", "1@28000"};
	ag_opts(&o, bad3, 2, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "given twice"), "%s", err);
	agent_free(&ag);
	ag_opts(&o, bad1, 0, NULL);
	o.config_env = "ES_CHECK_NO_SUCH_VAR";
	o.config_file = NULL;
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "$ES_CHECK_NO_SUCH_VAR is not set"), "%s", err);
	agent_free(&ag);
	ag_teardown();
}
END_TEST

/* ---------------------------------------------------------------- wait */

static void ag_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

START_TEST(test_wait_modes)
{
	ag_setup("ok", "20s");
	/* --wait on a child that exits 5: its status. */
	pid_t pid = fork();
	if (pid == 0) {
		usleep(300000);
		_exit(5);
	}
	char st[512];
	snprintf(st, sizeof st, "{\"pid\": %d, \"phase\": \"running\", \"slices\": []}", (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, 0, false, 0), 5);

	/* --wait on a process that is not a child: the status file's exit code. */
	ag_write(ag_status, "{\"pid\": 999999999, \"phase\": \"exited\", \"exit_code\": 4, \"slices\": []}");
	ck_assert_int_eq(agent_wait_main(ag_status, 0, false, 0), 4);

	/* --wait-ready. */
	pid = fork();
	if (pid == 0) {
		sleep(30);
		_exit(0);
	}
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"ready\"}, {\"index\": 1, \"url\": \"http://h:2\", \"state\": \"starting\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 2); /* timeout */
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"ready\"}, {\"index\": 1, \"url\": \"http://h:2\", \"state\": \"ready\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 0);
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"failed\", \"error\": \"boom\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 1); /* failed slice */
	ck_assert_int_eq(agent_wait_main(NULL, -1, false, 0), 1);      /* nothing to wait for */
	ag_teardown();
}
END_TEST

Suite *suite_agent(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_subst);
	tcase_add_test(tc, test_argv_kinds);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_state_machine);
	suite_add_tcase(s, tc);
	TCase *loop = tcase_create("loop");
	tcase_set_timeout(loop, 30);
	tcase_add_test(loop, test_loop_ready_and_heartbeat);
	tcase_add_test(loop, test_loop_restart_after_kill9);
	tcase_add_test(loop, test_loop_sigterm_drain);
	tcase_add_test(loop, test_loop_startup_timeout);
	tcase_add_test(loop, test_loop_foreign_server);
	tcase_add_test(loop, test_loop_registry_down);
	tcase_add_test(loop, test_init_errors);
	tcase_add_test(loop, test_wait_modes);
	suite_add_tcase(s, loop);
	return s;
}
