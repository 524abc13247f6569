/* auth.h — authenticated control requests to elastic-registry.
 *
 * Every control request carries `Authorization:` with a credential bound
 * to the request: the SHA-256 of "ES1\nMETHOD\nTARGET\nSHA256(BODY)"
 * (hex), so a credential taken from one request is useless for another.
 *
 *   MUNGE (default)  "MUNGE <credential>": a MUNGE credential whose payload
 *                    is that digest. munged vouches for the sender's uid
 *                    and gid and refuses a credential decoded twice, so a
 *                    captured request cannot be replayed either.
 *   token            "ES-HMAC ts=T,nonce=N,mac=M": M is the HMAC-SHA-256,
 *                    keyed with a secret shared through a file of mode
 *                    0600, of "DIGEST\nT\nN". The server accepts T within
 *                    AUTH_WINDOW_S of its clock and each nonce once. The
 *                    sender's uid is not known: the server treats a valid
 *                    token as its own uid.
 *   none             no header; only for a registry on loopback that was
 *                    asked explicitly to run without authentication.
 *
 * Who may do what is the registry's policy (registry/), not this module's.
 */
#ifndef ES_AUTH_H
#define ES_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define AUTH_WINDOW_S 300   /* token timestamps accepted this far off */
#define AUTH_TOKEN_MAX 256  /* longest secret read from a token file */

enum auth_mode {
	AUTH_NONE,
	AUTH_MUNGE,
	AUTH_TOKEN,
};

/* The sending side: agents, the plugin, elasticctl. */
struct auth_client {
	enum auth_mode mode;
	char token[AUTH_TOKEN_MAX + 1]; /* AUTH_TOKEN: the secret */
	size_t token_len;
};

/* Result of a check on the receiving side. */
enum auth_result {
	AUTH_OK = 0,
	AUTH_DENIED = -1,      /* missing, malformed, forged, replayed: 401 */
	AUTH_UNAVAILABLE = -2, /* munged cannot be reached: 503, retry */
};

/* The verified sender of a request. */
struct auth_who {
	uid_t uid;             /* MUNGE: the sender's uid; token: the server's */
	gid_t gid;
	enum auth_mode via;    /* how it was established */
};

/* The receiving side: elastic-registry. */
struct auth_server {
	enum auth_mode mode;
	char token[AUTH_TOKEN_MAX + 1]; /* AUTH_TOKEN: the secret */
	size_t token_len;
	struct auth_nonce *nonces; /* AUTH_TOKEN: nonces seen in the window */
	size_t nnonces, capnonces;
	char munge_socket[108];    /* AUTH_MUNGE: munged's socket; "" for the
				      default (set after auth_server_init) */
};

/* Parses SPEC ("munge", "token:PATH" or "none") and, for a token, reads
 * and checks the file (a regular file, not readable or writable by group or
 * others). Returns 0, or -1 with ERR. */
int auth_client_init(struct auth_client *a, const char *spec, char *err, size_t errlen);

/* Appends the Authorization header's value for a request to OUT (nothing
 * for AUTH_NONE). Returns 0, or -1 with ERR (e.g. munged unreachable). */
int auth_sign(const struct auth_client *a, const char *method, const char *target,
	      const void *body, size_t len, struct buf *out, char *err, size_t errlen);

/* Sets up the receiving side for MODE. For AUTH_TOKEN reads TOKEN_PATH,
 * creating it with a fresh random secret (mode 0600) when it does not exist
 * and CREATE is set. Returns 0, or -1 with ERR. */
int auth_server_init(struct auth_server *s, enum auth_mode mode, const char *token_path,
		     int create, char *err, size_t errlen);
void auth_server_free(struct auth_server *s);

/* Checks the Authorization header HEADER (NULL when absent) of a request.
 * NOW is the current Unix time. On AUTH_OK fills WHO; otherwise ERR says
 * why, for the log and the reply. */
enum auth_result auth_check(struct auth_server *s, const char *header, const char *method,
			    const char *target, const void *body, size_t len, int64_t now,
			    struct auth_who *who, char *err, size_t errlen);

/* Whether munged listens on SOCKET (NULL or "": the default socket), by
 * connecting to it: answers at once. libmunge itself, on a socket that
 * munged left behind (killed), retries for over 2 s before it fails,
 * which an event loop or slurmstepd must not wait for. (munged logs one
 * line per such probe: call it when a failure is suspected.) */
bool auth_munged_listening(const char *socket);

/* Whether the server can check credentials now: for MUNGE, whether munged
 * answers (a credential of our own is encoded and decoded); AUTH_OK for
 * the other modes. Returns AUTH_OK or AUTH_UNAVAILABLE with ERR. */
enum auth_result auth_probe(const struct auth_server *s, char *err, size_t errlen);

/* Writes N random bytes as 2N hex digits plus a NUL into OUT. Returns 0, or
 * -1 when the kernel has no randomness to give. */
int auth_random_hex(char *out, size_t n);

/* Compares A and B of length N in time independent of their contents. */
int auth_equal(const void *a, const void *b, size_t n);

/* Reads a secret file: regular, owned by the caller or root, no group or
 * other permissions. Used for token files and API keys. Returns 0, or -1
 * with ERR. */
int auth_read_secret(const char *path, char *out, size_t outlen, size_t *len, char *err,
		     size_t errlen);

#endif
