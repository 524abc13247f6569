/* hcall.c — see hcall.h. */
#include "hcall.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"

#define HCALL_READ_SIZE 16384

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strerror() in git's style: lower-case first letter. */
static void errno_msg(char *err, size_t errlen, int e)
{
	snprintf(err, errlen, "%s", strerror(e));
	if (err[0] && isupper((unsigned char)err[0]) && !isupper((unsigned char)err[1]))
		err[0] = (char)tolower((unsigned char)err[0]);
}

int hcall_parse_url(const char *url, struct hcall_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	u->port = 80;
	if (strncasecmp(url, "http://", 7) != 0) {
		if (strncasecmp(url, "https://", 8) == 0)
			snprintf(err, errlen, "https is not supported in %s (use http://)", url);
		else
			snprintf(err, errlen, "'%s' is not an http:// URL", url);
		return -1;
	}
	const char *p = url + 7, *h, *he;
	if (*p == '[') {
		h = p + 1;
		he = strchr(h, ']');
		if (!he) {
			snprintf(err, errlen, "missing ']' in %s", url);
			return -1;
		}
		p = he + 1;
	} else {
		h = p;
		he = h + strcspn(h, ":/?#");
		p = he;
	}
	size_t hl = (size_t)(he - h);
	if (hl == 0 || hl >= sizeof u->host) {
		snprintf(err, errlen, "%s host in %s", hl ? "overlong" : "no", url);
		return -1;
	}
	/* A host name (letters, digits, '.', '-', '_'), an IPv4 address, or
	 * an IPv6 address in brackets: nothing that could mean another host
	 * to another URL parser ("[a/b]", "a@b"). */
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != '_' && !(h[-1] == '[' && c == ':')) {
			snprintf(err, errlen, "bad character in the host of %s", url);
			return -1;
		}
	}
	memcpy(u->host, h, hl);
	struct in6_addr a6;
	if (h[-1] == '[' && inet_pton(AF_INET6, u->host, &a6) != 1) {
		snprintf(err, errlen, "'%s' in brackets is not an IPv6 address in %s", u->host, url);
		return -1;
	}
	if (*p == ':') {
		p++;
		long port = 0;
		int nd = 0;
		while (isdigit((unsigned char)*p) && nd < 6) {
			port = port * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0 || port < 1 || port > 65535 || isdigit((unsigned char)*p)) {
			snprintf(err, errlen, "bad port in %s", url);
			return -1;
		}
		u->port = (int)port;
	}
	if (*p == '/') {
		size_t pl = strlen(p);
		while (pl > 0 && p[pl - 1] == '/')
			pl--;
		if (pl >= sizeof u->prefix) {
			snprintf(err, errlen, "overlong path in %s", url);
			return -1;
		}
		for (size_t i = 0; i < pl; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c <= ' ' || c >= 0x7f || c == '?' || c == '#') {
				snprintf(err, errlen, "bad character in the path of %s", url);
				return -1;
			}
		}
		memcpy(u->prefix, p, pl);
		p += strlen(p);
	}
	if (*p) {
		/* one byte of a multi-byte character is not text: show its code */
		unsigned char c = (unsigned char)*p;
		if (c > ' ' && c < 0x7f)
			snprintf(err, errlen, "unexpected '%c' in %s", c, url);
		else
			snprintf(err, errlen, "unexpected byte 0x%02x in %s", c, url);
		buf_utf8_trim(err);
		return -1;
	}
	return 0;
}

void hcall_resp_free(struct hcall_resp *resp)
{
	if (!resp)
		return;
	buf_free(&resp->body);
}

/* Waits until FD is ready for EVENTS or the deadline passes. Returns 1
 * when ready, 0 on timeout, -1 on a poll error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Connects to one address. Returns the socket, or -1 with *E set (errno,
 * or ETIMEDOUT when the deadline passed). */
static int connect_addr(const struct addrinfo *ai, int64_t deadline, int *e)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		*e = errno;
		close(fd);
		return -1;
	}
	int r = wait_fd(fd, POLLOUT, deadline);
	if (r <= 0) {
		*e = r == 0 ? ETIMEDOUT : errno;
		close(fd);
		return -1;
	}
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		*e = soerr;
		close(fd);
		return -1;
	}
	return fd;
}

struct body_sink {
	struct buf *out;
	size_t max;
	int too_big;
};

static void sink_data(void *arg, const char *data, size_t len)
{
	struct body_sink *s = arg;
	if (s->too_big || s->out->len + len > s->max) {
		s->too_big = 1;
		return;
	}
	buf_append(s->out, data, len);
}

/* Reads more bytes into IN. Returns >0 bytes read, 0 at EOF, HCALL_ETIMEOUT
 * or HCALL_EIO (with ERR). */
static int read_more(int fd, struct buf *in, int64_t deadline, int timeout_ms, char *err,
		     size_t errlen)
{
	for (;;) {
		buf_reserve(in, HCALL_READ_SIZE);
		ssize_t n = recv(fd, in->data + in->len, HCALL_READ_SIZE, 0);
		if (n > 0) {
			in->len += (size_t)n;
			in->data[in->len] = '\0';
			return (int)n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			errno_msg(err, errlen, errno);
			return HCALL_EIO;
		}
		int r = wait_fd(fd, POLLIN, deadline);
		if (r == 0) {
			snprintf(err, errlen, "timed out after %d ms waiting for the response",
				 timeout_ms);
			return HCALL_ETIMEOUT;
		}
		if (r < 0) {
			errno_msg(err, errlen, errno);
			return HCALL_EIO;
		}
	}
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline, int timeout_ms,
		    char *err, size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			errno_msg(err, errlen, errno);
			return HCALL_EIO;
		}
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0) {
			snprintf(err, errlen, "timed out after %d ms sending the request", timeout_ms);
			return HCALL_ETIMEOUT;
		}
		if (r < 0) {
			errno_msg(err, errlen, errno);
			return HCALL_EIO;
		}
	}
	return 0;
}

/* Receives and parses one response on FD into RESP. */
static int receive(int fd, const char *method, const struct hcall_opts *o, int64_t deadline,
		   int timeout_ms, struct hcall_resp *resp, char *err, size_t errlen)
{
	struct buf in = BUF_INIT;
	struct hp_msg *m = malloc(sizeof *m);
	struct hp_limits lim;
	size_t start = 0; /* where the current head starts in IN (after 1xx) */
	int rc = HCALL_OK;
	if (!m)
		abort();
	hp_limits_default(&lim);
	lim.max_head = o->max_head;

	hp_msg_init(m, HP_RESPONSE);
	m->head_response = strcmp(method, "HEAD") == 0;
	for (;;) {
		int r = hp_parse(m, in.data ? in.data + start : "", in.len - start, &lim);
		if (r == HP_ERROR) {
			snprintf(err, errlen, "bad response: %s", m->err);
			rc = m->err_status == 431 ? HCALL_ETOOBIG : HCALL_EPROTO;
			goto out;
		}
		if (r == HP_OK) {
			if (m->status >= 100 && m->status < 200 && m->status != 101) {
				start += m->head_len; /* 100 Continue and friends */
				hp_msg_init(m, HP_RESPONSE);
				m->head_response = strcmp(method, "HEAD") == 0;
				continue;
			}
			break;
		}
		int n = read_more(fd, &in, deadline, timeout_ms, err, errlen);
		if (n < 0) {
			rc = n;
			goto out;
		}
		if (n == 0) {
			snprintf(err, errlen, "connection closed before a complete response");
			rc = HCALL_EIO;
			goto out;
		}
	}

	resp->status = m->status;
	const char *head = in.data + start;
	const struct hp_header *ct = hp_find(m, head, "Content-Type");
	if (ct && ct->value.len < sizeof resp->content_type) {
		memcpy(resp->content_type, head + ct->value.off, ct->value.len);
		resp->content_type[ct->value.len] = '\0';
	}
	size_t pos = start + m->head_len; /* first body byte in IN */
	struct body_sink sink = {&resp->body, o->max_body, 0};

	switch (m->body) {
	case HP_BODY_NONE:
		break;
	case HP_BODY_LENGTH:
		if (m->content_length > o->max_body) {
			snprintf(err, errlen, "response too large (%llu bytes, at most %zu)",
				 (unsigned long long)m->content_length, o->max_body);
			rc = HCALL_ETOOBIG;
			goto out;
		}
		while (in.len - pos < m->content_length) {
			int n = read_more(fd, &in, deadline, timeout_ms, err, errlen);
			if (n < 0) {
				rc = n;
				goto out;
			}
			if (n == 0) {
				snprintf(err, errlen, "connection closed in the middle of the body");
				rc = HCALL_EIO;
				goto out;
			}
		}
		buf_append(&resp->body, in.data + pos, (size_t)m->content_length);
		break;
	case HP_BODY_CHUNKED: {
		struct hp_chunked ch;
		hp_chunked_init(&ch);
		for (;;) {
			size_t used = 0;
			int r = hp_chunked_feed(&ch, in.data + pos, in.len - pos, &used, sink_data,
						&sink);
			pos += used;
			if (sink.too_big) {
				snprintf(err, errlen, "response too large (more than %zu bytes)",
					 o->max_body);
				rc = HCALL_ETOOBIG;
				goto out;
			}
			if (r == HP_OK)
				break;
			if (r == HP_ERROR) {
				snprintf(err, errlen, "bad chunked body: %s", ch.err);
				rc = HCALL_EPROTO;
				goto out;
			}
			/* All consumed: start over in IN to keep it small. */
			in.len = pos = 0;
			int n = read_more(fd, &in, deadline, timeout_ms, err, errlen);
			if (n < 0) {
				rc = n;
				goto out;
			}
			if (n == 0) {
				snprintf(err, errlen, "connection closed in the middle of the body");
				rc = HCALL_EIO;
				goto out;
			}
		}
		break;
	}
	case HP_BODY_EOF:
		for (;;) {
			sink_data(&sink, in.data + pos, in.len - pos);
			if (sink.too_big) {
				snprintf(err, errlen, "response too large (more than %zu bytes)",
					 o->max_body);
				rc = HCALL_ETOOBIG;
				goto out;
			}
			in.len = pos = 0;
			int n = read_more(fd, &in, deadline, timeout_ms, err, errlen);
			if (n < 0) {
				rc = n;
				goto out;
			}
			if (n == 0)
				break;
		}
		break;
	}
out:
	if (rc == HCALL_OK && !resp->body.data)
		buf_puts(&resp->body, "");
	buf_free(&in);
	free(m);
	return rc;
}

static int valid_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalpha((unsigned char)*s))
			return 0;
	return 1;
}

int hcall_ex(const char *base_url, const char *method, const char *target, const char *body,
	     size_t len, const struct auth_client *auth, int timeout_ms,
	     const struct hcall_opts *opts, struct hcall_resp *resp, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct hcall_opts o = {HCALL_MAX_BODY, 16384, "application/json"};
	struct hcall_url u;
	struct buf req = BUF_INIT, path = BUF_INIT;
	struct addrinfo *res = NULL;
	int fd = -1, rc = HCALL_OK;

	memset(resp, 0, sizeof *resp);
	if (opts) {
		if (opts->max_body)
			o.max_body = opts->max_body;
		if (opts->max_head)
			o.max_head = opts->max_head;
		if (opts->content_type)
			o.content_type = opts->content_type;
	}
	if (hcall_parse_url(base_url, &u, err, errlen) < 0)
		return HCALL_EURL;
	if (!valid_token(method) || target[0] != '/' || strpbrk(target, " \t\r\n")) {
		snprintf(err, errlen, "bad request line: %s %s", method, target);
		return HCALL_EURL;
	}
	if (!body)
		len = 0;
	buf_puts(&path, u.prefix);
	buf_puts(&path, target);

	if (auth && auth->mode != AUTH_NONE) {
		struct buf hv = BUF_INIT;
		char aerr[256];
		if (auth_sign(auth, method, path.data, body, len, &hv, aerr, sizeof aerr) < 0) {
			snprintf(err, errlen, "%s", aerr);
			buf_free(&hv);
			rc = HCALL_EAUTH;
			goto out;
		}
		buf_printf(&req, "Authorization: %s\r\n", hv.data ? hv.data : "");
		buf_free(&hv);
	}

	/* Resolve: numeric addresses first, without any wait. */
	char port[8];
	snprintf(port, sizeof port, "%d", u.port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	int g = getaddrinfo(u.host, port, &hints, &res);
	if (g == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		g = getaddrinfo(u.host, port, &hints, &res);
	}
	if (g != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", u.host, gai_strerror(g));
		rc = HCALL_ERESOLVE;
		goto out;
	}
	int e = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = connect_addr(ai, deadline, &e);
		if (fd < 0 && e == ETIMEDOUT)
			break;
	}
	if (fd < 0) {
		if (e == ETIMEDOUT) {
			snprintf(err, errlen, "timed out after %d ms connecting", timeout_ms);
			rc = HCALL_ETIMEOUT;
		} else {
			errno_msg(err, errlen, e);
			rc = HCALL_ECONNECT;
		}
		goto out;
	}

	/* The request head, then the body. */
	struct buf head = BUF_INIT;
	int v6 = strchr(u.host, ':') != NULL;
	buf_printf(&head, "%s %s HTTP/1.1\r\nHost: %s%s%s", method, path.data, v6 ? "[" : "",
		   u.host, v6 ? "]" : "");
	if (u.port != 80)
		buf_printf(&head, ":%d", u.port);
	buf_printf(&head, "\r\nUser-Agent: elastic-serve/%s\r\nAccept: application/json\r\n"
			  "Connection: close\r\n",
		   ES_VERSION);
	if (len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	    strcmp(method, "PATCH") == 0) {
		if (len > 0)
			buf_printf(&head, "Content-Type: %s\r\n", o.content_type);
		buf_printf(&head, "Content-Length: %zu\r\n", len);
	}
	buf_append(&head, req.data ? req.data : "", req.len);
	buf_puts(&head, "\r\n");
	if (len > 0 && len <= 65536) { /* one send for small requests */
		buf_append(&head, body, len);
		len = 0;
	}
	rc = send_all(fd, head.data, head.len, deadline, timeout_ms, err, errlen);
	buf_free(&head);
	if (rc == 0 && len > 0)
		rc = send_all(fd, body, len, deadline, timeout_ms, err, errlen);
	/* A server may answer (an error) before reading the whole body: try
	 * to read its response anyway. */
	if (rc == 0) {
		rc = receive(fd, method, &o, deadline, timeout_ms, resp, err, errlen);
	} else {
		char rerr[64];
		if (receive(fd, method, &o, deadline, timeout_ms, resp, rerr, sizeof rerr) == 0)
			rc = HCALL_OK;
	}
out:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	buf_free(&req);
	buf_free(&path);
	return rc;
}

int hcall(const char *base_url, const char *method, const char *target, const char *body,
	  size_t len, const struct auth_client *auth, int timeout_ms, struct hcall_resp *resp,
	  char *err, size_t errlen)
{
	return hcall_ex(base_url, method, target, body, len, auth, timeout_ms, NULL, resp, err,
			errlen);
}
