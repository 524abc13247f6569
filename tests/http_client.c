/* http_client.c — see http_client.h. Uses lib/http_parse for responses. */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_parse.h"

int tc_connect(struct tc_conn *c, int port, int timeout_ms)
{
	c->in = (struct buf)BUF_INIT;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

void tc_close(struct tc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

int tc_send(struct tc_conn *c, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int tc_sends(struct tc_conn *c, const char *s)
{
	return tc_send(c, s, strlen(s));
}

/* Reads more bytes into c->in. Returns bytes read, 0 on EOF, -1 on error. */
static ssize_t tc_fill(struct tc_conn *c)
{
	buf_reserve(&c->in, 65536);
	ssize_t n;
	do
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
	return n;
}

static void tc_consume(struct tc_conn *c, size_t n)
{
	memmove(c->in.data, c->in.data + n, c->in.len - n);
	c->in.len -= n;
	c->in.data[c->in.len] = '\0';
}

static void tc_collect(void *arg, const char *data, size_t len)
{
	buf_append(arg, data, len);
}

int tc_read(struct tc_conn *c, struct tc_resp *r, bool keep_1xx)
{
	struct hp_limits lim;
	hp_limits_default(&lim);
	lim.max_head = 65536;
	*r = (struct tc_resp){0};
again:;
	struct hp_msg m;
	hp_msg_init(&m, HP_RESPONSE);
	for (;;) {
		int rc = c->in.len ? hp_parse(&m, c->in.data, c->in.len, &lim) : HP_AGAIN;
		if (rc == HP_ERROR)
			return -1;
		if (rc == HP_OK)
			break;
		if (tc_fill(c) <= 0)
			return -1;
	}
	if (m.status < 200 && !keep_1xx) {
		tc_consume(c, m.head_len);
		goto again;
	}
	r->status = m.status;
	buf_reset(&r->head);
	buf_append(&r->head, c->in.data, m.head_len);
	tc_consume(c, m.head_len);
	if (m.body == HP_BODY_LENGTH) {
		while (c->in.len < m.content_length)
			if (tc_fill(c) <= 0)
				return -1;
		buf_append(&r->body, c->in.data, (size_t)m.content_length);
		tc_consume(c, (size_t)m.content_length);
	} else if (m.body == HP_BODY_CHUNKED) {
		struct hp_chunked ch;
		hp_chunked_init(&ch);
		r->chunked = true;
		for (;;) {
			size_t used = 0;
			int rc = c->in.len ? hp_chunked_feed(&ch, c->in.data, c->in.len,
							     &used, tc_collect, &r->body)
					   : HP_AGAIN;
			if (rc == HP_ERROR)
				return -1;
			tc_consume(c, used);
			if (rc == HP_OK)
				break;
			if (tc_fill(c) <= 0)
				return -1;
		}
	} else if (m.body == HP_BODY_EOF) {
		for (;;) {
			buf_append(&r->body, c->in.data, c->in.len);
			tc_consume(c, c->in.len);
			ssize_t n = tc_fill(c);
			if (n == 0)
				break;
			if (n < 0)
				return -1;
		}
		r->closed = true;
	}
	if (!r->body.data)
		buf_reserve(&r->body, 0);
	if (!m.keep_alive)
		r->closed = true;
	return 0;
}

bool tc_eof(struct tc_conn *c, int timeout_ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	char b[4096];
	ssize_t n = read(c->fd, b, sizeof b);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

void tc_resp_free(struct tc_resp *r)
{
	buf_free(&r->head);
	buf_free(&r->body);
}

int tc_request(int port, const char *method, const char *path,
	       const char *body, struct buf *out)
{
	struct tc_conn c;
	if (tc_connect(&c, port, 5000) != 0)
		return -1;
	struct buf req = BUF_INIT;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", method,
		   path);
	if (body)
		buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			   strlen(body));
	buf_puts(&req, "\r\n");
	if (body)
		buf_puts(&req, body);
	int status = -1;
	struct tc_resp r = {0};
	if (tc_send(&c, req.data, req.len) == 0 && tc_read(&c, &r, false) == 0) {
		status = r.status;
		if (out)
			buf_append(out, r.body.data, r.body.len);
	}
	tc_resp_free(&r);
	buf_free(&req);
	tc_close(&c);
	return status;
}
