/* proxy_prefix.h — prompt prefixes as chained block hashes, and an
 * approximate map of which worker holds which prefix in its KV cache.
 *
 * An engine with prefix caching (vLLM's automatic prefix caching, SGLang's
 * radix cache) skips the prefill of the longest prefix of a prompt that it
 * computed before. The proxy cannot see the engines' caches, so it keeps
 * its own estimate, as vLLM's KV-aware routers and llm-d's prefix scorer
 * do: the prompt's bytes (every message, in order, as proxy_json reports
 * them) are cut into blocks of BLOCK bytes; block i's hash chains the
 * hashes of blocks 0..i, so it stands for the whole prefix up to the end
 * of block i. A trailing partial block is not hashed.
 *
 * The table maps a block hash to the few workers (owners) most recently
 * sent a prompt with that prefix, newest first. It has a fixed number of
 * entries; a full probe window evicts its least recently used entry, so
 * the table forgets old prefixes roughly as the engines' LRU caches do.
 * Per owner it counts the blocks credited to it (a proxy for how full its
 * cache is).
 *
 * Owners are 32-bit ids from proxy_prefix_owner_new(): a slot and a
 * generation, so that entries of a freed owner never match a new one that
 * reuses the slot. Owner 0 means "not tracked" and never matches.
 *
 * Pure data structures: no I/O, no clock (recency is a counter of inserts).
 */
#ifndef ES_PROXY_PREFIX_H
#define ES_PROXY_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_PREFIX_MAX_BLOCK 4096 /* largest block size in bytes */
#define PROXY_PREFIX_OWNERS 5       /* owners remembered per prefix */

/* A 64-bit hash of LEN bytes chained on SEED (also for session keys and
 * worker ids). Not cryptographic; SEED should be secret where inputs are. */
uint64_t proxy_prefix_hash64(const void *data, size_t len, uint64_t seed);

/* ---------------------------------------------------------------- hasher */

struct proxy_prefix_hasher {
	uint64_t h;        /* chain: covers every full block so far */
	unsigned block;    /* bytes per block */
	size_t fill;       /* bytes waiting in buf */
	uint64_t *out;     /* where block hashes go */
	unsigned n;        /* hashes written */
	unsigned max;      /* room in out; later blocks are not hashed */
	unsigned char buf[PROXY_PREFIX_MAX_BLOCK]; /* the partial block */
};

/* Starts hashing a prompt into OUT (room for MAX hashes). SEED separates
 * models (and is secret); BLOCK is clamped to 16..PROXY_PREFIX_MAX_BLOCK. */
void proxy_prefix_begin(struct proxy_prefix_hasher *ph, uint64_t seed, unsigned block,
			uint64_t *out, unsigned max);
/* Adds LEN bytes of prompt. */
void proxy_prefix_feed(struct proxy_prefix_hasher *ph, const void *data, size_t len);
/* Adds the end of a piece (a message's role or content), so that pieces
 * "ab"+"c" and "a"+"bc" differ. */
void proxy_prefix_sep(struct proxy_prefix_hasher *ph);

/* ---------------------------------------------------------------- table */

struct proxy_prefix_table;

struct proxy_prefix_stats {
	size_t entries;     /* capacity (ENTRIES rounded up, plus a few) */
	size_t used;        /* entries holding a prefix */
	uint64_t evictions; /* entries replaced to make room */
	unsigned owners;    /* live owners */
};

/* A table of about ENTRIES prefixes (rounded up to a power of two, at
 * least 1024). Each entry takes 32 bytes. */
struct proxy_prefix_table *proxy_prefix_new(size_t entries);
void proxy_prefix_free(struct proxy_prefix_table *t);

/* A new owner id, or 0 when 65535 owners are live. */
uint32_t proxy_prefix_owner_new(struct proxy_prefix_table *t);
/* Retires OWNER: its entries no longer match anyone. */
void proxy_prefix_owner_free(struct proxy_prefix_table *t, uint32_t owner);
/* Blocks the table credits to OWNER (0 for a retired or unknown one). */
uint64_t proxy_prefix_owner_blocks(const struct proxy_prefix_table *t, uint32_t owner);

/* For each of the NOWN candidates OWNERS[i], sets MATCHED[i] to how many
 * leading blocks of the prompt H[0..NH) the table credits it with. */
void proxy_prefix_match(const struct proxy_prefix_table *t, const uint64_t *h, unsigned nh,
			const uint32_t *owners, unsigned nown, unsigned *matched);

/* Credits OWNER with every block of H[0..NH) (the prompt was sent to it):
 * OWNER becomes the newest owner of each, and the entries the newest. */
void proxy_prefix_insert(struct proxy_prefix_table *t, const uint64_t *h, unsigned nh,
			 uint32_t owner);

void proxy_prefix_get_stats(const struct proxy_prefix_table *t, struct proxy_prefix_stats *st);

#endif
