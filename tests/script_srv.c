/* script_srv.c — see script_srv.h. */
#include "script_srv.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *script_srv_main(void *arg)
{
	struct script_srv *s = arg;
	while (s->answers[s->served]) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			break;
		struct buf req = BUF_INIT;
		char chunk[4096];
		for (;;) {
			ssize_t n = read(c, chunk, sizeof chunk);
			if (n <= 0)
				break;
			buf_append(&req, chunk, (size_t)n);
			char *end = strstr(req.data, "\r\n\r\n");
			if (!end)
				continue;
			const char *cl = strcasestr(req.data, "content-length:");
			size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
			if (req.len - (size_t)(end + 4 - req.data) >= want)
				break;
		}
		char *eol = strstr(req.data ? req.data : "", "\r\n");
		char *body = strstr(req.data ? req.data : "", "\r\n\r\n");
		if (eol && body)
			buf_printf(&s->log, "%.*s\n%s\n", (int)(eol - req.data), req.data, body + 4);
		/* Counted before the client can see the answer. */
		const char *a = s->answers[s->served++];
		ssize_t w = write(c, a, strlen(a));
		(void)w;
		close(c);
		buf_free(&req);
	}
	return NULL;
}

void script_srv_start(struct script_srv *s, const char *const *answers)
{
	memset(s, 0, sizeof *s);
	s->answers = answers;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(s->fd, 16), 0);
	socklen_t al = sizeof a;
	getsockname(s->fd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, script_srv_main, s);
}

void script_srv_stop(struct script_srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->th, NULL);
	buf_free(&s->log);
}
