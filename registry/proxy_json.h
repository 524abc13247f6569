/* proxy_json.h — a small, strict JSON scanner for the proxy's hot path.
 *
 * The proxy must know a request's "model", "stream" and "user", and see
 * its prompt (for cache-aware routing), without building a DOM of a body
 * that may hold megabytes of conversation. proxy_json_scan() reads the
 * whole body once, validates it as JSON (RFC 8259: syntax, UTF-8, no
 * control characters in strings, numbers by the grammar, nothing after the
 * value, at most PROXY_JSON_MAX_DEPTH levels) and reports:
 *
 *   model, user        top-level strings, as spans of the raw bytes
 *                      (escapes not decoded: see proxy_json_unescape)
 *   stream             top-level true / false (null: absent)
 *   prompt pieces      through a callback, in document order:
 *                      messages[].role and messages[].content (a string,
 *                      or the "text" of each part of an array), then
 *                      "prompt" / "input" (a string; any other value is
 *                      passed as its raw JSON text, e.g. token ids)
 *
 * Keys are compared after decoding their escapes ("mod\u0065l" is
 * "model"), and a top-level key the proxy reads may appear only once: the
 * proxy and the engine must not see different models in one body.
 *
 * A pure function of its input (no allocation, no global state), so that
 * it can be fuzzed: it never reads outside BUF[0..LEN) and never recurses.
 */
#ifndef ES_PROXY_JSON_H
#define ES_PROXY_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Containers nested deeper than this are refused. */
#define PROXY_JSON_MAX_DEPTH 64

/* A string value: the bytes between its quotes. */
struct proxy_json_str {
	const char *p; /* NULL when the field is absent (or null) */
	size_t len;    /* bytes between the quotes */
	bool escaped;  /* holds at least one backslash escape */
};

/* What the scanner found. */
struct proxy_json_req {
	struct proxy_json_str model; /* "model" */
	struct proxy_json_str user;  /* "user" */
	int stream;                  /* "stream": 1 true, 0 false, -1 absent or null */
	bool has_messages;           /* "messages" is present */
	bool has_prompt;             /* "prompt" or "input" is present */
	unsigned pieces;             /* prompt pieces passed to the callback */
	size_t err_off;              /* after an error: the byte it concerns */
};

/* Receives one piece of the prompt (raw bytes, escapes not decoded). */
typedef void (*proxy_json_piece_fn)(void *arg, const char *p, size_t len);

/* Scans the JSON text BUF (LEN bytes; need not be NUL-terminated). PIECE
 * may be NULL. Returns 0, or -1 with ERR ("invalid JSON at byte 12:
 * unexpected character 'x'", "'model' must be a string"...) and
 * OUT->err_off set. */
int proxy_json_scan(const char *buf, size_t len, struct proxy_json_req *out,
		    proxy_json_piece_fn piece, void *arg, char *err, size_t errlen);

/* Decodes the escapes of S into OUT (OUTLEN bytes, NUL-terminated, UTF-8).
 * Returns the decoded length, or -1 when it does not fit, holds \u0000 or
 * a lone surrogate. S must come from proxy_json_scan (valid escapes). */
int proxy_json_unescape(const struct proxy_json_str *s, char *out, size_t outlen);

#endif
