/* sim_multinode.c — see sim_multinode.h. */
#include "sim_multinode.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sim.h"

#define MN_MAX_PEERS 1024

struct mn_peer {
	struct sim_mn *mn;
	struct bufferevent *bev;
	int rank; /* 0 until it said which */
};

struct sim_mn {
	struct event_base *base;
	int nnodes;
	int rank;
	struct sim_mn_ops ops;
	void *arg;
	/* rank 0 */
	struct evconnlistener *lev;
	struct mn_peer *peers[MN_MAX_PEERS];
	int npeers;
	int joined;
	bool ready_sent;
	/* other ranks */
	struct bufferevent *up;
	struct event *retry;
	char host[256];
	int port;
	double deadline; /* seconds, monotonic */
	bool bye;
	bool failed;
};

static double mn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mn_fail(struct sim_mn *mn, int code, const char *why)
{
	if (mn->failed)
		return;
	mn->failed = true;
	mn->ops.fail(mn->arg, code, why);
}

static void peer_drop(struct mn_peer *p)
{
	struct sim_mn *mn = p->mn;
	for (int i = 0; i < mn->npeers; i++) {
		if (mn->peers[i] == p) {
			mn->peers[i] = mn->peers[--mn->npeers];
			break;
		}
	}
	bufferevent_free(p->bev);
	free(p);
}

static void peer_read(struct bufferevent *bev, void *arg)
{
	struct mn_peer *p = arg;
	struct sim_mn *mn = p->mn;
	char *line;
	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL,
				       EVBUFFER_EOL_LF))) {
		int r;
		char extra;
		bool ok = p->rank == 0 && sscanf(line, "rank %d%c", &r, &extra) == 1 &&
			  r >= 1 && r < mn->nnodes;
		for (int i = 0; ok && i < mn->npeers; i++)
			if (mn->peers[i]->rank == r)
				ok = false;
		if (!ok) {
			log_warn("multinode: refusing a peer that said \"%.40s\"", line);
			free(line);
			peer_drop(p);
			return;
		}
		free(line);
		p->rank = r;
		mn->joined++;
		log_info("multinode: node rank %d joined (%d of %d)", r, mn->joined + 1,
			 mn->nnodes);
		if (mn->joined == mn->nnodes - 1 && !mn->ready_sent) {
			mn->ready_sent = true;
			if (mn->ops.ready)
				mn->ops.ready(mn->arg);
		}
	}
}

static void peer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct mn_peer *p = arg;
	struct sim_mn *mn = p->mn;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	int rank = p->rank;
	peer_drop(p);
	if (rank > 0) {
		char why[96];
		snprintf(why, sizeof why, "node rank %d went away", rank);
		mn->joined--;
		mn_fail(mn, 1, why);
	}
}

static void mn_accept(struct evconnlistener *lev, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	(void)lev;
	(void)sa;
	(void)salen;
	struct sim_mn *mn = arg;
	if (mn->npeers >= MN_MAX_PEERS) {
		evutil_closesocket(fd);
		return;
	}
	struct mn_peer *p = calloc(1, sizeof *p);
	if (!p) {
		evutil_closesocket(fd);
		return;
	}
	p->mn = mn;
	p->bev = bufferevent_socket_new(mn->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev) {
		free(p);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(p->bev, peer_read, NULL, peer_event, p);
	bufferevent_enable(p->bev, EV_READ);
	mn->peers[mn->npeers++] = p;
}

static void up_connect(struct sim_mn *mn);

static void up_read(struct bufferevent *bev, void *arg)
{
	struct sim_mn *mn = arg;
	char *line;
	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL,
				       EVBUFFER_EOL_LF))) {
		if (strcmp(line, "bye") == 0)
			mn->bye = true;
		free(line);
	}
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct sim_mn *mn = arg;
	if (what & BEV_EVENT_CONNECTED) {
		log_info("multinode: joined rank 0 at %s:%d as rank %d", mn->host,
			 mn->port, mn->rank);
		mn->deadline = 0;
		evbuffer_add_printf(bufferevent_get_output(mn->up), "rank %d\n", mn->rank);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	bufferevent_free(mn->up);
	mn->up = NULL;
	if (mn->deadline > 0) {
		/* Not connected yet: try again until the deadline. */
		if (mn_now() > mn->deadline) {
			mn_fail(mn, 1, "cannot reach rank 0");
			return;
		}
		struct timeval tv = {0, 500000};
		evtimer_add(mn->retry, &tv);
		return;
	}
	mn_fail(mn, mn->bye ? 0 : 1, mn->bye ? "rank 0 stopped" : "rank 0 went away");
}

static void up_connect(struct sim_mn *mn)
{
	mn->up = bufferevent_socket_new(mn->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!mn->up) {
		mn_fail(mn, 1, "out of memory");
		return;
	}
	bufferevent_setcb(mn->up, up_read, NULL, up_event, mn);
	bufferevent_enable(mn->up, EV_READ);
	if (bufferevent_socket_connect_hostname(mn->up, NULL, AF_UNSPEC, mn->host,
						mn->port) != 0)
		up_event(mn->up, BEV_EVENT_ERROR, mn);
}

static void up_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	up_connect(arg);
}

struct sim_mn *sim_mn_start(struct event_base *base, const struct sim_config *cfg,
			    const struct sim_mn_ops *ops, void *arg,
			    double join_timeout_s, char *err, size_t errlen)
{
	struct sim_mn *mn = calloc(1, sizeof *mn);
	if (!mn) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mn->base = base;
	mn->nnodes = cfg->nnodes;
	mn->rank = cfg->node_rank;
	mn->ops = *ops;
	mn->arg = arg;
	snprintf(mn->host, sizeof mn->host, "%s", cfg->master_addr);
	mn->port = cfg->master_port;
	if (mn->rank == 0) {
		struct addrinfo hints = {0}, *res = NULL;
		char port[16];
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(port, sizeof port, "%d", mn->port);
		int rc = getaddrinfo(mn->host, port, &hints, &res);
		if (rc != 0) {
			snprintf(err, errlen, "cannot resolve --master-addr %s: %s", mn->host,
				 gai_strerror(rc));
			free(mn);
			return NULL;
		}
		mn->lev = evconnlistener_new_bind(base, mn_accept, mn,
						  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
							  LEV_OPT_CLOSE_ON_EXEC,
						  64, res->ai_addr, (int)res->ai_addrlen);
		freeaddrinfo(res);
		if (!mn->lev) {
			snprintf(err, errlen, "cannot listen on %s:%d: %s", mn->host, mn->port,
				 strerror(errno));
			free(mn);
			return NULL;
		}
		log_info("multinode: rank 0 waiting for %d other node(s) on %s:%d",
			 mn->nnodes - 1, mn->host, mn->port);
		return mn;
	}
	mn->retry = evtimer_new(base, up_retry, mn);
	mn->deadline = mn_now() + join_timeout_s;
	up_connect(mn);
	return mn;
}

int sim_mn_joined(const struct sim_mn *mn)
{
	return mn && mn->rank > 0 && mn->up && mn->deadline == 0;
}

void sim_mn_bye(struct sim_mn *mn)
{
	for (int i = 0; mn && i < mn->npeers; i++) {
		/* Written directly: the process is about to exit. */
		if (write(bufferevent_getfd(mn->peers[i]->bev), "bye\n", 4) != 4)
			log_debug("multinode: cannot say goodbye to rank %d",
				  mn->peers[i]->rank);
	}
}

void sim_mn_free(struct sim_mn *mn)
{
	if (!mn)
		return;
	while (mn->npeers)
		peer_drop(mn->peers[0]);
	if (mn->lev)
		evconnlistener_free(mn->lev);
	if (mn->up)
		bufferevent_free(mn->up);
	if (mn->retry)
		event_free(mn->retry);
	free(mn);
}
