/* sim_tools.c — see sim_tools.h. */
#include "sim_tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "sim.h"
#include "sim_tok.h"

enum tools_choice { CHOICE_AUTO, CHOICE_NONE, CHOICE_REQUIRED, CHOICE_NAMED };

/* Field KEY of O (NULL when absent or null, or O not an object). */
static struct json_object *tools_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static bool tools_is_str(struct json_object *o)
{
	return json_object_is_type(o, json_type_string);
}

/* Whether NAME contains WORD, ignoring ASCII case. */
static bool tools_contains(const char *name, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = name; *p; p++) {
		size_t i = 0;
		while (i < wl && p[i] && (p[i] | 0x20) == word[i])
			i++;
		if (i == wl)
			return true;
	}
	return false;
}

static bool tools_is_opener(const char *name)
{
	return tools_contains(name, "open") || tools_contains(name, "read") ||
	       tools_contains(name, "fetch") || tools_contains(name, "browse");
}

static const char *tools_name(struct json_object *tool)
{
	return json_object_get_string(tools_get(tools_get(tool, "function"), "name"));
}

/* Checks one entry of `tools`: {"type":"function","function":{"name":...,
 * "description":..., "parameters":{JSON schema}}}. */
static int tools_check_one(struct json_object *t, size_t i, const char **param, char *err,
			   size_t errlen)
{
	if (!json_object_is_type(t, json_type_object))
		return sim_fail(param, "tools", err, errlen, "tools[%zu] must be an object", i);
	struct json_object *type = tools_get(t, "type");
	if (!type || !tools_is_str(type) || strcmp(json_object_get_string(type), "function") != 0)
		return sim_fail(param, "tools", err, errlen,
				  "tools[%zu] needs \"type\": \"function\"", i);
	struct json_object *f = tools_get(t, "function");
	if (!f || !json_object_is_type(f, json_type_object))
		return sim_fail(param, "tools", err, errlen,
				  "tools[%zu] needs a 'function' object", i);
	struct json_object *name = tools_get(f, "name");
	if (!name || !tools_is_str(name) || json_object_get_string_len(name) == 0)
		return sim_fail(param, "tools", err, errlen,
				  "tools[%zu].function needs a non-empty string 'name'", i);
	struct json_object *d = tools_get(f, "description");
	if (d && !tools_is_str(d))
		return sim_fail(param, "tools", err, errlen,
				  "tools[%zu].function.description must be a string", i);
	struct json_object *ps = tools_get(f, "parameters");
	if (!ps)
		return 0;
	if (!json_object_is_type(ps, json_type_object))
		return sim_fail(param, "tools", err, errlen,
				  "tools[%zu].function.parameters must be a JSON schema object", i);
	struct json_object *props = tools_get(ps, "properties");
	if (props) {
		if (!json_object_is_type(props, json_type_object))
			return sim_fail(param, "tools", err, errlen,
					  "tools[%zu].function.parameters.properties must be an object",
					  i);
		json_object_object_foreach(props, key, schema) {
			if (!json_object_is_type(schema, json_type_object))
				return sim_fail(param, "tools", err, errlen,
						  "tools[%zu]: the schema of property '%.64s' must "
						  "be an object", i, key);
			struct json_object *en = tools_get(schema, "enum");
			if (en && (!json_object_is_type(en, json_type_array) ||
				   json_object_array_length(en) == 0))
				return sim_fail(param, "tools", err, errlen,
						  "tools[%zu]: the 'enum' of property '%.64s' must "
						  "be a non-empty array", i, key);
		}
	}
	struct json_object *req = tools_get(ps, "required");
	if (req) {
		if (!json_object_is_type(req, json_type_array))
			return sim_fail(param, "tools", err, errlen,
					  "tools[%zu].function.parameters.required must be an array "
					  "of strings", i);
		for (size_t k = 0; k < json_object_array_length(req); k++)
			if (!tools_is_str(json_object_array_get_idx(req, k)))
				return sim_fail(param, "tools", err, errlen,
						  "tools[%zu].function.parameters.required must be "
						  "an array of strings", i);
	}
	return 0;
}

/* The schema's type: "type", or the first of a list that is not "null". */
static const char *tools_type(struct json_object *schema)
{
	struct json_object *t = tools_get(schema, "type");
	if (tools_is_str(t))
		return json_object_get_string(t);
	if (json_object_is_type(t, json_type_array))
		for (size_t i = 0; i < json_object_array_length(t); i++) {
			struct json_object *x = json_object_array_get_idx(t, i);
			if (tools_is_str(x) && strcmp(json_object_get_string(x), "null") != 0)
				return json_object_get_string(x);
		}
	return "";
}

static void tools_put_json(struct buf *b, struct json_object *v)
{
	buf_puts(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A value for a required property of SCHEMA that gets no other. */
static void tools_put_default(struct buf *b, struct json_object *schema)
{
	struct json_object *en = tools_get(schema, "enum");
	if (en) {
		tools_put_json(b, json_object_array_get_idx(en, 0));
		return;
	}
	const char *type = tools_type(schema);
	if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
		struct json_object *min = tools_get(schema, "minimum");
		if (json_object_is_type(min, json_type_int) ||
		    json_object_is_type(min, json_type_double))
			tools_put_json(b, min);
		else
			buf_putc(b, '1');
	} else if (strcmp(type, "boolean") == 0) {
		buf_puts(b, "true");
	} else if (strcmp(type, "array") == 0) {
		buf_puts(b, "[]");
	} else if (strcmp(type, "object") == 0) {
		buf_puts(b, "{}");
	} else {
		buf_puts(b, "\"\"");
	}
}

/* The arguments of a call of TOOL: VALUE (the query or the URL) goes to the
 * property named url, query, q or pattern (url first when IS_URL, last
 * otherwise), or else to the first required string property; every other
 * required property gets a default. A JSON object's text, as Python's
 * json.dumps writes it. */
static char *tools_arguments(struct json_object *tool, const char *value, bool is_url)
{
	static const char *const for_url[] = {"url", "query", "q", "pattern"};
	static const char *const for_query[] = {"query", "q", "pattern", "url"};
	const char *const *names = is_url ? for_url : for_query;
	struct json_object *ps = tools_get(tools_get(tool, "function"), "parameters");
	struct json_object *props = tools_get(ps, "properties");
	struct json_object *req = tools_get(ps, "required");
	const char *target = NULL;
	for (int i = 0; i < 4 && !target; i++)
		if (tools_get(props, names[i]))
			target = names[i];
	size_t nreq = req ? json_object_array_length(req) : 0;
	for (size_t i = 0; i < nreq && !target; i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(req, i));
		struct json_object *schema = tools_get(props, r);
		if (strcmp(tools_type(schema), "string") == 0 && !tools_get(schema, "enum"))
			target = r;
	}
	struct buf b = BUF_INIT;
	buf_putc(&b, '{');
	if (target) {
		buf_json_str(&b, target, strlen(target));
		buf_puts(&b, ": ");
		buf_json_str(&b, value, strlen(value));
	}
	for (size_t i = 0; i < nreq; i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(req, i));
		if (target && strcmp(r, target) == 0)
			continue;
		bool seen = false; /* listed twice */
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(r, json_object_get_string(json_object_array_get_idx(req, k))) == 0;
		if (seen)
			continue;
		if (b.len > 1)
			buf_puts(&b, ", ");
		buf_json_str(&b, r, strlen(r));
		buf_puts(&b, ": ");
		tools_put_default(&b, tools_get(props, r));
	}
	buf_putc(&b, '}');
	return buf_steal(&b);
}

/* The text of a message's content (a string or text parts, joined by
 * newlines) appended to OUT. */
static void tools_content(struct json_object *m, struct buf *out)
{
	struct json_object *c = tools_get(m, "content");
	if (tools_is_str(c)) {
		buf_append(out, json_object_get_string(c), (size_t)json_object_get_string_len(c));
		return;
	}
	if (!json_object_is_type(c, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(c); i++) {
		struct json_object *t = tools_get(json_object_array_get_idx(c, i), "text");
		if (!tools_is_str(t))
			continue;
		if (i)
			buf_putc(out, '\n');
		buf_append(out, json_object_get_string(t), (size_t)json_object_get_string_len(t));
	}
}

static bool tools_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void sim_tools_excerpt(const char *s, size_t len, size_t max, struct buf *out)
{
	size_t start = out->len, i = 0;
	while (i < len && tools_space((unsigned char)s[i]))
		i++;
	bool gap = false;
	for (; i < len && out->len - start < max; i++) {
		if (tools_space((unsigned char)s[i])) {
			gap = true;
			continue;
		}
		if (gap) {
			buf_putc(out, ' ');
			gap = false;
			if (out->len - start == max)
				break;
		}
		buf_putc(out, s[i]);
	}
	/* Cut back to a character's start: the byte after the excerpt must not
	 * be a continuation byte of a character the excerpt began. */
	if (i < len && out->len - start == max && ((unsigned char)s[i] & 0xc0) == 0x80) {
		while (out->len > start && ((unsigned char)out->data[out->len - 1] & 0xc0) == 0x80)
			out->len--;
		if (out->len > start && (unsigned char)out->data[out->len - 1] >= 0xc0)
			out->len--;
	}
	while (out->len > start && out->data[out->len - 1] == ' ')
		out->len--;
	if (out->data)
		out->data[out->len] = '\0';
}

bool sim_tools_first_url(const char *s, size_t len, size_t *off, size_t *ulen)
{
	for (size_t i = 0; i + 8 <= len; i++) {
		size_t pl;
		if (strncmp(s + i, "https://", 8) == 0)
			pl = 8;
		else if (strncmp(s + i, "http://", 7) == 0)
			pl = 7;
		else
			continue;
		size_t e = i + pl;
		while (e < len) {
			unsigned char c = (unsigned char)s[e];
			if (c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' ||
			    c == '\\' || c == '`')
				break;
			e++;
		}
		/* Trailing punctuation, and closers without an opener inside. */
		while (e > i + pl) {
			char c = s[e - 1];
			if (strchr(".,;:!?", c)) {
				e--;
				continue;
			}
			const char *pair = c == ')' ? "()" : c == ']' ? "[]" : c == '}' ? "{}" : NULL;
			if (!pair)
				break;
			int depth = 0;
			for (size_t k = i; k < e; k++)
				depth += s[k] == pair[0] ? 1 : s[k] == pair[1] ? -1 : 0;
			if (depth >= 0)
				break;
			e--;
		}
		if (e == i + pl)
			continue; /* a bare scheme */
		*off = i;
		*ulen = e - i;
		return true;
	}
	return false;
}

/* Checks tool_choice against the NTOOLS of TOOLS; sets *NAMED for a named
 * function. */
static int tools_choice(struct json_object *req, struct json_object *tools, size_t ntools,
			enum tools_choice *choice, size_t *named, const char **param,
			char *err, size_t errlen)
{
	struct json_object *tc = tools_get(req, "tool_choice");
	*choice = ntools ? CHOICE_AUTO : CHOICE_NONE;
	if (!tc)
		return 0;
	if (tools_is_str(tc)) {
		const char *v = json_object_get_string(tc);
		if (strcmp(v, "none") == 0) {
			*choice = CHOICE_NONE;
			return 0;
		}
		if (strcmp(v, "auto") == 0)
			return 0;
		if (strcmp(v, "required") != 0)
			return sim_fail(param, "tool_choice", err, errlen,
					  "'tool_choice' must be \"none\", \"auto\", \"required\" "
					  "or {\"type\": \"function\", \"function\": {\"name\": ...}}");
		*choice = CHOICE_REQUIRED;
	} else {
		struct json_object *f = tools_get(tc, "function");
		struct json_object *name = tools_get(f, "name");
		struct json_object *type = tools_get(tc, "type");
		if (!json_object_is_type(tc, json_type_object) || !name || !tools_is_str(name) ||
		    (type && (!tools_is_str(type) ||
			      strcmp(json_object_get_string(type), "function") != 0)))
			return sim_fail(param, "tool_choice", err, errlen,
					  "'tool_choice' must be \"none\", \"auto\", \"required\" "
					  "or {\"type\": \"function\", \"function\": {\"name\": ...}}");
		const char *want = json_object_get_string(name);
		size_t i = 0;
		while (i < ntools && strcmp(tools_name(json_object_array_get_idx(tools, i)), want) != 0)
			i++;
		if (ntools && i == ntools)
			return sim_fail(param, "tool_choice", err, errlen,
					  "tool_choice names '%.64s', which is not one of the tools",
					  want);
		*choice = CHOICE_NAMED;
		*named = i;
	}
	if (ntools == 0)
		return sim_fail(param, "tool_choice", err, errlen,
				  "When using `tool_choice`, `tools` must be set.");
	return 0;
}

static char *tools_strdup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int sim_tools_plan(struct json_object *req, unsigned rounds, uint64_t seed, bool open,
		   struct sim_tools_plan *plan, const char **param, char *err,
		   size_t errlen)
{
	memset(plan, 0, sizeof *plan);
	struct json_object *tools = tools_get(req, "tools");
	size_t ntools = 0;
	if (tools) {
		if (!json_object_is_type(tools, json_type_array))
			return sim_fail(param, "tools", err, errlen,
					  "'tools' must be an array of function tools");
		ntools = json_object_array_length(tools);
		for (size_t i = 0; i < ntools; i++)
			if (tools_check_one(json_object_array_get_idx(tools, i), i, param, err,
					    errlen) != 0)
				return -1;
	}
	enum tools_choice choice;
	size_t named = 0;
	if (tools_choice(req, tools, ntools, &choice, &named, param, err, errlen) != 0)
		return -1;
	if (choice == CHOICE_NONE)
		return 0;

	/* The turns since the user's last message. */
	struct json_object *msgs = tools_get(req, "messages");
	size_t n = json_object_array_length(msgs);
	if (open && n > 0)
		n--;
	size_t last_user = SIZE_MAX, last_tool = SIZE_MAX;
	unsigned t = 0;
	for (size_t i = 0; i < n; i++) {
		const char *role = json_object_get_string(tools_get(json_object_array_get_idx(msgs, i),
								    "role"));
		if (strcmp(role, "user") == 0) {
			last_user = i;
			last_tool = SIZE_MAX;
			t = 0;
		} else if (strcmp(role, "tool") == 0) {
			last_tool = i;
			t++;
		}
	}
	bool forced = choice == CHOICE_REQUIRED || choice == CHOICE_NAMED;
	struct buf result = BUF_INIT, query = BUF_INIT;
	if (last_tool != SIZE_MAX)
		tools_content(json_object_array_get_idx(msgs, last_tool), &result);
	if (t >= rounds && !forced) {
		if (t > 0) {
			struct buf a = BUF_INIT;
			buf_puts(&a, "Answer: ");
			sim_tools_excerpt(result.data ? result.data : "", result.len,
					  SIM_TOOLS_EXCERPT, &a);
			plan->act = SIM_TOOLS_ANSWER;
			plan->answer = buf_steal(&a);
		}
		buf_free(&result);
		return 0;
	}

	/* A call: search with the question, or open the URL a result gave. */
	if (last_user != SIZE_MAX)
		tools_content(json_object_array_get_idx(msgs, last_user), &query);
	size_t uoff = 0, ulen = 0;
	bool have_url = t > 0 && result.len > 0 &&
			sim_tools_first_url(result.data, result.len, &uoff, &ulen);
	size_t pick = SIZE_MAX;
	bool use_url = false;
	if (choice == CHOICE_NAMED) {
		pick = named;
		use_url = have_url && tools_is_opener(tools_name(json_object_array_get_idx(tools, pick)));
	} else {
		if (have_url)
			for (size_t i = 0; i < ntools && pick == SIZE_MAX; i++)
				if (tools_is_opener(tools_name(json_object_array_get_idx(tools, i))))
					pick = i;
		use_url = pick != SIZE_MAX;
		for (size_t i = 0; i < ntools && pick == SIZE_MAX; i++)
			if (tools_contains(tools_name(json_object_array_get_idx(tools, i)), "search"))
				pick = i;
		if (pick == SIZE_MAX)
			pick = 0;
	}
	struct json_object *tool = json_object_array_get_idx(tools, pick);
	char *value = use_url ? tools_strdup(result.data + uoff, ulen)
			      : tools_strdup(query.data ? query.data : "", query.len);
	plan->act = SIM_TOOLS_CALL;
	plan->name = strdup(tools_name(tool));
	plan->arguments = tools_arguments(tool, value, use_url);
	if (!plan->name)
		abort();
	uint64_t a = sim_mix64(seed ^ sim_mix64(0x746f6f6c63616c6cULL + t));
	uint64_t b = sim_mix64(a + 0x9e3779b97f4a7c15ULL);
	snprintf(plan->id, sizeof plan->id, "call_%016llx%08llx", (unsigned long long)a,
		 (unsigned long long)(b >> 32));
	free(value);
	buf_free(&result);
	buf_free(&query);
	return 0;
}

void sim_tools_plan_free(struct sim_tools_plan *plan)
{
	free(plan->name);
	free(plan->arguments);
	free(plan->answer);
	memset(plan, 0, sizeof *plan);
}
