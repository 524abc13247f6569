/* sim_kv.h — a paged KV cache with automatic prefix caching, as vLLM's.
 *
 * The cache has NBLOCKS blocks of BLOCK_SIZE tokens. A sequence holds the
 * blocks for all its tokens (prompt and planned output: the simulator
 * knows the output length in advance, so nothing is ever preempted). Each
 * full block of a prompt is named by a chained hash, h[i] = H(h[i-1],
 * tokens of block i), so equal hashes mean equal prefixes. Blocks whose
 * last user finished stay cached in an LRU free queue until their memory
 * is needed: a later prompt with the same prefix takes them back and skips
 * their prefill. Counters follow vLLM's: queries and hits in tokens.
 */
#ifndef ES_SIM_KV_H
#define ES_SIM_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_kv_block {
	uint64_t hash;   /* chained hash of the prefix ending here; 0: none */
	int32_t ref;     /* sequences using it */
	int32_t prev;    /* free queue links (-1: none) */
	int32_t next;
	int32_t hnext;   /* next block in the same hash bucket (-1: none) */
	bool in_free;    /* in the free queue */
	bool hashed;     /* in the hash table (holds a cached prefix) */
};

struct sim_kv {
	int32_t nblocks;            /* blocks in all */
	int32_t block_size;         /* tokens per block */
	bool prefix_caching;        /* --enable-prefix-caching (default on) */
	struct sim_kv_block *b;     /* the blocks */
	int32_t free_head;          /* least recently freed: evicted first */
	int32_t free_tail;
	int32_t nfree;              /* blocks in the free queue */
	int32_t *htab;              /* hash buckets: first block or -1 */
	uint32_t hmask;             /* buckets - 1 */
	uint64_t queries;           /* prompt tokens looked up */
	uint64_t hits;              /* of those, found cached */
	uint64_t evictions;         /* cached blocks reused for other data */
};

/* The blocks a sequence holds. */
struct sim_kv_seq {
	int32_t *blocks; /* block indexes, in token order */
	int32_t n;       /* blocks held */
};

/* Returns NULL when out of memory. */
struct sim_kv *sim_kv_new(int32_t nblocks, int32_t block_size, bool prefix_caching);
void sim_kv_free(struct sim_kv *kv);

/* Computes the chained hashes of the full blocks of TOKENS (N ids) into
 * HASHES (room for N / block_size); SALT starts the chain. Returns how
 * many. */
size_t sim_kv_hashes(const struct sim_kv *kv, const uint32_t *tokens, size_t n,
		     uint64_t salt, uint64_t *hashes);

/* Blocks needed for NTOKENS tokens. */
int32_t sim_kv_blocks_for(const struct sim_kv *kv, size_t ntokens);

/* Tries to give SEQ the blocks for NTOKENS tokens, of which the first
 * NPROMPT are the prompt with NHASH full-block HASHES. Leading blocks
 * found in the cache are shared; at least the prompt's last token is
 * always computed. Returns the number of prompt tokens found cached (>= 0)
 * and counts the query, or -1 (and changes nothing) when there are not
 * enough free blocks. */
int sim_kv_alloc(struct sim_kv *kv, struct sim_kv_seq *seq, const uint64_t *hashes,
		 size_t nhash, size_t nprompt, size_t ntokens);

/* Gives back SEQ's blocks; full prompt blocks stay cached. */
void sim_kv_release(struct sim_kv *kv, struct sim_kv_seq *seq);

/* Fraction of blocks in use by running sequences, 0..1. */
double sim_kv_usage(const struct sim_kv *kv);

/* Blocks holding a cached prefix (in use or not). */
int32_t sim_kv_cached_blocks(const struct sim_kv *kv);

#endif
