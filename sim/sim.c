/* sim.c — elastic-sim's configuration and model state (see sim.h). */
#include "sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "httpd.h"

void sim_config_defaults(struct sim_config *c)
{
	memset(c, 0, sizeof *c);
	c->host = "0.0.0.0";
	c->port = 8000;
	c->model = "elastic-sim/sim-model";
	c->tensor_parallel_size = 1;
	c->max_num_seqs = 256;
	c->max_model_len = 8192;
	c->block_size = 16;
	c->num_gpu_blocks = 8192;
	c->prefix_caching = true;
	c->timing.ttft_ms = 20;
	c->timing.prefill_us_per_token = 20;
	c->timing.itl_ms = 10;
	c->timing.itl_us_per_seq = 50;
	c->timing.time_scale = 1;
	c->output_len = 128;
	c->tool_rounds = 2;
	c->embedding_dim = 384;
	c->seed = 0;
	c->nnodes = 1;
	c->master_addr = "127.0.0.1";
	c->master_port = 29500;
	c->max_body = 32u << 20;
}

int sim_config_check(const struct sim_config *c, char *err, size_t errlen)
{
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
	if (c->port < 0 || c->port > 65535)
		FAIL("--port must be between 0 and 65535");
	if (c->max_num_seqs < 1)
		FAIL("--max-num-seqs must be at least 1");
	if (c->max_model_len < 2)
		FAIL("--max-model-len must be at least 2");
	if (c->block_size < 1 || c->block_size > 4096)
		FAIL("--block-size must be between 1 and 4096");
	if (c->num_gpu_blocks < 1)
		FAIL("--num-gpu-blocks must be at least 1");
	if (c->timing.time_scale < 0 || c->timing.ttft_ms < 0 ||
	    c->timing.prefill_us_per_token < 0 || c->timing.itl_ms < 0 ||
	    c->timing.itl_us_per_seq < 0)
		FAIL("timing flags must not be negative");
	if (c->fail_rate < 0 || c->fail_rate > 1)
		FAIL("--fail-rate must be between 0 and 1");
	if (c->startup_delay < 0)
		FAIL("--startup-delay must not be negative");
	if (c->crash_after < 0 || c->hang_after < 0 || c->garbage_after < 0)
		FAIL("--crash-after, --hang-after and --garbage-after must not be negative");
	if (c->nnodes < 1)
		FAIL("--nnodes must be at least 1");
	if (c->node_rank < 0 || c->node_rank >= c->nnodes)
		FAIL("--node-rank must be between 0 and --nnodes - 1");
	if (c->master_port < 1 || c->master_port > 65535)
		FAIL("--master-port must be between 1 and 65535");
	if (c->embedding_dim < 1 || c->embedding_dim > 65536)
		FAIL("--embedding-dim must be between 1 and 65536");
	if (c->output_len < 1)
		FAIL("--output-len must be at least 1");
	if (c->tensor_parallel_size < 1)
		FAIL("--tensor-parallel-size must be at least 1");
	return 0;
#undef FAIL
}

uint64_t sim_now(const struct sim *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	return us - s->t0;
}

void sim_resched(struct sim *s)
{
	uint64_t next = sim_sched_next(&s->sched);
	if (next == UINT64_MAX) {
		if (s->tick_at != UINT64_MAX) {
			evtimer_del(s->tick);
			s->tick_at = UINT64_MAX;
		}
		return;
	}
	if (next == s->tick_at)
		return;
	uint64_t now = sim_now(s);
	uint64_t d = next > now ? next - now : 0;
	struct timeval tv = {(time_t)(d / 1000000u), (suseconds_t)(d % 1000000u)};
	evtimer_add(s->tick, &tv);
	s->tick_at = next;
}

static void sim_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sim *s = arg;
	s->tick_at = UINT64_MAX;
	sim_sched_advance(&s->sched, sim_now(s));
	sim_resched(s);
}

static void sim_crash_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sim *s = arg;
	fprintf(stderr, "elastic-sim: --crash-after %ld reached: crashing\n",
		s->cfg.crash_after);
	_exit(70);
}

int sim_init(struct sim *s, const struct sim_config *cfg, struct event_base *base,
	     char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
	if (s->cfg.nnames == 0) {
		/* vLLM serves the model under its path unless told otherwise. */
		s->cfg.names[0] = s->cfg.model;
		s->cfg.nnames = 1;
	}
	s->base = base;
	s->t0 = 0;
	s->t0 = sim_now(s);
	s->created = (int64_t)time(NULL);
	s->tick_at = UINT64_MAX;
	s->rng = cfg->seed ^ 0x5851f42d4c957f2dULL;
	sim_metrics_init(&s->metrics);
	s->kv = sim_kv_new(cfg->num_gpu_blocks, cfg->block_size, cfg->prefix_caching);
	s->tick = evtimer_new(base, sim_tick_cb, s);
	s->crash_ev = event_new(base, -1, 0, sim_crash_cb, s);
	s->tok = json_tokener_new_ex(64);
	if (!s->kv || !s->tick || !s->crash_ev || !s->tok) {
		snprintf(err, errlen, "out of memory");
		sim_free(s);
		return -1;
	}
	json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	sim_sched_init(&s->sched, s->kv, cfg->max_num_seqs, &cfg->timing,
		       &sim_api_ops, s);
	s->ready = cfg->startup_delay <= 0;
	return 0;
}

void sim_free(struct sim *s)
{
	if (s->http)
		httpd_free(s->http);
	s->http = NULL;
	if (s->tick)
		event_free(s->tick);
	if (s->crash_ev)
		event_free(s->crash_ev);
	if (s->tok)
		json_tokener_free(s->tok);
	sim_kv_free(s->kv);
	s->tick = s->crash_ev = NULL;
	s->tok = NULL;
	s->kv = NULL;
}

int sim_fail(const char **param, const char *which, char *err, size_t errlen,
	     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	*param = which;
	return -1;
}
