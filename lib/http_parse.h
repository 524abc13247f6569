/* http_parse.h — a strict, incremental HTTP/1.x message parser.
 *
 * Parses the head of a request (server side) or a response (client side)
 * from a contiguous buffer, without allocating: the method, target, reason,
 * header names and values are spans (offsets and lengths) into the caller's
 * buffer. A chunked body is decoded by a separate incremental decoder.
 *
 *   struct hp_msg m;
 *   hp_msg_init(&m, HP_REQUEST);
 *   int r = hp_parse(&m, buf, len, &limits);   // call again with more data
 *   if (r == HP_AGAIN) ... read more ...
 *   if (r == HP_ERROR) reply m.err_status, m.err
 *   // HP_OK: m.head_len bytes of BUF are the head; the body follows,
 *   // framed by m.body (none, Content-Length, chunked, until EOF).
 *
 * Validation is strict to keep request smuggling out: CRLF line ends only,
 * no obs-fold, no whitespace between a field name and its colon, no control
 * characters in values, Content-Length digits only and never conflicting,
 * Transfer-Encoding only "chunked" (last) and never beside Content-Length,
 * one Host in HTTP/1.1 requests. Limits: the whole head (431 for requests),
 * the number of header fields (431), the request target (414).
 */
#ifndef ES_HTTP_PARSE_H
#define ES_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of hp_parse and hp_chunked_feed. */
#define HP_OK 0     /* complete */
#define HP_AGAIN 1  /* need more bytes */
#define HP_ERROR -1 /* malformed; see err_status and err */

/* The most header fields any message may have (the configurable limit is
 * at most this). */
#define HP_MAX_HEADERS 128

enum hp_type {
	HP_REQUEST,
	HP_RESPONSE,
};

/* How the body that follows the head is framed. */
enum hp_body {
	HP_BODY_NONE,    /* no body at all */
	HP_BODY_LENGTH,  /* content_length bytes */
	HP_BODY_CHUNKED, /* chunked transfer coding: use struct hp_chunked */
	HP_BODY_EOF,     /* (responses only) until the connection closes */
};

/* A span of the parsed buffer. */
struct hp_span {
	uint32_t off; /* offset from the start of the head */
	uint32_t len; /* length in bytes */
};

struct hp_header {
	struct hp_span name;  /* field name, as sent (case preserved) */
	struct hp_span value; /* value without leading and trailing whitespace */
};

struct hp_limits {
	size_t max_head;      /* bytes of the whole head, CRLFCRLF included */
	unsigned max_headers; /* header fields, at most HP_MAX_HEADERS */
	size_t max_target;    /* bytes of the request target */
};

/* Sane defaults: 16 KiB head, 100 fields, 8 KiB target. */
void hp_limits_default(struct hp_limits *lim);

struct hp_msg {
	enum hp_type type;     /* request or response, set by hp_msg_init */
	bool head_response;    /* (responses) answer to HEAD: never a body */
	struct hp_span method; /* (requests) e.g. "GET" */
	struct hp_span target; /* (requests) e.g. "/v1/models?x=1" */
	struct hp_span reason; /* (responses) reason phrase, may be empty */
	int status;            /* (responses) 100..999 */
	int version_minor;     /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	unsigned nheaders;     /* fields in headers[] */
	struct hp_header headers[HP_MAX_HEADERS]; /* in order of appearance */
	enum hp_body body;       /* framing of the body */
	uint64_t content_length; /* when body is HP_BODY_LENGTH */
	bool keep_alive;         /* the connection may carry another message */
	bool expect_continue;    /* (requests) Expect: 100-continue */
	bool upgrade;            /* a Connection: upgrade token was sent */
	size_t head_len;         /* bytes of the head, valid after HP_OK */
	size_t skip;             /* (requests) empty lines before the head */
	size_t scanned;          /* internal: bytes already searched for the end */
	int err_status;          /* after HP_ERROR: 400, 414, 431, 501, 505... */
	const char *err;         /* after HP_ERROR: what is wrong (static) */
};

void hp_msg_init(struct hp_msg *m, enum hp_type type);

/* Parses the head at BUF (LEN bytes available so far). Returns HP_OK,
 * HP_AGAIN or HP_ERROR. Call again with the same BUF start and a larger LEN
 * after HP_AGAIN; the search resumes where it stopped. For requests, empty
 * lines before the request line are skipped (m->skip counts them; spans are
 * still relative to BUF). */
int hp_parse(struct hp_msg *m, const char *buf, size_t len,
	     const struct hp_limits *lim);

/* The first header called NAME (case-insensitive), or NULL. */
const struct hp_header *hp_find(const struct hp_msg *m, const char *buf,
				const char *name);

/* Whether the comma-separated list VALUE (LEN bytes) has TOKEN
 * (case-insensitive), e.g. hp_has_token("keep-alive, Upgrade", .., "upgrade"). */
bool hp_has_token(const char *value, size_t len, const char *token);

/* The standard reason phrase of STATUS ("Unknown" if none). */
const char *hp_reason(int status);

/* ---------------------------------------------------------------- chunked */

/* An incremental decoder of the chunked transfer coding. */
struct hp_chunked {
	int state;            /* internal state */
	uint64_t remaining;   /* data bytes left in the current chunk */
	unsigned digits;      /* hex digits of the current size line */
	size_t line_len;      /* bytes of the current size or trailer line */
	size_t trailer_bytes; /* bytes of trailer section so far */
	size_t max_line;      /* longest chunk-size line (default 4096) */
	size_t max_trailer;   /* largest trailer section (default 16 KiB) */
	const char *err;      /* after HP_ERROR: what is wrong (static) */
};

void hp_chunked_init(struct hp_chunked *c);

/* Receives decoded body bytes. */
typedef void (*hp_data_fn)(void *arg, const char *data, size_t len);

/* Decodes IN (LEN bytes), calling DATA with body bytes as they come. Sets
 * *USED to the bytes consumed. Returns HP_OK once the last chunk and the
 * trailers are consumed (bytes after that are not consumed), HP_AGAIN when
 * all of IN was consumed and more is needed, HP_ERROR on a malformed
 * coding (c->err says why). */
int hp_chunked_feed(struct hp_chunked *c, const char *in, size_t len,
		    size_t *used, hp_data_fn data, void *arg);

#endif
