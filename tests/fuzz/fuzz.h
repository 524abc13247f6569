/* fuzz.h — helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput(). `make fuzz` links it with
 * clang's libFuzzer; the unit runner compiles it again with
 * -DLLVMFuzzerTestOneInput=fuzz_one_NAME and replays the committed inputs
 * (tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME) under ASan and
 * UBSan, so that every input that once crashed stays a regression test.
 *
 * A target checks invariants with FUZZ_CHECK: a violation prints what was
 * expected and aborts, which both libFuzzer and Check report as a crash.
 */
#ifndef ES_FUZZ_H
#define ES_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, \
				#cond);                                                   \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* A copy of DATA with a NUL after it (most parsers here take C strings
 * somewhere). Free it with free(). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		abort();
	if (len)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A small deterministic generator, seeded from the input, for the places
 * where a target splits its input into pieces (incremental parsers). */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *data, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	r->s = h | 1;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

/* Whether LEN bytes at S are valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). NUL counts as valid. */
static inline bool fuzz_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n + 1 > len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

#endif
