/* tcfg.c — see tcfg.h. */
#include "tcfg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tcfg_error(struct tcfg *c, struct toml_pos pos, const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One error, one line: values quoted in messages may hold control
	 * characters. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (pos.line > 0)
		buf_printf(c->errs, "%s:%d:%d: %s\n", c->file, pos.line, pos.col, msg);
	else
		buf_printf(c->errs, "%s: %s\n", c->file, msg);
	c->nerr++;
}

/* "sect.key", or "key" at the top level. */
static const char *qname(char *out, size_t len, const char *sect, const char *key)
{
	if (sect && *sect)
		snprintf(out, len, "%s.%s", sect, key);
	else
		snprintf(out, len, "%s", key);
	return out;
}

static const char *article_type(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE: return "a table";
	case TOML_ARRAY: return "an array";
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME: return "an offset date-time";
	case TOML_DATETIME_LOCAL: return "a local date-time";
	case TOML_DATE_LOCAL: return "a local date";
	case TOML_TIME_LOCAL: return "a local time";
	}
	return "a value";
}

struct toml_pos tcfg_pos(const struct toml_value *tab, const char *key)
{
	const struct toml_kv *kv = toml_table_entry(tab, key);
	if (kv)
		return kv->key_pos;
	if (tab)
		return tab->pos;
	return (struct toml_pos){1, 1};
}

/* The value of KEY in TAB if present and of type WANT; NULL if absent (*bad
 * stays 0) or of another type (an error is recorded and *bad set). */
static const struct toml_value *get_typed(struct tcfg *c, const struct toml_value *tab,
					  const char *sect, const char *key,
					  enum toml_type want, int *bad)
{
	char q[160];
	*bad = 0;
	const struct toml_value *v = toml_table_get(tab, key);
	if (!v)
		return NULL;
	if (v->type != want) {
		tcfg_error(c, v->pos, "%s must be %s, not %s", qname(q, sizeof q, sect, key),
			   article_type(want), article_type(v->type));
		*bad = 1;
		return NULL;
	}
	return v;
}

const struct toml_value *tcfg_table(struct tcfg *c, const struct toml_value *root,
				    const char *sect)
{
	const struct toml_value *v = toml_table_get(root, sect);
	if (!v)
		return NULL;
	if (v->type != TOML_TABLE) {
		tcfg_error(c, v->pos, "%s must be a table ([%s]), not %s", sect, sect,
			   article_type(v->type));
		return NULL;
	}
	return v;
}

int tcfg_str(struct tcfg *c, const struct toml_value *tab, const char *sect,
	     const char *key, char **out)
{
	int bad;
	char q[160];
	const struct toml_value *v = get_typed(c, tab, sect, key, TOML_STRING, &bad);
	if (!v)
		return bad ? -1 : 0;
	if (strlen(v->u.s.ptr) != v->u.s.len) {
		tcfg_error(c, v->pos, "%s must not contain a NUL character",
			   qname(q, sizeof q, sect, key));
		return -1;
	}
	char *s = strdup(v->u.s.ptr);
	if (!s)
		abort();
	free(*out);
	*out = s;
	return 1;
}

int tcfg_int(struct tcfg *c, const struct toml_value *tab, const char *sect,
	     const char *key, int64_t min, int64_t max, int *out)
{
	int bad;
	char q[160];
	const struct toml_value *v = get_typed(c, tab, sect, key, TOML_INTEGER, &bad);
	if (!v)
		return bad ? -1 : 0;
	if (v->u.i < min) {
		tcfg_error(c, v->pos, "%s must be at least %lld, not %lld",
			   qname(q, sizeof q, sect, key), (long long)min, (long long)v->u.i);
		return -1;
	}
	if (v->u.i > max) {
		tcfg_error(c, v->pos, "%s must be at most %lld, not %lld",
			   qname(q, sizeof q, sect, key), (long long)max, (long long)v->u.i);
		return -1;
	}
	*out = (int)v->u.i;
	return 1;
}

int tcfg_bool(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, int *out)
{
	int bad;
	const struct toml_value *v = get_typed(c, tab, sect, key, TOML_BOOL, &bad);
	if (!v)
		return bad ? -1 : 0;
	*out = v->u.b ? 1 : 0;
	return 1;
}

int tcfg_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen)
{
	const char *p = s;
	int64_t total = 0;
	int parts = 0;
	if (!*p) {
		snprintf(err, errlen, "empty duration");
		return -1;
	}
	while (*p) {
		if (!isdigit((unsigned char)*p)) {
			snprintf(err, errlen, "invalid duration \"%s\": expected a number at \"%s\"", s, p);
			return -1;
		}
		int64_t n = 0;
		while (isdigit((unsigned char)*p)) {
			if (n > 1000000000) {
				snprintf(err, errlen, "duration \"%s\" is too large", s);
				return -1;
			}
			n = n * 10 + (*p++ - '0');
		}
		int64_t unit;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			unit = 86400 * 1000;
			p++;
		} else if (*p == '\0') {
			snprintf(err, errlen, "duration \"%s\" needs a unit (ms, s, m, h or d), e.g. \"%llds\"",
				 s, (long long)n);
			return -1;
		} else {
			snprintf(err, errlen, "invalid duration \"%s\": unknown unit at \"%s\" (use ms, s, m, h or d)",
				 s, p);
			return -1;
		}
		total += n * unit;
		if (total > (int64_t)365 * 86400 * 1000) {
			snprintf(err, errlen, "duration \"%s\" is too large (at most a year)", s);
			return -1;
		}
		parts++;
	}
	(void)parts;
	*ms = total;
	return 0;
}

int tcfg_duration(struct tcfg *c, const struct toml_value *tab, const char *sect,
		  const char *key, int64_t min_ms, int64_t *out)
{
	int bad;
	char q[160], err[256];
	const struct toml_value *v = toml_table_get(tab, key);
	if (v && v->type == TOML_INTEGER) {
		tcfg_error(c, v->pos, "%s must be a duration string with a unit, e.g. \"%llds\"",
			   qname(q, sizeof q, sect, key), (long long)v->u.i);
		return -1;
	}
	v = get_typed(c, tab, sect, key, TOML_STRING, &bad);
	if (!v)
		return bad ? -1 : 0;
	int64_t ms;
	if (tcfg_parse_duration(v->u.s.ptr, &ms, err, sizeof err) < 0) {
		tcfg_error(c, v->pos, "%s: %s", qname(q, sizeof q, sect, key), err);
		return -1;
	}
	if (ms < min_ms) {
		tcfg_error(c, v->pos, "%s must be at least %lldms, not \"%s\"",
			   qname(q, sizeof q, sect, key), (long long)min_ms, v->u.s.ptr);
		return -1;
	}
	*out = ms;
	return 1;
}

void tcfg_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int tcfg_strv(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, char ***out, size_t *n)
{
	int bad;
	char q[160];
	const struct toml_value *v = get_typed(c, tab, sect, key, TOML_ARRAY, &bad);
	if (!v)
		return bad ? -1 : 0;
	size_t len = v->u.arr.len;
	for (size_t i = 0; i < len; i++) {
		const struct toml_value *e = v->u.arr.items[i];
		if (e->type != TOML_STRING) {
			tcfg_error(c, e->pos, "%s[%zu] must be a string, not %s",
				   qname(q, sizeof q, sect, key), i, article_type(e->type));
			return -1;
		}
		if (strlen(e->u.s.ptr) != e->u.s.len) {
			tcfg_error(c, e->pos, "%s[%zu] must not contain a NUL character",
				   qname(q, sizeof q, sect, key), i);
			return -1;
		}
	}
	char **vec = calloc(len + 1, sizeof *vec);
	if (!vec)
		abort();
	for (size_t i = 0; i < len; i++) {
		vec[i] = strdup(v->u.arr.items[i]->u.s.ptr);
		if (!vec[i])
			abort();
	}
	tcfg_strv_free(*out);
	*out = vec;
	*n = len;
	return 1;
}

static void join_names(char *out, size_t len, const char *const *names)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; names[i]; i++) {
		int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", names[i]);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

int tcfg_enum(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, const char *const *names, int *out)
{
	int bad;
	char q[160], list[256];
	const struct toml_value *v = get_typed(c, tab, sect, key, TOML_STRING, &bad);
	if (!v)
		return bad ? -1 : 0;
	for (int i = 0; names[i]; i++) {
		if (strcmp(v->u.s.ptr, names[i]) == 0) {
			*out = i;
			return 1;
		}
	}
	join_names(list, sizeof list, names);
	const char *near = tcfg_suggest(v->u.s.ptr, names);
	if (near)
		tcfg_error(c, v->pos, "unknown %s \"%s\" (did you mean \"%s\"?); expected one of: %s",
			   qname(q, sizeof q, sect, key), v->u.s.ptr, near, list);
	else
		tcfg_error(c, v->pos, "unknown %s \"%s\"; expected one of: %s",
			   qname(q, sizeof q, sect, key), v->u.s.ptr, list);
	return -1;
}

/* Optimal string alignment distance (Levenshtein plus transpositions of
 * neighbours), case-insensitive; (size_t)-1 for words over 64 bytes. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + (ai != bj);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == bj && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *tcfg_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t wl = strlen(word);
	for (size_t i = 0; candidates[i]; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* Close enough to be a typo: up to a third of the word, at least 1, at
	 * most 3 edits; a prefix of the candidate (tp / tp_size) also counts. */
	size_t limit = wl / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	if (best && best_d <= limit && best_d < wl)
		return best;
	for (size_t i = 0; candidates[i]; i++) {
		size_t cl = strlen(candidates[i]);
		if (wl >= 3 && cl >= 3 &&
		    (strncmp(word, candidates[i], cl < wl ? cl : wl) == 0))
			return candidates[i];
	}
	return NULL;
}

int tcfg_is_key(const char *key, const char *const *allowed)
{
	for (size_t j = 0; allowed[j]; j++)
		if (strcmp(key, allowed[j]) == 0)
			return 1;
	return 0;
}

void tcfg_unknown_key(struct tcfg *c, const struct toml_kv *kv, const char *sect,
		      const char *const *allowed)
{
	const char *near = tcfg_suggest(kv->key, allowed);
	if (sect && *sect) {
		if (near)
			tcfg_error(c, kv->key_pos, "unknown key \"%s\" in [%s] (did you mean \"%s\"?)",
				   kv->key, sect, near);
		else
			tcfg_error(c, kv->key_pos, "unknown key \"%s\" in [%s]", kv->key, sect);
	} else if (kv->val->type != TOML_TABLE) {
		tcfg_error(c, kv->key_pos, "unknown key \"%s\" at the top level (keys belong in a section such as [%s])",
			   kv->key, allowed[0]);
	} else if (near) {
		tcfg_error(c, kv->key_pos, "unknown section [%s] (did you mean [%s]?)", kv->key, near);
	} else {
		tcfg_error(c, kv->key_pos, "unknown section [%s]", kv->key);
	}
}

void tcfg_check_keys(struct tcfg *c, const struct toml_value *tab, const char *sect,
		     const char *const *allowed)
{
	if (!tab || tab->type != TOML_TABLE)
		return;
	for (size_t i = 0; i < tab->u.tab.len; i++) {
		const struct toml_kv *kv = &tab->u.tab.items[i];
		if (!tcfg_is_key(kv->key, allowed))
			tcfg_unknown_key(c, kv, sect, allowed);
	}
}

struct err_line {
	int line, col;
	size_t off, len; /* the line in the buffer, newline included */
};

static int err_line_cmp(const void *a, const void *b)
{
	const struct err_line *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->off < y->off ? -1 : (x->off > y->off);
}

void tcfg_sort_errors(struct tcfg *c, size_t start)
{
	struct buf *b = c->errs;
	size_t n = 0, cap = 16, plen = strlen(c->file) + 1;
	struct err_line *v = malloc(cap * sizeof *v);
	if (!v)
		abort();
	for (size_t off = start; off < b->len;) {
		const char *nl = memchr(b->data + off, '\n', b->len - off);
		size_t len = nl ? (size_t)(nl - (b->data + off)) + 1 : b->len - off;
		if (n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof *v);
			if (!v)
				abort();
		}
		v[n].line = v[n].col = 0; /* no position: first */
		if (len > plen)
			sscanf(b->data + off + plen, "%d:%d:", &v[n].line, &v[n].col);
		v[n].off = off;
		v[n].len = len;
		n++;
		off += len;
	}
	qsort(v, n, sizeof *v, err_line_cmp);
	struct buf sorted = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_append(&sorted, b->data + v[i].off, v[i].len);
	b->len = start;
	buf_append(b, sorted.data ? sorted.data : "", sorted.len);
	buf_free(&sorted);
	free(v);
}
