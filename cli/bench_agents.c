/* bench_agents.c — elasticctl bench-agents: many simulated elastic-agents
 * against one registry, for the control-plane scale benchmark.
 *
 * Each simulated agent is one job on one node with PER_AGENT workers (GPU
 * slices), talks to the registry as elastic-agent does (registry/API.md):
 * it registers each worker (POST /api/v1/workers, state ready), then sends
 * one heartbeat per interval for all its workers (POST /api/v1/heartbeat,
 * with a load per worker), registers again the workers a heartbeat reply
 * calls unknown, and deregisters them at the end (reason "shutdown").
 * Every request is signed as --auth says. Each agent has its own HTTP
 * client, so its own keep-alive connection, as separate agent processes
 * would; their heartbeats are spread evenly over the interval.
 *
 * It reports registrations, heartbeats sent, their failures and latency.
 * The registry's own CPU use is measured from outside (bench/scale.sh).
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "auth.h"
#include "bench_data.h"
#include "bench_stats.h"
#include "buf.h"
#include "cli.h"
#include "hcall.h"
#include "httpc.h"

static const char agents_usage[] =
	"bench-agents [--registry URL] [--auth MODE] [--workers N] [--per-agent N]\n"
	"                  [--duration SECS] [--model NAME] [--keep] [--json FILE]";

/* One simulated agent: a job on a node with PER_AGENT workers. */
struct fake_agent {
	struct bench_agents *b;   /* the run */
	unsigned index;           /* 0.. */
	char job_id[24];          /* SLURM job id it pretends to be */
	char node[24];            /* node name */
	struct httpc *http;       /* its own client: its own connection */
	struct event *timer;      /* the next heartbeat */
	double next_ms;           /* when it is due (ms since the heartbeats began) */
	bool busy;                /* a heartbeat in flight */
};

/* The run: every agent, on one event loop. */
struct bench_agents {
	struct event_base *base;   /* the loop */
	struct auth_client auth;   /* how requests are signed (--auth) */
	struct hcall_url url;      /* the registry */
	char urlbase[600];         /* http://HOST:PORT */
	const char *model;         /* the workers' model */
	unsigned nagents;          /* agents */
	unsigned per_agent;        /* workers per agent */
	unsigned interval_ms;      /* heartbeat interval (the registry's) */
	unsigned told_ms;          /* heartbeat_ms of the registrations' replies */
	struct timespec hb_start;  /* when the heartbeats began */
	struct fake_agent *agents; /* NAGENTS of them */
	struct bench_rng rng;      /* the loads reported */
	bool stopping;             /* the duration is over */
	size_t inflight;           /* requests of any kind in flight */
	size_t reg_ok, reg_failed; /* registrations */
	size_t hb_ok, hb_failed;   /* heartbeats answered 200, or not */
	size_t hb_unknown;         /* workers the replies called unknown */
	size_t hb_skipped;         /* heartbeats not sent: the last one was out */
	size_t dereg_ok, dereg_failed; /* deregistrations */
	struct bench_samples hb_ms; /* heartbeat latency */
	char first_error[400];     /* the first failure, for the report */
};

/* One request in flight. */
struct call {
	struct fake_agent *a;      /* who sent it */
	int kind;                  /* 0 register, 1 heartbeat, 2 deregister */
	struct timespec t0;        /* when */
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void note_error(struct bench_agents *b, const char *what, const char *msg)
{
	if (!b->first_error[0])
		snprintf(b->first_error, sizeof b->first_error, "%s: %s", what, msg);
}

static void call_done(struct httpc_req *h, int err, const struct httpc_resp *resp, void *arg);

/* POSTs BODY to PATH, signed. Returns 0, or -1 (counted as failed). */
static int post(struct fake_agent *a, int kind, const char *path, const struct buf *body)
{
	struct bench_agents *b = a->b;
	char target[700], url[1400], err[256];
	snprintf(target, sizeof target, "%s%s", b->url.prefix, path);
	snprintf(url, sizeof url, "%s%s", b->urlbase, target);
	struct buf sig = BUF_INIT;
	if (auth_sign(&b->auth, "POST", target, body->data, body->len, &sig, err, sizeof err) < 0) {
		note_error(b, "sign", err);
		buf_free(&sig);
		return -1;
	}
	struct httpc_header h[2] = {{"Content-Type", "application/json"},
				    {"Authorization", sig.data ? sig.data : ""}};
	struct call *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->a = a;
	c->kind = kind;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	struct httpc_request rq = {
		.method = "POST", .url = url, .headers = h, .nheaders = sig.len ? 2 : 1,
		.body = body->data, .body_len = body->len, .total_timeout_ms = 5000,
		.retry = true, .on_done = call_done, .arg = c,
	};
	struct httpc_req *r = httpc_start(a->http, &rq, err, sizeof err);
	buf_free(&sig);
	if (!r) {
		note_error(b, "request", err);
		free(c);
		return -1;
	}
	b->inflight++;
	return 0;
}

static void worker_id(const struct fake_agent *a, unsigned slice, char *out, size_t len)
{
	snprintf(out, len, "%s.%s.%u", a->job_id, a->node, slice);
}

static void register_worker(struct fake_agent *a, unsigned slice)
{
	struct bench_agents *b = a->b;
	char id[80];
	worker_id(a, slice, id, sizeof id);
	struct buf body = BUF_INIT;
	/* Addresses in 10.0.0.0/8 that nobody contacts: the registry keeps
	 * track of workers from heartbeats; only the proxy would connect. */
	unsigned host = a->index;
	buf_puts(&body, "{\"id\": ");
	buf_json_str(&body, id, strlen(id));
	buf_puts(&body, ", \"model\": ");
	buf_json_str(&body, b->model, strlen(b->model));
	buf_printf(&body, ", \"url\": \"http://10.%u.%u.%u:%u\", \"host\": \"10.%u.%u.%u\", \"port\": %u",
		   (host >> 16) & 255, (host >> 8) & 255, host & 255, 8000 + slice,
		   (host >> 16) & 255, (host >> 8) & 255, host & 255, 8000 + slice);
	buf_printf(&body, ", \"job_id\": \"%s\", \"node\": \"%s\", \"slice\": %u, \"gpus\": \"%u\","
			  " \"tp\": 1, \"job_end\": 0, \"state\": \"ready\"}",
		   a->job_id, a->node, slice, slice);
	if (post(a, 0, "/api/v1/workers", &body) < 0)
		b->reg_failed++;
	buf_free(&body);
}

static void heartbeat(struct fake_agent *a)
{
	struct bench_agents *b = a->b;
	if (a->busy) { /* the last one has not come back: as the agent, skip */
		b->hb_skipped++;
		return;
	}
	struct buf body = BUF_INIT;
	buf_printf(&body, "{\"job_id\": \"%s\", \"node\": \"%s\", \"workers\": [", a->job_id,
		   a->node);
	for (unsigned s = 0; s < b->per_agent; s++) {
		char id[80];
		worker_id(a, s, id, sizeof id);
		long running = bench_rng_range(&b->rng, 0, 64), waiting = bench_rng_range(&b->rng, 0, 8);
		double kv = bench_rng_uniform(&b->rng);
		buf_printf(&body, "%s{\"id\": \"%s\", \"state\": \"ready\", \"load\": {\"running\": %ld,"
				  " \"waiting\": %ld, \"kv_usage\": %.4f, \"prefix_queries\": %ld,"
				  " \"prefix_hits\": %ld}}",
			   s ? ", " : "", id, running, waiting, kv, 1000000 + running,
			   500000 + waiting);
	}
	buf_puts(&body, "]}");
	if (post(a, 1, "/api/v1/heartbeat", &body) < 0)
		b->hb_failed++;
	else
		a->busy = true;
	buf_free(&body);
}

/* Workers a heartbeat reply calls unknown register again. */
static void reregister_unknown(struct fake_agent *a, const char *body)
{
	struct json_object *o = json_tokener_parse(body), *u;
	if (o && json_object_object_get_ex(o, "unknown", &u) && json_object_is_type(u, json_type_array)) {
		size_t n = json_object_array_length(u);
		a->b->hb_unknown += n;
		for (size_t i = 0; i < n; i++) {
			const char *id = json_object_get_string(json_object_array_get_idx(u, i));
			const char *dot = id ? strrchr(id, '.') : NULL;
			if (dot && !a->b->stopping)
				register_worker(a, (unsigned)strtoul(dot + 1, NULL, 10));
		}
	}
	json_object_put(o);
}

static void call_done(struct httpc_req *h, int err, const struct httpc_resp *resp, void *arg)
{
	struct call *c = arg;
	struct fake_agent *a = c->a;
	struct bench_agents *b = a->b;
	b->inflight--;
	int status = err ? 0 : httpc_resp_status(resp);
	bool ok = !err && status == 200;
	if (!ok) {
		char msg[200];
		if (err)
			snprintf(msg, sizeof msg, "%s", httpc_req_errmsg(h));
		else {
			size_t len;
			const char *body = httpc_resp_body(resp, &len);
			snprintf(msg, sizeof msg, "HTTP %d: %.120s", status, body);
		}
		note_error(b, c->kind == 0 ? "register" : c->kind == 1 ? "heartbeat" : "deregister",
			   msg);
	}
	switch (c->kind) {
	case 0:
		if (ok) {
			size_t len;
			struct json_object *o = json_tokener_parse(httpc_resp_body(resp, &len)), *v;
			if (o && json_object_object_get_ex(o, "heartbeat_ms", &v) &&
			    json_object_get_int(v) > 0)
				b->told_ms = (unsigned)json_object_get_int(v);
			json_object_put(o);
			b->reg_ok++;
		} else
			b->reg_failed++;
		break;
	case 1:
		a->busy = false;
		if (ok) {
			b->hb_ok++;
			bench_samples_add(&b->hb_ms, since_ms(&c->t0));
			size_t len;
			reregister_unknown(a, httpc_resp_body(resp, &len));
		} else {
			b->hb_failed++;
		}
		break;
	default:
		if (ok)
			b->dereg_ok++;
		else
			b->dereg_failed++;
	}
	free(c);
	if (b->stopping && b->inflight == 0)
		event_base_loopexit(b->base, NULL);
}

static void arm(struct fake_agent *a)
{
	double d = a->next_ms - since_ms(&a->b->hb_start);
	if (d < 0)
		d = 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)fmod(d * 1000, 1e6)};
	evtimer_add(a->timer, &tv);
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fake_agent *a = arg;
	struct bench_agents *b = a->b;
	if (b->stopping)
		return;
	heartbeat(a);
	/* On a fixed schedule: a late timer does not shift the next one. */
	a->next_ms += b->interval_ms;
	arm(a);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bench_agents *b = arg;
	b->stopping = true;
	for (unsigned i = 0; i < b->nagents; i++)
		event_del(b->agents[i].timer);
	if (b->inflight == 0)
		event_base_loopexit(b->base, NULL);
}

/* Registers every worker, at most 64 requests in flight. */
static void register_all(struct bench_agents *b)
{
	for (unsigned i = 0; i < b->nagents; i++) {
		for (unsigned s = 0; s < b->per_agent; s++) {
			register_worker(&b->agents[i], s);
			while (b->inflight >= 64)
				event_base_loop(b->base, EVLOOP_ONCE);
		}
	}
	while (b->inflight)
		event_base_loop(b->base, EVLOOP_ONCE);
}

static void deregister_all(struct bench_agents *b)
{
	for (unsigned i = 0; i < b->nagents; i++) {
		struct fake_agent *a = &b->agents[i];
		struct buf body = BUF_INIT;
		buf_printf(&body, "{\"job_id\": \"%s\", \"node\": \"%s\", \"reason\": \"shutdown\"}",
			   a->job_id, a->node);
		if (post(a, 2, "/api/v1/deregister", &body) < 0)
			b->dereg_failed++;
		buf_free(&body);
		while (b->inflight >= 64)
			event_base_loop(b->base, EVLOOP_ONCE);
	}
	while (b->inflight)
		event_base_loop(b->base, EVLOOP_ONCE);
}

static void report(struct bench_agents *b, double reg_s, double run_s, const char *json_path,
		   int *rc)
{
	struct bench_summary hb;
	bench_summarize(&b->hb_ms, &hb);
	unsigned workers = b->nagents * b->per_agent;
	printf("agents %u, workers %u (%u each), heartbeat every %u ms\n", b->nagents, workers,
	       b->per_agent, b->interval_ms);
	printf("registrations: %zu ok, %zu failed, in %.2f s\n", b->reg_ok, b->reg_failed, reg_s);
	printf("heartbeats: %zu ok (%.1f/s, %.0f workers/s), %zu failed, %zu skipped, %zu unknown\n",
	       b->hb_ok, run_s > 0 ? (double)b->hb_ok / run_s : 0,
	       run_s > 0 ? (double)b->hb_ok * b->per_agent / run_s : 0, b->hb_failed, b->hb_skipped,
	       b->hb_unknown);
	printf("heartbeat latency (ms): median %.2f, p90 %.2f, p99 %.2f, max %.2f\n", hb.median,
	       hb.p90, hb.p99, hb.max);
	printf("deregistrations: %zu ok, %zu failed\n", b->dereg_ok, b->dereg_failed);
	if (b->first_error[0])
		printf("first error: %s\n", b->first_error);
	if (!json_path)
		return;
	FILE *fp = fopen(json_path, "w");
	if (!fp) {
		cli_error("cannot write %s: %s", json_path, strerror(errno));
		*rc = CLI_FAIL;
		return;
	}
	fprintf(fp,
		"{\"agents\": %u, \"workers\": %u, \"per_agent\": %u, \"interval_ms\": %u,\n"
		" \"registrations_ok\": %zu, \"registrations_failed\": %zu, \"registration_s\": %.3f,\n"
		" \"duration_s\": %.3f, \"heartbeats_ok\": %zu, \"heartbeats_failed\": %zu,"
		" \"heartbeats_skipped\": %zu, \"unknown\": %zu,\n"
		" \"heartbeat_rate\": %.2f, \"median_heartbeat_ms\": %.3f, \"p90_heartbeat_ms\": %.3f,"
		" \"p99_heartbeat_ms\": %.3f, \"max_heartbeat_ms\": %.3f,\n"
		" \"deregistrations_ok\": %zu, \"deregistrations_failed\": %zu}\n",
		b->nagents, workers, b->per_agent, b->interval_ms, b->reg_ok, b->reg_failed, reg_s,
		run_s, b->hb_ok, b->hb_failed, b->hb_skipped, b->hb_unknown,
		run_s > 0 ? (double)b->hb_ok / run_s : 0, hb.median, hb.p90, hb.p99, hb.max,
		b->dereg_ok, b->dereg_failed);
	if (fclose(fp) != 0) {
		cli_error("cannot write %s: %s", json_path, strerror(errno));
		*rc = CLI_FAIL;
	}
}

int cli_cmd_bench_agents(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"workers", required_argument, NULL, 'w'},
		{"per-agent", required_argument, NULL, 'p'},
		{"duration", required_argument, NULL, 'd'},
		{"interval-ms", required_argument, NULL, 'i'},
		{"model", required_argument, NULL, 'm'},
		{"keep", no_argument, NULL, 'k'},
		{"json", required_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	long workers = 2000, per_agent = 8, duration = 30, interval = 0;
	const char *model = "bench-agents", *json_path = NULL;
	bool keep = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
		int c = cli_common_opt(opt, optarg);
		if (c < 0)
			return cli_usage(agents_usage);
		if (c)
			continue;
		char *end;
		long *dst = opt == 'w' ? &workers : opt == 'p' ? &per_agent : opt == 'd' ? &duration
						     : opt == 'i' ? &interval : NULL;
		if (dst) {
			errno = 0;
			*dst = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || *dst < (opt == 'i' ? 0 : 1) ||
			    *dst > 1000000) {
				cli_error("--%s needs a positive integer, not '%s'",
					  opt == 'w' ? "workers" : opt == 'p' ? "per-agent"
								 : opt == 'd' ? "duration" : "interval-ms",
					  optarg);
				return cli_usage(agents_usage);
			}
			continue;
		}
		switch (opt) {
		case 'm': model = optarg; break;
		case 'k': keep = true; break;
		case 'j': json_path = optarg; break;
		case 'h':
			printf("usage: elasticctl %s\n\n"
			       "Plays many elastic-agents against one registry: WORKERS workers in\n"
			       "agents of PER-AGENT (one job on one node each) register, heartbeat every\n"
			       "interval for DURATION seconds with a load per worker, then deregister\n"
			       "(unless --keep). For the registry's control-plane scale benchmark;\n"
			       "its workers point at addresses nobody serves: use a model name\n"
			       "that no client asks for.\n\n"
			       "  --workers N       workers in all (default 2000)\n"
			       "  --per-agent N     workers per agent (default 8, a node of 8 GPUs)\n"
			       "  --duration SECS   how long to heartbeat (default 30)\n"
			       "  --interval-ms MS  heartbeat interval (default: the registry's)\n"
			       "  --model NAME      the workers' model (default bench-agents)\n"
			       "  --keep            leave the workers registered at the end\n"
			       "  --json FILE       also write the results as JSON\n",
			       agents_usage);
			return CLI_OK;
		default: return cli_usage(agents_usage);
		}
	}
	if (optind < argc)
		return cli_usage(agents_usage);

	struct bench_agents b = {.model = model, .per_agent = (unsigned)per_agent};
	b.nagents = (unsigned)((workers + per_agent - 1) / per_agent);
	char err[300];
	int rc = CLI_FAIL;
	const char *spec = cli_opts.auth ? cli_opts.auth : getenv("ELASTIC_AUTH");
	if (auth_client_init(&b.auth, spec && *spec ? spec : "munge", err, sizeof err) < 0) {
		cli_error("%s", err);
		return CLI_USAGE;
	}
	const char *reg = cli_registry_url();
	if (hcall_parse_url(reg, &b.url, err, sizeof err) < 0) {
		cli_error("registry %s: %s", reg, err);
		return CLI_USAGE;
	}
	snprintf(b.urlbase, sizeof b.urlbase, strchr(b.url.host, ':') ? "http://[%s]:%d" : "http://%s:%d",
		 b.url.host, b.url.port);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	b.base = event_base_new();
	b.agents = calloc(b.nagents, sizeof *b.agents);
	if (!b.base || !b.agents)
		abort();
	bench_rng_seed(&b.rng, 1);
	struct httpc_config hc;
	httpc_config_init(&hc);
	hc.max_idle_per_host = 1;
	hc.idle_timeout_ms = 60000;
	for (unsigned i = 0; i < b.nagents; i++) {
		struct fake_agent *a = &b.agents[i];
		a->b = &b;
		a->index = i;
		snprintf(a->job_id, sizeof a->job_id, "%u", 900000 + i);
		snprintf(a->node, sizeof a->node, "fake%04u", i);
		a->http = httpc_new(b.base, &hc);
		a->timer = evtimer_new(b.base, heartbeat_cb, a);
		if (!a->http || !a->timer)
			abort();
	}

	/* Register, learning the interval from the registry's reply. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	register_all(&b);
	double reg_s = since_ms(&t0) / 1e3;
	if (b.reg_ok == 0) {
		cli_error("no worker could register with %s: %s", reg, b.first_error);
		goto out;
	}
	b.interval_ms = interval ? (unsigned)interval : b.told_ms ? b.told_ms : 1000;
	fprintf(stderr, "bench-agents: %zu workers registered in %.2f s; heartbeating for %ld s\n",
		b.reg_ok, reg_s, duration);

	/* Heartbeats, spread evenly over the interval. */
	clock_gettime(CLOCK_MONOTONIC, &b.hb_start);
	for (unsigned i = 0; i < b.nagents; i++) {
		b.agents[i].next_ms = (double)i * b.interval_ms / b.nagents;
		arm(&b.agents[i]);
	}
	struct event *stop = evtimer_new(b.base, stop_cb, &b);
	struct timeval dur = {duration, 0};
	evtimer_add(stop, &dur);
	event_base_dispatch(b.base);
	double run_s = since_ms(&b.hb_start) / 1e3;
	event_free(stop);
	if (!keep)
		deregister_all(&b);
	rc = b.hb_ok ? CLI_OK : CLI_FAIL;
	report(&b, reg_s, run_s, json_path, &rc);
out:
	for (unsigned i = 0; i < b.nagents; i++) {
		if (b.agents[i].timer)
			event_free(b.agents[i].timer);
		if (b.agents[i].http)
			httpc_free(b.agents[i].http);
	}
	free(b.agents);
	bench_samples_free(&b.hb_ms);
	event_base_free(b.base);
	return rc;
}
