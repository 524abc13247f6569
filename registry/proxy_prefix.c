/* proxy_prefix.c — see proxy_prefix.h.
 *
 * The table is open addressing without wrap-around: a key's home is
 * hash & mask, and its probe window is the PROBE entries from there (the
 * array has PROBE - 1 spare entries at its end). An entry is 32 bytes: the
 * key, the insert counter when last credited, and up to
 * PROXY_PREFIX_OWNERS owners, newest first.
 */
#include "proxy_prefix.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 8
#define MAX_SLOTS 65536u

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t round64(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static inline uint64_t fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t proxy_prefix_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ P4 ^ ((uint64_t)len * P5);
	while (len >= 32) {
		uint64_t w[4];
		memcpy(w, p, 32);
		h = round64(round64(round64(round64(h, w[0]), w[1]), w[2]), w[3]);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = round64(h, w);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = round64(h ^ P3, w);
	}
	return fmix64(h);
}

/* ---------------------------------------------------------------- hasher */

void proxy_prefix_begin(struct proxy_prefix_hasher *ph, uint64_t seed, unsigned block,
			uint64_t *out, unsigned max)
{
	if (block < 16)
		block = 16;
	if (block > PROXY_PREFIX_MAX_BLOCK)
		block = PROXY_PREFIX_MAX_BLOCK;
	ph->h = seed;
	ph->block = block;
	ph->fill = 0;
	ph->out = out;
	ph->n = 0;
	ph->max = max;
}

static void emit_block(struct proxy_prefix_hasher *ph, const void *p)
{
	uint64_t h = proxy_prefix_hash64(p, ph->block, ph->h);
	if (h == 0)
		h = 1; /* 0 marks a free table entry */
	ph->h = h;
	ph->out[ph->n++] = h;
}

void proxy_prefix_feed(struct proxy_prefix_hasher *ph, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len && ph->n < ph->max) {
		if (ph->fill == 0 && len >= ph->block) {
			emit_block(ph, p);
			p += ph->block;
			len -= ph->block;
			continue;
		}
		size_t take = ph->block - ph->fill;
		if (take > len)
			take = len;
		memcpy(ph->buf + ph->fill, p, take);
		ph->fill += take;
		p += take;
		len -= take;
		if (ph->fill == ph->block) {
			emit_block(ph, ph->buf);
			ph->fill = 0;
		}
	}
}

void proxy_prefix_sep(struct proxy_prefix_hasher *ph)
{
	static const unsigned char rs = 0x1e; /* ASCII record separator */
	proxy_prefix_feed(ph, &rs, 1);
}

/* ---------------------------------------------------------------- table */

struct entry {
	uint64_t key;                         /* block hash; 0: free */
	uint32_t tick;                        /* insert counter when last credited */
	uint32_t own[PROXY_PREFIX_OWNERS];    /* newest first; 0: none */
};

struct slot {
	uint32_t gen;       /* generation of the current (or last) owner */
	uint32_t next_free; /* free list (slot index; 0: end) */
	uint64_t blocks;    /* blocks credited to the live owner */
	bool live;
};

struct proxy_prefix_table {
	struct entry *e;    /* cap + PROBE - 1 entries */
	size_t cap;         /* a power of two */
	size_t used;
	uint64_t evictions;
	uint32_t tick;
	struct slot *slots; /* index 0 unused */
	uint32_t nslots;    /* slots in use or free (including 0) */
	uint32_t capslots;  /* slots allocated */
	uint32_t free_head; /* first free slot, 0: none */
	unsigned live;
};

struct proxy_prefix_table *proxy_prefix_new(size_t entries)
{
	struct proxy_prefix_table *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	size_t cap = 1024;
	while (cap < entries && cap < ((size_t)1 << 40))
		cap <<= 1;
	t->cap = cap;
	t->e = calloc(cap + PROBE - 1, sizeof *t->e);
	if (!t->e)
		abort();
	t->nslots = 1;
	return t;
}

void proxy_prefix_free(struct proxy_prefix_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->slots);
	free(t);
}

uint32_t proxy_prefix_owner_new(struct proxy_prefix_table *t)
{
	uint32_t s = t->free_head;
	if (s) {
		t->free_head = t->slots[s].next_free;
	} else {
		if (t->nslots >= MAX_SLOTS)
			return 0;
		if (t->nslots >= t->capslots) {
			uint32_t cap = t->capslots ? t->capslots * 2 : 64;
			struct slot *v = realloc(t->slots, cap * sizeof *v);
			if (!v)
				abort();
			t->slots = v;
			t->capslots = cap;
		}
		s = t->nslots++;
		memset(&t->slots[s], 0, sizeof t->slots[s]);
	}
	struct slot *sl = &t->slots[s];
	sl->gen = (sl->gen + 1) & 0xFFFF;
	if (sl->gen == 0)
		sl->gen = 1;
	sl->live = true;
	sl->blocks = 0;
	sl->next_free = 0;
	t->live++;
	return s | sl->gen << 16;
}

static struct slot *owner_slot(const struct proxy_prefix_table *t, uint32_t owner)
{
	uint32_t s = owner & 0xFFFF;
	if (s == 0 || s >= t->nslots)
		return NULL;
	struct slot *sl = &t->slots[s];
	if (!sl->live || sl->gen != owner >> 16)
		return NULL;
	return sl;
}

void proxy_prefix_owner_free(struct proxy_prefix_table *t, uint32_t owner)
{
	struct slot *sl = owner_slot(t, owner);
	if (!sl)
		return;
	sl->live = false;
	sl->blocks = 0;
	sl->next_free = t->free_head;
	t->free_head = owner & 0xFFFF;
	t->live--;
}

uint64_t proxy_prefix_owner_blocks(const struct proxy_prefix_table *t, uint32_t owner)
{
	const struct slot *sl = owner_slot(t, owner);
	return sl ? sl->blocks : 0;
}

static void owner_add(struct proxy_prefix_table *t, uint32_t owner, int d)
{
	struct slot *sl = owner_slot(t, owner);
	if (!sl)
		return;
	if (d > 0)
		sl->blocks++;
	else if (sl->blocks > 0)
		sl->blocks--;
}

static const struct entry *find(const struct proxy_prefix_table *t, uint64_t key)
{
	const struct entry *e = &t->e[key & (t->cap - 1)];
	for (int i = 0; i < PROBE; i++)
		if (e[i].key == key)
			return &e[i];
	return NULL;
}

static bool has_owner(const struct entry *e, uint32_t owner)
{
	for (int k = 0; k < PROXY_PREFIX_OWNERS; k++)
		if (e->own[k] == owner)
			return true;
	return false;
}

void proxy_prefix_match(const struct proxy_prefix_table *t, const uint64_t *h, unsigned nh,
			const uint32_t *owners, unsigned nown, unsigned *matched)
{
	for (unsigned i = 0; i < nown; i++)
		matched[i] = 0;
	for (unsigned b = 0; b < nh; b++) {
		const struct entry *e = find(t, h[b]);
		if (!e)
			return;
		bool any = false;
		for (unsigned i = 0; i < nown; i++) {
			if (matched[i] == b && owners[i] && has_owner(e, owners[i])) {
				matched[i] = b + 1;
				any = true;
			}
		}
		if (!any)
			return;
	}
}

/* The entry for KEY, made when missing (evicting the least recently
 * credited entry of a full window). */
static struct entry *get(struct proxy_prefix_table *t, uint64_t key)
{
	struct entry *e = &t->e[key & (t->cap - 1)], *free_e = NULL, *old = NULL;
	uint32_t oldest = 0;
	for (int i = 0; i < PROBE; i++) {
		if (e[i].key == key)
			return &e[i];
		if (e[i].key == 0) {
			if (!free_e)
				free_e = &e[i];
			continue;
		}
		uint32_t age = t->tick - e[i].tick;
		if (!old || age > oldest) {
			old = &e[i];
			oldest = age;
		}
	}
	struct entry *n = free_e;
	if (!n) {
		n = old;
		for (int k = 0; k < PROXY_PREFIX_OWNERS; k++)
			if (n->own[k])
				owner_add(t, n->own[k], -1);
		t->evictions++;
	} else {
		t->used++;
	}
	memset(n, 0, sizeof *n);
	n->key = key;
	return n;
}

void proxy_prefix_insert(struct proxy_prefix_table *t, const uint64_t *h, unsigned nh,
			 uint32_t owner)
{
	if (!owner || !nh)
		return;
	t->tick++;
	for (unsigned b = 0; b < nh; b++) {
		struct entry *e = get(t, h[b]);
		e->tick = t->tick;
		int at = PROXY_PREFIX_OWNERS - 1;
		for (int k = 0; k < PROXY_PREFIX_OWNERS; k++)
			if (e->own[k] == owner) {
				at = k;
				break;
			}
		if (e->own[at] != owner) {
			/* New here: the oldest owner (if the list is full) drops out. */
			if (e->own[at])
				owner_add(t, e->own[at], -1);
			owner_add(t, owner, +1);
		}
		memmove(&e->own[1], &e->own[0], (size_t)at * sizeof e->own[0]);
		e->own[0] = owner;
	}
}

void proxy_prefix_get_stats(const struct proxy_prefix_table *t, struct proxy_prefix_stats *st)
{
	st->entries = t->cap + PROBE - 1;
	st->used = t->used;
	st->evictions = t->evictions;
	st->owners = t->live;
}
