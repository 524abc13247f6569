/* check_gpu.c — lib/gpu: splitting a job's GPUs into slices. */
#include <check.h>
#include <string.h>

#include "gpu.h"

#define UUID_A "GPU-8f1e2b3c-1111-2222-3333-444455556666"
#define UUID_B "GPU-8f1e2b3c-1111-2222-3333-444455556667"
#define MIG_A "MIG-4f1e2b3c-1111-2222-3333-444455556666"
#define MIG_OLD "MIG-GPU-8f1e2b3c-1111-2222-3333-444455556666/1/0"

static void expect_plan(const char *devs, int size, size_t nslices, const char *const *csv)
{
	struct gpu_plan plan;
	char err[256] = "";
	ck_assert_msg(gpu_plan(devs, size, &plan, err, sizeof err) == 0, "%s: %s", devs, err);
	ck_assert_uint_eq(plan.nslices, nslices);
	for (size_t i = 0; i < nslices; i++) {
		ck_assert_str_eq(plan.slices[i].csv, csv[i]);
		ck_assert_uint_eq(plan.slices[i].n, (size_t)size);
	}
	gpu_plan_free(&plan);
}

static void expect_error(const char *devs, int size, const char *msg)
{
	struct gpu_plan plan;
	char err[256] = "";
	ck_assert_msg(gpu_plan(devs, size, &plan, err, sizeof err) == -1, "%s accepted", devs);
	ck_assert_msg(strstr(err, msg), "%s: got \"%s\", want \"%s\"", devs, err, msg);
	ck_assert_ptr_null(plan.slices);
}

START_TEST(test_indices)
{
	const char *a[] = {"0,1", "2,3", "4,5", "6,7"};
	expect_plan("0,1,2,3,4,5,6,7", 2, 4, a);
	const char *b[] = {"4,5,6,7"};
	expect_plan("4,5,6,7", 4, 1, b);
	const char *c[] = {"5", "7", "12"};
	expect_plan("5,7,12", 1, 3, c);
}
END_TEST

START_TEST(test_uuids)
{
	const char *a[] = {UUID_A "," UUID_B};
	expect_plan(UUID_A "," UUID_B, 2, 1, a);
	const char *b[] = {MIG_A, MIG_OLD};
	expect_plan(MIG_A "," MIG_OLD, 1, 2, b);
}
END_TEST

START_TEST(test_errors)
{
	expect_error("", 2, "no GPUs");
	expect_error(NULL, 2, "no GPUs");
	expect_error("NoDevFiles", 1, "NoDevFiles");
	expect_error("0,,1", 1, "empty entry 2");
	expect_error("0,1,", 1, "empty entry 3");
	expect_error("0,1,1,2", 2, "GPU \"1\" appears twice");
	expect_error("0, 1", 1, "malformed GPU \" 1\"");
	expect_error("01,2", 1, "malformed GPU \"01\"");
	expect_error("GPU-xyz", 1, "malformed GPU \"GPU-xyz\"");
	expect_error("-1", 1, "malformed GPU");
	expect_error("MIG-GPU-8f1e2b3c-1111-2222-3333-444455556666/1", 1, "malformed GPU");
	expect_error("0," UUID_A, 1, "mixes indices and UUIDs");
	expect_error("0,1,2", 2, "3 GPUs (0,1,2) cannot be split into slices of 2");
	expect_error("0", 0, "invalid slice size 0");
}
END_TEST

Suite *suite_gpu(void)
{
	Suite *s = suite_create("gpu");
	TCase *tc = tcase_create("plan");
	tcase_add_test(tc, test_indices);
	tcase_add_test(tc, test_uuids);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}
