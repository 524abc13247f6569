/* fuzz_http.c — lib/http_parse and URL parsing. The first byte picks what
 * the rest is:
 *
 *   0  a request head     hp_parse(HP_REQUEST)
 *   1  a response head    hp_parse(HP_RESPONSE)
 *   2  a chunked body     hp_chunked_feed
 *   3  a URL              hcall_parse_url
 *
 * Heads and bodies are parsed twice: whole, and fed in random pieces as a
 * socket would deliver them. Both must give the same answer (an
 * incremental parser that depends on where reads end is a smuggling bug),
 * and every span must lie inside the head.
 */
#include "buf.h"
#include "fuzz.h"
#include "hcall.h"
#include "http_parse.h"

static void check_msg(const struct hp_msg *m, const char *buf, size_t len)
{
	FUZZ_CHECK(m->head_len > 0 && m->head_len <= len);
	FUZZ_CHECK(m->skip < m->head_len);
	FUZZ_CHECK(memcmp(buf + m->head_len - 4, "\r\n\r\n", 4) == 0);
	FUZZ_CHECK(m->nheaders <= HP_MAX_HEADERS);
	const struct hp_span *sp[] = {&m->method, &m->target, &m->reason};
	for (int i = 0; i < 3; i++)
		FUZZ_CHECK(sp[i]->off + (size_t)sp[i]->len <= m->head_len);
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct hp_header *h = &m->headers[i];
		FUZZ_CHECK(h->name.len > 0);
		FUZZ_CHECK(h->name.off + (size_t)h->name.len <= m->head_len);
		FUZZ_CHECK(h->value.off + (size_t)h->value.len <= m->head_len);
		/* No CR or LF inside a value: nothing can be smuggled through. */
		FUZZ_CHECK(!memchr(buf + h->value.off, '\r', h->value.len));
		FUZZ_CHECK(!memchr(buf + h->value.off, '\n', h->value.len));
		char name[64];
		if (h->name.len < sizeof name) {
			memcpy(name, buf + h->name.off, h->name.len);
			name[h->name.len] = '\0';
			FUZZ_CHECK(hp_find(m, buf, name) != NULL);
		}
		(void)hp_has_token(buf + h->value.off, h->value.len, "close");
	}
	if (m->type == HP_REQUEST) {
		FUZZ_CHECK(m->method.len > 0 && m->target.len > 0);
		FUZZ_CHECK(m->body != HP_BODY_EOF);
	} else {
		FUZZ_CHECK(m->status >= 100 && m->status <= 999);
	}
	(void)hp_reason(m->status);
}

static void fuzz_head(enum hp_type type, const char *buf, size_t len, struct fuzz_rng *rng)
{
	struct hp_limits lim;
	hp_limits_default(&lim);
	if (len && (buf[0] & 1)) {
		/* Small limits too, to reach the 431 and 414 paths. */
		lim.max_head = 64 + (size_t)(unsigned char)buf[0];
		lim.max_headers = 1 + ((unsigned char)buf[0] % 8);
		lim.max_target = 16 + (size_t)(unsigned char)buf[0] % 64;
	}
	struct hp_msg *whole = malloc(sizeof *whole), *inc = malloc(sizeof *inc);
	if (!whole || !inc)
		abort();
	hp_msg_init(whole, type);
	whole->head_response = len > 1 && (buf[1] & 1);
	int r1 = hp_parse(whole, buf, len, &lim);
	if (r1 == HP_OK)
		check_msg(whole, buf, len);
	else if (r1 == HP_ERROR)
		FUZZ_CHECK(whole->err && whole->err_status >= 400 && whole->err_status <= 599);
	else
		FUZZ_CHECK(r1 == HP_AGAIN);

	/* The same bytes arriving in pieces. */
	hp_msg_init(inc, type);
	inc->head_response = whole->head_response;
	size_t have = 0;
	int r2 = HP_AGAIN;
	while (r2 == HP_AGAIN && have < len) {
		size_t step = 1 + (size_t)(fuzz_rng_next(rng) % 64);
		have = have + step > len ? len : have + step;
		r2 = hp_parse(inc, buf, have, &lim);
	}
	if (r2 == HP_AGAIN && len == 0)
		r2 = hp_parse(inc, buf, 0, &lim);
	/* Stopping early is fine only where the whole parse also stopped: an
	 * error seen in a prefix is an error of the whole too (a head over
	 * its limit is over it however it arrives). */
	if (r2 == HP_OK) {
		FUZZ_CHECK(r1 == HP_OK);
		FUZZ_CHECK(inc->head_len == whole->head_len);
		FUZZ_CHECK(inc->nheaders == whole->nheaders);
		FUZZ_CHECK(inc->body == whole->body);
		FUZZ_CHECK(inc->content_length == whole->content_length);
		FUZZ_CHECK(inc->keep_alive == whole->keep_alive);
		FUZZ_CHECK(inc->status == whole->status);
		FUZZ_CHECK(inc->version_minor == whole->version_minor);
	} else if (r2 == HP_AGAIN) {
		FUZZ_CHECK(r1 == HP_AGAIN);
	} else {
		FUZZ_CHECK(r1 == HP_ERROR);
	}
	free(whole);
	free(inc);
}

struct collect {
	struct buf out;
};

static void on_data(void *arg, const char *data, size_t len)
{
	struct collect *c = arg;
	FUZZ_CHECK(len > 0);
	buf_append(&c->out, data, len);
}

static void fuzz_chunked(const char *buf, size_t len, struct fuzz_rng *rng)
{
	struct hp_chunked a, b;
	struct collect ca = {BUF_INIT}, cb = {BUF_INIT};
	size_t used_a = 0;
	hp_chunked_init(&a);
	int ra = hp_chunked_feed(&a, buf, len, &used_a, on_data, &ca);
	FUZZ_CHECK(used_a <= len);
	if (ra == HP_ERROR)
		FUZZ_CHECK(a.err != NULL);
	if (ra == HP_AGAIN)
		FUZZ_CHECK(used_a == len);

	hp_chunked_init(&b);
	size_t off = 0;
	int rb = HP_AGAIN;
	while (rb == HP_AGAIN && off < len) {
		size_t step = 1 + (size_t)(fuzz_rng_next(rng) % 32);
		if (step > len - off)
			step = len - off;
		size_t used = 0;
		rb = hp_chunked_feed(&b, buf + off, step, &used, on_data, &cb);
		FUZZ_CHECK(used <= step);
		if (rb == HP_AGAIN)
			FUZZ_CHECK(used == step);
		off += used;
	}
	FUZZ_CHECK(ra == rb || (len == 0 && rb == HP_AGAIN));
	if (ra == HP_OK) {
		FUZZ_CHECK(off == used_a);
		FUZZ_CHECK(ca.out.len == cb.out.len);
		FUZZ_CHECK(ca.out.len == 0 || memcmp(ca.out.data, cb.out.data, ca.out.len) == 0);
		/* Done is done: more input is not consumed. */
		size_t used = 1;
		FUZZ_CHECK(hp_chunked_feed(&a, "x", 1, &used, on_data, &ca) == HP_OK && used == 0);
	} else if (ra == HP_AGAIN) {
		FUZZ_CHECK(ca.out.len == cb.out.len);
	}
	buf_free(&ca.out);
	buf_free(&cb.out);
}

static void fuzz_url(const uint8_t *data, size_t len)
{
	char *s = fuzz_strndup(data, len);
	struct hcall_url u;
	char err[256];
	err[0] = '\0';
	if (hcall_parse_url(s, &u, err, sizeof err) == 0) {
		FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
		FUZZ_CHECK(memchr(u.host, '\0', sizeof u.host) && u.host[0]);
		FUZZ_CHECK(memchr(u.prefix, '\0', sizeof u.prefix));
		/* The host cannot carry what would break a request line or a
		 * Host header. */
		for (const char *p = u.host; *p; p++)
			FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f && *p != '/' && *p != '@');
		FUZZ_CHECK(!u.prefix[0] || u.prefix[0] == '/');
		for (const char *p = u.prefix; *p; p++)
			FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fuzz_rng rng;
	fuzz_rng_seed(&rng, data, size);
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	/* A private copy: the parser must not read past LEN (ASan sees it). */
	char *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, buf, len);
	switch (data[0] % 4) {
	case 0:
		fuzz_head(HP_REQUEST, copy, len, &rng);
		break;
	case 1:
		fuzz_head(HP_RESPONSE, copy, len, &rng);
		break;
	case 2:
		fuzz_chunked(copy, len, &rng);
		break;
	case 3:
		fuzz_url(data + 1, len);
		break;
	}
	free(copy);
	return 0;
}
