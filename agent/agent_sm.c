/* agent_sm.c — the life of one slice as a pure state machine (agent.h). */
#include "agent.h"

void agent_policy_default(struct agent_policy *p)
{
	p->max_failures = 5;
	p->backoff_min_ms = 1000;
	p->backoff_max_ms = 30000;
	p->stable_ms = 60000;
}

const char *agent_state_name(enum agent_state s)
{
	switch (s) {
	case AS_IDLE: return "idle";
	case AS_STARTING: return "starting";
	case AS_READY: return "ready";
	case AS_BACKOFF: return "restarting";
	case AS_FAILED: return "failed";
	case AS_DRAINING: return "draining";
	case AS_STOPPING: return "stopping";
	case AS_STOPPED: return "stopped";
	}
	return "?";
}

/* After an engine died: restart later, or give up. */
static unsigned sm_died(struct agent_sm *sm, const struct agent_policy *pol, const char *why)
{
	if (sm->failures >= pol->max_failures) {
		sm->state = AS_FAILED;
		sm->why = why;
		return AA_REPORT_FAIL;
	}
	int d = pol->backoff_min_ms;
	for (int i = 1; i < sm->failures && d < pol->backoff_max_ms; i++)
		d *= 2;
	sm->backoff_ms = d < pol->backoff_max_ms ? d : pol->backoff_max_ms;
	sm->state = AS_BACKOFF;
	return AA_RESTART_LATER;
}

unsigned agent_sm_step(struct agent_sm *sm, enum agent_event ev, int64_t now,
		       const struct agent_policy *pol)
{
	sm->reason = NULL;
	sm->why = NULL;
	switch (sm->state) {
	case AS_IDLE:
		if (ev == AE_START) {
			sm->state = AS_STARTING;
			return AA_SPAWN | AA_PROBE | AA_REGISTER;
		}
		if (ev == AE_DRAIN) {
			sm->state = AS_STOPPED;
			return 0;
		}
		return 0;

	case AS_STARTING:
		switch (ev) {
		case AE_READY:
			sm->state = AS_READY;
			sm->ready_since = now;
			return AA_REGISTER;
		case AE_STARTUP_TIMEOUT:
			/* A slow start does not get faster by trying again. */
			sm->failures++;
			sm->state = AS_FAILED;
			sm->reason = "startup_failed";
			sm->why = "not ready within engine.startup_timeout";
			return AA_KILL | AA_DEREGISTER | AA_REPORT_FAIL;
		case AE_EXITED:
			sm->failures++;
			sm->reason = "startup_failed";
			return AA_DEREGISTER | AA_REAP_GROUP |
			       sm_died(sm, pol, "the engine exited before it was ready, too often");
		case AE_DRAIN:
			/* Nothing in flight yet: stop it now. */
			sm->state = AS_STOPPING;
			return AA_TERM | AA_KILL_LATER;
		default:
			return 0;
		}

	case AS_READY:
		switch (ev) {
		case AE_EXITED:
			if (now - sm->ready_since >= pol->stable_ms)
				sm->failures = 0;
			sm->failures++;
			sm->reason = "engine_exit";
			return AA_DEREGISTER | AA_REAP_GROUP |
			       sm_died(sm, pol, "the engine kept exiting");
		case AE_DRAIN:
			sm->state = AS_DRAINING;
			return 0;
		case AE_HUNG:
			/* Out of routing now; its exit then restarts it as a death. */
			sm->reason = "engine_exit";
			return AA_DEREGISTER | AA_KILL;
		default:
			return 0;
		}

	case AS_BACKOFF:
		if (ev == AE_BACKOFF_DONE) {
			sm->restarts++;
			sm->state = AS_STARTING;
			return AA_SPAWN | AA_PROBE | AA_REGISTER;
		}
		if (ev == AE_DRAIN || ev == AE_STOP) {
			sm->state = AS_STOPPED;
			return 0;
		}
		return 0;

	case AS_DRAINING:
		if (ev == AE_EXITED) {
			sm->state = AS_STOPPED;
			return AA_REAP_GROUP;
		}
		if (ev == AE_STOP) {
			sm->state = AS_STOPPING;
			return AA_TERM | AA_KILL_LATER;
		}
		return 0;

	case AS_STOPPING:
		if (ev == AE_EXITED) {
			sm->state = AS_STOPPED;
			return AA_REAP_GROUP;
		}
		if (ev == AE_KILL_TIMEOUT)
			return AA_KILL;
		return 0;

	case AS_FAILED:
		if (ev == AE_EXITED)
			return AA_REAP_GROUP;
		if (ev == AE_DRAIN || ev == AE_STOP)
			return 0;
		return 0;

	case AS_STOPPED:
		return ev == AE_EXITED ? AA_REAP_GROUP : 0;
	}
	return 0;
}
