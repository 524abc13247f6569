/* rs_qa.c — see rs_qa.h. */
#include "rs_qa.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rs_jutil.h"
#include "sha256.h"

#define RS_QA_DIR_MAX 80

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

char *rs_qa_dirname(const char *id)
{
	struct buf b = BUF_INIT;
	bool changed = false;
	for (const char *p = id; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (b.len >= RS_QA_DIR_MAX) {
			changed = true;
			break;
		}
		if (isalnum(c) || c == '.' || c == '_' || c == '-') {
			buf_putc(&b, (char)c);
		} else {
			buf_putc(&b, '_');
			changed = true;
		}
	}
	if (!b.len || b.data[0] == '.') {
		struct buf c = BUF_INIT;
		buf_printf(&c, "q%s", b.data ? b.data : "");
		buf_free(&b);
		b = c;
		changed = true;
	}
	if (changed) {
		uint8_t d[SHA256_LEN];
		char hex[2 * SHA256_LEN + 1];
		sha256(id, strlen(id), d);
		sha256_hex(d, hex);
		buf_printf(&b, "-%.8s", hex);
	}
	return buf_steal(&b);
}

static void entry_free(struct rs_question *q)
{
	free(q->id);
	free(q->dir);
	free(q->question);
	for (size_t i = 0; i < q->nanswers; i++)
		free(q->answers[i]);
	free(q->answers);
}

void rs_qa_free(struct rs_qa *qa)
{
	for (size_t i = 0; i < qa->n; i++)
		entry_free(&qa->q[i]);
	free(qa->q);
	qa->q = NULL;
	qa->n = 0;
}

void rs_qa_truncate(struct rs_qa *qa, size_t n)
{
	for (size_t i = n; i < qa->n; i++)
		entry_free(&qa->q[i]);
	if (n < qa->n)
		qa->n = n;
}

void rs_qa_take_answers(struct rs_qa *qa, const struct rs_qa *from)
{
	for (size_t i = 0; i < qa->n; i++) {
		const struct rs_question *a = rs_qa_find(from, qa->q[i].id);
		if (!a)
			continue;
		struct rs_question *q = &qa->q[i];
		for (size_t j = 0; j < q->nanswers; j++)
			free(q->answers[j]);
		free(q->answers);
		q->answers = calloc(a->nanswers ? a->nanswers : 1, sizeof *q->answers);
		if (!q->answers)
			abort();
		for (size_t j = 0; j < a->nanswers; j++)
			q->answers[j] = xstrdup(a->answers[j]);
		q->nanswers = a->nanswers;
	}
}

const struct rs_question *rs_qa_find(const struct rs_qa *qa, const char *id)
{
	for (size_t i = 0; i < qa->n; i++)
		if (strcmp(qa->q[i].id, id) == 0)
			return &qa->q[i];
	return NULL;
}

/* Reads "answer" of O into Q. Returns 0, 1 when absent, or -1 with ERR. */
static int take_answers(struct json_object *o, struct rs_question *q, char *err, size_t errlen)
{
	struct json_object *a = rs_ju_get(o, "answer");
	if (!a)
		a = rs_ju_get(o, "answers");
	if (!a || json_object_is_type(a, json_type_null))
		return 1;
	if (json_object_is_type(a, json_type_string) || json_object_is_type(a, json_type_int) ||
	    json_object_is_type(a, json_type_double)) {
		q->answers = malloc(sizeof *q->answers);
		if (!q->answers)
			abort();
		q->answers[0] = xstrdup(json_object_get_string(a));
		q->nanswers = 1;
		return 0;
	}
	if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0) {
		snprintf(err, errlen, "\"answer\" must be a string or a non-empty array of strings");
		return -1;
	}
	size_t n = json_object_array_length(a);
	q->answers = calloc(n, sizeof *q->answers);
	if (!q->answers)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(a, i);
		if (!json_object_is_type(x, json_type_string) && !json_object_is_type(x, json_type_int) &&
		    !json_object_is_type(x, json_type_double)) {
			snprintf(err, errlen, "\"answer\"[%zu] is not a string", i);
			return -1;
		}
		q->answers[q->nanswers++] = xstrdup(json_object_get_string(x));
	}
	return 0;
}

static int parse_line(struct rs_question *q, const char *line, size_t len, int lineno,
		      enum rs_qa_need need, char *err, size_t errlen)
{
	char perr[200];
	int rc = -1;
	struct json_object *o = rs_ju_parse(line, len, perr, sizeof perr);
	if (!o) {
		snprintf(err, errlen, "%s", perr);
		return -1;
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		goto cleanup;
	}
	q->line = lineno;
	struct json_object *id = rs_ju_get(o, "id");
	if (!id) {
		char buf[32];
		snprintf(buf, sizeof buf, "%d", lineno);
		q->id = xstrdup(buf);
	} else if (json_object_is_type(id, json_type_string) && json_object_get_string_len(id) > 0) {
		q->id = xstrdup(json_object_get_string(id));
		if (strlen(q->id) != (size_t)json_object_get_string_len(id)) {
			snprintf(err, errlen, "\"id\" holds a NUL character");
			goto cleanup;
		}
	} else if (json_object_is_type(id, json_type_int)) {
		q->id = xstrdup(json_object_get_string(id));
	} else {
		snprintf(err, errlen, "\"id\" must be a non-empty string or an integer");
		goto cleanup;
	}
	q->dir = rs_qa_dirname(q->id);
	struct json_object *qs = rs_ju_get(o, "question");
	if (qs && json_object_is_type(qs, json_type_string) && json_object_get_string_len(qs) > 0) {
		q->question = xstrdup(json_object_get_string(qs));
	} else if (qs && !json_object_is_type(qs, json_type_null)) {
		snprintf(err, errlen, "\"question\" must be a non-empty string");
		goto cleanup;
	} else if (need == RS_QA_QUESTIONS) {
		snprintf(err, errlen, "no \"question\" (each line: {\"id\": ..., \"question\": \"...\"})");
		goto cleanup;
	}
	int a = take_answers(o, q, err, errlen);
	if (a < 0)
		goto cleanup;
	if (a == 1 && need == RS_QA_ANSWERS) {
		snprintf(err, errlen, "no \"answer\" (each line: {\"id\": ..., \"answer\": \"...\"})");
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_object_put(o);
	return rc;
}

int rs_qa_load(struct rs_qa *qa, const char *path, enum rs_qa_need need, char *err, size_t errlen)
{
	memset(qa, 0, sizeof *qa);
	struct buf text = BUF_INIT;
	char lerr[300];
	size_t cap = 0;
	int rc = -1;
	if (rs_read_file(path, &text, 0, lerr, sizeof lerr) < 0) {
		snprintf(err, errlen, "%s", lerr);
		goto cleanup;
	}
	if (memchr(text.data, '\0', text.len)) {
		snprintf(err, errlen, "%s: holds a NUL byte (not a JSONL text file)", path);
		goto cleanup;
	}
	int lineno = 0;
	for (char *p = text.data; p < text.data + text.len;) {
		char *nl = memchr(p, '\n', (size_t)(text.data + text.len - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(text.data + text.len - p);
		lineno++;
		char *line = p;
		p += len + (nl ? 1 : 0);
		size_t l = len;
		while (l && isspace((unsigned char)line[l - 1]))
			l--;
		size_t s = 0;
		while (s < l && isspace((unsigned char)line[s]))
			s++;
		if (s == l)
			continue;
		if (qa->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct rs_question *q = realloc(qa->q, cap * sizeof *q);
			if (!q)
				abort();
			qa->q = q;
		}
		struct rs_question *q = &qa->q[qa->n];
		memset(q, 0, sizeof *q);
		if (parse_line(q, line + s, l - s, lineno, need, lerr, sizeof lerr) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, lerr);
			entry_free(q);
			goto cleanup;
		}
		for (size_t i = 0; i < qa->n; i++) {
			if (strcmp(qa->q[i].id, q->id) == 0) {
				snprintf(err, errlen, "%s:%d: duplicate id '%s' (first on line %d)", path, lineno,
					 q->id, qa->q[i].line);
				entry_free(q);
				goto cleanup;
			}
			if (strcmp(qa->q[i].dir, q->dir) == 0) {
				snprintf(err, errlen, "%s:%d: id '%s' has the same file name as '%s' (line %d)",
					 path, lineno, q->id, qa->q[i].id, qa->q[i].line);
				entry_free(q);
				goto cleanup;
			}
		}
		qa->n++;
	}
	if (!qa->n) {
		snprintf(err, errlen, "%s: no %s in the file", path,
			 need == RS_QA_QUESTIONS ? "questions" : "answers");
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc < 0)
		rs_qa_free(qa);
	buf_free(&text);
	return rc;
}

/* ---------------------------------------------------------------- scoring */

static bool word_char(const char *s, size_t i, size_t len)
{
	if (i >= len)
		return false;
	unsigned char c = (unsigned char)s[i];
	return isalnum(c) || c >= 0x80;
}

char *rs_norm(const char *s)
{
	size_t len = strlen(s);
	struct buf spaced = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* ’ and ‘ (U+2019, U+2018) inside a word are apostrophes. */
		if (c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x98) && i > 0 &&
		    isalnum((unsigned char)s[i - 1]) && i + 3 < len && isalnum((unsigned char)s[i + 3])) {
			i += 2;
			continue;
		}
		if (c >= 0x80 || isalnum(c)) {
			buf_putc(&spaced, (char)tolower(c));
		} else if ((c == '\'' || c == '.' || c == ',') && i > 0 && word_char(s, i - 1, len) &&
			   word_char(s, i + 1, len) && isalnum((unsigned char)s[i - 1]) &&
			   isalnum((unsigned char)s[i + 1])) {
			/* dropped: U.S., 1,000, don't */
		} else {
			buf_putc(&spaced, ' ');
		}
	}
	struct buf out = BUF_INIT;
	const char *p = spaced.data ? spaced.data : "";
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t n = (size_t)(p - w);
		if (!n)
			break;
		if ((n == 1 && w[0] == 'a') || (n == 2 && memcmp(w, "an", 2) == 0) ||
		    (n == 3 && memcmp(w, "the", 3) == 0))
			continue;
		if (out.len)
			buf_putc(&out, ' ');
		buf_append(&out, w, n);
	}
	buf_free(&spaced);
	return buf_steal(&out);
}

bool rs_substring_match(const char *text, char *const *answers, size_t n)
{
	if (!text)
		return false;
	char *t = rs_norm(text);
	struct buf hay = BUF_INIT, needle = BUF_INIT;
	buf_printf(&hay, " %s ", t);
	bool hit = false;
	for (size_t i = 0; i < n && !hit; i++) {
		char *a = rs_norm(answers[i]);
		if (*a) {
			buf_reset(&needle);
			buf_printf(&needle, " %s ", a);
			hit = strstr(hay.data, needle.data) != NULL;
		}
		free(a);
	}
	free(t);
	buf_free(&hay);
	buf_free(&needle);
	return hit;
}

/* The verdict a word stands for: 1, 0, or -1 for none. STRONG: only the
 * words that say it alone (correct, incorrect, wrong). */
static int word_verdict(const char *w, size_t n, bool strong)
{
	static const char *const pos_strong[] = {"correct", NULL};
	static const char *const neg_strong[] = {"incorrect", "wrong", "false", NULL};
	static const char *const pos_weak[] = {"right", "yes", "true", "pass", "correct", NULL};
	static const char *const neg_weak[] = {"no", "fail", "incorrect", "wrong", "false", "not", NULL};
	const char *const *pos = strong ? pos_strong : pos_weak;
	const char *const *neg = strong ? neg_strong : neg_weak;
	for (int i = 0; pos[i]; i++)
		if (strlen(pos[i]) == n && strncmp(w, pos[i], n) == 0)
			return 1;
	for (int i = 0; neg[i]; i++)
		if (strlen(neg[i]) == n && strncmp(w, neg[i], n) == 0)
			return 0;
	return -1;
}

/* The next word of lower-cased S at *P (letters and '_'), skipping other
 * characters; its length in *N, NULL at the end. */
static const char *next_word(const char *s, size_t *p, size_t *n)
{
	while (s[*p] && !(isalpha((unsigned char)s[*p]) || s[*p] == '_'))
		(*p)++;
	if (!s[*p])
		return NULL;
	size_t st = *p;
	while (s[*p] && (isalpha((unsigned char)s[*p]) || s[*p] == '_'))
		(*p)++;
	*n = *p - st;
	return s + st;
}

static enum rs_verdict from_json(const char *reply)
{
	const char *a = strchr(reply, '{'), *b = strrchr(reply, '}');
	if (!a || !b || b < a)
		return RS_VERDICT_UNPARSABLE;
	char perr[64];
	struct json_object *o = rs_ju_parse(a, (size_t)(b - a + 1), perr, sizeof perr);
	enum rs_verdict v = RS_VERDICT_UNPARSABLE;
	struct json_object *x;
	if ((x = rs_ju_get(o, "correct")) && json_object_is_type(x, json_type_boolean)) {
		v = json_object_get_boolean(x) ? RS_VERDICT_CORRECT : RS_VERDICT_INCORRECT;
	} else if ((x = rs_ju_get(o, "verdict")) && json_object_is_type(x, json_type_string)) {
		char *s = xstrdup(json_object_get_string(x));
		for (char *p = s; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t p = 0, n = 0;
		const char *w = next_word(s, &p, &n);
		int k = w ? word_verdict(w, n, false) : -1;
		if (k == 0 && n == 3 && strncmp(w, "not", 3) == 0) {
			size_t n2;
			const char *w2 = next_word(s, &p, &n2);
			k = w2 && word_verdict(w2, n2, true) == 1 ? 0 : -1;
		}
		if (k >= 0)
			v = k ? RS_VERDICT_CORRECT : RS_VERDICT_INCORRECT;
		free(s);
	}
	json_object_put(o);
	return v;
}

enum rs_verdict rs_verdict_parse(const char *reply)
{
	if (!reply)
		return RS_VERDICT_UNPARSABLE;
	enum rs_verdict v = from_json(reply);
	if (v != RS_VERDICT_UNPARSABLE)
		return v;
	char *s = xstrdup(reply);
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t p, n;
	const char *w;

	/* The word after the last "verdict". */
	char *last = NULL;
	for (char *q = strstr(s, "verdict"); q; q = strstr(q + 1, "verdict"))
		last = q;
	if (last) {
		p = (size_t)(last - s) + 7;
		/* "verdicts", "verdict is": skip a plural and "is"/"was". */
		if (s[p] == 's')
			p++;
		w = next_word(s, &p, &n);
		if (w && ((n == 2 && strncmp(w, "is", 2) == 0) || (n == 3 && strncmp(w, "was", 3) == 0)))
			w = next_word(s, &p, &n);
		if (w) {
			int k = word_verdict(w, n, false);
			if (k == 0 && n == 3 && strncmp(w, "not", 3) == 0) {
				size_t n2;
				const char *w2 = next_word(s, &p, &n2);
				k = w2 && word_verdict(w2, n2, true) == 1 ? 0 : -1;
			}
			if (k >= 0) {
				free(s);
				return k ? RS_VERDICT_CORRECT : RS_VERDICT_INCORRECT;
			}
		}
	}

	/* A reply of one word. */
	p = 0;
	w = next_word(s, &p, &n);
	size_t p2 = p, n2;
	if (w && !next_word(s, &p2, &n2)) {
		int k = word_verdict(w, n, false);
		if (n == 3 && strncmp(w, "not", 3) == 0)
			k = -1;
		free(s);
		return k < 0 ? RS_VERDICT_UNPARSABLE : k ? RS_VERDICT_CORRECT : RS_VERDICT_INCORRECT;
	}

	/* The only kind of verdict word in the text. */
	bool pos = false, neg = false, negate = false;
	p = 0;
	while ((w = next_word(s, &p, &n))) {
		if ((n == 3 && strncmp(w, "not", 3) == 0) || (n == 5 && strncmp(w, "isn_t", 5) == 0)) {
			negate = true;
			continue;
		}
		/* "isn't": the apostrophe splits it into "isn" and "t". */
		if ((n == 3 && strncmp(w, "isn", 3) == 0) || (n == 1 && w[0] == 't' && negate)) {
			negate = true;
			continue;
		}
		int k = word_verdict(w, n, true);
		if (k == 1 && negate)
			k = 0;
		if (k == 1)
			pos = true;
		else if (k == 0)
			neg = true;
		negate = false;
	}
	free(s);
	if (pos != neg)
		return pos ? RS_VERDICT_CORRECT : RS_VERDICT_INCORRECT;
	return RS_VERDICT_UNPARSABLE;
}

double rs_pass_at_k(int n, int c, int k)
{
	if (n <= 0 || k <= 0 || k > n || c < 0 || c > n)
		return -1;
	if (n - c < k)
		return 1.0;
	double prod = 1.0;
	for (int i = n - c + 1; i <= n; i++)
		prod *= 1.0 - (double)k / i;
	return 1.0 - prod;
}
