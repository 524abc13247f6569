/* sim_tools.h — elastic-sim's tool calls: how a chat request that offers
 * tools is answered, decided from its messages alone.
 *
 * With a non-empty `tools` (OpenAI's function format) and a `tool_choice`
 * other than "none", let T be the number of role "tool" messages after the
 * last "user" message. While T < --tool-rounds (or tool_choice is
 * "required" or names a function) the reply is one tool call: a search
 * tool with the user's question, or, once the last tool result holds an
 * http(s) URL, an open/read/fetch/browse tool with that URL. Then the
 * reply is "Answer: " and an excerpt of the last tool result. See TOOL
 * CALLS in elastic-sim(1).
 */
#ifndef ES_SIM_TOOLS_H
#define ES_SIM_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct json_object;

/* Bytes of the last tool result an answer quotes, at most. */
#define SIM_TOOLS_EXCERPT 300

enum sim_tools_act {
	SIM_TOOLS_TEXT,   /* no tool in play: the usual generated words */
	SIM_TOOLS_CALL,   /* one tool call */
	SIM_TOOLS_ANSWER, /* the final answer, from the last tool result */
};

struct sim_tools_plan {
	enum sim_tools_act act; /* what the reply is */
	char *name;             /* CALL: the function called */
	char *arguments;        /* CALL: its arguments, a JSON object's text */
	char id[32];            /* CALL: "call_" and 24 lower-case hex digits */
	char *answer;           /* ANSWER: the reply's text */
};

/* Checks the `tools` and `tool_choice` of REQ, a chat request whose
 * `messages` the chat template has already checked, and plans the reply.
 * ROUNDS is --tool-rounds; the call id derives from SEED and T. OPEN: the
 * last message is an assistant's left open (continue_final_message) and is
 * not one of the turns looked at. Returns 0, or -1 with *PARAM naming the
 * bad field and ERR set; PLAN is to be freed either way. */
int sim_tools_plan(struct json_object *req, unsigned rounds, uint64_t seed, bool open,
		   struct sim_tools_plan *plan, const char **param, char *err,
		   size_t errlen);

void sim_tools_plan_free(struct sim_tools_plan *plan);

/* Appends to OUT the first MAX bytes of S (LEN bytes), cut back to a
 * UTF-8 character's start, with leading and trailing whitespace dropped
 * and every other run of whitespace made one space. */
void sim_tools_excerpt(const char *s, size_t len, size_t max, struct buf *out);

/* Finds the first http:// or https:// URL in S (LEN bytes): it ends at
 * whitespace, a quote, <, >, a backslash or a control character, and
 * loses trailing punctuation (.,;:!?) and closing brackets. Returns
 * whether there is one; sets *OFF and *ULEN. */
bool sim_tools_first_url(const char *s, size_t len, size_t *off, size_t *ulen);

#endif
