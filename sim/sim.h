/* sim.h — elastic-sim: the configuration and the state shared by its parts.
 *
 *   sim/main.c            flags, startup, signals
 *   sim/sim_api.c         the HTTP API (vLLM's OpenAI-compatible server)
 *   sim/sim_sched.c       continuous batching
 *   sim/sim_kv.c          paged KV cache and prefix cache
 *   sim/sim_tok.c         tokenizer and text generator
 *   sim/sim_tools.c       tool calls
 *   sim/sim_schema.c      structured output (response_format, guided_json, ...)
 *   sim/sim_metrics.c     /metrics
 *   sim/sim_multinode.c   multi-node emulation
 */
#ifndef ES_SIM_H
#define ES_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_kv.h"
#include "sim_metrics.h"
#include "sim_sched.h"

struct event_base;
struct event;
struct httpd;
struct json_tokener;

#define SIM_MAX_NAMES 8

struct sim_config {
	const char *host;              /* --host */
	int port;                      /* --port (0: ephemeral) */
	const char *port_file;         /* --port-file: write the bound port */
	const char *model;             /* --model */
	const char *names[SIM_MAX_NAMES]; /* --served-model-name (first is primary) */
	int nnames;
	int tensor_parallel_size;      /* accepted, reported */
	unsigned max_num_seqs;         /* --max-num-seqs */
	unsigned max_model_len;        /* --max-model-len */
	int block_size;                /* --block-size */
	int num_gpu_blocks;            /* --num-gpu-blocks */
	bool prefix_caching;           /* --[no-]enable-prefix-caching */
	struct sim_timing timing;      /* --ttft-ms ... --time-scale */
	unsigned output_len;           /* --output-len: natural reply length */
	unsigned tool_rounds;          /* --tool-rounds: tool calls before an answer */
	unsigned embedding_dim;        /* --embedding-dim */
	uint64_t seed;                 /* --seed */
	double startup_delay;          /* --startup-delay, seconds */
	double fail_rate;              /* --fail-rate, 0..1 */
	long crash_after;              /* --crash-after N (0: never) */
	long hang_after;               /* --hang-after N (0: never) */
	long garbage_after;            /* --garbage-after N (0: never) */
	int nnodes;                    /* --nnodes */
	int node_rank;                 /* --node-rank */
	const char *master_addr;       /* --master-addr */
	int master_port;               /* --master-port */
	bool headless;                 /* --headless: no HTTP */
	size_t max_body;               /* largest request body */
};

/* Fills CFG with the defaults (those --help shows). */
void sim_config_defaults(struct sim_config *cfg);

struct sim {
	struct sim_config cfg;
	struct event_base *base;
	struct httpd *http;
	struct sim_kv *kv;
	struct sim_sched sched;
	struct sim_metrics metrics;
	struct event *tick;          /* fires when the scheduler's next token is due */
	uint64_t tick_at;            /* when tick is set for (us); UINT64_MAX: unset */
	struct event *crash_ev;      /* runs _exit for --crash-after */
	struct json_tokener *tok;    /* reused JSON parser */
	uint64_t t0;                 /* monotonic origin (us) */
	int64_t created;             /* wall-clock start (s) */
	bool ready;                  /* startup delay over */
	bool hung;                   /* --hang-after reached */
	uint64_t nreceived;          /* inference requests received */
	uint64_t ncompleted;         /* inference requests answered */
	uint64_t rng;                /* state for --fail-rate and seeds */
	unsigned live;               /* requests in the scheduler */
};

/* Creates the model (cache, scheduler, metrics) for CFG on BASE. Returns
 * 0, or -1 with ERR set. The HTTP server is separate: sim_api_listen. */
int sim_init(struct sim *s, const struct sim_config *cfg, struct event_base *base,
	     char *err, size_t errlen);
/* Listens on cfg.host:cfg.port; 0 or -1 with ERR set. */
int sim_api_listen(struct sim *s, char *err, size_t errlen);
/* Stops accepting; DRAINED runs when in-flight requests are done. */
void sim_api_shutdown(struct sim *s, void (*drained)(void *), void *arg);
void sim_free(struct sim *s);

/* Re-arms the scheduler's timer for its next deadline. */
void sim_resched(struct sim *s);

/* The scheduler callbacks of the HTTP API (sim_api.c). */
extern const struct sim_sched_ops sim_api_ops;

/* Microseconds since s->t0 (monotonic). */
uint64_t sim_now(const struct sim *s);

/* For the request checks of sim_tools and sim_schema: formats ERR, sets
 * *PARAM to WHICH (the request field to blame) and returns -1. */
int sim_fail(const char **param, const char *which, char *err, size_t errlen,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Validates the configuration; 0 or -1 with ERR set. */
int sim_config_check(const struct sim_config *cfg, char *err, size_t errlen);

#endif
