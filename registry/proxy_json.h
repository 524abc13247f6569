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
 *   top-level spans    where the values of the top-level members that
 *                      stream migration checks or rewrites are in the body
 *                      (enum proxy_json_top; the last one of a repeated
 *                      key, as Python's json reads it)
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

/* Top-level members whose values proxy_json_scan locates (for
 * registry/proxy_migrate: what makes a request migratable, and what its
 * continuation rewrites). */
enum proxy_json_top {
	PROXY_JSON_T_STREAM,         /* "stream" */
	PROXY_JSON_T_STREAM_OPTIONS, /* "stream_options" */
	PROXY_JSON_T_MESSAGES,       /* "messages" */
	PROXY_JSON_T_PROMPT,         /* "prompt" */
	PROXY_JSON_T_MAX_TOKENS,     /* "max_tokens" */
	PROXY_JSON_T_MAX_COMPLETION, /* "max_completion_tokens" */
	PROXY_JSON_T_MIN_TOKENS,     /* "min_tokens" */
	PROXY_JSON_T_N,              /* "n" */
	PROXY_JSON_T_BEST_OF,        /* "best_of" */
	PROXY_JSON_T_LOGPROBS,       /* "logprobs" */
	PROXY_JSON_T_PROMPT_LOGPROBS,/* "prompt_logprobs" */
	PROXY_JSON_T_ECHO,           /* "echo" */
	PROXY_JSON_T_BEAM,           /* "use_beam_search" */
	PROXY_JSON_T_TOOLS,          /* "tools" */
	PROXY_JSON_T_TOOL_CHOICE,    /* "tool_choice" */
	PROXY_JSON_T_RESPONSE_FORMAT,/* "response_format" */
	PROXY_JSON_T_GUIDED,         /* "guided_json", "guided_regex", "guided_choice",
					"guided_grammar", "structured_outputs" */
	PROXY_JSON_T_CONTINUE_FINAL, /* "continue_final_message" */
	PROXY_JSON_T_ADD_GEN_PROMPT, /* "add_generation_prompt" */
	PROXY_JSON_T_N_KEYS
};

/* Where a value is in the body: BUF[off..off+len). */
struct proxy_json_span {
	size_t off;
	size_t len; /* 0: the member is absent */
};

/* What the scanner found. */
struct proxy_json_req {
	struct proxy_json_str model; /* "model" */
	struct proxy_json_str user;  /* "user" */
	int stream;                  /* "stream": 1 true, 0 false, -1 absent or null */
	bool has_messages;           /* "messages" is present */
	bool has_prompt;             /* "prompt" or "input" is present */
	unsigned pieces;             /* prompt pieces passed to the callback */
	size_t root_off;             /* the top-level object's '{' */
	struct proxy_json_span top[PROXY_JSON_T_N_KEYS]; /* see enum proxy_json_top */
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

/* Validates BUF (LEN bytes) as a JSON object, as proxy_json_scan does, but
 * gives no key a meaning (a worker's response). Returns 0, or -1 with ERR. */
int proxy_json_check(const char *buf, size_t len, char *err, size_t errlen);

/* Decodes the escapes of S into OUT (OUTLEN bytes, NUL-terminated, UTF-8).
 * Returns the decoded length, or -1 when it does not fit, holds \u0000 or
 * a lone surrogate. S must come from proxy_json_scan (valid escapes). */
int proxy_json_unescape(const struct proxy_json_str *s, char *out, size_t outlen);

#endif
