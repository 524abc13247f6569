/* agent_hub.c — the hub of a job whose workers span nodes (agent.h).
 *
 * With parallel.nodes_per_worker = K > 1 the SPANK plugin starts
 * `elastic-agent --hub` in the batch step (node 0 of the job). The hub runs
 * no engine. It
 *   - listens on an ephemeral TCP port of this host;
 *   - starts one node agent on every node of the job with one job step,
 *       srun --overlap --nodes=M --ntasks=M --ntasks-per-node=1
 *            --kill-on-bad-exit=1 --cpu-bind=none --mpi=none
 *            elastic-agent --node-agent HOST:PORT ...
 *     whose environment holds ELASTIC_SERVE_RANKS=1 (the plugin then
 *     reserves the node's ports in that step and hands them to the task)
 *     and ELASTIC_SERVE_HUB_TOKEN, a random token each node agent must
 *     show (the environment of a process is readable by its user only).
 *     SLURM tracks that step like any other: it signals it with the job and
 *     kills it at the job's end; --overlap lets it share the job's CPUs
 *     with the batch step, and without --exact it gets every CPU, the
 *     memory and the GPUs of the job on each node;
 *   - relays between the node agents of each worker (agent_node.c): once
 *     the K nodes of worker w (job nodes wK .. wK+K-1) have said hello it
 *     sends each the group, then passes rank 0's run/halt to the other
 *     ranks and their down (or the loss of an agent) to rank 0;
 *   - writes the job's status file, one entry per worker with rank 0's URL
 *     and state, for `elastic-agent --wait-ready` and --wait;
 *   - ends with the step: when srun ends while the job runs (a node agent
 *     failed, a node went away), it deregisters every worker of the job and
 *     exits 1, which ends the job; after a SIGTERM it exits 0 once the node
 *     agents have drained their workers.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "model.h"

extern char **environ;

#define HUB_HELLO_MS 10000

struct agent_hub;

struct hub_peer {
	struct agent_hub *hub;
	struct bufferevent *bev;   /* the connection */
	struct event *hello_timer; /* closes it without a hello in time */
	struct hub_peer *next;     /* in agent_hub.peers */
	int node_id;               /* -1 until its hello */
	char node[256], host[256]; /* its SLURM node and host name */
	int port, mport;           /* its engine port; rendezvous port (rank 0) */
};

struct hub_worker {
	bool grouped;              /* its group was sent */
	char state[32];            /* rank 0's last state */
	char url[600];             /* rank 0's engine */
};

struct agent_hub {
	struct agent *ag;
	struct evconnlistener *lev;  /* node agents connect here */
	int port;                  /* the hub listens here */
	char token[33];
	int nnodes;                /* of the job */
	int k;                     /* nodes per worker */
	int nworkers;
	struct hub_peer **by_node; /* nnodes entries, NULL until hello */
	struct hub_peer *peers;    /* every connection */
	struct hub_worker *workers;  /* nworkers entries */
	pid_t srun_pid;              /* the node agents' srun, 0 when gone */
};

/* ---------------------------------------------------------------- words */

int agent_mn_split(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;
	if (!*p)
		return -1;
	for (;;) {
		char *sp = strchr(p, ' ');
		if (sp)
			*sp = '\0';
		if (!*p || n == max)
			return -1;
		for (const unsigned char *c = (const unsigned char *)p; *c; c++)
			if (*c <= 0x20 || *c >= 0x7f)
				return -1;
		words[n++] = p;
		if (!sp)
			break;
		p = sp + 1;
	}
	return n;
}

bool agent_mn_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 255)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':'))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- peers */

static void peer_send(struct hub_peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void peer_send(struct hub_peer *p, const char *fmt, ...)
{
	if (!p || !p->bev)
		return;
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(p->bev), fmt, ap);
	va_end(ap);
	evbuffer_add(bufferevent_get_output(p->bev), "\n", 1);
}

static void peer_free(struct hub_peer *p)
{
	struct agent_hub *h = p->hub;
	for (struct hub_peer **pp = &h->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->node_id >= 0 && h->by_node[p->node_id] == p)
		h->by_node[p->node_id] = NULL;
	if (p->bev)
		bufferevent_free(p->bev);
	if (p->hello_timer)
		event_free(p->hello_timer);
	free(p);
}

/* The other ranks of worker W get the line. */
static void send_followers(struct agent_hub *h, int w, const char *line)
{
	for (int r = 1; r < h->k; r++)
		peer_send(h->by_node[w * h->k + r], "%s", line);
}

static void hub_group(struct agent_hub *h, int w)
{
	struct hub_worker *wk = &h->workers[w];
	for (int r = 0; r < h->k; r++)
		if (!h->by_node[w * h->k + r])
			return;
	if (wk->grouped)
		return;
	wk->grouped = true;
	struct hub_peer *head = h->by_node[w * h->k];
	struct buf b = BUF_INIT, names = BUF_INIT;
	buf_printf(&b, "group %s %s %d %d %d", head->node, head->host, head->port, head->mport,
		   h->k);
	for (int r = 0; r < h->k; r++) {
		buf_printf(&b, " %s", h->by_node[w * h->k + r]->node);
		buf_printf(&names, "%s%s", r ? "," : "", h->by_node[w * h->k + r]->node);
	}
	for (int r = 0; r < h->k; r++)
		peer_send(h->by_node[w * h->k + r], "%s", b.data);
	snprintf(wk->url, sizeof wk->url, strchr(head->host, ':') ? "http://[%s]:%d" : "http://%s:%d",
		 head->host, head->port);
	log_info("worker %d: nodes %s; rank 0 serves %s", w, names.data, wk->url);
	buf_free(&b);
	buf_free(&names);
	agent_status_write(h->ag);
}

static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* Returns -1 when the peer must go. */
static int peer_line(struct hub_peer *p, char *line)
{
	struct agent_hub *h = p->hub;
	char *w[8];
	int nw = agent_mn_split(line, w, 8);
	if (nw < 1)
		return -1;
	if (p->node_id < 0) {
		char *end;
		if (nw != 7 || strcmp(w[0], "hello") != 0 || !token_eq(w[1], h->token))
			return -1;
		long id = strtol(w[2], &end, 10);
		if (*end || id < 0 || id >= h->nnodes)
			return -1;
		long port = strtol(w[5], &end, 10), mport = *end ? -1 : strtol(w[6], &end, 10);
		if (*end || port < 1 || port > 65535 || mport < 0 || mport > 65535 ||
		    !agent_mn_name_ok(w[3]) || !agent_mn_name_ok(w[4]))
			return -1;
		if (id % h->k == 0 && mport < 1)
			return -1;
		if (h->by_node[id]) {
			log_warn("node %ld said hello twice; refusing the second", id);
			return -1;
		}
		p->node_id = (int)id;
		snprintf(p->node, sizeof p->node, "%s", w[3]);
		snprintf(p->host, sizeof p->host, "%s", w[4]);
		p->port = (int)port;
		p->mport = (int)mport;
		h->by_node[id] = p;
		event_free(p->hello_timer);
		p->hello_timer = NULL;
		log_debug("node agent %ld on %s (%s) joined", id, p->node, p->host);
		hub_group(h, (int)id / h->k);
		return 0;
	}
	int wi = p->node_id / h->k, r = p->node_id % h->k;
	struct hub_worker *wk = &h->workers[wi];
	char out[128];
	if (r == 0 && strcmp(w[0], "run") == 0 && nw == 2) {
		snprintf(out, sizeof out, "run %s", w[1]);
		send_followers(h, wi, out);
	} else if (r == 0 && strcmp(w[0], "halt") == 0 && nw == 3) {
		snprintf(out, sizeof out, "halt %s %s", w[1], w[2]);
		send_followers(h, wi, out);
	} else if (r == 0 && strcmp(w[0], "state") == 0 && nw == 2) {
		snprintf(wk->state, sizeof wk->state, "%s", w[1]);
		agent_status_write(h->ag);
	} else if (r > 0 && strcmp(w[0], "down") == 0 && nw == 2) {
		peer_send(h->by_node[wi * h->k], "down %d %s", r, w[1]);
	} else {
		log_warn("node agent %d sent an unexpected \"%s\"", p->node_id, w[0]);
	}
	return 0;
}

static void peer_gone(struct hub_peer *p, const char *why)
{
	struct agent_hub *h = p->hub;
	if (p->node_id >= 0) {
		int wi = p->node_id / h->k, r = p->node_id % h->k;
		if (h->ag->phase == AP_RUNNING)
			log_warn("the node agent of %s (node %d) went away: %s", p->node, p->node_id,
				 why);
		if (h->workers[wi].grouped) {
			h->by_node[p->node_id] = NULL;
			if (r == 0) {
				send_followers(h, wi, "lost 0");
				snprintf(h->workers[wi].state, sizeof h->workers[wi].state, "failed");
				agent_status_write(h->ag);
			} else {
				peer_send(h->by_node[wi * h->k], "lost %d", r);
			}
		}
	}
	peer_free(p);
}

static void peer_read(struct bufferevent *bev, void *arg)
{
	struct hub_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF))) {
		int rc = peer_line(p, line);
		free(line);
		if (rc < 0) {
			if (p->node_id < 0)
				log_warn("refusing a connection that is no node agent of this job");
			else
				log_warn("node agent %d sent a malformed line: closing", p->node_id);
			peer_gone(p, "protocol error");
			return;
		}
	}
	if (evbuffer_get_length(in) > AGENT_MN_MAX_LINE)
		peer_gone(p, "a line too long");
}

static void peer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct hub_peer *p = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		peer_gone(p, what & BEV_EVENT_EOF ? "closed" : strerror(EVUTIL_SOCKET_ERROR()));
}

static void peer_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hub_peer *p = arg;
	log_warn("a connection said no hello within %d s: closing it", HUB_HELLO_MS / 1000);
	peer_free(p);
}

static void hub_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		       int salen, void *arg)
{
	(void)lev;
	(void)sa;
	(void)salen;
	struct agent_hub *h = arg;
	struct hub_peer *p = calloc(1, sizeof *p);
	if (!p) {
		evutil_closesocket(fd);
		return;
	}
	p->hub = h;
	p->node_id = -1;
	p->bev = bufferevent_socket_new(h->ag->base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->hello_timer = evtimer_new(h->ag->base, peer_hello_timeout, p);
	if (!p->bev || !p->hello_timer) {
		if (p->bev)
			bufferevent_free(p->bev);
		else
			evutil_closesocket(fd);
		if (p->hello_timer)
			event_free(p->hello_timer);
		free(p);
		return;
	}
	p->next = h->peers;
	h->peers = p;
	bufferevent_setcb(p->bev, peer_read, NULL, peer_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	agent_timer_arm(p->hello_timer, HUB_HELLO_MS);
}

/* ---------------------------------------------------------------- setup */

static int env_nodes(void)
{
	const char *names[] = {"SLURM_JOB_NUM_NODES", "SLURM_NNODES"};
	for (int i = 0; i < 2; i++) {
		const char *v = getenv(names[i]);
		char *end;
		if (!v || !*v)
			continue;
		long n = strtol(v, &end, 10);
		if (!*end && n > 0 && n < 100000)
			return (int)n;
	}
	return 0;
}

int agent_hub_init(struct agent *ag, char *err, size_t errlen)
{
	struct agent_hub *h = calloc(1, sizeof *h);
	if (!h)
		abort();
	h->ag = ag;
	ag->hub = h;
	h->k = ag->cfg->nodes_per_worker;
	h->nnodes = ag->opt.nnodes > 0 ? ag->opt.nnodes : env_nodes();
	if (h->nnodes <= 0) {
		snprintf(err, errlen, "--hub: how many nodes has the job? give --nnodes or run it in a job ($SLURM_JOB_NUM_NODES)");
		return -1;
	}
	if (h->nnodes % h->k != 0) {
		snprintf(err, errlen,
			 "the job has %d node(s), not a multiple of parallel.nodes_per_worker = %d: submit it with --nodes=%d (or another multiple of %d)",
			 h->nnodes, h->k, h->nnodes < h->k ? h->k : h->nnodes - h->nnodes % h->k, h->k);
		return -1;
	}
	h->nworkers = h->nnodes / h->k;
	h->by_node = calloc((size_t)h->nnodes, sizeof *h->by_node);
	h->workers = calloc((size_t)h->nworkers, sizeof *h->workers);
	if (!h->by_node || !h->workers)
		abort();
	for (int w = 0; w < h->nworkers; w++)
		snprintf(h->workers[w].state, sizeof h->workers[w].state, "idle");
	if (auth_random_hex(h->token, 16) < 0) {
		snprintf(err, errlen, "no randomness for the hub's token");
		return -1;
	}
	/* Dual-stack where there is IPv6, else IPv4; the kernel picks the port. */
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	s4.sin_addr.s_addr = htonl(INADDR_ANY);
	unsigned fl = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
	h->lev = evconnlistener_new_bind(ag->base, hub_accept, h, fl, 64, (struct sockaddr *)&s6,
					 sizeof s6);
	if (!h->lev)
		h->lev = evconnlistener_new_bind(ag->base, hub_accept, h, fl, 64,
						 (struct sockaddr *)&s4, sizeof s4);
	if (!h->lev) {
		snprintf(err, errlen, "the hub cannot listen: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(evconnlistener_get_fd(h->lev), (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return -1;
	}
	h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

void agent_hub_free(struct agent *ag)
{
	struct agent_hub *h = ag->hub;
	if (!h)
		return;
	while (h->peers)
		peer_free(h->peers);
	if (h->lev)
		evconnlistener_free(h->lev);
	if (h->srun_pid > 0) {
		kill(h->srun_pid, SIGKILL);
		waitpid(h->srun_pid, NULL, 0);
	}
	free(h->by_node);
	free(h->workers);
	free(h);
	ag->hub = NULL;
}

static char *hub_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

char **agent_hub_srun_argv(const struct agent *ag, const char *srun, const char *hub)
{
	const struct agent_hub *h = ag->hub;
	const struct agent_options *o = &ag->opt;
	size_t n = 0;
	char **v = calloc(64, sizeof *v);
	struct buf b = BUF_INIT;
	if (!v)
		abort();
#define ARG(s) (v[n++] = hub_strdup(s))
#define ARGF(...) (buf_printf(&b, __VA_ARGS__), v[n++] = buf_steal(&b))
	ARG(srun);
	ARG("--overlap");
	ARGF("--nodes=%d", h->nnodes);
	ARGF("--ntasks=%d", h->nnodes);
	ARG("--ntasks-per-node=1");
	ARG("--kill-on-bad-exit=1");
	ARG("--cpu-bind=none");
	ARG("--quiet");
	ARG("--mpi=none");
	ARG("--job-name=elastic-agent");
	ARG(ag->self_path ? ag->self_path : "elastic-agent");
	ARG("--node-agent");
	ARG(hub);
	if (o->config_env) {
		ARG("--config-env");
		ARG(o->config_env);
	} else if (o->config_file) {
		ARG("--config");
		ARG(o->config_file);
	}
	ARG("--job-id");
	ARG(o->job_id);
	if (ag->have_registry) {
		ARG("--registry");
		ARG(o->registry);
	}
	ARG("--auth");
	ARG(o->auth ? o->auth : "munge");
	ARG("--log-dir");
	ARG(o->log_dir);
	if (o->sim && *o->sim) {
		ARG("--sim");
		ARG(o->sim);
	}
	if (strcmp(o->bind, "0.0.0.0") != 0) {
		ARG("--bind");
		ARG(o->bind);
	}
	if (o->heartbeat_ms > 0)
		ARGF("--heartbeat-ms=%d", o->heartbeat_ms);
	ARGF("--probe-ms=%d", o->probe_ms);
	ARGF("--kill-timeout-ms=%d", o->kill_timeout_ms);
	if (o->drain_ms >= 0)
		ARGF("--drain-ms=%lld", (long long)o->drain_ms);
	if (o->job_end > 0)
		ARGF("--job-end=%.0f", o->job_end);
	if (o->log_level) {
		ARG("--log-level");
		ARG(o->log_level);
	}
#undef ARG
#undef ARGF
	v[n] = NULL;
	return v;
}

/* srun from --srun, else the PATH. */
static int find_srun(const struct agent *ag, char *out, size_t outlen)
{
	if (ag->opt.srun && *ag->opt.srun) {
		snprintf(out, outlen, "%s", ag->opt.srun);
		return 0;
	}
	const char *p = getenv("PATH");
	for (const char *d = p && *p ? p : "/usr/local/bin:/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");
		if (n) {
			snprintf(out, outlen, "%.*s/srun", (int)n, d);
			if (access(out, X_OK) == 0)
				return 0;
		}
		d += n + (d[n] == ':');
	}
	return -1;
}

void agent_hub_start(struct agent *ag)
{
	struct agent_hub *h = ag->hub;
	char srun[PATH_MAX], hub[400];
	if (find_srun(ag, srun, sizeof srun) < 0) {
		log_error("cannot find srun in PATH: the node agents cannot start");
		agent_finish(ag, 1);
		return;
	}
	snprintf(hub, sizeof hub, strchr(ag->host_name, ':') ? "[%s]:%d" : "%s:%d", ag->host_name,
		 h->port);
	char **argv = agent_hub_srun_argv(ag, srun, hub);
	size_t ne = 0;
	while (environ[ne])
		ne++;
	char **envp = calloc(ne + 3, sizeof *envp);
	if (!envp)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < ne; i++)
		if (strncmp(environ[i], "ELASTIC_SERVE_RANKS=", 20) != 0 &&
		    strncmp(environ[i], "ELASTIC_SERVE_HUB_TOKEN=", 24) != 0)
			envp[k++] = environ[i];
	char tok[80];
	snprintf(tok, sizeof tok, "ELASTIC_SERVE_HUB_TOKEN=%s", h->token);
	envp[k++] = "ELASTIC_SERVE_RANKS=1";
	envp[k++] = tok;
	envp[k] = NULL;
	log_info("job %s: %d worker(s) of %d nodes (%s, %s): starting a node agent on each of the %d nodes; hub at %s",
		 ag->opt.job_id, h->nworkers, h->k, ag->cfg->name, model_engine_name(ag->cfg->engine),
		 h->nnodes, hub);
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		int in = open("/dev/null", O_RDONLY);
		if (in >= 0)
			dup2(in, 0);
#ifdef SYS_close_range
		syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
		execve(argv[0], argv, envp);
		dprintf(2, "elastic-agent: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	agent_argv_free(argv);
	free(envp);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		agent_finish(ag, 1);
		return;
	}
	h->srun_pid = pid;
}

bool agent_hub_reaped(struct agent *ag, pid_t pid, int st)
{
	struct agent_hub *h = ag->hub;
	if (pid != h->srun_pid)
		return false;
	h->srun_pid = 0;
	char what[64];
	if (WIFSIGNALED(st))
		snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(st));
	if (ag->phase == AP_RUNNING) {
		log_error("the node agents' step ended (srun: %s): every worker of job %s is out of routing; ending the job",
			  what, ag->opt.job_id);
		agent_reg_deregister_job(ag, "engine_exit");
		agent_finish(ag, 1);
	} else {
		log_info("the node agents are done (srun: %s)", what);
		agent_finish(ag, 0);
	}
	return true;
}

pid_t agent_hub_srun_pid(const struct agent *ag)
{
	return ag->hub ? ag->hub->srun_pid : 0;
}

void agent_hub_drain(struct agent *ag)
{
	struct agent_hub *h = ag->hub;
	if (ag->phase != AP_RUNNING)
		return;
	ag->phase = AP_DRAINING;
	log_info("draining: the node agents drain their workers; waiting for them");
	/* srun passes the signal on to every node agent (they get SLURM's
	 * own too when the whole job is signalled). */
	if (h->srun_pid > 0)
		kill(h->srun_pid, SIGTERM);
	agent_status_write(ag);
}

void agent_hub_status(const struct agent *ag, struct buf *b)
{
	const struct agent_hub *h = ag->hub;
	for (int w = 0; w < h->nworkers; w++) {
		const struct hub_worker *wk = &h->workers[w];
		buf_printf(b, "%s{\"index\": %d, \"gpus\": \"\", \"url\": ", w ? ", " : "", w);
		buf_json_str(b, wk->url, strlen(wk->url));
		buf_puts(b, ", \"state\": ");
		buf_json_str(b, wk->state, strlen(wk->state));
		buf_puts(b, ", \"pid\": 0, \"restarts\": 0, \"log\": \"\", \"error\": \"\", \"nodes\": [");
		for (int r = 0; r < h->k; r++) {
			const struct hub_peer *p = h->by_node[w * h->k + r];
			if (r)
				buf_puts(b, ", ");
			if (p && wk->grouped)
				buf_json_str(b, p->node, strlen(p->node));
			else
				buf_puts(b, "null");
		}
		buf_puts(b, "]}");
	}
}
