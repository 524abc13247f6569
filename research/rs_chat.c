/* rs_chat.c — elastic-research chat: an interactive chat with a model that
 * researches with the tools. Lines from stdin (a terminal or a pipe) are
 * the user's messages; /reset clears the conversation, /quit or Ctrl-D
 * quits. The answer streams to stdout; --verbose shows each model call and
 * tool call (arguments, time, tokens) on stderr. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs_agent.h"
#include "rs_cmd.h"
#include "rs_common.h"
#include "rs_jutil.h"

static const char chat_usage[] =
	"chat [--verbose] [--no-stream] [--max-tool-calls N] [--endpoint URL] [--model NAME] ...";

struct chat {
	bool verbose;
	bool color;          /* stderr is a terminal */
	bool open_line;      /* stdout has text without its newline */
	bool in_reasoning;   /* the last delta shown was reasoning */
	bool streamed;       /* this turn's answer went out as deltas */
};

static void end_line(struct chat *c)
{
	if (c->open_line) {
		fputc('\n', stdout);
		fflush(stdout);
		c->open_line = false;
	}
}

static void on_delta(char kind, const char *text, size_t len, void *arg)
{
	struct chat *c = arg;
	if (kind == 'r') {
		if (!c->verbose)
			return;
		/* Reasoning, dimmed, on stderr. */
		end_line(c);
		fprintf(stderr, "%s%.*s%s", c->color ? "\033[2m" : "", (int)len, text, c->color ? "\033[0m" : "");
		c->in_reasoning = true;
		return;
	}
	if (c->in_reasoning) {
		fputc('\n', stderr);
		c->in_reasoning = false;
	}
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	c->open_line = len > 0 && text[len - 1] != '\n';
	c->streamed = true;
}

static void tokens(char *out, size_t n, long v)
{
	if (v < 0)
		snprintf(out, n, "?");
	else
		snprintf(out, n, "%ld", v);
}

/* The first line of S, at most 100 bytes. */
static void first_line(char *out, size_t n, const char *s)
{
	size_t k = 0;
	for (; s && s[k] && s[k] != '\n' && k + 1 < n && k < 100; k++)
		out[k] = s[k];
	out[k] = '\0';
}

static void on_event(const struct rs_agent_event *ev, void *arg)
{
	struct chat *c = arg;
	if (!c->verbose)
		return;
	end_line(c);
	if (c->in_reasoning) {
		fputc('\n', stderr);
		c->in_reasoning = false;
	}
	const char *dim = c->color ? "\033[2m" : "", *off = c->color ? "\033[0m" : "";
	switch (ev->kind) {
	case RS_EV_LLM: {
		if (ev->error) {
			fprintf(stderr, "%s[model] failed: %s%s\n", dim, ev->error, off);
			break;
		}
		char p[24], q[24];
		tokens(p, sizeof p, ev->reply->prompt_tokens);
		tokens(q, sizeof q, ev->reply->completion_tokens);
		fprintf(stderr, "%s[model] %.2f s, %s prompt + %s completion tokens, %zu tool call%s%s%s\n",
			dim, ev->reply->seconds, p, q, ev->reply->ncalls, ev->reply->ncalls == 1 ? "" : "s",
			ev->reply->attempts > 1 ? " (retried)" : "", off);
		break;
	}
	case RS_EV_TOOL_START:
		fprintf(stderr, "%s[tool] %s %s%s\n", dim, ev->name, ev->args && *ev->args ? ev->args : "{}", off);
		break;
	case RS_EV_TOOL_DONE: {
		char l[128];
		first_line(l, sizeof l, ev->result);
		if (ev->stat->failed)
			fprintf(stderr, "%s[tool] %s: %.2f s, %s%s\n", dim, ev->name, ev->stat->seconds, l, off);
		else
			fprintf(stderr, "%s[tool] %s: %.2f s, %d HTTP call%s, %zu bytes%s\n", dim, ev->name,
				ev->stat->seconds, ev->stat->http_calls, ev->stat->http_calls == 1 ? "" : "s",
				strlen(ev->result ? ev->result : ""), off);
		break;
	}
	case RS_EV_LIMIT:
		fprintf(stderr, "%s[limit] %d tool calls: asking for the final answer%s\n", dim, ev->tool_calls,
			off);
		break;
	}
	fflush(stderr);
}

int rs_cmd_chat(int argc, char **argv)
{
	enum { OPT_NO_STREAM = RS_OPT_FIRST_FREE, OPT_MAX_TOOLS };
	static const struct option longopts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"no-stream", no_argument, NULL, OPT_NO_STREAM},
		{"max-tool-calls", required_argument, NULL, OPT_MAX_TOOLS},
		{"help", no_argument, NULL, 'h'},
		RS_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct chat c = {0};
	bool stream = true;
	long max_tools = RS_AGENT_MAX_TOOL_CALLS;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+hv", longopts, NULL)) != -1) {
		int r = rs_common_opt(opt, optarg);
		if (r < 0)
			return RS_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'v': c.verbose = true; break;
		case OPT_NO_STREAM: stream = false; break;
		case OPT_MAX_TOOLS:
			if (rs_opt_int("--max-tool-calls", optarg, 1, 10000, &max_tools) < 0)
				return RS_USAGE;
			break;
		case 'h':
			printf("usage: elastic-research %s\n\n"
			       "An interactive chat with a model that researches with the tools (web_search,\n"
			       "open_page, find_in_page, paper_search, pubmed_search). Each line read from\n"
			       "stdin is a message; /reset starts a new conversation, /quit or Ctrl-D quits.\n"
			       "Works with a pipe as stdin too.\n\n"
			       "  -v, --verbose          each model call (time, tokens) and tool call\n"
			       "                         (arguments, time, size) on stderr\n"
			       "      --no-stream        print each answer whole instead of as it comes\n"
			       "      --max-tool-calls N per message (default %d), then the answer is asked for\n\n"
			       RS_COMMON_HELP,
			       chat_usage, RS_AGENT_MAX_TOOL_CALLS);
			return RS_OK;
		default: fprintf(stderr, "usage: elastic-research %s\n", chat_usage); return RS_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: elastic-research %s\n", chat_usage);
		return RS_USAGE;
	}
	struct rs_conf conf;
	struct rs_llm llm;
	char *prompt = NULL;
	memset(&conf, 0, sizeof conf);
	memset(&llm, 0, sizeof llm);
	int rc = rs_common_setup(&conf, &llm, &prompt, 1);
	if (rc) {
		rs_conf_free(&conf);
		rs_llm_free(&llm);
		return rc;
	}
	c.color = isatty(STDERR_FILENO);
	bool tty = isatty(STDIN_FILENO);
	struct rs_agent_opts ao = {
		.llm = &llm,
		.conf = &conf,
		.max_tool_calls = (int)max_tools,
		.system_prompt = prompt,
		.on_delta = stream ? on_delta : NULL,
		.delta_arg = &c,
		.on_event = on_event,
		.event_arg = &c,
	};
	struct rs_agent *a = rs_agent_new(&ao);
	if (tty)
		fprintf(stderr, "chat with %s at %s; /reset clears the conversation, /quit or Ctrl-D quits\n",
			llm.model, llm.endpoint);
	char *line = NULL;
	size_t cap = 0;
	int failed = 0;
	for (;;) {
		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) {
			if (tty)
				fputc('\n', stdout);
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
				 line[n - 1] == '\t'))
			line[--n] = '\0';
		char *msg = line;
		while (*msg == ' ' || *msg == '\t')
			msg++;
		if (!*msg)
			continue;
		if (strcmp(msg, "/quit") == 0 || strcmp(msg, "/exit") == 0)
			break;
		if (strcmp(msg, "/reset") == 0) {
			rs_agent_reset(a);
			fprintf(stderr, "(a new conversation)\n");
			continue;
		}
		if (strcmp(msg, "/help") == 0 || (msg[0] == '/' && !strchr(msg, ' '))) {
			if (strcmp(msg, "/help") != 0)
				fprintf(stderr, "unknown command %s; ", msg);
			fprintf(stderr, "commands: /reset (a new conversation), /quit (or Ctrl-D)\n");
			continue;
		}
		struct rs_agent_totals t0, t1;
		rs_agent_totals(a, &t0);
		double w0 = rs_mono_time();
		char err[1024];
		c.streamed = false;
		int r = rs_agent_ask(a, msg, err, sizeof err);
		if (r < 0) {
			end_line(&c);
			rs_error("%s", err);
			failed = 1;
			continue;
		}
		if (!c.streamed)
			fputs(rs_agent_answer(a) ? rs_agent_answer(a) : "", stdout);
		else if (c.open_line)
			c.open_line = false;
		fputc('\n', stdout);
		fflush(stdout);
		if (c.verbose) {
			rs_agent_totals(a, &t1);
			fprintf(stderr, "%s[turn] %.1f s, %ld model call%s, %ld tool call%s, %ld prompt + %ld completion tokens%s\n",
				c.color ? "\033[2m" : "", rs_mono_time() - w0, t1.llm_calls - t0.llm_calls,
				t1.llm_calls - t0.llm_calls == 1 ? "" : "s", t1.tool_calls - t0.tool_calls,
				t1.tool_calls - t0.tool_calls == 1 ? "" : "s", t1.prompt_tokens - t0.prompt_tokens,
				t1.completion_tokens - t0.completion_tokens, c.color ? "\033[0m" : "");
		}
	}
	free(line);
	rs_agent_free(a);
	free(prompt);
	rs_conf_free(&conf);
	rs_llm_free(&llm);
	return failed ? RS_FAIL : RS_OK;
}
