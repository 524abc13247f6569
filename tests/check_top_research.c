/* check_top_research.c — cli/top_research: the research panel of
 * elasticctl top from a progress.json: bars, counts, the tool histogram
 * sorted by calls, the accuracy estimate, stale and missing files. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/top_research.h"

static const char progress[] =
	"{\"version\": 1, \"state\": \"running\", \"pid\": 4242, \"host\": \"login1\", \"model\": \"gpt-oss\","
	" \"concurrency\": 8, \"max_tool_calls\": 50, \"started\": 1000, \"updated\": 1100, \"elapsed\": 100,"
	" \"trajectories\": {\"total\": 2000, \"per_question\": 4, \"done\": 798, \"resumed\": 0, \"failed\": 2,"
	"   \"running\": 8, \"todo\": 2000},"
	" \"questions\": {\"total\": 500, \"done\": 163},"
	" \"tool_calls\": {\"total\": 12622, \"errors\": 0, \"per_trajectory\": 15.82,"
	"   \"by_tool\": {\"find_in_page\": 1385, \"web_search\": 6607, \"open_page\": 4410, \"paper_search\": 220}},"
	" \"usage\": {\"llm_calls\": 13420, \"prompt_tokens\": 1000, \"completion_tokens\": 10},"
	" \"eta\": 150.4,"
	" \"accuracy\": {\"method\": \"substring\", \"trajectories\": 798, \"correct\": 395, \"questions\": 163,"
	"   \"questions_passed\": 111}}";

/* OUT without escape sequences. */
static void plain(const char *s, struct buf *out)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\033') {
			while (*p && !(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z'))
				p++;
			if (p[0] == '[')
				p++;
			while (*p && !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
				p++;
			continue;
		}
		buf_putc(out, *p);
	}
}

START_TEST(test_panel)
{
	struct json_object *p = json_tokener_parse(progress);
	ck_assert_ptr_nonnull(p);
	struct buf b = BUF_INIT, t = BUF_INIT;
	top_research_render(&b, "/runs/ws", p, 0, 100, 1102, 1);
	plain(b.data, &t);
	ck_assert_msg(strstr(t.data, "Research  /runs/ws  running (pid 4242 on login1, updated 2s ago)\n"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "  ##########............... 798/2000 trajectories (40%)  8 running, 2 failed\n"),
		      "%s", t.data);
	ck_assert_msg(strstr(t.data, "  ########................. 163/500 questions\n"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "elapsed 1m40s, ETA 2m30s, 13420 model calls"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "Tool Calls  12622 total, 15.8/traj\n"), "%s", t.data);
	/* Most called first. */
	const char *ws = strstr(t.data, "############............ web_search         6607 ( 52%)\n");
	const char *op = strstr(t.data, "#########................ open_page          4410 ( 35%)\n");
	const char *fi = strstr(t.data, "###...................... find_in_page       1385 ( 11%)\n");
	const char *ps = strstr(t.data, "......................... paper_search        220 (  2%)\n");
	ck_assert_msg(ws && op && fi && ps && ws < op && op < fi && fi < ps, "%s", t.data);
	ck_assert_msg(strstr(t.data, "Traj accuracy:   49.5%  (395/798)\n"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "pass@4 (est):   68.1%  (111/163)\n"), "%s", t.data);
	buf_free(&b);
	buf_free(&t);

	/* The run is gone: it says so. */
	b = (struct buf)BUF_INIT;
	t = (struct buf)BUF_INIT;
	top_research_render(&b, "/runs/ws", p, 1, 100, 1100 + 300, 0);
	plain(b.data, &t);
	ck_assert_msg(strstr(t.data, "running (no update for 5m: the run is gone; run it again to resume)"), "%s",
		      t.data);
	ck_assert_msg(strstr(t.data, "\xe2\x96\x88\xe2\x96\x91"), "UTF-8 bars: %s", t.data);
	buf_free(&b);
	buf_free(&t);
	json_object_put(p);
}
END_TEST

START_TEST(test_panel_files)
{
	char dir[] = "/tmp/check_top_research.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct buf b = BUF_INIT, t = BUF_INIT;
	top_research_panel(&b, dir, 0, 80, 0);
	plain(b.data, &t);
	ck_assert_msg(strstr(t.data, "no progress yet ("), "%s", t.data);
	ck_assert_msg(strstr(t.data, "/progress.json: No such file or directory)"), "%s", t.data);
	buf_free(&b);
	buf_free(&t);
	char path[128];
	snprintf(path, sizeof path, "%s/progress.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"state\": \"do", f);
	fclose(f);
	b = (struct buf)BUF_INIT;
	t = (struct buf)BUF_INIT;
	top_research_panel(&b, dir, 0, 80, 0);
	plain(b.data, &t);
	ck_assert_msg(strstr(t.data, "/progress.json is not a progress file"), "%s", t.data);
	buf_free(&b);
	buf_free(&t);
	/* A finished run without answers: no accuracy part. */
	f = fopen(path, "w");
	fputs("{\"state\": \"done\", \"updated\": 0, \"trajectories\": {\"total\": 4, \"done\": 4},"
	      " \"questions\": {\"total\": 1, \"done\": 1}, \"tool_calls\": {\"total\": 0}, \"accuracy\": null}", f);
	fclose(f);
	b = (struct buf)BUF_INIT;
	t = (struct buf)BUF_INIT;
	top_research_panel(&b, dir, 0, 80, 60);
	plain(b.data, &t);
	ck_assert_msg(strstr(t.data, "done (60s ago)"), "%s", t.data);
	ck_assert_msg(strstr(t.data, "(none yet)"), "%s", t.data);
	ck_assert(!strstr(t.data, "Accuracy"));
	buf_free(&b);
	buf_free(&t);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *suite_top_research(void)
{
	Suite *s = suite_create("top_research");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_panel);
	tcase_add_test(tc, test_panel_files);
	suite_add_tcase(s, tc);
	return s;
}
