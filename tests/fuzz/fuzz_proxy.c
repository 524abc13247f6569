/* fuzz_proxy.c — what the OpenAI proxy reads of a request body: the strict
 * JSON scanner that finds "model", "stream", "user" and the prompt
 * (registry/proxy_json.c), and the prompt's chained block hashes and the
 * prefix table they feed (registry/proxy_prefix.c).
 *
 *   - A body the scanner accepts is JSON that json-c (the engines' side of
 *     the argument: any JSON parser) accepts too, and both read the same
 *     model: the proxy must never route a request for one model to a pool
 *     of another. Escapes decode to valid UTF-8 without NUL.
 *   - Every span and prompt piece lies inside the body; errors name a byte
 *     inside it.
 *   - Block hashes depend on the prompt's pieces only, not on how their
 *     bytes are fed to the hasher.
 *   - The prefix table credits a worker with at most the blocks it was
 *     given; a retired worker with nothing, and a new one that takes its
 *     slot with none of its prefixes.
 */
#include <json-c/json.h>
#include <ctype.h>

#include "fuzz.h"
#include "proxy_json.h"
#include "proxy_prefix.h"

#define MAXB 64

struct pieces {
	const char *body;
	size_t len;
	struct proxy_prefix_hasher *whole, *bytewise;
	struct fuzz_rng *rng;
};

static void on_piece(void *arg, const char *p, size_t n)
{
	struct pieces *c = arg;
	FUZZ_CHECK(p >= c->body && p + n <= c->body + c->len);
	proxy_prefix_feed(c->whole, p, n);
	proxy_prefix_sep(c->whole);
	/* The same bytes in random slices. */
	size_t off = 0;
	while (off < n) {
		size_t k = 1 + (size_t)(fuzz_rng_next(c->rng) % 700);
		if (k > n - off)
			k = n - off;
		proxy_prefix_feed(c->bytewise, p + off, k);
		off += k;
	}
	proxy_prefix_sep(c->bytewise);
}

static void check_str(const struct proxy_json_str *s, const char *body, size_t len,
		      char *out, size_t outlen, int *dec)
{
	*dec = -2;
	if (!s->p)
		return;
	FUZZ_CHECK(s->p >= body && s->p + s->len <= body + len);
	*dec = proxy_json_unescape(s, out, outlen);
	if (*dec >= 0) {
		FUZZ_CHECK((size_t)*dec < outlen && out[*dec] == '\0');
		FUZZ_CHECK(strlen(out) == (size_t)*dec); /* no NUL inside */
		FUZZ_CHECK(fuzz_utf8_valid(out, (size_t)*dec));
		if (!s->escaped)
			FUZZ_CHECK((size_t)*dec == s->len && memcmp(out, s->p, s->len) == 0);
	}
}

/* json-c 0.16 decodes a surrogate pair whose high surrogate has
 * (hi & 0x3e) == 0x36 (\uD836, \uD837, \uD876, ... \uDBF7: 32 of the
 * 1,024) to U+FFFD, where Python (and so vLLM and SGLang) and the proxy
 * decode the code point (U+1DA00 for \uD836\uDE00). And it cuts a key at
 * an escaped NUL: {"model\u0000":"x"} has a "model" for json-c, none for
 * the proxy and for Python. Where the body has such an escape, json-c is
 * no oracle for the model. */
static bool jsonc_no_oracle(const char *body, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		if (body[i] != '\\' || body[i + 1] != 'u')
			continue;
		unsigned v = 0;
		size_t k;
		for (k = 2; k < 6 && isxdigit((unsigned char)body[i + k]); k++)
			v = v * 16 + (unsigned)(isdigit((unsigned char)body[i + k])
						    ? body[i + k] - '0'
						    : (tolower((unsigned char)body[i + k]) - 'a' + 10));
		if (k == 6 && (v == 0 || (v >= 0xd800 && v <= 0xdbff && (v & 0x3e) == 0x36)))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	unsigned block = 16u << (data[0] % 4); /* 16..128 bytes */
	size_t len = size - 1;
	char *body = malloc(len ? len : 1);
	if (!body)
		abort();
	memcpy(body, data + 1, len);

	struct fuzz_rng rng;
	fuzz_rng_seed(&rng, data, size);
	static struct proxy_prefix_hasher h1, h2;
	uint64_t o1[MAXB], o2[MAXB];
	proxy_prefix_begin(&h1, 42, block, o1, MAXB);
	proxy_prefix_begin(&h2, 42, block, o2, MAXB);
	struct pieces pc = {body, len, &h1, &h2, &rng};
	struct proxy_json_req jr;
	memset(&jr, 0, sizeof jr);
	jr.stream = -1;
	char err[256] = "";
	int r = proxy_json_scan(body, len, &jr, on_piece, &pc, err, sizeof err);
	if (r < 0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(jr.err_off <= len);
		free(body);
		return 0;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(jr.stream >= -1 && jr.stream <= 1);
	/* The top-level spans (stream migration's) are values inside the body. */
	FUZZ_CHECK(jr.root_off < len && body[jr.root_off] == '{');
	for (int k = 0; k < PROXY_JSON_T_N_KEYS; k++) {
		const struct proxy_json_span *sp = &jr.top[k];
		if (!sp->len)
			continue;
		FUZZ_CHECK(sp->off > jr.root_off && sp->off + sp->len < len);
		char c = body[sp->off], e = body[sp->off + sp->len - 1];
		FUZZ_CHECK(c != ' ' && c != ',' && c != ':' && e != ' ' && e != ',');
		FUZZ_CHECK(c != '{' || e == '}');
		FUZZ_CHECK(c != '[' || e == ']');
		FUZZ_CHECK(c != '"' || (e == '"' && sp->len >= 2));
	}

	/* Hashes of the same pieces agree, however the bytes came. */
	FUZZ_CHECK(h1.n == h2.n);
	FUZZ_CHECK(h1.n == 0 || memcmp(o1, o2, h1.n * sizeof *o1) == 0);

	char model[256], user[256];
	int dm, du;
	check_str(&jr.model, body, len, model, sizeof model, &dm);
	check_str(&jr.user, body, len, user, sizeof user, &du);

	/* json-c reads the same document, and the same model. */
	struct json_tokener *tok = json_tokener_new_ex(PROXY_JSON_MAX_DEPTH + 2);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	if (!o || je != json_tokener_success) {
		fprintf(stderr, "proxy_json accepted what json-c refuses (%s): %.*s\n",
			json_tokener_error_desc(je), (int)len, body);
		abort();
	}
	struct json_object *m = NULL;
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "model", &m) &&
	    m && dm >= 0) {
		FUZZ_CHECK(json_object_is_type(m, json_type_string));
		if (((size_t)json_object_get_string_len(m) != (size_t)dm ||
		     memcmp(json_object_get_string(m), model, (size_t)dm) != 0) &&
		    !jsonc_no_oracle(body, len)) {
			fprintf(stderr, "model: proxy \"%s\", json-c \"%s\"\n", model,
				json_object_get_string(m));
			abort();
		}
	}
	if (dm == -2 && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "model", &m) && !jsonc_no_oracle(body, len))
		FUZZ_CHECK(m == NULL); /* absent or null for both */
	json_object_put(o);
	json_tokener_free(tok);

	/* The prefix table: two owners, one retired. */
	static struct proxy_prefix_table *t;
	if (!t)
		t = proxy_prefix_new(1024);
	uint32_t a = proxy_prefix_owner_new(t), b = proxy_prefix_owner_new(t);
	FUZZ_CHECK(a && b && a != b);
	proxy_prefix_insert(t, o1, h1.n, a);
	uint32_t owners[2] = {a, b};
	unsigned matched[2];
	proxy_prefix_match(t, o1, h1.n, owners, 2, matched);
	FUZZ_CHECK(matched[0] <= h1.n && matched[1] <= h1.n);
	FUZZ_CHECK(proxy_prefix_owner_blocks(t, a) <= h1.n);
	proxy_prefix_owner_free(t, a);
	FUZZ_CHECK(proxy_prefix_owner_blocks(t, a) == 0);
	/* A new owner in the retired one's slot inherits none of its prefixes. */
	uint32_t c = proxy_prefix_owner_new(t);
	FUZZ_CHECK(c && c != a && (c & 0xffff) == (a & 0xffff));
	proxy_prefix_match(t, o1, h1.n, &c, 1, matched);
	FUZZ_CHECK(matched[0] == 0);
	proxy_prefix_owner_free(t, b);
	proxy_prefix_owner_free(t, c);
	struct proxy_prefix_stats st;
	proxy_prefix_get_stats(t, &st);
	FUZZ_CHECK(st.used <= st.entries && st.owners == 0);
	free(body);
	return 0;
}
