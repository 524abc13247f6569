/* rs_llm.h — elastic-research's client of an OpenAI-compatible chat
 * completions endpoint (the elastic proxy by default), with function
 * calling: "tools" in the request, "tool_calls" in the answer.
 *
 *   struct rs_llm llm;
 *   rs_llm_init(&llm, NULL, NULL);          defaults and the environment
 *   llm.model = strdup("gpt-oss-120b");     or leave NULL: rs_llm_prepare
 *   if (rs_llm_prepare(&llm, err, sizeof err) < 0) ...   reachable? model?
 *   struct rs_llm_reply r;
 *   rs_llm_chat(&llm, messages, tools, NULL, NULL, NULL, &r, err, sizeof err);
 *   ... r.content, r.calls[i].name / .arguments, r.prompt_tokens ...
 *   rs_llm_reply_free(&r);
 *   rs_llm_free(&llm);
 *
 * The endpoint is elastic: workers come and go, so every call is retried
 * on connection errors, timeouts, 429 and 5xx answers and answers that are
 * not a completion, with a doubling backoff (rs_http). A streamed call is
 * retried only until its first delta reached the caller. Thread-safe: one
 * struct rs_llm may serve many threads once rs_llm_prepare() returned.
 */
#ifndef ES_RS_LLM_H
#define ES_RS_LLM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct json_object;

#define RS_LLM_DEFAULT_REGISTRY "http://127.0.0.1:8780"

struct rs_llm {
	char *endpoint;     /* base URL of the API, ".../v1" (the
			     * chat/completions and models paths are appended) */
	char *registry;     /* the registry the endpoint belongs to when it was
			     * derived from ELASTIC_REGISTRY_URL (its key can be
			     * asked for); NULL when --endpoint was given */
	char *auth;         /* how to sign that request (munge, token:PATH,
			     * none; NULL: $ELASTIC_AUTH, else munge) */
	char *api_key;      /* Bearer key; NULL: none (or fetched, see registry) */
	char *model;        /* the "model" sent; NULL until rs_llm_prepare()
			     * picks the endpoint's first */
	long timeout_ms;    /* per attempt (default 600000: long generations) */
	int retries;        /* extra attempts (default 6) */
	long backoff_ms;    /* first wait, doubled each time (default 1000) */
	double temperature; /* sent when >= 0 (default -1: the server's) */
	long max_tokens;    /* sent when > 0 (default 0: the server's) */
	char *extra;        /* JSON object text whose members are added to
			     * every request (e.g. {"reasoning_effort":"high"});
			     * NULL: none */
};

/* One function call the model asked for. */
struct rs_llm_call {
	char *id;           /* the call's id ("call_..."; "" when absent) */
	char *name;         /* function name ("" when absent) */
	char *arguments;    /* JSON text of the arguments, as sent ("" when absent) */
};

/* What one chat completion call returned. */
struct rs_llm_reply {
	char *content;           /* the message's text ("" when none) */
	char *reasoning;         /* reasoning_content / reasoning, NULL when none */
	struct rs_llm_call *calls; /* tool calls, NCALLS of them */
	size_t ncalls;
	char finish_reason[32];  /* "stop", "tool_calls", "length", "" unknown */
	long prompt_tokens;      /* usage; -1 when the endpoint did not say */
	long completion_tokens;  /* usage; -1 when the endpoint did not say */
	double seconds;          /* wall time of the call, retries included */
	int attempts;            /* HTTP requests made, retries included */
	long status;             /* HTTP status of the last answer (0: none came,
				  * e.g. no connection); with a failed call, tells
				  * a refusal (400) from the rest */
};

/* Called with each piece of text of a streamed answer as it arrives
 * (KIND: 'c' content, 'r' reasoning). */
typedef void (*rs_llm_delta_fn)(char kind, const char *text, size_t len, void *arg);

/* Looks up a variable (NULL: unset); rs_llm_init's default is getenv. */
typedef const char *(*rs_llm_lookup_fn)(const char *name, void *arg);

/* Defaults, then the variables LOOKUP finds (NULL: the environment):
 * OPENAI_BASE_URL (the endpoint), else ELASTIC_REGISTRY_URL + "/v1"
 * (else RS_LLM_DEFAULT_REGISTRY + "/v1"), OPENAI_API_KEY, ELASTIC_AUTH,
 * ES_RESEARCH_MODEL. */
void rs_llm_init(struct rs_llm *l, rs_llm_lookup_fn lookup, void *arg);
void rs_llm_free(struct rs_llm *l);

/* Sets the endpoint from a flag: a base URL ("http://h:8780/v1", or
 * "http://h:8780", to which "/v1" is added). Returns 0, or -1 with ERR
 * (not http:// or https://). */
int rs_llm_set_endpoint(struct rs_llm *l, const char *url, char *err, size_t errlen);

/* Checks that the endpoint answers GET /models (with retries); when it
 * answers 401, no key was given and the endpoint is a registry's, asks the
 * registry for its key (GET /api/v1/key, signed as elasticctl signs) and
 * tries again; when no model was set, takes the first one listed. Returns
 * 0, or -1 with ERR ("cannot reach ...", "... lists no model; give
 * --model", "the endpoint wants an API key: ..."). */
int rs_llm_prepare(struct rs_llm *l, char *err, size_t errlen);

/* One chat completion. MESSAGES: the conversation (a JSON array); TOOLS:
 * the "tools" array or NULL; TOOL_CHOICE: "auto", "none", "required" or
 * NULL (not sent). With ON_DELTA the call is streamed and ON_DELTA sees
 * the text as it comes. Returns 0 with OUT filled (free it with
 * rs_llm_reply_free, also after a failure), or -1 with ERR when no
 * completion came after every attempt ("endpoint answered 400: ...",
 * "cannot connect to ..."). */
int rs_llm_chat(const struct rs_llm *l, struct json_object *messages, struct json_object *tools,
		const char *tool_choice, rs_llm_delta_fn on_delta, void *arg,
		struct rs_llm_reply *out, char *err, size_t errlen);

void rs_llm_reply_free(struct rs_llm_reply *r);

/* The assistant message of R for the conversation ({"role":"assistant",
 * "content":..., "tool_calls":[...]}), a new reference. */
struct json_object *rs_llm_reply_message(const struct rs_llm_reply *r);

/* The request body rs_llm_chat sends, appended to OUT (for tests). */
void rs_llm_request_body(const struct rs_llm *l, struct json_object *messages,
			 struct json_object *tools, const char *tool_choice, bool stream,
			 struct buf *out);

/* Parses a non-streamed answer (a chat.completion object) into OUT.
 * Returns 0, or -1 with ERR ("not JSON", "no choices", an error object's
 * message). */
int rs_llm_parse_completion(const char *body, size_t len, struct rs_llm_reply *out, char *err,
			    size_t errlen);

/* A streamed answer, fed as it arrives: the SSE events' data lines are
 * chat.completion.chunk objects, merged into one reply (content and
 * arguments concatenated, tool calls by their index). */
struct rs_llm_stream {
	struct buf line;           /* the incomplete line so far */
	struct buf event;          /* data lines of the event being read */
	struct rs_llm_reply *out;  /* what the chunks built so far */
	rs_llm_delta_fn on_delta;  /* may be NULL */
	void *arg;                 /* ON_DELTA's argument */
	bool done;                 /* "data: [DONE]" seen */
	bool error;                /* an event was not a chunk (ERRMSG says why) */
	char errmsg[256];          /* the first problem */
	size_t delivered;          /* bytes of text passed to ON_DELTA */
	size_t chunks;             /* chunks merged */
};

void rs_llm_stream_init(struct rs_llm_stream *s, struct rs_llm_reply *out, rs_llm_delta_fn on_delta,
			void *arg);
/* Feeds LEN bytes of the response body. */
void rs_llm_stream_feed(struct rs_llm_stream *s, const char *data, size_t len);
/* Ends the stream (a last line without a newline is taken). Returns 0, or
 * -1 with ERR when the stream held no chunk or a bad one. */
int rs_llm_stream_end(struct rs_llm_stream *s, char *err, size_t errlen);
void rs_llm_stream_free(struct rs_llm_stream *s);

#endif
