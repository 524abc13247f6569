/* sim_kv.c — see sim_kv.h. */
#include "sim_kv.h"

#include <stdlib.h>
#include <string.h>

#include "sim_tok.h"

static void fq_remove(struct sim_kv *kv, int32_t i)
{
	struct sim_kv_block *b = &kv->b[i];
	if (b->prev >= 0)
		kv->b[b->prev].next = b->next;
	else
		kv->free_head = b->next;
	if (b->next >= 0)
		kv->b[b->next].prev = b->prev;
	else
		kv->free_tail = b->prev;
	b->prev = b->next = -1;
	b->in_free = false;
	kv->nfree--;
}

static void fq_push_tail(struct sim_kv *kv, int32_t i)
{
	struct sim_kv_block *b = &kv->b[i];
	b->prev = kv->free_tail;
	b->next = -1;
	if (kv->free_tail >= 0)
		kv->b[kv->free_tail].next = i;
	else
		kv->free_head = i;
	kv->free_tail = i;
	b->in_free = true;
	kv->nfree++;
}

static void fq_push_head(struct sim_kv *kv, int32_t i)
{
	struct sim_kv_block *b = &kv->b[i];
	b->next = kv->free_head;
	b->prev = -1;
	if (kv->free_head >= 0)
		kv->b[kv->free_head].prev = i;
	else
		kv->free_tail = i;
	kv->free_head = i;
	b->in_free = true;
	kv->nfree++;
}

struct sim_kv *sim_kv_new(int32_t nblocks, int32_t block_size, bool prefix_caching)
{
	if (nblocks <= 0 || block_size <= 0)
		return NULL;
	struct sim_kv *kv = calloc(1, sizeof *kv);
	if (!kv)
		return NULL;
	kv->nblocks = nblocks;
	kv->block_size = block_size;
	kv->prefix_caching = prefix_caching;
	uint32_t nb = 16;
	while (nb < (uint32_t)nblocks * 2u && nb < (1u << 30))
		nb *= 2;
	kv->hmask = nb - 1;
	kv->b = calloc((size_t)nblocks, sizeof *kv->b);
	kv->htab = malloc(nb * sizeof *kv->htab);
	if (!kv->b || !kv->htab) {
		sim_kv_free(kv);
		return NULL;
	}
	memset(kv->htab, 0xff, nb * sizeof *kv->htab);
	kv->free_head = kv->free_tail = -1;
	for (int32_t i = 0; i < nblocks; i++) {
		kv->b[i].hnext = -1;
		fq_push_tail(kv, i);
	}
	return kv;
}

void sim_kv_free(struct sim_kv *kv)
{
	if (!kv)
		return;
	free(kv->b);
	free(kv->htab);
	free(kv);
}

size_t sim_kv_hashes(const struct sim_kv *kv, const uint32_t *tokens, size_t n,
		     uint64_t salt, uint64_t *hashes)
{
	size_t bs = (size_t)kv->block_size, nfull = n / bs;
	uint64_t h = salt;
	for (size_t i = 0; i < nfull; i++) {
		h = sim_hash64(tokens + i * bs, bs * sizeof *tokens, h);
		hashes[i] = h ? h : 1; /* 0 means "no hash" */
	}
	return nfull;
}

int32_t sim_kv_blocks_for(const struct sim_kv *kv, size_t ntokens)
{
	size_t bs = (size_t)kv->block_size;
	size_t n = (ntokens + bs - 1) / bs;
	return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

static int32_t ht_find(const struct sim_kv *kv, uint64_t h)
{
	for (int32_t i = kv->htab[h & kv->hmask]; i >= 0; i = kv->b[i].hnext)
		if (kv->b[i].hash == h)
			return i;
	return -1;
}

static void ht_insert(struct sim_kv *kv, int32_t i)
{
	uint32_t k = (uint32_t)(kv->b[i].hash & kv->hmask);
	kv->b[i].hnext = kv->htab[k];
	kv->htab[k] = i;
	kv->b[i].hashed = true;
}

static void ht_remove(struct sim_kv *kv, int32_t i)
{
	uint32_t k = (uint32_t)(kv->b[i].hash & kv->hmask);
	int32_t *pp = &kv->htab[k];
	while (*pp >= 0 && *pp != i)
		pp = &kv->b[*pp].hnext;
	if (*pp == i)
		*pp = kv->b[i].hnext;
	kv->b[i].hnext = -1;
	kv->b[i].hashed = false;
	kv->b[i].hash = 0;
}

int sim_kv_alloc(struct sim_kv *kv, struct sim_kv_seq *seq, const uint64_t *hashes,
		 size_t nhash, size_t nprompt, size_t ntokens)
{
	int32_t need = sim_kv_blocks_for(kv, ntokens);
	if (need > kv->nblocks)
		return -1;
	/* Cached leading blocks; never the whole prompt. */
	size_t maxhit = nprompt ? (nprompt - 1) / (size_t)kv->block_size : 0;
	if (maxhit > nhash)
		maxhit = nhash;
	size_t hit = 0;
	int32_t hit_free = 0; /* hits now in the free queue */
	if (kv->prefix_caching) {
		while (hit < maxhit) {
			int32_t i = ht_find(kv, hashes[hit]);
			if (i < 0)
				break;
			if (kv->b[i].ref == 0)
				hit_free++;
			hit++;
		}
	}
	int32_t fresh = need - (int32_t)hit;
	if (fresh > kv->nfree - hit_free)
		return -1;
	seq->blocks = malloc((size_t)need * sizeof *seq->blocks);
	if (!seq->blocks)
		return -1;
	seq->n = need;
	for (size_t k = 0; k < hit; k++) {
		int32_t i = ht_find(kv, hashes[k]);
		if (kv->b[i].in_free)
			fq_remove(kv, i);
		kv->b[i].ref++;
		seq->blocks[k] = i;
	}
	for (int32_t k = (int32_t)hit; k < need; k++) {
		int32_t i = kv->free_head;
		fq_remove(kv, i);
		if (kv->b[i].hashed) {
			ht_remove(kv, i);
			kv->evictions++;
		}
		kv->b[i].ref = 1;
		if (kv->prefix_caching && (size_t)k < nhash && ht_find(kv, hashes[k]) < 0) {
			kv->b[i].hash = hashes[k];
			ht_insert(kv, i);
		}
		seq->blocks[k] = i;
	}
	size_t cached = hit * (size_t)kv->block_size;
	kv->queries += nprompt;
	kv->hits += cached;
	return (int)cached;
}

void sim_kv_release(struct sim_kv *kv, struct sim_kv_seq *seq)
{
	for (int32_t k = seq->n - 1; k >= 0; k--) {
		int32_t i = seq->blocks[k];
		if (--kv->b[i].ref > 0)
			continue;
		if (kv->b[i].hashed)
			fq_push_tail(kv, i);
		else
			fq_push_head(kv, i);
	}
	free(seq->blocks);
	seq->blocks = NULL;
	seq->n = 0;
}

double sim_kv_usage(const struct sim_kv *kv)
{
	return (double)(kv->nblocks - kv->nfree) / (double)kv->nblocks;
}

int32_t sim_kv_cached_blocks(const struct sim_kv *kv)
{
	int32_t n = 0;
	for (int32_t i = 0; i < kv->nblocks; i++)
		n += kv->b[i].hashed;
	return n;
}
