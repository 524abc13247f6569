/* rs_http.h — elastic-research's HTTP client: one blocking call over
 * libcurl, with a timeout, retries and backoff.
 *
 * Used by the tools (rs_tools.c: Serper, Jina Reader, Semantic Scholar,
 * E-utilities) and by the agent's calls to the OpenAI-compatible endpoint
 * (rs_llm.c). Thread-safe once curl_global_init() ran (main.c does it):
 * each call uses its own easy handle.
 */
#ifndef ES_RS_HTTP_H
#define ES_RS_HTTP_H

#include <stddef.h>

#include "buf.h"

struct rs_http_opts {
	long timeout_ms;             /* whole call, per attempt; 0: 30 s */
	int retries;                 /* extra attempts on connect errors, timeouts,
				      * 429 and 5xx; 0: none */
	long backoff_ms;             /* first wait between attempts, doubled each
				      * time (Retry-After wins when longer); 0: 500 */
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	size_t max_body;             /* larger responses fail; 0: 16 MiB */
	int *attempts;               /* when not NULL, set to the requests made
				      * (1 + retries used), whatever the outcome */
};

/* Sends METHOD (GET or POST) to URL with BODY (NULL: none; POST sends it as
 * application/json unless HEADERS set a Content-Type). On an answer (any
 * status) returns 0 with *STATUS and the body appended to RESP. Returns -1
 * with ERR set ("cannot connect to ...: ...", "timed out after N ms ...")
 * when no answer came after every attempt; a 429 or 5xx that is still one
 * after the last attempt is an answer (0, *STATUS set). Only http and
 * https URLs are fetched (redirects included). Messages name the URL with
 * its key parameters redacted and never print a header. */
int rs_http(const char *method, const char *url, const char *body,
	    const struct rs_http_opts *o, long *status, struct buf *resp,
	    char *err, size_t errlen);

/* Appends URL-encoded S to OUT (for query strings). */
void rs_http_escape(struct buf *out, const char *s);

/* Appends URL to OUT with the value of every query parameter whose name
 * contains "key" (api_key=...) replaced by "***": what messages print. */
void rs_http_redact_url(struct buf *out, const char *url);

#endif
