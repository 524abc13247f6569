/* top_research.c — see top_research.h. */
#include "top_research.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"

#define TR_BAR 25 /* width of the bars, as the seed's dashboard */

static void tr_end(struct buf *b)
{
	buf_puts(b, "\033[K\n");
}

static void tr_bar(struct buf *b, double frac, int width, int utf8)
{
	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	int full = (int)(frac * width + 0.5);
	for (int i = 0; i < width; i++) {
		if (utf8)
			buf_puts(b, i < full ? "\xe2\x96\x88" : "\xe2\x96\x91"); /* █ ░ */
		else
			buf_putc(b, i < full ? '#' : '.');
	}
}

static void tr_dur(double s, char *out, size_t len)
{
	if (s < 0)
		s = 0;
	long t = (long)(s + 0.5);
	if (t < 60)
		snprintf(out, len, "%lds", t);
	else if (t < 3600)
		snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

struct tr_tool {
	const char *name;
	double n;
};

static int tr_tool_cmp(const void *a, const void *b)
{
	const struct tr_tool *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->name, y->name);
}

void top_research_render(struct buf *b, const char *dir, struct json_object *p, int utf8, int cols,
			 double now, int pid_alive)
{
	(void)cols;
	const char *state = cli_jstr(p, "state", "?");
	double updated = cli_jnum(p, "updated", 0);
	char age[32];
	cli_fmt_age(now - updated, age, sizeof age);
	buf_printf(b, "\033[1mResearch\033[0m  %s  ", dir);
	if (strcmp(state, "running") == 0 && (!pid_alive || now - updated > 30))
		buf_printf(b, "\033[31m%s (no update for %s: %s)\033[0m", state, age,
			   pid_alive ? "stuck?" : "the run is gone; run it again to resume");
	else if (strcmp(state, "running") == 0)
		buf_printf(b, "\033[32mrunning\033[0m (pid %.0f on %s, updated %s ago)", cli_jnum(p, "pid", 0),
			   cli_jstr(p, "host", "?"), age);
	else
		buf_printf(b, "%s%s\033[0m (%s ago)", strcmp(state, "done") == 0 ? "\033[32m" : "\033[33m", state, age);
	tr_end(b);
	buf_printf(b, "  model %s, %.0f at a time, at most %.0f tool calls per trajectory", cli_jstr(p, "model", "?"),
		   cli_jnum(p, "concurrency", 0), cli_jnum(p, "max_tool_calls", 0));
	tr_end(b);

	/* Progress. */
	struct json_object *t = cli_jget(p, "trajectories"), *q = cli_jget(p, "questions");
	double total = cli_jnum(t, "total", 0), done = cli_jnum(t, "done", 0);
	double qtotal = cli_jnum(q, "total", 0), qdone = cli_jnum(q, "done", 0);
	buf_puts(b, "  ");
	tr_bar(b, total > 0 ? done / total : 0, TR_BAR, utf8);
	buf_printf(b, " %.0f/%.0f trajectories (%.0f%%)", done, total, total > 0 ? 100 * done / total : 0);
	double failed = cli_jnum(t, "failed", 0), running = cli_jnum(t, "running", 0);
	double resumed = cli_jnum(t, "resumed", 0);
	const char *sep = "  ";
	if (running) {
		buf_printf(b, "%s%.0f running", sep, running);
		sep = ", ";
	}
	if (failed) {
		buf_printf(b, "%s\033[31m%.0f failed\033[0m", sep, failed);
		sep = ", ";
	}
	if (resumed)
		buf_printf(b, "%s%.0f resumed", sep, resumed);
	tr_end(b);
	buf_puts(b, "  ");
	tr_bar(b, qtotal > 0 ? qdone / qtotal : 0, TR_BAR, utf8);
	buf_printf(b, " %.0f/%.0f questions", qdone, qtotal);
	tr_end(b);
	char el[32], eta[32];
	tr_dur(cli_jnum(p, "elapsed", 0), el, sizeof el);
	double e = cli_jnum(p, "eta", -1);
	if (e >= 0 && strcmp(state, "running") == 0)
		tr_dur(e, eta, sizeof eta);
	else
		snprintf(eta, sizeof eta, "-");
	struct json_object *u = cli_jget(p, "usage");
	buf_printf(b, "  elapsed %s, ETA %s, %.0f model calls, %.0f prompt + %.0f completion tokens", el, eta,
		   cli_jnum(u, "llm_calls", 0), cli_jnum(u, "prompt_tokens", 0), cli_jnum(u, "completion_tokens", 0));
	tr_end(b);
	tr_end(b);

	/* Tool calls, a histogram per tool. */
	struct json_object *tc = cli_jget(p, "tool_calls"), *by = cli_jget(tc, "by_tool");
	double ttotal = cli_jnum(tc, "total", 0);
	buf_printf(b, "  \033[1mTool Calls\033[0m  %.0f total, %.1f/traj", ttotal, cli_jnum(tc, "per_trajectory", 0));
	if (cli_jnum(tc, "errors", 0) > 0)
		buf_printf(b, ", %.0f errors", cli_jnum(tc, "errors", 0));
	tr_end(b);
	struct tr_tool tools[32];
	size_t nt = 0;
	if (by && json_object_is_type(by, json_type_object)) {
		json_object_object_foreach(by, name, v)
		{
			if (nt < sizeof tools / sizeof tools[0])
				tools[nt++] = (struct tr_tool){name, json_object_get_double(v)};
		}
	}
	qsort(tools, nt, sizeof tools[0], tr_tool_cmp);
	for (size_t i = 0; i < nt; i++) {
		buf_puts(b, "  ");
		tr_bar(b, ttotal > 0 ? tools[i].n / ttotal : 0, TR_BAR, utf8);
		buf_printf(b, " %-16s %6.0f (%3.0f%%)", tools[i].name, tools[i].n,
			   ttotal > 0 ? 100 * tools[i].n / ttotal : 0);
		tr_end(b);
	}
	if (!nt) {
		buf_puts(b, "  (none yet)");
		tr_end(b);
	}

	/* Accuracy, when the run knows the answers. */
	struct json_object *a = cli_jget(p, "accuracy");
	if (a && json_object_is_type(a, json_type_object)) {
		tr_end(b);
		buf_puts(b, "  \033[1mAccuracy\033[0m  (substring match estimate)");
		tr_end(b);
		double at = cli_jnum(a, "trajectories", 0), ac = cli_jnum(a, "correct", 0);
		double aq = cli_jnum(a, "questions", 0), ap = cli_jnum(a, "questions_passed", 0);
		if (at > 0)
			buf_printf(b, "  Traj accuracy:  %5.1f%%  (%.0f/%.0f)", 100 * ac / at, ac, at);
		else
			buf_puts(b, "  Traj accuracy:  -");
		tr_end(b);
		if (aq > 0)
			buf_printf(b, "  pass@%.0f (est):  %5.1f%%  (%.0f/%.0f)", cli_jnum(t, "per_question", 0),
				   100 * ap / aq, ap, aq);
		else
			buf_printf(b, "  pass@%.0f (est):  -", cli_jnum(t, "per_question", 0));
		tr_end(b);
	}
}

void top_research_panel(struct buf *b, const char *dir, int utf8, int cols, double now)
{
	struct buf path = BUF_INIT;
	buf_printf(&path, "%s/progress.json", dir);
	FILE *f = fopen(path.data, "re");
	if (!f) {
		buf_printf(b, "\033[1mResearch\033[0m  %s  \033[33mno progress yet (%s: %s)\033[0m", dir, path.data,
			   strerror(errno));
		tr_end(b);
		buf_free(&path);
		return;
	}
	struct buf text = BUF_INIT;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len < (4u << 20))
		buf_append(&text, chunk, n);
	fclose(f);
	struct json_object *p = text.data ? json_tokener_parse(text.data) : NULL;
	if (!p || !json_object_is_type(p, json_type_object)) {
		buf_printf(b, "\033[1mResearch\033[0m  %s  \033[31m%s is not a progress file\033[0m", dir, path.data);
		tr_end(b);
	} else {
		/* A run on this host that is gone left "running" behind. */
		int alive = 1;
		char host[256] = "";
		gethostname(host, sizeof host - 1);
		pid_t pid = (pid_t)cli_jnum(p, "pid", 0);
		if (pid > 0 && strcmp(cli_jstr(p, "host", ""), host) == 0 && kill(pid, 0) < 0 && errno == ESRCH)
			alive = 0;
		top_research_render(b, dir, p, utf8, cols, now, alive);
	}
	json_object_put(p);
	buf_free(&text);
	buf_free(&path);
}
