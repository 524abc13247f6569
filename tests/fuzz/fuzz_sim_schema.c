/* fuzz_sim_schema.c — sim/sim_schema (elastic-sim's structured output):
 * any request body is either refused with a message that names the field
 * it blames, or accepted; an accepted one generates the same output twice
 * for a seed, a JSON value that parses whole (a JSON object for
 * json_object) or exactly one of the choices, and never more bytes than
 * asked for. */
#include <json-c/json.h>

#include "buf.h"
#include "fuzz.h"
#include "sim_schema.h"
#include "sim_tok.h"

/* Whether TEXT is exactly one JSON value. */
static struct json_object *parse_whole(const char *text, size_t len, bool *ok)
{
	struct json_tokener *tok = json_tokener_new_ex(128);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1); /* with the NUL */
	*ok = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) >= len;
	json_tokener_free(tok);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct json_tokener *tok = json_tokener_new_ex(64); /* as the sim parses bodies */
	struct json_object *req = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!req)
		return 0;
	struct sim_schema_req r;
	const char *param = NULL;
	char err[512] = "";
	if (sim_schema_parse(req, &r, &param, err, sizeof err) != 0) {
		FUZZ_CHECK(param != NULL && err[0] != '\0');
		FUZZ_CHECK(strstr(err, param) != NULL);
		sim_schema_req_free(&r);
		json_object_put(req);
		return 0;
	}
	if (r.kind != SIM_SCHEMA_NONE) {
		FUZZ_CHECK(r.param != NULL);
		uint64_t seed = sim_hash64(data, size, 1);
		struct buf a = BUF_INIT, b = BUF_INIT;
		sim_schema_generate(&r, seed, 1 << 20, &a);
		sim_schema_generate(&r, seed, 1 << 20, &b);
		FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
		if (a.len < 1 << 20) { /* not cut */
			if (r.kind == SIM_SCHEMA_CHOICE) {
				bool one = false;
				for (size_t i = 0; i < json_object_array_length(r.choices); i++) {
					struct json_object *c = json_object_array_get_idx(r.choices, i);
					one = one || ((size_t)json_object_get_string_len(c) == a.len &&
						      memcmp(json_object_get_string(c), a.data ? a.data : "", a.len) == 0);
				}
				FUZZ_CHECK(one);
			} else {
				bool ok;
				struct json_object *v = parse_whole(a.data, a.len, &ok);
				if (!ok)
					fprintf(stderr, "not one JSON value: %s\n", a.data);
				FUZZ_CHECK(ok);
				FUZZ_CHECK(r.kind != SIM_SCHEMA_OBJECT || json_object_is_type(v, json_type_object));
				json_object_put(v);
			}
		}
		buf_reset(&b);
		sim_schema_generate(&r, seed, 100, &b);
		FUZZ_CHECK(b.len <= 100);
		FUZZ_CHECK(b.len == (a.len < 100 ? a.len : 100));
		buf_free(&a);
		buf_free(&b);
	}
	sim_schema_req_free(&r);
	json_object_put(req);
	return 0;
}
