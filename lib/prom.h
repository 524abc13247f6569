/* prom.h — a parser for the Prometheus text exposition format (0.0.4).
 *
 * Reads a /metrics page, as vLLM, SGLang and elastic-sim serve it, and
 * hands each sample to a callback without allocating:
 *
 *   vllm:num_requests_running{engine="0",model_name="m"} 3.0
 *   name                      labels (raw)               value [timestamp]
 *
 * Lines starting with '#' (HELP, TYPE, comments) and empty lines are
 * skipped; CRLF line ends are accepted. Names follow
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values
 * are double-quoted with the escapes \\ \" \n; a trailing comma in the label
 * set is allowed. Values are floats as Go's ParseFloat takes them (also
 * NaN, +Inf, -Inf); the timestamp is an integer of milliseconds.
 *
 * A malformed line stops the parse with an error that names the line:
 * a page that is not what it should be is not half-trusted.
 */
#ifndef ES_PROM_H
#define ES_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One sample. The pointers point into the parsed text. */
struct prom_sample {
	const char *name;   /* metric name */
	size_t name_len;
	const char *labels; /* the text between the braces, escapes kept; "" */
	size_t labels_len;
	double value;
	bool has_ts;        /* a timestamp followed the value */
	int64_t ts;         /* milliseconds since the epoch */
	unsigned line;      /* 1-based line number */
};

/* Called for each sample; a nonzero return stops the parse (prom_parse then
 * returns that value). */
typedef int (*prom_sample_fn)(const struct prom_sample *s, void *arg);

/* Parses LEN bytes of TEXT. Returns 0 when every line was read, the
 * callback's nonzero value when it stopped early, or -1 on a malformed
 * line with ERR "line N: message". */
int prom_parse(const char *text, size_t len, prom_sample_fn fn, void *arg, char *err,
	       size_t errlen);

/* Whether S is the metric NAME. */
bool prom_is(const struct prom_sample *s, const char *name);

/* Looks up label NAME of S and writes its unescaped value to OUT (always
 * NUL-terminated, truncated to OUTLEN - 1). Returns true when present. */
bool prom_label(const struct prom_sample *s, const char *name, char *out, size_t outlen);

#endif
