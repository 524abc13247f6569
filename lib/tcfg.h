/* tcfg.h — typed, strict access to TOML configuration files.
 *
 * The shared machinery behind model.toml (lib/model.c) and the registry's
 * config file: read a key of a table as a given type, check ranges, parse
 * durations, reject unknown keys with a "did you mean" suggestion. Every
 * problem is appended to the caller's buffer as one line
 * "FILE:LINE:COL: message\n" and counted; reading goes on after an error so
 * that users see all problems at once.
 *
 * Getters return 1 when the key is present and valid (the output is set),
 * 0 when it is absent (the output is untouched: it keeps its default), and
 * -1 when it is present but wrong (an error was recorded).
 */
#ifndef ES_TCFG_H
#define ES_TCFG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toml.h"

struct tcfg {
	const char *file; /* name used in messages */
	struct buf *errs; /* where "FILE:LINE:COL: message\n" lines go */
	int nerr;         /* problems recorded so far */
};

/* Records one problem at POS. */
void tcfg_error(struct tcfg *c, struct toml_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The sub-table SECT of ROOT, or NULL when absent (an error is recorded when
 * SECT is present but not a table). */
const struct toml_value *tcfg_table(struct tcfg *c, const struct toml_value *root,
				    const char *sect);

/* In the getters, SECT names the table for messages ("parallel" makes
 * "parallel.tp"); NULL or "" for the top level. */
int tcfg_str(struct tcfg *c, const struct toml_value *tab, const char *sect,
	     const char *key, char **out);
int tcfg_int(struct tcfg *c, const struct toml_value *tab, const char *sect,
	     const char *key, int64_t min, int64_t max, int *out);
int tcfg_bool(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, int *out);
/* A duration string ("90s", "20m", "2h", "1h30m", "250ms") in milliseconds,
 * at least MIN_MS. */
int tcfg_duration(struct tcfg *c, const struct toml_value *tab, const char *sect,
		  const char *key, int64_t min_ms, int64_t *out);
/* An array of strings, duplicated into a NULL-terminated vector (*OUT,
 * freed with tcfg_strv_free) of *N entries. Previous contents are freed. */
int tcfg_strv(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, char ***out, size_t *n);
/* A string that must be one of NAMES (NULL-terminated); *OUT is its index. */
int tcfg_enum(struct tcfg *c, const struct toml_value *tab, const char *sect,
	      const char *key, const char *const *names, int *out);

/* Records an error for every key of TAB not in ALLOWED (NULL-terminated),
 * suggesting the closest allowed key. With SECT NULL, TAB is the top level
 * and its tables are reported as sections. */
void tcfg_check_keys(struct tcfg *c, const struct toml_value *tab, const char *sect,
		     const char *const *allowed);

/* Whether KEY is in ALLOWED (NULL-terminated). */
int tcfg_is_key(const char *key, const char *const *allowed);

/* Records the error tcfg_check_keys() records for one unknown entry KV. */
void tcfg_unknown_key(struct tcfg *c, const struct toml_kv *kv, const char *sect,
		      const char *const *allowed);

/* Position of KEY in TAB (its key), or of TAB itself when the key is absent:
 * the place to report a problem that concerns KEY. */
struct toml_pos tcfg_pos(const struct toml_value *tab, const char *key);

void tcfg_strv_free(char **v);

/* Sorts the error lines appended to c->errs from offset START by position,
 * so that users read them in file order. */
void tcfg_sort_errors(struct tcfg *c, size_t start);

/* The candidate closest to WORD by edit distance, when close enough to be a
 * likely typo; NULL otherwise. CANDIDATES is NULL-terminated. */
const char *tcfg_suggest(const char *word, const char *const *candidates);

/* Parses a duration ("90s", "20m", "2h", "1h30m", "500ms", "1d"). Returns 0,
 * or -1 with a message in ERR. */
int tcfg_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

#endif
