/* rs_tools.h — the deep-research tools, as the model sees them.
 *
 *   web_search(query)                 Serper (SERPER_API_KEY)
 *   open_page(url)                    Jina Reader (JINA_API_KEY)
 *   find_in_page(pattern)             local, on the session's last opened page
 *   paper_search(query, mode)         Semantic Scholar Graph API (S2_API_KEY,
 *                                     optional); mode: metadata | snippets
 *   pubmed_search(query)              NCBI E-utilities, esearch + esummary
 *                                     (NCBI_API_KEY, optional)
 *
 * A tool never fails the run: every problem (no key, bad arguments, bad
 * URL, a service's error, a non-JSON answer, a timeout) becomes a short
 * "error: ..." text returned to the model as the tool's result.
 */
#ifndef ES_RS_TOOLS_H
#define ES_RS_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct json_object;

enum rs_tool_id {
	RS_WEB_SEARCH,
	RS_OPEN_PAGE,
	RS_FIND_IN_PAGE,
	RS_PAPER_SEARCH,
	RS_PUBMED_SEARCH,
	RS_NTOOLS,
};

/* Keys, endpoints and limits: the environment, then a .env file, then
 * flags (rs_conf_set). */
struct rs_conf {
	char *key[RS_NTOOLS];        /* API key per tool (NULL: none); find_in_page has none */
	char *base_url[RS_NTOOLS];   /* service base URL per tool; defaults are the public ones */
	long timeout_ms[RS_NTOOLS];  /* per-tool timeout (default 30000; open_page 60000) */
	int retries;                 /* on 429/5xx/timeouts (default 3) */
	long backoff_ms;             /* first backoff (default 1000) */
	size_t page_max;             /* open_page text kept, bytes (default 40000); the cut is marked */
	int results;                 /* results per search (default 10) */
	char **dotenv;               /* every "KEY=value" of the .env file read, in
				      * file order (later lines win); see rs_conf_env */
	size_t ndotenv;              /* entries in dotenv */
};

/* Fills C with the defaults, then the environment (SERPER_API_KEY,
 * JINA_API_KEY, S2_API_KEY, NCBI_API_KEY, and the base URLs
 * ES_SERPER_URL, ES_JINA_URL, ES_S2_URL, ES_NCBI_URL), then the file
 * ENVFILE (KEY=value lines, # comments, optional quotes; NULL: ./.env if
 * it exists) for what the environment does not set. Returns 0, or -1 with
 * ERR naming the file and line ("FILE:LINE: message"); C is then empty
 * (rs_conf_free is harmless). .env lines: "KEY=value" or "export
 * KEY=value"; blank lines and "# ..." comments; a value in single quotes
 * is literal, one in double quotes knows \n \t \" \\ escapes, an unquoted
 * one ends at " #" and is trimmed. */
int rs_conf_load(struct rs_conf *c, const char *envfile, char *err, size_t errlen);

/* Sets one setting by its variable name (as in .env); 0 or -1 with ERR.
 *
 *   SERPER_API_KEY JINA_API_KEY S2_API_KEY NCBI_API_KEY   keys ("": none)
 *   ES_SERPER_URL ES_JINA_URL ES_S2_URL ES_NCBI_URL       base URLs (http, https)
 *   ES_WEB_SEARCH_TIMEOUT ES_OPEN_PAGE_TIMEOUT ES_PAPER_SEARCH_TIMEOUT
 *   ES_PUBMED_SEARCH_TIMEOUT, ES_TOOL_TIMEOUT (all four)   "500ms", "30s", "2m", 45
 *   ES_RETRIES (0-10)  ES_BACKOFF (a duration)  ES_PAGE_MAX (bytes, 200 to
 *   16 MiB)  ES_RESULTS (1-100)
 *
 * rs_conf_load reads these from the environment and the .env file; any
 * other name there is kept for rs_conf_env, unchecked. */
int rs_conf_set(struct rs_conf *c, const char *name, const char *value, char *err, size_t errlen);
/* Whether NAME is one of the settings above. */
bool rs_conf_known(const char *name);
/* The value of variable NAME: the environment's (when set and not empty),
 * else the .env file's, else NULL. For settings of other modules (the
 * endpoint, the model) kept in the same .env file. */
const char *rs_conf_env(const struct rs_conf *c, const char *name);
void rs_conf_free(struct rs_conf *c);

/* A duration: "500ms", "30s", "1.5s", "2m", "1h" or a number of seconds,
 * at most a day, into *MS. Returns 0, or -1 when V is none. */
int rs_conf_parse_duration(const char *v, long *ms);

/* The tools array of a chat completion request ("tools": [...], OpenAI
 * function format), a new reference. */
struct json_object *rs_tools_schema(void);

/* The tool named NAME, or -1. */
int rs_tool_find(const char *name);
const char *rs_tool_name(enum rs_tool_id id);

/* One trajectory's tool state: its last opened page. */
struct rs_session;
struct rs_session *rs_session_new(const struct rs_conf *c);
void rs_session_free(struct rs_session *s);

/* What a call cost. */
struct rs_tool_stat {
	double seconds;              /* wall time */
	int http_calls;              /* requests made, retries included */
	bool failed;                 /* the result is an error */
};

/* Runs tool NAME with ARGS (the JSON text of the call's "arguments").
 * Appends the text for the model to OUT: results rendered compactly
 * (titles, URLs, snippets, ids), or "error: ..." (unknown tool, bad
 * arguments, the service's failure). Returns 0, or -1 when OUT holds an
 * error. Thread-safe across sessions. */
int rs_tool_run(struct rs_session *s, const char *name, const char *args,
		struct buf *out, struct rs_tool_stat *st);

#endif
