/* proxy_keys.h — API keys for the OpenAI side.
 *
 * Clients send `Authorization: Bearer KEY` as every OpenAI client does. The
 * accepted keys are the one the registry generated at its first start
 * (STATE_DIR/api_key, mode 0600, printed by `elasticctl key`) and those of
 * an optional keys file: one key a line, blank lines and lines starting
 * with '#' ignored, the file owned by the registry's user or root with no
 * permissions for group or others.
 *
 * Keys are kept only as SHA-256 digests and compared with auth_equal(), so
 * the time a check takes says nothing about how much of a key was right.
 * No function here logs or returns a key.
 */
#ifndef ES_PROXY_KEYS_H
#define ES_PROXY_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define PROXY_KEY_MIN 8     /* shortest key accepted in a keys file */
#define PROXY_KEY_MAX 512   /* longest key */

struct proxy_keys;

struct proxy_keys *proxy_keys_new(void);
void proxy_keys_free(struct proxy_keys *k);

/* Adds a fixed key (the generated one): kept across file reloads. */
void proxy_keys_add(struct proxy_keys *k, const char *key, size_t len);

/* Parses keys file text SRC (LEN bytes) in place of the keys from the
 * previous file. FILENAME is for messages. Returns the number of keys, or
 * -1 with ERR ("FILE:LINE: message"; the previous keys stay). */
int proxy_keys_parse(struct proxy_keys *k, const char *src, size_t len, const char *filename,
		     char *err, size_t errlen);

/* Reads PATH (checked as described above) and parses it. Returns the
 * number of keys, or -1 with ERR (the previous keys stay). */
int proxy_keys_load(struct proxy_keys *k, const char *path, char *err, size_t errlen);

/* Whether AUTHORIZATION (the header's value; NULL when absent) is
 * "Bearer KEY" with an accepted KEY. */
bool proxy_keys_check(const struct proxy_keys *k, const char *authorization);

/* Keys accepted (fixed and from the file). */
size_t proxy_keys_count(const struct proxy_keys *k);

#endif
