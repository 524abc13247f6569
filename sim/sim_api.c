/* sim_api.c — elastic-sim's HTTP API, shaped as vLLM's OpenAI server.
 *
 *   POST /v1/chat/completions, /v1/completions  (stream or not)
 *   POST /v1/embeddings
 *   GET  /v1/models, /health, /ping, /version, /metrics
 *
 * Request bodies are validated field by field; every problem is a 400 in
 * OpenAI's error JSON naming the field (param). A wrong model is a 404.
 * Paths that do not exist get FastAPI's {"detail":"Not Found"}, as vLLM.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "oai.h"
#include "sim.h"
#include "sim_tok.h"
#include "sim_tools.h"

#define SIM_MAX_STOPS 16

enum sim_kind { KIND_CHAT, KIND_COMPLETION };

/* One generation request. */
struct sim_req {
	struct sim *sim;
	struct httpd_req *http;
	struct sim_seq seq;
	enum sim_kind kind;
	bool stream;
	bool include_usage;
	bool gone;             /* the client left */
	char id[48];           /* chatcmpl-... or cmpl-... */
	char *model;           /* the name to answer with */
	struct sim_toks prompt;
	uint64_t *hashes;      /* prompt's full-block hashes */
	struct buf text;       /* the planned output */
	uint32_t *ends;        /* ends[i]: end of token i in text */
	char *stop_reason;     /* the stop string that ended it, or NULL */
	char *tool_name;       /* a tool call: its function (text: its arguments) */
	char tool_id[32];      /* a tool call: its id */
	uint64_t t_prev;       /* time of the previous token */
	struct buf out;        /* scratch for chunks and bodies */
};

/* A validation failure. */
struct api_err {
	int status;
	const char *param;
	char msg[512];
};

static int api_fail(struct api_err *e, int status, const char *param,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int api_fail(struct api_err *e, int status, const char *param,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->status = status;
	e->param = param;
	return -1;
}

static void api_reply_err(struct httpd_req *req, const struct api_err *e)
{
	oai_reply_error(req, e->status, e->param, "%s", e->msg);
}

/* ---------------------------------------------------------------- JSON fields */

static struct json_object *api_parse(struct sim *s, const char *body, size_t len,
				     struct api_err *e)
{
	if (len == 0) {
		api_fail(e, 400, NULL, "the request body is empty: expected a JSON object");
		return NULL;
	}
	json_tokener_reset(s->tok);
	struct json_object *o = json_tokener_parse_ex(s->tok, body, (int)len);
	enum json_tokener_error je = json_tokener_get_error(s->tok);
	size_t end = json_tokener_get_parse_end(s->tok);
	if (!o || je != json_tokener_success) {
		if (je == json_tokener_continue || je == json_tokener_success)
			api_fail(e, 400, NULL, "invalid JSON: unexpected end of the body");
		else
			api_fail(e, 400, NULL, "invalid JSON at byte %zu: %s", end,
				 json_tokener_error_desc(je));
		json_object_put(o);
		return NULL;
	}
	while (end < len && (body[end] == ' ' || body[end] == '\n' ||
			     body[end] == '\r' || body[end] == '\t'))
		end++;
	if (end < len) {
		api_fail(e, 400, NULL, "invalid JSON at byte %zu: trailing characters", end);
		json_object_put(o);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		api_fail(e, 400, NULL, "the request body must be a JSON object");
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Field KEY of O: NULL when absent or null. */
static struct json_object *api_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static int api_bool(struct json_object *o, const char *key, bool *out,
		    struct api_err *e)
{
	struct json_object *v = api_get(o, key);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return api_fail(e, 400, key, "'%s' must be a boolean", key);
	*out = json_object_get_boolean(v);
	return 1;
}

/* An integer field (a float with no fraction is accepted, as pydantic
 * does); out of [MIN, MAX] is an error. Returns 1 when set, 0 when absent. */
static int api_int(struct json_object *o, const char *key, int64_t min,
		   int64_t max, int64_t *out, struct api_err *e)
{
	struct json_object *v = api_get(o, key);
	if (!v)
		return 0;
	int64_t n;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		if (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			return api_fail(e, 400, key, "'%s' is too large", key);
	} else if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!isfinite(d) || d != floor(d))
			return api_fail(e, 400, key, "'%s' must be an integer", key);
		if (d < -9.2e18 || d > 9.2e18)
			return api_fail(e, 400, key, "'%s' is out of range", key);
		n = (int64_t)d;
	} else {
		return api_fail(e, 400, key, "'%s' must be an integer", key);
	}
	if (n < min)
		return api_fail(e, 400, key, "'%s' must be at least %lld", key,
				(long long)min);
	if (n > max)
		return api_fail(e, 400, key, "'%s' must be at most %lld", key,
				(long long)max);
	*out = n;
	return 1;
}

static int api_number(struct json_object *o, const char *key, double min,
		      double max, struct api_err *e)
{
	struct json_object *v = api_get(o, key);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return api_fail(e, 400, key, "'%s' must be a number", key);
	double d = json_object_get_double(v);
	if (!isfinite(d) || d < min || d > max)
		return api_fail(e, 400, key, "'%s' must be between %g and %g", key, min, max);
	return 1;
}

/* ---------------------------------------------------------------- prompts */

static int api_model(struct sim *s, struct json_object *o, struct sim_req *r,
		     struct api_err *e)
{
	struct json_object *v = api_get(o, "model");
	if (!v) {
		r->model = strdup(s->cfg.names[0]);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return api_fail(e, 400, "model", "'model' must be a string");
	const char *m = json_object_get_string(v);
	for (int i = 0; i < s->cfg.nnames; i++) {
		if (strcmp(m, s->cfg.names[i]) == 0) {
			r->model = strdup(m);
			return 0;
		}
	}
	char shown[128];
	snprintf(shown, sizeof shown, "%s", m);
	return api_fail(e, 404, "model", "The model `%s` does not exist.", shown);
}

/* Tokenizes a message's CONTENT (a string or text parts) into T; appends
 * its text to TEXT when TEXT is not NULL. */
static int api_text_content(struct json_object *content, struct sim_toks *t,
			    struct buf *text, struct api_err *e)
{
	if (json_object_is_type(content, json_type_string)) {
		const char *str = json_object_get_string(content);
		size_t len = (size_t)json_object_get_string_len(content);
		sim_tok_encode(str, len, t);
		if (text)
			buf_append(text, str, len);
		return 0;
	}
	if (!json_object_is_type(content, json_type_array))
		return api_fail(e, 400, "messages",
				"a message's 'content' must be a string or an array of parts");
	size_t n = json_object_array_length(content);
	for (size_t i = 0; i < n; i++) {
		struct json_object *part = json_object_array_get_idx(content, i);
		struct json_object *type, *ptext;
		if (!json_object_is_type(part, json_type_object) ||
		    !(type = api_get(part, "type")) ||
		    !json_object_is_type(type, json_type_string))
			return api_fail(e, 400, "messages",
					"each content part must be an object with a 'type'");
		if (strcmp(json_object_get_string(type), "text") != 0)
			return api_fail(e, 400, "messages",
					"content part type '%.64s' is not supported: "
					"elastic-sim serves a text-only model",
					json_object_get_string(type));
		ptext = api_get(part, "text");
		if (!ptext || !json_object_is_type(ptext, json_type_string))
			return api_fail(e, 400, "messages",
					"a text content part needs a string 'text'");
		const char *str = json_object_get_string(ptext);
		size_t len = (size_t)json_object_get_string_len(ptext);
		sim_tok_encode(str, len, t);
		if (text)
			buf_append(text, str, len);
	}
	return 0;
}

/* The tool calls of assistant message I, tokenized into T: a marker, the
 * function's name and its arguments per call. */
static int api_tool_calls(struct json_object *calls, size_t i, struct sim_toks *t,
			  struct api_err *e)
{
	if (!json_object_is_type(calls, json_type_array))
		return api_fail(e, 400, "messages", "messages[%zu].tool_calls must be an array", i);
	for (size_t k = 0; k < json_object_array_length(calls); k++) {
		struct json_object *c = json_object_array_get_idx(calls, k);
		struct json_object *f = json_object_is_type(c, json_type_object)
						? api_get(c, "function") : NULL;
		struct json_object *name = f && json_object_is_type(f, json_type_object)
						   ? api_get(f, "name") : NULL;
		struct json_object *args = name ? api_get(f, "arguments") : NULL;
		struct json_object *id = json_object_is_type(c, json_type_object)
						 ? api_get(c, "id") : NULL;
		if (!name || !json_object_is_type(name, json_type_string) ||
		    (args && !json_object_is_type(args, json_type_string) &&
		     !json_object_is_type(args, json_type_object)) ||
		    (id && !json_object_is_type(id, json_type_string)))
			return api_fail(e, 400, "messages",
					"messages[%zu].tool_calls[%zu] must be {\"id\": ..., "
					"\"type\": \"function\", \"function\": {\"name\": ..., "
					"\"arguments\": ...}}", i, k);
		sim_toks_push(t, sim_tok_special("<|tool_call|>"));
		sim_tok_encode(json_object_get_string(name),
			       (size_t)json_object_get_string_len(name), t);
		if (args && json_object_is_type(args, json_type_string)) {
			sim_tok_encode(json_object_get_string(args),
				       (size_t)json_object_get_string_len(args), t);
		} else {
			const char *a = args ? json_object_to_json_string_ext(args,
									      JSON_C_TO_STRING_PLAIN)
					     : "{}";
			sim_tok_encode(a, strlen(a), t);
		}
	}
	return 0;
}

/* The chat template: the tools offered, if any; a role marker, the content
 * and an end marker per message (a tool message's tool_call_id after its
 * marker, an assistant's tool calls after its content), then the
 * assistant's marker (add_generation_prompt, true by default). With
 * continue_final_message (*CONTP) the last message, an assistant's, stays
 * open: its marker and content, no end marker, no generation prompt; its
 * text goes to OPEN (the text a continuation resumes from). */
static int api_chat_prompt(struct json_object *o, struct sim_toks *t,
			   struct buf *open, bool *contp, struct api_err *e)
{
	bool gen_prompt = true, cont = false;
	if (api_bool(o, "add_generation_prompt", &gen_prompt, e) < 0 ||
	    api_bool(o, "continue_final_message", &cont, e) < 0)
		return -1;
	*contp = cont;
	if (gen_prompt && cont)
		return api_fail(e, 400, "continue_final_message",
				"Cannot set both `continue_final_message` and "
				"`add_generation_prompt` to True.");
	struct json_object *msgs = api_get(o, "messages");
	if (!msgs)
		return api_fail(e, 400, "messages", "'messages' is required");
	if (!json_object_is_type(msgs, json_type_array))
		return api_fail(e, 400, "messages", "'messages' must be an array");
	size_t n = json_object_array_length(msgs);
	if (n == 0)
		return api_fail(e, 400, "messages", "'messages' must not be empty");
	sim_toks_push(t, sim_tok_special("<|begin_of_text|>"));
	struct json_object *tools = api_get(o, "tools");
	if (tools && json_object_is_type(tools, json_type_array) &&
	    json_object_array_length(tools) > 0) {
		/* The functions offered, as a template puts them in the system
		 * prompt (sim_tools_plan checks their shape). */
		sim_toks_push(t, sim_tok_special("<|tools|>"));
		const char *js = json_object_to_json_string_ext(tools, JSON_C_TO_STRING_PLAIN);
		sim_tok_encode(js, strlen(js), t);
		sim_toks_push(t, sim_tok_special("<|eot_id|>"));
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(msgs, i);
		if (!json_object_is_type(m, json_type_object))
			return api_fail(e, 400, "messages", "messages[%zu] must be an object", i);
		struct json_object *role = api_get(m, "role");
		if (!role || !json_object_is_type(role, json_type_string) ||
		    json_object_get_string_len(role) == 0)
			return api_fail(e, 400, "messages",
					"messages[%zu] needs a string 'role'", i);
		const char *rs = json_object_get_string(role);
		bool last_open = cont && i + 1 == n;
		if (last_open && strcmp(rs, "assistant") != 0)
			return api_fail(e, 400, "messages",
					"continue_final_message needs the last message to be "
					"the assistant's, not '%.32s'", rs);
		sim_toks_push(t, sim_tok_special(rs));
		if (strcmp(rs, "tool") == 0) {
			struct json_object *id = api_get(m, "tool_call_id");
			if (id && !json_object_is_type(id, json_type_string))
				return api_fail(e, 400, "messages",
						"messages[%zu].tool_call_id must be a string", i);
			if (id)
				sim_tok_encode(json_object_get_string(id),
					       (size_t)json_object_get_string_len(id), t);
		}
		struct json_object *content = api_get(m, "content");
		if (content) {
			if (api_text_content(content, t, last_open ? open : NULL, e) != 0)
				return -1;
		} else if (strcmp(rs, "assistant") != 0) {
			return api_fail(e, 400, "messages",
					"messages[%zu] needs a 'content'", i);
		}
		struct json_object *calls = api_get(m, "tool_calls");
		if (calls && strcmp(rs, "assistant") == 0 &&
		    api_tool_calls(calls, i, t, e) != 0)
			return -1;
		if (!last_open)
			sim_toks_push(t, sim_tok_special("<|eot_id|>"));
	}
	if (gen_prompt)
		sim_toks_push(t, sim_tok_special("assistant"));
	return 0;
}

static int api_token_ids(struct json_object *arr, struct sim_toks *t,
			 const char *param, struct api_err *e)
{
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_int))
			return api_fail(e, 400, param, "'%s' mixes token ids and other values",
					param);
		int64_t id = json_object_get_int64(v);
		if (id < 0 || id >= SIM_TOK_VOCAB)
			return api_fail(e, 400, param, "token id %lld is out of vocabulary",
					(long long)id);
		sim_toks_push(t, (uint32_t)id);
	}
	return 0;
}

/* A prompt or an embedding input: a string, token ids, or a list of one
 * of those (ALLOW_MANY: a list of several, appended to LIST). */
static int api_one_input(struct json_object *v, struct sim_toks *t,
			 const char *param, struct api_err *e)
{
	if (json_object_is_type(v, json_type_string)) {
		sim_tok_encode(json_object_get_string(v),
			       (size_t)json_object_get_string_len(v), t);
		return 0;
	}
	if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
		return api_token_ids(v, t, param, e);
	return api_fail(e, 400, param,
			"'%s' must be a string, an array of strings or token ids", param);
}

/* A completion's prompt; a string prompt's text also goes to OPEN (the
 * text a continuation resumes from). */
static int api_completion_prompt(struct json_object *o, struct sim_toks *t,
				 struct buf *open, struct api_err *e)
{
	struct json_object *p = api_get(o, "prompt");
	if (!p)
		return api_fail(e, 400, "prompt", "'prompt' is required");
	sim_toks_push(t, sim_tok_special("<|begin_of_text|>"));
	if (json_object_is_type(p, json_type_array)) {
		size_t n = json_object_array_length(p);
		if (n == 0)
			return api_fail(e, 400, "prompt", "'prompt' must not be empty");
		struct json_object *first = json_object_array_get_idx(p, 0);
		if (json_object_is_type(first, json_type_int))
			return api_token_ids(p, t, "prompt", e);
		if (n > 1)
			return api_fail(e, 400, "prompt",
					"elastic-sim takes one prompt per request");
		p = first;
	} else if (!json_object_is_type(p, json_type_string)) {
		return api_fail(e, 400, "prompt",
				"'prompt' must be a string, an array of strings or token ids");
	}
	if (api_one_input(p, t, "prompt", e) != 0)
		return -1;
	if (json_object_is_type(p, json_type_string))
		buf_append(open, json_object_get_string(p),
			   (size_t)json_object_get_string_len(p));
	return 0;
}

/* ---------------------------------------------------------------- planning */

static void sim_req_free(struct sim_req *r)
{
	sim_toks_free(&r->prompt);
	free(r->hashes);
	buf_free(&r->text);
	free(r->ends);
	free(r->stop_reason);
	free(r->tool_name);
	free(r->model);
	buf_free(&r->out);
	free(r);
}

static uint64_t sim_rand(struct sim *s)
{
	s->rng += 0x9e3779b97f4a7c15ULL;
	return sim_mix64(s->rng);
}

/* Plans the output: NOUT tokens of text, cut at the first stop string; a
 * chat with tools gets a tool call or an answer from a tool result instead
 * (sim_tools.h; CONT: continue_final_message).
 * With a seed, a prompt whose OPEN text (the open assistant message, or a
 * completion's prompt) ends with the first K words generated for that seed
 * is a continuation: generation resumes at word K, and the natural end
 * stays at --output-len words counted from word 0 (see CONTINUATION in
 * elastic-sim(1)). */
static int api_plan(struct sim *s, struct sim_req *r, struct json_object *o,
		    const struct buf *open, bool cont, struct api_err *e)
{
	const struct sim_config *c = &s->cfg;
	size_t np = r->prompt.n;
	if (np >= c->max_model_len)
		return api_fail(e, 400, r->kind == KIND_CHAT ? "messages" : "prompt",
				"This model's maximum context length is %u tokens. However, "
				"your request has %zu input tokens. Please reduce the length "
				"of the input messages.", c->max_model_len, np);
	int64_t room = (int64_t)c->max_model_len - (int64_t)np;
	int64_t max_tokens = 0, mct = 0, min_tokens = 0, seed = 0;
	int have_mt = api_int(o, "max_tokens", 1, INT64_MAX, &max_tokens, e);
	if (have_mt < 0)
		return -1;
	int have_mct = 0;
	if (r->kind == KIND_CHAT) {
		have_mct = api_int(o, "max_completion_tokens", 1, INT64_MAX, &mct, e);
		if (have_mct < 0)
			return -1;
	}
	if (have_mct) {
		max_tokens = mct;
		have_mt = 1;
	}
	if (have_mt && max_tokens > room)
		return api_fail(e, 400, have_mct ? "max_completion_tokens" : "max_tokens",
				"This model's maximum context length is %u tokens. However, "
				"you requested %lld tokens (%zu in the messages, %lld in the "
				"completion). Please reduce the length of the messages or "
				"completion.", c->max_model_len, (long long)(np + (size_t)max_tokens),
				np, (long long)max_tokens);
	if (api_int(o, "min_tokens", 0, INT64_MAX, &min_tokens, e) < 0)
		return -1;
	bool ignore_eos = false;
	if (api_bool(o, "ignore_eos", &ignore_eos, e) < 0)
		return -1;
	int have_seed = api_int(o, "seed", INT64_MIN, INT64_MAX, &seed, e);
	if (have_seed < 0)
		return -1;
	int64_t n = 1;
	if (api_int(o, "n", 1, INT64_MAX, &n, e) < 0)
		return -1;
	if (n != 1)
		return api_fail(e, 400, "n", "'n' must be 1: elastic-sim generates one choice");
	if (api_number(o, "temperature", 0, 2, e) < 0 || api_number(o, "top_p", 0, 1, e) < 0 ||
	    api_number(o, "presence_penalty", -2, 2, e) < 0 ||
	    api_number(o, "frequency_penalty", -2, 2, e) < 0)
		return -1;

	/* Stop strings. */
	const char *stops[SIM_MAX_STOPS];
	int nstops = 0;
	struct json_object *st = api_get(o, "stop");
	if (st) {
		if (json_object_is_type(st, json_type_string)) {
			if (json_object_get_string_len(st) > 0)
				stops[nstops++] = json_object_get_string(st);
		} else if (json_object_is_type(st, json_type_array)) {
			size_t k = json_object_array_length(st);
			if (k > SIM_MAX_STOPS)
				return api_fail(e, 400, "stop", "'stop' has more than %d strings",
						SIM_MAX_STOPS);
			for (size_t i = 0; i < k; i++) {
				struct json_object *x = json_object_array_get_idx(st, i);
				if (!json_object_is_type(x, json_type_string))
					return api_fail(e, 400, "stop",
							"'stop' must be a string or an array of strings");
				if (json_object_get_string_len(x) > 0)
					stops[nstops++] = json_object_get_string(x);
			}
		} else {
			return api_fail(e, 400, "stop",
					"'stop' must be a string or an array of strings");
		}
	}

	int64_t limit = have_mt ? max_tokens : room;
	int64_t nout;
	struct sim_tools_plan tp;
	memset(&tp, 0, sizeof tp);
	if (r->kind == KIND_CHAT && (api_get(o, "tools") || api_get(o, "tool_choice"))) {
		/* The call id derives from the seed, or else from the prompt. */
		uint64_t idseed = have_seed ? (uint64_t)seed
					    : sim_hash64(r->prompt.ids, np * sizeof *r->prompt.ids, 7);
		const char *param = NULL;
		char terr[256];
		if (sim_tools_plan(o, c->tool_rounds, idseed, cont, &tp, &param, terr,
				   sizeof terr) != 0) {
			sim_tools_plan_free(&tp);
			return api_fail(e, 400, param, "%s", terr);
		}
	}
	/* What the text is: a tool call's arguments (after a first token that
	 * names the function), the rest of an answer from a tool result, or
	 * the seed's words. */
	size_t skip = 0; /* of the answer: the open text it continues */
	if (tp.act == SIM_TOOLS_ANSWER && open->len > 0) {
		size_t alen = strlen(tp.answer);
		while (skip < open->len && skip < alen)
			skip = sim_tok_next(tp.answer, alen, skip);
		if (skip != open->len || memcmp(tp.answer, open->data, open->len) != 0)
			tp.act = SIM_TOOLS_TEXT; /* continuing some other text */
	}
	if (tp.act == SIM_TOOLS_CALL && open->len > 0)
		tp.act = SIM_TOOLS_TEXT;
	if (tp.act == SIM_TOOLS_CALL || tp.act == SIM_TOOLS_ANSWER) {
		const char *t = tp.act == SIM_TOOLS_CALL ? tp.arguments : tp.answer + skip;
		size_t tl = strlen(t);
		nout = tp.act == SIM_TOOLS_CALL ? 1 : 0;
		for (size_t i = 0; i < tl; i = sim_tok_next(t, tl, i))
			nout++;
		if (nout == 0)
			nout = 1; /* the whole answer was there: only the end */
		buf_append(&r->text, t, tl);
		if (tp.act == SIM_TOOLS_CALL) {
			r->tool_name = tp.name;
			tp.name = NULL;
			snprintf(r->tool_id, sizeof r->tool_id, "%s", tp.id);
		}
	} else {
		/* A continuation resumes at word K; max_tokens, min_tokens and
		 * ignore_eos count from there, as an engine counts them from the
		 * end of the prompt. */
		uint32_t k = 0;
		if (have_seed && open->len > 0)
			k = sim_tok_resume((uint64_t)seed, open->data, open->len);
		int64_t natural = (int64_t)c->output_len > (int64_t)k
					  ? (int64_t)c->output_len - k : 1;
		nout = ignore_eos ? limit : natural;
		if (nout < min_tokens)
			nout = min_tokens;
		if (nout > limit)
			nout = limit;
		if (nout < 1)
			nout = 1;
		/* Without a seed the reply depends on the prompt as well as on
		 * the engine's own sequence, so different questions get
		 * different text. */
		uint64_t tseed = have_seed ? (uint64_t)seed : sim_rand(s);
		if (!have_seed)
			for (size_t i = 0; i < np; i++)
				tseed = sim_mix64(tseed ^ r->prompt.ids[i]);
		buf_reserve(&r->text, (size_t)nout * 6);
		for (int64_t i = 0; i < nout; i++) {
			size_t wl;
			const char *w = sim_tok_word(tseed, k + (uint32_t)i, &wl);
			buf_append(&r->text, w, wl);
		}
	}
	sim_tools_plan_free(&tp);
	if (nout > limit)
		nout = limit;
	if (sim_kv_blocks_for(s->kv, np + (size_t)nout) > s->kv->nblocks)
		return api_fail(e, 400, r->kind == KIND_CHAT ? "messages" : "prompt",
				"the request needs %d KV-cache blocks but the cache has %d "
				"(--num-gpu-blocks)", sim_kv_blocks_for(s->kv, np + (size_t)nout),
				s->kv->nblocks);
	r->seq.reason = nout == limit ? SIM_FINISH_LENGTH : SIM_FINISH_STOP;
	/* Where each token ends in the text; a tool call's first token, its
	 * name, has no text, and a max_tokens cut ends the text early. */
	r->ends = malloc((size_t)nout * sizeof *r->ends);
	if (!r->ends)
		return api_fail(e, 500, NULL, "out of memory");
	size_t pos = 0;
	for (int64_t i = 0; i < nout; i++) {
		if (pos < r->text.len && !(r->tool_name && i == 0))
			pos = sim_tok_next(r->text.data, r->text.len, pos);
		r->ends[i] = (uint32_t)pos;
	}
	r->text.len = pos;
	if (r->text.data)
		r->text.data[pos] = '\0';
	else
		buf_puts(&r->text, "");
	/* The earliest stop string ends the output before it. */
	size_t cut = r->text.len;
	const char *which = NULL;
	for (int i = 0; i < nstops && !r->tool_name; i++) {
		const char *p = memmem(r->text.data, r->text.len, stops[i], strlen(stops[i]));
		if (p && (size_t)(p - r->text.data) < cut) {
			cut = (size_t)(p - r->text.data);
			which = stops[i];
		}
	}
	if (which) {
		int64_t k = 0;
		while (k < nout && r->ends[k] <= cut)
			k++;
		if (k == nout)
			k = nout - 1;
		nout = k + 1;
		for (int64_t i = 0; i < nout; i++)
			if (r->ends[i] > cut)
				r->ends[i] = (uint32_t)cut;
		r->text.len = cut;
		r->text.data[cut] = '\0';
		r->stop_reason = strdup(which);
		r->seq.reason = SIM_FINISH_STOP;
	}
	r->seq.nout = (uint32_t)nout;

	/* Prefix-cache hashes, salted as vLLM's cache_salt does. */
	uint64_t salt = 0;
	struct json_object *cs = api_get(o, "cache_salt");
	if (cs) {
		if (!json_object_is_type(cs, json_type_string) ||
		    json_object_get_string_len(cs) == 0)
			return api_fail(e, 400, "cache_salt",
					"'cache_salt' must be a non-empty string");
		salt = sim_hash64(json_object_get_string(cs),
				  (size_t)json_object_get_string_len(cs), 0);
	}
	r->hashes = malloc((np / (size_t)c->block_size + 1) * sizeof *r->hashes);
	if (!r->hashes)
		return api_fail(e, 500, NULL, "out of memory");
	r->seq.nhash = sim_kv_hashes(s->kv, r->prompt.ids, np, salt, r->hashes);
	r->seq.hashes = r->hashes;
	r->seq.nprompt = np;
	return 0;
}

/* ---------------------------------------------------------------- output */

static const char *finish_name(enum sim_finish f)
{
	return f == SIM_FINISH_LENGTH ? "length" : f == SIM_FINISH_STOP ? "stop" : "abort";
}

/* The finish reason R's client sees: a tool call that ends as planned
 * (the scheduler's "stop") is "tool_calls". */
static const char *finish_shown(const struct sim_req *r, enum sim_finish f)
{
	return r->tool_name && f == SIM_FINISH_STOP ? "tool_calls" : finish_name(f);
}

/* The tool call of R: its id, type and function, with the arguments in
 * r->text[FROM, TO); NAMED: with the id, type and name (the first chunk of
 * a stream, or a whole call). */
static void put_tool_call(struct sim_req *r, struct buf *b, bool named, uint32_t from,
			  uint32_t to)
{
	buf_puts(b, "[{");
	if (r->stream)
		buf_puts(b, "\"index\":0,");
	if (named) {
		buf_printf(b, "\"id\":\"%s\",\"type\":\"function\",", r->tool_id);
		buf_puts(b, "\"function\":{\"name\":");
		buf_json_str(b, r->tool_name, strlen(r->tool_name));
		buf_puts(b, ",\"arguments\":");
	} else {
		buf_puts(b, "\"function\":{\"arguments\":");
	}
	buf_json_str(b, r->text.data + from, to - from);
	buf_puts(b, "}}]");
}

static void put_head(struct sim_req *r, struct buf *b, const char *object)
{
	buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":",
		   r->id, object, (long long)r->sim->created);
	buf_json_str(b, r->model, strlen(r->model));
}

static void put_usage(struct sim_req *r, struct buf *b)
{
	size_t np = r->seq.nprompt, nc = r->seq.ngen;
	buf_printf(b, "\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu,"
		      "\"completion_tokens\":%zu,\"prompt_tokens_details\":"
		      "{\"cached_tokens\":%d}}",
		   np, np + nc, nc, r->seq.cached);
}

static void put_stop_reason(struct sim_req *r, struct buf *b)
{
	buf_puts(b, "\"stop_reason\":");
	if (r->stop_reason)
		buf_json_str(b, r->stop_reason, strlen(r->stop_reason));
	else
		buf_puts(b, "null");
}

static void sse_send(struct sim_req *r)
{
	httpd_stream_write(r->http, r->out.data, r->out.len);
}

static void api_token(struct sim_seq *seq, uint32_t i, uint64_t now, void *arg)
{
	struct sim *s = arg;
	struct sim_req *r = seq->ctx;
	if (i == 0) {
		s->metrics.prompt_tokens += seq->nprompt;
		sim_hist_observe(&s->metrics.ttft, (double)(now - seq->t_submit) / 1e6);
		sim_hist_observe(&s->metrics.queue, (double)(seq->t_admit - seq->t_submit) / 1e6);
	} else {
		sim_hist_observe(&s->metrics.itl, (double)(now - r->t_prev) / 1e6);
	}
	r->t_prev = now;
	s->metrics.generation_tokens++;
	if (!r->stream || r->gone)
		return;
	uint32_t from = i ? r->ends[i - 1] : 0, to = r->ends[i];
	bool last = i + 1 == seq->nout;
	struct buf *b = &r->out;
	buf_reset(b);
	if (r->kind == KIND_CHAT) {
		if (i == 0) {
			buf_puts(b, "data: ");
			put_head(r, b, "chat.completion.chunk");
			buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
				    "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
		}
		buf_puts(b, "data: ");
		put_head(r, b, "chat.completion.chunk");
		if (r->tool_name) {
			/* The name on the first token, the arguments after it;
			 * the finish reason in a chunk of its own, as vLLM. */
			buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":");
			put_tool_call(r, b, i == 0, from, to);
			buf_puts(b, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
			if (last) {
				buf_puts(b, "data: ");
				put_head(r, b, "chat.completion.chunk");
				buf_printf(b, ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
					      "\"finish_reason\":\"%s\",\"stop_reason\":null}]}\n\n",
					   finish_shown(r, seq->reason));
			}
			sse_send(r);
			return;
		}
		buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
		buf_json_str(b, r->text.data + from, to - from);
		buf_puts(b, "},\"logprobs\":null,\"finish_reason\":");
	} else {
		buf_puts(b, "data: ");
		put_head(r, b, "text_completion");
		buf_puts(b, ",\"choices\":[{\"index\":0,\"text\":");
		buf_json_str(b, r->text.data + from, to - from);
		buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
	}
	if (last) {
		buf_printf(b, "\"%s\",", finish_name(seq->reason));
		put_stop_reason(r, b);
	} else {
		buf_puts(b, "null,\"stop_reason\":null");
	}
	buf_puts(b, "}]}\n\n");
	sse_send(r);
}

static void api_count_done(struct sim *s)
{
	s->ncompleted++;
	if (s->cfg.crash_after && s->ncompleted == (uint64_t)s->cfg.crash_after)
		event_active(s->crash_ev, EV_TIMEOUT, 1);
	if (s->cfg.hang_after && s->ncompleted == (uint64_t)s->cfg.hang_after) {
		log_warn("--hang-after %ld reached: no longer answering", s->cfg.hang_after);
		s->hung = true;
		sim_sched_pause(&s->sched, true);
	}
}

static void api_finish(struct sim_seq *seq, enum sim_finish why, uint64_t now,
		       void *arg)
{
	struct sim *s = arg;
	struct sim_req *r = seq->ctx;
	s->live--;
	s->metrics.success[why]++;
	sim_hist_observe(&s->metrics.e2e, (double)(now - seq->t_submit) / 1e6);
	struct buf *b = &r->out;
	buf_reset(b);
	if (why == SIM_FINISH_ABORT) {
		if (r->stream)
			httpd_stream_end(r->http);
		else
			oai_reply_error(r->http, 500, NULL, "request aborted");
		sim_req_free(r);
		return;
	}
	if (r->stream) {
		if (r->include_usage) {
			buf_puts(b, "data: ");
			put_head(r, b, r->kind == KIND_CHAT ? "chat.completion.chunk"
							    : "text_completion");
			buf_puts(b, ",\"choices\":[],");
			put_usage(r, b);
			buf_puts(b, "}\n\n");
		}
		buf_puts(b, "data: [DONE]\n\n");
		sse_send(r);
		httpd_stream_end(r->http);
	} else {
		if (r->kind == KIND_CHAT) {
			put_head(r, b, "chat.completion");
			buf_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
				    "\"content\":");
			if (r->tool_name)
				buf_puts(b, "null");
			else
				buf_json_str(b, r->text.data, r->text.len);
			buf_puts(b, ",\"refusal\":null,\"annotations\":null,\"audio\":null,"
				    "\"function_call\":null,\"tool_calls\":");
			if (r->tool_name)
				put_tool_call(r, b, true, 0, (uint32_t)r->text.len);
			else
				buf_puts(b, "[]");
			buf_puts(b, ",\"reasoning_content\":null},\"logprobs\":null,");
		} else {
			put_head(r, b, "text_completion");
			buf_puts(b, ",\"choices\":[{\"index\":0,\"text\":");
			buf_json_str(b, r->text.data, r->text.len);
			buf_puts(b, ",\"logprobs\":null,");
		}
		buf_printf(b, "\"finish_reason\":\"%s\",", finish_shown(r, why));
		put_stop_reason(r, b);
		if (r->kind == KIND_COMPLETION)
			buf_puts(b, ",\"prompt_logprobs\":null");
		buf_puts(b, "}],\"service_tier\":null,\"system_fingerprint\":null,");
		put_usage(r, b);
		buf_puts(b, ",\"prompt_logprobs\":null,\"kv_transfer_params\":null}");
		httpd_reply(r->http, 200, "application/json", b->data, b->len);
	}
	sim_req_free(r);
	api_count_done(s);
}

const struct sim_sched_ops sim_api_ops = {api_token, api_finish};

static void api_client_gone(struct httpd_req *req, void *arg)
{
	(void)req;
	struct sim_req *r = arg;
	struct sim *s = r->sim;
	r->gone = true;
	sim_sched_abort(&s->sched, &r->seq, sim_now(s));
	sim_resched(s);
}

/* ---------------------------------------------------------------- handlers */

static void api_generate(struct sim *s, struct httpd_req *req, enum sim_kind kind)
{
	struct api_err e = {0};
	struct buf open = BUF_INIT; /* the text a continuation resumes from */
	size_t len;
	const char *body = httpd_req_body(req, &len);
	struct json_object *o = api_parse(s, body, len, &e);
	struct sim_req *r = calloc(1, sizeof *r);
	if (!r) {
		json_object_put(o);
		oai_reply_error(req, 500, NULL, "out of memory");
		return;
	}
	r->sim = s;
	r->http = req;
	r->kind = kind;
	r->seq.ctx = r;
	if (!o)
		goto fail;
	if (api_model(s, o, r, &e) != 0)
		goto fail;
	if (api_bool(o, "stream", &r->stream, &e) < 0)
		goto fail;
	struct json_object *so = api_get(o, "stream_options");
	if (so) {
		if (!json_object_is_type(so, json_type_object)) {
			api_fail(&e, 400, "stream_options", "'stream_options' must be an object");
			goto fail;
		}
		if (!r->stream) {
			api_fail(&e, 400, "stream_options",
				 "Stream options can only be defined when `stream=True`.");
			goto fail;
		}
		if (api_bool(so, "include_usage", &r->include_usage, &e) < 0)
			goto fail;
		bool cont = false;
		if (api_bool(so, "continuous_usage_stats", &cont, &e) < 0)
			goto fail;
	}
	bool open_last = false; /* continue_final_message */
	if ((kind == KIND_CHAT ? api_chat_prompt(o, &r->prompt, &open, &open_last, &e)
			       : api_completion_prompt(o, &r->prompt, &open, &e)) != 0)
		goto fail;
	if (api_plan(s, r, o, &open, open_last, &e) != 0)
		goto fail;
	json_object_put(o);
	buf_free(&open);

	uint64_t rid = sim_rand(s);
	snprintf(r->id, sizeof r->id, "%s-%016llx%016llx",
		 kind == KIND_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)rid,
		 (unsigned long long)sim_mix64(rid));
	httpd_req_on_close(req, api_client_gone, r);
	if (r->stream)
		httpd_stream_start(req, 200, "text/event-stream; charset=utf-8");
	s->live++;
	sim_sched_submit(&s->sched, &r->seq, sim_now(s));
	sim_resched(s);
	return;
fail:
	json_object_put(o);
	buf_free(&open);
	api_reply_err(req, &e);
	sim_req_free(r);
	api_count_done(s);
}

/* Deterministic unit vector for the tokens of one input. */
static void api_embedding(const struct sim_toks *t, unsigned dim, float *v)
{
	uint64_t h = sim_hash64(t->ids, t->n * sizeof *t->ids, 0x656d62);
	double norm = 0;
	for (unsigned i = 0; i < dim; i++) {
		uint64_t x = sim_mix64(h + i * 0x9e3779b97f4a7c15ULL);
		double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
		v[i] = (float)(u * 2.0 - 1.0);
		norm += (double)v[i] * v[i];
	}
	norm = sqrt(norm);
	for (unsigned i = 0; i < dim; i++)
		v[i] = (float)(v[i] / norm);
}

static void b64(struct buf *b, const unsigned char *p, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t x = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			x |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			x |= p[i + 2];
		char q[4] = {a[x >> 18], a[(x >> 12) & 63], i + 1 < n ? a[(x >> 6) & 63] : '=',
			     i + 2 < n ? a[x & 63] : '='};
		buf_append(b, q, 4);
	}
}

static void api_embeddings(struct sim *s, struct httpd_req *req)
{
	struct api_err e = {0};
	size_t len;
	const char *body = httpd_req_body(req, &len);
	struct json_object *o = api_parse(s, body, len, &e);
	struct sim_req tmp = {0};
	struct buf b = BUF_INIT;
	struct sim_toks t = {0};
	float *vec = NULL;
	if (!o || api_model(s, o, &tmp, &e) != 0)
		goto fail;
	struct json_object *in = api_get(o, "input");
	if (!in) {
		api_fail(&e, 400, "input", "'input' is required");
		goto fail;
	}
	int64_t dim = s->cfg.embedding_dim;
	if (api_int(o, "dimensions", 1, s->cfg.embedding_dim, &dim, &e) < 0)
		goto fail;
	bool base64 = false;
	struct json_object *ef = api_get(o, "encoding_format");
	if (ef) {
		const char *f = json_object_is_type(ef, json_type_string)
					? json_object_get_string(ef) : "";
		if (strcmp(f, "base64") == 0)
			base64 = true;
		else if (strcmp(f, "float") != 0) {
			api_fail(&e, 400, "encoding_format",
				 "'encoding_format' must be \"float\" or \"base64\"");
			goto fail;
		}
	}
	/* One input, or a list of inputs. */
	size_t count = 1;
	bool list = json_object_is_type(in, json_type_array) &&
		    json_object_array_length(in) > 0 &&
		    !json_object_is_type(json_object_array_get_idx(in, 0), json_type_int);
	if (list)
		count = json_object_array_length(in);
	vec = malloc((size_t)dim * sizeof *vec);
	if (!vec) {
		api_fail(&e, 500, NULL, "out of memory");
		goto fail;
	}
	buf_puts(&b, "{\"id\":");
	char id[48];
	uint64_t rid = sim_rand(s);
	snprintf(id, sizeof id, "embd-%016llx%016llx", (unsigned long long)rid,
		 (unsigned long long)sim_mix64(rid));
	buf_json_str(&b, id, strlen(id));
	buf_printf(&b, ",\"object\":\"list\",\"created\":%lld,\"model\":",
		   (long long)s->created);
	buf_json_str(&b, tmp.model, strlen(tmp.model));
	buf_puts(&b, ",\"data\":[");
	size_t total = 0;
	for (size_t k = 0; k < count; k++) {
		struct json_object *one = list ? json_object_array_get_idx(in, k) : in;
		t.n = 0;
		if (api_one_input(one, &t, "input", &e) != 0)
			goto fail;
		if (t.n > s->cfg.max_model_len) {
			api_fail(&e, 400, "input",
				 "This model's maximum context length is %u tokens. However, "
				 "input %zu has %zu tokens.", s->cfg.max_model_len, k, t.n);
			goto fail;
		}
		total += t.n;
		api_embedding(&t, (unsigned)dim, vec);
		buf_printf(&b, "%s{\"index\":%zu,\"object\":\"embedding\",\"embedding\":",
			   k ? "," : "", k);
		if (base64) {
			buf_putc(&b, '"');
			b64(&b, (const unsigned char *)vec, (size_t)dim * sizeof *vec);
			buf_putc(&b, '"');
		} else {
			buf_putc(&b, '[');
			for (int64_t i = 0; i < dim; i++)
				buf_printf(&b, "%s%.8g", i ? "," : "", (double)vec[i]);
			buf_putc(&b, ']');
		}
		buf_putc(&b, '}');
	}
	buf_printf(&b, "],\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu,"
		       "\"completion_tokens\":0,\"prompt_tokens_details\":null}}",
		   total, total);
	s->metrics.prompt_tokens += total;
	httpd_reply(req, 200, "application/json", b.data, b.len);
	goto out;
fail:
	api_reply_err(req, &e);
out:
	json_object_put(o);
	free(tmp.model);
	free(vec);
	sim_toks_free(&t);
	buf_free(&b);
	api_count_done(s);
}

static void api_models(struct sim *s, struct httpd_req *req)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"object\":\"list\",\"data\":[");
	for (int i = 0; i < s->cfg.nnames; i++) {
		const char *n = s->cfg.names[i];
		buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
		buf_json_str(&b, n, strlen(n));
		buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"vllm\","
			       "\"root\":", (long long)s->created);
		buf_json_str(&b, s->cfg.model, strlen(s->cfg.model));
		buf_printf(&b, ",\"parent\":null,\"max_model_len\":%u,\"permission\":[{"
			       "\"id\":\"modelperm-%016llx\",\"object\":\"model_permission\","
			       "\"created\":%lld,\"allow_create_engine\":false,"
			       "\"allow_sampling\":true,\"allow_logprobs\":true,"
			       "\"allow_search_indices\":false,\"allow_view\":true,"
			       "\"allow_fine_tuning\":false,\"organization\":\"*\","
			       "\"group\":null,\"is_blocking\":false}]}",
			   s->cfg.max_model_len,
			   (unsigned long long)sim_hash64(n, strlen(n), 1),
			   (long long)s->created);
	}
	buf_puts(&b, "]}");
	httpd_reply(req, 200, "application/json", b.data, b.len);
	buf_free(&b);
}

static void api_metrics(struct sim *s, struct httpd_req *req)
{
	struct sim_gauges g = {
		.running = s->sched.running.n,
		.waiting = s->sched.waiting.n,
		.kv_usage = sim_kv_usage(s->kv),
		.prefix_queries = s->kv->queries,
		.prefix_hits = s->kv->hits,
		.preemptions = s->sched.preemptions,
		.block_size = s->cfg.block_size,
		.num_gpu_blocks = s->cfg.num_gpu_blocks,
		.max_num_seqs = (int)s->cfg.max_num_seqs,
		.max_model_len = (int)s->cfg.max_model_len,
		.prefix_caching = s->cfg.prefix_caching,
	};
	struct buf b = BUF_INIT;
	sim_metrics_render(&s->metrics, &g, s->cfg.names[0], &b);
	httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	buf_free(&b);
}

static void api_detail(struct httpd_req *req, int status)
{
	const char *body = status == 404 ? "{\"detail\":\"Not Found\"}"
					 : "{\"detail\":\"Method Not Allowed\"}";
	httpd_reply(req, status, "application/json", body, strlen(body));
}

/* --garbage-after: what a broken engine might send. */
static void api_garbage(struct sim *s, struct httpd_req *req)
{
	static const char bad[] = "\xff\xfe{\"choices\": [garbage\x01 ]]}";
	size_t len;
	const char *body = httpd_req_body(req, &len);
	bool stream = body && (strstr(body, "\"stream\":true") || strstr(body, "\"stream\": true"));
	api_count_done(s);
	if (!stream) {
		httpd_reply(req, 200, "application/json", bad, sizeof bad - 1);
		return;
	}
	static const char good[] =
		"data: {\"id\":\"garbage\",\"object\":\"chat.completion.chunk\",\"choices\":"
		"[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":null}]}\n\n";
	httpd_stream_start(req, 200, "text/event-stream");
	httpd_stream_write(req, good, sizeof good - 1);
	httpd_stream_write(req, "data: ", 6);
	httpd_stream_write(req, bad, sizeof bad - 1);
	httpd_stream_write(req, "\n\n", 2);
	httpd_stream_end(req);
}

static void api_handler(struct httpd_req *req, void *arg)
{
	struct sim *s = arg;
	const char *path = httpd_req_path(req);
	const char *method = httpd_req_method(req);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	int route = 0; /* 1: GET route, 2: POST route */
	enum { R_NONE, R_HEALTH, R_PING, R_VERSION, R_MODELS, R_METRICS, R_CHAT,
	       R_COMPL, R_EMB } r = R_NONE;
	if (strcmp(path, "/health") == 0) r = R_HEALTH, route = 1;
	else if (strcmp(path, "/ping") == 0) r = R_PING, route = 1;
	else if (strcmp(path, "/version") == 0) r = R_VERSION, route = 1;
	else if (strcmp(path, "/v1/models") == 0) r = R_MODELS, route = 1;
	else if (strcmp(path, "/metrics") == 0) r = R_METRICS, route = 1;
	else if (strcmp(path, "/v1/chat/completions") == 0) r = R_CHAT, route = 2;
	else if (strcmp(path, "/v1/completions") == 0) r = R_COMPL, route = 2;
	else if (strcmp(path, "/v1/embeddings") == 0) r = R_EMB, route = 2;
	if (r == R_NONE) {
		api_detail(req, 404);
		return;
	}
	if (r == R_PING && post)
		route = 2;
	if ((route == 1 && !get) || (route == 2 && !post)) {
		api_detail(req, 405);
		return;
	}
	if (s->hung)
		return; /* --hang-after: never answered */
	if (r == R_METRICS) {
		api_metrics(s, req);
		return;
	}
	if (!s->ready) {
		oai_reply_error(req, 503, NULL, "the engine is starting (--startup-delay)");
		return;
	}
	switch (r) {
	case R_HEALTH:
	case R_PING:
		httpd_reply(req, 200, NULL, "", 0);
		return;
	case R_VERSION: {
		const char *v = "{\"version\":\"" ES_VERSION "-elastic-sim\"}";
		httpd_reply(req, 200, "application/json", v, strlen(v));
		return;
	}
	case R_MODELS:
		api_models(s, req);
		return;
	default:
		break;
	}
	s->nreceived++;
	if (s->cfg.garbage_after && s->ncompleted >= (uint64_t)s->cfg.garbage_after) {
		api_garbage(s, req);
		return;
	}
	if (s->cfg.fail_rate > 0 &&
	    (double)(sim_rand(s) >> 11) / 9007199254740992.0 < s->cfg.fail_rate) {
		oai_reply_error(req, 500, NULL, "simulated failure (--fail-rate)");
		api_count_done(s);
		return;
	}
	if (r == R_EMB)
		api_embeddings(s, req);
	else
		api_generate(s, req, r == R_CHAT ? KIND_CHAT : KIND_COMPLETION);
}

int sim_api_listen(struct sim *s, char *err, size_t errlen)
{
	struct httpd_config hc;
	httpd_config_init(&hc);
	hc.max_body = s->cfg.max_body;
	hc.idle_timeout_ms = 600000;
	s->http = httpd_new(s->base, &hc, api_handler, s);
	if (!s->http) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	httpd_set_error_body(s->http, oai_httpd_error_body, NULL);
	return httpd_listen(s->http, s->cfg.host, s->cfg.port, err, errlen);
}

void sim_api_shutdown(struct sim *s, void (*drained)(void *), void *arg)
{
	httpd_shutdown(s->http, drained, arg);
}
