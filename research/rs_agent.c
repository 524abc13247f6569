/* rs_agent.c — see rs_agent.h. */
#include "rs_agent.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rs_jutil.h"

struct rs_agent {
	struct rs_agent_opts o;
	char *system;                  /* the system prompt */
	struct json_object *tools;     /* the "tools" array sent */
	struct json_object *messages;  /* the conversation */
	struct json_object *llm_log;   /* llm_calls of the record */
	struct json_object *tool_log;  /* tool_calls of the record */
	struct rs_session *session;    /* the tools' state (last opened page) */
	struct rs_agent_totals tot;    /* counters since the start or reset */
	char *answer;                  /* the last turn's final answer */
	char *error;                   /* why the last turn failed */
	const char *status;            /* "done", "error", "abandoned"; NULL: no turn yet */
	bool hit_limit;                /* a turn reached max_tool_calls */
	double started;                /* wall clock of the first turn (0: none yet) */
	double seconds;                /* time spent in turns */
	unsigned long next_id;         /* for tool calls that came without an id */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

char *rs_agent_default_prompt(double t)
{
	char date[32];
	time_t s = (time_t)t;
	struct tm tm;
	localtime_r(&s, &tm);
	strftime(date, sizeof date, "%A, %B %d, %Y", &tm);
	struct buf b = BUF_INIT;
	buf_printf(
		&b,
		"You are a meticulous deep-research assistant. Today is %s.\n"
		"\n"
		"You answer questions by researching them with tools:\n"
		"- web_search: search the web (titles, URLs, snippets).\n"
		"- open_page: read a web page as text.\n"
		"- find_in_page: find a word or phrase in the page you opened last.\n"
		"- paper_search: search academic papers (mode \"metadata\" for titles, authors, years "
		"and abstracts; \"snippets\" for passages of their text).\n"
		"- pubmed_search: search the biomedical literature (PubMed).\n"
		"\n"
		"How to work:\n"
		"1. Work out which facts the question needs; a question may chain several. Resolve "
		"them one at a time.\n"
		"2. Search with short, specific queries. When results are poor, rephrase, use "
		"synonyms, names, dates or other languages, and try another tool.\n"
		"3. Snippets can mislead: open the most promising pages and check the exact "
		"detail there. In a long page, use find_in_page for names, numbers and dates.\n"
		"4. Prefer primary and authoritative sources, and confirm key facts in a second, "
		"independent source when you can. Note where sources disagree.\n"
		"5. Do not repeat a search or reopen a page you already have.\n"
		"6. Never invent facts, titles, URLs or citations. If the evidence stays "
		"insufficient after a thorough search, say so and give your best-supported "
		"answer with its uncertainty.\n"
		"\n"
		"When you are done, reply without calling any tool: a short justification that "
		"cites the URLs you relied on, then a last line of the form\n"
		"Answer: <the exact answer, as short as possible>\n",
		date);
	return buf_steal(&b);
}

static struct json_object *msg(const char *role, const char *content)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", json_object_new_string(content));
	return m;
}

static void start(struct rs_agent *a)
{
	a->messages = json_object_new_array();
	a->llm_log = json_object_new_array();
	a->tool_log = json_object_new_array();
	json_object_array_add(a->messages, msg("system", a->system));
	a->session = a->o.conf ? rs_session_new(a->o.conf) : NULL;
}

static void stop(struct rs_agent *a)
{
	json_object_put(a->messages);
	json_object_put(a->llm_log);
	json_object_put(a->tool_log);
	if (a->session)
		rs_session_free(a->session);
	a->messages = a->llm_log = a->tool_log = NULL;
	a->session = NULL;
	free(a->answer);
	free(a->error);
	a->answer = a->error = NULL;
	a->status = NULL;
	a->hit_limit = false;
	a->started = a->seconds = 0;
	memset(&a->tot, 0, sizeof a->tot);
}

struct rs_agent *rs_agent_new(const struct rs_agent_opts *o)
{
	struct rs_agent *a = calloc(1, sizeof *a);
	if (!a)
		abort();
	a->o = *o;
	if (a->o.max_tool_calls <= 0)
		a->o.max_tool_calls = RS_AGENT_MAX_TOOL_CALLS;
	if (!a->o.chat)
		a->o.chat = rs_llm_chat;
	if (!a->o.tool)
		a->o.tool = rs_tool_run;
	a->system = o->system_prompt ? xstrdup(o->system_prompt) : rs_agent_default_prompt(rs_wall_time());
	a->tools = rs_tools_schema();
	start(a);
	return a;
}

void rs_agent_free(struct rs_agent *a)
{
	if (!a)
		return;
	stop(a);
	json_object_put(a->tools);
	free(a->system);
	free(a);
}

void rs_agent_reset(struct rs_agent *a)
{
	stop(a);
	start(a);
}

const char *rs_agent_answer(const struct rs_agent *a)
{
	return a->answer;
}

void rs_agent_totals(const struct rs_agent *a, struct rs_agent_totals *t)
{
	*t = a->tot;
}

static void emit(struct rs_agent *a, const struct rs_agent_event *ev)
{
	if (a->o.on_event)
		a->o.on_event(ev, a->o.event_arg);
}

static void log_llm(struct rs_agent *a, const struct rs_llm_reply *r, const char *error)
{
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "seconds", json_object_new_double(r->seconds));
	json_object_object_add(c, "prompt_tokens",
			       r->prompt_tokens >= 0 ? json_object_new_int64(r->prompt_tokens) : NULL);
	json_object_object_add(c, "completion_tokens",
			       r->completion_tokens >= 0 ? json_object_new_int64(r->completion_tokens) : NULL);
	json_object_object_add(c, "finish_reason", json_object_new_string(r->finish_reason));
	json_object_object_add(c, "attempts", json_object_new_int(r->attempts));
	json_object_object_add(c, "tool_calls", json_object_new_int((int)r->ncalls));
	if (r->reasoning && *r->reasoning)
		json_object_object_add(c, "reasoning", json_object_new_string(r->reasoning));
	if (error)
		json_object_object_add(c, "error", json_object_new_string(error));
	json_object_array_add(a->llm_log, c);
}

/* Checks a call before it runs: a known tool, arguments that are a JSON
 * object. Returns 0, or -1 with the error text for the model in OUT. */
static int check_call(const char *name, const char *args, struct buf *out)
{
	if (rs_tool_find(name) < 0) {
		buf_printf(out, "error: unknown tool '%s'; the tools are ", name);
		for (int i = 0; i < RS_NTOOLS; i++)
			buf_printf(out, "%s%s", i ? ", " : "", rs_tool_name((enum rs_tool_id)i));
		return -1;
	}
	const char *p = args;
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	if (!*p)
		return 0; /* no arguments: the tool says what it misses */
	char perr[160];
	struct json_object *o = rs_ju_parse(args, strlen(args), perr, sizeof perr);
	if (!o) {
		buf_printf(out, "error: the arguments of %s are %s; send a JSON object such as "
				"{\"query\": \"...\"}",
			   name, perr);
		return -1;
	}
	bool obj = json_object_is_type(o, json_type_object);
	json_object_put(o);
	if (!obj) {
		buf_printf(out, "error: the arguments of %s must be a JSON object", name);
		return -1;
	}
	return 0;
}

static void run_call(struct rs_agent *a, struct rs_llm_call *c, int *turn_calls)
{
	struct buf out = BUF_INIT;
	struct rs_tool_stat st = {0};
	bool refused = false;
	if (!c->id || !*c->id) {
		char id[32];
		snprintf(id, sizeof id, "call_%lu", ++a->next_id);
		free(c->id);
		c->id = xstrdup(id);
	}
	struct rs_agent_event ev = {.kind = RS_EV_TOOL_START, .name = c->name, .args = c->arguments,
				    .tool_calls = *turn_calls};
	if (*turn_calls >= a->o.max_tool_calls) {
		buf_printf(&out, "error: the limit of %d tool calls is reached; this call was not run",
			   a->o.max_tool_calls);
		st.failed = true;
		refused = true;
	} else {
		emit(a, &ev);
		double t0 = rs_mono_time();
		if (check_call(c->name, c->arguments, &out) < 0) {
			st.failed = true;
		} else {
			const char *args = c->arguments && *c->arguments ? c->arguments : "{}";
			if (a->o.tool(a->session, c->name, args, &out, &st) < 0)
				st.failed = true;
		}
		if (st.seconds <= 0)
			st.seconds = rs_mono_time() - t0;
		if (!out.len)
			buf_puts(&out, "(no result)");
		(*turn_calls)++;
		int id = rs_tool_find(c->name);
		a->tot.tool_calls++;
		a->tot.by_tool[id >= 0 ? id : RS_NTOOLS]++;
		a->tot.tool_seconds += st.seconds;
		if (st.failed)
			a->tot.tool_errors++;
		ev.kind = RS_EV_TOOL_DONE;
		ev.result = out.data;
		ev.stat = &st;
		ev.tool_calls = *turn_calls;
		emit(a, &ev);
	}
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(c->id));
	json_object_object_add(r, "name", json_object_new_string(c->name));
	json_object_object_add(r, "arguments", json_object_new_string(c->arguments));
	json_object_object_add(r, "seconds", json_object_new_double(st.seconds));
	json_object_object_add(r, "http_calls", json_object_new_int(st.http_calls));
	json_object_object_add(r, "failed", json_object_new_boolean(st.failed));
	json_object_object_add(r, "result_bytes", json_object_new_int64((int64_t)out.len));
	if (refused)
		json_object_object_add(r, "refused", json_object_new_boolean(1));
	json_object_array_add(a->tool_log, r);

	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("tool"));
	json_object_object_add(m, "tool_call_id", json_object_new_string(c->id));
	json_object_object_add(m, "content", json_object_new_string(out.data ? out.data : ""));
	json_object_array_add(a->messages, m);
	buf_free(&out);
}

static int fail(struct rs_agent *a, const char *status, const char *why, char *err, size_t errlen)
{
	a->status = status;
	free(a->error);
	a->error = xstrdup(why);
	snprintf(err, errlen, "%s", why);
	return -1;
}

int rs_agent_ask(struct rs_agent *a, const char *question, char *err, size_t errlen)
{
	double t0 = rs_mono_time();
	if (!a->started)
		a->started = rs_wall_time();
	free(a->answer);
	free(a->error);
	a->answer = a->error = NULL;
	a->status = NULL;
	json_object_array_add(a->messages, msg("user", question));
	int turn_calls = 0, rc = -1;
	bool final = false;
	for (;;) {
		if (a->o.abandon && *a->o.abandon) {
			rc = fail(a, "abandoned", "abandoned", err, errlen);
			break;
		}
		if (!final && turn_calls >= a->o.max_tool_calls) {
			final = true;
			a->hit_limit = true;
			struct rs_agent_event ev = {.kind = RS_EV_LIMIT, .tool_calls = turn_calls};
			emit(a, &ev);
			json_object_array_add(a->messages, msg("user", RS_AGENT_LIMIT_PROMPT));
		}
		struct rs_llm_reply r;
		char cerr[512];
		int crc = a->o.chat(a->o.llm, a->messages, a->tools, final ? "none" : NULL, a->o.on_delta,
				    a->o.delta_arg, &r, cerr, sizeof cerr);
		if (crc < 0) {
			log_llm(a, &r, cerr);
			struct rs_agent_event ev = {.kind = RS_EV_LLM, .error = cerr, .tool_calls = turn_calls};
			emit(a, &ev);
			rs_llm_reply_free(&r);
			char why[600];
			snprintf(why, sizeof why, "model call failed: %s", cerr);
			rc = fail(a, "error", why, err, errlen);
			break;
		}
		a->tot.llm_calls++;
		a->tot.llm_seconds += r.seconds;
		if (r.prompt_tokens > 0)
			a->tot.prompt_tokens += r.prompt_tokens;
		if (r.completion_tokens > 0)
			a->tot.completion_tokens += r.completion_tokens;
		if (final && r.ncalls) {
			/* Tools were refused: what it said is its answer. */
			for (size_t i = 0; i < r.ncalls; i++) {
				free(r.calls[i].id);
				free(r.calls[i].name);
				free(r.calls[i].arguments);
			}
			free(r.calls);
			r.calls = NULL;
			r.ncalls = 0;
		}
		log_llm(a, &r, NULL);
		struct rs_agent_event ev = {.kind = RS_EV_LLM, .reply = &r, .tool_calls = turn_calls};
		emit(a, &ev);
		if (!r.ncalls) {
			json_object_array_add(a->messages, rs_llm_reply_message(&r));
			a->answer = xstrdup(r.content);
			a->status = "done";
			rs_llm_reply_free(&r);
			rc = 0;
			break;
		}
		/* Ids first: the assistant message and the tool messages share them. */
		for (size_t i = 0; i < r.ncalls; i++)
			if (!r.calls[i].id || !*r.calls[i].id) {
				char id[32];
				snprintf(id, sizeof id, "call_%lu", ++a->next_id);
				free(r.calls[i].id);
				r.calls[i].id = xstrdup(id);
			}
		json_object_array_add(a->messages, rs_llm_reply_message(&r));
		for (size_t i = 0; i < r.ncalls; i++) {
			if (a->o.abandon && *a->o.abandon)
				break;
			run_call(a, &r.calls[i], &turn_calls);
		}
		rs_llm_reply_free(&r);
	}
	a->seconds += rs_mono_time() - t0;
	return rc;
}

struct json_object *rs_agent_record(const struct rs_agent *a)
{
	struct json_object *o = json_object_new_object();
	char ts[32] = "";
	if (a->started)
		rs_iso_time(a->started, ts, sizeof ts);
	json_object_object_add(o, "model", json_object_new_string(a->o.llm && a->o.llm->model ? a->o.llm->model : ""));
	json_object_object_add(o, "endpoint",
			       json_object_new_string(a->o.llm && a->o.llm->endpoint ? a->o.llm->endpoint : ""));
	json_object_object_add(o, "started", ts[0] ? json_object_new_string(ts) : NULL);
	json_object_object_add(o, "seconds", json_object_new_double(a->seconds));
	json_object_object_add(o, "status", a->status ? json_object_new_string(a->status) : NULL);
	json_object_object_add(o, "error", a->error ? json_object_new_string(a->error) : NULL);
	json_object_object_add(o, "answer", a->answer ? json_object_new_string(a->answer) : NULL);
	json_object_object_add(o, "hit_tool_limit", json_object_new_boolean(a->hit_limit));
	json_object_object_add(o, "max_tool_calls", json_object_new_int(a->o.max_tool_calls));
	json_object_object_add(o, "messages", json_object_get(a->messages));
	json_object_object_add(o, "llm_calls", json_object_get(a->llm_log));
	json_object_object_add(o, "tool_calls", json_object_get(a->tool_log));
	struct json_object *u = json_object_new_object();
	json_object_object_add(u, "prompt_tokens", json_object_new_int64(a->tot.prompt_tokens));
	json_object_object_add(u, "completion_tokens", json_object_new_int64(a->tot.completion_tokens));
	json_object_object_add(u, "llm_calls", json_object_new_int64(a->tot.llm_calls));
	json_object_object_add(u, "tool_calls", json_object_new_int64(a->tot.tool_calls));
	json_object_object_add(u, "tool_errors", json_object_new_int64(a->tot.tool_errors));
	json_object_object_add(u, "llm_seconds", json_object_new_double(a->tot.llm_seconds));
	json_object_object_add(u, "tool_seconds", json_object_new_double(a->tot.tool_seconds));
	json_object_object_add(o, "usage", u);
	struct json_object *tc = json_object_new_object();
	for (int i = 0; i <= RS_NTOOLS; i++)
		if (a->tot.by_tool[i])
			json_object_object_add(tc, i < RS_NTOOLS ? rs_tool_name((enum rs_tool_id)i) : "unknown",
					       json_object_new_int64(a->tot.by_tool[i]));
	json_object_object_add(o, "tool_counts", tc);
	return o;
}
