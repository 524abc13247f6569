/* bench_sse.h — streamed OpenAI responses for elasticctl bench: the
 * Server-Sent Events framing, and what one OpenAI JSON object (a streamed
 * chunk or a whole response) says.
 *
 * Framing (the WHATWG EventSource rules, as far as OpenAI streams need):
 * lines end in LF, CRLF or CR; a line "data: X" (or "data:X") appends X to
 * the event's data, several data lines joined with LF; a blank line ends
 * the event and delivers its data if it has any; lines starting with ':'
 * are comments; other fields (event, id, retry) are ignored. Bytes may
 * arrive split anywhere, a CRLF included. An event's data beyond
 * BENCH_SSE_MAX bytes is an error (the stream is not what we expect).
 *
 *   struct bench_sse p;
 *   bench_sse_init(&p, on_event, arg);
 *   bench_sse_feed(&p, data, len);   // each piece of the body, in order
 *   bench_sse_finish(&p);            // the body ended: a last event without
 *                                    // its blank line is still delivered
 *   bench_sse_free(&p);
 */
#ifndef ES_BENCH_SSE_H
#define ES_BENCH_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define BENCH_SSE_MAX (16u << 20)

/* Called with each event's data (NUL-terminated; LEN bytes). Returns 0 to
 * go on, non-zero to stop: bench_sse_feed() then returns that value. */
typedef int (*bench_sse_fn)(const char *data, size_t len, void *arg);

/* An incremental parser. */
struct bench_sse {
	struct buf line;  /* the line being read, without its end */
	struct buf data;  /* the event's data so far */
	bool has_data;    /* a data field was seen in this event */
	bool after_cr;    /* the last byte was CR: an LF next is part of it */
	bool failed;      /* an event grew over BENCH_SSE_MAX */
	bench_sse_fn fn;  /* the event callback */
	void *arg;        /* its argument */
};

void bench_sse_init(struct bench_sse *p, bench_sse_fn fn, void *arg);
/* Parses LEN more bytes. Returns 0, the callback's non-zero value, or -1
 * when an event is too large (then every later call returns -1). */
int bench_sse_feed(struct bench_sse *p, const char *data, size_t len);
/* The stream ended: delivers a pending event. Returns as bench_sse_feed(). */
int bench_sse_finish(struct bench_sse *p);
void bench_sse_free(struct bench_sse *p);

/* ---------------------------------------------------------------- OpenAI objects */

/* What one OpenAI JSON object says: a chat.completion(.chunk) or a
 * text_completion, streamed or whole. */
struct bench_oai {
	bool done;              /* the data was "[DONE]" */
	bool has_choices;       /* a non-empty "choices" array */
	bool has_text;          /* choices[0] carries generated output: non-empty
				   content, reasoning_content, text, or tool calls */
	bool finished;          /* choices[0].finish_reason is a string */
	long prompt_tokens;     /* usage.prompt_tokens; -1 when absent */
	long completion_tokens; /* usage.completion_tokens; -1 when absent */
	char error[256];        /* an "error" object's message (or the object);
				   "" when none */
};

/* Parses one object of LEN bytes (an SSE event's data or a whole response
 * body). Appends choices[0]'s generated text (delta.content, message.content
 * or text) to TEXT when TEXT is not NULL. Returns 0, or -1 with OUT->error
 * set when the data is not JSON or not an object. */
int bench_oai_parse(const char *data, size_t len, struct bench_oai *out, struct buf *text);

#endif
