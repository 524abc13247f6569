/* oai.c — see oai.h. */
#include "oai.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"

const char *oai_error_type(int status)
{
	switch (status) {
	case 400: return "BadRequestError";
	case 401: return "AuthenticationError";
	case 403: return "PermissionDeniedError";
	case 404: return "NotFoundError";
	case 405: return "MethodNotAllowedError";
	case 408: return "RequestTimeoutError";
	case 409: return "ConflictError";
	case 413: return "RequestEntityTooLargeError";
	case 414: return "RequestURITooLongError";
	case 422: return "UnprocessableEntityError";
	case 429: return "RateLimitError";
	case 431: return "RequestHeaderFieldsTooLargeError";
	case 501: return "NotImplementedError";
	case 502: return "BadGatewayError";
	case 503: return "ServiceUnavailableError";
	case 504: return "GatewayTimeoutError";
	default: return status >= 500 ? "InternalServerError" : "BadRequestError";
	}
}

void oai_error_json(struct buf *out, int status, const char *message,
		    const char *param)
{
	buf_puts(out, "{\"error\":{\"message\":");
	buf_json_str(out, message, strlen(message));
	buf_puts(out, ",\"type\":");
	const char *type = oai_error_type(status);
	buf_json_str(out, type, strlen(type));
	buf_puts(out, ",\"param\":");
	if (param)
		buf_json_str(out, param, strlen(param));
	else
		buf_puts(out, "null");
	buf_printf(out, ",\"code\":%d}}", status);
}

void oai_reply_error(struct httpd_req *req, int status, const char *param,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	oai_error_json(&b, status, msg, param);
	httpd_reply(req, status, "application/json", b.data, b.len);
	buf_free(&b);
}

void oai_httpd_error_body(int status, const char *msg, struct buf *body,
			  const char **ctype, void *arg)
{
	(void)arg;
	oai_error_json(body, status, msg, NULL);
	*ctype = "application/json";
}
