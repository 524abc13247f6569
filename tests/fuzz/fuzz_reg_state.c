/* fuzz_reg_state.c — the registry's state file (registry/reg_state.c):
 * any file is either refused with a message (the registry then moves it
 * aside) or loaded; a loaded state written back and read again is the
 * same state (what a restart adopts is what was saved). */
#include <json-c/json.h>

#include "buf.h"
#include "fuzz.h"
#include "reg_pools.h"
#include "reg_state.h"

#define NOW 1700000000.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	struct reg_pools p;
	char err[512];
	reg_pools_init(&p);
	err[0] = '\0';
	if (reg_state_decode((const char *)data, size, &p, err, sizeof err) < 0) {
		FUZZ_CHECK(p.n == 0);
		FUZZ_CHECK(err[0] != '\0');
		reg_pools_free(&p);
		return 0;
	}
	for (size_t i = 0; i < p.n; i++) {
		const struct reg_pool *pool = p.v[i];
		FUZZ_CHECK(pool->cfg && strcmp(pool->name, pool->cfg->name) == 0);
		FUZZ_CHECK(reg_pools_find(&p, pool->name) == pool);
		for (size_t k = 0; k < pool->njobs; k++) {
			const struct reg_job *j = pool->jobs[k];
			FUZZ_CHECK(memchr(j->id, '\0', sizeof j->id));
			FUZZ_CHECK(memchr(j->nodes, '\0', sizeof j->nodes));
			FUZZ_CHECK(j->state >= REG_J_SUBMITTING && j->state <= REG_J_ENDED);
		}
	}
	struct buf a = BUF_INIT, b = BUF_INIT;
	reg_state_encode(&p, NOW, &a);
	struct reg_pools q;
	reg_pools_init(&q);
	if (reg_state_decode(a.data, a.len, &q, err, sizeof err) < 0) {
		fprintf(stderr, "a written state does not load again: %s\n%s", err, a.data);
		abort();
	}
	reg_state_encode(&q, NOW, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
		fprintf(stderr, "write, load, write differs:\n%s\n---\n%s", a.data, b.data);
		abort();
	}
	buf_free(&a);
	buf_free(&b);
	reg_pools_free(&q);
	reg_pools_free(&p);
	return 0;
}
