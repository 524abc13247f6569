/* check_sim_sched.c — sim/sim_sched: continuous batching on a fake clock. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/sim_sched.h"

#define MAXEV 256

struct rec {
	struct sim_sched *s;
	int ntok;
	struct { int id; uint32_t idx; uint64_t t; } tok[MAXEV];
	int nfin;
	struct { int id; enum sim_finish why; uint64_t t; } fin[MAXEV];
	int abort_at_token; /* abort seq abort_id when this many tokens seen */
	struct sim_seq *abort_seq;
};

static void on_token(struct sim_seq *q, uint32_t idx, uint64_t now, void *arg)
{
	struct rec *r = arg;
	r->tok[r->ntok].id = (int)(intptr_t)q->ctx;
	r->tok[r->ntok].idx = idx;
	r->tok[r->ntok].t = now;
	r->ntok++;
	if (r->abort_seq && r->ntok == r->abort_at_token)
		sim_sched_abort(r->s, r->abort_seq, now);
}

static void on_finish(struct sim_seq *q, enum sim_finish why, uint64_t now, void *arg)
{
	struct rec *r = arg;
	r->fin[r->nfin].id = (int)(intptr_t)q->ctx;
	r->fin[r->nfin].why = why;
	r->fin[r->nfin].t = now;
	r->nfin++;
}

static const struct sim_sched_ops ops = {on_token, on_finish};

static void seq(struct sim_seq *q, int id, size_t nprompt, uint32_t nout)
{
	memset(q, 0, sizeof *q);
	q->ctx = (void *)(intptr_t)id;
	q->nprompt = nprompt;
	q->nout = nout;
	q->reason = SIM_FINISH_LENGTH;
}

/* Advances the clock from deadline to deadline until idle. */
static void run(struct sim_sched *s)
{
	uint64_t t;
	while ((t = sim_sched_next(s)) != UINT64_MAX)
		sim_sched_advance(s, t);
}

START_TEST(test_timing)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {100, 10, 20, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 8, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a;
	seq(&a, 1, 100, 3);
	sim_sched_submit(&s, &a, 0);
	ck_assert_int_eq(r.ntok, 0);
	ck_assert_uint_eq(s.running.n, 1);
	ck_assert_uint_eq(sim_sched_next(&s), 100000 + 1000);
	ck_assert_uint_eq(sim_sched_advance(&s, 100999), 101000);
	ck_assert_int_eq(r.ntok, 0);
	ck_assert_uint_eq(sim_sched_advance(&s, 101000), 121000);
	ck_assert_int_eq(r.ntok, 1);
	run(&s);
	ck_assert_int_eq(r.ntok, 3);
	ck_assert_uint_eq(r.tok[2].t, 141000);
	ck_assert_int_eq(r.nfin, 1);
	ck_assert_int_eq(r.fin[0].why, SIM_FINISH_LENGTH);
	ck_assert_uint_eq(s.running.n, 0);
	ck_assert(sim_kv_usage(kv) == 0.0);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_max_seqs_fifo)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {10, 0, 10, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 2, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq q[5];
	for (int i = 0; i < 5; i++) {
		seq(&q[i], i, 10, 2 + (uint32_t)i);
		sim_sched_submit(&s, &q[i], 0);
	}
	ck_assert_uint_eq(s.running.n, 2);
	ck_assert_uint_eq(s.waiting.n, 3);
	run(&s);
	ck_assert_int_eq(r.nfin, 5);
	/* Admitted in order: 2 starts when 0 finishes, and so on. */
	ck_assert_int_eq(r.fin[0].id, 0);
	ck_assert_int_eq(r.fin[1].id, 1);
	ck_assert_int_eq(r.fin[2].id, 2);
	ck_assert_uint_eq(q[2].t_admit, r.fin[0].t);
	ck_assert_uint_eq(q[3].t_admit, r.fin[1].t);
	ck_assert_uint_eq(s.waiting.n, 0);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_kv_full_waits)
{
	struct sim_kv *kv = sim_kv_new(4, 4, true);
	struct sim_timing tm = {1, 0, 1, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 8, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a, b, c;
	seq(&a, 1, 8, 4); /* 3 blocks */
	seq(&b, 2, 8, 4); /* 3 blocks: must wait for a */
	seq(&c, 3, 2, 1); /* 1 block: fits, but may not overtake b */
	sim_sched_submit(&s, &a, 0);
	sim_sched_submit(&s, &b, 0);
	sim_sched_submit(&s, &c, 0);
	ck_assert_uint_eq(s.running.n, 1);
	ck_assert_uint_eq(s.waiting.n, 2);
	run(&s);
	ck_assert_int_eq(r.nfin, 3);
	ck_assert_int_eq(r.fin[0].id, 1);
	ck_assert_uint_ge(b.t_admit, r.fin[0].t);
	ck_assert_uint_ge(c.t_admit, b.t_admit);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_prefix_cache_ttft)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {10, 1000, 10, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 8, &tm, &ops, &r);
	r.s = &s;
	uint32_t toks[64];
	uint64_t h[4];
	for (int i = 0; i < 64; i++)
		toks[i] = 5000u + (uint32_t)i;
	size_t nh = sim_kv_hashes(kv, toks, 64, 0, h);
	struct sim_seq a, b;
	seq(&a, 1, 64, 1);
	a.hashes = h;
	a.nhash = nh;
	b = a;
	b.ctx = (void *)2;
	sim_sched_submit(&s, &a, 0);
	run(&s);
	ck_assert_uint_eq(r.tok[0].t, 10000 + 64000);
	sim_sched_submit(&s, &b, 1000000);
	run(&s);
	ck_assert_int_eq(b.cached, 48);
	ck_assert_uint_eq(r.tok[1].t - 1000000, 10000 + 16000);
	ck_assert_uint_eq(kv->hits, 48);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_abort)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {1, 0, 1, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 1, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a, b, c;
	seq(&a, 1, 4, 10);
	seq(&b, 2, 4, 10);
	seq(&c, 3, 4, 2);
	sim_sched_submit(&s, &a, 0);
	sim_sched_submit(&s, &b, 0);
	sim_sched_submit(&s, &c, 0);
	/* A waiting one: finished at once. */
	sim_sched_abort(&s, &b, 0);
	ck_assert_int_eq(r.nfin, 1);
	ck_assert_int_eq(r.fin[0].id, 2);
	ck_assert_int_eq(r.fin[0].why, SIM_FINISH_ABORT);
	ck_assert_uint_eq(s.waiting.n, 1);
	/* A running one, from inside its own token callback. */
	r.abort_seq = &a;
	r.abort_at_token = 3;
	run(&s);
	ck_assert_int_eq(r.nfin, 3);
	ck_assert_int_eq(r.fin[1].id, 1);
	ck_assert_int_eq(r.fin[1].why, SIM_FINISH_ABORT);
	ck_assert_int_eq(r.fin[2].id, 3);
	ck_assert_int_eq(r.fin[2].why, SIM_FINISH_LENGTH);
	ck_assert(sim_kv_usage(kv) == 0.0);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_zero_time_scale)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {100, 100, 100, 100, 0};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 4, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a;
	seq(&a, 1, 100, 50);
	sim_sched_submit(&s, &a, 42);
	ck_assert_int_eq(r.ntok, 50);
	ck_assert_int_eq(r.nfin, 1);
	ck_assert_uint_eq(r.fin[0].t, 42);
	ck_assert_uint_eq(sim_sched_next(&s), UINT64_MAX);
	sim_kv_free(kv);
}
END_TEST

START_TEST(test_itl_per_seq)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {0, 0, 10, 1000, 2};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 4, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a, b;
	seq(&a, 1, 4, 2);
	seq(&b, 2, 4, 2);
	sim_sched_submit(&s, &a, 0);
	sim_sched_submit(&s, &b, 0);
	/* First tokens at 0. a's next came due with one sequence running,
	 * (10 ms + 1 x 1 ms) x 2; b's with two, (10 ms + 2 x 1 ms) x 2. */
	ck_assert_int_eq(r.ntok, 2);
	ck_assert_uint_eq(a.t_next, 22000);
	ck_assert_uint_eq(b.t_next, 24000);
	ck_assert_uint_eq(sim_sched_next(&s), 22000);
	sim_sched_pause(&s, true);
	ck_assert_uint_eq(sim_sched_next(&s), UINT64_MAX);
	sim_sched_advance(&s, 100000);
	ck_assert_int_eq(r.ntok, 2);
	sim_sched_pause(&s, false);
	run(&s);
	ck_assert_int_eq(r.nfin, 2);
	sim_kv_free(kv);
}
END_TEST

/* A late timer does not make tokens burst: the next comes an ITL later. */
START_TEST(test_late_timer)
{
	struct sim_kv *kv = sim_kv_new(100, 16, true);
	struct sim_timing tm = {0, 0, 10, 0, 1};
	struct rec r = {0};
	struct sim_sched s;
	sim_sched_init(&s, kv, 4, &tm, &ops, &r);
	r.s = &s;
	struct sim_seq a;
	seq(&a, 1, 4, 5);
	sim_sched_submit(&s, &a, 0);
	ck_assert_int_eq(r.ntok, 1);
	sim_sched_advance(&s, 35000); /* due at 10000, 25 ms late */
	ck_assert_int_eq(r.ntok, 2);
	ck_assert_uint_eq(sim_sched_next(&s), 45000);
	run(&s);
	ck_assert_int_eq(r.nfin, 1);
	sim_kv_free(kv);
}
END_TEST

Suite *suite_sim_sched(void)
{
	Suite *s = suite_create("sim_sched");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_timing);
	tcase_add_test(tc, test_max_seqs_fifo);
	tcase_add_test(tc, test_kv_full_waits);
	tcase_add_test(tc, test_prefix_cache_ttft);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_zero_time_scale);
	tcase_add_test(tc, test_itl_per_seq);
	tcase_add_test(tc, test_late_timer);
	suite_add_tcase(s, tc);
	return s;
}
