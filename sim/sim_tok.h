/* sim_tok.h — elastic-sim's deterministic tokenizer and text generator.
 *
 * Not a real BPE, but stable across runs and machines and close to real
 * token counts for English (about 4 bytes a token):
 *   - a run of ASCII letters and digits, with at most one space before it,
 *     is cut into tokens of at most 4 characters (" hello" -> " hell", "o");
 *   - other spaces: up to 4 in a token; each newline and each other ASCII
 *     character is a token;
 *   - each UTF-8 character is a token; each byte of invalid UTF-8 too.
 * A token's id is a 32-bit FNV-1a hash of its bytes, folded into
 * [SIM_TOK_FIRST_ID, SIM_TOK_VOCAB); ids below are special tokens.
 *
 * Generated text is made of short English words, one token each, chosen by
 * a hash of the request's seed and the token's position: the first word is
 * capitalized and has no space before it, the others are lower-case with
 * one space before them, so that the first K words of a reply are exactly
 * K tokens and a text ending with them is recognized (sim_tok_resume).
 */
#ifndef ES_SIM_TOK_H
#define ES_SIM_TOK_H

#include <stddef.h>
#include <stdint.h>

#define SIM_TOK_VOCAB 151936u  /* ids are below this */
#define SIM_TOK_FIRST_ID 1000u /* ids below are special tokens */

/* A growable array of token ids. */
struct sim_toks {
	uint32_t *ids; /* the ids */
	size_t n;      /* ids in use */
	size_t cap;    /* ids allocated */
};

void sim_toks_push(struct sim_toks *t, uint32_t id);
void sim_toks_free(struct sim_toks *t);

/* Appends the tokens of TEXT (LEN bytes) to OUT; returns how many. OUT may
 * be NULL to count only. */
size_t sim_tok_encode(const char *text, size_t len, struct sim_toks *out);

/* The end of the token that starts at byte I of TEXT (LEN bytes, I < LEN):
 * how sim_tok_encode cuts it. */
size_t sim_tok_next(const char *text, size_t len, size_t i);

/* The id of a special token named NAME (e.g. a chat role marker). */
uint32_t sim_tok_special(const char *name);

/* The text of generated token I for SEED: a word, with a space before it
 * unless I is 0. Sets *LEN; the string is static. */
const char *sim_tok_word(uint64_t seed, uint32_t i, size_t *len);

/* The largest K such that TEXT (LEN bytes) ends with the first K words
 * generated for SEED (sim_tok_word 0 to K-1, byte for byte), or 0: where a
 * continuation of TEXT resumes generating. */
uint32_t sim_tok_resume(uint64_t seed, const char *text, size_t len);

/* A 64-bit hash (FNV-1a, then a finalizer) of LEN bytes, chained on SEED. */
uint64_t sim_hash64(const void *data, size_t len, uint64_t seed);

/* A good 64-bit mix of X (splitmix64's finalizer). */
uint64_t sim_mix64(uint64_t x);

#endif
