/* check_fuzz.c — the fuzz targets' committed inputs as unit tests.
 *
 * Every tests/fuzz/fuzz_NAME.c is compiled into the unit runner too, its
 * LLVMFuzzerTestOneInput renamed fuzz_one_NAME (the Makefile lists them in
 * fuzz_targets.h). This suite feeds each of them every file of
 * tests/fuzz/corpus/NAME (the seeds) and tests/fuzz/regress/NAME (inputs
 * that once crashed: each also has a unit test in its module's suite), so
 * that `make check` replays them under ASan and UBSan without clang.
 * A target checks its invariants itself and aborts when one is violated.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define FUZZ(name) int fuzz_one_##name(const uint8_t *data, size_t size);
#include "fuzz_targets.h"
#undef FUZZ

struct fz_target {
	const char *name;
	int (*one)(const uint8_t *data, size_t size);
};

static const struct fz_target fz_targets[] = {
#define FUZZ(name) {#name, fuzz_one_##name},
#include "fuzz_targets.h"
#undef FUZZ
	{NULL, NULL},
};

/* The input being replayed, named on stderr if it crashes the target. */
static char fz_current[512];

static void fz_on_crash(int sig)
{
	static const char pre[] = "fuzz replay: crashed on ";
	(void)!write(2, pre, sizeof pre - 1);
	(void)!write(2, fz_current, strlen(fz_current));
	(void)!write(2, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Feeds every file of DIR to T; returns how many. */
static int fz_replay(const struct fz_target *t, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *fp = fopen(path, "rb");
		ck_assert_msg(fp != NULL, "cannot open %s", path);
		struct buf b = BUF_INIT;
		char tmp[4096];
		size_t k;
		while ((k = fread(tmp, 1, sizeof tmp, fp)) > 0)
			buf_append(&b, tmp, k);
		fclose(fp);
		/* An exact-size copy, so that ASan sees a read past the end. */
		uint8_t *in = malloc(b.len ? b.len : 1);
		ck_assert_ptr_nonnull(in);
		if (b.len)
			memcpy(in, b.data, b.len);
		snprintf(fz_current, sizeof fz_current, "%s", path);
		t->one(in, b.len);
		free(in);
		buf_free(&b);
		n++;
	}
	closedir(d);
	return n;
}

START_TEST(test_replay)
{
	const struct fz_target *t = &fz_targets[_i];
	char dir[256];
	signal(SIGABRT, fz_on_crash);
	signal(SIGSEGV, fz_on_crash);
	snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", t->name);
	int seeds = fz_replay(t, dir);
	snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", t->name);
	int regress = fz_replay(t, dir);
	ck_assert_msg(seeds > 0, "fuzz target %s has no seeds in tests/fuzz/corpus/%s", t->name,
		      t->name);
	(void)regress;
}
END_TEST

Suite *suite_fuzz(void)
{
	Suite *s = suite_create("fuzz");
	for (int i = 0; fz_targets[i].name; i++) {
		TCase *tc = tcase_create(fz_targets[i].name);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, test_replay, i, i + 1);
		suite_add_tcase(s, tc);
	}
	return s;
}
