/* es_notify.h — the exit notice: POST /api/v1/jobs/ended from slurmstepd.
 *
 * Sent from the exit callback as root, authenticated (lib/auth: a MUNGE
 * credential of uid 0, or the token of plugstack's auth=), and bounded:
 * the work (credential, name lookup, connect, request, answer) runs in a
 * child process that is killed when TIMEOUT_MS have passed, so slurmstepd
 * waits at most that long whatever munged, DNS or the registry do.
 */
#ifndef ES_NOTIFY_H
#define ES_NOTIFY_H

#include <stddef.h>

#include "buf.h"

struct es_notice {
	const char *registry; /* base URL */
	const char *auth;     /* munge|token:PATH|none */
	const char *job_id;   /* "1234" or "1234_7" */
	const char *node;     /* this node */
	const char *reason;   /* preempted|cancelled|timeout|completed|failed|node_fail|unknown */
	int exit_code;        /* of the batch script, -1 unknown */
	int sig;              /* signal that ended it, 0 none */
};

/* The JSON body of the notice. */
void es_notice_body(const struct es_notice *n, struct buf *out);

/* Sends the notice within TIMEOUT_MS. Returns the HTTP status (200 when the
 * registry took it), or -1 with ERR. */
int es_notify_send(const struct es_notice *n, int timeout_ms, char *err, size_t errlen);

/* The same, in this process, without the child: what the child runs. */
int es_notify_direct(const struct es_notice *n, int timeout_ms, char *err, size_t errlen);

#endif
