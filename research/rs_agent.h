/* rs_agent.h — the deep-research agent loop.
 *
 * A conversation with a model over an OpenAI-compatible endpoint
 * (rs_llm): a system prompt, the user's question, then the model calls
 * tools (rs_tools) until it answers:
 *
 *   model ──tool_calls──▶ rs_tool_run each ──tool messages──▶ model ... answer
 *
 * Every problem of a tool call (unknown tool, arguments that are not a JSON
 * object, the service's failure) is the tool's result, for the model to
 * see: the loop goes on. After MAX_TOOL_CALLS calls the model is asked
 * once more, with tool_choice "none", for its final answer. When the
 * endpoint fails for good (rs_llm's retries spent) the turn ends with
 * status "error" and the trajectory records why.
 *
 * Everything is recorded for the trajectory (rs_agent_record): the
 * messages, each model call's time and tokens, each tool call's name,
 * arguments, time and outcome, the totals and the final answer.
 *
 * One agent is used by one thread at a time; agents are independent.
 */
#ifndef ES_RS_AGENT_H
#define ES_RS_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "rs_llm.h"
#include "rs_tools.h"

struct json_object;

#define RS_AGENT_MAX_TOOL_CALLS 30  /* default limit per question */

/* What the agent reports as it goes (chat's --verbose). */
enum rs_agent_ev_kind {
	RS_EV_LLM,        /* a model call ended (REPLY, or ERROR) */
	RS_EV_TOOL_START, /* a tool call is about to run (NAME, ARGS) */
	RS_EV_TOOL_DONE,  /* it ran (NAME, ARGS, RESULT, STAT) */
	RS_EV_LIMIT,      /* the tool-call limit is reached: the final answer is asked */
};

struct rs_agent_event {
	enum rs_agent_ev_kind kind;
	const struct rs_llm_reply *reply; /* RS_EV_LLM: the call (NULL when it failed) */
	const char *error;                /* RS_EV_LLM: why it failed, else NULL */
	const char *name;                 /* RS_EV_TOOL_*: the tool's name as called */
	const char *args;                 /* RS_EV_TOOL_*: its arguments' JSON text */
	const char *result;               /* RS_EV_TOOL_DONE: the text for the model */
	const struct rs_tool_stat *stat;  /* RS_EV_TOOL_DONE: time, HTTP calls, failed */
	int tool_calls;                   /* tool calls of this turn so far */
};

typedef void (*rs_agent_event_fn)(const struct rs_agent_event *ev, void *arg);

/* The model call and the tool runner, replaceable for tests. */
typedef int (*rs_agent_chat_fn)(const struct rs_llm *l, struct json_object *messages,
				struct json_object *tools, const char *tool_choice,
				rs_llm_delta_fn on_delta, void *arg, struct rs_llm_reply *out,
				char *err, size_t errlen);
typedef int (*rs_agent_tool_fn)(struct rs_session *s, const char *name, const char *args,
				struct buf *out, struct rs_tool_stat *st);

struct rs_agent_opts {
	const struct rs_llm *llm;          /* the endpoint and model (required) */
	const struct rs_conf *conf;        /* the tools' keys and services (required
					    * unless TOOL is replaced) */
	int max_tool_calls;                /* per question (0: RS_AGENT_MAX_TOOL_CALLS) */
	const char *system_prompt;         /* NULL: rs_agent_default_prompt() */
	rs_llm_delta_fn on_delta;          /* non-NULL: the model's answers are
					    * streamed to it */
	void *delta_arg;                   /* ON_DELTA's argument */
	rs_agent_event_fn on_event;        /* may be NULL */
	void *event_arg;                   /* ON_EVENT's argument */
	volatile sig_atomic_t *abandon;    /* non-zero: stop before the next step
					    * (status "abandoned"); may be NULL */
	rs_agent_chat_fn chat;             /* NULL: rs_llm_chat */
	rs_agent_tool_fn tool;             /* NULL: rs_tool_run */
};

struct rs_agent;

/* A new agent with the system prompt; NULL never (aborts without memory). */
struct rs_agent *rs_agent_new(const struct rs_agent_opts *o);
void rs_agent_free(struct rs_agent *a);

/* Forgets the conversation (back to the system prompt), the opened page
 * and the counters. */
void rs_agent_reset(struct rs_agent *a);

/* Asks QUESTION (a user message) and runs the loop until the model
 * answers. Returns 0 with the answer in rs_agent_answer(), or -1 with ERR
 * (the endpoint failed for good, or ABANDON was set); the conversation
 * keeps what happened either way. */
int rs_agent_ask(struct rs_agent *a, const char *question, char *err, size_t errlen);

/* The last turn's final answer (NULL when it has none). */
const char *rs_agent_answer(const struct rs_agent *a);

/* Totals since the agent's start or its last reset. */
struct rs_agent_totals {
	long llm_calls;          /* model calls that answered */
	long tool_calls;         /* tool calls run (those refused over the limit not counted) */
	long tool_errors;        /* tool calls whose result is an error */
	long prompt_tokens;      /* summed usage (calls without usage not counted) */
	long completion_tokens;
	long by_tool[RS_NTOOLS + 1]; /* tool calls per tool; [RS_NTOOLS]: unknown names */
	double llm_seconds;      /* time spent in model calls */
	double tool_seconds;     /* time spent in tools */
};
void rs_agent_totals(const struct rs_agent *a, struct rs_agent_totals *t);

/* The trajectory since the start or the last reset, a new reference:
 *   {"model", "endpoint", "started" (ISO 8601), "seconds",
 *    "status": "done" | "error" | "abandoned", "error": text or null,
 *    "answer": text or null, "hit_tool_limit", "max_tool_calls",
 *    "messages": [...the conversation, system prompt first...],
 *    "llm_calls": [{"seconds", "prompt_tokens", "completion_tokens",
 *                   "finish_reason", "attempts", "tool_calls", "reasoning"?,
 *                   "error"?}],
 *    "tool_calls": [{"id", "name", "arguments", "seconds", "http_calls",
 *                    "failed", "result_bytes", "refused"?}],
 *    "usage": {"prompt_tokens", "completion_tokens", "llm_calls", "tool_calls",
 *              "tool_errors"},
 *    "tool_counts": {"web_search": N, ...}} */
struct json_object *rs_agent_record(const struct rs_agent *a);

/* The default system prompt for the date of T (epoch seconds), a new
 * string. */
char *rs_agent_default_prompt(double t);

/* The text sent when the tool-call limit is reached. */
#define RS_AGENT_LIMIT_PROMPT                                                                    \
	"You have used all the tool calls allowed for this question. Do not call any more "       \
	"tools: write your final answer now from what you found so far."

#endif
