/* check_reg_body.c — the control API's request bodies (registry/reg_body.c):
 * what each endpoint accepts, and the bad-input matrix: not JSON, not UTF-8,
 * nested too deep, wrong types, missing fields, huge arrays, a worker URL
 * that disagrees with its host or port. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "model.h"
#include "../registry/reg_body.h"

#define REG_OK(body)                                                                    \
	do {                                                                            \
		struct reg_body_register rb;                                            \
		char err[300] = "";                                                     \
		ck_assert_msg(reg_body_register(body, strlen(body), &rb, err, sizeof err) == 0, \
			      "%s: %s", body, err);                                     \
		reg_worker_free(rb.w);                                                  \
	} while (0)

/* Expects BODY refused with ERR containing WANT. */
static void reg_bad(const char *body, size_t len, const char *want)
{
	struct reg_body_register rb;
	char err[300] = "";
	ck_assert_msg(reg_body_register(body, len, &rb, err, sizeof err) == -1, "accepted %s", body);
	ck_assert_ptr_null(rb.w);
	ck_assert_msg(strstr(err, want), "%s: got \"%s\", want \"%s\"", body, err, want);
}
#define REG_BAD(body, want) reg_bad(body, strlen(body), want)

START_TEST(test_register)
{
	struct reg_body_register rb;
	char err[300];
	const char *b = "{\"id\":\"12.n1.0\",\"model\":\"m\",\"url\":\"http://n1:28000\",\"host\":\"N1\","
			"\"port\":28000,\"job_id\":\"12\",\"node\":\"n1\",\"slice\":1,\"gpus\":\"2,3\","
			"\"tp\":2,\"job_end\":1700000000.5,\"state\":\"ready\",\"nodes\":[\"n1\",\"n2\"],"
			"\"unknown\":{\"ignored\":[1]}}";
	ck_assert_int_eq(reg_body_register(b, strlen(b), &rb, err, sizeof err), 0);
	ck_assert_str_eq(rb.w->id, "12.n1.0");
	ck_assert_str_eq(rb.w->host, "n1");
	ck_assert_int_eq(rb.w->port, 28000);
	ck_assert_int_eq(rb.w->slice, 1);
	ck_assert_int_eq(rb.w->tp, 2);
	ck_assert_uint_eq(rb.w->nnodes, 2);
	ck_assert_str_eq(rb.w->nodes[1], "n2");
	ck_assert_int_eq(rb.want, REG_W_READY);
	reg_worker_free(rb.w);
	/* Defaults: host and port from the URL, one node, starting. */
	const char *min = "{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://[::1]:9\",\"job_id\":\"1_2\",\"node\":\"a\"}";
	ck_assert_int_eq(reg_body_register(min, strlen(min), &rb, err, sizeof err), 0);
	ck_assert_str_eq(rb.w->host, "::1");
	ck_assert_int_eq(rb.w->port, 9);
	ck_assert_uint_eq(rb.w->nnodes, 1);
	ck_assert_str_eq(rb.w->nodes[0], "a");
	ck_assert_int_eq(rb.want, REG_W_STARTING);
	reg_worker_free(rb.w);
	REG_OK("{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://a:9/prefix\",\"job_id\":\"1\",\"node\":\"a\",\"host\":\"\"}");
}
END_TEST

START_TEST(test_register_bad)
{
#define W(x) "{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"" x "}"
	REG_BAD("", "body is empty");
	REG_BAD("[]", "must be a JSON object");
	REG_BAD("{", "unexpected end of input");
	REG_BAD("{\"id\":1}", "'id' must be a string");
	REG_BAD("{\"model\":\"m\"}", "'id' is required");
	REG_BAD(W(",\"state\":\"gone\""), "'state' must be \"starting\" or \"ready\"");
	REG_BAD(W(",\"port\":0"), "'port' must be an integer between 1 and 65535");
	REG_BAD(W(",\"port\":\"9\""), "'port' must be an integer");
	REG_BAD(W(",\"tp\":1.5"), "'tp' must be an integer");
	REG_BAD(W(",\"job_end\":\"x\""), "'job_end' must be a number");
	REG_BAD(W(",\"nodes\":\"n1\""), "'nodes' must be an array");
	REG_BAD(W(",\"nodes\":[\"n1\",2]"), "item 1 is not");
	REG_BAD(W(",\"nodes\":[\"\"]"), "item 0 is not");
	REG_BAD(W(",\"gpus\":\"0\\n1\""), "'gpus' must be printable");
	/* A missing or non-string model. */
	REG_BAD("{\"id\":\"1.a.0\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'model' is required");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":7,\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'model' must be a string");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"../x\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'model': name starts with '.'");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"a/../b\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'model': name contains \"..\"");
	/* Job ids are numbers (they name files and go to scancel). */
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"../1\",\"node\":\"a\"}", "'job_id' must be a SLURM job id");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1; rm\",\"node\":\"a\"}", "'job_id' must be a SLURM job id");
	/* The URL is where requests go: host and port cannot name another place. */
	REG_BAD(W(",\"host\":\"b\""), "'host' must be the host of 'url' (a)");
	REG_BAD(W(",\"port\":10"), "'port' must be the port of 'url' (9)");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"https://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'url': https is not supported");
	REG_BAD("{\"id\":\"1.a.0\",\"model\":\"m\",\"url\":\"http://u@a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'url': bad character in the host");
	/* Strings carry no control characters, no NUL, only UTF-8. */
	REG_BAD(W(",\"id\":\"1.a.0\\u0000x\""), "must not contain a NUL");
	REG_BAD("{\"id\":\"1.a.\\u0007\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "'id' must not contain control characters");
	/* found by tests/fuzz/fuzz_reg_api: an id that was not UTF-8 went into
	   the table and every reply that listed it was invalid JSON */
	REG_BAD("{\"id\":\"1.a.\xff\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "not valid JSON");
	REG_BAD("{\"id\":\"1.a.\xc0\xaf\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "not valid JSON");
	REG_BAD("{\"id\":\"1.a.\xed\xa0\x80\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}", "not valid JSON");
	reg_bad("{\"id\":\"1\"}\0{}", 14, "contains a NUL byte");
	REG_BAD("{\"id\":\"1\"} {}", "not valid JSON");
	REG_BAD("{\"id\":\"1\",}", "not valid JSON");
	REG_BAD("{/*c*/\"id\":\"1\"}", "not valid JSON");
	/* Deeply nested (ignored) fields: refused before any recursion matters. */
	struct buf deep = BUF_INIT;
	buf_puts(&deep, "{\"x\":");
	for (int i = 0; i < 100000; i++)
		buf_putc(&deep, '[');
	for (int i = 0; i < 100000; i++)
		buf_putc(&deep, ']');
	buf_putc(&deep, '}');
	reg_bad(deep.data, deep.len, "not valid JSON");
	buf_free(&deep);
	/* Overlong fields. */
	struct buf lng = BUF_INIT;
	buf_puts(&lng, "{\"id\":\"");
	for (int i = 0; i < 300; i++)
		buf_putc(&lng, 'a');
	buf_puts(&lng, "\",\"model\":\"m\",\"url\":\"http://a:9\",\"job_id\":\"1\",\"node\":\"a\"}");
	reg_bad(lng.data, lng.len, "'id' is longer than 200 bytes");
	buf_free(&lng);
#undef W
}
END_TEST

START_TEST(test_heartbeat)
{
	struct reg_body_heartbeat hb;
	char err[300];
	const char *b = "{\"job_id\":\"1\",\"node\":\"n1\",\"workers\":[{\"id\":\"a\",\"state\":\"ready\","
			"\"load\":{\"running\":1,\"waiting\":2,\"kv_usage\":3,\"prefix_queries\":4,"
			"\"prefix_hits\":5}},{\"id\":\"b\"},{\"id\":\"c\",\"state\":\"draining\"}]}";
	ck_assert_int_eq(reg_body_heartbeat(b, strlen(b), &hb, err, sizeof err), 0);
	ck_assert_uint_eq(hb.n, 3);
	ck_assert_int_eq(hb.v[0].state, REG_W_READY);
	ck_assert(hb.v[0].has_load);
	ck_assert(hb.v[0].load.kv_usage == 1); /* never above full */
	ck_assert_int_eq(hb.v[0].load.requests, -1);
	ck_assert_int_eq(hb.v[1].state, -1);
	ck_assert(!hb.v[1].has_load);
	ck_assert_int_eq(hb.v[2].state, REG_W_DRAINING);
	reg_body_heartbeat_free(&hb);

	static const struct {
		const char *body, *want;
	} bad[] = {
		{"{}", "'workers' must be an array"},
		{"{\"workers\":{}}", "'workers' must be an array"},
		{"{\"workers\":[1]}", "'workers[0]' must be an object"},
		{"{\"workers\":[{}]}", "'workers[0].id' is required"},
		{"{\"workers\":[{\"id\":\"a\"},{\"id\":\"b\",\"state\":\"gone\"}]}", "'workers[1].state' must be"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":[]}]}", "'workers[0].load' must be an object"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":{\"running\":-1}}]}", "'workers[0].load.running'"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":{\"kv_usage\":-0.5}}]}", "'workers[0].load.kv_usage'"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":{\"kv_usage\":NaN}}]}", "'workers[0].load.kv_usage'"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":{\"prefix_hits\":1e300}}]}", "'workers[0].load.prefix_hits'"},
		{"{\"workers\":[{\"id\":\"a\",\"load\":{\"requests\":99999999999999999999}}]}", "'workers[0].load.requests'"},
		{"{\"job_id\":5,\"workers\":[]}", "'job_id' must be a string"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(reg_body_heartbeat(bad[i].body, strlen(bad[i].body), &hb, err, sizeof err) == -1,
			      "accepted %s", bad[i].body);
		ck_assert_msg(strstr(err, bad[i].want), "%s: got \"%s\"", bad[i].body, err);
		ck_assert_uint_eq(hb.n, 0);
	}
	/* At most 4096 entries. */
	struct buf big = BUF_INIT;
	buf_puts(&big, "{\"workers\":[");
	for (int i = 0; i <= REG_BODY_MAX_HB_WORKERS; i++)
		buf_printf(&big, "%s{\"id\":\"w%d\"}", i ? "," : "", i);
	buf_puts(&big, "]}");
	ck_assert_int_eq(reg_body_heartbeat(big.data, big.len, &hb, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "at most 4096"));
	buf_free(&big);
}
END_TEST

START_TEST(test_deregister_ended)
{
	struct reg_body_deregister d;
	char err[300];
	const char *b = "{\"job_id\":\"7\",\"node\":\"n1\",\"ids\":[\"7.n1.0\",\"7.n1.1\"],\"reason\":\"engine_exit\"}";
	ck_assert_int_eq(reg_body_deregister(b, strlen(b), &d, err, sizeof err), 0);
	ck_assert(d.has_ids);
	ck_assert_uint_eq(d.nids, 2);
	ck_assert_str_eq(d.ids[1], "7.n1.1");
	ck_assert_str_eq(d.reason, "engine_exit");
	reg_body_deregister_free(&d);
	const char *all = "{\"job_id\":\"7\",\"reason\":\"sigterm\"}";
	ck_assert_int_eq(reg_body_deregister(all, strlen(all), &d, err, sizeof err), 0);
	ck_assert(!d.has_ids);
	ck_assert_str_eq(d.node, "");
	reg_body_deregister_free(&d);
	const char *bad[] = {"{\"job_id\":\"7\",\"reason\":\"bored\"}", "{\"job_id\":\"7\"}",
			     "{\"reason\":\"sigterm\"}", "{\"job_id\":\"7\",\"reason\":\"sigterm\",\"ids\":[1]}",
			     "{\"job_id\":\"7\",\"reason\":\"sigterm\",\"ids\":\"x\"}", NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(reg_body_deregister(bad[i], strlen(bad[i]), &d, err, sizeof err) == -1,
			      "accepted %s", bad[i]);

	struct reg_body_ended e;
	const char *en = "{\"job_id\":\"7_3\",\"node\":\"n1\",\"reason\":\"preempted\",\"exit_status\":-1,\"signal\":9}";
	ck_assert_int_eq(reg_body_ended(en, strlen(en), &e, err, sizeof err), 0);
	ck_assert_str_eq(e.job_id, "7_3");
	ck_assert_str_eq(e.reason, "preempted");
	ck_assert_int_eq(e.sig, 9);
	const char *dflt = "{\"job_id\":\"7\"}";
	ck_assert_int_eq(reg_body_ended(dflt, strlen(dflt), &e, err, sizeof err), 0);
	ck_assert_str_eq(e.reason, "unknown");
	ck_assert_str_eq(e.node, "?");
	const char *ebad[] = {"{\"job_id\":\"7\",\"reason\":\"eaten\"}", "{\"job_id\":\"7\",\"signal\":200}",
			      "{\"job_id\":\"x\"}", NULL};
	for (int i = 0; ebad[i]; i++)
		ck_assert_msg(reg_body_ended(ebad[i], strlen(ebad[i]), &e, err, sizeof err) == -1,
			      "accepted %s", ebad[i]);
}
END_TEST

START_TEST(test_pool_scale_drain)
{
	struct reg_body_pool p;
	struct buf errs = BUF_INIT;
	bool bad;
	char err[300];
	const char *ok = "{\"config\":\"[model]\\npath = \\\"x/m\\\"\\n\",\"filename\":\"m.toml\"}";
	ck_assert_int_eq(reg_body_pool(ok, strlen(ok), &p, &errs, &bad, err, sizeof err), 0);
	ck_assert_str_eq(p.cfg->name, "m");
	ck_assert_str_eq(p.filename, "m.toml");
	reg_body_pool_free(&p);
	const char *badcfg = "{\"config\":\"[model]\\npath = 1\\n[x]\\n\",\"filename\":\"b.toml\"}";
	ck_assert_int_eq(reg_body_pool(badcfg, strlen(badcfg), &p, &errs, &bad, err, sizeof err), -1);
	ck_assert(bad);
	ck_assert_msg(strstr(errs.data, "b.toml:2:8: model.path must be a string"), "%s", errs.data);
	ck_assert_msg(strstr(errs.data, "\nb.toml:3:"), "%s", errs.data); /* every problem */
	buf_free(&errs);
	const char *nofile = "{\"config\":\"\",\"filename\":\"a\\nb\"}";
	ck_assert_int_eq(reg_body_pool(nofile, strlen(nofile), &p, &errs, &bad, err, sizeof err), -1);
	ck_assert(!bad);
	ck_assert_ptr_nonnull(strstr(err, "'filename'"));
	const char *nocfg = "{\"filename\":\"a\"}";
	ck_assert_int_eq(reg_body_pool(nocfg, strlen(nocfg), &p, &errs, &bad, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "'config' is required"));

	int t;
	ck_assert_int_eq(reg_body_scale("{\"target\":4}", 12, &t, err, sizeof err), 0);
	ck_assert_int_eq(t, 4);
	ck_assert_int_eq(reg_body_scale("{}", 2, &t, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "'target' is required"));
	ck_assert_int_eq(reg_body_scale("{\"target\":-1}", 13, &t, err, sizeof err), -1);
	ck_assert_int_eq(reg_body_scale("{\"target\":\"4\"}", 14, &t, err, sizeof err), -1);

	struct reg_body_drain d;
	ck_assert_int_eq(reg_body_drain("{\"worker\":\"1.n1.0\"}", 19, &d, err, sizeof err), 0);
	ck_assert_str_eq(d.worker, "1.n1.0");
	ck_assert_str_eq(d.job_id, "");
	ck_assert_int_eq(reg_body_drain("{\"job_id\":\"12\"}", 15, &d, err, sizeof err), 0);
	ck_assert_str_eq(d.job_id, "12");
	ck_assert_int_eq(reg_body_drain("{}", 2, &d, err, sizeof err), -1);
	ck_assert_int_eq(reg_body_drain("{\"worker\":\"a\",\"job_id\":\"1\"}", 27, &d, err, sizeof err), -1);
	ck_assert_int_eq(reg_body_drain("{\"job_id\":\"../x\"}", 17, &d, err, sizeof err), -1);
}
END_TEST

Suite *suite_reg_body(void)
{
	Suite *s = suite_create("reg_body");
	TCase *tc = tcase_create("reg_body");
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_register_bad);
	tcase_add_test(tc, test_heartbeat);
	tcase_add_test(tc, test_deregister_ended);
	tcase_add_test(tc, test_pool_scale_drain);
	suite_add_tcase(s, tc);
	return s;
}
