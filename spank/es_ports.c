/* es_ports.c — see es_ports.h. */
#include "es_ports.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int es_port_bindable(int port)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = 0;
	if (fd >= 0) {
		/* [::] with IPV6_V6ONLY off covers IPv4 and IPv6 at once. */
		int off = 0, on = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
					  .sin6_addr = IN6ADDR_ANY_INIT};
		ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok || errno != EAFNOSUPPORT)
			return ok;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

int es_port_gpu_id(const char *job_gpus, size_t ndev, int idx, int size)
{
	if (!job_gpus || !*job_gpus)
		return -1;
	size_t want = (size_t)idx * (size_t)size, n = 0;
	long id = -1;
	const char *p = job_gpus;
	for (;;) {
		const char *e = p + strcspn(p, ",");
		if (n == want) {
			char *end;
			if (e == p)
				return -1;
			id = strtol(p, &end, 10);
			if (end != e || id < 0 || id > 65535)
				return -1;
		}
		n++;
		if (!*e)
			break;
		p = e + 1;
	}
	return n == ndev ? (int)id : -1;
}

static int es_mkdir_root(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	/* Reservations must not be forgeable by users. */
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s must be owned by uid %d and not writable by others", dir,
			 (int)geteuid());
		return -1;
	}
	return 0;
}

int es_port_pick(const char *run_dir, int base, int id, int idx, struct es_port_lock *l,
		 char *err, size_t errlen)
{
	int off = id >= 0 ? id : idx;
	l->port = -1;
	l->fd = -1;
	if (run_dir && es_mkdir_root(run_dir, err, errlen) < 0)
		return -1;
	for (int k = 0; k < ES_PORT_TRIES; k++) {
		int port = base + off + k * ES_PORT_SPAN;
		if (port > 65535)
			break;
		int fd = -1;
		if (run_dir) {
			char path[1024];
			snprintf(path, sizeof path, "%s/port-%d.lock", run_dir, port);
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd < 0) {
				snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
				return -1;
			}
			if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
				close(fd);
				continue; /* another step of this host has it */
			}
		}
		if (!es_port_bindable(port)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		l->port = port;
		l->fd = fd;
		return 0;
	}
	snprintf(err, errlen, "no free port for slice %d: tried %d from %d in steps of %d", idx,
		 ES_PORT_TRIES, base + off, ES_PORT_SPAN);
	return -1;
}

void es_port_release(struct es_port_lock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
