/* check_sim_schema.c — sim/sim_schema: the structured output a request asks
 * for (response_format, guided_json, guided_choice, structured_outputs),
 * the schemas refused, and generated values that parse and validate
 * (checked by a small validator of the same subset, written here). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../sim/sim_schema.h"
#include "buf.h"

/* ---------------------------------------------------------------- a validator */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static bool has(struct json_object *o, const char *key)
{
	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, NULL);
}

static bool is_type(struct json_object *v, const char *t)
{
	enum json_type jt = json_object_get_type(v);
	if (strcmp(t, "null") == 0)
		return jt == json_type_null;
	if (strcmp(t, "boolean") == 0)
		return jt == json_type_boolean;
	if (strcmp(t, "string") == 0)
		return jt == json_type_string;
	if (strcmp(t, "array") == 0)
		return jt == json_type_array;
	if (strcmp(t, "object") == 0)
		return jt == json_type_object;
	if (strcmp(t, "number") == 0)
		return jt == json_type_int || jt == json_type_double;
	if (strcmp(t, "integer") == 0)
		return jt == json_type_int ||
		       (jt == json_type_double && json_object_get_double(v) == floor(json_object_get_double(v)));
	return false;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Whether V validates against S; WHY says where it does not. */
static bool valid(struct json_object *s, struct json_object *v, char *why, size_t n)
{
	if (json_object_is_type(s, json_type_boolean))
		return json_object_get_boolean(s) || (snprintf(why, n, "schema false"), false);
	struct json_object *x;
	if ((x = get(s, "anyOf")) || (x = get(s, "oneOf"))) {
		size_t ok = 0;
		for (size_t i = 0; i < json_object_array_length(x); i++)
			ok += valid(json_object_array_get_idx(x, i), v, why, n);
		if (ok == 0 || (get(s, "oneOf") && ok != 1))
			return snprintf(why, n, "%zu branches of anyOf/oneOf match", ok), false;
	}
	if (has(s, "const") && !json_object_equal(get(s, "const"), v))
		return snprintf(why, n, "not the const"), false;
	if ((x = get(s, "enum"))) {
		bool in = false;
		for (size_t i = 0; i < json_object_array_length(x); i++)
			in = in || json_object_equal(json_object_array_get_idx(x, i), v);
		if (!in)
			return snprintf(why, n, "not in the enum"), false;
	}
	if ((x = get(s, "type"))) {
		bool ok = false;
		if (json_object_is_type(x, json_type_string))
			ok = is_type(v, json_object_get_string(x));
		for (size_t i = 0; json_object_is_type(x, json_type_array) && i < json_object_array_length(x); i++)
			ok = ok || is_type(v, json_object_get_string(json_object_array_get_idx(x, i)));
		if (!ok)
			return snprintf(why, n, "wrong type"), false;
	}
	if (json_object_is_type(v, json_type_object)) {
		struct json_object *props = get(s, "properties"), *req = get(s, "required");
		for (size_t i = 0; req && i < json_object_array_length(req); i++)
			if (!has(v, json_object_get_string(json_object_array_get_idx(req, i))))
				return snprintf(why, n, "required %s missing",
						json_object_get_string(json_object_array_get_idx(req, i))), false;
		json_object_object_foreach(v, key, val) {
			if (has(props, key)) {
				if (!valid(get(props, key), val, why, n))
					return false;
			} else if (has(s, "additionalProperties") && !json_object_get_boolean(get(s, "additionalProperties")) &&
				   json_object_is_type(get(s, "additionalProperties"), json_type_boolean)) {
				return snprintf(why, n, "additional property %s", key), false;
			}
		}
	}
	if (json_object_is_type(v, json_type_array)) {
		size_t len = json_object_array_length(v);
		if (has(s, "minItems") && (int64_t)len < json_object_get_int64(get(s, "minItems")))
			return snprintf(why, n, "too few items"), false;
		if (has(s, "maxItems") && (int64_t)len > json_object_get_int64(get(s, "maxItems")))
			return snprintf(why, n, "too many items"), false;
		for (size_t i = 0; has(s, "items") && i < len; i++)
			if (!valid(get(s, "items"), json_object_array_get_idx(v, i), why, n))
				return false;
	}
	if (json_object_is_type(v, json_type_string)) {
		int64_t len = (int64_t)utf8_len(json_object_get_string(v));
		if (has(s, "minLength") && len < json_object_get_int64(get(s, "minLength")))
			return snprintf(why, n, "string too short"), false;
		if (has(s, "maxLength") && len > json_object_get_int64(get(s, "maxLength")))
			return snprintf(why, n, "string too long"), false;
	}
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		struct json_object *emin = get(s, "exclusiveMinimum"), *emax = get(s, "exclusiveMaximum");
		bool bmin = json_object_is_type(emin, json_type_boolean), bmax = json_object_is_type(emax, json_type_boolean);
		if (has(s, "minimum") && (d < json_object_get_double(get(s, "minimum")) ||
					  (bmin && json_object_get_boolean(emin) && d == json_object_get_double(get(s, "minimum")))))
			return snprintf(why, n, "%g below the minimum", d), false;
		if (has(s, "maximum") && (d > json_object_get_double(get(s, "maximum")) ||
					  (bmax && json_object_get_boolean(emax) && d == json_object_get_double(get(s, "maximum")))))
			return snprintf(why, n, "%g above the maximum", d), false;
		if (emin && !bmin && d <= json_object_get_double(emin))
			return snprintf(why, n, "%g not above exclusiveMinimum", d), false;
		if (emax && !bmax && d >= json_object_get_double(emax))
			return snprintf(why, n, "%g not below exclusiveMaximum", d), false;
	}
	return true;
}

/* Parses TEXT strictly (the whole of it, one JSON value); NULL if not. */
static struct json_object *parse_all(const char *text, bool *ok)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	size_t len = strlen(text);
	/* With the NUL: a number at the end is known to end there. */
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
	*ok = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) >= len;
	json_tokener_free(tok);
	return o;
}

/* ---------------------------------------------------------------- helpers */

/* Parses the request REQ (JSON text); returns sim_schema_parse's result. */
static int parse_req(const char *req, struct sim_schema_req *r, const char **param, char *err, size_t errlen)
{
	/* As deep as the sim's parser goes. */
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *o = json_tokener_parse_ex(tok, req, (int)strlen(req));
	json_tokener_free(tok);
	ck_assert_msg(o, "bad test JSON: %s", req);
	*param = NULL;
	err[0] = '\0';
	int rc = sim_schema_parse(o, r, param, err, errlen);
	json_object_put(o);
	return rc;
}

/* Generates for SCHEMA (JSON text, as guided_json) with SEED into OUT and
 * checks that the text is one JSON value valid against the schema. */
static void gen_valid(const char *schema, uint64_t seed, struct buf *out)
{
	char req[4096], err[512];
	snprintf(req, sizeof req, "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
				  "{\"name\":\"t\",\"strict\":true,\"schema\":%s}}}", schema);
	struct sim_schema_req r;
	const char *param;
	ck_assert_msg(parse_req(req, &r, &param, err, sizeof err) == 0, "%s: %s", schema, err);
	ck_assert_int_eq(r.kind, SIM_SCHEMA_JSON);
	ck_assert_str_eq(r.param, "response_format");
	buf_reset(out);
	sim_schema_generate(&r, seed, 1 << 20, out);
	bool ok;
	struct json_object *v = parse_all(out->data, &ok);
	ck_assert_msg(ok, "%s, seed %llu: not one JSON value: %s", schema, (unsigned long long)seed, out->data);
	char why[256] = "";
	ck_assert_msg(valid(r.schema, v, why, sizeof why), "%s, seed %llu: %s does not validate: %s", schema,
		      (unsigned long long)seed, out->data, why);
	json_object_put(v);
	sim_schema_req_free(&r);
}

/* ---------------------------------------------------------------- tests */

static const char *const schemas[] = {
	"{\"type\":\"string\"}",
	"{\"type\":\"string\",\"minLength\":40}",
	"{\"type\":\"string\",\"maxLength\":3}",
	"{\"type\":\"string\",\"minLength\":5,\"maxLength\":5}",
	"{\"type\":\"string\",\"maxLength\":0}",
	"{\"type\":\"string\",\"enum\":[\"correct\",\"incorrect\"]}",
	"{\"type\":\"integer\"}",
	"{\"type\":\"integer\",\"minimum\":-3,\"maximum\":3}",
	"{\"type\":\"integer\",\"exclusiveMinimum\":1,\"exclusiveMaximum\":3}",
	"{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":2.5}",
	"{\"type\":\"integer\",\"minimum\":1000000}",
	"{\"type\":\"integer\",\"maximum\":-1000}",
	"{\"type\":\"number\"}",
	"{\"type\":\"number\",\"minimum\":0.001,\"maximum\":0.002}",
	"{\"type\":\"number\",\"minimum\":0,\"maximum\":1,\"exclusiveMinimum\":true,\"exclusiveMaximum\":true}",
	"{\"type\":\"number\",\"minimum\":2.5,\"maximum\":2.5}",
	"{\"type\":\"number\",\"maximum\":1e300}",
	"{\"type\":\"boolean\"}",
	"{\"type\":\"null\"}",
	"{\"type\":[\"null\",\"integer\"]}",
	"{\"type\":\"array\"}",
	"{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},\"minItems\":5,\"maxItems\":6}",
	"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":0}",
	"{\"type\":\"array\",\"items\":false}",
	"{\"type\":\"array\",\"items\":true,\"maxItems\":1}",
	"{\"type\":\"object\"}",
	"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
	"{\"type\":\"object\",\"properties\":{\"verdict\":{\"type\":\"string\",\"enum\":[\"correct\",\"incorrect\"]},"
	"\"reason\":{\"type\":\"string\"}},\"required\":[\"verdict\"]}",
	"{\"type\":\"object\",\"required\":[\"a\",\"b\",\"a\"],\"properties\":{\"b\":{\"type\":\"number\"}},"
	"\"additionalProperties\":{\"type\":\"string\"}}",
	"{\"enum\":[1,\"two\",null,[3],{\"four\":4},true]}",
	"{\"type\":\"integer\",\"enum\":[\"a\",1.5,7,\"b\",8]}",
	"{\"const\":{\"k\":[1,\"x\\\"y\",null]}}",
	"{\"anyOf\":[{\"type\":\"string\",\"maxLength\":4},{\"type\":\"null\"}],\"title\":\"T\",\"default\":null}",
	"{\"oneOf\":[{\"type\":\"integer\",\"minimum\":10},{\"type\":\"string\"}]}",
	"{\"properties\":{\"x\":{\"minimum\":3}}}",
	"{\"title\":\"Pydantic\",\"type\":\"object\",\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
	"\"properties\":{\"name\":{\"title\":\"Name\",\"type\":\"string\",\"description\":\"who\"},"
	"\"age\":{\"title\":\"Age\",\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
	"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"examples\":[[\"a\"]]},"
	"\"nick\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],\"default\":null}},"
	"\"required\":[\"name\",\"age\"]}",
};

START_TEST(test_every_type_validates)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		for (uint64_t seed = 0; seed < 200; seed++)
			gen_valid(schemas[i], seed * 0x9e3779b97f4a7c15ULL + i, &out);
	buf_free(&out);
}
END_TEST

START_TEST(test_nesting)
{
	/* Objects in arrays in objects, anyOf inside, every level validated. */
	const char *s =
		"{\"type\":\"object\",\"properties\":{"
		"\"claims\":{\"type\":\"array\",\"minItems\":2,\"maxItems\":4,\"items\":{\"type\":\"object\","
		"\"properties\":{\"text\":{\"type\":\"string\",\"maxLength\":20},"
		"\"sources\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
		"\"url\":{\"type\":\"string\"},\"score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1}},"
		"\"required\":[\"url\"]}}},"
		"\"required\":[\"text\",\"sources\"]}},"
		"\"meta\":{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},"
		"\"level\":{\"enum\":[\"low\",\"high\"]}}},{\"type\":\"null\"}]}},"
		"\"required\":[\"claims\",\"meta\"]}";
	struct buf out = BUF_INIT;
	for (uint64_t seed = 0; seed < 300; seed++)
		gen_valid(s, seed, &out);
	/* A schema nested as deep as allowed; one level more is refused. */
	struct buf deep = BUF_INIT;
	for (int i = 0; i < SIM_SCHEMA_MAX_DEPTH; i++)
		buf_puts(&deep, "{\"type\":\"array\",\"minItems\":1,\"maxItems\":1,\"items\":");
	buf_puts(&deep, "{\"type\":\"integer\"}");
	for (int i = 0; i < SIM_SCHEMA_MAX_DEPTH; i++)
		buf_putc(&deep, '}');
	gen_valid(deep.data, 1, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "[[[["));
	buf_reset(&out);
	buf_printf(&out, "{\"guided_json\":{\"type\":\"array\",\"items\":%s}}", deep.data);
	struct sim_schema_req r;
	const char *param;
	char err[512];
	ck_assert_int_eq(parse_req(out.data, &r, &param, err, sizeof err), -1);
	ck_assert_str_eq(param, "guided_json");
	ck_assert_msg(strstr(err, "nests more than 32 levels deep"), "%s", err);
	sim_schema_req_free(&r);
	buf_free(&deep);
	buf_free(&out);
}
END_TEST

START_TEST(test_picks_and_determinism)
{
	const char *s = "{\"type\":\"object\",\"properties\":{\"verdict\":{\"type\":\"string\","
			"\"enum\":[\"correct\",\"incorrect\"]},\"reason\":{\"type\":\"string\"}},"
			"\"required\":[\"verdict\"]}";
	struct buf a = BUF_INIT, b = BUF_INIT;
	int correct = 0, n = 200;
	for (int seed = 0; seed < n; seed++) {
		gen_valid(s, (uint64_t)seed, &a);
		gen_valid(s, (uint64_t)seed, &b);
		ck_assert_str_eq(a.data, b.data);
		ck_assert(strncmp(a.data, "{\"verdict\": \"", 13) == 0);
		ck_assert_ptr_nonnull(strstr(a.data, "\", \"reason\": \""));
		correct += strncmp(a.data + 13, "correct\"", 8) == 0;
	}
	/* Both picks come up, about evenly. */
	ck_assert_int_gt(correct, n / 4);
	ck_assert_int_lt(correct, n * 3 / 4);

	/* guided_choice: exactly one of the strings, each one in turn. */
	struct sim_schema_req r;
	const char *param;
	char err[256];
	ck_assert_int_eq(parse_req("{\"guided_choice\":[\"yes\",\"no\",\"\\u00e9t\\u00e9 2\"]}", &r, &param, err,
				   sizeof err), 0);
	ck_assert_int_eq(r.kind, SIM_SCHEMA_CHOICE);
	int seen[3] = {0};
	for (uint64_t seed = 0; seed < 100; seed++) {
		buf_reset(&a);
		sim_schema_generate(&r, seed, 100, &a);
		int k = strcmp(a.data, "yes") == 0 ? 0 : strcmp(a.data, "no") == 0 ? 1
						  : strcmp(a.data, "\xc3\xa9t\xc3\xa9 2") == 0 ? 2 : -1;
		ck_assert_msg(k >= 0, "not a choice: %s", a.data);
		seen[k]++;
	}
	ck_assert(seen[0] && seen[1] && seen[2]);
	sim_schema_req_free(&r);

	/* json_object (and a schema that allows anything): some JSON object. */
	const char *objs[] = {"{\"response_format\":{\"type\":\"json_object\"}}",
			      "{\"guided_json\":{}}", "{\"guided_json\":\"true\"}",
			      "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}",
			      "{\"structured_outputs\":{\"json_object\":true}}"};
	for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
		ck_assert_msg(parse_req(objs[i], &r, &param, err, sizeof err) == 0, "%s: %s", objs[i], err);
		ck_assert_int_ne(r.kind, SIM_SCHEMA_NONE);
		for (uint64_t seed = 0; seed < 50; seed++) {
			buf_reset(&a);
			sim_schema_generate(&r, seed, 1000, &a);
			bool ok;
			struct json_object *v = parse_all(a.data, &ok);
			ck_assert_msg(ok && json_object_is_type(v, json_type_object) &&
					      json_object_object_length(v) >= 1,
				      "%s: %s", objs[i], a.data);
			json_object_put(v);
		}
		sim_schema_req_free(&r);
	}
	/* MAX_BYTES cuts the value short. */
	ck_assert_int_eq(parse_req("{\"guided_json\":{\"type\":\"array\",\"minItems\":1000}}", &r, &param, err,
				   sizeof err), 0);
	buf_reset(&a);
	sim_schema_generate(&r, 1, 64, &a);
	ck_assert_uint_eq(a.len, 64);
	ck_assert_uint_eq(strlen(a.data), 64);
	sim_schema_req_free(&r);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(test_request_fields)
{
	struct sim_schema_req r;
	const char *param;
	char err[512];
	/* Nothing asked, or plain text. */
	const char *none[] = {"{}", "{\"response_format\":null}", "{\"response_format\":{\"type\":\"text\"}}",
			      "{\"structured_outputs\":{\"json_object\":false,\"disable_fallback\":true}}"};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		ck_assert_int_eq(parse_req(none[i], &r, &param, err, sizeof err), 0);
		ck_assert_int_eq(r.kind, SIM_SCHEMA_NONE);
		sim_schema_req_free(&r);
	}
	/* Each way of asking, and the field it names. */
	struct {
		const char *req;
		enum sim_schema_kind kind;
		const char *param;
	} ok[] = {
		{"{\"guided_json\":{\"type\":\"integer\"}}", SIM_SCHEMA_JSON, "guided_json"},
		{"{\"guided_json\":\"{\\\"type\\\": \\\"integer\\\"}\"}", SIM_SCHEMA_JSON, "guided_json"},
		{"{\"guided_choice\":[\"a\"]}", SIM_SCHEMA_CHOICE, "guided_choice"},
		{"{\"structured_outputs\":{\"json\":{\"type\":\"null\"}}}", SIM_SCHEMA_JSON, "structured_outputs"},
		{"{\"structured_outputs\":{\"choice\":[\"x\",\"y\"]}}", SIM_SCHEMA_CHOICE, "structured_outputs"},
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
		 "\"json_schema\":{\"type\":\"boolean\"}}}}", SIM_SCHEMA_JSON, "response_format"},
		{"{\"response_format\":{\"type\":\"text\"},\"guided_choice\":[\"a\"],"
		 "\"guided_decoding_backend\":\"xgrammar\"}", SIM_SCHEMA_CHOICE, "guided_choice"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		ck_assert_msg(parse_req(ok[i].req, &r, &param, err, sizeof err) == 0, "%s: %s", ok[i].req, err);
		ck_assert_int_eq(r.kind, ok[i].kind);
		ck_assert_str_eq(r.param, ok[i].param);
		sim_schema_req_free(&r);
	}
}
END_TEST

START_TEST(test_refused)
{
	struct {
		const char *req;
		const char *param;
		const char *msg; /* the whole message, or its start when it ends in "..." */
	} bad[] = {
		/* Shapes. */
		{"{\"response_format\":\"json\"}", "response_format", "'response_format' must be {\"type\": \"text\"}..."},
		{"{\"response_format\":{}}", "response_format", "'response_format' must be {\"type\": \"text\"}..."},
		{"{\"response_format\":{\"type\":\"xml\"}}", "response_format",
		 "response_format.type 'xml' is not one of text, json_object, json_schema"},
		{"{\"response_format\":{\"type\":\"json_schema\"}}", "response_format",
		 "response_format of type json_schema needs a 'json_schema' object..."},
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}}", "response_format",
		 "response_format.json_schema needs a non-empty string 'name'"},
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"strict\":1}}}",
		 "response_format", "response_format.json_schema.strict must be a boolean"},
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":[]}}}",
		 "response_format", "response_format.json_schema.schema must be a JSON schema (an object)"},
		{"{\"guided_json\":5}", "guided_json", "guided_json must be a JSON schema (an object)"},
		{"{\"guided_json\":\"{nope\"}", "guided_json", "guided_json is not valid JSON: ..."},
		{"{\"guided_choice\":[]}", "guided_choice", "guided_choice must be a non-empty array of strings"},
		{"{\"guided_choice\":[\"a\",1]}", "guided_choice", "guided_choice must be a non-empty array of strings"},
		{"{\"guided_regex\":\"a+\"}", "guided_regex", "'guided_regex' is not supported by elastic-sim..."},
		{"{\"guided_grammar\":\"root ::= x\"}", "guided_grammar", "'guided_grammar' is not supported..."},
		{"{\"structured_outputs\":[]}", "structured_outputs", "'structured_outputs' must be an object"},
		{"{\"structured_outputs\":{\"regex\":\"a\"}}", "structured_outputs",
		 "structured_outputs.regex is not supported by elastic-sim (json, choice and json_object are)"},
		{"{\"structured_outputs\":{\"jsn\":{}}}", "structured_outputs",
		 "structured_outputs.jsn is not a field of structured_outputs"},
		{"{\"response_format\":{\"type\":\"json_object\"},\"guided_json\":{}}", "guided_json",
		 "'response_format' and 'guided_json' both ask for structured output: use one"},
		{"{\"guided_json\":{},\"guided_choice\":[\"a\"]}", "guided_choice",
		 "'guided_json' and 'guided_choice' both ask for structured output: use one"},
		/* Schemas outside the subset. */
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":"
		 "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/A\"}},\"$defs\":{}}}}}",
		 "response_format", "response_format.json_schema.schema: '$defs' is not supported by elastic-sim's "
		 "structured output (see STRUCTURED OUTPUT in elastic-sim(1))"},
		{"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":"
		 "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/x\"}}}}}}",
		 "response_format", "response_format.json_schema.schema.properties.a: '$ref' is not supported..."},
		{"{\"guided_json\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^a\"}}}",
		 "guided_json", "guided_json.items: 'pattern' is not supported..."},
		{"{\"guided_json\":{\"type\":\"string\",\"format\":\"email\"}}", "guided_json",
		 "guided_json: 'format' is not supported..."},
		{"{\"guided_json\":{\"allOf\":[{}]}}", "guided_json", "guided_json: 'allOf' is not supported..."},
		{"{\"guided_json\":{\"anyOf\":[{},{\"not\":{}}]}}", "guided_json", "guided_json.anyOf[1]: 'not' is not supported..."},
		{"{\"guided_json\":{\"type\":\"object\",\"anyOf\":[{}]}}", "guided_json",
		 "guided_json: 'type' beside 'anyOf' is not supported: put it in each branch"},
		{"{\"guided_json\":{\"oneOf\":[]}}", "guided_json", "guided_json: 'oneOf' must be a non-empty array of schemas"},
		{"{\"guided_json\":{\"type\":\"array\",\"items\":[{}]}}", "guided_json",
		 "guided_json: 'items' as a list (tuple validation) is not supported"},
		{"{\"guided_json\":{\"type\":\"text\"}}", "guided_json", "guided_json: 'type' must be one of string, ..."},
		{"{\"guided_json\":{\"type\":[]}}", "guided_json", "guided_json: 'type' must be one of string, ..."},
		{"{\"guided_json\":{\"properties\":[]}}", "guided_json", "guided_json: 'properties' must be an object of schemas"},
		{"{\"guided_json\":{\"properties\":{\"a\":3}}}", "guided_json", "guided_json.properties.a: a schema must be a JSON object"},
		{"{\"guided_json\":{\"properties\":{\"a\":false}}}", "guided_json", "guided_json.properties.a: the schema false admits no value"},
		{"{\"guided_json\":{\"required\":[1]}}", "guided_json", "guided_json: 'required' must be an array of strings"},
		/* Schemas no value satisfies. */
		{"{\"guided_json\":{\"enum\":[]}}", "guided_json", "guided_json: 'enum' must be a non-empty array"},
		{"{\"guided_json\":{\"type\":\"string\",\"enum\":[1,2]}}", "guided_json", "guided_json: no value of 'enum' is of the schema's 'type'"},
		{"{\"guided_json\":{\"type\":\"string\",\"const\":1}}", "guided_json", "guided_json: 'const' is not of the schema's 'type'"},
		{"{\"guided_json\":{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}}", "guided_json",
		 "guided_json: no integer is within its bounds"},
		{"{\"guided_json\":{\"type\":\"integer\",\"minimum\":1.2,\"maximum\":1.8}}", "guided_json",
		 "guided_json: no integer is within its bounds"},
		{"{\"guided_json\":{\"type\":\"number\",\"exclusiveMinimum\":1,\"maximum\":1}}", "guided_json",
		 "guided_json: no number is within its bounds"},
		{"{\"guided_json\":{\"type\":\"number\",\"minimum\":\"1\"}}", "guided_json", "guided_json: 'minimum' must be a number"},
		{"{\"guided_json\":{\"type\":\"number\",\"minimum\":1e20}}", "guided_json",
		 "guided_json: 'minimum' is beyond what elastic-sim generates (|x| <= 1e15)"},
		{"{\"guided_json\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}}", "guided_json",
		 "guided_json: 'minLength' is above 'maxLength'"},
		{"{\"guided_json\":{\"type\":\"string\",\"minLength\":-1}}", "guided_json",
		 "guided_json: 'minLength' must be a non-negative integer"},
		{"{\"guided_json\":{\"type\":\"string\",\"minLength\":100000}}", "guided_json",
		 "guided_json: 'minLength' above 65536 is not supported"},
		{"{\"guided_json\":{\"type\":\"array\",\"minItems\":2,\"maxItems\":1}}", "guided_json",
		 "guided_json: 'minItems' is above 'maxItems'"},
		{"{\"guided_json\":{\"type\":\"array\",\"minItems\":1.5}}", "guided_json",
		 "guided_json: 'minItems' must be a non-negative integer"},
		{"{\"guided_json\":{\"type\":\"array\",\"minItems\":5000}}", "guided_json",
		 "guided_json: 'minItems' above 1024 is not supported"},
		{"{\"guided_json\":{\"type\":\"array\",\"items\":false,\"minItems\":1}}", "guided_json",
		 "guided_json: 'items' is false but 'minItems' is above 0"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sim_schema_req r;
		const char *param;
		char err[512];
		ck_assert_msg(parse_req(bad[i].req, &r, &param, err, sizeof err) == -1, "accepted: %s", bad[i].req);
		ck_assert_msg(param && strcmp(param, bad[i].param) == 0, "%s: param %s", bad[i].req, param);
		size_t ml = strlen(bad[i].msg);
		if (ml > 3 && strcmp(bad[i].msg + ml - 3, "...") == 0)
			ck_assert_msg(strncmp(err, bad[i].msg, ml - 3) == 0, "%s: %s", bad[i].req, err);
		else
			ck_assert_msg(strcmp(err, bad[i].msg) == 0, "%s: %s", bad[i].req, err);
		sim_schema_req_free(&r);
	}
}
END_TEST

START_TEST(test_validator_catches)
{
	/* The validator itself: wrong values are caught (else the tests
	   above would prove nothing). */
	struct {
		const char *schema, *value;
	} wrong[] = {
		{"{\"type\":\"string\"}", "1"},
		{"{\"type\":\"integer\"}", "1.5"},
		{"{\"type\":\"object\",\"required\":[\"a\"]}", "{}"},
		{"{\"properties\":{\"a\":{\"type\":\"null\"}}}", "{\"a\":0}"},
		{"{\"enum\":[\"x\"]}", "\"y\""},
		{"{\"const\":[1]}", "[2]"},
		{"{\"type\":\"string\",\"maxLength\":2}", "\"\\u00e9\\u00e9\\u00e9\""},
		{"{\"type\":\"array\",\"minItems\":2}", "[1]"},
		{"{\"items\":{\"type\":\"boolean\"}}", "[true,0]"},
		{"{\"minimum\":1,\"exclusiveMinimum\":true}", "1"},
		{"{\"exclusiveMaximum\":1}", "1"},
		{"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "3"},
		{"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}", "\"s\""},
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		struct json_object *s = json_tokener_parse(wrong[i].schema), *v = json_tokener_parse(wrong[i].value);
		char why[128];
		ck_assert_msg(!valid(s, v, why, sizeof why), "%s accepted %s", wrong[i].schema, wrong[i].value);
		json_object_put(s);
		json_object_put(v);
	}
}
END_TEST

Suite *suite_sim_schema(void)
{
	Suite *s = suite_create("sim_schema");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_type_validates);
	tcase_add_test(tc, test_nesting);
	tcase_add_test(tc, test_picks_and_determinism);
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_validator_catches);
	suite_add_tcase(s, tc);
	return s;
}
