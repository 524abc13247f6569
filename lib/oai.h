/* oai.h — OpenAI-style error responses, as vLLM sends them.
 *
 *   {"error": {"message": "...", "type": "BadRequestError",
 *              "param": "max_tokens", "code": 400}}
 *
 * vLLM's ErrorResponse (vllm/entrypoints/openai/protocol.py) nests an
 * ErrorInfo with message, type, param (null unless known) and code, the
 * HTTP status as an integer. The type is the name vLLM uses for the status:
 * BadRequestError (400), NotFoundError (404), InternalServerError (500)...
 * see oai_error_type().
 */
#ifndef ES_OAI_H
#define ES_OAI_H

#include "buf.h"

struct httpd_req;

/* The error type vLLM reports with STATUS, e.g. "BadRequestError". */
const char *oai_error_type(int status);

/* Appends the error JSON to OUT. PARAM may be NULL (JSON null). */
void oai_error_json(struct buf *out, int status, const char *message,
		    const char *param);

/* Replies to REQ with STATUS and the error JSON; the message is formatted. */
void oai_reply_error(struct httpd_req *req, int status, const char *param,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* An httpd_error_body_fn: the server's own errors (413, 431, 408...) in
 * OpenAI's error JSON. Install with httpd_set_error_body(h, oai_httpd_error_body, NULL). */
void oai_httpd_error_body(int status, const char *msg, struct buf *body,
			  const char **ctype, void *arg);

#endif
