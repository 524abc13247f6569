/* buf.h — a growable byte buffer, always NUL-terminated.
 *
 * Used wherever text is assembled (JSON bodies, argv strings, metrics pages).
 * Allocation failure aborts the process: every caller would do the same and
 * the daemons cannot do anything useful without memory.
 *
 *   struct buf b = BUF_INIT;
 *   buf_printf(&b, "%d workers", n);
 *   puts(b.data);
 *   buf_free(&b);
 */
#ifndef ES_BUF_H
#define ES_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data; /* the bytes, NUL-terminated; NULL until the first append */
	size_t len; /* bytes used, not counting the terminating NUL */
	size_t cap; /* bytes allocated */
};

#define BUF_INIT {NULL, 0, 0}

/* Makes room for at least N more bytes (plus the NUL). */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends V in decimal (no printf: for hot paths such as HTTP heads). */
void buf_put_u64(struct buf *b, unsigned long long v);
/* Appends V in lower-case hexadecimal, without leading zeros. */
void buf_put_hex(struct buf *b, unsigned long long v);
/* Appends S as a JSON string literal, quotes included. */
void buf_json_str(struct buf *b, const char *s, size_t len);
/* Whether LEN bytes at S are UTF-8 (RFC 3629: no stray or missing
 * continuation bytes, overlong forms, surrogates or code points beyond
 * U+10FFFF; NUL counts as valid). When not, *BAD (may be NULL) is the
 * offset of the first byte of the offending sequence. */
bool buf_utf8_valid(const char *s, size_t len, size_t *bad);
/* Cuts a UTF-8 sequence left incomplete at the end of the NUL-terminated
 * string S (snprintf truncating a message that quotes a client's text);
 * returns S. */
char *buf_utf8_trim(char *s);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Returns the data (never NULL: "" when empty); the caller owns it and the
 * buffer is left empty. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
