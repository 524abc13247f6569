/* proxy_keys.c — see proxy_keys.h. */
#include "proxy_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "sha256.h"

#define KEYS_FILE_MAX (1u << 20)

struct digest {
	uint8_t d[SHA256_LEN];
};

struct proxy_keys {
	struct digest *fixed; /* proxy_keys_add */
	size_t nfixed;
	struct digest *file;  /* from the keys file */
	size_t nfile;
};

struct proxy_keys *proxy_keys_new(void)
{
	struct proxy_keys *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	return k;
}

void proxy_keys_free(struct proxy_keys *k)
{
	if (!k)
		return;
	/* The digests are not secrets, but there is no reason to leave them. */
	if (k->fixed)
		explicit_bzero(k->fixed, k->nfixed * sizeof *k->fixed);
	if (k->file)
		explicit_bzero(k->file, k->nfile * sizeof *k->file);
	free(k->fixed);
	free(k->file);
	free(k);
}

void proxy_keys_add(struct proxy_keys *k, const char *key, size_t len)
{
	struct digest *v = realloc(k->fixed, (k->nfixed + 1) * sizeof *v);
	if (!v)
		abort();
	k->fixed = v;
	sha256(key, len, v[k->nfixed++].d);
}

size_t proxy_keys_count(const struct proxy_keys *k)
{
	return k->nfixed + k->nfile;
}

static bool key_char(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

int proxy_keys_parse(struct proxy_keys *k, const char *src, size_t len, const char *filename,
		     char *err, size_t errlen)
{
	struct digest *v = NULL;
	size_t n = 0, cap = 0;
	unsigned line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *p = src + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - p) : len - pos;
		pos += l + (nl ? 1 : 0);
		line++;
		while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		while (l > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			l--;
		}
		if (l == 0 || *p == '#')
			continue;
		const char *why = NULL;
		if (l < PROXY_KEY_MIN)
			why = "key too short (at least 8 characters)";
		else if (l > PROXY_KEY_MAX)
			why = "key too long (at most 512 characters)";
		for (size_t i = 0; !why && i < l; i++)
			if (!key_char((unsigned char)p[i]))
				why = "a key is printable ASCII without spaces";
		if (why) {
			snprintf(err, errlen, "%s:%u: %s", filename, line, why);
			free(v);
			return -1;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct digest *nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				abort();
			v = nv;
		}
		sha256(p, l, v[n++].d);
	}
	free(k->file);
	k->file = v;
	k->nfile = n;
	return (int)n;
}

int proxy_keys_load(struct proxy_keys *k, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s must be owned by uid %u or root", path, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s must not be readable or writable by group or others (chmod 600)",
			 path);
		close(fd);
		return -1;
	}
	if (st.st_size > KEYS_FILE_MAX) {
		snprintf(err, errlen, "%s is larger than %u bytes", path, KEYS_FILE_MAX);
		close(fd);
		return -1;
	}
	char *text = malloc((size_t)st.st_size + 1);
	if (!text)
		abort();
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	int rc = proxy_keys_parse(k, text, got, path, err, errlen);
	explicit_bzero(text, (size_t)st.st_size + 1);
	free(text);
	return rc;
}

bool proxy_keys_check(const struct proxy_keys *k, const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	const char *key = authorization + 7;
	while (*key == ' ')
		key++;
	size_t len = strlen(key);
	while (len > 0 && key[len - 1] == ' ')
		len--;
	if (len == 0 || len > PROXY_KEY_MAX)
		return false;
	struct digest d;
	sha256(key, len, d.d);
	int ok = 0;
	for (size_t i = 0; i < k->nfixed; i++)
		ok |= auth_equal(d.d, k->fixed[i].d, SHA256_LEN);
	for (size_t i = 0; i < k->nfile; i++)
		ok |= auth_equal(d.d, k->file[i].d, SHA256_LEN);
	return ok != 0;
}
