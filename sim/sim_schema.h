/* sim_schema.h — elastic-sim's structured output: OpenAI's
 * `response_format` ({"type": "text"}, {"type": "json_object"},
 * {"type": "json_schema", "json_schema": {"name": ..., "schema": {...},
 * "strict": ...}}), vLLM's `guided_json` and `guided_choice`, and the
 * `json` and `choice` of vLLM's newer `structured_outputs`.
 *
 * What real engines get from a grammar, the sim gets by construction: the
 * reply is a value generated to validate against the schema (or exactly
 * one of the choices), deterministic for a seed. The schema subset:
 *   - type (a name or a list; the first that is not "null" is generated):
 *     object, array, string, integer, number, boolean, null;
 *   - object: properties (every one is generated, in order), required
 *     (a required key without a property gets a string), additionalProperties
 *     (accepted; nothing more is generated);
 *   - array: items (absent: strings), minItems, maxItems (between them, at
 *     most 3 items unless minItems asks for more);
 *   - string: minLength, maxLength (a few generated words, cut or grown);
 *   - integer, number: minimum, maximum, exclusiveMinimum, exclusiveMaximum
 *     (a number, or draft 4's boolean);
 *   - enum and const at any level (an enum's pick is a hash of the seed);
 *   - anyOf and oneOf (the first branch is generated), with nothing but
 *     annotations beside them;
 *   - annotations: title, description, default, examples, $schema, $id,
 *     $comment, deprecated, readOnly, writeOnly;
 *   - the schema `true` or {} (any value: a string; a JSON object at the top).
 * Anything else ($ref, $defs, pattern, format, allOf, ...) is refused, as
 * vLLM refuses a schema its grammar backend cannot compile, and so is a
 * schema no value satisfies (minimum above maximum, an empty enum, ...).
 */
#ifndef ES_SIM_SCHEMA_H
#define ES_SIM_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct json_object;

/* Nesting deeper than this is refused. */
#define SIM_SCHEMA_MAX_DEPTH 32
/* The most items an array's minItems, or characters a string's
 * minLength, may ask for. */
#define SIM_SCHEMA_MAX_ITEMS 1024
#define SIM_SCHEMA_MAX_LENGTH 65536

enum sim_schema_kind {
	SIM_SCHEMA_NONE,   /* no structured output: plain text */
	SIM_SCHEMA_OBJECT, /* response_format json_object: some JSON object */
	SIM_SCHEMA_JSON,   /* a value of a JSON schema */
	SIM_SCHEMA_CHOICE, /* exactly one of a list of strings */
};

/* What a request asks for. */
struct sim_schema_req {
	enum sim_schema_kind kind;   /* see above */
	const char *param;           /* the field that asked for it
				      * ("response_format", "guided_json", ...);
				      * NULL for NONE */
	struct json_object *schema;  /* JSON: the schema (a reference held) */
	struct json_object *choices; /* CHOICE: the non-empty array of strings
				      * (a reference held) */
};

/* Reads response_format, guided_json, guided_choice and structured_outputs
 * of REQ (a request body) into OUT and checks the schema (see
 * sim_schema_check). Returns 0, or -1 with *PARAM naming the bad field and
 * ERR set ("response_format.json_schema.schema.properties.x: 'pattern' is
 * not supported ..."); OUT is to be freed either way. */
int sim_schema_parse(struct json_object *req, struct sim_schema_req *out, const char **param,
		     char *err, size_t errlen);
void sim_schema_req_free(struct sim_schema_req *r);

/* Checks that SCHEMA is in the subset above and can be satisfied. PATH
 * names it in ERR ("guided_json", "response_format.json_schema.schema").
 * Returns 0, or -1 with ERR naming the place and the problem. */
int sim_schema_check(struct json_object *schema, const char *path, char *err, size_t errlen);

/* Appends to OUT the output for R (not NONE): a JSON value's text, written
 * as Python's json.dumps writes it ({"a": 1, "b": [true, null]}), or a
 * choice's text as it is. A function of SEED alone. Once OUT has grown by
 * more than MAX_BYTES the value is left unfinished (the caller cuts the
 * output shorter than that anyway). */
void sim_schema_generate(const struct sim_schema_req *r, uint64_t seed, size_t max_bytes,
			 struct buf *out);

#endif
