/* sim_sched.h — continuous batching, as vLLM's scheduler does it.
 *
 * At most max_seqs sequences run; the rest wait in FIFO order. The head
 * of the waiting queue is admitted when a slot is free and the KV cache has
 * the blocks for its prompt and planned output; if it does not fit, it and
 * everything behind it wait (no overtaking). The clock is the caller's: it
 * passes the time (microseconds, any origin) to every call, so tests drive
 * it with a fake clock and the daemon with a monotonic one.
 *
 * Timing model (every delay multiplied by time_scale; 0 = no delay):
 *   first token = admission + ttft_ms + prefill_us_per_token * uncached prompt tokens
 *   next token  = previous + itl_ms + itl_us_per_seq * running sequences
 *
 * Callbacks: token(seq, index) for each generated token, finish(seq,
 * reason) once at the end. Either may call sim_sched_abort on any sequence;
 * the scheduler's lists are only changed at safe points.
 */
#ifndef ES_SIM_SCHED_H
#define ES_SIM_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_kv.h"

enum sim_seq_state {
	SIM_SEQ_NEW,
	SIM_SEQ_WAITING,
	SIM_SEQ_RUNNING,
	SIM_SEQ_DONE,
};

enum sim_finish {
	SIM_FINISH_LENGTH, /* all planned tokens generated: max_tokens reached */
	SIM_FINISH_STOP,   /* the planned output ends earlier (EOS or stop string) */
	SIM_FINISH_ABORT,  /* aborted (client gone, shutdown) */
};

struct sim_seq {
	/* Set by the caller before sim_sched_submit. */
	const uint64_t *hashes; /* chained hashes of the prompt's full blocks */
	size_t nhash;           /* how many */
	size_t nprompt;         /* prompt tokens */
	uint32_t nout;          /* tokens to generate, >= 1 */
	enum sim_finish reason; /* finish reason when all nout are generated */
	void *ctx;              /* the caller's */
	/* The scheduler's. */
	enum sim_seq_state state;
	bool aborted;            /* abort asked */
	struct sim_kv_seq kv;    /* blocks held while running */
	int cached;              /* prompt tokens found in the prefix cache */
	uint32_t ngen;           /* tokens generated so far */
	uint64_t t_submit;       /* when submitted (us) */
	uint64_t t_admit;        /* when admitted */
	uint64_t t_first;        /* when the first token came */
	uint64_t t_next;         /* when the next token is due */
	struct sim_seq *prev, *next; /* waiting or running list */
};

struct sim_timing {
	double ttft_ms;              /* base time to first token */
	double prefill_us_per_token; /* per uncached prompt token */
	double itl_ms;               /* base inter-token latency */
	double itl_us_per_seq;       /* added per running sequence */
	double time_scale;           /* multiplies every delay; 0: none */
};

struct sim_sched_ops {
	void (*token)(struct sim_seq *seq, uint32_t index, uint64_t now, void *arg);
	void (*finish)(struct sim_seq *seq, enum sim_finish reason, uint64_t now,
		       void *arg);
};

struct sim_list {
	struct sim_seq *head, *tail;
	unsigned n;
};

struct sim_sched {
	struct sim_kv *kv;        /* not owned */
	unsigned max_seqs;        /* --max-num-seqs */
	struct sim_timing t;      /* the timing model */
	struct sim_sched_ops ops; /* callbacks */
	void *arg;                /* passed to them */
	struct sim_list waiting;
	struct sim_list running;
	bool in_advance;          /* inside sim_sched_advance */
	bool paused;              /* sim_sched_pause: no progress at all */
	unsigned naborted;        /* abort requests not yet handled */
	uint64_t preemptions;     /* always 0: nothing is ever preempted */
};

void sim_sched_init(struct sim_sched *s, struct sim_kv *kv, unsigned max_seqs,
		    const struct sim_timing *t, const struct sim_sched_ops *ops,
		    void *arg);

/* Queues SEQ (waiting) and advances to NOW. */
void sim_sched_submit(struct sim_sched *s, struct sim_seq *seq, uint64_t now);

/* Admits, emits due tokens and finishes sequences up to NOW. Returns when
 * the next token is due (UINT64_MAX: nothing to do until a submit). */
uint64_t sim_sched_advance(struct sim_sched *s, uint64_t now);

/* Ends SEQ early: its finish callback runs with SIM_FINISH_ABORT (at once,
 * or at the next safe point when called from a callback). Call
 * sim_sched_advance afterwards: the freed slot admits others there. */
void sim_sched_abort(struct sim_sched *s, struct sim_seq *seq, uint64_t now);

/* Stops all progress (for --hang-after) while PAUSED. */
void sim_sched_pause(struct sim_sched *s, bool paused);

/* The next deadline without advancing (UINT64_MAX: none). */
uint64_t sim_sched_next(const struct sim_sched *s);

#endif
