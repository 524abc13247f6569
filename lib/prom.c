/* prom.c — see prom.h. */
#include "prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static bool label_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool label_char(char c)
{
	return label_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Parses a float token [P, END) as Prometheus does. */
static int parse_value(const char *p, size_t n, double *out)
{
	char tmp[64];
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (!strcmp(tmp, "NaN")) {
		*out = NAN;
		return 0;
	}
	if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "Inf")) {
		*out = INFINITY;
		return 0;
	}
	if (!strcmp(tmp, "-Inf")) {
		*out = -INFINITY;
		return 0;
	}
	/* strtod takes hex floats and "infinity": refuse what Prometheus does not. */
	for (size_t i = 0; i < n; i++) {
		char c = tmp[i];
		if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
		      c == '-'))
			return -1;
	}
	char *e;
	errno = 0;
	double v = strtod(tmp, &e);
	if (e != tmp + n || (errno == ERANGE && fabs(v) > 1.0))
		return -1;
	*out = v;
	return 0;
}

static int parse_int64(const char *p, size_t n, int64_t *out)
{
	char tmp[32];
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *e;
	errno = 0;
	long long v = strtoll(tmp, &e, 10);
	if (e != tmp + n || errno)
		return -1;
	*out = v;
	return 0;
}

/* Checks the label set at [P, END) (after '{'); sets *CLOSE to the '}'. */
static const char *check_labels(const char *p, const char *end, const char **close)
{
	for (;;) {
		p = skip_blank(p, end);
		if (p < end && *p == '}') {
			*close = p;
			return NULL;
		}
		if (p >= end || !label_start(*p))
			return "invalid label name";
		while (p < end && label_char(*p))
			p++;
		p = skip_blank(p, end);
		if (p >= end || *p != '=')
			return "expected '=' after a label name";
		p = skip_blank(p + 1, end);
		if (p >= end || *p != '"')
			return "expected a quoted label value";
		p++;
		for (;;) {
			if (p >= end)
				return "unterminated label value";
			if (*p == '\\') {
				if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
					return "invalid escape in a label value";
				p += 2;
				continue;
			}
			if (*p == '"')
				break;
			p++;
		}
		p = skip_blank(p + 1, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}') {
			*close = p;
			return NULL;
		}
		return "expected ',' or '}' in the label set";
	}
}

int prom_parse(const char *text, size_t len, prom_sample_fn fn, void *arg, char *err,
	       size_t errlen)
{
	const char *p = text, *tend = text + len;
	unsigned lineno = 0;
	while (p < tend) {
		const char *nl = memchr(p, '\n', (size_t)(tend - p));
		const char *end = nl ? nl : tend;
		const char *next = nl ? nl + 1 : tend;
		lineno++;
		if (end > p && end[-1] == '\r')
			end--;
		const char *q = skip_blank(p, end);
		if (q == end || *q == '#') {
			p = next;
			continue;
		}
		const char *why = NULL;
		struct prom_sample s;
		memset(&s, 0, sizeof s);
		s.line = lineno;
		if (!name_start(*q)) {
			why = "invalid metric name";
			goto bad;
		}
		s.name = q;
		while (q < end && name_char(*q))
			q++;
		s.name_len = (size_t)(q - s.name);
		s.labels = "";
		if (q < end && *q == '{') {
			const char *close;
			if ((why = check_labels(q + 1, end, &close)))
				goto bad;
			s.labels = q + 1;
			s.labels_len = (size_t)(close - s.labels);
			q = close + 1;
		}
		if (q >= end || (*q != ' ' && *q != '\t')) {
			why = "expected a value after the metric";
			goto bad;
		}
		q = skip_blank(q, end);
		const char *v = q;
		while (q < end && *q != ' ' && *q != '\t')
			q++;
		if (parse_value(v, (size_t)(q - v), &s.value) < 0) {
			why = "invalid sample value";
			goto bad;
		}
		q = skip_blank(q, end);
		if (q < end) {
			const char *t = q;
			while (q < end && *q != ' ' && *q != '\t')
				q++;
			if (parse_int64(t, (size_t)(q - t), &s.ts) < 0) {
				why = "invalid timestamp";
				goto bad;
			}
			s.has_ts = true;
			if (skip_blank(q, end) != end) {
				why = "unexpected text after the timestamp";
				goto bad;
			}
		}
		if (fn) {
			int r = fn(&s, arg);
			if (r)
				return r;
		}
		p = next;
		continue;
bad:
		snprintf(err, errlen, "line %u: %s", lineno, why);
		return -1;
	}
	return 0;
}

bool prom_is(const struct prom_sample *s, const char *name)
{
	size_t n = strlen(name);
	return s->name_len == n && memcmp(s->name, name, n) == 0;
}

bool prom_label(const struct prom_sample *s, const char *name, char *out, size_t outlen)
{
	const char *p = s->labels, *end = s->labels + s->labels_len;
	size_t nlen = strlen(name);
	while (p < end) {
		p = skip_blank(p, end);
		const char *ns = p;
		while (p < end && label_char(*p))
			p++;
		size_t ln = (size_t)(p - ns);
		p = skip_blank(p, end);
		p = skip_blank(p + 1, end); /* '=' */
		p++;                        /* opening quote */
		bool match = ln == nlen && memcmp(ns, name, nlen) == 0;
		size_t o = 0;
		while (p < end && *p != '"') {
			char c = *p++;
			if (c == '\\' && p < end) {
				c = *p++;
				if (c == 'n')
					c = '\n';
			}
			if (match && outlen && o + 1 < outlen)
				out[o++] = c;
		}
		p++; /* closing quote */
		if (match) {
			if (outlen)
				out[o] = '\0';
			return true;
		}
		p = skip_blank(p, end);
		if (p < end && *p == ',')
			p++;
	}
	if (outlen)
		out[0] = '\0';
	return false;
}
