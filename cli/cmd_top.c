/* cmd_top.c — elasticctl top: a live dashboard of the registry, redrawn in
 * place: pools, workers with running/waiting/KV-cache bars, request rate,
 * errors, recent events. q or Ctrl-C quits and restores the terminal.
 * Without a terminal (or with --once) it prints one frame and exits. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "top_research.h"

static const char top_usage[] =
	"top [-n SECONDS] [--once] [--research DIR]... [--no-cluster] [--registry URL] [--auth MODE]";

#define TOP_MAX_RESEARCH 16

static volatile sig_atomic_t top_signal;
static struct termios top_saved;
static int top_raw, top_screen;

static void top_on_signal(int sig)
{
	top_signal = sig;
}

static void top_restore(void)
{
	if (top_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved);
		top_raw = 0;
	}
	if (top_screen) {
		fputs("\033[?25h\033[?1049l", stdout); /* cursor back, main screen */
		fflush(stdout);
		top_screen = 0;
	}
}

/* Request counters seen in the previous frame, for the rate. */
struct seen {
	char id[128];
	double requests;
};

struct top {
	const char *research[TOP_MAX_RESEARCH]; /* --research folders */
	int nresearch;
	int no_cluster;    /* --no-cluster: the research panels only */
	int utf8;
	int cols, rows;
	struct seen *prev;
	size_t nprev;
	double prev_time;
	double prev_proxy;
	double rate;
	int have_rate;
};

static void bar(struct buf *b, const struct top *t, double frac, int width)
{
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int full = (int)(frac * width + 0.5);
	for (int i = 0; i < width; i++) {
		if (t->utf8)
			buf_puts(b, i < full ? "\xe2\x96\x88" : "\xe2\x96\x91"); /* █ ░ */
		else
			buf_putc(b, i < full ? '#' : '.');
	}
}

static void line_end(struct buf *b)
{
	buf_puts(b, "\033[K\n"); /* clear the rest of the line */
}

static double seen_get(const struct top *t, const char *id)
{
	for (size_t i = 0; i < t->nprev; i++)
		if (strcmp(t->prev[i].id, id) == 0)
			return t->prev[i].requests;
	return -1;
}

static void frame(struct top *t, struct buf *b, struct json_object *st, struct json_object *wk,
		  const char *err)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	buf_printf(b, "\033[1melastic-serve\033[0m  %s  %s   (q quits)", cli_registry_url(), ts);
	line_end(b);
	if (err) {
		buf_printf(b, "\033[31merror: %s\033[0m", err);
		line_end(b);
		return;
	}
	struct json_object *ws = cli_jget(wk, "workers");
	size_t nw = ws ? json_object_array_length(ws) : 0;
	double tnow = cli_jnum(st, "registry", 0), proxy = 0;
	(void)tnow;

	/* Request rate: finished-request counters of the engines, or the
	 * proxy's own count when it has one. */
	double reqsum = 0;
	struct seen *cur = calloc(nw ? nw : 1, sizeof *cur);
	if (!cur)
		abort();
	for (size_t i = 0; i < nw; i++) {
		struct json_object *w = json_object_array_get_idx(ws, i);
		double r = cli_jnum(cli_jget(w, "load"), "requests", -1);
		snprintf(cur[i].id, sizeof cur[i].id, "%s", cli_jstr(w, "id", ""));
		cur[i].requests = r;
		double p = seen_get(t, cur[i].id);
		if (r >= 0 && p >= 0 && r >= p)
			reqsum += r - p;
	}
	struct json_object *rq = cli_jget(st, "requests");
	proxy = cli_jnum(rq, "total", 0);
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	double tm_s = (double)mono.tv_sec + mono.tv_nsec / 1e9;
	if (t->prev_time > 0 && tm_s > t->prev_time) {
		double pr = proxy - t->prev_proxy;
		t->rate = (pr > 0 ? pr : reqsum) / (tm_s - t->prev_time);
		t->have_rate = 1;
	}
	free(t->prev);
	t->prev = cur;
	t->nprev = nw;
	t->prev_time = tm_s;
	t->prev_proxy = proxy;

	struct json_object *wc = cli_jget(st, "workers"), *er = cli_jget(st, "errors");
	buf_printf(b, "workers \033[32m%.0f ready\033[0m, %.0f starting, %.0f draining, %.0f gone   ",
		   cli_jnum(wc, "ready", 0), cli_jnum(wc, "starting", 0), cli_jnum(wc, "draining", 0),
		   cli_jnum(wc, "gone", 0));
	if (t->have_rate)
		buf_printf(b, "requests %.1f/s   ", t->rate);
	else
		buf_puts(b, "requests -   ");
	double nerr = cli_jnum(rq, "errors", 0) + cli_jnum(er, "acquirer", 0);
	buf_printf(b, "errors %s%.0f\033[0m (proxy %.0f, slurm %.0f), evictions %.0f",
		   nerr > 0 ? "\033[31m" : "", nerr, cli_jnum(rq, "errors", 0),
		   cli_jnum(er, "acquirer", 0), cli_jnum(er, "evictions", 0));
	line_end(b);

	struct json_object *pools = cli_jget(st, "pools");
	size_t np = pools ? json_object_array_length(pools) : 0;
	for (size_t i = 0; i < np; i++) {
		struct json_object *p = json_object_array_get_idx(pools, i);
		buf_printf(b, "pool \033[1m%s\033[0m: target %.0f/%.0f, %.0f pending, %.0f running, %.0f ready  %s",
			   cli_jstr(p, "name", "?"), cli_jnum(p, "target", 0), cli_jnum(p, "max", 0),
			   cli_jnum(p, "pending", 0), cli_jnum(p, "running", 0), cli_jnum(p, "ready", 0),
			   cli_jstr(p, "last_event", ""));
		line_end(b);
	}
	if (!np) {
		buf_puts(b, "no pools");
		line_end(b);
	}
	line_end(b);

	/* Workers, with bars scaled to the busiest. */
	double maxq = 4;
	for (size_t i = 0; i < nw; i++) {
		struct json_object *l = cli_jget(json_object_array_get_idx(ws, i), "load");
		double r = cli_jnum(l, "running", 0), q = cli_jnum(l, "waiting", 0);
		if (r > maxq)
			maxq = r;
		if (q > maxq)
			maxq = q;
	}
	int idw = 6;
	for (size_t i = 0; i < nw; i++) {
		int l = (int)strlen(cli_jstr(json_object_array_get_idx(ws, i), "id", ""));
		if (l > idw)
			idw = l;
	}
	if (idw > 28)
		idw = 28;
	int bw = (t->cols - idw - 10 - 10 - 3 * 6 - 10) / 3;
	if (bw > 20)
		bw = 20;
	if (bw < 4)
		bw = 4;
	buf_printf(b, "\033[7m%-*s %-9s %-*s %-*s %-*s\033[0m", idw, "WORKER", "STATE", bw + 5, "RUNNING",
		   bw + 5, "WAITING", bw + 5, "KV");
	line_end(b);
	int room = t->rows - 6 - (int)np - 8;
	if (room < 3)
		room = 3;
	for (size_t i = 0; i < nw; i++) {
		if ((int)i >= room) {
			buf_printf(b, "... and %zu more", nw - i);
			line_end(b);
			break;
		}
		struct json_object *w = json_object_array_get_idx(ws, i), *l = cli_jget(w, "load");
		const char *state = cli_jstr(w, "state", "?");
		const char *color = strcmp(state, "ready") == 0 ? "\033[32m"
				    : strcmp(state, "starting") == 0 ? "\033[33m"
								     : "\033[31m";
		double r = cli_jnum(l, "running", 0), q = cli_jnum(l, "waiting", 0),
		       kv = cli_jnum(l, "kv_usage", 0);
		buf_printf(b, "%-*.*s %s%-9s\033[0m ", idw, idw, cli_jstr(w, "id", "?"), color, state);
		bar(b, t, r / maxq, bw);
		buf_printf(b, " %3.0f ", r);
		bar(b, t, q / maxq, bw);
		buf_printf(b, " %3.0f ", q);
		bar(b, t, kv, bw);
		buf_printf(b, " %3.0f%%", kv * 100);
		line_end(b);
	}
	if (!nw) {
		buf_puts(b, "(no workers)");
		line_end(b);
	}
	line_end(b);
	buf_puts(b, "\033[1mrecent events\033[0m");
	line_end(b);
	struct json_object *ev = cli_jget(st, "events");
	size_t ne = ev ? json_object_array_length(ev) : 0;
	for (size_t i = ne > 6 ? ne - 6 : 0; i < ne; i++) {
		struct json_object *e = json_object_array_get_idx(ev, i);
		time_t et = (time_t)cli_jnum(e, "time", 0);
		char ets[16];
		localtime_r(&et, &tm);
		strftime(ets, sizeof ets, "%H:%M:%S", &tm);
		const char *pool = cli_jstr(e, "pool", "");
		buf_printf(b, "%s %s%s%.*s", ets, pool, *pool ? ": " : "",
			   t->cols > 30 ? t->cols - 12 - (int)strlen(pool) : 40, cli_jstr(e, "text", ""));
		line_end(b);
	}
}

static void draw(struct top *t, int tty)
{
	struct json_object *st = NULL, *wk = NULL;
	char err[512];
	struct winsize ws;
	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		t->cols = ws.ws_col;
		t->rows = ws.ws_row;
	}
	int rc = CLI_OK;
	if (!t->no_cluster)
		rc = cli_request("GET", "/api/v1/status", NULL, &st, err, sizeof err);
	if (rc == CLI_OK && !t->no_cluster)
		rc = cli_request("GET", "/api/v1/workers", NULL, &wk, err, sizeof err);
	struct buf b = BUF_INIT;
	if (tty)
		buf_puts(&b, "\033[H");
	if (!t->no_cluster)
		frame(t, &b, st, wk, rc == CLI_OK ? NULL : err);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	for (int i = 0; i < t->nresearch; i++) {
		if (i || !t->no_cluster)
			line_end(&b);
		top_research_panel(&b, t->research[i], t->utf8, t->cols, (double)now.tv_sec + now.tv_nsec / 1e9);
	}
	if (tty)
		buf_puts(&b, "\033[J");
	if (!tty) {
		/* No escapes in a pipe or a file. */
		struct buf plain = BUF_INIT;
		for (const char *p = b.data; *p; p++) {
			if (*p == '\033') {
				p++;
				if (*p == '[')
					while (p[1] && !((p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z')))
						p++;
				p++;
				continue;
			}
			buf_putc(&plain, *p);
		}
		fputs(plain.data ? plain.data : "", stdout);
		buf_free(&plain);
	} else {
		fwrite(b.data, 1, b.len, stdout);
	}
	fflush(stdout);
	buf_free(&b);
	json_object_put(st);
	json_object_put(wk);
}

int cli_cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"interval", required_argument, NULL, 'n'},
		{"once", no_argument, NULL, '1'},
		{"research", required_argument, NULL, 'r'},
		{"no-cluster", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int opt, once = 0;
	double interval = 1;
	struct top t = {.cols = 100, .rows = 40};
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+hn:o:", longopts, NULL)) != -1) {
		int c = cli_common_opt(opt, optarg);
		if (c < 0)
			return CLI_USAGE;
		if (c)
			continue;
		switch (opt) {
		case 'n': {
			char *end;
			interval = strtod(optarg, &end);
			if (!*optarg || *end || interval < 0.2 || interval > 3600) {
				cli_error("-n: '%s' is not a number of seconds from 0.2 to 3600", optarg);
				return CLI_USAGE;
			}
			break;
		}
		case '1': once = 1; break;
		case 'r':
			if (t.nresearch == TOP_MAX_RESEARCH) {
				cli_error("--research: at most %d folders", TOP_MAX_RESEARCH);
				return CLI_USAGE;
			}
			t.research[t.nresearch++] = optarg;
			break;
		case 'C': t.no_cluster = 1; break;
		case 'h':
			printf("usage: elasticctl %s\n\n"
			       "A live view of the registry, redrawn in place: pools, workers with bars\n"
			       "for running and waiting requests and KV-cache use, the request rate,\n"
			       "errors and recent events. q or Ctrl-C quits.\n\n"
			       "  -n, --interval S   seconds between refreshes (1)\n"
			       "      --once         print one frame and exit (also when not on a terminal)\n"
			       "      --research DIR also the progress of the elastic-research run writing to\n"
			       "                     DIR (its progress.json): trajectories, questions, tool\n"
			       "                     calls per tool, accuracy estimate; repeatable\n"
			       "      --no-cluster   the research panels only (no registry needed)\n",
			       top_usage);
			return CLI_OK;
		default: return cli_usage(top_usage);
		}
	}
	if (optind != argc)
		return cli_usage(top_usage);
	if (cli_opts.json) {
		cli_error("top has no JSON output; use 'elasticctl status -o json'");
		return CLI_USAGE;
	}
	if (t.no_cluster && !t.nresearch) {
		cli_error("--no-cluster needs --research DIR");
		return CLI_USAGE;
	}
	setlocale(LC_CTYPE, "");
	t.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	int tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && !once;
	if (!tty) {
		/* One frame; a second one a moment later gives a rate. */
		draw(&t, 0);
		free(t.prev);
		return CLI_OK;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = top_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (tcgetattr(STDIN_FILENO, &top_saved) == 0) {
		struct termios raw = top_saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
			top_raw = 1;
	}
	atexit(top_restore);
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout); /* other screen, no cursor */
	top_screen = 1;

	while (!top_signal) {
		draw(&t, 1);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &b);
			int left = (int)(interval * 1000 - ((b.tv_sec - a.tv_sec) * 1000 +
							    (b.tv_nsec - a.tv_nsec) / 1000000));
			if (left <= 0 || top_signal)
				break;
			struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
			int r = poll(&pfd, 1, left);
			if (r > 0) {
				char ch;
				ssize_t n = read(STDIN_FILENO, &ch, 1);
				if (n == 1 && (ch == 'q' || ch == 'Q' || ch == 3))
					top_signal = -1;
				else if (n == 0)
					top_signal = -1; /* stdin closed */
				else if (n == 1 && ch == ' ')
					break; /* refresh now */
			} else if (r < 0 && errno != EINTR) {
				break;
			}
		}
	}
	top_restore();
	free(t.prev);
	return CLI_OK;
}
