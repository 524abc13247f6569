/* proxy_json.c — see proxy_json.h.
 *
 * An iterative scanner: an explicit stack of open containers, each tagged
 * with what it is for the proxy (the top-level object, the messages array,
 * a message, the parts of a content array, a part, a raw prompt value, or
 * anything else), and a "role" for the value expected next, derived from
 * the enclosing container and the key before it.
 */
#include "proxy_json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* What the value about to be read is. */
enum role {
	R_ROOT,     /* the document */
	R_OTHER,    /* anything the proxy ignores */
	R_MODEL,    /* top-level "model" */
	R_STREAM,   /* top-level "stream" */
	R_USER,     /* top-level "user" */
	R_MESSAGES, /* top-level "messages" */
	R_MESSAGE,  /* an element of messages */
	R_ROLE,     /* a message's "role" */
	R_CONTENT,  /* a message's "content" */
	R_PART,     /* an element of a content array */
	R_TEXT,     /* a part's "text" */
	R_PROMPT,   /* top-level "prompt" or "input" */
	R_RAW,      /* inside a raw prompt value */
};

/* What an open container is. */
enum ctx {
	C_TOP,
	C_OTHER,
	C_MESSAGES,
	C_MESSAGE,
	C_PARTS,
	C_PART,
	C_RAW,      /* the outermost container of a raw prompt value */
	C_RAWCHILD, /* a container inside it */
};

struct frame {
	unsigned char obj; /* 1: object, 0: array */
	unsigned char ctx; /* enum ctx */
	size_t start;      /* C_RAW: offset of its opening bracket */
};

enum state {
	S_VALUE,         /* a value must come */
	S_AFTER,         /* a value ended: ',' or the container's end */
	S_KEY_OR_END,    /* after '{' */
	S_KEY,           /* after ',' in an object */
	S_VALUE_OR_END,  /* after '[' */
};

/* Top-level keys that may appear once. */
#define K_MODEL 1u
#define K_STREAM 2u
#define K_USER 4u
#define K_MESSAGES 8u
#define K_PROMPT 16u

struct scan {
	const char *b;
	size_t len, pos;
	struct proxy_json_req *out;
	proxy_json_piece_fn piece;
	void *arg;
	char *err;
	size_t errlen;
	bool plain;        /* proxy_json_check: no key has a meaning */
};

static int fail(struct scan *s, size_t at, const char *fmt, const char *detail)
{
	s->out->err_off = at;
	char what[128];
	snprintf(what, sizeof what, fmt, detail);
	snprintf(s->err, s->errlen, "invalid JSON at byte %zu: %s", at, what);
	return -1;
}

static int fail_type(struct scan *s, size_t at, const char *msg)
{
	s->out->err_off = at;
	snprintf(s->err, s->errlen, "%s", msg);
	return -1;
}

static void emit(struct scan *s, const char *p, size_t n)
{
	s->out->pieces++;
	if (s->piece)
		s->piece(s->arg, p, n);
}

static void skip_ws(struct scan *s)
{
	while (s->pos < s->len) {
		char c = s->b[s->pos];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			return;
		s->pos++;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Byte classes inside strings: 0 plain, 1 quote, 2 backslash, 3 control,
 * 4 non-ASCII. */
static const unsigned char sclass[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

/* Length of the valid UTF-8 sequence at P (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && p[1] > 0x9F)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xF4 && p[1] > 0x8F)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

/* Scans a string whose opening quote is at s->pos. Sets *STR to the bytes
 * between the quotes and leaves pos after the closing quote. */
static int scan_string(struct scan *s, struct proxy_json_str *str)
{
	const unsigned char *b = (const unsigned char *)s->b;
	size_t i = s->pos + 1, n = s->len;
	bool esc = false;
	for (;;) {
		while (i < n && sclass[b[i]] == 0)
			i++;
		if (i >= n)
			return fail(s, s->pos, "%s", "unterminated string");
		switch (sclass[b[i]]) {
		case 1:
			str->p = s->b + s->pos + 1;
			str->len = i - s->pos - 1;
			str->escaped = esc;
			s->pos = i + 1;
			return 0;
		case 2:
			esc = true;
			if (i + 1 >= n)
				return fail(s, s->pos, "%s", "unterminated string");
			switch (b[i + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				i += 2;
				break;
			case 'u':
				if (i + 5 >= n)
					return fail(s, i, "%s", "truncated \\u escape");
				for (int k = 2; k < 6; k++)
					if (hexval(b[i + k]) < 0)
						return fail(s, i, "%s", "bad \\u escape");
				i += 6;
				break;
			default:
				return fail(s, i, "%s", "bad escape in a string");
			}
			break;
		case 3:
			return fail(s, i, "%s", "control character in a string");
		default: {
			size_t l = utf8_len(b + i, n - i);
			if (!l)
				return fail(s, i, "%s", "invalid UTF-8");
			i += l;
		}
		}
	}
}

static int scan_number(struct scan *s)
{
	const char *b = s->b;
	size_t i = s->pos, n = s->len, start = s->pos;
	if (i < n && b[i] == '-')
		i++;
	if (i >= n)
		return fail(s, start, "%s", "bad number");
	if (b[i] == '0') {
		i++;
	} else if (b[i] >= '1' && b[i] <= '9') {
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	} else {
		return fail(s, start, "%s", "bad number");
	}
	if (i < n && b[i] == '.') {
		i++;
		if (i >= n || b[i] < '0' || b[i] > '9')
			return fail(s, start, "%s", "bad number");
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	}
	if (i < n && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < n && (b[i] == '+' || b[i] == '-'))
			i++;
		if (i >= n || b[i] < '0' || b[i] > '9')
			return fail(s, start, "%s", "bad number");
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	}
	s->pos = i;
	return 0;
}

/* A literal at pos; returns 1 true, 0 false, 2 null, -1 error. */
static int scan_literal(struct scan *s)
{
	static const char *const lits[] = {"false", "true", "null"};
	for (int k = 0; k < 3; k++) {
		size_t l = strlen(lits[k]);
		if (s->len - s->pos >= l && memcmp(s->b + s->pos, lits[k], l) == 0) {
			s->pos += l;
			return k;
		}
	}
	char c[8];
	unsigned char ch = (unsigned char)s->b[s->pos];
	if (ch >= 0x20 && ch < 0x7f)
		snprintf(c, sizeof c, "'%c'", ch);
	else
		snprintf(c, sizeof c, "0x%02x", ch);
	return fail(s, s->pos, "unexpected character %s", c);
}

/* Whether the key (P, N bytes, decoded) is NAME, a literal. */
#define KEY_IS(p, n, name) ((n) == sizeof(name) - 1 && memcmp(p, name, sizeof(name) - 1) == 0)

/* The role of the value after key K in a container of kind CTX; sets
 * *ONCE to the top-level key's bit. */
static enum role key_role(enum ctx ctx, const struct proxy_json_str *k, unsigned *once)
{
	*once = 0;
	if (ctx != C_TOP && ctx != C_MESSAGE && ctx != C_PART)
		return ctx == C_RAW || ctx == C_RAWCHILD ? R_RAW : R_OTHER;
	/* Every name below is at most 8 bytes; an escape takes 2 to 12 bytes
	 * per character, so a longer key may only match once decoded. */
	const char *p = k->p;
	size_t n = k->len;
	char tmp[16];
	if (k->escaped) {
		if (n > 8 * 12)
			return R_OTHER;
		int l = proxy_json_unescape(k, tmp, sizeof tmp);
		if (l < 0)
			return R_OTHER;
		p = tmp;
		n = (size_t)l;
	}
	if (n < 4 || n > 8)
		return R_OTHER;
	switch (ctx) {
	case C_TOP:
		if (KEY_IS(p, n, "model"))
			return *once = K_MODEL, R_MODEL;
		if (KEY_IS(p, n, "stream"))
			return *once = K_STREAM, R_STREAM;
		if (KEY_IS(p, n, "user"))
			return *once = K_USER, R_USER;
		if (KEY_IS(p, n, "messages"))
			return *once = K_MESSAGES, R_MESSAGES;
		if (KEY_IS(p, n, "prompt") || KEY_IS(p, n, "input"))
			return *once = K_PROMPT, R_PROMPT;
		return R_OTHER;
	case C_MESSAGE:
		if (KEY_IS(p, n, "role"))
			return R_ROLE;
		if (KEY_IS(p, n, "content"))
			return R_CONTENT;
		return R_OTHER;
	case C_PART:
		return KEY_IS(p, n, "text") ? R_TEXT : R_OTHER;
	default:
		return R_OTHER;
	}
}

/* The enum proxy_json_top of a top-level key K, or -1. */
static int top_index(const struct proxy_json_str *k)
{
	static const struct {
		const char *name;
		int top;
	} names[] = {
		{"stream", PROXY_JSON_T_STREAM},
		{"stream_options", PROXY_JSON_T_STREAM_OPTIONS},
		{"messages", PROXY_JSON_T_MESSAGES},
		{"prompt", PROXY_JSON_T_PROMPT},
		{"max_tokens", PROXY_JSON_T_MAX_TOKENS},
		{"max_completion_tokens", PROXY_JSON_T_MAX_COMPLETION},
		{"min_tokens", PROXY_JSON_T_MIN_TOKENS},
		{"n", PROXY_JSON_T_N},
		{"best_of", PROXY_JSON_T_BEST_OF},
		{"logprobs", PROXY_JSON_T_LOGPROBS},
		{"prompt_logprobs", PROXY_JSON_T_PROMPT_LOGPROBS},
		{"echo", PROXY_JSON_T_ECHO},
		{"use_beam_search", PROXY_JSON_T_BEAM},
		{"tools", PROXY_JSON_T_TOOLS},
		{"tool_choice", PROXY_JSON_T_TOOL_CHOICE},
		{"response_format", PROXY_JSON_T_RESPONSE_FORMAT},
		{"guided_json", PROXY_JSON_T_GUIDED},
		{"guided_regex", PROXY_JSON_T_GUIDED},
		{"guided_choice", PROXY_JSON_T_GUIDED},
		{"guided_grammar", PROXY_JSON_T_GUIDED},
		{"structured_outputs", PROXY_JSON_T_GUIDED},
		{"continue_final_message", PROXY_JSON_T_CONTINUE_FINAL},
		{"add_generation_prompt", PROXY_JSON_T_ADD_GEN_PROMPT},
	};
	const char *p = k->p;
	size_t n = k->len;
	char tmp[32];
	if (k->escaped) {
		/* The longest name is 22 bytes; an escape is at most 12 per character. */
		if (n > 22 * 12)
			return -1;
		int l = proxy_json_unescape(k, tmp, sizeof tmp);
		if (l < 0)
			return -1;
		p = tmp;
		n = (size_t)l;
	}
	if (n == 0 || n > 22)
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0)
			return names[i].top;
	return -1;
}

static enum role elem_role(enum ctx ctx)
{
	switch (ctx) {
	case C_MESSAGES: return R_MESSAGE;
	case C_PARTS: return R_PART;
	case C_RAW:
	case C_RAWCHILD: return R_RAW;
	default: return R_OTHER;
	}
}

/* The kind of container a value of role R opens (OBJ: an object). */
static enum ctx open_ctx(enum role r, bool obj)
{
	switch (r) {
	case R_ROOT: return C_TOP;
	case R_MESSAGES: return obj ? C_OTHER : C_MESSAGES;
	case R_MESSAGE: return obj ? C_MESSAGE : C_OTHER;
	case R_CONTENT: return obj ? C_OTHER : C_PARTS;
	case R_PART: return obj ? C_PART : C_OTHER;
	case R_PROMPT: return C_RAW;
	case R_RAW: return C_RAWCHILD;
	default: return C_OTHER;
	}
}

static int scan(const char *buf, size_t len, struct proxy_json_req *out,
		proxy_json_piece_fn piece, void *arg, char *err, size_t errlen, bool plain)
{
	struct scan s = {buf, len, 0, out, piece, arg, err, errlen, plain};
	const char *not_object = plain ? "the body is not a JSON object"
				       : "the request body must be a JSON object";
	struct frame stack[PROXY_JSON_MAX_DEPTH];
	unsigned depth = 0, seen = 0;
	enum state st = S_VALUE;
	enum role role = R_ROOT;
	int top_k = -1;     /* the top-level member whose value is being read */
	size_t top_off = 0; /* where that value (a container) began */
	memset(out, 0, sizeof *out);
	out->stream = -1;
	if (errlen)
		err[0] = '\0';

	for (;;) {
		skip_ws(&s);
		if (s.pos >= len) {
			if (depth == 0 && st == S_AFTER)
				return 0;
			return fail(&s, s.pos, "%s", len == 0 ? "empty body" : "unexpected end");
		}
		char c = buf[s.pos];
		if (depth == 0 && st == S_AFTER)
			return fail(&s, s.pos, "%s", "data after the JSON value");
		switch (st) {
		case S_VALUE_OR_END:
		case S_KEY_OR_END:
			if (c == (st == S_KEY_OR_END ? '}' : ']')) {
				s.pos++;
				goto close;
			}
			if (st == S_KEY_OR_END)
				goto key;
			role = elem_role((enum ctx)stack[depth - 1].ctx);
			/* fall through */
		case S_VALUE:
			if (c == '{' || c == '[') {
				bool obj = c == '{';
				if (role == R_ROOT && !obj)
					return fail_type(&s, s.pos, not_object);
				if (role == R_MODEL)
					return fail_type(&s, s.pos, "'model' must be a string");
				if (role == R_STREAM)
					return fail_type(&s, s.pos, "'stream' must be a boolean");
				if (role == R_USER)
					return fail_type(&s, s.pos, "'user' must be a string");
				if (depth == PROXY_JSON_MAX_DEPTH)
					return fail(&s, s.pos, "%s", "nested too deeply");
				if (role == R_ROOT)
					out->root_off = s.pos;
				else if (depth == 1 && top_k >= 0)
					top_off = s.pos;
				struct frame *f = &stack[depth++];
				f->obj = obj;
				f->ctx = (unsigned char)open_ctx(role, obj);
				f->start = s.pos;
				s.pos++;
				st = obj ? S_KEY_OR_END : S_VALUE_OR_END;
				continue;
			}
			if (role == R_ROOT)
				return fail_type(&s, s.pos, not_object);
			size_t vstart = s.pos;
			if (c == '"') {
				struct proxy_json_str str;
				if (scan_string(&s, &str) < 0)
					return -1;
				switch (role) {
				case R_MODEL: out->model = str; break;
				case R_USER: out->user = str; break;
				case R_STREAM:
					return fail_type(&s, vstart, "'stream' must be a boolean");
				case R_ROLE:
				case R_CONTENT:
				case R_TEXT:
				case R_PROMPT:
					emit(&s, str.p, str.len);
					break;
				default: break;
				}
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (scan_number(&s) < 0)
					return -1;
				if (role == R_MODEL)
					return fail_type(&s, vstart, "'model' must be a string");
				if (role == R_STREAM)
					return fail_type(&s, vstart, "'stream' must be a boolean");
				if (role == R_USER)
					return fail_type(&s, vstart, "'user' must be a string");
				if (role == R_PROMPT)
					emit(&s, buf + vstart, s.pos - vstart);
			} else {
				int lit = scan_literal(&s);
				if (lit < 0)
					return -1;
				if (role == R_MODEL && lit != 2)
					return fail_type(&s, vstart, "'model' must be a string");
				if (role == R_USER && lit != 2)
					return fail_type(&s, vstart, "'user' must be a string");
				if (role == R_STREAM)
					out->stream = lit == 2 ? -1 : lit;
				if (role == R_PROMPT && lit != 2)
					emit(&s, buf + vstart, s.pos - vstart);
			}
			if (depth == 1 && top_k >= 0) {
				out->top[top_k] = (struct proxy_json_span){vstart, s.pos - vstart};
				top_k = -1;
			}
			st = S_AFTER;
			continue;
		case S_AFTER: {
			struct frame *f = &stack[depth - 1];
			if (c == ',') {
				s.pos++;
				if (f->obj) {
					st = S_KEY;
				} else {
					st = S_VALUE;
					role = elem_role((enum ctx)f->ctx);
				}
				continue;
			}
			if (c == (f->obj ? '}' : ']')) {
				s.pos++;
				goto close;
			}
			return fail(&s, s.pos, "%s", f->obj ? "expected ',' or '}'" : "expected ',' or ']'");
		}
		case S_KEY:
			goto key;
		}
		continue;

	key: {
		if (c != '"')
			return fail(&s, s.pos, "%s", "expected a string key");
		struct proxy_json_str k;
		size_t kstart = s.pos;
		if (scan_string(&s, &k) < 0)
			return -1;
		skip_ws(&s);
		if (s.pos >= len || buf[s.pos] != ':')
			return fail(&s, s.pos, "%s", "expected ':'");
		s.pos++;
		unsigned once = 0;
		role = plain ? R_OTHER : key_role((enum ctx)stack[depth - 1].ctx, &k, &once);
		if (depth == 1)
			top_k = plain ? -1 : top_index(&k);
		if (once) {
			if (seen & once) {
				char name[80];
				int l = proxy_json_unescape(&k, name, sizeof name);
				if (l < 0)
					snprintf(name, sizeof name, "?");
				out->err_off = kstart;
				snprintf(err, errlen, "duplicate key \"%s\" in the request body", name);
				return -1;
			}
			seen |= once;
			if (once == K_MESSAGES)
				out->has_messages = true;
			if (once == K_PROMPT)
				out->has_prompt = true;
		}
		st = S_VALUE;
		continue;
	}
	close: {
		struct frame *f = &stack[--depth];
		if (f->ctx == C_RAW)
			emit(&s, buf + f->start, s.pos - f->start);
		if (depth == 1 && top_k >= 0) {
			out->top[top_k] = (struct proxy_json_span){top_off, s.pos - top_off};
			top_k = -1;
		}
		st = S_AFTER;
		continue;
	}
	}
}

int proxy_json_scan(const char *buf, size_t len, struct proxy_json_req *out,
		    proxy_json_piece_fn piece, void *arg, char *err, size_t errlen)
{
	return scan(buf, len, out, piece, arg, err, errlen, false);
}

int proxy_json_check(const char *buf, size_t len, char *err, size_t errlen)
{
	struct proxy_json_req out;
	return scan(buf, len, &out, NULL, NULL, err, errlen, true);
}

static void put_utf8(char *out, size_t *k, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*k)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*k)++] = (char)(0xC0 | (cp >> 6));
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*k)++] = (char)(0xE0 | (cp >> 12));
		out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*k)++] = (char)(0xF0 | (cp >> 18));
		out[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static uint32_t hex4(const char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 4 | (uint32_t)hexval((unsigned char)p[i]);
	return v;
}

int proxy_json_unescape(const struct proxy_json_str *s, char *out, size_t outlen)
{
	size_t k = 0;
	for (size_t i = 0; i < s->len;) {
		char c = s->p[i];
		uint32_t cp;
		if (c != '\\') {
			if (k + 1 >= outlen)
				return -1;
			out[k++] = c;
			i++;
			continue;
		}
		if (i + 1 >= s->len)
			return -1;
		char e = s->p[i + 1];
		i += 2;
		switch (e) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (i + 4 > s->len)
				return -1;
			cp = hex4(s->p + i);
			i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (i + 6 > s->len || s->p[i] != '\\' || s->p[i + 1] != 'u')
					return -1;
				uint32_t lo = hex4(s->p + i + 2);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return -1;
			}
			if (cp == 0)
				return -1;
			break;
		default:
			return -1;
		}
		size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (k + need >= outlen)
			return -1;
		put_utf8(out, &k, cp);
	}
	if (k >= outlen)
		return -1;
	out[k] = '\0';
	return (int)k;
}
