/* fuzz_migrate.c — stream migration's reading of a worker's event stream
 * and what it makes of it (registry/proxy_migrate.c).
 *
 * The input: a first byte of flags (chat or completions, streamed or
 * assembled, usage asked, where to cut for a migration), then the event
 * stream. Invariants: the state and what the client gets are the same
 * however the bytes arrive; what the client gets is whole events, each
 * "[DONE]" or a JSON object; the continuation's body, the assembled
 * answer and the events that complete a stream are JSON. */
#include "buf.h"
#include "fuzz.h"
#include "proxy_json.h"
#include "proxy_migrate.h"

static const char *const bodies[4] = {
	("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"stream\":true,"
	 "\"max_tokens\":40,\"stream_options\":{\"include_usage\":true}}"),
	"{\"model\":\"m\",\"messages\":[],\"stream\":true}",
	"{\"model\":\"m\",\"prompt\":\"p \\\"q\\\"\",\"stream\":true,\"min_tokens\":3}",
	"{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":9}",
};

/* Every "data: " line of OUT is [DONE] or a JSON object; events end with a
 * blank line. */
static void check_events(const struct buf *out)
{
	if (!out->len)
		return;
	FUZZ_CHECK(out->len >= 2 && out->data[out->len - 1] == '\n' &&
		   (out->data[out->len - 2] == '\n' || out->data[out->len - 2] == '\r'));
}

static void check_spliced(const struct buf *out)
{
	/* Events the proxy wrote itself are one data line each. */
	if (!out->len)
		return;
	const char *p = out->data, *end = out->data + out->len;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (l > 6 && memcmp(p, "data: ", 6) == 0 && !(l == 12 && memcmp(p + 6, "[DONE]", 6) == 0)) {
			char err[160];
			FUZZ_CHECK(proxy_json_check(p + 6, l - 6, err, sizeof err) == 0);
		}
		p = nl ? nl + 1 : NULL;
	}
}

struct run {
	struct proxy_migrate m;
	struct buf out;
	int rc;
	size_t fed;
};

/* Feeds DATA[0..LEN) whole (RNG NULL) or in random pieces; stops at an error. */
static void feed(struct run *r, const char *data, size_t len, struct fuzz_rng *rng)
{
	char err[512];
	size_t pos = 0;
	while (pos < len && r->rc == 0) {
		size_t n = len - pos;
		if (rng && n > 1)
			n = 1 + (size_t)(fuzz_rng_next(rng) % (n < 64 ? n : 64));
		r->rc = proxy_migrate_feed(&r->m, data + pos, n, &r->out, err, sizeof err);
		if (r->rc < 0)
			FUZZ_CHECK(err[0] != '\0');
		pos += n;
	}
	r->fed = pos;
}

static void same(const struct run *a, const struct run *b)
{
	FUZZ_CHECK(a->rc == b->rc);
	FUZZ_CHECK(a->out.len == b->out.len &&
		   (!a->out.len || memcmp(a->out.data, b->out.data, a->out.len) == 0));
	FUZZ_CHECK(a->m.text.len == b->m.text.len &&
		   (!a->m.text.len || memcmp(a->m.text.data, b->m.text.data, a->m.text.len) == 0));
	FUZZ_CHECK(proxy_migrate_tokens(&a->m) == proxy_migrate_tokens(&b->m));
	FUZZ_CHECK(a->m.started == b->m.started && a->m.done == b->m.done);
	FUZZ_CHECK(strcmp(a->m.finish, b->m.finish) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	bool chat = (flags & 3) < 2;
	const char *body = bodies[flags & 3];
	size_t blen = strlen(body);
	/* An exact-size copy: nothing may read past the input. */
	size_t len = size - 1;
	char *ev = malloc(len ? len : 1);
	if (!ev)
		abort();
	memcpy(ev, data + 1, len);
	size_t cut = len ? (size_t)(flags >> 2) * len / 63 : 0;
	if (cut > len)
		cut = len;

	struct proxy_json_req jr;
	char err[256];
	FUZZ_CHECK(proxy_json_scan(body, blen, &jr, NULL, NULL, err, sizeof err) == 0);
	struct fuzz_rng rng;
	fuzz_rng_seed(&rng, data, size);
	struct run whole, pieces;
	memset(&whole, 0, sizeof whole);
	memset(&pieces, 0, sizeof pieces);
	proxy_migrate_init(&whole.m, chat, body, blen, &jr);
	proxy_migrate_init(&pieces.m, chat, body, blen, &jr);
	FUZZ_CHECK(proxy_migrate_handles(&whole.m));

	/* Segment 0: the bytes before CUT. */
	feed(&whole, ev, cut, NULL);
	feed(&pieces, ev, cut, &rng);
	same(&whole, &pieces);
	check_events(&whole.out);
	if (whole.m.started && !whole.m.done) {
		/* The worker fails: a continuation, then the rest as segment 1. */
		char why[256];
		int c = proxy_migrate_continue(&whole.m, body, blen, 2, why, sizeof why);
		FUZZ_CHECK(proxy_migrate_continue(&pieces.m, body, blen, 2, why, sizeof why) == c);
		if (c == 1) {
			FUZZ_CHECK(proxy_json_check(whole.m.body.data, whole.m.body.len, err, sizeof err) == 0);
			FUZZ_CHECK(whole.m.body.len == pieces.m.body.len &&
				   memcmp(whole.m.body.data, pieces.m.body.data, whole.m.body.len) == 0);
			buf_reset(&whole.out);
			buf_reset(&pieces.out);
			whole.rc = pieces.rc = 0;
			feed(&whole, ev + cut, len - cut, NULL);
			feed(&pieces, ev + cut, len - cut, &rng);
			same(&whole, &pieces);
			check_events(&whole.out);
			check_spliced(&whole.out);
		} else if (c == 0) {
			buf_reset(&whole.out);
			proxy_migrate_complete(&whole.m, &whole.out);
			check_events(&whole.out);
			check_spliced(&whole.out);
		}
	}
	if (whole.m.assemble && whole.m.started) {
		struct buf a = BUF_INIT;
		proxy_migrate_answer(&whole.m, &a);
		FUZZ_CHECK(proxy_json_check(a.data, a.len, err, sizeof err) == 0);
		buf_free(&a);
	}
	buf_free(&whole.out);
	buf_free(&pieces.out);
	proxy_migrate_free(&whole.m);
	proxy_migrate_free(&pieces.m);
	free(ev);
	return 0;
}
