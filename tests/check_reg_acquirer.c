/* check_reg_acquirer.c — registry/reg_acquirer: the acquirer's decisions
 * over a table of pools and SLURM job states. Each case lists jobs and the
 * actions expected, written "S" (submit), "C<i>:why" (cancel job i) and
 * "D<i>:why" (drain job i), in the order reg_acq_decide returns them. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../registry/reg_acquirer.h"
#include "../registry/reg_slurm.h"

/* The table leaves trailing fields of a job at zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NOW 100000.0

struct jcase {
	const char *slurm;    /* SLURM state, mapped with reg_slurm_jstate; "SUBMITTING" */
	double submitted;     /* seconds before NOW */
	double started;       /* seconds before NOW; 0 none */
	double ends_in;       /* seconds after NOW; 0 unknown */
	int ready;
	int load;
	int draining;         /* seconds since the drain started, +1 (0: not) */
	int cancel_sent;
	double ready_ago;     /* last ready worker, seconds before NOW; 0 never */
};

struct acase {
	const char *name;
	int target, max_jobs, max_pending;
	int synced;
	double since_ago;     /* registry started this long ago */
	double backoff_in;    /* backoff ends this long after NOW */
	int njobs;
	struct jcase jobs[6];
	const char *want;
};

#define T_START 600000   /* startup timeout (ms) */
#define T_RENEW 600000   /* renew_before (ms) */
#define T_DRAIN 120000   /* drain timeout (ms) */

static const struct acase cases[] = {
	{"not synced: nothing", 2, 2, 4, 0, 9999, 0, 0, {{0}}, ""},
	{"empty pool: up to target", 2, 2, 4, 1, 9999, 0, 0, {{0}}, "S S"},
	{"max_pending bounds submissions", 3, 3, 1, 1, 9999, 0, 0, {{0}}, "S"},
	{"max_jobs bounds the target", 3, 2, 4, 1, 9999, 0, 0, {{0}}, "S S"},
	{"at target: nothing", 2, 2, 4, 1, 9999, 0, 2,
	 {{"PENDING", 5}, {"RUNNING", 50, 40, 3000, 4}}, ""},
	{"requeued job still counts: no duplicate", 2, 2, 4, 1, 9999, 0, 2,
	 {{"REQUEUED", 500, 0}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"pending after a requeue counts", 2, 2, 4, 1, 9999, 0, 2,
	 {{"PENDING", 500, 0}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"completing may be requeued: counts", 2, 2, 4, 1, 9999, 0, 2,
	 {{"COMPLETING", 500, 400}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"submitting counts", 2, 2, 4, 1, 9999, 0, 2,
	 {{"SUBMITTING", 1}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"suspended counts as pending", 2, 2, 4, 1, 9999, 0, 2,
	 {{"SUSPENDED", 500, 400}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"preempted (cancelled) job is replaced", 2, 2, 4, 1, 9999, 0, 2,
	 {{"PREEMPTED", 500, 400}, {"RUNNING", 500, 400, 3000, 4}}, "S"},
	{"cancelled, timeout, failed, node_fail are replaced", 4, 4, 4, 1, 9999, 0, 4,
	 {{"CANCELLED", 500, 400}, {"TIMEOUT", 500, 400}, {"FAILED", 500, 400}, {"NODE_FAIL", 500, 400}},
	 "S S S S"},
	{"a job we cancelled no longer counts", 2, 3, 4, 1, 9999, 0, 2,
	 {{"RUNNING", 500, 400, 3000, 0, 0, 0, 1}, {"RUNNING", 500, 400, 3000, 4}}, "S"},
	{"... but holds its node until it ends", 2, 2, 4, 1, 9999, 0, 2,
	 {{"COMPLETING", 500, 400, 3000, 0, 0, 0, 1}, {"RUNNING", 500, 400, 3000, 4}}, ""},
	{"backoff after sbatch errors", 2, 2, 4, 1, 9999, 30, 0, {{0}}, ""},
	{"backoff blocks only submissions", 0, 2, 4, 1, 9999, 30, 1, {{"PENDING", 5}}, "C0:scale_down"},
	{"scale down: pending first, newest first", 1, 3, 4, 1, 9999, 0, 3,
	 {{"PENDING", 20}, {"PENDING", 10}, {"RUNNING", 500, 400, 3000, 4, 5}},
	 "C1:scale_down C0:scale_down"},
	{"scale down: then the least loaded running", 1, 3, 4, 1, 9999, 0, 3,
	 {{"RUNNING", 500, 400, 3000, 4, 9}, {"RUNNING", 500, 300, 3000, 4, 2}, {"RUNNING", 500, 200, 3000, 4, 7}},
	 "D1:scale_down D2:scale_down"},
	{"scale down: equal load, fewer ready first", 1, 2, 4, 1, 9999, 0, 2,
	 {{"RUNNING", 500, 400, 3000, 4, 0}, {"RUNNING", 500, 300, 3000, 2, 0}}, "D1:scale_down"},
	{"scale to 0: pending cancelled, running drained", 0, 2, 4, 1, 9999, 0, 3,
	 {{"RUNNING", 500, 400, 3000, 4, 3}, {"PENDING", 5}, {"SUBMITTING", 1}},
	 "C1:scale_down D0:scale_down"},
	{"drained and idle: cancelled", 0, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 500, 400, 3000, 4, 0, 5}}, "C0:drained"},
	{"draining and busy: wait", 0, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 500, 400, 3000, 4, 2, 5}}, ""},
	{"draining too long: cancelled anyway", 0, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 500, 400, 3000, 4, 2, 121}}, "C0:drain_timeout"},
	{"draining pending job: cancelled at once", 1, 2, 4, 1, 9999, 0, 2,
	 {{"PENDING", 500, 0, 0, 0, 2, 5}, {"RUNNING", 500, 400, 3000, 4}}, "C0:drained"},
	{"a draining job does not count, but occupies a node", 1, 1, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 500, 400, 3000, 4, 2, 5}}, ""},
	{"a draining job does not count (room below max)", 1, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 500, 400, 3000, 4, 2, 5}}, "S"},
	{"startup timeout: cancelled and replaced", 1, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 900, 700, 3000, 0}}, "C0:startup_timeout S"},
	{"startup timeout at max_jobs: replaced once it has ended", 1, 1, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 900, 700, 3000, 0}}, "C0:startup_timeout"},
	{"startup: not yet", 1, 1, 4, 1, 9999, 0, 1, {{"RUNNING", 900, 500, 3000, 0}}, ""},
	{"startup: counted from the registry's start", 1, 1, 4, 1, 100, 0, 1,
	 {{"RUNNING", 900, 700, 3000, 0}}, ""},
	{"startup: counted from the last ready worker", 1, 1, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 900, 800, 3000, 0, 0, 0, 0, 300}}, ""},
	{"startup: all workers lost for too long", 1, 2, 4, 1, 9999, 0, 1,
	 {{"RUNNING", 9000, 8000, 3000, 0, 0, 0, 0, 700}}, "C0:startup_timeout S"},
	{"renewal: replacement submitted before the end", 2, 2, 4, 1, 99999, 0, 2,
	 {{"RUNNING", 9000, 8000, 100, 4}, {"RUNNING", 500, 400, 8000, 4}}, "S"},
	{"renewal: replacement pending, old one keeps serving", 2, 2, 4, 1, 99999, 0, 3,
	 {{"RUNNING", 9000, 8000, 100, 4}, {"RUNNING", 500, 400, 8000, 4}, {"PENDING", 10}}, ""},
	{"renewal: replacement running, not ready yet", 2, 2, 4, 1, 99999, 0, 3,
	 {{"RUNNING", 9000, 8000, 100, 4}, {"RUNNING", 500, 400, 8000, 4}, {"RUNNING", 10, 5, 9000, 0}}, ""},
	{"renewal: replacement ready, old one drained", 2, 2, 4, 1, 99999, 0, 3,
	 {{"RUNNING", 9000, 8000, 100, 4}, {"RUNNING", 500, 400, 8000, 4}, {"RUNNING", 10, 5, 9000, 4}},
	 "D0:renewed"},
	{"renewal: the lead is at most half the run", 1, 1, 4, 1, 99999, 0, 1,
	 {{"RUNNING", 500, 400, 200, 4}}, "S"},
	{"renewal: a short run is not retiring yet", 1, 1, 4, 1, 99999, 0, 1,
	 {{"RUNNING", 500, 100, 500, 4}}, ""},
	{"renewal: no time limit, no renewal", 1, 1, 4, 1, 99999, 0, 1,
	 {{"RUNNING", 9000, 8000, 0, 4}}, ""},
	{"renewal at target 0: retiring job drained", 0, 1, 4, 1, 99999, 0, 1,
	 {{"RUNNING", 9000, 8000, 100, 4, 3}}, "D0:renewed"},
	{"ended jobs are ignored", 1, 1, 4, 1, 9999, 0, 2,
	 {{"COMPLETED", 900, 700}, {"RUNNING", 500, 400, 3000, 4}}, ""},
};

static void run_case(const struct acase *c)
{
	struct reg_job jobs[6], *ptrs[6];
	memset(jobs, 0, sizeof jobs);
	for (int i = 0; i < c->njobs; i++) {
		const struct jcase *jc = &c->jobs[i];
		struct reg_job *j = &jobs[i];
		snprintf(j->id, sizeof j->id, "%d", 100 + i);
		j->state = strcmp(jc->slurm, "SUBMITTING") == 0 ? REG_J_SUBMITTING : reg_slurm_jstate(jc->slurm);
		j->submitted_at = NOW - jc->submitted;
		j->started_at = jc->started ? NOW - jc->started : 0;
		j->end_time = jc->ends_in ? NOW + jc->ends_in : 0;
		j->ready = jc->ready;
		j->load = jc->load;
		j->draining = jc->draining > 0;
		j->drain_started_at = jc->draining ? NOW - (jc->draining - 1) : 0;
		j->cancel_sent = jc->cancel_sent;
		j->last_ready_at = jc->ready_ago ? NOW - jc->ready_ago : 0;
		if (j->ready)
			j->last_ready_at = NOW;
		ptrs[i] = j;
	}
	struct reg_acq_input in = {
		.target = c->target,
		.max_jobs = c->max_jobs,
		.max_pending = c->max_pending,
		.startup_timeout_ms = T_START,
		.renew_before_ms = T_RENEW,
		.drain_timeout_ms = T_DRAIN,
		.now = NOW,
		.since = NOW - c->since_ago,
		.backoff_until = c->backoff_in ? NOW + c->backoff_in : 0,
		.synced = c->synced,
		.jobs = ptrs,
		.njobs = (size_t)c->njobs,
	};
	struct reg_acq_action acts[16];
	size_t n = reg_acq_decide(&in, acts, 16);
	char got[256] = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(got);
		if (acts[i].kind == REG_ACQ_SUBMIT)
			snprintf(got + l, sizeof got - l, "%sS", l ? " " : "");
		else
			snprintf(got + l, sizeof got - l, "%s%c%zu:%s", l ? " " : "",
				 acts[i].kind == REG_ACQ_CANCEL ? 'C' : 'D', acts[i].job, acts[i].why);
	}
	ck_assert_msg(strcmp(got, c->want) == 0, "%s: got \"%s\", want \"%s\"", c->name, got, c->want);
}

START_TEST(test_table)
{
	run_case(&cases[_i]);
}
END_TEST

START_TEST(test_bounded_output)
{
	/* MAX bounds the actions written. */
	struct reg_acq_input in = {.target = 5, .max_jobs = 5, .max_pending = 5, .now = NOW,
				   .synced = true, .startup_timeout_ms = 1, .drain_timeout_ms = 1};
	struct reg_acq_action acts[2];
	ck_assert_uint_eq(reg_acq_decide(&in, acts, 2), 2);
	ck_assert_uint_eq(reg_acq_decide(&in, acts, 0), 0);
}
END_TEST

START_TEST(test_retiring)
{
	struct reg_job j = {.state = REG_J_RUNNING, .started_at = 1000, .end_time = 5000};
	ck_assert(!reg_acq_retiring(&j, 600000, 4399));
	ck_assert(reg_acq_retiring(&j, 600000, 4400));
	ck_assert(!reg_acq_retiring(&j, 0, 4999)); /* renewal off */
	j.state = REG_J_PENDING;
	ck_assert(!reg_acq_retiring(&j, 600000, 4900));
}
END_TEST

Suite *suite_reg_acquirer(void)
{
	Suite *s = suite_create("reg_acquirer");
	TCase *tc = tcase_create("decisions");
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof cases / sizeof cases[0]));
	tcase_add_test(tc, test_bounded_output);
	tcase_add_test(tc, test_retiring);
	suite_add_tcase(s, tc);
	return s;
}
