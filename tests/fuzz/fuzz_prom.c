/* fuzz_prom.c — lib/prom (the Prometheus text format) and the agent's
 * load scraping on top of it (agent_load_parse): any page either parses,
 * with every sample pointing inside the page, or is refused with a
 * message naming the line; the load read from it is always in range. */
#include <math.h>

#include "agent.h"
#include "fuzz.h"
#include "prom.h"

struct ctx {
	const char *text;
	size_t len;
	unsigned last_line;
	unsigned samples;
};

static int on_sample(const struct prom_sample *s, void *arg)
{
	struct ctx *c = arg;
	FUZZ_CHECK(s->name >= c->text && s->name + s->name_len <= c->text + c->len);
	FUZZ_CHECK(s->name_len > 0);
	FUZZ_CHECK(s->labels_len == 0 ||
		   (s->labels >= c->text && s->labels + s->labels_len <= c->text + c->len));
	FUZZ_CHECK(s->line >= c->last_line && s->line >= 1);
	c->last_line = s->line;
	char v[32];
	static const char *const names[] = {"model_name", "engine", "le", "a", ""};
	for (int i = 0; i < 5; i++) {
		memset(v, 'x', sizeof v);
		if (prom_label(s, names[i], v, sizeof v))
			FUZZ_CHECK(memchr(v, '\0', sizeof v) != NULL);
	}
	char one[1];
	(void)prom_label(s, "a", one, sizeof one);
	(void)prom_is(s, "vllm:num_requests_running");
	c->samples++;
	/* Stop early sometimes: the callback's value comes back. */
	return (s->value == 42.0) ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	struct ctx c = {text, size, 0, 0};
	char err[256];
	err[0] = '\0';
	int r = prom_parse(text, size, on_sample, &c, err, sizeof err);
	FUZZ_CHECK(r == 0 || r == 7 || r == -1);
	if (r == -1)
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0);
	/* Without a callback too. */
	int r2 = prom_parse(text, size, NULL, NULL, err, sizeof err);
	FUZZ_CHECK(r2 == 0 || r2 == -1);
	FUZZ_CHECK(r == 7 || r == r2);

	struct agent_load l;
	if (agent_load_parse(text, size, &l, err, sizeof err) == 0) {
		FUZZ_CHECK(l.valid);
		FUZZ_CHECK(l.running >= 0 && l.waiting >= 0);
		FUZZ_CHECK(l.running <= AGENT_LOAD_MAX_REQS && l.waiting <= AGENT_LOAD_MAX_REQS);
		FUZZ_CHECK(l.kv_usage >= 0 && l.kv_usage <= 1);
		FUZZ_CHECK(l.prefix_queries >= 0 && l.prefix_queries <= AGENT_LOAD_MAX_COUNT);
		FUZZ_CHECK(l.prefix_hits >= 0 && l.prefix_hits <= AGENT_LOAD_MAX_COUNT);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(text);
	return 0;
}
