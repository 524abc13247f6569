/* check_reg_workers.c — registry/reg_workers: the worker state machine as a
 * table, registration in place, heartbeats, evictions, reaping, routing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry/reg_workers.h"
#include "../registry/reg_util.h"

#define S REG_W_STARTING
#define R REG_W_READY
#define D REG_W_DRAINING
#define G REG_W_GONE

/* next[state][event], in the order of enum reg_wevent. */
static const struct {
	enum reg_wevent ev;
	enum reg_wstate from[4]; /* S R D G */
	enum reg_wstate to[4];
} table[] = {
	{REG_WEV_REGISTER_STARTING, {S, R, D, G}, {S, S, D, S}},
	{REG_WEV_REGISTER_READY, {S, R, D, G}, {R, R, D, R}},
	{REG_WEV_HB_STARTING, {S, R, D, G}, {S, S, D, G}},
	{REG_WEV_HB_READY, {S, R, D, G}, {R, R, D, G}},
	{REG_WEV_DRAIN, {S, R, D, G}, {D, D, D, G}},
	{REG_WEV_DEREGISTER, {S, R, D, G}, {G, G, G, G}},
	{REG_WEV_EVICT, {S, R, D, G}, {G, G, G, G}},
	{REG_WEV_JOB_ENDED, {S, R, D, G}, {G, G, G, G}},
};

START_TEST(test_state_table)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		for (int s = 0; s < 4; s++)
			ck_assert_msg(reg_wstate_next(table[i].from[s], table[i].ev) == table[i].to[s],
				      "event %d from %s: got %s, want %s", table[i].ev,
				      reg_wstate_name(table[i].from[s]),
				      reg_wstate_name(reg_wstate_next(table[i].from[s], table[i].ev)),
				      reg_wstate_name(table[i].to[s]));
	/* Only ready is routable: no event but a ready one makes a worker ready. */
	enum reg_wstate st;
	ck_assert_int_eq(reg_wstate_parse("draining", &st), 0);
	ck_assert_int_eq(st, REG_W_DRAINING);
	ck_assert_int_eq(reg_wstate_parse("busy", &st), -1);
}
END_TEST

static struct reg_worker *mk(const char *id, const char *model, const char *job, const char *node)
{
	struct reg_worker *w = reg_worker_new();
	w->id = reg_strdup(id);
	w->model = reg_strdup(model);
	w->url = reg_strdup("http://127.0.0.1:9000");
	w->host = reg_strdup("127.0.0.1");
	w->port = 9000;
	w->job_id = reg_strdup(job);
	w->node = reg_strdup(node);
	w->gpus = reg_strdup("0,1");
	w->tp = 2;
	return w;
}

static int hook_calls;
static enum reg_wstate hook_from, hook_to;

static void hook(struct reg_worker *w, enum reg_wstate from, void *arg)
{
	(void)arg;
	hook_calls++;
	hook_from = from;
	hook_to = w->state;
}

START_TEST(test_register_heartbeat_evict)
{
	struct reg_workers t;
	reg_workers_init(&t);
	reg_workers_set_hook(&t, hook, NULL);
	struct reg_worker *a = reg_workers_put(&t, mk("1.n1.0", "m", "1", "n1"), REG_W_STARTING, 100, 1000);
	ck_assert_int_eq(a->state, REG_W_STARTING);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_int_eq(hook_from, REG_W_GONE);
	struct reg_worker *out[4];
	ck_assert_uint_eq(reg_workers_ready(&t, "m", out, 4), 0);

	/* A heartbeat saying ready makes it routable, with its load. */
	struct reg_load l = {3, 1, 0.25, 10, 5, 7};
	ck_assert_ptr_eq(reg_workers_heartbeat(&t, "1.n1.0", true, &l, 101, 2000), a);
	ck_assert_int_eq(a->state, REG_W_READY);
	ck_assert_int_eq(a->load.running, 3);
	ck_assert_uint_eq(reg_workers_ready(&t, "m", out, 4), 1);
	ck_assert_ptr_eq(out[0], a);
	ck_assert_uint_eq(reg_workers_ready(&t, "other", out, 4), 0);
	ck_assert_ptr_null(reg_workers_heartbeat(&t, "9.n9.0", true, NULL, 101, 2000));

	/* Registration again: same pointer, proxy fields kept. */
	a->inflight = 2;
	void *pd = malloc(8); /* the proxy's data: freed with the worker */
	a->proxy = pd;
	reg_worker_ref(a);
	struct reg_worker *a2 = reg_workers_put(&t, mk("1.n1.0", "m", "1", "n1"), REG_W_READY, 102, 2500);
	ck_assert_ptr_eq(a2, a);
	ck_assert_uint_eq(a->inflight, 2);
	ck_assert_ptr_eq(a->proxy, pd);
	ck_assert_uint_eq(a->refs, 1);
	ck_assert_uint_eq(t.n, 1);

	/* 3 s without heartbeat: evicted; the next heartbeat is "unknown". */
	reg_workers_put(&t, mk("1.n1.1", "m", "1", "n1"), REG_W_READY, 102, 2500);
	ck_assert_uint_eq(reg_workers_evict_stale(&t, 3000, 105, 5400), 0);
	reg_workers_heartbeat(&t, "1.n1.1", true, NULL, 104, 4000);
	ck_assert_uint_eq(reg_workers_evict_stale(&t, 3000, 106, 5600), 1);
	ck_assert_int_eq(a->state, REG_W_GONE);
	ck_assert_str_eq(a->gone_cause, "heartbeat_timeout");
	ck_assert_ptr_null(reg_workers_heartbeat(&t, "1.n1.0", true, NULL, 106, 5600));
	ck_assert_int_eq(hook_to, REG_W_GONE);

	/* Registering again brings it back. */
	reg_workers_put(&t, mk("1.n1.0", "m", "1", "n1"), REG_W_STARTING, 107, 6000);
	ck_assert_int_eq(a->state, REG_W_STARTING);
	ck_assert_str_eq(a->gone_cause, "");

	/* Drain keeps it out of routing through heartbeats and registration. */
	reg_workers_heartbeat(&t, "1.n1.0", true, NULL, 107, 6000);
	ck_assert(reg_workers_apply(&t, a, REG_WEV_DRAIN, NULL, 107, 6000));
	reg_workers_heartbeat(&t, "1.n1.0", true, NULL, 107, 6100);
	ck_assert_int_eq(a->state, REG_W_DRAINING);
	reg_workers_put(&t, mk("1.n1.0", "m", "1", "n1"), REG_W_READY, 108, 6200);
	ck_assert_int_eq(a->state, REG_W_DRAINING);
	reg_worker_unref(a);
	reg_workers_free(&t);
}
END_TEST

START_TEST(test_job_and_reap)
{
	struct reg_workers t;
	reg_workers_init(&t);
	/* Enough workers to grow the hash table several times. */
	char id[32];
	for (int j = 0; j < 50; j++)
		for (int s = 0; s < 4; s++) {
			char job[16];
			snprintf(id, sizeof id, "%d.n%d.%d", j, j % 3, s);
			snprintf(job, sizeof job, "%d", j);
			reg_workers_put(&t, mk(id, j % 2 ? "a" : "b", job, j % 3 == 0 ? "n0" : "n1"),
					REG_W_READY, 100, 1000);
		}
	ck_assert_uint_eq(t.n, 200);
	ck_assert_ptr_nonnull(reg_workers_find(&t, "49.n1.3"));
	ck_assert_uint_eq(reg_workers_count(&t, "a", REG_W_READY), 100);
	ck_assert_uint_eq(reg_workers_count(&t, NULL, REG_W_READY), 200);

	/* The job's workers on one node, then all of them. */
	ck_assert_uint_eq(reg_workers_apply_job(&t, "3", "n1", REG_WEV_DEREGISTER, "sigterm", 101, 1100), 0);
	ck_assert_uint_eq(reg_workers_apply_job(&t, "3", "n0", REG_WEV_DEREGISTER, "sigterm", 101, 1100), 4);
	ck_assert_uint_eq(reg_workers_apply_job(&t, "4", NULL, REG_WEV_JOB_ENDED, "job_ended", 101, 1100), 4);
	ck_assert_uint_eq(reg_workers_apply_job(&t, "4", NULL, REG_WEV_JOB_ENDED, "job_ended", 101, 1100), 0);
	ck_assert_str_eq(reg_workers_find(&t, "4.n1.2")->gone_cause, "job_ended");
	ck_assert_uint_eq(reg_workers_count(&t, NULL, REG_W_GONE), 8);

	/* Reaping: kept KEEP ms; a referenced worker stays; MAX_GONE bounds. */
	struct reg_worker *held = reg_workers_find(&t, "3.n0.0");
	reg_worker_ref(held);
	ck_assert_uint_eq(reg_workers_reap(&t, 1000, 100, 1500), 0);
	ck_assert_uint_eq(reg_workers_reap(&t, 1000, 100, 2200), 7);
	ck_assert_ptr_eq(reg_workers_find(&t, "3.n0.0"), held);
	ck_assert_ptr_null(reg_workers_find(&t, "4.n1.2"));
	reg_worker_unref(held);
	reg_workers_apply_job(&t, "5", NULL, REG_WEV_JOB_ENDED, "job_ended", 101, 3000);
	ck_assert_uint_eq(reg_workers_reap(&t, 100000, 2, 3000), 3);
	ck_assert_uint_eq(reg_workers_count(&t, NULL, REG_W_GONE), 2);
	ck_assert_uint_eq(t.n, 190); /* 188 live, 2 gone kept */
	for (size_t i = 0; i < t.n; i++)
		ck_assert_ptr_eq(reg_workers_find(&t, t.v[i]->id), t.v[i]);
	reg_workers_free(&t);
}
END_TEST

START_TEST(test_json)
{
	struct reg_workers t;
	reg_workers_init(&t);
	struct reg_worker *w = reg_workers_put(&t, mk("7.n2.1", "m\"x", "7", "n2"), REG_W_READY, 100.5, 1);
	struct buf b = BUF_INIT;
	reg_worker_json(w, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "\"id\":\"7.n2.1\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"model\":\"m\\\"x\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"state\":\"ready\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"nodes\":[]"));
	ck_assert_ptr_null(strstr(b.data, "requests"));
	buf_free(&b);
	reg_workers_free(&t);
}
END_TEST

Suite *suite_reg_workers(void)
{
	Suite *s = suite_create("reg_workers");
	TCase *tc = tcase_create("workers");
	tcase_add_test(tc, test_state_table);
	tcase_add_test(tc, test_register_heartbeat_evict);
	tcase_add_test(tc, test_job_and_reap);
	tcase_add_test(tc, test_json);
	suite_add_tcase(s, tc);
	return s;
}
