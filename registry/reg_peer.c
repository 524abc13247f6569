/* reg_peer.c — see reg_peer.h.
 *
 * The resolver: a name is looked up by getaddrinfo() on a detached thread
 * that owns its job and a duplicate of the write end of a socket pair; it
 * sends the job's pointer back when done. The loop reads it, caches the
 * answer and hands it to every lookup waiting for that name. When the
 * resolver is gone first, the send fails (EPIPE, no signal) and the thread
 * frees its job itself: freeing never waits for a thread.
 */
#include "reg_peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "reg_util.h"

/* ---------------------------------------------------------------- addresses */

static void from_sockaddr(const struct sockaddr *sa, struct reg_addr *out)
{
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		out->family = AF_INET;
		memcpy(out->a, a6->s6_addr + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->a, a6->s6_addr, 16);
	}
}

int reg_addr_parse(const char *text, struct reg_addr *out)
{
	struct in_addr a4;
	struct in6_addr a6;
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		out->family = AF_INET;
		memcpy(out->a, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		out->family = AF_INET;
		memcpy(out->a, a6.s6_addr + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->a, a6.s6_addr, 16);
	}
	return 0;
}

void reg_addr_str(const struct reg_addr *a, char *out, size_t len)
{
	if (!inet_ntop(a->family, a->a, out, (socklen_t)len))
		snprintf(out, len, "?");
}

bool reg_addr_eq(const struct reg_addr *x, const struct reg_addr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

bool reg_addr_is_loopback(const struct reg_addr *a)
{
	static const unsigned char v6lo[16] = {[15] = 1};
	if (a->family == AF_INET)
		return a->a[0] == 127;
	return memcmp(a->a, v6lo, 16) == 0;
}

size_t reg_peer_local_addrs(struct reg_addr *out, size_t max)
{
	struct ifaddrs *ifa = NULL;
	size_t n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		from_sockaddr(i->ifa_addr, &out[n++]);
	}
	freeifaddrs(ifa);
	return n;
}

static bool is_local(const struct reg_addr *a, const struct reg_addr *local, size_t nlocal)
{
	if (reg_addr_is_loopback(a))
		return true;
	for (size_t i = 0; i < nlocal; i++)
		if (reg_addr_eq(a, &local[i]))
			return true;
	return false;
}

bool reg_peer_allowed(const struct reg_addr *peer, const struct reg_addr *addrs, size_t n,
		      const struct reg_addr *local, size_t nlocal)
{
	if (n == 0)
		return false;
	if (!reg_addr_is_loopback(peer))
		for (size_t i = 0; i < n; i++)
			if (reg_addr_eq(peer, &addrs[i]))
				return true;
	if (!is_local(peer, local, nlocal))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_local(&addrs[i], local, nlocal))
			return false;
	return true;
}

/* ---------------------------------------------------------------- resolver */

#define CACHE_MAX 1024

/* A name being looked up on a thread. */
struct job {
	char host[256];
	int wfd;                  /* the thread's own copy of the write end */
	int err;                  /* EAI_*, 0 */
	struct reg_addr addrs[REG_PEER_MAX_ADDRS];
	size_t n;
};

struct cache_entry {
	char host[256];
	int err;
	struct reg_addr addrs[REG_PEER_MAX_ADDRS];
	size_t n;
	int64_t expires;          /* monotonic ms */
	struct cache_entry *next;
};

struct reg_lookup {
	struct reg_resolver *rs;
	char host[256];
	reg_peer_resolved_fn cb;
	void *arg;
	struct event *ev;         /* runs the callback from the loop */
	bool waiting;             /* on a thread's answer (in rs->waiting) */
	int err;
	struct reg_addr addrs[REG_PEER_MAX_ADDRS];
	size_t n;
	struct reg_lookup *prev, *next;
};

struct reg_resolver {
	struct event_base *base;
	int64_t ttl_ms;
	int fds[2];               /* [0] read by the loop, [1] duplicated for threads */
	struct event *rev;
	struct cache_entry *cache;
	size_t ncache;
	struct reg_lookup *waiting;   /* lookups waiting for a thread */
	struct reg_lookup *ready;     /* lookups whose callback is due */
};

static void unlink_lookup(struct reg_lookup **head, struct reg_lookup *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		*head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
}

static void push_lookup(struct reg_lookup **head, struct reg_lookup *l)
{
	l->prev = NULL;
	l->next = *head;
	if (*head)
		(*head)->prev = l;
	*head = l;
}

static void fire_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reg_lookup *l = arg;
	unlink_lookup(&l->rs->ready, l);
	reg_peer_resolved_fn cb = l->cb;
	void *cbarg = l->arg;
	int err = l->err;
	struct reg_addr addrs[REG_PEER_MAX_ADDRS];
	size_t n = l->n;
	if (n)
		memcpy(addrs, l->addrs, n * sizeof *addrs);
	event_free(l->ev);
	free(l);
	cb(err, addrs, n, cbarg);
}

/* Answers L from the loop. */
static void answer(struct reg_lookup *l, int err, const struct reg_addr *addrs, size_t n)
{
	l->err = err;
	l->n = n;
	if (n)
		memcpy(l->addrs, addrs, n * sizeof *addrs);
	l->waiting = false;
	push_lookup(&l->rs->ready, l);
	event_active(l->ev, EV_TIMEOUT, 0);
}

static struct cache_entry *cache_find(struct reg_resolver *rs, const char *host, int64_t now)
{
	struct cache_entry **pp = &rs->cache;
	while (*pp) {
		struct cache_entry *e = *pp;
		if (e->expires <= now) {
			*pp = e->next;
			free(e);
			rs->ncache--;
			continue;
		}
		if (strcasecmp(e->host, host) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

static void cache_put(struct reg_resolver *rs, const struct job *j, int64_t now)
{
	struct cache_entry *e = cache_find(rs, j->host, now);
	if (!e) {
		if (rs->ncache >= CACHE_MAX) {
			/* Full of live entries: forget them all (rare, cheap). */
			while (rs->cache) {
				struct cache_entry *x = rs->cache;
				rs->cache = x->next;
				free(x);
			}
			rs->ncache = 0;
		}
		e = calloc(1, sizeof *e);
		if (!e)
			abort();
		e->next = rs->cache;
		rs->cache = e;
		rs->ncache++;
	}
	reg_strlcpy(e->host, j->host, sizeof e->host);
	e->err = j->err;
	e->n = j->n;
	if (j->n)
		memcpy(e->addrs, j->addrs, j->n * sizeof *e->addrs);
	int64_t ttl = j->err ? rs->ttl_ms / 10 : rs->ttl_ms;
	e->expires = now + (ttl < 1000 ? 1000 : ttl);
}

static void *lookup_thread(void *arg)
{
	struct job *j = arg;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(j->host, NULL, &hints, &res);
	if (rc == 0) {
		for (struct addrinfo *a = res; a && j->n < REG_PEER_MAX_ADDRS; a = a->ai_next) {
			if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
				continue;
			struct reg_addr x;
			from_sockaddr(a->ai_addr, &x);
			bool dup = false;
			for (size_t k = 0; k < j->n; k++)
				dup = dup || reg_addr_eq(&x, &j->addrs[k]);
			if (!dup)
				j->addrs[j->n++] = x;
		}
		freeaddrinfo(res);
		j->err = j->n ? 0 : EAI_NONAME;
	} else {
		j->err = rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL ? EAI_NONAME : EAI_AGAIN;
	}
	struct job *p = j;
	int wfd = j->wfd;
	ssize_t w;
	do
		w = send(wfd, &p, sizeof p, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	close(wfd);
	if (w != (ssize_t)sizeof p)
		free(j); /* the resolver is gone */
	return NULL;
}

static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct reg_resolver *rs = arg;
	for (;;) {
		struct job *j;
		ssize_t r = recv(fd, &j, sizeof j, MSG_DONTWAIT);
		if (r != (ssize_t)sizeof j)
			return;
		int64_t now = reg_mono_ms();
		cache_put(rs, j, now);
		struct reg_lookup *l = rs->waiting;
		while (l) {
			struct reg_lookup *next = l->next;
			if (strcasecmp(l->host, j->host) == 0) {
				unlink_lookup(&rs->waiting, l);
				answer(l, j->err, j->addrs, j->n);
			}
			l = next;
		}
		free(j);
	}
}

struct reg_resolver *reg_resolver_new(struct event_base *base, int64_t ttl_ms)
{
	struct reg_resolver *rs = calloc(1, sizeof *rs);
	if (!rs)
		abort();
	rs->base = base;
	rs->ttl_ms = ttl_ms;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, rs->fds) < 0) {
		free(rs);
		return NULL;
	}
	rs->rev = event_new(base, rs->fds[0], EV_READ | EV_PERSIST, on_job_done, rs);
	if (!rs->rev)
		abort();
	event_add(rs->rev, NULL);
	return rs;
}

void reg_resolver_free(struct reg_resolver *rs)
{
	if (!rs)
		return;
	struct reg_lookup **lists[] = {&rs->waiting, &rs->ready};
	for (int k = 0; k < 2; k++) {
		while (*lists[k]) {
			struct reg_lookup *l = *lists[k];
			unlink_lookup(lists[k], l);
			event_free(l->ev);
			free(l);
		}
	}
	while (rs->cache) {
		struct cache_entry *e = rs->cache;
		rs->cache = e->next;
		free(e);
	}
	event_free(rs->rev);
	close(rs->fds[0]);
	close(rs->fds[1]);
	free(rs);
}

static bool job_pending(struct reg_resolver *rs, const char *host)
{
	for (struct reg_lookup *l = rs->waiting; l; l = l->next)
		if (strcasecmp(l->host, host) == 0)
			return true;
	return false;
}

struct reg_lookup *reg_resolve(struct reg_resolver *rs, const char *host, reg_peer_resolved_fn cb,
			       void *arg)
{
	struct reg_lookup *l = calloc(1, sizeof *l);
	if (!l)
		abort();
	l->rs = rs;
	l->cb = cb;
	l->arg = arg;
	reg_strlcpy(l->host, host, sizeof l->host);
	l->ev = event_new(rs->base, -1, 0, fire_cb, l);
	if (!l->ev)
		abort();
	struct reg_addr a;
	if (reg_addr_parse(host, &a) == 0) {
		answer(l, 0, &a, 1);
		return l;
	}
	if (strlen(host) >= sizeof l->host) {
		answer(l, EAI_NONAME, NULL, 0);
		return l;
	}
	struct cache_entry *e = cache_find(rs, host, reg_mono_ms());
	if (e) {
		answer(l, e->err, e->addrs, e->n);
		return l;
	}
	bool pending = job_pending(rs, host);
	l->waiting = true;
	push_lookup(&rs->waiting, l);
	if (pending)
		return l;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	reg_strlcpy(j->host, host, sizeof j->host);
	j->wfd = fcntl(rs->fds[1], F_DUPFD_CLOEXEC, 0);
	pthread_attr_t attr;
	pthread_t tid;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = j->wfd < 0 ? -1 : pthread_create(&tid, &attr, lookup_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		if (j->wfd >= 0)
			close(j->wfd);
		free(j);
		unlink_lookup(&rs->waiting, l);
		answer(l, EAI_AGAIN, NULL, 0);
	}
	return l;
}

void reg_resolve_cancel(struct reg_lookup *l)
{
	if (!l)
		return;
	unlink_lookup(l->waiting ? &l->rs->waiting : &l->rs->ready, l);
	event_free(l->ev);
	free(l);
}
