/* check_proxy_metrics.c — registry/proxy_metrics: histogram buckets and
 * the Prometheus text. */
#include <check.h>
#include <string.h>

#include "../registry/proxy_metrics.h"

START_TEST(test_hist)
{
	struct proxy_hist h = {0};
	proxy_hist_observe(&h, 0.0001);
	proxy_hist_observe(&h, 0.0005); /* on a bound: that bucket (le) */
	proxy_hist_observe(&h, 0.003);
	proxy_hist_observe(&h, 7200);
	ck_assert_uint_eq(h.count, 4);
	ck_assert_uint_eq(h.b[0], 2);
	ck_assert_uint_eq(h.b[3], 1);
	ck_assert_uint_eq(h.b[PROXY_HIST_N], 1);
	ck_assert(h.sum > 7200 && h.sum < 7200.01);
}
END_TEST

START_TEST(test_render)
{
	struct proxy_stats ps = {0}, ws = {0};
	ps.codes[2] = 7;
	ps.codes[5] = 1;
	ps.errors[PROXY_C_STATUS] = 1;
	ps.retries[PROXY_C_CONNECT] = 2;
	ps.routed[PROXY_WHY_CACHE_HIT] = 5;
	proxy_hist_observe(&ps.ttft, 0.02);
	proxy_hist_observe(&ps.e2e, 0.2);
	ws.codes[2] = 3;
	ws.ejections = 1;
	struct proxy_metrics_row pool = {"m", NULL, &ps, 2, 1, false, 0};
	struct proxy_metrics_row worker = {"m", "12.n\"1.0", &ws, 1, 0, true, 42};
	struct buf b = BUF_INIT;
	proxy_metrics_render(&b, &pool, 1, &worker, 1);
	const char *want[] = {
		"# TYPE elastic_proxy_requests_total counter\n",
		"elastic_proxy_requests_total{pool=\"m\",code=\"2xx\"} 7\n",
		"elastic_proxy_requests_total{pool=\"m\",code=\"5xx\"} 1\n",
		"elastic_proxy_errors_total{pool=\"m\",cause=\"status\"} 1\n",
		"elastic_proxy_retries_total{pool=\"m\",cause=\"connect\"} 2\n",
		"elastic_proxy_routing_total{pool=\"m\",decision=\"cache_hit\"} 5\n",
		"elastic_proxy_inflight{pool=\"m\"} 2\n",
		"elastic_proxy_waiting{pool=\"m\"} 1\n",
		"elastic_proxy_ttft_seconds_bucket{pool=\"m\",le=\"0.01\"} 0\n",
		"elastic_proxy_ttft_seconds_bucket{pool=\"m\",le=\"0.025\"} 1\n",
		"elastic_proxy_ttft_seconds_bucket{pool=\"m\",le=\"+Inf\"} 1\n",
		"elastic_proxy_ttft_seconds_count{pool=\"m\"} 1\n",
		"elastic_proxy_e2e_seconds_sum{pool=\"m\"} 0.200000\n",
		"elastic_proxy_worker_requests_total{pool=\"m\",worker=\"12.n\\\"1.0\",code=\"2xx\"} 3\n",
		"elastic_proxy_worker_inflight{pool=\"m\",worker=\"12.n\\\"1.0\"} 1\n",
		"elastic_proxy_worker_ejected{pool=\"m\",worker=\"12.n\\\"1.0\"} 1\n",
		"elastic_proxy_worker_ejections_total{pool=\"m\",worker=\"12.n\\\"1.0\"} 1\n",
		"elastic_proxy_worker_prefix_blocks{pool=\"m\",worker=\"12.n\\\"1.0\"} 42\n",
		"elastic_proxy_worker_e2e_seconds_count{pool=\"m\",worker=\"12.n\\\"1.0\"} 0\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(strstr(b.data, want[i]), "missing %s", want[i]);
	ck_assert_ptr_null(strstr(b.data, "code=\"4xx\""));
	ck_assert_str_eq(proxy_cause_name(PROXY_C_CLIENT_GONE), "client_gone");
	ck_assert_str_eq(proxy_cause_name((enum proxy_cause)99), "unknown");
	buf_free(&b);
}
END_TEST

Suite *suite_proxy_metrics(void)
{
	Suite *s = suite_create("proxy_metrics");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_hist);
	tcase_add_test(tc, test_render);
	suite_add_tcase(s, tc);
	return s;
}
