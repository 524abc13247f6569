/* check_registry.c — elastic-registry in a child process, driven over HTTP
 * with lib/hcall: the agent and plugin endpoints, validation (400 naming
 * the field, nothing changed), health (evictions, "unknown"), token auth,
 * and the acquirer's I/O against fake sbatch/squeue/scancel scripts
 * (submissions, a requeue counted once, a vanished job replaced, adoption
 * after kill -9, a corrupt state file kept aside). Every child must exit
 * cleanly on SIGTERM: under ASan that includes LeakSanitizer. */
#include <check.h>
#include <json-c/json.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "hcall.h"
#include "log.h"
#include "../registry/reg.h"
#include "../registry/reg_auth.h"
#include "../registry/reg_slurm.h"

static char dir[64], state_dir[128], url[128];
static const char *listen_on = "127.0.0.1:0"; /* start()'s listen address */
static bool no_host_check;                   /* start() with check_worker_host off */
static const char *munge_socket;             /* start() with this munged socket */
static pid_t child;
static char instance[13];
static long t0; /* start times squeue reports: stable, as SLURM's are */

static void sh(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static void write_file(const char *name, const char *text, int mode)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *fp = fopen(p, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(p, (mode_t)mode);
}

static void setup(void)
{
	char s[1024];
	strcpy(dir, "/tmp/check_registry_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(state_dir, sizeof state_dir, "%s/state", dir);
	reg_slurm_instance(state_dir, geteuid(), instance);
	t0 = (long)time(NULL);
	snprintf(s, sizeof s,
		 "#!/bin/sh\nexec 9>%s/sbatch.lock; flock 9\necho \"$@\" >> %s/sbatch.log\n"
		 "[ -f %s/sbatch.fail ] && { echo 'sbatch: error: invalid partition' >&2; exit 1; }\n"
		 "n=$(cat %s/next 2>/dev/null || echo 100); echo $((n+1)) > %s/next\n"
		 "for a; do case $a in --comment=*) c=${a#--comment=};; esac; done\n"
		 "echo \"$n|PENDING|Priority||$(date +%%s)|N/A|N/A|$c\" >> %s/squeue.out\n"
		 "echo $n\n",
		 dir, dir, dir, dir, dir, dir);
	write_file("sbatch", s, 0755);
	snprintf(s, sizeof s, "#!/bin/sh\ncat %s/squeue.out 2>/dev/null; exit 0\n", dir);
	write_file("squeue", s, 0755);
	snprintf(s, sizeof s, "#!/bin/sh\necho \"$@\" >> %s/scancel.log\n", dir);
	write_file("scancel", s, 0755);
	write_file("job.sh", "#!/bin/sh\nexit 0\n", 0755);
	write_file("squeue.out", "", 0644);
}

static void teardown(void)
{
	char cmd[128];
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	sh(cmd);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reg_stop(arg);
}

/* Starts the registry with AUTH ("none" or "token:PATH"). */
static void start(const char *auth)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(p[0]);
		/* The registry's log goes to DIR/registry.log, not the test output. */
		char lp[256];
		snprintf(lp, sizeof lp, "%s/registry.log", dir);
		log_set_file(lp);
		log_set_level(LOG_LVL_DEBUG);
		struct reg_config cfg;
		char err[512], path[256];
		int port = -1;
		reg_config_init(&cfg);
		reg_config_set_listen(&cfg, listen_on, err, sizeof err);
		cfg.check_worker_host = !no_host_check;
		free(cfg.auth);
		cfg.auth = strdup(auth);
		if (munge_socket)
			cfg.munge_socket = strdup(munge_socket);
		cfg.state_dir = strdup(state_dir);
		snprintf(path, sizeof path, "%s/job.sh", dir);
		cfg.job_script = strdup(path);
		char **cmds[] = {&cfg.sbatch, &cfg.squeue, &cfg.scancel};
		const char *names[] = {"sbatch", "squeue", "scancel"};
		for (int i = 0; i < 3; i++) {
			free(*cmds[i]);
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			*cmds[i] = strdup(path);
		}
		free(cfg.sacct);
		cfg.sacct = strdup("");
		cfg.heartbeat_ms = 100;
		cfg.heartbeat_timeout_ms = 400;
		cfg.poll_ms = 200;
		cfg.backoff_min_ms = 300;
		cfg.drain_timeout_ms = 1000;
		struct event_base *base = event_base_new();
		struct reg *r = NULL;
		if (reg_config_finish(&cfg, NULL, err, sizeof err) == 0)
			r = reg_new(base, &cfg, err, sizeof err);
		if (r)
			port = r->port;
		else
			fprintf(stderr, "reg_new: %s\n", err);
		if (write(p[1], &port, sizeof port) != sizeof port)
			_exit(4);
		close(p[1]);
		if (!r)
			_exit(3);
		struct event *sig = evsignal_new(base, SIGTERM, on_term, r);
		event_add(sig, NULL);
		event_base_dispatch(base);
		event_free(sig);
		reg_free(r);
		event_base_free(base);
		reg_config_free(&cfg);
		exit(0); /* LeakSanitizer checks here */
	}
	close(p[1]);
	int port = -1;
	ck_assert_int_eq(read(p[0], &port, sizeof port), (ssize_t)sizeof port);
	close(p[0]);
	ck_assert_int_gt(port, 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
}

/* Stops the registry gracefully and checks it exited 0 (no leaks). */
static void stop(void)
{
	int st;
	kill(child, SIGTERM);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	child = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "registry exited with status %d", st);
}

static void kill9(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	child = 0;
}

static struct auth_client *client;

/* A request; returns the status and sets *OUT to the parsed body. */
static int call(const char *method, const char *target, const char *body, struct json_object **out)
{
	struct hcall_resp r;
	char err[256];
	int rc = hcall(url, method, target, body, body ? strlen(body) : 0, client, 3000, &r, err, sizeof err);
	ck_assert_msg(rc == 0, "%s %s: %s", method, target, err);
	int status = r.status;
	if (out) {
		*out = json_tokener_parse(r.body.data);
		ck_assert_msg(*out || strcmp(target, "/metrics") == 0, "not JSON: %s", r.body.data);
	}
	hcall_resp_free(&r);
	return status;
}

static char *get_text(const char *target)
{
	struct hcall_resp r;
	char err[256];
	ck_assert_int_eq(hcall(url, "GET", target, NULL, 0, client, 3000, &r, err, sizeof err), 0);
	char *s = strdup(r.body.data);
	hcall_resp_free(&r);
	return s;
}

static const char *jpath(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x = NULL, *y = NULL;
	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (!b)
		return json_object_get_string(x);
	if (!json_object_object_get_ex(x, b, &y))
		return NULL;
	return json_object_get_string(y);
}

/* Expects STATUS and, for errors, PARAM (NULL: null). */
static void expect(const char *method, const char *target, const char *body, int status,
		   const char *param)
{
	struct json_object *o;
	int st = call(method, target, body, &o);
	ck_assert_msg(st == status, "%s %s %s: %d, want %d (%s)", method, target, body ? body : "", st,
		      status, json_object_to_json_string(o));
	if (status >= 400) {
		const char *p = jpath(o, "error", "param");
		if (param)
			ck_assert_msg(p && strcmp(p, param) == 0, "%s: param %s, want %s", body, p, param);
		else
			ck_assert_msg(!p, "%s: param %s, want null", body, p);
		ck_assert_int_eq(atoi(jpath(o, "error", "code")), status);
	}
	json_object_put(o);
}

static int count_workers(const char *query, const char *state)
{
	struct json_object *o, *ws;
	char t[128];
	snprintf(t, sizeof t, "/api/v1/workers%s", query);
	ck_assert_int_eq(call("GET", t, NULL, &o), 200);
	json_object_object_get_ex(o, "workers", &ws);
	int n = 0;
	for (size_t i = 0; i < json_object_array_length(ws); i++)
		if (!state || strcmp(jpath(json_object_array_get_idx(ws, i), "state", NULL), state) == 0)
			n++;
	json_object_put(o);
	return n;
}

#define REG(id, state) \
	"{\"id\":\"" id "\",\"model\":\"sim\",\"url\":\"http://127.0.0.1:9001\",\"job_id\":\"7\"," \
	"\"node\":\"n1\",\"slice\":0,\"gpus\":\"0,1\",\"tp\":2,\"job_end\":0,\"state\":\"" state "\"}"

START_TEST(test_agent_api)
{
	client = NULL;
	start("none");
	struct json_object *o;
	ck_assert_int_eq(call("POST", "/api/v1/workers", REG("7.n1.0", "starting"), &o), 200);
	ck_assert_str_eq(jpath(o, "state", NULL), "starting");
	ck_assert_str_eq(jpath(o, "heartbeat_ms", NULL), "100");
	ck_assert_str_eq(jpath(o, "timeout_ms", NULL), "400");
	json_object_put(o);

	/* Bad bodies: 400 naming the field; nothing registered. */
	expect("POST", "/api/v1/workers", "{", 400, NULL);
	expect("POST", "/api/v1/workers", "[1]", 400, NULL);
	expect("POST", "/api/v1/workers", "", 400, NULL);
	expect("POST", "/api/v1/workers", "{\"model\":\"sim\"}", 400, "id");
	expect("POST", "/api/v1/workers",
	       "{\"id\":\"x\",\"model\":\"sim\",\"url\":\"http://h:1\",\"job_id\":\"7\",\"node\":\"n1\",\"port\":\"80\"}",
	       400, "port");
	expect("POST", "/api/v1/workers",
	       "{\"id\":\"x\",\"model\":\"sim\",\"url\":\"http://h:1\",\"job_id\":\"7\",\"node\":\"n1\",\"state\":\"gone\"}",
	       400, "state");
	expect("POST", "/api/v1/workers",
	       "{\"id\":\"x\",\"model\":\"bad name\",\"url\":\"http://h:1\",\"job_id\":\"7\",\"node\":\"n1\"}",
	       400, "model");
	expect("POST", "/api/v1/workers",
	       "{\"id\":\"x\",\"model\":\"sim\",\"url\":\"ftp://h\",\"job_id\":\"7\",\"node\":\"n1\"}", 400, "url");
	expect("POST", "/api/v1/workers",
	       "{\"id\":\"x\",\"model\":\"sim\",\"url\":\"http://h:1\",\"job_id\":\"seven\",\"node\":\"n1\"}",
	       400, "job_id");
	ck_assert_int_eq(count_workers("?all=1", NULL), 1);

	/* A heartbeat: ready, with load; unknown ids listed. */
	ck_assert_int_eq(call("POST", "/api/v1/heartbeat",
			      "{\"job_id\":\"7\",\"node\":\"n1\",\"workers\":[{\"id\":\"7.n1.0\",\"state\":\"ready\","
			      "\"load\":{\"running\":3,\"waiting\":1,\"kv_usage\":0.5}},{\"id\":\"7.n1.1\"}]}",
			      &o), 200);
	ck_assert_str_eq(json_object_to_json_string_ext(json_object_object_get(o, "unknown"), JSON_C_TO_STRING_PLAIN),
			 "[\"7.n1.1\"]");
	json_object_put(o);
	ck_assert_int_eq(count_workers("", "ready"), 1);
	/* A bad heartbeat changes nothing. */
	expect("POST", "/api/v1/heartbeat",
	       "{\"workers\":[{\"id\":\"7.n1.0\",\"state\":\"starting\"},{\"id\":\"7.n1.0\",\"load\":{\"kv_usage\":\"x\"}}]}",
	       400, "workers[1].load.kv_usage");
	expect("POST", "/api/v1/heartbeat", "{\"workers\":[{\"state\":\"ready\"}]}", 400, "workers[0].id");
	expect("POST", "/api/v1/heartbeat", "{\"workers\":{}}", 400, "workers");
	ck_assert_int_eq(count_workers("", "ready"), 1);

	/* Drain a worker, then deregister it. */
	expect("POST", "/api/v1/drain", "{\"worker\":\"7.n1.0\"}", 200, NULL);
	ck_assert_int_eq(count_workers("", "draining"), 1);
	expect("POST", "/api/v1/drain", "{\"worker\":\"nope\"}", 404, "worker");
	expect("POST", "/api/v1/drain", "{}", 400, NULL);
	expect("POST", "/api/v1/deregister", "{\"job_id\":\"7\",\"node\":\"n1\",\"reason\":\"nap\"}", 400, "reason");
	ck_assert_int_eq(call("POST", "/api/v1/deregister",
			      "{\"job_id\":\"7\",\"node\":\"n1\",\"ids\":[\"7.n1.0\"],\"reason\":\"sigterm\"}", &o), 200);
	ck_assert_str_eq(jpath(o, "removed", NULL), "1");
	json_object_put(o);
	ck_assert_int_eq(count_workers("", NULL), 0);
	ck_assert_int_eq(count_workers("?all=1", "gone"), 1);

	/* Job ended: every worker of the job leaves at once. */
	call("POST", "/api/v1/workers", REG("7.n1.0", "ready"), NULL);
	call("POST", "/api/v1/workers", REG("7.n1.1", "ready"), NULL);
	ck_assert_int_eq(count_workers("", "ready"), 2);
	ck_assert_int_eq(call("POST", "/api/v1/jobs/ended",
			      "{\"job_id\":\"7\",\"node\":\"n1\",\"reason\":\"preempted\",\"exit_status\":15,\"signal\":15}",
			      &o), 200);
	ck_assert_str_eq(jpath(o, "removed", NULL), "2");
	ck_assert_str_eq(jpath(o, "reason", NULL), "preempted");
	json_object_put(o);
	ck_assert_int_eq(count_workers("", NULL), 0);
	expect("POST", "/api/v1/jobs/ended", "{\"job_id\":\"7\",\"reason\":\"bored\"}", 400, "reason");

	/* Eviction after the heartbeat timeout; the next heartbeat: unknown. */
	call("POST", "/api/v1/workers", REG("7.n1.0", "ready"), NULL);
	usleep(800 * 1000);
	ck_assert_int_eq(count_workers("", NULL), 0);
	ck_assert_int_eq(call("POST", "/api/v1/heartbeat", "{\"workers\":[{\"id\":\"7.n1.0\",\"state\":\"ready\"}]}", &o), 200);
	ck_assert_str_eq(json_object_to_json_string_ext(json_object_object_get(o, "unknown"), JSON_C_TO_STRING_PLAIN),
			 "[\"7.n1.0\"]");
	json_object_put(o);

	/* Routing of other paths. */
	/* /v1/ is the proxy's (registry/proxy.c; tested in check_proxy.c). */
	expect("GET", "/v1/models", NULL, 200, NULL);
	expect("POST", "/v1/chat/completions", "{}", 400, "model");
	expect("GET", "/api/v1/nothing", NULL, 404, NULL);
	expect("DELETE", "/api/v1/heartbeat", NULL, 405, NULL);
	expect("GET", "/api/v1/events?after=x", NULL, 400, "after");
	ck_assert_int_eq(call("GET", "/api/v1/key", NULL, &o), 200);
	ck_assert_uint_eq(strlen(jpath(o, "key", NULL)), 67);
	json_object_put(o);
	char *m = get_text("/metrics");
	ck_assert_ptr_nonnull(strstr(m, "elastic_evictions_total{cause=\"heartbeat_timeout\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(m, "elastic_evictions_total{cause=\"job_ended\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(m, "elastic_evictions_total{cause=\"sigterm\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(m, "elastic_heartbeat_unknown_total 2\n"));
	ck_assert_ptr_nonnull(strstr(m, "elastic_workers{pool=\"sim\",state=\"gone\"} 2\n"));
	free(m);
	stop();
}
END_TEST

START_TEST(test_token_auth)
{
	char tpath[256], spec[300], err[256];
	snprintf(tpath, sizeof tpath, "%s/token", dir);
	snprintf(spec, sizeof spec, "token:%s", tpath);
	start(spec); /* creates the token file */
	struct auth_client ac;
	ck_assert_msg(auth_client_init(&ac, spec, err, sizeof err) == 0, "%s", err);
	client = NULL;
	expect("GET", "/api/v1/status", NULL, 401, NULL);
	expect("POST", "/api/v1/workers", REG("7.n1.0", "ready"), 401, NULL);
	ck_assert_int_eq(call("GET", "/metrics", NULL, NULL), 200); /* no secrets there */
	client = &ac;
	expect("GET", "/api/v1/status", NULL, 200, NULL);
	expect("POST", "/api/v1/workers", REG("7.n1.0", "ready"), 200, NULL);
	client = NULL;
	stop();
}
END_TEST

#define REG_URL(id, u) \
	"{\"id\":\"" id "\",\"model\":\"sim\",\"url\":\"" u "\",\"job_id\":\"7\",\"node\":\"n1\"}"

/* An IPv4 address of this machine that is not loopback, or "". */
static void local_ipv4(char *out, size_t len)
{
	struct ifaddrs *ifa = NULL, *i;
	out[0] = '\0';
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) >> 24) != 127) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
				  (socklen_t)len);
			break;
		}
	freeifaddrs(ifa);
}

/* A registration naming a host:port that is not the caller's is refused
 * (registry/reg_peer.h); here the caller is this machine, so its loopback
 * and interface addresses and names for them pass, others do not. */
START_TEST(test_worker_host)
{
	client = NULL;
	start("none");
	struct json_object *o;
	expect("POST", "/api/v1/workers", REG_URL("7.n1.0", "http://127.0.0.1:9001"), 200, NULL);
	expect("POST", "/api/v1/workers", REG_URL("7.n1.1", "http://localhost:9001"), 200, NULL);
	expect("POST", "/api/v1/workers", REG_URL("7.n1.2", "http://[::1]:9001"), 200, NULL);
	/* 198.51.100.0/24 is TEST-NET-2, documentation only: not this machine. */
	ck_assert_int_eq(call("POST", "/api/v1/workers", REG_URL("7.n1.3", "http://198.51.100.55:9001"), &o), 403);
	const char *msg = jpath(o, "error", "message");
	ck_assert_msg(strstr(msg, "its host 198.51.100.55 is another machine's address") && strstr(msg, "from 127.0.0.1"),
		      "%s", msg);
	ck_assert_str_eq(jpath(o, "error", "param"), "url");
	json_object_put(o);
	ck_assert_int_eq(count_workers("", NULL), 3);
	char local[64], u[200], body[400];
	local_ipv4(local, sizeof local);
	if (local[0]) {
		snprintf(u, sizeof u, "http://%s:9001", local);
		snprintf(body, sizeof body, REG_URL("7.n1.4", "%s"), u);
		expect("POST", "/api/v1/workers", body, 200, NULL);
	}
	char *m = get_text("/metrics");
	ck_assert_ptr_nonnull(strstr(m, "elastic_registrations_refused_total 1\n"));
	free(m);
	stop();

	/* Off: anything goes (agents behind NAT). */
	no_host_check = true;
	start("none");
	expect("POST", "/api/v1/workers", REG_URL("7.n1.3", "http://198.51.100.55:9001"), 200, NULL);
	stop();
	no_host_check = false;

	/* A caller on a non-loopback address of this machine (token auth: a
	   registry off loopback must authenticate): its own address passes, and
	   so do the machine's others, loopback included (rule 2); TEST-NET does
	   not. */
	if (local[0]) {
		char tpath[256], spec[300], err[256];
		snprintf(tpath, sizeof tpath, "%s/token", dir);
		snprintf(spec, sizeof spec, "token:%s", tpath);
		listen_on = "0.0.0.0:0";
		start(spec);
		listen_on = "127.0.0.1:0";
		struct auth_client ac;
		ck_assert_msg(auth_client_init(&ac, spec, err, sizeof err) == 0, "%s", err);
		client = &ac;
		char *port = strrchr(url, ':') + 1;
		char via[128];
		snprintf(via, sizeof via, "http://%s:%s", local, port);
		snprintf(url, sizeof url, "%s", via);
		snprintf(body, sizeof body, REG_URL("8.n1.0", "%s"), u);
		expect("POST", "/api/v1/workers", body, 200, NULL);
		expect("POST", "/api/v1/workers", REG_URL("8.n1.1", "http://127.0.0.1:9001"), 200, NULL);
		ck_assert_int_eq(call("POST", "/api/v1/workers", REG_URL("8.n1.2", "http://198.51.100.55:1"), &o), 403);
		ck_assert_ptr_nonnull(strstr(jpath(o, "error", "message"), local));
		json_object_put(o);
		client = NULL;
		stop();
	}
}
END_TEST

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A value of the registry's /metrics (the text before it given), or -1. */
static double metric(const char *name);

/* munged stops answering (here: its socket, a link the test owns, is
 * replaced by a socket nobody listens on, as munged killed with SIGKILL
 * leaves it): the registry cannot check heartbeats, answers 503 at once
 * (libmunge alone retries for over 2 s) and evicts nobody; when munged is
 * back, every worker gets a fresh heartbeat timeout, then evictions resume. */
START_TEST(test_munge_outage)
{
	char link[256], dead[300], cmd[800], err[256];
	snprintf(link, sizeof link, "%s/munge.sock", dir);
	snprintf(dead, sizeof dead, "%s/dead.sock", dir);
	snprintf(cmd, sizeof cmd, "ln -sfn /run/munge/munge.socket.2 '%s'", link);
	sh(cmd);
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' '%s'",
		 dead);
	sh(cmd);
	munge_socket = link;
	start("munge");
	munge_socket = NULL;
	struct auth_client ac;
	ck_assert_msg(auth_client_init(&ac, "munge", err, sizeof err) == 0, "%s", err);
	client = &ac;
	expect("POST", "/api/v1/workers", REG("7.n1.0", "ready"), 200, NULL);
	const char *hb = "{\"workers\":[{\"id\":\"7.n1.0\",\"state\":\"ready\"}]}";
	expect("POST", "/api/v1/heartbeat", hb, 200, NULL);
	ck_assert(metric("\nelastic_auth_unavailable ") <= 0);

	/* munged gone: 503 with Retry-After, fast; nobody evicted. */
	snprintf(cmd, sizeof cmd, "ln -sfn '%s' '%s'", dead, link);
	sh(cmd);
	double t = mono_s();
	expect("POST", "/api/v1/heartbeat", hb, 503, NULL);
	double first = mono_s() - t;
	t = mono_s();
	for (int i = 0; i < 5; i++)
		expect("POST", "/api/v1/heartbeat", hb, 503, NULL);
	double later = (mono_s() - t) / 5;
	ck_assert_msg(later < 0.2, "a 503 took %.2f s while munged is known down", later);
	(void)first; /* the first one may wait for libmunge's retries */
	usleep(1500 * 1000); /* well past the 400 ms heartbeat timeout */
	ck_assert_int_eq((int)metric("\nelastic_auth_unavailable "), 1);
	ck_assert_int_eq((int)metric("\nelastic_workers{pool=\"sim\",state=\"ready\"} "), 1);
	ck_assert_int_eq((int)metric("\nelastic_auth_outages_total "), 1);

	/* munged back: noticed by the registry's own probe (no request needed),
	   the worker kept with a fresh timeout, then evicted as usual without
	   heartbeats. */
	snprintf(cmd, sizeof cmd, "ln -sfn /run/munge/munge.socket.2 '%s'", link);
	sh(cmd);
	double deadline = mono_s() + 3;
	while (metric("\nelastic_auth_unavailable ") != 0 && mono_s() < deadline)
		usleep(50 * 1000);
	ck_assert_int_eq((int)metric("\nelastic_auth_unavailable "), 0);
	ck_assert_int_eq((int)metric("\nelastic_workers{pool=\"sim\",state=\"ready\"} "), 1);
	usleep(900 * 1000);
	ck_assert_int_eq((int)metric("\nelastic_workers{pool=\"sim\",state=\"ready\"} "), -1);
	ck_assert_int_eq((int)metric("\nelastic_evictions_total{cause=\"heartbeat_timeout\"} "), 1);
	struct json_object *o;
	ck_assert_int_eq(call("GET", "/api/v1/status", NULL, &o), 200);
	const char *ev = json_object_to_json_string(o);
	ck_assert_msg(strstr(ev, "munged unreachable") && strstr(ev, "munged answers again after"),
		      "%s", ev);
	json_object_put(o);
	client = NULL;
	stop();
}
END_TEST

static int lines(const char *name)
{
	char p[256], buf[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *fp = fopen(p, "r");
	int n = 0;
	if (!fp)
		return 0;
	while (fgets(buf, sizeof buf, fp))
		n++;
	fclose(fp);
	return n;
}

static int wait_lines(const char *name, int want, int ms)
{
	for (int t = 0; t < ms; t += 50) {
		if (lines(name) >= want)
			return lines(name);
		usleep(50 * 1000);
	}
	return lines(name);
}

static void squeue_says(const char *rows)
{
	/* ROWS: "ID STATE;ID STATE;..." */
	char out[4096] = "", id[32], st[32];
	const char *p = rows;
	long now = t0;
	while (*p && sscanf(p, "%31s %31[^;]", id, st) == 2) {
		size_t l = strlen(out);
		int running = strcmp(st, "RUNNING") == 0;
		snprintf(out + l, sizeof out - l, "%s|%s|%s|%s|%ld|%ld|%ld|elastic-serve:%s:sim\n", id, st,
			 running ? "None" : "BeginTime", running ? "n1" : "", now - 10,
			 running ? now - 5 : 0L, running ? now + 3600 : 0L, instance);
		p = strchr(p, ';');
		if (!p)
			break;
		p++;
	}
	write_file("squeue.out.tmp", out, 0644);
	char a[256], b[256];
	snprintf(a, sizeof a, "%s/squeue.out.tmp", dir);
	snprintf(b, sizeof b, "%s/squeue.out", dir);
	rename(a, b);
}

static double metric(const char *name)
{
	char *m = get_text("/metrics");
	const char *p = strstr(m, name);
	double v = p ? atof(p + strlen(name)) : -1;
	free(m);
	return v;
}

static const char sim_toml[] = "[model]\npath = \"elastic/sim\"\nname = \"sim\"\n"
			       "[engine]\nkind = \"sim\"\nstartup_timeout = \"1h\"\n"
			       "[slurm]\npartition = \"low\"\ngpus_per_node = 8\n"
			       "[scale]\nmax_nodes = 2\n";

static void up_config(const char *toml)
{
	struct json_object *req = json_object_new_object(), *o;
	json_object_object_add(req, "config", json_object_new_string(toml));
	json_object_object_add(req, "filename", json_object_new_string("sim.toml"));
	int st = call("POST", "/api/v1/pools", json_object_to_json_string(req), &o);
	ck_assert_msg(st == 201 || st == 200, "%d %s", st, json_object_to_json_string(o));
	json_object_put(o);
	json_object_put(req);
}

static void up(void)
{
	up_config(sim_toml);
}

/* A pool counts nodes, as model.toml does: workers spanning 2 nodes, jobs
 * of 2 nodes, max_nodes 4 make 2 jobs, not 4. */
START_TEST(test_multinode_pool)
{
	client = NULL;
	start("none");
	up_config("[model]\npath = \"elastic/big\"\nname = \"big\"\n"
		  "[engine]\nkind = \"sim\"\nstartup_timeout = \"1h\"\n"
		  "[parallel]\ntp = 16\nnodes_per_worker = 2\n"
		  "[slurm]\ngpus_per_node = 8\n[scale]\nmax_nodes = 4\n");
	ck_assert_int_eq(wait_lines("sbatch.log", 2, 3000), 2);
	usleep(500 * 1000);
	ck_assert_int_eq(lines("sbatch.log"), 2);
	char p[512], line[4096];
	snprintf(p, sizeof p, "%s/sbatch.log", dir);
	FILE *fp = fopen(p, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof line, fp))
		ck_assert_msg(strstr(line, "--nodes=2 "), "%s", line);
	fclose(fp);
	struct json_object *o;
	ck_assert_int_eq(call("POST", "/api/v1/pools/big/scale", "{\"target\":3}", &o), 400);
	ck_assert_ptr_nonnull(strstr(jpath(o, "error", "message"),
				     "target 3 is not a multiple of 2, the nodes of one job of pool 'big'"));
	json_object_put(o);
	ck_assert_int_eq(call("POST", "/api/v1/pools/big/scale", "{\"target\":2}", &o), 200);
	json_object_put(o);
	stop();
}
END_TEST

START_TEST(test_acquirer_io)
{
	client = NULL;
	start("none");
	/* A bad model.toml: 400 with every problem, nothing created. */
	struct json_object *o;
	ck_assert_int_eq(call("POST", "/api/v1/pools",
			      "{\"config\":\"[model]\\npath = 1\\n[scale]\\nmax_nodes = -1\\n\",\"filename\":\"m.toml\"}", &o), 400);
	ck_assert_ptr_nonnull(strstr(jpath(o, "error", "message"), "m.toml:2:8: model.path must be a string"));
	ck_assert_ptr_nonnull(strstr(jpath(o, "error", "message"), "\nm.toml:4:"));
	ck_assert_str_eq(jpath(o, "error", "param"), "config");
	json_object_put(o);

	up();
	ck_assert_int_eq(wait_lines("sbatch.log", 2, 3000), 2);
	usleep(300 * 1000);
	if (lines("sbatch.log") != 2) {
		char *ev = get_text("/api/v1/events");
		fprintf(stderr, "%s\n", ev);
		free(ev);
		char c[300];
		snprintf(c, sizeof c, "cat %s/sbatch.log %s/squeue.out >&2", dir, dir);
		sh(c);
	}
	ck_assert_int_eq(lines("sbatch.log"), 2); /* max_nodes = 2 */
	char p[256], log[4096];
	snprintf(p, sizeof p, "%s/sbatch.log", dir);
	FILE *fp = fopen(p, "r");
	ck_assert_ptr_nonnull(fgets(log, sizeof log, fp));
	fclose(fp);
	char want[512];
	snprintf(want, sizeof want, "--parsable --elastic-serve=%s/pools/sim.toml --job-name=es-sim "
		 "--comment=elastic-serve:%s:sim --output=%s/jobs/es-%%j.out --open-mode=append --partition=low --nodes=1 --gres=gpu:8 %s/job.sh\n",
		 state_dir, instance, state_dir, dir);
	ck_assert_str_eq(log, want);
	snprintf(p, sizeof p, "%s/pools/sim.toml", state_dir);
	ck_assert_int_eq(access(p, R_OK), 0);

	/* Both run; one is requeued (preempted): counted once, no new job. */
	squeue_says("100 RUNNING;101 RUNNING");
	usleep(600 * 1000);
	ck_assert_int_eq(call("GET", "/api/v1/pools/sim", NULL, &o), 200);
	ck_assert_str_eq(jpath(o, "pool", "running"), "2");
	json_object_put(o);
	ck_assert_int_eq(call("POST", "/api/v1/jobs/ended", "{\"job_id\":\"101\",\"reason\":\"preempted\"}", NULL), 200);
	squeue_says("100 RUNNING;101 PENDING");
	usleep(600 * 1000);
	ck_assert(metric("elastic_job_preemptions_total{pool=\"sim\"} ") == 1);
	squeue_says("100 RUNNING;101 RUNNING");
	usleep(600 * 1000);
	ck_assert_int_eq(lines("sbatch.log"), 2);
	ck_assert(metric("elastic_job_preemptions_total{pool=\"sim\"} ") == 1);

	/* A job that vanishes is replaced, once. */
	squeue_says("100 RUNNING");
	ck_assert_int_eq(wait_lines("sbatch.log", 3, 3000), 3);
	squeue_says("100 RUNNING;102 PENDING");
	usleep(600 * 1000);
	ck_assert_int_eq(lines("sbatch.log"), 3);

	/* kill -9 and restart: the same jobs, plus one the state file missed
	 * (an sbatch whose reply was lost), adopted; nothing submitted. */
	kill9();
	squeue_says("100 RUNNING;102 RUNNING;103 PENDING");
	start("none");
	usleep(1000 * 1000);
	ck_assert_int_eq(lines("sbatch.log"), 3);
	ck_assert(metric("elastic_job_adoptions_total{pool=\"sim\"} ") == 1);
	ck_assert_int_eq(call("GET", "/api/v1/pools/sim", NULL, &o), 200);
	ck_assert_str_eq(jpath(o, "pool", "running"), "2");
	ck_assert_str_eq(jpath(o, "pool", "pending"), "1");
	json_object_put(o);
	/* Three jobs for a target of 2: the pending one is cancelled. */
	ck_assert_int_eq(wait_lines("scancel.log", 1, 3000), 1);
	snprintf(p, sizeof p, "%s/scancel.log", dir);
	fp = fopen(p, "r");
	ck_assert_ptr_nonnull(fgets(log, sizeof log, fp));
	fclose(fp);
	ck_assert_str_eq(log, "103\n");
	squeue_says("100 RUNNING;102 RUNNING;103 CANCELLED");

	/* Scale to 0: the running jobs are drained (idle) and cancelled. */
	expect("POST", "/api/v1/pools/sim/scale", "{\"target\":3}", 400, "target");
	expect("POST", "/api/v1/pools/sim/scale", "{\"target\":\"2\"}", 400, "target");
	expect("POST", "/api/v1/pools/nope/scale", "{\"target\":1}", 404, "name");
	expect("POST", "/api/v1/pools/sim/scale", "{\"target\":0}", 200, NULL);
	ck_assert_int_eq(wait_lines("scancel.log", 3, 3000), 3);
	squeue_says("100 CANCELLED;102 CANCELLED;103 CANCELLED");
	usleep(600 * 1000);

	/* sbatch failures back off. */
	write_file("sbatch.fail", "", 0644);
	expect("POST", "/api/v1/pools/sim/scale", "{\"target\":1}", 200, NULL);
	ck_assert_int_eq(wait_lines("sbatch.log", 4, 3000), 4);
	usleep(150 * 1000);
	ck_assert_int_eq(lines("sbatch.log"), 4); /* waiting 300 ms */
	ck_assert_int_eq(wait_lines("sbatch.log", 5, 3000), 5);
	for (int i = 0; i < 40 && metric("elastic_acquirer_errors_total{command=\"sbatch\"} ") < 2; i++)
		usleep(50 * 1000);
	ck_assert(metric("elastic_acquirer_errors_total{command=\"sbatch\"} ") >= 2);

	/* down: removed once its jobs are gone. */
	expect("POST", "/api/v1/pools/sim/scale", "{\"target\":0}", 200, NULL);
	expect("DELETE", "/api/v1/pools/sim", NULL, 200, NULL);
	usleep(1500 * 1000);
	expect("GET", "/api/v1/pools/sim", NULL, 404, "name");
	stop();
}
END_TEST

START_TEST(test_corrupt_state_and_refine)
{
	client = NULL;
	char p[256];
	snprintf(p, sizeof p, "mkdir -p %s/pools", state_dir);
	sh(p);
	write_file("state/state.json", "{\"version\":1,\"pools\":[{\"name\":", 0600);
	write_file("state/pools/sim.toml", sim_toml, 0600);
	squeue_says("200 RUNNING;201 PENDING");
	start("none");
	usleep(800 * 1000);
	/* Kept aside, pool rebuilt with the jobs found as its target. */
	struct json_object *o;
	ck_assert_int_eq(call("GET", "/api/v1/status", NULL, &o), 200);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "state file corrupt"));
	json_object_put(o);
	ck_assert_int_eq(call("GET", "/api/v1/pools/sim", NULL, &o), 200);
	ck_assert_str_eq(jpath(o, "pool", "target"), "2");
	ck_assert_str_eq(jpath(o, "pool", "running"), "1");
	json_object_put(o);
	snprintf(p, sizeof p, "ls %s/state/state.json.corrupt-* >/dev/null", dir);
	sh(p);
	ck_assert_int_eq(lines("sbatch.log"), 0);

	/* A job-ended notice without a reason: asked to squeue. */
	squeue_says("200 RUNNING;201 PENDING;202 TIMEOUT");
	ck_assert_int_eq(call("POST", "/api/v1/jobs/ended", "{\"job_id\":\"201\"}", &o), 200);
	ck_assert_str_eq(jpath(o, "reason", NULL), "preempted");
	json_object_put(o);
	ck_assert_int_eq(call("POST", "/api/v1/jobs/ended", "{\"job_id\":\"202\",\"reason\":\"unknown\"}", &o), 200);
	ck_assert_str_eq(jpath(o, "reason", NULL), "timeout");
	json_object_put(o);
	ck_assert_int_eq(call("POST", "/api/v1/jobs/ended", "{\"job_id\":\"999\"}", &o), 200);
	ck_assert_str_eq(jpath(o, "reason", NULL), "unknown");
	json_object_put(o);
	stop();
}
END_TEST

START_TEST(test_auth_policy)
{
	struct auth_who self = {1000, 1000, AUTH_MUNGE}, root = {0, 0, AUTH_MUNGE},
			other = {1001, 1001, AUTH_MUNGE}, friend = {1002, 1002, AUTH_MUNGE};
	uid_t allow[] = {1002};
	enum reg_access c = reg_auth_class("POST", "/api/v1/jobs/ended");
	ck_assert_int_eq(c, REG_ACCESS_JOBS_ENDED);
	ck_assert_int_eq(reg_auth_class("GET", "/api/v1/jobs/ended"), REG_ACCESS_CONTROL);
	ck_assert_int_eq(reg_auth_class("POST", "/api/v1/workers"), REG_ACCESS_CONTROL);
	ck_assert_int_eq(reg_auth_class("GET", "/metrics"), REG_ACCESS_OPEN);
	ck_assert_int_eq(reg_auth_class("POST", "/v1/chat/completions"), REG_ACCESS_OPEN);
	ck_assert(reg_auth_allowed(&self, REG_ACCESS_CONTROL, 1000, allow, 1));
	ck_assert(reg_auth_allowed(&friend, REG_ACCESS_CONTROL, 1000, allow, 1));
	ck_assert(!reg_auth_allowed(&other, REG_ACCESS_CONTROL, 1000, allow, 1));
	ck_assert(!reg_auth_allowed(&other, REG_ACCESS_JOBS_ENDED, 1000, allow, 1));
	ck_assert(!reg_auth_allowed(&root, REG_ACCESS_CONTROL, 1000, allow, 1));
	ck_assert(reg_auth_allowed(&root, REG_ACCESS_JOBS_ENDED, 1000, allow, 1));
	ck_assert(reg_auth_allowed(&root, REG_ACCESS_CONTROL, 0, NULL, 0)); /* a root registry */
	ck_assert(reg_auth_allowed(&other, REG_ACCESS_OPEN, 1000, NULL, 0));
}
END_TEST

Suite *suite_registry(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_agent_api);
	tcase_add_test(tc, test_token_auth);
	tcase_add_test(tc, test_acquirer_io);
	tcase_add_test(tc, test_multinode_pool);
	tcase_add_test(tc, test_corrupt_state_and_refine);
	tcase_add_test(tc, test_auth_policy);
	tcase_add_test(tc, test_worker_host);
	tcase_add_test(tc, test_munge_outage);
	suite_add_tcase(s, tc);
	return s;
}
