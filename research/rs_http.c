/* rs_http.c — one blocking HTTP call over libcurl, with retries.
 *
 * Each call has its own easy handle, so calls from several threads never
 * share state. An attempt that fails to connect, times out or is answered
 * with 429 or a 5xx is tried again after a wait that starts at backoff_ms
 * and doubles (a longer Retry-After wins, up to RS_HTTP_WAIT_MAX_MS).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "rs_http.h"

#define RS_HTTP_TIMEOUT_MS 30000L
#define RS_HTTP_BACKOFF_MS 500L
#define RS_HTTP_MAX_BODY (16u << 20)
#define RS_HTTP_CONNECT_MS 10000L
#define RS_HTTP_WAIT_MAX_MS 60000L /* the longest wait between attempts */

/* What one attempt collects. */
struct rs_http_call {
	struct buf *resp;        /* the body, appended */
	size_t start;            /* resp->len before the attempt */
	size_t max_body;         /* more fails the attempt */
	int too_big;             /* the body passed max_body */
	long retry_after_ms;     /* from a Retry-After header; -1: none */
};

static size_t rs_http_write(char *p, size_t size, size_t n, void *arg)
{
	struct rs_http_call *c = arg;
	size_t len = size * n;
	if (c->resp->len - c->start + len > c->max_body) {
		c->too_big = 1;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	buf_append(c->resp, p, len);
	return len;
}

/* Retry-After: seconds, or an HTTP date. */
static long rs_http_parse_retry_after(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		char *end;
		errno = 0;
		long s = strtol(v, &end, 10);
		if (errno || s < 0)
			return -1;
		return s > RS_HTTP_WAIT_MAX_MS / 1000 ? RS_HTTP_WAIT_MAX_MS : s * 1000;
	}
	time_t t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	time_t now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > RS_HTTP_WAIT_MAX_MS / 1000 ? RS_HTTP_WAIT_MAX_MS : (long)(t - now) * 1000;
}

static size_t rs_http_header(char *p, size_t size, size_t n, void *arg)
{
	struct rs_http_call *c = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
		char v[128];
		size_t vl = len - (sizeof name - 1);
		if (vl >= sizeof v)
			vl = sizeof v - 1;
		memcpy(v, p + sizeof name - 1, vl);
		v[vl] = 0;
		v[strcspn(v, "\r\n")] = 0;
		c->retry_after_ms = rs_http_parse_retry_after(v);
	} else if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		c->retry_after_ms = -1; /* a new response (after a redirect) */
	}
	return len;
}

void rs_http_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			buf_putc(out, (char)*p);
		} else {
			buf_putc(out, '%');
			buf_putc(out, hex[*p >> 4]);
			buf_putc(out, hex[*p & 15]);
		}
	}
}

void rs_http_redact_url(struct buf *out, const char *url)
{
	const char *q = strchr(url, '?');
	if (!q) {
		buf_puts(out, url);
		return;
	}
	buf_append(out, url, (size_t)(q - url));
	const char *p = q;
	while (*p && *p != '#') {
		/* p at '?' or '&': copy the separator, then one parameter */
		buf_putc(out, *p++);
		size_t plen = strcspn(p, "&#");
		const char *eq = memchr(p, '=', plen);
		int secret = 0;
		if (eq) {
			for (const char *k = p; k + 3 <= eq; k++)
				if (strncasecmp(k, "key", 3) == 0)
					secret = 1;
		}
		if (secret) {
			buf_append(out, p, (size_t)(eq - p) + 1);
			buf_puts(out, "***");
		} else {
			buf_append(out, p, plen);
		}
		p += plen;
	}
	buf_puts(out, p);
}

static int rs_http_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void rs_http_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int rs_http(const char *method, const char *url, const char *body,
	    const struct rs_http_opts *o, long *status, struct buf *resp,
	    char *err, size_t errlen)
{
	static const struct rs_http_opts none = {0};
	if (!o)
		o = &none;
	long timeout = o->timeout_ms > 0 ? o->timeout_ms : RS_HTTP_TIMEOUT_MS;
	long backoff = o->backoff_ms > 0 ? o->backoff_ms : RS_HTTP_BACKOFF_MS;
	int retries = o->retries > 0 ? o->retries : 0;
	struct rs_http_call call = {
		.resp = resp, .start = resp->len,
		.max_body = o->max_body ? o->max_body : RS_HTTP_MAX_BODY,
	};
	struct buf shown = BUF_INIT;
	struct curl_slist *hdrs = NULL;
	char cerr[CURL_ERROR_SIZE];
	int ret = -1, attempt = 0, post = strcmp(method, "POST") == 0;
	int has_ctype = 0;
	CURL *h = NULL;

	rs_http_redact_url(&shown, url);
	if (!post && strcmp(method, "GET") != 0) {
		snprintf(err, errlen, "cannot send %s to %s: only GET and POST", method, shown.data);
		goto cleanup;
	}
	for (const char *const *p = o->headers; p && *p; p++) {
		struct curl_slist *n = curl_slist_append(hdrs, *p);
		if (!n) {
			snprintf(err, errlen, "out of memory");
			goto cleanup;
		}
		hdrs = n;
		if (strncasecmp(*p, "content-type:", 13) == 0)
			has_ctype = 1;
	}
	if (post && body && !has_ctype) {
		struct curl_slist *n = curl_slist_append(hdrs, "Content-Type: application/json");
		if (!n) {
			snprintf(err, errlen, "out of memory");
			goto cleanup;
		}
		hdrs = n;
	}
	h = curl_easy_init();
	if (!h) {
		snprintf(err, errlen, "cannot start a request to %s: libcurl failed", shown.data);
		goto cleanup;
	}

	for (;;) {
		attempt++;
		curl_easy_reset(h);
		cerr[0] = 0;
		resp->len = call.start;
		if (resp->data)
			resp->data[resp->len] = 0;
		call.too_big = 0;
		call.retry_after_ms = -1;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 timeout < RS_HTTP_CONNECT_MS ? timeout : RS_HTTP_CONNECT_MS);
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
		curl_easy_setopt(h, CURLOPT_USERAGENT, "elastic-research/" ES_VERSION);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rs_http_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &call);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, rs_http_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &call);
		if (hdrs)
			curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		if (post) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		}

		CURLcode rc = curl_easy_perform(h);
		long code = 0;
		int again;
		if (rc == CURLE_OK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
			again = code == 429 || code >= 500;
		} else {
			again = rs_http_retryable(rc);
		}
		if (!again || attempt > retries) {
			char tries[32] = "";
			if (attempt > 1)
				snprintf(tries, sizeof tries, " (%d attempts)", attempt);
			if (rc == CURLE_OK) {
				*status = code;
				ret = 0;
			} else if (call.too_big) {
				snprintf(err, errlen, "answer from %s is larger than %zu bytes",
					 shown.data, call.max_body);
			} else if (rc == CURLE_OPERATION_TIMEDOUT) {
				snprintf(err, errlen, "timed out after %ld ms waiting for %s%s",
					 timeout, shown.data, tries);
			} else {
				snprintf(err, errlen, "cannot %s %s: %s%s",
					 rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
						 ? "connect to" : "fetch",
					 shown.data, cerr[0] ? cerr : curl_easy_strerror(rc), tries);
			}
			break;
		}
		long wait = backoff;
		for (int i = 1; i < attempt && wait < RS_HTTP_WAIT_MAX_MS; i++)
			wait *= 2;
		if (call.retry_after_ms > wait)
			wait = call.retry_after_ms;
		if (wait > RS_HTTP_WAIT_MAX_MS)
			wait = RS_HTTP_WAIT_MAX_MS;
		rs_http_sleep_ms(wait);
	}
	if (ret < 0) {
		resp->len = call.start;
		if (resp->data)
			resp->data[resp->len] = 0;
	}

cleanup:
	if (o->attempts)
		*o->attempts = attempt;
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	buf_free(&shown);
	return ret;
}
