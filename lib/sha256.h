/* sha256.h — SHA-256 and HMAC-SHA-256 (FIPS 180-4, RFC 2104).
 *
 * Used to bind authenticated control requests to their method, path and
 * body (lib/auth.c), not for anything that must be fast.
 */
#ifndef ES_SHA256_H
#define ES_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];      /* chaining state */
	uint64_t nbytes;    /* message length so far */
	uint8_t block[64];  /* pending input */
	size_t nblock;      /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

/* One-shot digest. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
		 uint8_t out[SHA256_LEN]);

/* Writes 64 lower-case hex digits and a NUL into OUT. */
void sha256_hex(const uint8_t digest[SHA256_LEN], char out[2 * SHA256_LEN + 1]);

#endif
