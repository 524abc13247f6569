/* rs_eval.c — see rs_eval.h; rs_cmd_eval is the command. */
#include "rs_eval.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_cmd.h"
#include "rs_common.h"
#include "rs_jutil.h"
#include "rs_llm.h"
#include "rs_tools.h"

#define RS_EVAL_RESPONSE_MAX 12000

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

/* ---------------------------------------------------------------- scanning */

static void traj_free(struct rs_eval_traj *t)
{
	free(t->id);
	free(t->file);
	free(t->question);
	free(t->answer);
	free(t->judge_reply);
	free(t->judge_reason);
}

void rs_eval_free(struct rs_eval *e)
{
	for (size_t i = 0; i < e->n; i++)
		traj_free(&e->t[i]);
	free(e->t);
	memset(e, 0, sizeof *e);
}

/* "<digits>.jsonl": the attempt number, else -1. */
static int attempt_of(const char *name)
{
	const char *p = name;
	long k = 0;
	if (!*p || *p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		k = k * 10 + (*p - '0');
		if (k > 1000000)
			return -1;
		p++;
	}
	return strcmp(p, ".jsonl") == 0 ? (int)k : -1;
}

static int traj_cmp(const void *a, const void *b)
{
	const struct rs_eval_traj *x = a, *y = b;
	int c = strverscmp(x->id, y->id);
	if (c)
		return c;
	return (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

static void scan_file(struct rs_eval *e, size_t *cap, const char *path, int attempt)
{
	struct buf text = BUF_INIT;
	char err[300];
	struct json_object *o = NULL;
	const char *id;
	if (rs_read_file(path, &text, 0, err, sizeof err) < 0) {
		fprintf(stderr, "warning: %s\n", err);
		e->skipped++;
		goto cleanup;
	}
	o = rs_ju_parse(text.data, text.len, err, sizeof err);
	if (!o || !json_object_is_type(o, json_type_object)) {
		fprintf(stderr, "warning: %s: %s; skipped\n", path, o ? "not a JSON object" : err);
		e->skipped++;
		goto cleanup;
	}
	id = rs_ju_str(o, "id", NULL);
	if (!id) {
		fprintf(stderr, "warning: %s: no \"id\"; skipped\n", path);
		e->skipped++;
		goto cleanup;
	}
	if (e->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		struct rs_eval_traj *t = realloc(e->t, *cap * sizeof *t);
		if (!t)
			abort();
		e->t = t;
	}
	struct rs_eval_traj *t = &e->t[e->n++];
	memset(t, 0, sizeof *t);
	t->id = xstrdup(id);
	t->attempt = (int)rs_ju_num(o, "attempt", attempt);
	t->file = xstrdup(path);
	t->question = xstrdup(rs_ju_str(o, "question", ""));
	const char *ans = rs_ju_str(o, "answer", NULL);
	t->answer = ans ? xstrdup(ans) : NULL;
	t->finished = strcmp(rs_ju_str(o, "status", ""), "done") == 0;
	t->verdict = RS_EVAL_NOT_JUDGED;
cleanup:
	json_object_put(o);
	buf_free(&text);
}

int rs_eval_scan(struct rs_eval *e, const char *dir, char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct buf sub = BUF_INIT;
		buf_printf(&sub, "%s/%s", dir, de->d_name);
		struct stat sb;
		DIR *sd = stat(sub.data, &sb) == 0 && S_ISDIR(sb.st_mode) ? opendir(sub.data) : NULL;
		if (sd) {
			struct dirent *fe;
			while ((fe = readdir(sd))) {
				int k = attempt_of(fe->d_name);
				if (k < 0)
					continue;
				struct buf f = BUF_INIT;
				buf_printf(&f, "%s/%s", sub.data, fe->d_name);
				scan_file(e, &cap, f.data, k);
				buf_free(&f);
			}
			closedir(sd);
		}
		buf_free(&sub);
	}
	closedir(d);
	if (e->n)
		qsort(e->t, e->n, sizeof *e->t, traj_cmp);
	return 0;
}

/* ---------------------------------------------------------------- the judge */

#define JUDGE_RULES                                                                               \
	"You are a strict grader of answers to research questions. You are given a question, "    \
	"its gold answer (or several acceptable forms of it) and a response. Decide whether the "  \
	"response's final answer is the gold answer.\n"                                            \
	"\n"                                                                                       \
	"Rules:\n"                                                                                 \
	"- Judge only the final answer's meaning: the same entity, name, number or date as the "   \
	"gold answer. Differences in spelling, case, formatting, articles, abbreviations or "      \
	"units that do not change the meaning are fine; a number must match to the precision the " \
	"question implies.\n"                                                                      \
	"- A response that gives several candidate answers, hedges between them, contradicts "    \
	"itself or does not commit to an answer is INCORRECT, even if one candidate is right.\n"   \
	"- A response that is more specific than the gold answer is correct only when it "         \
	"includes the gold answer and adds nothing that contradicts it; one that is less "         \
	"specific is INCORRECT.\n"                                                                 \
	"- Ignore the quality of the reasoning, the sources and the style. Do not use your own "   \
	"knowledge to second-guess the gold answer.\n"                                             \
	"\n"

#define JUDGE_SYSTEM_TEXT                                                                         \
	JUDGE_RULES "Reply with one short sentence of explanation, then a last line that is exactly " \
		    "\"Verdict: CORRECT\" or \"Verdict: INCORRECT\"."

#define JUDGE_SYSTEM_JSON                                                                         \
	JUDGE_RULES "Reply with a JSON object and nothing else: {\"verdict\": \"correct\"} or "    \
		    "{\"verdict\": \"incorrect\"}, with a \"reason\" beside the verdict that explains " \
		    "it in one short sentence."

const char rs_eval_verdict_format[] =
	"{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"verdict\", \"strict\": true, "
	"\"schema\": {\"type\": \"object\", \"properties\": {\"verdict\": {\"type\": \"string\", "
	"\"enum\": [\"correct\", \"incorrect\"]}, \"reason\": {\"type\": \"string\"}}, "
	"\"required\": [\"verdict\"]}}}";

struct json_object *rs_eval_judge_messages(const char *question, char *const *answers, size_t n,
					   const char *response, bool json)
{
	struct buf u = BUF_INIT;
	buf_printf(&u, "Question:\n%s\n\n", question && *question ? question : "(not recorded)");
	if (n == 1) {
		buf_printf(&u, "Gold answer:\n%s\n\n", answers[0]);
	} else {
		buf_puts(&u, "Gold answer (any of these forms):\n");
		for (size_t i = 0; i < n; i++)
			buf_printf(&u, "- %s\n", answers[i]);
		buf_putc(&u, '\n');
	}
	size_t rl = response ? strlen(response) : 0;
	if (rl > RS_EVAL_RESPONSE_MAX) {
		/* The final answer is at the end. */
		const char *p = response + rl - RS_EVAL_RESPONSE_MAX;
		while (((unsigned char)*p & 0xc0) == 0x80)
			p++;
		buf_printf(&u, "Response (its end):\n...%s\n", p);
	} else {
		buf_printf(&u, "Response:\n%s\n", rl ? response : "(empty)");
	}
	struct json_object *m = json_object_new_array(), *s = json_object_new_object(),
			   *um = json_object_new_object();
	json_object_object_add(s, "role", json_object_new_string("system"));
	json_object_object_add(s, "content",
			       json_object_new_string(json ? JUDGE_SYSTEM_JSON : JUDGE_SYSTEM_TEXT));
	json_object_object_add(um, "role", json_object_new_string("user"));
	json_object_object_add(um, "content", json_object_new_string(u.data));
	json_object_array_add(m, s);
	json_object_array_add(m, um);
	buf_free(&u);
	return m;
}

int rs_eval_parse_structured(const char *reply, int *verdict, char **reason)
{
	*reason = NULL;
	if (!reply)
		return -1;
	const char *a = reply, *b = reply + strlen(reply);
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	/* A fence: ```json ... ``` */
	if (b - a >= 6 && strncmp(a, "```", 3) == 0 && strncmp(b - 3, "```", 3) == 0) {
		const char *nl = memchr(a, '\n', (size_t)(b - a));
		if (!nl)
			return -1;
		a = nl + 1;
		b -= 3;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
	}
	if (a == b || *a != '{')
		return -1;
	char perr[64];
	struct json_object *o = rs_ju_parse(a, (size_t)(b - a), perr, sizeof perr);
	const char *v = o && json_object_is_type(o, json_type_object) ? rs_ju_str(o, "verdict", NULL) : NULL;
	int rc = -1;
	if (v && strcasecmp(v, "correct") == 0)
		*verdict = RS_VERDICT_CORRECT, rc = 0;
	else if (v && strcasecmp(v, "incorrect") == 0)
		*verdict = RS_VERDICT_INCORRECT, rc = 0;
	if (rc == 0) {
		const char *r = rs_ju_str(o, "reason", NULL);
		*reason = r ? xstrdup(r) : NULL;
	}
	json_object_put(o);
	return rc;
}

bool rs_eval_refuses_format(long status, const char *err)
{
	static const char *const words[] = {"response_format", "json_schema", "json schema",
					    "structured output", "guided", "grammar", NULL};
	if ((status != 400 && status != 422) || !err)
		return false;
	for (int i = 0; words[i]; i++)
		if (strcasestr(err, words[i]))
			return true;
	return false;
}

void rs_eval_judge_init(struct rs_eval_judge *j, const struct rs_llm *llm, bool json)
{
	memset(j, 0, sizeof *j);
	j->llm = llm;
	j->json = json;
	pthread_mutex_init(&j->mu, NULL);
	/* The same endpoint and settings; the extra members lose any
	 * response_format, and one copy gains the verdict's. */
	j->with_format = *llm;
	j->without = *llm;
	char perr[128];
	struct json_object *x = llm->extra ? rs_ju_parse(llm->extra, strlen(llm->extra), perr, sizeof perr) : NULL;
	if (!x || !json_object_is_type(x, json_type_object)) {
		json_object_put(x);
		x = json_object_new_object();
	}
	json_object_object_del(x, "response_format");
	j->without.extra = xstrdup(rs_ju_text(x));
	json_object_object_add(x, "response_format",
			       rs_ju_parse(rs_eval_verdict_format, strlen(rs_eval_verdict_format), perr, sizeof perr));
	j->with_format.extra = xstrdup(rs_ju_text(x));
	json_object_put(x);
}

void rs_eval_judge_free(struct rs_eval_judge *j)
{
	free(j->with_format.extra);
	free(j->without.extra);
	pthread_mutex_destroy(&j->mu);
	memset(j, 0, sizeof *j);
}

void rs_eval_verdict_free(struct rs_eval_verdict *v)
{
	free(v->reply);
	free(v->reason);
	memset(v, 0, sizeof *v);
}

void rs_eval_judge_one(struct rs_eval_judge *j, const char *question, char *const *answers,
		       size_t n, const char *response, struct rs_eval_verdict *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&j->mu);
	bool json = j->json && !j->refused;
	pthread_mutex_unlock(&j->mu);
	struct rs_llm_reply r;
	char err[1024];
	struct json_object *m = rs_eval_judge_messages(question, answers, n, response, json);
	int rc = rs_llm_chat(json ? &j->with_format : &j->without, m, NULL, NULL, NULL, NULL, &r, err, sizeof err);
	json_object_put(m);
	if (rc < 0 && json && rs_eval_refuses_format(r.status, err)) {
		/* Once without it; the rest of the run asks as text. */
		pthread_mutex_lock(&j->mu);
		if (!j->refused)
			snprintf(j->refusal, sizeof j->refusal, "%.511s", err);
		j->refused = true;
		pthread_mutex_unlock(&j->mu);
		rs_llm_reply_free(&r);
		m = rs_eval_judge_messages(question, answers, n, response, false);
		rc = rs_llm_chat(&j->without, m, NULL, NULL, NULL, NULL, &r, err, sizeof err);
		json_object_put(m);
	}
	if (rc < 0) {
		out->verdict = RS_EVAL_JUDGE_FAILED;
		out->reply = xstrdup(err);
	} else {
		out->reply = xstrdup(r.content);
		out->structured = rs_eval_parse_structured(r.content, &out->verdict, &out->reason) == 0;
		if (!out->structured)
			out->verdict = rs_verdict_parse(r.content);
	}
	rs_llm_reply_free(&r);
}

/* ---------------------------------------------------------------- summary */

void rs_eval_sum_free(struct rs_eval_sum *s)
{
	free(s->q);
	memset(s, 0, sizeof *s);
}

void rs_eval_summarize(const struct rs_eval *e, const struct rs_qa *a, bool judged, struct rs_eval_sum *s)
{
	memset(s, 0, sizeof *s);
	s->judged = judged;
	s->q = calloc(e->n ? e->n : 1, sizeof *s->q);
	if (!s->q)
		abort();
	for (size_t i = 0; i < e->n; i++) {
		const struct rs_eval_traj *t = &e->t[i];
		struct rs_eval_q *q = s->nq ? &s->q[s->nq - 1] : NULL;
		if (!q || strcmp(q->id, t->id) != 0) {
			q = &s->q[s->nq++];
			q->id = t->id;
			q->has_answer = a && rs_qa_find(a, t->id) != NULL;
		}
		if (!t->finished) {
			q->unfinished++;
			s->unfinished++;
			continue;
		}
		q->n++;
		q->sub += t->substring;
		q->judge += t->verdict == 1;
		q->unparsable += t->verdict == -1;
		q->structured += t->structured;
		q->judge_failed += t->verdict == RS_EVAL_JUDGE_FAILED;
	}
	for (size_t i = 0; i < s->nq; i++) {
		const struct rs_eval_q *q = &s->q[i];
		if (!q->has_answer) {
			s->no_answer++;
			continue;
		}
		if (!q->n)
			continue;
		s->scored++;
		s->trajectories += (size_t)q->n;
		s->sub += (size_t)q->sub;
		s->judge += (size_t)q->judge;
		s->unparsable += (size_t)q->unparsable;
		s->structured += (size_t)q->structured;
		s->judge_failed += (size_t)q->judge_failed;
		if (q->n > s->kmax)
			s->kmax = q->n;
	}
}

double rs_eval_pass_at(const struct rs_eval_sum *s, int k, bool judge, size_t *nq)
{
	double sum = 0;
	size_t n = 0;
	for (size_t i = 0; i < s->nq; i++) {
		const struct rs_eval_q *q = &s->q[i];
		if (!q->has_answer || q->n < k)
			continue;
		double p = rs_pass_at_k(q->n, judge ? q->judge : q->sub, k);
		if (p < 0)
			continue;
		sum += p;
		n++;
	}
	if (nq)
		*nq = n;
	return n ? sum / (double)n : -1;
}

static void cell(struct buf *b, size_t c, size_t n, int width)
{
	char s[64];
	if (!n)
		snprintf(s, sizeof s, "-");
	else
		snprintf(s, sizeof s, "%.1f%% (%zu/%zu)", 100.0 * (double)c / (double)n, c, n);
	buf_printf(b, "%-*s", width, s);
}

static const char *verdict_name(int v)
{
	switch (v) {
	case 1: return "correct";
	case 0: return "incorrect";
	case -1: return "unparsable";
	case RS_EVAL_JUDGE_FAILED: return "failed";
	default: return NULL;
	}
}

void rs_eval_table(const struct rs_eval_sum *s, const struct rs_eval *e, const char *dir,
		   const char *answers_file, const char *judge_model, bool per_question, struct buf *b)
{
	buf_printf(b, "eval of %s against %s: %zu question%s, %zu finished trajector%s\n\n", dir,
		   answers_file, s->scored, s->scored == 1 ? "" : "s", s->trajectories,
		   s->trajectories == 1 ? "y" : "ies");
	char jh[96];
	snprintf(jh, sizeof jh, "judge (%s)", judge_model ? judge_model : "-");
	buf_printf(b, "%-22s %-24s %s\n", "", "substring match", s->judged ? jh : "judge (not run)");
	buf_printf(b, "%-22s ", "trajectory accuracy");
	cell(b, s->sub, s->trajectories, 24);
	buf_putc(b, ' ');
	if (s->judged)
		cell(b, s->judge, s->trajectories, 0);
	else
		buf_puts(b, "-");
	buf_putc(b, '\n');
	int ks[3] = {1, s->kmax, 0};
	for (int i = 0; i < 2; i++) {
		int k = ks[i];
		if (k < 1 || (i == 1 && k == 1))
			continue;
		size_t nq;
		char label[32];
		snprintf(label, sizeof label, "pass@%d", k);
		buf_printf(b, "%-22s ", label);
		double ps = rs_eval_pass_at(s, k, false, &nq);
		char tmp[48];
		if (ps >= 0)
			snprintf(tmp, sizeof tmp, "%.1f%% (%zu q)", 100 * ps, nq);
		else
			snprintf(tmp, sizeof tmp, "-");
		buf_printf(b, "%-24s ", tmp);
		if (s->judged) {
			double pj = rs_eval_pass_at(s, k, true, &nq);
			if (pj >= 0)
				buf_printf(b, "%.1f%% (%zu q)", 100 * pj, nq);
			else
				buf_puts(b, "-");
		} else {
			buf_puts(b, "-");
		}
		buf_putc(b, '\n');
	}
	if (s->judged) {
		buf_printf(b, "%-22s %-24s %zu", "structured verdicts", "", s->structured);
		if (s->format_refused)
			buf_puts(b, " (the endpoint refused response_format: asked as text)");
		else if (s->judge_format && strcmp(s->judge_format, "text") == 0)
			buf_puts(b, " (--judge-format text)");
		buf_putc(b, '\n');
		buf_printf(b, "%-22s %-24s %zu\n", "unparsable verdicts", "", s->unparsable);
		if (s->judge_failed)
			buf_printf(b, "%-22s %-24s %zu\n", "judge calls failed", "", s->judge_failed);
	}
	if (per_question && s->nq) {
		buf_printf(b, "\n%-24s %4s %10s %10s %10s\n", "QUESTION", "N", "SUBSTRING", "JUDGE", "UNFINISHED");
		for (size_t i = 0; i < s->nq; i++) {
			const struct rs_eval_q *q = &s->q[i];
			char j[16];
			if (s->judged)
				snprintf(j, sizeof j, "%d", q->judge);
			else
				snprintf(j, sizeof j, "-");
			buf_printf(b, "%-24.24s %4d %10d %10s %10d%s\n", q->id, q->n, q->sub, j, q->unfinished,
				   q->has_answer ? "" : "  (no answer)");
		}
	}
	/* What could not be counted, by name. */
	if (s->no_answer) {
		buf_printf(b, "\nquestions without an answer in %s: %zu (", answers_file, s->no_answer);
		size_t shown = 0;
		for (size_t i = 0; i < s->nq && shown < 10; i++)
			if (!s->q[i].has_answer)
				buf_printf(b, "%s%s", shown++ ? ", " : "", s->q[i].id);
		buf_puts(b, shown < s->no_answer ? ", ...)\n" : ")\n");
	}
	if (s->unfinished)
		buf_printf(b, "trajectories that ended in an error (not counted): %zu\n", s->unfinished);
	if (s->judged && s->unparsable) {
		buf_printf(b, "\nunparsable verdicts (counted as incorrect):\n");
		size_t shown = 0;
		for (size_t i = 0; i < e->n && shown < 5; i++) {
			const struct rs_eval_traj *t = &e->t[i];
			if (t->verdict != -1)
				continue;
			shown++;
			buf_printf(b, "  %s/%d: \"", t->id, t->attempt);
			const char *r = t->judge_reply ? t->judge_reply : "";
			size_t k = 0;
			for (; r[k] && k < 100; k++)
				buf_putc(b, r[k] == '\n' ? ' ' : r[k]);
			buf_printf(b, "%s\"\n", r[k] ? "..." : "");
		}
		if (shown < s->unparsable)
			buf_printf(b, "  ... and %zu more (see the JSON)\n", s->unparsable - shown);
	}
}

struct json_object *rs_eval_json(const struct rs_eval_sum *s, const struct rs_eval *e, const char *dir,
				 const char *answers_file, const char *judge_model)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "dir", json_object_new_string(dir));
	json_object_object_add(o, "answers_file", json_object_new_string(answers_file));
	json_object_object_add(o, "judge_model", s->judged && judge_model ? json_object_new_string(judge_model) : NULL);
	json_object_object_add(o, "questions", json_object_new_int64((int64_t)s->scored));
	json_object_object_add(o, "trajectories", json_object_new_int64((int64_t)s->trajectories));
	json_object_object_add(o, "unfinished", json_object_new_int64((int64_t)s->unfinished));
	for (int m = 0; m < 2; m++) {
		bool judge = m == 1;
		if (judge && !s->judged) {
			json_object_object_add(o, "judge", NULL);
			continue;
		}
		struct json_object *x = json_object_new_object(), *pk = json_object_new_object();
		size_t c = judge ? s->judge : s->sub;
		json_object_object_add(x, "correct", json_object_new_int64((int64_t)c));
		json_object_object_add(x, "accuracy", s->trajectories ? json_object_new_double((double)c / (double)s->trajectories) : NULL);
		for (int k = 1; k <= s->kmax; k++) {
			size_t nq;
			double p = rs_eval_pass_at(s, k, judge, &nq);
			char key[16];
			snprintf(key, sizeof key, "%d", k);
			if (p >= 0)
				json_object_object_add(pk, key, json_object_new_double(p));
		}
		json_object_object_add(x, "pass_at_k", pk);
		if (judge) {
			json_object_object_add(x, "unparsable", json_object_new_int64((int64_t)s->unparsable));
			json_object_object_add(x, "failed", json_object_new_int64((int64_t)s->judge_failed));
			json_object_object_add(x, "structured", json_object_new_int64((int64_t)s->structured));
			json_object_object_add(x, "format", s->judge_format ? json_object_new_string(s->judge_format) : NULL);
			json_object_object_add(x, "format_refused", json_object_new_boolean(s->format_refused));
		}
		json_object_object_add(o, judge ? "judge" : "substring", x);
	}
	struct json_object *miss = json_object_new_array(), *pq = json_object_new_array();
	for (size_t i = 0; i < s->nq; i++) {
		const struct rs_eval_q *q = &s->q[i];
		if (!q->has_answer)
			json_object_array_add(miss, json_object_new_string(q->id));
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(q->id));
		json_object_object_add(x, "has_answer", json_object_new_boolean(q->has_answer));
		json_object_object_add(x, "n", json_object_new_int(q->n));
		json_object_object_add(x, "unfinished", json_object_new_int(q->unfinished));
		json_object_object_add(x, "substring_correct", json_object_new_int(q->sub));
		json_object_object_add(x, "judge_correct", s->judged ? json_object_new_int(q->judge) : NULL);
		json_object_object_add(x, "unparsable", s->judged ? json_object_new_int(q->unparsable) : NULL);
		json_object_array_add(pq, x);
	}
	json_object_object_add(o, "missing_answers", miss);
	json_object_object_add(o, "per_question", pq);
	struct json_object *ts = json_object_new_array();
	for (size_t i = 0; i < e->n; i++) {
		const struct rs_eval_traj *t = &e->t[i];
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "id", json_object_new_string(t->id));
		json_object_object_add(x, "attempt", json_object_new_int(t->attempt));
		json_object_object_add(x, "file", json_object_new_string(t->file));
		json_object_object_add(x, "finished", json_object_new_boolean(t->finished));
		json_object_object_add(x, "substring", json_object_new_boolean(t->substring));
		const char *v = verdict_name(t->verdict);
		json_object_object_add(x, "verdict", v ? json_object_new_string(v) : NULL);
		json_object_object_add(x, "judge_reply", t->judge_reply ? json_object_new_string(t->judge_reply) : NULL);
		json_object_object_add(x, "judge_reason", t->judge_reason ? json_object_new_string(t->judge_reason) : NULL);
		json_object_object_add(x, "judge_structured", json_object_new_boolean(t->structured));
		json_object_array_add(ts, x);
	}
	json_object_object_add(o, "details", ts);
	return o;
}

/* ---------------------------------------------------------------- the command */

struct judging {
	struct rs_eval *e;
	const struct rs_qa *a;
	struct rs_eval_judge *judge;
	size_t next;
	size_t done, total;
	pthread_mutex_t mu;
	bool progress;
};

static void *judge_worker(void *arg)
{
	struct judging *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t i = j->next;
		while (i < j->e->n && j->e->t[i].verdict != RS_EVAL_TO_JUDGE)
			i++;
		j->next = i + 1;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->e->n)
			break;
		struct rs_eval_traj *t = &j->e->t[i];
		const struct rs_question *q = rs_qa_find(j->a, t->id);
		struct rs_eval_verdict v;
		rs_eval_judge_one(j->judge, t->question, q->answers, q->nanswers, t->answer, &v);
		pthread_mutex_lock(&j->mu);
		t->verdict = v.verdict;
		t->judge_reply = v.reply;
		t->judge_reason = v.reason;
		t->structured = v.structured;
		j->done++;
		if (j->progress)
			fprintf(stderr, "\r[eval] judged %zu/%zu\033[K", j->done, j->total);
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

static const char eval_usage[] =
	"eval DIR --answers FILE.jsonl [--judge-model M | --no-judge]\n"
	"                        [--judge-format json|text] [--json FILE] [--concurrency C]\n"
	"                        [--per-question] ...";

int rs_cmd_eval(int argc, char **argv)
{
	enum { OPT_ANSWERS = RS_OPT_FIRST_FREE, OPT_JUDGE_MODEL, OPT_NO_JUDGE, OPT_JSON, OPT_CONC, OPT_PERQ,
	       OPT_JUDGE_FORMAT };
	static const struct option longopts[] = {
		{"answers", required_argument, NULL, OPT_ANSWERS},
		{"judge-model", required_argument, NULL, OPT_JUDGE_MODEL},
		{"no-judge", no_argument, NULL, OPT_NO_JUDGE},
		{"judge-format", required_argument, NULL, OPT_JUDGE_FORMAT},
		{"json", required_argument, NULL, OPT_JSON},
		{"concurrency", required_argument, NULL, OPT_CONC},
		{"per-question", no_argument, NULL, OPT_PERQ},
		{"help", no_argument, NULL, 'h'},
		RS_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *afile = NULL, *judge_model = NULL, *json_file = NULL;
	bool no_judge = false, perq = false, judge_json = true;
	long conc = 4;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int c = rs_common_opt(opt, optarg);
		if (c < 0)
			return RS_USAGE;
		if (c)
			continue;
		switch (opt) {
		case OPT_ANSWERS: afile = optarg; break;
		case OPT_JUDGE_MODEL: judge_model = optarg; break;
		case OPT_NO_JUDGE: no_judge = true; break;
		case OPT_JSON: json_file = optarg; break;
		case OPT_PERQ: perq = true; break;
		case OPT_JUDGE_FORMAT:
			if (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0) {
				judge_json = strcmp(optarg, "json") == 0;
				break;
			}
			rs_error("--judge-format: '%s' is not json or text", optarg);
			return RS_USAGE;
		case OPT_CONC:
			if (rs_opt_int("--concurrency", optarg, 1, 256, &conc) < 0)
				return RS_USAGE;
			break;
		case 'h':
			printf("usage: elastic-research %s\n\n"
			       "Scores the trajectories of a run (DIR/<id>/<k>.jsonl) against gold answers\n"
			       "({\"id\": ..., \"answer\": \"...\" or [...]} a line): a substring match of the\n"
			       "normalized answer, and an LLM judge on the same endpoint. Prints the\n"
			       "accuracy per trajectory and pass@k (unbiased, over the trajectories of each\n"
			       "question) and writes the details to DIR/eval.json.\n\n"
			       "  --answers FILE      the gold answers (JSONL; the questions file may do)\n"
			       "  --judge-model M     the judge (default: --model, else the endpoint's first)\n"
			       "  --no-judge          the substring match only (no endpoint needed)\n"
			       "  --judge-format F    json (default): ask for {\"verdict\", \"reason\"} with\n"
			       "                      response_format (text when the endpoint refuses it);\n"
			       "                      text: a \"Verdict: CORRECT\" line\n"
			       "  --json FILE         where the JSON goes (default DIR/eval.json; - stdout)\n"
			       "  --concurrency C     judge calls at a time (default 4)\n"
			       "  --per-question      a row per question too\n\n" RS_COMMON_HELP,
			       eval_usage);
			return RS_OK;
		default: fprintf(stderr, "usage: elastic-research %s\n", eval_usage); return RS_USAGE;
		}
	}
	if (argc - optind != 1 || !afile) {
		if (argc - optind != 1)
			rs_error("eval needs one DIR (the --out of a run)");
		else
			rs_error("eval needs --answers FILE");
		fprintf(stderr, "usage: elastic-research %s\n", eval_usage);
		return RS_USAGE;
	}
	if (no_judge && judge_model) {
		rs_error("--judge-model and --no-judge exclude each other");
		return RS_USAGE;
	}
	const char *dir = argv[optind];
	struct rs_qa a = {0};
	struct rs_eval e = {0};
	struct rs_eval_sum s = {0};
	struct rs_conf conf;
	struct rs_llm llm;
	struct rs_eval_judge judge;
	bool judge_ready = false;
	struct buf table = BUF_INIT;
	char err[1024];
	int rc = RS_FAIL;
	pthread_t *th = NULL;
	memset(&conf, 0, sizeof conf);
	memset(&llm, 0, sizeof llm);
	memset(&judge, 0, sizeof judge);
	if (rs_qa_load(&a, afile, RS_QA_ANSWERS, err, sizeof err) < 0) {
		rs_error("%s", err);
		rc = RS_USAGE;
		goto cleanup;
	}
	if (rs_eval_scan(&e, dir, err, sizeof err) < 0) {
		rs_error("%s", err);
		goto cleanup;
	}
	if (!e.n) {
		rs_error("no trajectories in %s (DIR/<id>/<k>.jsonl, as run writes them)", dir);
		goto cleanup;
	}
	size_t tojudge = 0;
	for (size_t i = 0; i < e.n; i++) {
		struct rs_eval_traj *t = &e.t[i];
		const struct rs_question *q = rs_qa_find(&a, t->id);
		if (!q || !t->finished)
			continue;
		t->substring = rs_substring_match(t->answer, q->answers, q->nanswers);
		if (!no_judge) {
			t->verdict = RS_EVAL_TO_JUDGE;
			tojudge++;
		}
	}
	if (!no_judge && tojudge) {
		if (judge_model)
			rs_common.model = judge_model;
		int r = rs_common_setup(&conf, &llm, NULL, 1);
		if (r) {
			rc = r;
			fprintf(stderr, "hint: --no-judge scores by substring match alone\n");
			goto cleanup;
		}
		if (rs_common.temperature < 0)
			llm.temperature = 0;
		rs_eval_judge_init(&judge, &llm, judge_json);
		judge_ready = true;
		struct judging j = {.e = &e, .a = &a, .judge = &judge, .total = tojudge,
				    .progress = isatty(2)};
		pthread_mutex_init(&j.mu, NULL);
		size_t nth = tojudge < (size_t)conc ? tojudge : (size_t)conc;
		th = calloc(nth, sizeof *th);
		if (!th)
			abort();
		size_t started = 0;
		for (; started < nth; started++)
			if (pthread_create(&th[started], NULL, judge_worker, &j) != 0)
				break;
		if (!started)
			judge_worker(&j);
		for (size_t i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		if (j.progress)
			fputc('\n', stderr);
		pthread_mutex_destroy(&j.mu);
		for (size_t i = 0; i < e.n; i++)
			if (e.t[i].verdict == RS_EVAL_TO_JUDGE)
				e.t[i].verdict = RS_EVAL_NOT_JUDGED;
		if (judge.refused)
			fprintf(stderr, "eval: the endpoint refused response_format (%s); the judge was "
				"asked for a text verdict instead\n", judge.refusal);
	}
	rs_eval_summarize(&e, &a, !no_judge && tojudge, &s);
	if (s.judged) {
		s.judge_format = judge_json && !judge.refused ? "json" : "text";
		s.format_refused = judge.refused;
	}
	rs_eval_table(&s, &e, dir, afile, llm.model, perq, &table);
	fputs(table.data, stdout);
	fflush(stdout);
	{
		struct json_object *o = rs_eval_json(&s, &e, dir, afile, llm.model);
		const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
									   JSON_C_TO_STRING_NOSLASHESCAPE);
		struct buf path = BUF_INIT, text = BUF_INIT;
		buf_printf(&text, "%s\n", t);
		json_object_put(o);
		if (json_file && strcmp(json_file, "-") == 0) {
			fputs(text.data, stdout);
			rc = RS_OK;
		} else {
			if (json_file)
				buf_puts(&path, json_file);
			else
				buf_printf(&path, "%s/eval.json", dir);
			if (rs_write_atomic(path.data, text.data, text.len, err, sizeof err) < 0) {
				rs_error("%s", err);
			} else {
				fprintf(stderr, "eval: details in %s\n", path.data);
				rc = RS_OK;
			}
		}
		buf_free(&path);
		buf_free(&text);
	}
	if (rc == RS_OK && s.judge_failed) {
		rs_error("%zu judge call%s failed (counted as incorrect; their errors are in the JSON)",
			 s.judge_failed, s.judge_failed == 1 ? "" : "s");
		rc = RS_FAIL;
	}
	if (rc == RS_OK && !s.scored) {
		rs_error("no trajectory has an answer in %s: nothing was scored", afile);
		rc = RS_FAIL;
	}
cleanup:
	if (judge_ready)
		rs_eval_judge_free(&judge);
	free(th);
	buf_free(&table);
	rs_eval_sum_free(&s);
	rs_eval_free(&e);
	rs_qa_free(&a);
	rs_conf_free(&conf);
	rs_llm_free(&llm);
	return rc;
}
