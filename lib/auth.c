/* auth.c — see auth.h. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <munge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"

struct auth_nonce {
	char nonce[33]; /* 32 hex digits */
	int64_t ts;     /* the request's timestamp; forgotten after the window */
};

int auth_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int auth_random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[128];
	if (n > sizeof b)
		return -1;
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

/* The hex digest that binds a credential to one request. */
static void request_digest(const char *method, const char *target, const void *body,
			   size_t len, char out[65])
{
	uint8_t bd[SHA256_LEN], d[SHA256_LEN];
	char bhex[65];
	struct sha256 s;
	sha256(body ? body : "", body ? len : 0, bd);
	sha256_hex(bd, bhex);
	sha256_init(&s);
	sha256_update(&s, "ES1\n", 4);
	sha256_update(&s, method, strlen(method));
	sha256_update(&s, "\n", 1);
	sha256_update(&s, target, strlen(target));
	sha256_update(&s, "\n", 1);
	sha256_update(&s, bhex, 64);
	sha256_final(&s, d);
	sha256_hex(d, out);
}

static void token_mac(const char *token, size_t tlen, const char *digest, int64_t ts,
		      const char *nonce, char out[65])
{
	char msg[160];
	uint8_t mac[SHA256_LEN];
	int n = snprintf(msg, sizeof msg, "%s\n%lld\n%s", digest, (long long)ts, nonce);
	hmac_sha256(token, tlen, msg, (size_t)n, mac);
	sha256_hex(mac, out);
}

int auth_read_secret(const char *path, char *out, size_t outlen, size_t *len, char *err,
		     size_t errlen)
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
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s is accessible by group or others (mode %04o); run chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s is owned by uid %u, not by you or root", path,
			 (unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if ((size_t)n == outlen - 1) {
		snprintf(err, errlen, "%s is too long (at most %zu bytes)", path, outlen - 2);
		return -1;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	if (n < 16) {
		snprintf(err, errlen, "%s holds a secret of %zd bytes; at least 16 are needed", path, n);
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int auth_client_init(struct auth_client *a, const char *spec, char *err, size_t errlen)
{
	memset(a, 0, sizeof *a);
	if (strcmp(spec, "munge") == 0) {
		a->mode = AUTH_MUNGE;
		return 0;
	}
	if (strcmp(spec, "none") == 0) {
		a->mode = AUTH_NONE;
		return 0;
	}
	if (strncmp(spec, "token:", 6) == 0 && spec[6]) {
		a->mode = AUTH_TOKEN;
		return auth_read_secret(spec + 6, a->token, sizeof a->token, &a->token_len, err,
					errlen);
	}
	snprintf(err, errlen, "invalid auth \"%s\"; expected munge, token:PATH or none", spec);
	return -1;
}

int auth_sign(const struct auth_client *a, const char *method, const char *target,
	      const void *body, size_t len, struct buf *out, char *err, size_t errlen)
{
	char digest[65];
	if (a->mode == AUTH_NONE)
		return 0;
	request_digest(method, target, body, len, digest);
	if (a->mode == AUTH_MUNGE) {
		char *cred = NULL;
		munge_err_t e = munge_encode(&cred, NULL, digest, 64);
		if (e != EMUNGE_SUCCESS) {
			snprintf(err, errlen, "cannot create a MUNGE credential: %s (is munged running?)",
				 munge_strerror(e));
			free(cred);
			return -1;
		}
		buf_puts(out, "MUNGE ");
		buf_puts(out, cred);
		free(cred);
		return 0;
	}
	char nonce[33], mac[65];
	if (auth_random_hex(nonce, 16) < 0) {
		snprintf(err, errlen, "cannot get random bytes: %s", strerror(errno));
		return -1;
	}
	int64_t ts = (int64_t)time(NULL);
	token_mac(a->token, a->token_len, digest, ts, nonce, mac);
	buf_printf(out, "ES-HMAC ts=%lld,nonce=%s,mac=%s", (long long)ts, nonce, mac);
	return 0;
}

int auth_server_init(struct auth_server *s, enum auth_mode mode, const char *token_path,
		     int create, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->mode = mode;
	if (mode != AUTH_TOKEN)
		return 0;
	if (create && access(token_path, F_OK) != 0 && errno == ENOENT) {
		char secret[65];
		if (auth_random_hex(secret, 32) < 0) {
			snprintf(err, errlen, "cannot get random bytes: %s", strerror(errno));
			return -1;
		}
		int fd = open(token_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "cannot create %s: %s", token_path, strerror(errno));
			return -1;
		}
		secret[64] = '\n';
		if (write(fd, secret, 65) != 65 || fsync(fd) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", token_path, strerror(errno));
			close(fd);
			unlink(token_path);
			return -1;
		}
		close(fd);
	}
	return auth_read_secret(token_path, s->token, sizeof s->token, &s->token_len, err, errlen);
}

void auth_server_free(struct auth_server *s)
{
	free(s->nonces);
	memset(s, 0, sizeof *s);
}

/* The nonce set: open addressing on the nonce's hash. A credential whose
 * timestamp left the window is refused before its nonce is looked at, so
 * only nonces with ts >= now - AUTH_WINDOW_S must be remembered; the table
 * drops the others whenever it grows. */
static uint64_t nonce_hash(const char *n)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *n; n++)
		h = (h ^ (unsigned char)*n) * 1099511628211ULL;
	return h;
}

static void nonce_put(struct auth_nonce *tab, size_t cap, const struct auth_nonce *e)
{
	size_t i = (size_t)nonce_hash(e->nonce) & (cap - 1);
	while (tab[i].nonce[0])
		i = (i + 1) & (cap - 1);
	tab[i] = *e;
}

static void nonce_rebuild(struct auth_server *s, size_t cap, int64_t now)
{
	struct auth_nonce *tab = calloc(cap, sizeof *tab);
	if (!tab)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < s->capnonces; i++) {
		if (s->nonces[i].nonce[0] && s->nonces[i].ts >= now - AUTH_WINDOW_S) {
			nonce_put(tab, cap, &s->nonces[i]);
			n++;
		}
	}
	free(s->nonces);
	s->nonces = tab;
	s->capnonces = cap;
	s->nnonces = n;
}

/* Records NONCE; returns -1 if it is already known. */
static int nonce_once(struct auth_server *s, const char *nonce, int64_t ts, int64_t now)
{
	if (s->capnonces == 0)
		nonce_rebuild(s, 64, now);
	size_t i = (size_t)nonce_hash(nonce) & (s->capnonces - 1);
	while (s->nonces[i].nonce[0]) {
		if (strcmp(s->nonces[i].nonce, nonce) == 0)
			return -1;
		i = (i + 1) & (s->capnonces - 1);
	}
	if (2 * (s->nnonces + 1) > s->capnonces) {
		nonce_rebuild(s, s->capnonces, now); /* drop expired first */
		if (4 * (s->nnonces + 1) > s->capnonces)
			nonce_rebuild(s, s->capnonces * 2, now);
	}
	struct auth_nonce e;
	memcpy(e.nonce, nonce, 33);
	e.ts = ts;
	nonce_put(s->nonces, s->capnonces, &e);
	s->nnonces++;
	return 0;
}

/* A context for S's munged socket, or NULL for the default one (also
 * when a context cannot be made: the default is then tried). */
static munge_ctx_t munge_ctx_for(const struct auth_server *s)
{
	if (!s->munge_socket[0])
		return NULL;
	munge_ctx_t ctx = munge_ctx_create();
	if (ctx && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, s->munge_socket) != EMUNGE_SUCCESS) {
		munge_ctx_destroy(ctx);
		ctx = NULL;
	}
	return ctx;
}

static enum auth_result check_munge(const struct auth_server *s, const char *cred,
				    const char *digest, struct auth_who *who, char *err,
				    size_t errlen)
{
	void *payload = NULL;
	int plen = 0;
	uid_t uid;
	gid_t gid;
	munge_ctx_t ctx = munge_ctx_for(s);
	munge_err_t e = munge_decode(cred, ctx, &payload, &plen, &uid, &gid);
	if (ctx)
		munge_ctx_destroy(ctx);
	if (e != EMUNGE_SUCCESS) {
		free(payload);
		if (e == EMUNGE_SOCKET || e == EMUNGE_TIMEOUT) {
			snprintf(err, errlen, "cannot reach munged to check the credential: %s",
				 munge_strerror(e));
			return AUTH_UNAVAILABLE;
		}
		snprintf(err, errlen, "invalid MUNGE credential: %s", munge_strerror(e));
		return AUTH_DENIED;
	}
	int match = plen == 64 && auth_equal(payload, digest, 64);
	free(payload);
	if (!match) {
		snprintf(err, errlen, "MUNGE credential was made for another request");
		return AUTH_DENIED;
	}
	who->uid = uid;
	who->gid = gid;
	who->via = AUTH_MUNGE;
	return AUTH_OK;
}

static enum auth_result check_token(struct auth_server *s, const char *v, const char *digest,
				    int64_t now, struct auth_who *who, char *err, size_t errlen)
{
	long long ts;
	char nonce[33], mac[65], want[65];
	int used = 0;
	if (sscanf(v, "ts=%lld,nonce=%32[0-9a-f],mac=%64[0-9a-f]%n", &ts, nonce, mac, &used) != 3 ||
	    v[used] != '\0' || strlen(nonce) != 32 || strlen(mac) != 64) {
		snprintf(err, errlen, "malformed ES-HMAC credential");
		return AUTH_DENIED;
	}
	token_mac(s->token, s->token_len, digest, ts, nonce, want);
	if (!auth_equal(mac, want, 64)) {
		snprintf(err, errlen, "token credential does not match this request");
		return AUTH_DENIED;
	}
	if (ts < now - AUTH_WINDOW_S || ts > now + AUTH_WINDOW_S) {
		snprintf(err, errlen, "token credential expired (clocks %lld s apart)",
			 (long long)(now - ts));
		return AUTH_DENIED;
	}
	if (nonce_once(s, nonce, ts, now) < 0) {
		snprintf(err, errlen, "token credential replayed");
		return AUTH_DENIED;
	}
	who->uid = geteuid();
	who->gid = getegid();
	who->via = AUTH_TOKEN;
	return AUTH_OK;
}

bool auth_munged_listening(const char *socket_path)
{
	munge_ctx_t ctx = munge_ctx_create();
	char *def = NULL;
	if (!socket_path || !*socket_path) {
		if (!ctx || munge_ctx_get(ctx, MUNGE_OPT_SOCKET, &def) != EMUNGE_SUCCESS || !def) {
			if (ctx)
				munge_ctx_destroy(ctx);
			return true; /* cannot tell: let libmunge try */
		}
		socket_path = def;
	}
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	bool ok = false;
	if (strlen(socket_path) < sizeof sa.sun_path) {
		strcpy(sa.sun_path, socket_path);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
			close(fd);
		}
	}
	if (ctx)
		munge_ctx_destroy(ctx); /* owns DEF */
	return ok;
}

enum auth_result auth_probe(const struct auth_server *s, char *err, size_t errlen)
{
	if (s->mode != AUTH_MUNGE)
		return AUTH_OK;
	if (!auth_munged_listening(s->munge_socket)) {
		snprintf(err, errlen, "munged does not listen on %s",
			 s->munge_socket[0] ? s->munge_socket : "its socket");
		return AUTH_UNAVAILABLE;
	}
	char *cred = NULL;
	munge_ctx_t ctx = munge_ctx_for(s);
	munge_err_t e = munge_encode(&cred, ctx, NULL, 0);
	if (e == EMUNGE_SUCCESS)
		e = munge_decode(cred, ctx, NULL, NULL, NULL, NULL);
	free(cred);
	if (ctx)
		munge_ctx_destroy(ctx);
	if (e == EMUNGE_SUCCESS)
		return AUTH_OK;
	snprintf(err, errlen, "munged does not answer: %s", munge_strerror(e));
	return AUTH_UNAVAILABLE;
}

enum auth_result auth_check(struct auth_server *s, const char *header, const char *method,
			    const char *target, const void *body, size_t len, int64_t now,
			    struct auth_who *who, char *err, size_t errlen)
{
	char digest[65];
	if (s->mode == AUTH_NONE) {
		who->uid = geteuid();
		who->gid = getegid();
		who->via = AUTH_NONE;
		return AUTH_OK;
	}
	if (!header || !*header) {
		snprintf(err, errlen, "missing Authorization header (%s credential required)",
			 s->mode == AUTH_MUNGE ? "MUNGE" : "token");
		return AUTH_DENIED;
	}
	request_digest(method, target, body, len, digest);
	if (s->mode == AUTH_MUNGE && strncmp(header, "MUNGE ", 6) == 0)
		return check_munge(s, header + 6, digest, who, err, errlen);
	if (s->mode == AUTH_TOKEN && strncmp(header, "ES-HMAC ", 8) == 0)
		return check_token(s, header + 8, digest, now, who, err, errlen);
	snprintf(err, errlen, "unsupported Authorization scheme (this registry wants %s)",
		 s->mode == AUTH_MUNGE ? "MUNGE" : "ES-HMAC");
	return AUTH_DENIED;
}
