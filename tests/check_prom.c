/* check_prom.c — lib/prom and the agent's load scraping (agent_metrics.c)
 * on real vLLM and SGLang /metrics pages (tests/data, see its README). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "buf.h"
#include "prom.h"

static char *pm_read(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof path, "tests/data/%s", name);
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s (run from the repository root)", path);
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
		buf_append(&b, tmp, n);
	fclose(fp);
	*len = b.len;
	return buf_steal(&b);
}

struct pm_count {
	int samples;
	int with_ts;
	double last;
	char last_name[128];
};

static int pm_counter(const struct prom_sample *s, void *arg)
{
	struct pm_count *c = arg;
	c->samples++;
	c->with_ts += s->has_ts;
	c->last = s->value;
	snprintf(c->last_name, sizeof c->last_name, "%.*s", (int)s->name_len, s->name);
	return 0;
}

static void pm_expect_bad(const char *text, const char *msg)
{
	char err[256] = "";
	ck_assert_msg(prom_parse(text, strlen(text), NULL, NULL, err, sizeof err) == -1,
		      "accepted: %s", text);
	ck_assert_msg(strstr(err, msg), "\"%s\": got \"%s\", want \"%s\"", text, err, msg);
}

START_TEST(test_parse_basics)
{
	const char *t = "# HELP x A help line\n# TYPE x gauge\n"
			"x 1\n"
			"x_total{a=\"b\",c=\"d \\\"q\\\" \\\\ \\n\",} 2.5e3 1712345678000\r\n"
			"\n   \t\n"
			"y:z{} +Inf\n"
			"nan_one NaN\n"
			"neg -Inf\n"
			"last 0.25";
	struct pm_count c = {0};
	char err[256];
	ck_assert_int_eq(prom_parse(t, strlen(t), pm_counter, &c, err, sizeof err), 0);
	ck_assert_int_eq(c.samples, 6);
	ck_assert_int_eq(c.with_ts, 1);
	ck_assert_str_eq(c.last_name, "last");
	ck_assert(fabs(c.last - 0.25) < 1e-12);
}
END_TEST

static int pm_labels_cb(const struct prom_sample *s, void *arg)
{
	char v[64];
	int *ok = arg;
	if (!prom_is(s, "m"))
		return 0;
	ck_assert(prom_label(s, "c", v, sizeof v));
	ck_assert_str_eq(v, "say \"hi\"\\\n");
	ck_assert(prom_label(s, "a", v, sizeof v));
	ck_assert_str_eq(v, "b");
	ck_assert(!prom_label(s, "zz", v, sizeof v));
	ck_assert_str_eq(v, "");
	ck_assert(prom_label(s, "c", v, 4)); /* truncated, terminated */
	ck_assert_str_eq(v, "say");
	ck_assert(!prom_is(s, "mm"));
	*ok = 1;
	return 7; /* stops the parse */
}

START_TEST(test_labels_and_stop)
{
	const char *t = "m{a=\"b\", c=\"say \\\"hi\\\"\\\\\\n\"} 1\nother 2\n";
	int ok = 0;
	char err[64];
	ck_assert_int_eq(prom_parse(t, strlen(t), pm_labels_cb, &ok, err, sizeof err), 7);
	ck_assert_int_eq(ok, 1);
}
END_TEST

START_TEST(test_malformed)
{
	pm_expect_bad("1abc 2\n", "line 1: invalid metric name");
	pm_expect_bad("ok 1\nx{a=b} 1\n", "line 2: expected a quoted label value");
	pm_expect_bad("x{a=\"b} 1\n", "unterminated label value");
	pm_expect_bad("x{a=\"\\t\"} 1\n", "invalid escape");
	pm_expect_bad("x{a=\"b\" c=\"d\"} 1\n", "expected ',' or '}'");
	pm_expect_bad("x{9=\"b\"} 1\n", "invalid label name");
	pm_expect_bad("x\n", "expected a value");
	pm_expect_bad("x 1.2.3\n", "invalid sample value");
	pm_expect_bad("x 0x10\n", "invalid sample value");
	pm_expect_bad("x infinity\n", "invalid sample value");
	pm_expect_bad("x 1 12.5\n", "invalid timestamp");
	pm_expect_bad("x 1 2 3\n", "after the timestamp");
	pm_expect_bad("x{a=\"b\"}1\n", "expected a value");
}
END_TEST

START_TEST(test_real_pages_parse)
{
	const char *files[] = {"vllm-qwen3-metrics.metrics", "vllm-v0-aibrix-excerpt.metrics",
			       "vllm-v1-0.10-excerpt.metrics", "sglang-metrics.metrics"};
	const int want[] = {58, 13, 5, 91};
	for (size_t i = 0; i < 4; i++) {
		size_t len;
		char *t = pm_read(files[i], &len);
		struct pm_count c = {0};
		char err[256] = "";
		ck_assert_msg(prom_parse(t, len, pm_counter, &c, err, sizeof err) == 0, "%s: %s",
			      files[i], err);
		ck_assert_msg(c.samples == want[i], "%s: %d samples", files[i], c.samples);
		free(t);
	}
}
END_TEST

static void pm_load(const char *file, struct agent_load *l)
{
	size_t len;
	char *t = pm_read(file, &len);
	char err[256] = "";
	ck_assert_msg(agent_load_parse(t, len, l, err, sizeof err) == 0, "%s: %s", file, err);
	ck_assert(l->valid);
	free(t);
}

START_TEST(test_load_vllm)
{
	struct agent_load l;
	pm_load("vllm-qwen3-metrics.metrics", &l);
	ck_assert_int_eq(l.running, 0);
	ck_assert_int_eq(l.waiting, 0);
	ck_assert(l.kv_usage == 0.0);
	pm_load("vllm-v0-aibrix-excerpt.metrics", &l);
	ck_assert_int_eq(l.running + l.waiting, 0);
	/* V0's hit *rates* (-1 when off) are not counters: not used. */
	ck_assert(l.prefix_queries == 0 && l.prefix_hits == 0);
	pm_load("vllm-v1-0.10-excerpt.metrics", &l);
	ck_assert(fabs(l.kv_usage - 9.75010481363281e-06) < 1e-15); /* the new KV name */
	ck_assert(l.prefix_queries == 32.0);                        /* new prefix names */
	ck_assert(l.prefix_hits == 0.0);
}
END_TEST

START_TEST(test_load_sglang)
{
	struct agent_load l;
	pm_load("sglang-metrics.metrics", &l);
	ck_assert_int_eq(l.running, 162);
	ck_assert_int_eq(l.waiting, 2826);
	ck_assert(fabs(l.kv_usage - 0.28) < 1e-12);
}
END_TEST

/* The page shapes around the samples: data-parallel ranks add up, SGLang's
 * per-tp-rank copies and priority buckets do not, the new KV name wins. */
START_TEST(test_load_shapes)
{
	const char *dp = "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n"
			 "vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 4.0\n"
			 "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 1.0\n"
			 "vllm:num_requests_waiting{engine=\"1\",model_name=\"m\"} 2.0\n"
			 "vllm:gpu_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.9\n"
			 "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.25\n"
			 "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"m\"} 0.5\n"
			 "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m\"} 1000.0\n"
			 "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"m\"} 750.0\n"
			 "vllm:gpu_prefix_cache_queries_total{engine=\"0\",model_name=\"m\"} 1.0\n"
			 "vllm:prefix_cache_queries_created{engine=\"0\",model_name=\"m\"} 1.7e9\n";
	struct agent_load l;
	char err[128];
	ck_assert_int_eq(agent_load_parse(dp, strlen(dp), &l, err, sizeof err), 0);
	ck_assert_int_eq(l.running, 7);
	ck_assert_int_eq(l.waiting, 3);
	ck_assert(l.kv_usage == 0.5);
	ck_assert(l.prefix_queries == 1000.0 && l.prefix_hits == 750.0);

	const char *sg = "sglang:num_running_reqs{engine_type=\"unified\",model_name=\"m\",tp_rank=\"0\"} 4.0\n"
			 "sglang:num_running_reqs{engine_type=\"unified\",model_name=\"m\",tp_rank=\"1\"} 4.0\n"
			 "sglang:num_queue_reqs{model_name=\"m\",priority=\"\"} 3.0\n"
			 "sglang:num_queue_reqs{model_name=\"m\",priority=\"1\"} 2.0\n"
			 "sglang:num_queue_reqs{model_name=\"m\",priority=\"2\"} 1.0\n"
			 "sglang:token_usage{model_name=\"m\"} 1.5\n"
			 "sglang:prompt_tokens_total{model_name=\"m\"} 500\n"
			 "sglang:cached_tokens_total{model_name=\"m\"} 200\n";
	ck_assert_int_eq(agent_load_parse(sg, strlen(sg), &l, err, sizeof err), 0);
	ck_assert_int_eq(l.running, 4);
	ck_assert_int_eq(l.waiting, 3);
	ck_assert(l.kv_usage == 1.0); /* clamped */
	ck_assert(l.prefix_queries == 500 && l.prefix_hits == 200);

	const char *none = "process_open_fds 6.0\n";
	ck_assert_int_eq(agent_load_parse(none, strlen(none), &l, err, sizeof err), -1);
	ck_assert(!l.valid);
	const char *bad = "vllm:num_requests_running{ 3\n";
	ck_assert_int_eq(agent_load_parse(bad, strlen(bad), &l, err, sizeof err), -1);
	const char *nan = "vllm:num_requests_running NaN\nvllm:num_requests_waiting 2\n";
	ck_assert_int_eq(agent_load_parse(nan, strlen(nan), &l, err, sizeof err), 0);
	ck_assert_int_eq(l.running, 0);
	ck_assert_int_eq(l.waiting, 2);
}
END_TEST

/* Found by tests/fuzz/fuzz_prom: a huge gauge was cast to int (undefined
 * behaviour), and huge or negative counters went into the heartbeat as they
 * were, which the registry refuses whole: one engine's odd page got every
 * worker of its node evicted. Whatever the page says, the load is in range. */
START_TEST(test_load_out_of_range)
{
	struct agent_load l;
	char err[256];
	const char *huge = "vllm:num_requests_running 1e300\n"
			   "vllm:num_requests_waiting{engine=\"0\"} 1.7e308\n"
			   "vllm:num_requests_waiting{engine=\"1\"} 1.7e308\n"
			   "vllm:kv_cache_usage_perc -3\n"
			   "vllm:prefix_cache_queries_total 1e300\n"
			   "vllm:prefix_cache_hits_total -5\n";
	ck_assert_int_eq(agent_load_parse(huge, strlen(huge), &l, err, sizeof err), 0);
	ck_assert_int_eq(l.running, (int)AGENT_LOAD_MAX_REQS);
	ck_assert_int_eq(l.waiting, (int)AGENT_LOAD_MAX_REQS); /* inf after the sum */
	ck_assert(l.kv_usage == 0);
	ck_assert(l.prefix_queries == AGENT_LOAD_MAX_COUNT);
	ck_assert(l.prefix_hits == 0);
	const char *neg = "vllm:num_requests_running -2.5\nvllm:num_requests_waiting 2.4\n";
	ck_assert_int_eq(agent_load_parse(neg, strlen(neg), &l, err, sizeof err), 0);
	ck_assert_int_eq(l.running, 0);
	ck_assert_int_eq(l.waiting, 2);
}
END_TEST

Suite *suite_prom(void)
{
	Suite *s = suite_create("prom");
	TCase *tc = tcase_create("prom");
	tcase_add_test(tc, test_parse_basics);
	tcase_add_test(tc, test_labels_and_stop);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_real_pages_parse);
	tcase_add_test(tc, test_load_vllm);
	tcase_add_test(tc, test_load_sglang);
	tcase_add_test(tc, test_load_shapes);
	tcase_add_test(tc, test_load_out_of_range);
	suite_add_tcase(s, tc);
	return s;
}
