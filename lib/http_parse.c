/* http_parse.c — see http_parse.h. */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

/* Character classes of RFC 9110. */
#define C_TCHAR 1 /* token character */
#define C_VCHAR 2 /* field-value character: VCHAR, SP, HTAB, obs-text */
#define C_HEX 4
#define C_TARGET 8 /* request-target: visible ASCII */

static unsigned char hp_class[256];

static void hp_init_classes(void)
{
	static int done;
	if (done)
		return;
	for (int c = 0; c < 256; c++) {
		unsigned char k = 0;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c)))
			k |= C_TCHAR;
		if ((c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t')
			k |= C_VCHAR;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F'))
			k |= C_HEX;
		if (c >= 0x21 && c <= 0x7e)
			k |= C_TARGET;
		hp_class[c] = k;
	}
	done = 1;
}

#define IS(c, k) (hp_class[(unsigned char)(c)] & (k))

void hp_limits_default(struct hp_limits *lim)
{
	lim->max_head = 16384;
	lim->max_headers = 100;
	lim->max_target = 8192;
}

void hp_msg_init(struct hp_msg *m, enum hp_type type)
{
	hp_init_classes();
	/* Only the scalar fields: headers[] is written before it is read. */
	m->type = type;
	m->head_response = false;
	m->method = m->target = m->reason = (struct hp_span){0, 0};
	m->status = 0;
	m->version_minor = 1;
	m->nheaders = 0;
	m->body = HP_BODY_NONE;
	m->content_length = 0;
	m->keep_alive = false;
	m->expect_continue = false;
	m->upgrade = false;
	m->head_len = 0;
	m->skip = 0;
	m->scanned = 0;
	m->err_status = 0;
	m->err = NULL;
}

static int hp_fail(struct hp_msg *m, int status, const char *err)
{
	m->err_status = status;
	m->err = err;
	return HP_ERROR;
}

static unsigned char hp_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* A, of ALEN bytes, equals the string B ignoring ASCII case (header names
 * and tokens are ASCII: no locale, no library call on the hot path). */
static inline bool hp_ieq(const char *a, size_t alen, const char *b)
{
	if (alen != strlen(b)) /* a constant for the literals of hp_field */
		return false;
	for (size_t i = 0; i < alen; i++)
		if (hp_lower((unsigned char)a[i]) != hp_lower((unsigned char)b[i]))
			return false;
	return true;
}

bool hp_has_token(const char *v, size_t len, const char *token)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && hp_ieq(v + s, e - s, token))
			return true;
	}
	return false;
}

const struct hp_header *hp_find(const struct hp_msg *m, const char *buf,
				const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct hp_header *h = &m->headers[i];
		if (h->name.len == n && hp_ieq(buf + h->name.off, n, name))
			return h;
	}
	return NULL;
}

/* Parses a Content-Length value: digits, or a list of identical ones. */
static int hp_content_length(const char *v, size_t len, uint64_t *out)
{
	bool have = false;
	uint64_t first = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		size_t s = i;
		uint64_t n = 0;
		while (i < len && v[i] >= '0' && v[i] <= '9') {
			if (n > (UINT64_MAX - 9) / 10 || i - s >= 18)
				return -1;
			n = n * 10 + (uint64_t)(v[i] - '0');
			i++;
		}
		if (i == s)
			return -1;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < len) {
			if (v[i] != ',')
				return -1;
			i++;
		}
		if (have && n != first)
			return -1;
		first = n;
		have = true;
	}
	if (!have)
		return -1;
	*out = first;
	return 0;
}

/* Parses "HTTP/1.x" at P (8 bytes available). */
static int hp_version(struct hp_msg *m, const char *p)
{
	if (memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' ||
	    p[5] > '9' || p[7] < '0' || p[7] > '9')
		return hp_fail(m, 400, "malformed HTTP version");
	if (p[5] != '1')
		return hp_fail(m, 505, "HTTP version not supported");
	m->version_minor = p[7] == '0' ? 0 : 1;
	return HP_OK;
}

static int hp_request_line(struct hp_msg *m, const char *buf, size_t s,
			   size_t e, const struct hp_limits *lim)
{
	size_t i = s;
	while (i < e && IS(buf[i], C_TCHAR))
		i++;
	if (i == s || i >= e || buf[i] != ' ')
		return hp_fail(m, 400, "malformed request line");
	m->method = (struct hp_span){(uint32_t)s, (uint32_t)(i - s)};
	size_t t = ++i;
	while (i < e && IS(buf[i], C_TARGET))
		i++;
	if (i - t > lim->max_target)
		return hp_fail(m, 414, "request target too long");
	if (i == t || i >= e || buf[i] != ' ')
		return hp_fail(m, 400, "malformed request line");
	m->target = (struct hp_span){(uint32_t)t, (uint32_t)(i - t)};
	i++;
	if (e - i != 8)
		return hp_fail(m, 400, "malformed HTTP version");
	return hp_version(m, buf + i);
}

static int hp_status_line(struct hp_msg *m, const char *buf, size_t s, size_t e)
{
	if (e - s < 12 || buf[s + 8] != ' ')
		return hp_fail(m, 400, "malformed status line");
	if (hp_version(m, buf + s) != HP_OK)
		return HP_ERROR;
	const char *d = buf + s + 9;
	for (int k = 0; k < 3; k++)
		if (d[k] < '0' || d[k] > '9')
			return hp_fail(m, 400, "malformed status code");
	m->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
	if (m->status < 100)
		return hp_fail(m, 400, "malformed status code");
	size_t r = s + 12;
	if (r < e) {
		if (buf[r] != ' ')
			return hp_fail(m, 400, "malformed status line");
		r++;
	}
	for (size_t i = r; i < e; i++)
		if (!IS(buf[i], C_VCHAR))
			return hp_fail(m, 400, "invalid character in reason phrase");
	m->reason = (struct hp_span){(uint32_t)r, (uint32_t)(e - r)};
	return HP_OK;
}

/* What the header fields say about framing and the connection. */
struct hp_fields {
	bool cl_seen;
	bool te_seen;
	bool te_chunked;      /* chunked appears */
	bool te_last_chunked; /* chunked is the final coding */
	bool te_other;        /* a coding other than chunked */
	unsigned hosts;
	bool conn_close;
	bool conn_keep_alive;
};

static int hp_field(struct hp_msg *m, struct hp_fields *f, const char *name,
		    size_t nlen, const char *v, size_t vlen)
{
	if (hp_ieq(name, nlen, "content-length")) {
		uint64_t n;
		if (hp_content_length(v, vlen, &n) != 0)
			return hp_fail(m, 400, "invalid Content-Length");
		if (f->cl_seen && n != m->content_length)
			return hp_fail(m, 400, "conflicting Content-Length headers");
		f->cl_seen = true;
		m->content_length = n;
	} else if (hp_ieq(name, nlen, "transfer-encoding")) {
		f->te_seen = true;
		size_t i = 0;
		while (i < vlen) {
			while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
				i++;
			size_t s = i;
			while (i < vlen && v[i] != ',')
				i++;
			size_t e = i;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (e == s)
				continue;
			if (hp_ieq(v + s, e - s, "chunked")) {
				if (f->te_chunked)
					return hp_fail(m, 400, "chunked applied twice");
				f->te_chunked = f->te_last_chunked = true;
			} else {
				f->te_other = true;
				f->te_last_chunked = false;
			}
		}
	} else if (hp_ieq(name, nlen, "host")) {
		f->hosts++;
	} else if (hp_ieq(name, nlen, "connection")) {
		if (hp_has_token(v, vlen, "close"))
			f->conn_close = true;
		if (hp_has_token(v, vlen, "keep-alive"))
			f->conn_keep_alive = true;
		if (hp_has_token(v, vlen, "upgrade"))
			m->upgrade = true;
	} else if (m->type == HP_REQUEST && hp_ieq(name, nlen, "expect")) {
		if (!hp_ieq(v, vlen, "100-continue"))
			return hp_fail(m, 417, "unsupported expectation");
		m->expect_continue = true;
	}
	return HP_OK;
}

static int hp_framing(struct hp_msg *m, const struct hp_fields *f)
{
	bool ka = m->version_minor >= 1 ? !f->conn_close
					: (f->conn_keep_alive && !f->conn_close);
	m->keep_alive = ka;
	if (m->type == HP_REQUEST) {
		if (m->version_minor >= 1 && f->hosts == 0)
			return hp_fail(m, 400, "missing Host header");
		if (f->hosts > 1)
			return hp_fail(m, 400, "more than one Host header");
		if (m->version_minor == 0)
			m->expect_continue = false;
		if (f->te_seen) {
			if (m->version_minor == 0)
				return hp_fail(m, 400, "Transfer-Encoding in an HTTP/1.0 request");
			if (f->cl_seen)
				return hp_fail(m, 400, "both Transfer-Encoding and Content-Length");
			if (f->te_other)
				return hp_fail(m, 501, "unsupported transfer coding");
			if (!f->te_last_chunked)
				return hp_fail(m, 400, "chunked is not the final transfer coding");
			m->body = HP_BODY_CHUNKED;
		} else if (f->cl_seen && m->content_length > 0) {
			m->body = HP_BODY_LENGTH;
		} else {
			m->body = HP_BODY_NONE;
		}
		return HP_OK;
	}
	if ((m->status >= 100 && m->status < 200) || m->status == 204 ||
	    m->status == 304 || m->head_response) {
		m->body = HP_BODY_NONE;
	} else if (f->te_seen) {
		if (f->cl_seen)
			return hp_fail(m, 400, "both Transfer-Encoding and Content-Length");
		if (f->te_last_chunked) {
			m->body = HP_BODY_CHUNKED;
		} else {
			m->body = HP_BODY_EOF;
			m->keep_alive = false;
		}
	} else if (f->cl_seen) {
		m->body = m->content_length ? HP_BODY_LENGTH : HP_BODY_NONE;
	} else {
		m->body = HP_BODY_EOF;
		m->keep_alive = false;
	}
	return HP_OK;
}

int hp_parse(struct hp_msg *m, const char *buf, size_t len,
	     const struct hp_limits *lim)
{
	size_t start = m->skip;
	if (m->type == HP_REQUEST) {
		while (start < len && (buf[start] == '\r' || buf[start] == '\n')) {
			if (buf[start] == '\n' || start > 64)
				return hp_fail(m, 400, "malformed request line");
			if (start + 1 >= len)
				break;
			if (buf[start + 1] != '\n')
				return hp_fail(m, 400, "malformed request line");
			start += 2;
		}
		m->skip = start;
		if (start >= len)
			return HP_AGAIN;
	}

	/* Find the end of the head. */
	size_t from = m->scanned > start ? m->scanned : start;
	const char *end = NULL;
	/* The blank line: each LF found, is it the end of CR LF CR LF? */
	for (size_t i = from + 3; i < len;) {
		const char *lf = memchr(buf + i, '\n', len - i);
		if (!lf)
			break;
		if (lf[-1] == '\r' && lf[-2] == '\n' && lf[-3] == '\r') {
			end = lf - 3;
			break;
		}
		i = (size_t)(lf - buf) + 1;
	}
	if (!end) {
		if (len - start >= lim->max_head)
			return hp_fail(m, 431, "request header fields too large");
		m->scanned = len >= 3 ? len - 3 : 0;
		return HP_AGAIN;
	}
	size_t head_end = (size_t)(end - buf) + 4;
	if (head_end - start > lim->max_head)
		return hp_fail(m, 431, "request header fields too large");

	/* Start line. */
	const char *cr = memchr(buf + start, '\r', head_end - start);
	size_t le = (size_t)(cr - buf);
	if (buf[le + 1] != '\n')
		return hp_fail(m, 400, "bare CR in the head");
	if (memchr(buf + start, '\n', le - start))
		return hp_fail(m, 400, "bare LF in the head");
	int r = m->type == HP_REQUEST ? hp_request_line(m, buf, start, le, lim)
				      : hp_status_line(m, buf, start, le);
	if (r != HP_OK)
		return r;

	/* Header fields. */
	struct hp_fields f;
	memset(&f, 0, sizeof f);
	unsigned max = lim->max_headers < HP_MAX_HEADERS ? lim->max_headers
							 : HP_MAX_HEADERS;
	size_t p = le + 2;
	while (p < head_end - 2) {
		if (buf[p] == ' ' || buf[p] == '\t')
			return hp_fail(m, 400, "obsolete line folding");
		size_t ns = p;
		while (IS(buf[p], C_TCHAR))
			p++;
		if (p == ns || buf[p] != ':')
			return hp_fail(m, 400, "invalid header field name");
		size_t nlen = p - ns;
		p++;
		while (buf[p] == ' ' || buf[p] == '\t')
			p++;
		size_t vs = p;
		while (IS(buf[p], C_VCHAR))
			p++;
		if (buf[p] != '\r' || buf[p + 1] != '\n')
			return hp_fail(m, 400, "invalid character in header field value");
		size_t ve = p;
		while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
			ve--;
		if (m->nheaders >= max)
			return hp_fail(m, 431, "too many header fields");
		struct hp_header *h = &m->headers[m->nheaders++];
		h->name = (struct hp_span){(uint32_t)ns, (uint32_t)nlen};
		h->value = (struct hp_span){(uint32_t)vs, (uint32_t)(ve - vs)};
		if (hp_field(m, &f, buf + ns, nlen, buf + vs, ve - vs) != HP_OK)
			return HP_ERROR;
		p += 2;
	}
	if (hp_framing(m, &f) != HP_OK)
		return HP_ERROR;
	m->head_len = head_end;
	return HP_OK;
}

const char *hp_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---------------------------------------------------------------- chunked */

enum {
	CS_SIZE,
	CS_EXT,
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TRAILER_START,
	CS_TRAILER_NAME,
	CS_TRAILER_VALUE,
	CS_TRAILER_LF,
	CS_FINAL_LF,
	CS_DONE,
};

void hp_chunked_init(struct hp_chunked *c)
{
	hp_init_classes();
	memset(c, 0, sizeof *c);
	c->state = CS_SIZE;
	c->max_line = 4096;
	c->max_trailer = 16384;
}

static int hp_chunk_fail(struct hp_chunked *c, const char *err)
{
	c->err = err;
	return HP_ERROR;
}

static int hp_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return ch - 'A' + 10;
}

int hp_chunked_feed(struct hp_chunked *c, const char *in, size_t len,
		    size_t *used, hp_data_fn data, void *arg)
{
	size_t i = 0;
	*used = 0;
	if (c->state == CS_DONE)
		return HP_OK;
	while (i < len) {
		char ch = in[i];
		switch (c->state) {
		case CS_SIZE:
			if (IS(ch, C_HEX)) {
				if (++c->digits > 15)
					return hp_chunk_fail(c, "chunk size too large");
				c->remaining = c->remaining * 16 + (uint64_t)hp_hexval(ch);
				i++;
				break;
			}
			if (c->digits == 0)
				return hp_chunk_fail(c, "invalid chunk size");
			if (ch == '\r') {
				c->state = CS_SIZE_LF;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CS_EXT;
			} else {
				return hp_chunk_fail(c, "invalid chunk size");
			}
			c->line_len = c->digits + 1;
			i++;
			break;
		case CS_EXT:
			if (++c->line_len > c->max_line)
				return hp_chunk_fail(c, "chunk extension too long");
			if (ch == '\r')
				c->state = CS_SIZE_LF;
			else if (!IS(ch, C_VCHAR))
				return hp_chunk_fail(c, "invalid character in chunk extension");
			i++;
			break;
		case CS_SIZE_LF:
			if (ch != '\n')
				return hp_chunk_fail(c, "bare CR in chunk size line");
			i++;
			if (c->remaining == 0) {
				c->state = CS_TRAILER_START;
				c->trailer_bytes = 0;
			} else {
				c->state = CS_DATA;
			}
			break;
		case CS_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (data)
				data(arg, in + i, n);
			i += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CS_DATA_CR;
			break;
		}
		case CS_DATA_CR:
			if (ch != '\r')
				return hp_chunk_fail(c, "missing CRLF after chunk data");
			c->state = CS_DATA_LF;
			i++;
			break;
		case CS_DATA_LF:
			if (ch != '\n')
				return hp_chunk_fail(c, "missing CRLF after chunk data");
			c->state = CS_SIZE;
			c->digits = 0;
			c->remaining = 0;
			c->line_len = 0;
			i++;
			break;
		case CS_TRAILER_START:
			if (ch == '\r') {
				c->state = CS_FINAL_LF;
			} else if (IS(ch, C_TCHAR)) {
				c->state = CS_TRAILER_NAME;
			} else {
				return hp_chunk_fail(c, "invalid trailer field");
			}
			if (++c->trailer_bytes > c->max_trailer)
				return hp_chunk_fail(c, "trailer section too large");
			i++;
			break;
		case CS_TRAILER_NAME:
			if (ch == ':')
				c->state = CS_TRAILER_VALUE;
			else if (!IS(ch, C_TCHAR))
				return hp_chunk_fail(c, "invalid trailer field name");
			if (++c->trailer_bytes > c->max_trailer)
				return hp_chunk_fail(c, "trailer section too large");
			i++;
			break;
		case CS_TRAILER_VALUE:
			if (ch == '\r')
				c->state = CS_TRAILER_LF;
			else if (!IS(ch, C_VCHAR))
				return hp_chunk_fail(c, "invalid character in trailer field");
			if (++c->trailer_bytes > c->max_trailer)
				return hp_chunk_fail(c, "trailer section too large");
			i++;
			break;
		case CS_TRAILER_LF:
			if (ch != '\n')
				return hp_chunk_fail(c, "bare CR in trailer field");
			c->state = CS_TRAILER_START;
			i++;
			break;
		case CS_FINAL_LF:
			if (ch != '\n')
				return hp_chunk_fail(c, "bare CR after last chunk");
			c->state = CS_DONE;
			*used = i + 1;
			return HP_OK;
		default:
			return hp_chunk_fail(c, "decoder misuse");
		}
	}
	*used = i;
	return HP_AGAIN;
}
