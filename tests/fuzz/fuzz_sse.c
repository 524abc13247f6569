/* fuzz_sse.c — Server-Sent Events as elasticctl bench splits an OpenAI
 * stream (cli/bench_sse.c), and what it reads of each event's JSON: the
 * events of a stream are the same however its bytes arrive (a CR LF split
 * between two reads included), and every event's JSON is read without a
 * crash and with counts that make sense. */
#include "bench_sse.h"
#include "buf.h"
#include "fuzz.h"

struct events {
	struct buf all; /* every event's data, each followed by a 0 byte */
	unsigned n;
};

static int on_event(const char *data, size_t len, void *arg)
{
	struct events *e = arg;
	FUZZ_CHECK(data[len] == '\0');
	buf_append(&e->all, data, len);
	buf_putc(&e->all, '\0');
	e->n++;
	struct bench_oai o;
	struct buf text = BUF_INIT;
	if (bench_oai_parse(data, len, &o, &text) == 0) {
		FUZZ_CHECK(o.prompt_tokens >= -1 && o.completion_tokens >= -1);
		FUZZ_CHECK(!o.done || (!o.has_choices && !text.len));
		FUZZ_CHECK(memchr(o.error, '\0', sizeof o.error));
	} else {
		FUZZ_CHECK(o.error[0] != '\0');
	}
	buf_free(&text);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	fuzz_rng_seed(&rng, data, size);
	/* An exact-size copy: nothing may read past SIZE. */
	char *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	struct events a = {BUF_INIT, 0}, b = {BUF_INIT, 0};
	struct bench_sse pa, pb;
	bench_sse_init(&pa, on_event, &a);
	bench_sse_init(&pb, on_event, &b);
	int ra = bench_sse_feed(&pa, copy, size);
	if (ra == 0)
		ra = bench_sse_finish(&pa);
	int rb = 0;
	size_t off = 0;
	while (rb == 0 && off < size) {
		size_t k = 1 + (size_t)(fuzz_rng_next(&rng) % 17);
		if (k > size - off)
			k = size - off;
		rb = bench_sse_feed(&pb, copy + off, k);
		off += k;
	}
	if (rb == 0)
		rb = bench_sse_finish(&pb);
	FUZZ_CHECK(ra == rb);
	if (a.n != b.n || a.all.len != b.all.len ||
	    (a.all.len && memcmp(a.all.data, b.all.data, a.all.len) != 0)) {
		fprintf(stderr, "events differ: %u whole, %u in pieces\n", a.n, b.n);
		abort();
	}
	/* The whole body as one JSON response too. */
	struct bench_oai o;
	(void)bench_oai_parse(copy, size, &o, NULL);
	bench_sse_free(&pa);
	bench_sse_free(&pb);
	buf_free(&a.all);
	buf_free(&b.all);
	free(copy);
	return 0;
}
