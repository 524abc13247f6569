/* agent_node.c — a node agent of a worker spanning nodes (agent.h).
 *
 * `elastic-agent --node-agent HUB` runs on every node of a job whose model
 * has parallel.nodes_per_worker = K > 1: the hub (agent_hub.c) starts one
 * per node with srun. Node i runs rank i % K of worker i / K; its slice is
 * every GPU of its node (ELASTIC_SERVE_SLICE, set by the SPANK plugin in
 * that srun step with the ports it reserved there) and rank 0 also gets a
 * rendezvous port (ELASTIC_SERVE_MASTER_PORT).
 *
 * Each node agent keeps one TCP connection to the hub, authenticated by
 * the token in ELASTIC_SERVE_HUB_TOKEN, and says hello with its node, host
 * and ports. When every node of a worker has, the hub sends each of them
 * the worker's group: rank 0's node, host and ports, and the nodes.
 *
 * Rank 0's agent is the worker's agent: its slice has the usual state
 * machine (agent_sm.c), its engine is rank 0, it registers the worker
 * (with `nodes`), probes rank 0's /health (green only once every rank has
 * joined), heartbeats and drains. Whenever it starts its engine it tells
 * the other ranks to start theirs (`run EPOCH`, a new epoch each time);
 * whenever it signals or loses its engine it tells them to stop theirs
 * (`halt EPOCH TERM|KILL`). So the worker lives and restarts as a whole,
 * with rank 0's backoff and failure count.
 *
 * The other ranks' agents (followers) only do what rank 0's says. When a
 * follower's engine ends on its own, its agent deregisters the worker at
 * once (it knows the id, JOB.RANK0_NODE.0) and tells rank 0's agent
 * (`down EPOCH`), which kills rank 0 so that the whole worker restarts.
 * On SIGTERM a follower deregisters the worker too but keeps its rank
 * running until rank 0's agent stops it after the drain (or the drain time
 * and the kill timeout have passed): rank 0 still serves the requests in
 * flight and needs every rank for them.
 */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "model.h"

#define NODE_CONNECT_S 30

struct agent_node {
	struct agent *ag;
	struct bufferevent *bev;    /* to the hub */
	struct event *retry;        /* connection retry */
	struct event *drain_timer;  /* follower: bound of its drain */
	char hub_host[256];
	int hub_port;
	int64_t connect_deadline;   /* give up connecting after this (ms) */
	bool connected;
	char token[80];             /* ELASTIC_SERVE_HUB_TOKEN */
	int node_id;                /* in the job, from 0 */
	int rank;                   /* node_id % k */
	int worker;                 /* node_id / k */
	int k;                      /* nodes per worker */
	int master_port;            /* rank 0: its rendezvous port */
	char slice_arg[4200];       /* ELASTIC_SERVE_SLICE when no --slice */
	char *slice_vec[2];
	char status[1400];          /* default status file */
	/* the worker, once the hub sent its group */
	bool grouped;
	char head_node[256], head_host[256];
	int head_port, head_mport;
	char worker_id[600];        /* JOB.HEAD_NODE.0 */
	char **nodes;               /* every node of the worker */
};

static char node_progname[300];

static void node_send(struct agent_node *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void node_send(struct agent_node *n, const char *fmt, ...)
{
	if (!n->bev || !n->connected)
		return;
	va_list ap;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(n->bev), fmt, ap);
	va_end(ap);
	evbuffer_add(bufferevent_get_output(n->bev), "\n", 1);
}

static const char *sig_word(int sig)
{
	return sig == SIGKILL ? "KILL" : "TERM";
}

/* ---------------------------------------------------------------- init */

static int parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -1;
	const char *h = s, *he = colon;
	if (*h == '[' && he[-1] == ']') {
		h++;
		he--;
	}
	if (he <= h || (size_t)(he - h) >= hostlen)
		return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = (int)p;
	return 0;
}

static int env_int(const char *name, int *out)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return -1;
	long x = strtol(v, &end, 10);
	if (*end || x < 0 || x > 1000000)
		return -1;
	*out = (int)x;
	return 0;
}

int agent_node_init(struct agent *ag, char *err, size_t errlen)
{
	struct agent_node *n = calloc(1, sizeof *n);
	if (!n)
		abort();
	n->ag = ag;
	ag->node = n;
	n->k = ag->cfg->nodes_per_worker;
	if (parse_hostport(ag->opt.node_agent, n->hub_host, sizeof n->hub_host, &n->hub_port) < 0) {
		snprintf(err, errlen, "--node-agent %s: expected HOST:PORT of the hub", ag->opt.node_agent);
		return -1;
	}
	const char *tok = getenv("ELASTIC_SERVE_HUB_TOKEN");
	if (!tok || !*tok || strlen(tok) >= sizeof n->token || !agent_mn_name_ok(tok)) {
		snprintf(err, errlen, "--node-agent: no hub token in $ELASTIC_SERVE_HUB_TOKEN");
		return -1;
	}
	snprintf(n->token, sizeof n->token, "%s", tok);
	n->node_id = ag->opt.node_id;
	if (n->node_id < 0 && env_int("SLURM_NODEID", &n->node_id) < 0) {
		snprintf(err, errlen, "--node-agent: no node id: give --node-id or run it in a job step ($SLURM_NODEID)");
		return -1;
	}
	n->rank = n->node_id % n->k;
	n->worker = n->node_id / n->k;
	if (!agent_mn_name_ok(ag->opt.node) || !agent_mn_name_ok(ag->host_name)) {
		snprintf(err, errlen, "--node-agent: node %s or host %s is not a plain name", ag->opt.node,
			 ag->host_name);
		return -1;
	}
	snprintf(node_progname, sizeof node_progname, "elastic-agent@%s", ag->opt.node);
	log_init(node_progname);
	if (ag->opt.nslices == 0) {
		const char *sl = getenv("ELASTIC_SERVE_SLICE");
		if (!sl || !*sl || strlen(sl) >= sizeof n->slice_arg) {
			snprintf(err, errlen,
				 "--node-agent: no slice: give --slice GPUS@PORT or run it in the plugin's step ($ELASTIC_SERVE_SLICE)");
			return -1;
		}
		snprintf(n->slice_arg, sizeof n->slice_arg, "%s", sl);
		n->slice_vec[0] = n->slice_arg;
		ag->opt.slices = n->slice_vec;
		ag->opt.nslices = 1;
	}
	n->master_port = ag->opt.master_port;
	if (n->master_port <= 0 && env_int("ELASTIC_SERVE_MASTER_PORT", &n->master_port) < 0)
		n->master_port = 0;
	if (n->rank == 0 && (n->master_port < 1 || n->master_port > 65535)) {
		snprintf(err, errlen,
			 "--node-agent: rank 0 needs a rendezvous port: give --master-port or run it in the plugin's step ($ELASTIC_SERVE_MASTER_PORT)");
		return -1;
	}
	/* Every GPU of the node is the rank's: tp / K of them. */
	if (ag->opt.nslices == 1) {
		const char *spec = ag->opt.slices[0], *at = strrchr(spec, '@');
		int g = 1, want = model_gpus_per_rank(ag->cfg);
		for (const char *p = spec; at && p < at; p++)
			g += *p == ',';
		if (at && at > spec && g != want) {
			snprintf(err, errlen,
				 "node %s has %d GPU(s) for this job (%.*s), but parallel.tp = %d over nodes_per_worker = %d needs %d on each node",
				 ag->opt.node, g, (int)(at - spec), spec, ag->cfg->tp, n->k, want);
			return -1;
		}
	}
	if (!ag->opt.status_file || !*ag->opt.status_file) {
		snprintf(n->status, sizeof n->status, "%s/%s.rank%d.status", ag->opt.log_dir,
			 ag->opt.node, n->rank);
		ag->opt.status_file = n->status;
	}
	return 0;
}

void agent_node_free(struct agent *ag)
{
	struct agent_node *n = ag->node;
	if (!n)
		return;
	if (n->bev)
		bufferevent_free(n->bev);
	if (n->retry)
		event_free(n->retry);
	if (n->drain_timer)
		event_free(n->drain_timer);
	agent_argv_free(n->nodes);
	free(n);
	ag->node = NULL;
}

void agent_node_vars(const struct agent *ag, struct agent_engine_vars *v)
{
	const struct agent_node *n = ag->node;
	v->rank = n->rank;
	v->nnodes = n->k;
	if (n->rank == 0) {
		v->master_addr = ag->host_name;
		v->master_port = n->master_port;
	} else {
		v->master_addr = n->head_host;
		v->master_port = n->head_mport;
	}
}

/* ---------------------------------------------------------------- followers */

static struct agent_slice *node_slice(struct agent_node *n)
{
	return &n->ag->slices[0];
}

static void follower_run(struct agent_node *n, int epoch)
{
	struct agent *ag = n->ag;
	struct agent_slice *s = node_slice(n);
	if (ag->phase != AP_RUNNING)
		return;
	if (s->pid > 0) {
		if (s->epoch == epoch)
			return;
		/* The engine of an older incarnation is still there: it goes first. */
		s->pending_run = epoch;
		s->halted = true;
		agent_proc_signal(s, SIGKILL);
		return;
	}
	if (s->epoch > 0)
		s->sm.restarts++;
	s->epoch = epoch;
	s->halted = false;
	s->pending_run = 0;
	s->sm.state = AS_STARTING;
	s->error[0] = '\0';
	if (agent_slice_start(s) < 0) {
		s->sm.state = AS_IDLE;
		node_send(n, "down %d", epoch);
	}
	agent_status_write(ag);
}

static void follower_halt(struct agent_node *n, int epoch, int sig)
{
	struct agent *ag = n->ag;
	struct agent_slice *s = node_slice(n);
	if (s->pending_run && s->pending_run <= epoch)
		s->pending_run = 0;
	if (s->pid <= 0 || s->epoch > epoch)
		return;
	if (s->halted && sig == SIGTERM)
		return; /* stopping already: a second SIGTERM would cut it short */
	s->halted = true;
	if (sig == SIGKILL) {
		agent_proc_signal(s, SIGKILL);
		return;
	}
	agent_proc_signal(s, SIGTERM);
	s->sm.state = AS_STOPPING;
	s->timer_kind = AGENT_T_KILL;
	agent_timer_arm(s->timer, ag->opt.kill_timeout_ms);
	agent_status_write(ag);
}

void agent_node_follower_exited(struct agent_slice *s, pid_t pid, int st)
{
	struct agent *ag = s->ag;
	struct agent_node *n = ag->node;
	char what[160];
	if (WIFSIGNALED(st))
		snprintf(what, sizeof what, "engine (rank %d) killed by signal %d", n->rank,
			 WTERMSIG(st));
	else
		snprintf(what, sizeof what, "engine (rank %d) exited with status %d", n->rank,
			 WEXITSTATUS(st));
	if (!s->halted && ag->phase == AP_RUNNING && n->grouped) {
		/* Out of routing at once, from here: rank 0 may not notice soon. */
		log_warn("worker %s: %s: out of routing; rank 0's agent restarts the worker",
			 n->worker_id, what);
		snprintf(s->error, sizeof s->error, "%s", what);
		agent_reg_deregister_id(ag, n->worker_id, "engine_exit");
		node_send(n, "down %d", s->epoch);
	} else {
		log_info("%s", what);
	}
	kill(-pid, SIGKILL); /* what the engine left behind in its group */
	if (ag->phase == AP_RUNNING) {
		s->sm.state = AS_IDLE;
		if (s->pending_run) {
			int e = s->pending_run;
			s->pending_run = 0;
			follower_run(n, e);
		}
	} else {
		s->sm.state = AS_STOPPED;
	}
	agent_status_write(ag);
	agent_check_done(ag);
}

static void follower_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct agent_node *n = arg;
	struct agent_slice *s = node_slice(n);
	if (s->pid > 0) {
		log_warn("rank 0 did not stop this rank within the drain time: killing it");
		s->halted = true;
		agent_proc_signal(s, SIGKILL);
	}
}

bool agent_node_drain(struct agent *ag)
{
	struct agent_node *n = ag->node;
	if (n->rank == 0)
		return false; /* the usual drain: rank 0's agent is the worker's */
	if (ag->phase != AP_RUNNING)
		return true;
	struct agent_slice *s = node_slice(n);
	ag->phase = AP_DRAINING;
	if (n->grouped && s->pid > 0)
		agent_reg_deregister_id(ag, n->worker_id, "sigterm");
	if (s->pid > 0) {
		int64_t drain = ag->opt.drain_ms >= 0 ? ag->opt.drain_ms : ag->cfg->drain_timeout_ms;
		s->sm.state = AS_DRAINING;
		if (!n->drain_timer)
			n->drain_timer = evtimer_new(ag->base, follower_drain_timeout, n);
		agent_timer_arm(n->drain_timer, drain + ag->opt.kill_timeout_ms + 1000);
		log_info("draining: rank %d of worker %s runs until rank 0's agent stops it", n->rank,
			 n->worker_id);
	} else {
		s->sm.state = AS_STOPPED;
	}
	agent_status_write(ag);
	agent_check_done(ag);
	return true;
}

/* ---------------------------------------------------------------- rank 0 */

void agent_node_spawned(struct agent_slice *s)
{
	struct agent_node *n = s->ag->node;
	if (s->follower)
		return;
	s->epoch++;
	node_send(n, "run %d", s->epoch);
}

void agent_node_signalled(struct agent_slice *s, int sig)
{
	if (s->follower)
		return;
	node_send(s->ag->node, "halt %d %s", s->epoch, sig_word(sig));
}

void agent_node_head_exited(struct agent_slice *s)
{
	struct agent *ag = s->ag;
	if (s->follower || s->epoch == 0)
		return;
	/* The other ranks cannot serve without rank 0: they stop too, and
	 * start again with rank 0's next start. */
	node_send(ag->node, "halt %d %s", s->epoch, ag->phase == AP_RUNNING ? "KILL" : "TERM");
}

void agent_node_state(struct agent_slice *s)
{
	if (s->follower)
		return;
	node_send(s->ag->node, "state %s", agent_state_name(s->sm.state));
}

/* Rank R's engine of EPOCH died (EPOCH -1: its agent is gone). */
static void head_peer_down(struct agent_node *n, int r, int epoch)
{
	struct agent *ag = n->ag;
	struct agent_slice *s = node_slice(n);
	if (ag->phase != AP_RUNNING || s->pid <= 0)
		return;
	if (epoch >= 0 && epoch != s->epoch)
		return; /* an engine of an earlier incarnation */
	if (s->sm.state != AS_STARTING && s->sm.state != AS_READY)
		return;
	const char *node = n->nodes && r < n->k ? n->nodes[r] : "?";
	log_warn("worker %s: rank %d on %s %s: restarting the whole worker", s->id, r, node,
		 epoch < 0 ? "lost its agent" : "ended");
	snprintf(s->error, sizeof s->error, "rank %d on %s %s", r, node,
		 epoch < 0 ? "lost its agent" : "ended");
	agent_proc_signal(s, SIGKILL);
}

/* ---------------------------------------------------------------- the hub */

static void node_group(struct agent_node *n, char **w, int nw)
{
	struct agent *ag = n->ag;
	struct agent_slice *s = node_slice(n);
	char *end;
	long hp = strtol(w[3], &end, 10), mp = *end ? -1 : strtol(w[4], &end, 10);
	long k = *end ? -1 : strtol(w[5], &end, 10);
	if (*end || hp < 1 || hp > 65535 || mp < 1 || mp > 65535 || k != n->k || nw != 6 + k ||
	    !agent_mn_name_ok(w[1]) || !agent_mn_name_ok(w[2]) || n->grouped) {
		log_warn("the hub sent a bad group line; ignored");
		return;
	}
	snprintf(n->head_node, sizeof n->head_node, "%s", w[1]);
	snprintf(n->head_host, sizeof n->head_host, "%s", w[2]);
	n->head_port = (int)hp;
	n->head_mport = (int)mp;
	snprintf(n->worker_id, sizeof n->worker_id, "%s.%s.0", ag->opt.job_id, n->head_node);
	n->nodes = calloc((size_t)k + 1, sizeof *n->nodes);
	if (!n->nodes)
		abort();
	struct buf list = BUF_INIT;
	for (long i = 0; i < k; i++) {
		n->nodes[i] = strdup(w[6 + i]);
		if (!n->nodes[i])
			abort();
		buf_printf(&list, "%s%s", i ? "," : "", w[6 + i]);
	}
	n->grouped = true;
	if (n->rank == 0) {
		s->nodes = calloc((size_t)k + 1, sizeof *s->nodes);
		if (!s->nodes)
			abort();
		for (long i = 0; i < k; i++) {
			s->nodes[i] = strdup(w[6 + i]);
			if (!s->nodes[i])
				abort();
		}
		s->nnodes = (size_t)k;
		log_info("worker %s: every rank is here (%s): starting rank 0", s->id, list.data);
		if (ag->phase == AP_RUNNING && s->sm.state == AS_IDLE)
			agent_slice_step(s, AE_START, 0);
	} else {
		log_info("worker %s: rank %d of %s; waiting for rank 0's agent", n->worker_id, n->rank,
			 list.data);
	}
	buf_free(&list);
	agent_status_write(ag);
}

static void node_hub_lost(struct agent_node *n, const char *why)
{
	struct agent *ag = n->ag;
	struct agent_slice *s = node_slice(n);
	n->connected = false;
	if (ag->phase == AP_DONE)
		return;
	if (ag->phase == AP_RUNNING)
		log_error("lost the hub (%s): stopping", why);
	else
		log_info("the hub is gone (%s)", why);
	if (n->rank == 0) {
		agent_drain(ag);
		return;
	}
	if (ag->phase < AP_STOPPING)
		ag->phase = AP_STOPPING;
	if (s->pid > 0 && !s->halted)
		follower_halt(n, s->epoch, SIGTERM);
	else if (s->pid <= 0)
		s->sm.state = AS_STOPPED;
	agent_status_write(ag);
	agent_check_done(ag);
}

static int parse_epoch(const char *w)
{
	char *end;
	long e = strtol(w, &end, 10);
	return *end || e < 0 || e > 1000000000 ? -1 : (int)e;
}

static void node_line(struct agent_node *n, char *line)
{
	char *w[300];
	int nw = agent_mn_split(line, w, 300);
	if (nw < 1) {
		log_warn("the hub sent a malformed line; ignored");
		return;
	}
	if (strcmp(w[0], "group") == 0 && nw >= 7) {
		node_group(n, w, nw);
		return;
	}
	int e = nw >= 2 ? parse_epoch(w[1]) : -1;
	if (n->rank > 0) {
		if (strcmp(w[0], "run") == 0 && nw == 2 && e > 0) {
			follower_run(n, e);
			return;
		}
		if (strcmp(w[0], "halt") == 0 && nw == 3 && e >= 0 &&
		    (!strcmp(w[2], "TERM") || !strcmp(w[2], "KILL"))) {
			follower_halt(n, e, strcmp(w[2], "KILL") == 0 ? SIGKILL : SIGTERM);
			return;
		}
		if (strcmp(w[0], "lost") == 0 && nw == 2) {
			/* Rank 0's agent is gone: the job is ending. */
			struct agent_slice *s = node_slice(n);
			log_warn("rank 0's agent is gone: stopping this rank");
			follower_halt(n, s->epoch, SIGKILL);
			return;
		}
	} else {
		if (strcmp(w[0], "down") == 0 && nw == 3 && e > 0) {
			int e2 = parse_epoch(w[2]);
			if (e2 >= 0)
				head_peer_down(n, e, e2);
			return;
		}
		if (strcmp(w[0], "lost") == 0 && nw == 2 && e > 0) {
			head_peer_down(n, e, -1);
			return;
		}
	}
	log_warn("the hub sent an unexpected \"%s\"; ignored", w[0]);
}

static void node_read(struct bufferevent *bev, void *arg)
{
	struct agent_node *n = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF))) {
		node_line(n, line);
		free(line);
		if (!n->bev)
			return;
	}
	if (evbuffer_get_length(in) > AGENT_MN_MAX_LINE) {
		bufferevent_free(n->bev);
		n->bev = NULL;
		node_hub_lost(n, "a line too long");
	}
}

static void node_connect(struct agent_node *n);

static void node_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct agent_node *n = arg;
	struct agent *ag = n->ag;
	if (what & BEV_EVENT_CONNECTED) {
		n->connected = true;
		struct agent_slice *s = node_slice(n);
		node_send(n, "hello %s %d %s %s %d %d", n->token, n->node_id, ag->opt.node,
			  ag->host_name, s->port, n->rank == 0 ? n->master_port : 0);
		log_debug("joined the hub at %s:%d as node %d (rank %d of worker %d)", n->hub_host,
			  n->hub_port, n->node_id, n->rank, n->worker);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	const char *why = what & BEV_EVENT_EOF ? "closed" : strerror(EVUTIL_SOCKET_ERROR());
	bufferevent_free(n->bev);
	n->bev = NULL;
	if (n->connected) {
		node_hub_lost(n, why);
		return;
	}
	if (agent_now_ms() > n->connect_deadline || ag->phase != AP_RUNNING) {
		/* Nothing was started yet. */
		log_error("cannot reach the hub at %s:%d: %s", n->hub_host, n->hub_port, why);
		agent_finish(ag, 1);
		return;
	}
	agent_timer_arm(n->retry, 500);
}

static void node_connect(struct agent_node *n)
{
	n->bev = bufferevent_socket_new(n->ag->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!n->bev)
		abort();
	bufferevent_setcb(n->bev, node_read, NULL, node_event, n);
	bufferevent_enable(n->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(n->bev, NULL, AF_UNSPEC, n->hub_host,
						n->hub_port) != 0)
		node_event(n->bev, BEV_EVENT_ERROR, n);
}

static void node_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_connect(arg);
}

void agent_node_start(struct agent *ag)
{
	struct agent_node *n = ag->node;
	struct agent_slice *s = node_slice(n);
	s->follower = n->rank > 0;
	n->retry = evtimer_new(ag->base, node_retry_cb, n);
	n->connect_deadline = agent_now_ms() + NODE_CONNECT_S * 1000;
	log_info("node %d of the job: rank %d of worker %d; joining the hub at %s:%d", n->node_id,
		 n->rank, n->worker, n->hub_host, n->hub_port);
	node_connect(n);
}
