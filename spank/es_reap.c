/* es_reap.c — see es_reap.h. */
#include "es_reap.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the environment of PID (under PROC) holds NEEDLE as an entry. */
static int es_env_has(const char *proc, const char *pid, const char *needle, size_t nlen)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s/environ", proc, pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* An environment is at most a few MiB (ARG_MAX): read it whole. */
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int found = 0;
	while (buf) {
		if (len == cap) {
			if (cap >= (8u << 20))
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; buf && i < len;) {
		char *z = memchr(buf + i, '\0', len - i);
		size_t el = z ? (size_t)(z - (buf + i)) : len - i;
		if (el == nlen && memcmp(buf + i, needle, nlen) == 0) {
			found = 1;
			break;
		}
		i += el + 1;
	}
	free(buf);
	return found;
}

int es_reap(const char *proc, uid_t uid, const char *token, int passes)
{
	char needle[128];
	int killed = 0;
	if (!token || !*token)
		return 0;
	int nl = snprintf(needle, sizeof needle, "%s=%s", ES_RUN_VAR, token);
	if (nl <= 0 || (size_t)nl >= sizeof needle)
		return 0;
	pid_t self = getpid();
	for (int pass = 0; pass < passes; pass++) {
		DIR *d = opendir(proc);
		if (!d)
			return killed;
		int found = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 1 || pid == self)
				continue;
			char path[600];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", proc, e->d_name);
			if (stat(path, &st) < 0 || st.st_uid != uid)
				continue;
			if (!es_env_has(proc, e->d_name, needle, (size_t)nl))
				continue;
			if (kill((pid_t)pid, SIGKILL) == 0) {
				killed++;
				found++;
			}
		}
		closedir(d);
		if (!found)
			break;
		usleep(20000); /* let the killed ones go before looking again */
	}
	return killed;
}
