/* sim_tok.c — see sim_tok.h. */
#include "sim_tok.h"

#include <stdlib.h>
#include <string.h>

void sim_toks_push(struct sim_toks *t, uint32_t id)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		uint32_t *p = realloc(t->ids, cap * sizeof *p);
		if (!p)
			abort();
		t->ids = p;
		t->cap = cap;
	}
	t->ids[t->n++] = id;
}

void sim_toks_free(struct sim_toks *t)
{
	free(t->ids);
	t->ids = NULL;
	t->n = t->cap = 0;
}

uint64_t sim_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t sim_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ sim_mix64(seed);
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return sim_mix64(h);
}

static uint32_t sim_tok_id(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return SIM_TOK_FIRST_ID + h % (SIM_TOK_VOCAB - SIM_TOK_FIRST_ID);
}

uint32_t sim_tok_special(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 16777619u;
	}
	return 1 + h % (SIM_TOK_FIRST_ID - 1);
}

static int sim_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of a valid UTF-8 sequence at P (N bytes left), or 0. */
static size_t sim_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t min;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	uint32_t cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t sim_tok_next(const char *text, size_t len, size_t i)
{
	const unsigned char *p = (const unsigned char *)text;
	unsigned char c = p[i];
	if (sim_alnum(c) || (c == ' ' && i + 1 < len && sim_alnum(p[i + 1]))) {
		if (c == ' ')
			i++;
		size_t k = 0;
		while (i < len && k < 4 && sim_alnum(p[i])) {
			i++;
			k++;
		}
	} else if (c == ' ') {
		size_t k = 0;
		while (i < len && k < 4 && p[i] == ' ' &&
		       !(i + 1 < len && sim_alnum(p[i + 1]) && k > 0)) {
			i++;
			k++;
		}
	} else if (c < 0x80) {
		i++;
	} else {
		size_t u = sim_utf8_len(p + i, len - i);
		i += u ? u : 1;
	}
	return i;
}

size_t sim_tok_encode(const char *text, size_t len, struct sim_toks *out)
{
	size_t i = 0, count = 0;
	while (i < len) {
		size_t s = i;
		i = sim_tok_next(text, len, i);
		if (out)
			sim_toks_push(out, sim_tok_id(text + s, i - s));
		count++;
	}
	return count;
}

static const char *const sim_words[64] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was",
	"with", "be", "on", "not", "by", "are", "this", "at", "from", "but",
	"have", "an", "they", "or", "one", "had", "word", "what", "all", "were",
	"when", "we", "ther", "can", "said", "use", "each", "do", "how", "will",
	"up", "othe", "abou", "out", "many", "then", "them", "so", "some", "her",
	"make", "like", "him", "into", "time", "has", "look", "two", "more",
	"go", "see", "no", "way",
};

const char *sim_tok_word(uint64_t seed, uint32_t i, size_t *len)
{
	static char buf[8];
	const char *w = sim_words[sim_mix64(seed * 0x9e3779b97f4a7c15ULL + i) % 64];
	size_t n = strlen(w);
	if (i == 0) {
		memcpy(buf, w, n + 1);
		buf[0] = (char)(buf[0] - 'a' + 'A');
	} else {
		buf[0] = ' ';
		memcpy(buf + 1, w, n + 1);
		n++;
	}
	*len = n;
	return buf;
}

uint32_t sim_tok_resume(uint64_t seed, const char *text, size_t len)
{
	/* Word 0 is at least 2 bytes and every later one at least 3: a text of
	 * LEN bytes ends with at most (LEN - 2) / 3 + 1 words. Each candidate
	 * is compared from its last word backwards; almost all fail at once. */
	if (len < 2)
		return 0;
	size_t kmax = (len - 2) / 3 + 1;
	if (kmax > UINT32_MAX)
		kmax = UINT32_MAX;
	uint32_t best = 0;
	for (size_t k = 1; k <= kmax; k++) {
		size_t pos = len, wl;
		uint32_t i = (uint32_t)k;
		while (i-- > 0) {
			const char *w = sim_tok_word(seed, i, &wl);
			if (pos < wl || memcmp(text + pos - wl, w, wl) != 0)
				break;
			pos -= wl;
		}
		if (i == UINT32_MAX) /* all K words matched */
			best = (uint32_t)k;
	}
	return best;
}
