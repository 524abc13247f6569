/* rs_run.c — see rs_run.h; rs_cmd_run is the command. */
#include "rs_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rs_agent.h"
#include "rs_cmd.h"
#include "rs_common.h"
#include "rs_jutil.h"

/* ---------------------------------------------------------------- files */

char *rs_run_attempt_path(const char *dir, const struct rs_question *q, int k)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/%s/%d.jsonl", dir, q->dir, k);
	return buf_steal(&b);
}

enum rs_attempt_state rs_run_read_attempt(const char *path, const char *id, struct json_object **rec,
					  char *why, size_t whylen)
{
	if (rec)
		*rec = NULL;
	struct buf text = BUF_INIT;
	char err[300];
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return RS_ATTEMPT_TODO;
	if (rs_read_file(path, &text, 0, err, sizeof err) < 0) {
		snprintf(why, whylen, "%s", err);
		buf_free(&text);
		return RS_ATTEMPT_BAD;
	}
	enum rs_attempt_state st = RS_ATTEMPT_BAD;
	struct json_object *o = rs_ju_parse(text.data, text.len, err, sizeof err);
	const char *status, *rid;
	if (!o) {
		snprintf(why, whylen, "%s", err);
		goto cleanup;
	}
	rid = rs_ju_str(o, "id", NULL);
	if (!rid || strcmp(rid, id) != 0) {
		snprintf(why, whylen, "holds the trajectory of another question ('%s')", rid ? rid : "no id");
		goto cleanup;
	}
	status = rs_ju_str(o, "status", "");
	if (strcmp(status, "done") == 0) {
		st = RS_ATTEMPT_DONE;
	} else if (strcmp(status, "error") == 0) {
		st = RS_ATTEMPT_FAILED;
	} else {
		snprintf(why, whylen, "status '%s' is not a finished trajectory's", status);
		goto cleanup;
	}
	if (rec) {
		*rec = o;
		o = NULL;
	}
cleanup:
	json_object_put(o);
	buf_free(&text);
	return st;
}

int rs_run_clean_tmp(const char *qdir)
{
	DIR *d = opendir(qdir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".jsonl.tmp."))
			continue;
		struct buf p = BUF_INIT;
		buf_printf(&p, "%s/%s", qdir, e->d_name);
		if (unlink(p.data) == 0)
			n++;
		buf_free(&p);
	}
	closedir(d);
	return n;
}

/* ---------------------------------------------------------------- stats */

void rs_run_stats_init(struct rs_run_stats *s, const struct rs_qa *qa, int k)
{
	memset(s, 0, sizeof *s);
	s->nq = qa->n;
	s->k = k;
	s->total = qa->n * (size_t)k;
	s->qdone = calloc(qa->n ? qa->n : 1, sizeof *s->qdone);
	s->qcorrect = calloc(qa->n ? qa->n : 1, sizeof *s->qcorrect);
	s->qscored = calloc(qa->n ? qa->n : 1, sizeof *s->qscored);
	if (!s->qdone || !s->qcorrect || !s->qscored)
		abort();
	for (size_t i = 0; i < qa->n; i++)
		s->qscored[i] = qa->q[i].nanswers > 0;
}

void rs_run_stats_free(struct rs_run_stats *s)
{
	free(s->qdone);
	free(s->qcorrect);
	free(s->qscored);
	memset(s, 0, sizeof *s);
}

void rs_run_stats_add(struct rs_run_stats *s, size_t qi, const struct rs_question *q,
		      struct json_object *rec)
{
	s->done++;
	s->qdone[qi]++;
	struct json_object *u = rs_ju_get(rec, "usage");
	s->tool_calls += (long)rs_ju_num(u, "tool_calls", 0);
	s->tool_errors += (long)rs_ju_num(u, "tool_errors", 0);
	s->llm_calls += (long)rs_ju_num(u, "llm_calls", 0);
	s->prompt_tokens += (long)rs_ju_num(u, "prompt_tokens", 0);
	s->completion_tokens += (long)rs_ju_num(u, "completion_tokens", 0);
	if (rs_ju_bool(rec, "hit_tool_limit", false))
		s->hit_limit++;
	struct json_object *tc = rs_ju_get(rec, "tool_counts");
	if (tc && json_object_is_type(tc, json_type_object)) {
		json_object_object_foreach(tc, name, v)
		{
			int id = rs_tool_find(name);
			s->by_tool[id >= 0 ? id : RS_NTOOLS] += json_object_get_int64(v);
		}
	}
	if (q->nanswers) {
		s->scored++;
		if (rs_substring_match(rs_ju_str(rec, "answer", ""), q->answers, q->nanswers)) {
			s->correct++;
			s->qcorrect[qi]++;
		}
	}
}

void rs_run_stats_questions(const struct rs_run_stats *s, size_t *done, size_t *scored, size_t *passed)
{
	*done = *scored = *passed = 0;
	for (size_t i = 0; i < s->nq; i++) {
		if (s->qdone[i] < s->k)
			continue;
		(*done)++;
		if (s->qscored[i]) {
			(*scored)++;
			if (s->qcorrect[i] > 0)
				(*passed)++;
		}
	}
}

static double eta_seconds(const struct rs_run_stats *s, double elapsed)
{
	size_t finished = s->done - s->resumed + s->failed;
	size_t left = s->todo > finished ? s->todo - finished : 0;
	if (!left)
		return 0;
	if (!finished || elapsed <= 0)
		return -1;
	return (double)left * elapsed / (double)finished;
}

struct json_object *rs_run_progress(const struct rs_run_stats *s, const struct rs_run_info *in)
{
	struct json_object *o = json_object_new_object();
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "state", json_object_new_string(in->state));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "questions_file", json_object_new_string(in->questions_file ? in->questions_file : ""));
	json_object_object_add(o, "out", json_object_new_string(in->out ? in->out : ""));
	json_object_object_add(o, "model", json_object_new_string(in->model ? in->model : ""));
	json_object_object_add(o, "endpoint", json_object_new_string(in->endpoint ? in->endpoint : ""));
	json_object_object_add(o, "concurrency", json_object_new_int(in->concurrency));
	json_object_object_add(o, "max_tool_calls", json_object_new_int(in->max_tool_calls));
	json_object_object_add(o, "started", json_object_new_double(in->started));
	json_object_object_add(o, "updated", json_object_new_double(in->now));
	json_object_object_add(o, "elapsed", json_object_new_double(in->elapsed));

	struct json_object *t = json_object_new_object();
	json_object_object_add(t, "total", json_object_new_int64((int64_t)s->total));
	json_object_object_add(t, "per_question", json_object_new_int(s->k));
	json_object_object_add(t, "done", json_object_new_int64((int64_t)s->done));
	json_object_object_add(t, "resumed", json_object_new_int64((int64_t)s->resumed));
	json_object_object_add(t, "failed", json_object_new_int64((int64_t)s->failed));
	json_object_object_add(t, "running", json_object_new_int64((int64_t)s->running));
	json_object_object_add(t, "todo", json_object_new_int64((int64_t)s->todo));
	json_object_object_add(t, "hit_tool_limit", json_object_new_int64(s->hit_limit));
	json_object_object_add(o, "trajectories", t);

	size_t qd, qs, qp;
	rs_run_stats_questions(s, &qd, &qs, &qp);
	struct json_object *q = json_object_new_object();
	json_object_object_add(q, "total", json_object_new_int64((int64_t)s->nq));
	json_object_object_add(q, "done", json_object_new_int64((int64_t)qd));
	json_object_object_add(o, "questions", q);

	struct json_object *tc = json_object_new_object(), *by = json_object_new_object();
	json_object_object_add(tc, "total", json_object_new_int64(s->tool_calls));
	json_object_object_add(tc, "errors", json_object_new_int64(s->tool_errors));
	json_object_object_add(tc, "per_trajectory",
			       json_object_new_double(s->done ? (double)s->tool_calls / (double)s->done : 0));
	for (int i = 0; i <= RS_NTOOLS; i++)
		if (s->by_tool[i])
			json_object_object_add(by, i < RS_NTOOLS ? rs_tool_name((enum rs_tool_id)i) : "other",
					       json_object_new_int64(s->by_tool[i]));
	json_object_object_add(tc, "by_tool", by);
	json_object_object_add(o, "tool_calls", tc);

	struct json_object *u = json_object_new_object();
	json_object_object_add(u, "llm_calls", json_object_new_int64(s->llm_calls));
	json_object_object_add(u, "prompt_tokens", json_object_new_int64(s->prompt_tokens));
	json_object_object_add(u, "completion_tokens", json_object_new_int64(s->completion_tokens));
	json_object_object_add(o, "usage", u);

	double eta = eta_seconds(s, in->elapsed);
	json_object_object_add(o, "eta", eta >= 0 ? json_object_new_double(eta) : NULL);

	if (s->scored || qs) {
		struct json_object *a = json_object_new_object();
		json_object_object_add(a, "method", json_object_new_string("substring"));
		json_object_object_add(a, "trajectories", json_object_new_int64((int64_t)s->scored));
		json_object_object_add(a, "correct", json_object_new_int64((int64_t)s->correct));
		json_object_object_add(a, "questions", json_object_new_int64((int64_t)qs));
		json_object_object_add(a, "questions_passed", json_object_new_int64((int64_t)qp));
		json_object_object_add(o, "accuracy", a);
	} else {
		json_object_object_add(o, "accuracy", NULL);
	}
	return o;
}

void rs_run_progress_line(const struct rs_run_stats *s, double elapsed, struct buf *out)
{
	size_t qd, qs, qp;
	rs_run_stats_questions(s, &qd, &qs, &qp);
	char el[32], et[32];
	rs_fmt_duration(elapsed, el, sizeof el);
	double eta = eta_seconds(s, elapsed);
	if (eta >= 0)
		rs_fmt_duration(eta, et, sizeof et);
	else
		snprintf(et, sizeof et, "?");
	buf_printf(out, "%zu/%zu trajectories", s->done, s->total);
	if (s->resumed)
		buf_printf(out, " (%zu resumed)", s->resumed);
	buf_printf(out, ", %zu failed, %zu running | %zu/%zu questions | %.1f tool calls/traj", s->failed,
		   s->running, qd, s->nq, s->done ? (double)s->tool_calls / (double)s->done : 0.0);
	if (s->scored)
		buf_printf(out, " | match %.0f%%", 100.0 * (double)s->correct / (double)s->scored);
	buf_printf(out, " | %s, ETA %s", el, et);
}

/* ---------------------------------------------------------------- the command */

struct job {
	size_t qi;    /* question index */
	int k;        /* attempt */
};

struct run {
	const struct rs_qa *qa;
	const char *out;
	struct rs_agent_opts ao;     /* shared options (each attempt its own agent) */
	struct job *todo;
	size_t ntodo, next;
	pthread_mutex_t mu;
	struct rs_run_stats st;
	size_t workers_left;         /* threads not finished */
	char write_error[512];       /* the first attempt that could not be written */
};

static volatile sig_atomic_t run_stop, run_abandon;

static void run_on_signal(int sig)
{
	(void)sig;
	if (run_stop)
		run_abandon = 1;
	run_stop = 1;
}

/* The record written: id, attempt and question first. */
static struct json_object *attempt_record(const struct rs_question *q, int k, struct json_object *rec)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(q->id));
	json_object_object_add(o, "attempt", json_object_new_int(k));
	json_object_object_add(o, "question", json_object_new_string(q->question));
	json_object_object_foreach(rec, key, val)
		json_object_object_add(o, key, json_object_get(val));
	return o;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		if (run_stop || r->next >= r->ntodo) {
			r->workers_left--;
			pthread_mutex_unlock(&r->mu);
			break;
		}
		struct job j = r->todo[r->next++];
		r->st.running++;
		pthread_mutex_unlock(&r->mu);

		const struct rs_question *q = &r->qa->q[j.qi];
		struct rs_agent *a = rs_agent_new(&r->ao);
		char err[1024];
		int rc = rs_agent_ask(a, q->question, err, sizeof err);
		struct json_object *rec = rs_agent_record(a);
		rs_agent_free(a);
		bool abandoned = rc < 0 && strcmp(rs_ju_str(rec, "status", ""), "abandoned") == 0;
		bool written = false;
		char werr[512] = "";
		struct json_object *full = NULL;
		if (!abandoned) {
			full = attempt_record(q, j.k, rec);
			char *path = rs_run_attempt_path(r->out, q, j.k);
			const char *text = rs_ju_text(full);
			struct buf line = BUF_INIT;
			buf_printf(&line, "%s\n", text);
			written = rs_write_atomic(path, line.data, line.len, werr, sizeof werr) == 0;
			buf_free(&line);
			free(path);
		}
		pthread_mutex_lock(&r->mu);
		r->st.running--;
		if (!abandoned) {
			if (!written) {
				r->st.failed++;
				if (!r->write_error[0])
					snprintf(r->write_error, sizeof r->write_error, "%s", werr);
				run_stop = 1; /* the disk is likely full: stop launching */
			} else if (rc == 0) {
				rs_run_stats_add(&r->st, j.qi, q, full);
			} else {
				r->st.failed++;
			}
		}
		pthread_mutex_unlock(&r->mu);
		json_object_put(full);
		json_object_put(rec);
	}
	return NULL;
}

static const char run_usage[] =
	"run --questions FILE.jsonl --out DIR [--trajectories K] [--concurrency C]\n"
	"                        [--max-tool-calls N] [--answers FILE.jsonl] [--limit N] [--quiet] ...";

static int usage(void)
{
	fprintf(stderr, "usage: elastic-research %s\n", run_usage);
	return RS_USAGE;
}

static int mkdir_p(const char *path, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, path);
	for (char *p = b.data + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			if (mkdir(b.data, 0755) < 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create %s: %s", b.data, strerror(errno));
				buf_free(&b);
				return -1;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	buf_free(&b);
	struct stat sb;
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a folder", path);
		return -1;
	}
	return 0;
}

static void write_progress(struct run *r, const struct rs_run_info *info)
{
	pthread_mutex_lock(&r->mu);
	struct json_object *o = rs_run_progress(&r->st, info);
	pthread_mutex_unlock(&r->mu);
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	struct buf path = BUF_INIT, text = BUF_INIT;
	buf_printf(&path, "%s/progress.json", r->out);
	buf_printf(&text, "%s\n", t);
	char err[512];
	if (rs_write_atomic(path.data, text.data, text.len, err, sizeof err) < 0) {
		static int warned;
		if (!warned++)
			fprintf(stderr, "warning: %s\n", err);
	}
	json_object_put(o);
	buf_free(&path);
	buf_free(&text);
}

static void show_progress(struct run *r, double elapsed, bool tty, bool final)
{
	struct buf b = BUF_INIT;
	pthread_mutex_lock(&r->mu);
	rs_run_progress_line(&r->st, elapsed, &b);
	pthread_mutex_unlock(&r->mu);
	if (tty)
		fprintf(stderr, "\r[run] %s\033[K%s", b.data, final ? "\n" : "");
	else
		fprintf(stderr, "[run] %s\n", b.data);
	fflush(stderr);
	buf_free(&b);
}

int rs_cmd_run(int argc, char **argv)
{
	enum {
		OPT_QUESTIONS = RS_OPT_FIRST_FREE,
		OPT_TRAJ,
		OPT_CONC,
		OPT_MAXT,
		OPT_OUT,
		OPT_ANSWERS,
		OPT_LIMIT,
		OPT_QUIET,
	};
	static const struct option longopts[] = {
		{"questions", required_argument, NULL, OPT_QUESTIONS},
		{"trajectories", required_argument, NULL, OPT_TRAJ},
		{"concurrency", required_argument, NULL, OPT_CONC},
		{"max-tool-calls", required_argument, NULL, OPT_MAXT},
		{"out", required_argument, NULL, OPT_OUT},
		{"answers", required_argument, NULL, OPT_ANSWERS},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"help", no_argument, NULL, 'h'},
		RS_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *qfile = NULL, *out = NULL, *afile = NULL;
	long k = 1, conc = 4, maxt = RS_AGENT_MAX_TOOL_CALLS, limit = 0;
	bool quiet = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+hq", longopts, NULL)) != -1) {
		int c = rs_common_opt(opt, optarg);
		if (c < 0)
			return RS_USAGE;
		if (c)
			continue;
		switch (opt) {
		case OPT_QUESTIONS: qfile = optarg; break;
		case OPT_OUT: out = optarg; break;
		case OPT_ANSWERS: afile = optarg; break;
		case OPT_TRAJ:
			if (rs_opt_int("--trajectories", optarg, 1, 1000, &k) < 0)
				return RS_USAGE;
			break;
		case OPT_CONC:
			if (rs_opt_int("--concurrency", optarg, 1, 1024, &conc) < 0)
				return RS_USAGE;
			break;
		case OPT_MAXT:
			if (rs_opt_int("--max-tool-calls", optarg, 1, 10000, &maxt) < 0)
				return RS_USAGE;
			break;
		case OPT_LIMIT:
			if (rs_opt_int("--limit", optarg, 1, 100000000, &limit) < 0)
				return RS_USAGE;
			break;
		case 'q':
		case OPT_QUIET: quiet = true; break;
		case 'h':
			printf("usage: elastic-research %s\n\n"
			       "Runs K trajectories (attempts) of the agent for every question of a JSONL\n"
			       "file ({\"id\": ..., \"question\": \"...\"} a line), C at a time, and writes each\n"
			       "to DIR/<id>/<k>.jsonl when it ends. Run it again to resume: finished\n"
			       "trajectories are kept, the rest (unfinished, failed) are run. Progress goes\n"
			       "to stderr and DIR/progress.json (elasticctl top --research DIR).\n\n"
			       "  --questions FILE      the questions (JSONL)\n"
			       "  --out DIR             where the trajectories go (created)\n"
			       "  --trajectories K      attempts per question (default 1)\n"
			       "  --concurrency C       attempts at a time (default 4)\n"
			       "  --max-tool-calls N    per attempt (default %d), then the answer is asked for\n"
			       "  --answers FILE        gold answers (JSONL) for a live substring-match\n"
			       "                        estimate (default: \"answer\" in the questions file)\n"
			       "  --limit N             only the first N questions\n"
			       "  -q, --quiet           no progress line\n\n" RS_COMMON_HELP
			       "\nCtrl-C (SIGINT, SIGTERM) stops launching attempts and waits for the running\n"
			       "ones; a second one abandons them. Exit status: 0 every attempt done, 1 some\n"
			       "failed or the run was interrupted, 2 bad usage or a bad questions file.\n",
			       run_usage, RS_AGENT_MAX_TOOL_CALLS);
			return RS_OK;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();
	if (!qfile || !out || !*qfile || !*out) {
		rs_error("run needs --questions FILE and --out DIR");
		return usage();
	}

	struct rs_qa qa = {0}, ans = {0};
	struct rs_conf conf;
	struct rs_llm llm;
	struct run r;
	char *prompt = NULL;
	char err[1024];
	int rc = RS_FAIL, lockfd = -1;
	pthread_t *th = NULL;
	size_t nth = 0;
	memset(&conf, 0, sizeof conf);
	memset(&llm, 0, sizeof llm);
	memset(&r, 0, sizeof r);
	pthread_mutex_init(&r.mu, NULL);

	if (rs_qa_load(&qa, qfile, RS_QA_QUESTIONS, err, sizeof err) < 0) {
		rs_error("%s", err);
		rc = RS_USAGE;
		goto cleanup;
	}
	if (limit > 0)
		rs_qa_truncate(&qa, (size_t)limit);
	if (afile) {
		if (rs_qa_load(&ans, afile, RS_QA_ANSWERS, err, sizeof err) < 0) {
			rs_error("%s", err);
			rc = RS_USAGE;
			goto cleanup;
		}
		rs_qa_take_answers(&qa, &ans);
	}
	if (mkdir_p(out, err, sizeof err) < 0) {
		rs_error("%s", err);
		goto cleanup;
	}
	{
		struct buf lp = BUF_INIT;
		buf_printf(&lp, "%s/.lock", out);
		lockfd = open(lp.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (lockfd < 0) {
			rs_error("cannot create %s: %s", lp.data, strerror(errno));
			buf_free(&lp);
			goto cleanup;
		}
		if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
			char pid[32] = "";
			ssize_t n = pread(lockfd, pid, sizeof pid - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rs_error("%s is in use by another run%s%s%s", out, pid[0] ? " (pid " : "", pid,
				 pid[0] ? ")" : "");
			buf_free(&lp);
			goto cleanup;
		}
		char pid[32];
		int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
		if (ftruncate(lockfd, 0) == 0 && pwrite(lockfd, pid, (size_t)n, 0) < 0)
			(void)0;
		buf_free(&lp);
	}
	rc = rs_common_setup(&conf, &llm, &prompt, 1);
	if (rc)
		goto cleanup;
	rc = RS_FAIL;

	/* What is done already, what is to do. */
	r.qa = &qa;
	r.out = out;
	rs_run_stats_init(&r.st, &qa, (int)k);
	r.todo = calloc(qa.n * (size_t)k, sizeof *r.todo);
	if (!r.todo)
		abort();
	size_t cleaned = 0, bad = 0;
	for (size_t i = 0; i < qa.n; i++) {
		struct buf qd = BUF_INIT;
		buf_printf(&qd, "%s/%s", out, qa.q[i].dir);
		if (mkdir(qd.data, 0755) < 0 && errno != EEXIST) {
			rs_error("cannot create %s: %s", qd.data, strerror(errno));
			buf_free(&qd);
			goto cleanup;
		}
		cleaned += (size_t)rs_run_clean_tmp(qd.data);
		buf_free(&qd);
		for (int j = 0; j < (int)k; j++) {
			char *path = rs_run_attempt_path(out, &qa.q[i], j);
			struct json_object *rec;
			char why[400];
			enum rs_attempt_state st = rs_run_read_attempt(path, qa.q[i].id, &rec, why, sizeof why);
			if (st == RS_ATTEMPT_DONE) {
				rs_run_stats_add(&r.st, i, &qa.q[i], rec);
				r.st.resumed++;
			} else {
				if (st == RS_ATTEMPT_BAD) {
					fprintf(stderr, "warning: %s: %s; running it again\n", path, why);
					bad++;
				}
				if (st != RS_ATTEMPT_TODO)
					r.st.redo++;
				r.todo[r.ntodo++] = (struct job){i, j};
			}
			json_object_put(rec);
			free(path);
		}
	}
	r.st.todo = r.ntodo;
	r.ao = (struct rs_agent_opts){
		.llm = &llm,
		.conf = &conf,
		.max_tool_calls = (int)maxt,
		.system_prompt = prompt,
		.abandon = &run_abandon,
	};
	fprintf(stderr,
		"run: %zu question%s x %ld trajector%s = %zu; %zu done before, %zu to run%s; model %s at %s, "
		"%ld at a time\n",
		qa.n, qa.n == 1 ? "" : "s", k, k == 1 ? "y" : "ies", r.st.total, r.st.resumed, r.ntodo,
		r.st.redo ? " (failed or unreadable ones again)" : "", llm.model, llm.endpoint, conc);
	if (cleaned)
		fprintf(stderr, "run: removed %zu temporary file%s of an interrupted run\n", cleaned,
			cleaned == 1 ? "" : "s");

	struct rs_run_info info = {
		.state = "running",
		.questions_file = qfile,
		.out = out,
		.model = llm.model,
		.endpoint = llm.endpoint,
		.concurrency = (int)conc,
		.max_tool_calls = (int)maxt,
		.started = rs_wall_time(),
	};
	double t0 = rs_mono_time();
	bool tty = isatty(STDERR_FILENO) && !quiet;

	/* Signals go to this thread only. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = run_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	nth = r.ntodo < (size_t)conc ? r.ntodo : (size_t)conc;
	th = calloc(nth ? nth : 1, sizeof *th);
	if (!th)
		abort();
	r.workers_left = nth;
	for (size_t i = 0; i < nth; i++) {
		if (pthread_create(&th[i], NULL, worker, &r) != 0) {
			pthread_mutex_lock(&r.mu);
			r.workers_left -= nth - i;
			pthread_mutex_unlock(&r.mu);
			nth = i;
			run_stop = 1;
			rs_error("cannot start a worker thread");
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	double last_show = -100, last_write = -100;
	bool said_stop = false;
	for (;;) {
		pthread_mutex_lock(&r.mu);
		size_t left = r.workers_left, running = r.st.running;
		pthread_mutex_unlock(&r.mu);
		double now = rs_mono_time();
		info.elapsed = now - t0;
		info.now = rs_wall_time();
		if (!left)
			break;
		if (run_stop && !said_stop && !r.write_error[0]) {
			said_stop = true;
			if (tty)
				fputc('\n', stderr);
			fprintf(stderr, "run: interrupted: waiting for %zu running attempt%s (once more abandons them)\n",
				running, running == 1 ? "" : "s");
		}
		if (run_abandon) {
			info.state = "interrupted";
			write_progress(&r, &info);
			pthread_mutex_lock(&r.mu);
			fprintf(stderr,
				"run: interrupted: %zu of %zu trajectories done, %zu running attempt%s abandoned; "
				"run the same command again to resume\n",
				r.st.done, r.st.total, r.st.running, r.st.running == 1 ? "" : "s");
			pthread_mutex_unlock(&r.mu);
			/* Attempts in the middle of a model call would make us wait
			 * minutes: nothing of theirs is written, so just go. */
			fflush(NULL);
			_exit(RS_FAIL);
		}
		if (now - last_write >= 1.0) {
			write_progress(&r, &info);
			last_write = now;
		}
		if (!quiet && now - last_show >= (tty ? 0.5 : 10.0)) {
			show_progress(&r, info.elapsed, tty, false);
			last_show = now;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	info.elapsed = rs_mono_time() - t0;
	info.now = rs_wall_time();
	bool complete = r.st.done == r.st.total;
	info.state = complete ? "done" : run_stop && !r.write_error[0] ? "interrupted" : "failed";
	write_progress(&r, &info);
	if (!quiet)
		show_progress(&r, info.elapsed, tty, true);
	if (r.write_error[0])
		rs_error("cannot write a trajectory: %s", r.write_error);
	if (complete) {
		fprintf(stderr, "run: %zu trajectories in %s\n", r.st.total, out);
		rc = RS_OK;
	} else if (run_stop && !r.write_error[0]) {
		fprintf(stderr, "run: interrupted: %zu of %zu trajectories done; run the same command again to resume\n",
			r.st.done, r.st.total);
	} else {
		fprintf(stderr, "run: %zu of %zu trajectories done, %zu failed (the endpoint's errors are in their "
				"files); run the same command again to retry them\n",
			r.st.done, r.st.total, r.st.failed);
	}
cleanup:
	free(th);
	free(r.todo);
	rs_run_stats_free(&r.st);
	pthread_mutex_destroy(&r.mu);
	if (lockfd >= 0)
		close(lockfd);
	free(prompt);
	rs_conf_free(&conf);
	rs_llm_free(&llm);
	rs_qa_free(&qa);
	rs_qa_free(&ans);
	return rc;
}
