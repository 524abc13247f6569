/* bench_data.h — the prompts elasticctl bench sends.
 *
 * Token counts without a tokenizer. Generated text is a sequence of words
 * from a fixed list of 256 lower-case English words of 2 to 4 letters,
 * separated by single spaces; one word is one "token". That is exact for
 * elastic-sim (its tokenizer makes one token of a space and up to 4
 * letters) and close for the BPE tokenizers of real models, where such
 * short common words are single tokens. The counts the report uses come
 * from the server's `usage` whenever it sends one; the generator's count
 * is the fallback.
 *
 * Everything is deterministic: the same seed and options give the same
 * prompts, on every machine (splitmix64, no libc rand).
 *
 * Datasets:
 *   random     NUM_PROMPTS prompts; prompt i is a shared prefix of
 *              PREFIX_LEN words (the same for every prompt) followed by
 *              its own INPUT_LEN_i random words, and asks for OUTPUT_LEN_i
 *              tokens. As in `vllm bench serve`, with ratio r in [0, 1)
 *              INPUT_LEN_i is uniform over the integers in
 *              [floor(INPUT_LEN (1-r)), ceil(INPUT_LEN (1+r))] and
 *              OUTPUT_LEN_i over [max(1, floor(OUTPUT_LEN (1-r))),
 *              ceil(OUTPUT_LEN (1+r))].
 *   multiturn  CONVERSATIONS conversations of TURNS turns: a system prompt
 *              of PREFIX_LEN words shared by every conversation, then per
 *              turn a user message of INPUT_LEN_i words asking for
 *              OUTPUT_LEN_i tokens (lengths drawn as above). The runner
 *              sends each turn with the whole history (system prompt, every
 *              earlier user message and the answers the server gave), and
 *              "user": "conversation-N" (OpenAI's end-user id, the session
 *              key of elastic-serve's session policy).
 *   FILE.jsonl one request per non-empty line: an object with "prompt" (a
 *              string) or "messages" (an array of chat messages, sent as
 *              given), and optionally "max_tokens" (or "output_len"). Lines
 *              are used in order, from the start again when NUM_PROMPTS is
 *              larger than the file; NUM_PROMPTS 0 means each line once.
 */
#ifndef ES_BENCH_DATA_H
#define ES_BENCH_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---------------------------------------------------------------- random numbers */

/* splitmix64: a small, fast, well-mixed generator. */
struct bench_rng {
	uint64_t s; /* the state */
};

void bench_rng_seed(struct bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(struct bench_rng *r);
/* Uniform in [0, 1). */
double bench_rng_uniform(struct bench_rng *r);
/* Uniform over the integers LO..HI (inclusive); LO when HI < LO. */
long bench_rng_range(struct bench_rng *r, long lo, long hi);
/* An exponential variate of rate RATE (mean 1/RATE). */
double bench_rng_exp(struct bench_rng *r, double rate);

/* ---------------------------------------------------------------- words */

/* Appends N random words to OUT, each after a space unless OUT is empty. */
void bench_words(struct bench_rng *r, size_t n, struct buf *out);

/* Counts the words (runs of non-space bytes) of S: the generator's notion
 * of tokens, used when the server reports no usage. */
long bench_count_words(const char *s, size_t len);

/* ---------------------------------------------------------------- datasets */

enum bench_ds {
	BENCH_DS_RANDOM,
	BENCH_DS_MULTITURN,
	BENCH_DS_FILE,
};

/* How to generate a dataset. */
struct bench_data_opts {
	long input_len;        /* words per prompt (random) or user turn (multiturn) */
	long output_len;       /* tokens asked per request (max_tokens) */
	double range_ratio;    /* 0 <= r < 1: spread of both lengths */
	long prefix_len;       /* random: shared prefix; multiturn: system prompt */
	long num_prompts;      /* random, file: requests (file: 0 = each line once) */
	unsigned conversations; /* multiturn */
	unsigned turns;         /* multiturn */
	uint64_t seed;          /* generator seed */
};

/* One request's prompt (random, file) or one user turn (multiturn). */
struct bench_prompt {
	char *text;      /* the prompt or user message; NULL for a file's "messages" */
	char *messages;  /* a file's "messages" as JSON text; NULL otherwise */
	long input_len;  /* words of TEXT (random: prefix included); -1 when unknown */
	long output_len; /* max_tokens to ask for; 0: do not send max_tokens */
};

struct bench_dataset {
	enum bench_ds kind;         /* which generator made it */
	struct bench_prompt *p;     /* random, file: one per request;
				       multiturn: conversation c's turn t at c * turns + t */
	size_t n;                   /* entries of P */
	char *system;               /* multiturn: the shared system prompt; NULL if none */
	long system_len;            /* its words */
	unsigned conversations;     /* multiturn: conversations; otherwise N */
	unsigned turns;             /* multiturn: turns each; otherwise 1 */
};

/* Builds a random or multiturn dataset. Returns 0, or -1 with ERR when the
 * options are out of range. */
int bench_data_generate(struct bench_dataset *d, enum bench_ds kind,
			const struct bench_data_opts *o, char *err, size_t errlen);

/* Reads a JSONL file (see above); DEFAULT_OUTPUT is max_tokens for lines
 * without one (0: none sent). Returns 0, or -1 with ERR as
 * "FILE:LINE: message". */
int bench_data_load(struct bench_dataset *d, const char *path, long num_prompts,
		    long default_output, char *err, size_t errlen);

void bench_data_free(struct bench_dataset *d);

#endif
