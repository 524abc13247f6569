/* proxy_migrate.h — stream migration: a generation cut by its worker's
 * failure goes on on another worker, spliced into the same response.
 *
 * The proxy's part that knows OpenAI's chat and completions formats; it
 * does no I/O (registry/proxy.c feeds it the upstream bytes and sends what
 * it returns), so that it can be tested alone.
 *
 * A request of a pool with migration on (model.toml [routing] migrate) is
 * read here at arrival (proxy_migrate_init, from proxy_json_scan's spans):
 *
 *   streamed by the client   its answer is taken event by event: only
 *                            whole events reach the client, and each is
 *                            read for the text so far (proxy_json_check, then a walk)
 *   not streamed, migratable sent upstream as a stream (stream: true,
 *                            stream_options.include_usage: true), and the
 *                            non-streamed answer is assembled here
 *                            (proxy_migrate_answer: vLLM's shape)
 *   not streamed, not migratable   passed on as before (not handled here)
 *
 * Not migratable (REFUSAL says why): n or best_of > 1, logprobs,
 * prompt_logprobs, echo, beam search, guided decoding or a response_format
 * other than text, a request that itself continues its final assistant
 * message, a completions prompt that is not one string, max_tokens (or
 * max_completion_tokens, min_tokens) that is not an integer; for
 * non-streamed requests also tools (the answer is not assembled then) and
 * stream_options. A stream becomes not migratable when it carries a
 * tool_calls delta or reasoning text.
 *
 * What is kept (struct proxy_migrate): the text so far (choices[0].delta.
 * content, or choices[0].text), the tokens so far (content-bearing events,
 * or usage.completion_tokens where an event has it), the id, created and
 * model of the first event, finish_reason, whether "data: [DONE]" came.
 *
 * Segments. The first worker's answer is segment 0: its events reach the
 * client as they came. When the worker fails after the segment's first
 * event (proxy.c decides), proxy_migrate_continue() builds the body of a
 * continuation from the client's body, with its other fields kept:
 *
 *   chat         the messages plus {"role":"assistant","content":TEXT},
 *                "continue_final_message": true, "add_generation_prompt":
 *                false (how vLLM and SGLang continue a partial assistant turn)
 *   completions  the prompt with TEXT appended
 *   both         max_tokens and max_completion_tokens less the tokens so far
 *                (min_tokens too, not below 0); a remainder below 1 means the
 *                generation is complete: finish it with finish_reason
 *                "length" (proxy_migrate_complete)
 *
 * and the next segment's events are spliced: its role-only first chunk is
 * dropped, every event's id, created and model become the first ones, and
 * a usage object counts the whole generation: prompt_tokens = the
 * continuation's prompt less the tokens so far, completion_tokens = the
 * tokens so far plus the continuation's (their total is the
 * continuation's). Exactly one "data: [DONE]" reaches the client.
 *
 * A failure that cannot be migrated ends a stream with an error event in
 * OpenAI's error JSON followed by "data: [DONE]", as vLLM ends a stream
 * whose generation failed (proxy_migrate_error_event).
 *
 * Limits of the splice: usage needs the upstream's usage chunk; when a
 * worker fails after the last token but before its usage chunk, a stream
 * ends without one and an assembled answer has "usage": null. Token counts
 * are events on engines that send one token per event (vLLM and SGLang by
 * default); the continuation's prompt is the text so far tokenized again,
 * which on a real engine may differ from the generated tokens by a few.
 */
#ifndef ES_PROXY_MIGRATE_H
#define ES_PROXY_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proxy_json.h"

/* Events longer than this are refused (a broken stream). */
#define PROXY_MIGRATE_EVENT_MAX (4u << 20)

struct proxy_migrate {
	/* The request (proxy_migrate_init). */
	bool chat;                  /* /v1/chat/completions; else /v1/completions */
	bool client_stream;         /* the client asked for a stream */
	bool assemble;              /* not streamed by the client but migratable: sent
				       upstream as a stream, the answer assembled here */
	bool migratable;            /* may go on on another worker */
	const char *refusal;        /* why not (static text), when !migratable */
	bool want_usage;            /* the client's stream_options.include_usage */
	size_t root_off;            /* from proxy_json_scan: the body's '{' */
	struct proxy_json_span top[PROXY_JSON_T_N_KEYS]; /* and its members */
	struct buf body;            /* the body sent upstream now; empty: the client's */

	/* The answer so far. */
	unsigned segment;           /* 0: the first worker's; k: after k migrations */
	bool started;               /* this segment's first event was taken */
	bool done;                  /* this segment's "data: [DONE]" came */
	struct buf text;            /* the generated text, decoded (UTF-8) */
	struct buf reasoning;       /* reasoning text (assembled answers only) */
	uint64_t base_tokens;       /* generated by the segments before this one */
	uint64_t seg_tokens;        /* generated by this one */
	int64_t prompt_tokens;      /* the client's prompt, once a usage said; -1 */
	bool usage_seen;            /* a usage object with no choices came (the last one) */
	char *id;                   /* the id, created and model the client saw */
	int64_t created;
	char *model;
	char finish[32];            /* finish_reason; "" until one comes */
	bool finish_upstream;       /* ... from the worker (the client saw it) */
	char stop_reason[128];      /* its stop_reason, as JSON */
	bool tool_calls;            /* the stream carried tool_calls deltas */
	bool thinking;              /* ... or reasoning text */
	struct buf ev;              /* the bytes of an event not complete yet */
	size_t ev_scan;             /* where to look for its end */
};

/* Reads the request: BODY (LEN bytes, scanned into JR by proxy_json_scan)
 * of /v1/chat/completions (CHAT) or /v1/completions. Free with
 * proxy_migrate_free. */
void proxy_migrate_init(struct proxy_migrate *m, bool chat, const char *body, size_t len,
			const struct proxy_json_req *jr);
void proxy_migrate_free(struct proxy_migrate *m);

/* Whether the proxy takes this request's answer event by event: a stream,
 * or a non-streamed request it assembles. */
bool proxy_migrate_handles(const struct proxy_migrate *m);

/* Takes LEN bytes of the current segment's event stream; appends to OUT
 * what the client gets of them (nothing for assembled answers). Returns 0,
 * or -1 with ERR: an event that is not JSON, or an error event after the
 * segment's first event (both: the worker failed; OUT holds what came
 * before it). The segment's first event is taken when it is "[DONE]" or a
 * JSON object (then STARTED is set). Bytes after "[DONE]" are ignored. */
int proxy_migrate_feed(struct proxy_migrate *m, const char *data, size_t len, struct buf *out,
		       char *err, size_t errlen);

/* Forgets what the current segment sent before its first event was taken
 * (its worker failed; another one is tried for the same segment). */
void proxy_migrate_reset_segment(struct proxy_migrate *m);

/* The tokens generated so far. */
uint64_t proxy_migrate_tokens(const struct proxy_migrate *m);

/* After the current segment's worker failed: builds the next segment's
 * request in BODY (the client's body BODY0, LEN0 bytes) and starts that
 * segment, unless MAX migrations were made. Returns 1 (send m->body), 0
 * (the generation is complete: proxy_migrate_complete), or -1 with WHY. */
int proxy_migrate_continue(struct proxy_migrate *m, const char *body0, size_t len0, unsigned max,
			   char *why, size_t whylen);

/* Appends what ends a stream whose generation is complete but whose
 * worker failed before its end: a last chunk with finish_reason "length"
 * if none came, a usage chunk if the client asked for one and it is known,
 * and "data: [DONE]". */
void proxy_migrate_complete(struct proxy_migrate *m, struct buf *out);

/* Appends the assembled non-streamed answer (JSON). */
void proxy_migrate_answer(const struct proxy_migrate *m, struct buf *out);

/* Appends an error event (OpenAI's error JSON in "data: ") and "data: [DONE]". */
void proxy_migrate_error_event(struct buf *out, int status, const char *msg);

#endif
