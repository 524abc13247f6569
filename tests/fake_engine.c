/* fake_engine.c — the test runner doubles as a tiny engine.
 *
 * When the runner binary starts with ES_FAKE_ENGINE set in its environment
 * it does not run tests: a constructor serves like an engine on --port and
 * exits. check_agent.c has elastic-agent start it with engine.kind =
 * "command", so the agent's real spawning, probing and reaping are tested
 * without elastic-sim or vLLM.
 *
 *   ES_FAKE_ENGINE=ok        /health 200, /v1/models lists --served-model-name
 *   ES_FAKE_ENGINE=hang      /health 503 forever (never ready)
 *   ES_FAKE_ENGINE=nobind    never listens (a foreign server may hold the port)
 *   ES_FAKE_ENGINE=crash:MS  exits with status 3 after MS milliseconds
 *
 * GET /info answers {"cvd": CUDA_VISIBLE_DEVICES, "pid": .., "pgid": ..,
 * "extra": $FAKE_EXTRA}; /metrics a vLLM-like page with 1 running request.
 * SIGTERM: exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "httpd.h"

static const char *fe_name = "fake";

static void fe_handler(struct httpd_req *req, void *arg)
{
	const char *mode = arg;
	const char *path = httpd_req_path(req);
	struct buf b = BUF_INIT;
	if (!strcmp(path, "/health")) {
		if (!strcmp(mode, "hang"))
			httpd_reply(req, 503, "text/plain", "loading\n", 8);
		else
			httpd_reply(req, 200, NULL, "", 0);
	} else if (!strcmp(path, "/v1/models")) {
		buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
		buf_json_str(&b, fe_name, strlen(fe_name));
		buf_puts(&b, ",\"object\":\"model\"}]}");
		httpd_reply(req, 200, "application/json", b.data, b.len);
	} else if (!strcmp(path, "/metrics")) {
		buf_puts(&b, "# TYPE vllm:num_requests_running gauge\n"
			     "vllm:num_requests_running{engine=\"0\",model_name=\"x\"} 1.0\n"
			     "vllm:num_requests_waiting{engine=\"0\",model_name=\"x\"} 0.0\n"
			     "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"x\"} 0.5\n");
		httpd_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
	} else if (!strcmp(path, "/info")) {
		const char *cvd = getenv("CUDA_VISIBLE_DEVICES"), *extra = getenv("FAKE_EXTRA");
		buf_puts(&b, "{\"cvd\":");
		buf_json_str(&b, cvd ? cvd : "", cvd ? strlen(cvd) : 0);
		buf_printf(&b, ",\"pid\":%d,\"pgid\":%d,\"extra\":", (int)getpid(), (int)getpgid(0));
		buf_json_str(&b, extra ? extra : "", extra ? strlen(extra) : 0);
		buf_puts(&b, "}");
		httpd_reply(req, 200, "application/json", b.data, b.len);
	} else {
		httpd_reply(req, 404, NULL, "", 0);
	}
	buf_free(&b);
}

static void fe_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	_exit(0);
}

static void fe_crash(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	_exit(3);
}

__attribute__((constructor)) static void fe_main(int argc, char **argv, char **envp)
{
	(void)envp;
	const char *mode = getenv("ES_FAKE_ENGINE");
	if (!mode)
		return;
	int port = 0;
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--served-model-name"))
			fe_name = argv[i + 1];
	}
	fprintf(stderr, "fake engine: mode %s, port %d, model %s\n", mode, port, fe_name);
	struct event_base *base = event_base_new();
	struct event *term = evsignal_new(base, SIGTERM, fe_term, NULL);
	event_add(term, NULL);
	if (!strncmp(mode, "crash:", 6)) {
		int ms = atoi(mode + 6);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		event_base_once(base, -1, EV_TIMEOUT, fe_crash, NULL, &tv);
	}
	if (strcmp(mode, "nobind") != 0) {
		struct httpd *h = httpd_new(base, NULL, fe_handler, (void *)mode);
		char err[256];
		if (httpd_listen(h, "127.0.0.1", port, err, sizeof err) < 0) {
			fprintf(stderr, "fake engine: %s\n", err);
			_exit(2);
		}
	} else {
		fprintf(stderr, "fake engine: hanging without a port\n");
	}
	fflush(stderr);
	event_base_dispatch(base);
	_exit(0);
}

/* A fake elastic-agent for check_spank.c: with ES_FAKE_AGENT_OUT set, the
 * runner writes its argv and the variables the plugin hands an agent to
 * that file, one per line, and exits 0. */
__attribute__((constructor)) static void fa_main(int argc, char **argv, char **envp)
{
	const char *out = getenv("ES_FAKE_AGENT_OUT");
	if (!out)
		return;
	FILE *fp = fopen(out, "w");
	if (!fp)
		_exit(2);
	for (int i = 0; i < argc; i++)
		fprintf(fp, "argv %s\n", argv[i]);
	for (char **e = envp; *e; e++)
		if (!strncmp(*e, "ELASTIC_", 8) || !strncmp(*e, "SLURM_SPANK_", 12))
			fprintf(fp, "env %.200s\n", *e);
	fprintf(fp, "uid %d euid %d pgid %d pid %d\n", (int)getuid(), (int)geteuid(),
		(int)getpgid(0), (int)getpid());
	fclose(fp);
	_exit(0);
}
