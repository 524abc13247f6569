/* script_srv.h — a scripted HTTP server for the tests (loopback): each
 * connection gets the next canned response, and every request's line and
 * body is recorded.
 *
 *   static const char *const answers[] = {"HTTP/1.1 200 OK\r\n...", NULL};
 *   struct script_srv s;
 *   script_srv_start(&s, answers);     ... talk to 127.0.0.1:s.port ...
 *   script_srv_stop(&s);
 */
#ifndef ES_TEST_SCRIPT_SRV_H
#define ES_TEST_SCRIPT_SRV_H

#include <pthread.h>

#include "buf.h"

struct script_srv {
	int fd;                     /* the listening socket */
	int port;                   /* its port */
	const char *const *answers; /* raw HTTP responses, NULL-terminated */
	int served;                 /* answers sent so far */
	struct buf log;             /* "METHOD PATH HTTP/1.1\nBODY\n" per request */
	pthread_t th;               /* the thread that serves */
};

/* Listens on an ephemeral loopback port and serves ANSWERS, one a
 * connection, in a thread of its own. */
void script_srv_start(struct script_srv *s, const char *const *answers);
/* Stops serving (whatever answers are left) and frees the log. */
void script_srv_stop(struct script_srv *s);

#endif
