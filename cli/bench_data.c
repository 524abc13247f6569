/* bench_data.c — see bench_data.h. */
#include "bench_data.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- random numbers */

void bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t bench_rng_next(struct bench_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double bench_rng_uniform(struct bench_rng *r)
{
	return (double)(bench_rng_next(r) >> 11) / 9007199254740992.0; /* 2^53 */
}

long bench_rng_range(struct bench_rng *r, long lo, long hi)
{
	if (hi <= lo)
		return lo;
	uint64_t span = (uint64_t)(hi - lo) + 1;
	return lo + (long)(bench_rng_next(r) % span);
}

double bench_rng_exp(struct bench_rng *r, double rate)
{
	return -log(1.0 - bench_rng_uniform(r)) / rate;
}

/* ---------------------------------------------------------------- words */

/* 256 words of 2 to 4 letters: each is one token after a space. */
static const char *const words[256] = {
	"the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her",
	"was", "one", "our", "out", "day", "get", "has", "him", "his", "how", "man", "new",
	"now", "old", "see", "two", "way", "who", "boy", "did", "its", "let", "put", "say",
	"she", "too", "use", "that", "with", "have", "this", "will", "your", "from", "they",
	"know", "want", "been", "good", "much", "some", "time", "very", "when", "come",
	"here", "just", "like", "long", "make", "many", "over", "such", "take", "than",
	"them", "well", "were", "what", "into", "only", "more", "also", "back", "year",
	"work", "last", "most", "give", "find", "tell", "ask", "seem", "feel", "try", "call",
	"keep", "hand", "high", "part", "turn", "show", "must", "mean", "kind", "off", "play",
	"run", "move", "live", "home", "life", "road", "tree", "rock", "rain", "snow", "wind",
	"fire", "lake", "moon", "star", "sun", "sky", "sea", "bird", "fish", "wolf", "bear",
	"deer", "frog", "cat", "dog", "cow", "hen", "pig", "fox", "owl", "bee", "ant", "bat",
	"red", "blue", "gold", "gray", "pink", "dark", "warm", "cold", "soft", "hard", "fast",
	"slow", "big", "low", "far", "near", "open", "shut", "free", "busy", "calm", "wild",
	"tiny", "vast", "eat", "ate", "sat", "set", "sit", "ran", "saw", "sew", "dig", "fly",
	"cry", "buy", "pay", "lay", "add", "end", "act", "aim", "arm", "art", "bag", "bed",
	"box", "bus", "cap", "car", "cup", "ear", "egg", "eye", "fan", "fee", "fig", "fit",
	"gap", "gas", "gum", "hat", "hot", "ice", "ink", "jam", "jar", "job", "joy", "key",
	"kit", "lab", "lap", "leg", "lid", "lip", "log", "map", "mat", "mix", "mud", "net",
	"nut", "oak", "oil", "pan", "pen", "pet", "pie", "pin", "pot", "rag", "rat", "rib",
	"rod", "rug", "sap", "ski", "son", "tab", "tag", "tan", "tap", "tea", "tie", "tin",
	"toe", "toy", "tub", "van", "vet", "wax", "web", "wig", "yam", "zip", "area", "band",
	"bank", "base", "bell", "belt", "bill",
};

void bench_words(struct bench_rng *r, size_t n, struct buf *out)
{
	buf_reserve(out, n * 5);
	uint64_t bits = 0;
	int left = 0;
	for (size_t i = 0; i < n; i++) {
		if (left == 0) {
			bits = bench_rng_next(r);
			left = 8;
		}
		if (out->len)
			buf_putc(out, ' ');
		buf_puts(out, words[bits & 0xff]);
		bits >>= 8;
		left--;
	}
}

long bench_count_words(const char *s, size_t len)
{
	long n = 0;
	int in = 0;
	for (size_t i = 0; i < len; i++) {
		int sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
		if (!sp && !in)
			n++;
		in = !sp;
	}
	return n;
}

/* ---------------------------------------------------------------- datasets */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

/* The integer bounds of a length L spread by ratio R, as vLLM draws them. */
static void bounds(long l, double r, long min, long *lo, long *hi)
{
	*lo = (long)floor((double)l * (1 - r));
	*hi = (long)ceil((double)l * (1 + r));
	if (*lo < min)
		*lo = min;
	if (*hi < *lo)
		*hi = *lo;
}

int bench_data_generate(struct bench_dataset *d, enum bench_ds kind,
			const struct bench_data_opts *o, char *err, size_t errlen)
{
	*d = (struct bench_dataset){.kind = kind};
	if (!(o->range_ratio >= 0 && o->range_ratio < 1)) {
		snprintf(err, errlen, "--random-range-ratio must be in [0, 1)");
		return -1;
	}
	if (o->input_len < 0 || o->prefix_len < 0 || o->output_len < 1) {
		snprintf(err, errlen, "lengths must be positive");
		return -1;
	}
	if (kind == BENCH_DS_MULTITURN) {
		if (o->conversations < 1 || o->turns < 1) {
			snprintf(err, errlen, "multiturn needs at least one conversation and one turn");
			return -1;
		}
		d->conversations = o->conversations;
		d->turns = o->turns;
		d->n = (size_t)o->conversations * o->turns;
	} else {
		if (o->num_prompts < 1) {
			snprintf(err, errlen, "--num-prompts must be at least 1");
			return -1;
		}
		d->n = (size_t)o->num_prompts;
		d->conversations = (unsigned)d->n;
		d->turns = 1;
	}
	struct bench_rng rng;
	bench_rng_seed(&rng, o->seed);
	long ilo, ihi, olo, ohi;
	bounds(o->input_len, o->range_ratio, 0, &ilo, &ihi);
	bounds(o->output_len, o->range_ratio, 1, &olo, &ohi);

	struct buf prefix = BUF_INIT;
	bench_words(&rng, (size_t)o->prefix_len, &prefix);
	if (kind == BENCH_DS_MULTITURN && o->prefix_len > 0) {
		d->system_len = o->prefix_len;
		d->system = buf_steal(&prefix);
	}
	d->p = xcalloc(d->n, sizeof *d->p);
	for (size_t i = 0; i < d->n; i++) {
		long in = bench_rng_range(&rng, ilo, ihi);
		long out = bench_rng_range(&rng, olo, ohi);
		struct buf t = BUF_INIT;
		long words = in;
		if (kind == BENCH_DS_RANDOM && prefix.len) {
			buf_append(&t, prefix.data, prefix.len);
			words += o->prefix_len;
		}
		bench_words(&rng, (size_t)in, &t);
		d->p[i].text = buf_steal(&t);
		d->p[i].input_len = words;
		d->p[i].output_len = out;
	}
	buf_free(&prefix);
	return 0;
}

/* Takes one JSONL line into P. Returns 0, or -1 with MSG. */
static int load_line(const char *line, size_t len, long default_output,
		     struct bench_prompt *p, char *msg, size_t msglen)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		abort();
	struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	int rc = -1;
	if (!o || jerr != json_tokener_success) {
		snprintf(msg, msglen, "not valid JSON%s%s", jerr != json_tokener_success ? ": " : "",
			 jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
		goto out;
	}
	for (; end < len; end++)
		if (!strchr(" \t\r", line[end]) || !line[end]) {
			snprintf(msg, msglen, "text after the JSON object");
			goto out;
		}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(msg, msglen, "a line must hold a JSON object");
		goto out;
	}
	struct json_object *prompt = NULL, *messages = NULL, *mt = NULL;
	json_object_object_get_ex(o, "prompt", &prompt);
	json_object_object_get_ex(o, "messages", &messages);
	if (!json_object_object_get_ex(o, "max_tokens", &mt))
		json_object_object_get_ex(o, "output_len", &mt);
	if (!prompt == !messages) {
		snprintf(msg, msglen, "a line needs either \"prompt\" or \"messages\"");
		goto out;
	}
	if (prompt && !json_object_is_type(prompt, json_type_string)) {
		snprintf(msg, msglen, "\"prompt\" must be a string");
		goto out;
	}
	if (messages && (!json_object_is_type(messages, json_type_array) ||
			 json_object_array_length(messages) == 0)) {
		snprintf(msg, msglen, "\"messages\" must be a non-empty array");
		goto out;
	}
	p->output_len = default_output;
	if (mt) {
		if (!json_object_is_type(mt, json_type_int) || json_object_get_int64(mt) < 1) {
			snprintf(msg, msglen, "\"max_tokens\" must be a positive integer");
			goto out;
		}
		p->output_len = (long)json_object_get_int64(mt);
	}
	if (prompt) {
		const char *s = json_object_get_string(prompt);
		size_t n = (size_t)json_object_get_string_len(prompt);
		p->text = strdup(s);
		p->input_len = bench_count_words(s, n);
	} else {
		p->messages = strdup(json_object_to_json_string_ext(messages, JSON_C_TO_STRING_PLAIN));
		p->input_len = -1;
	}
	if ((prompt && !p->text) || (messages && !p->messages))
		abort();
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int bench_data_load(struct bench_dataset *d, const char *path, long num_prompts,
		    long default_output, char *err, size_t errlen)
{
	*d = (struct bench_dataset){.kind = BENCH_DS_FILE, .turns = 1};
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0, have = 0, lineno = 0;
	ssize_t len;
	struct bench_prompt *p = NULL;
	int rc = -1;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		size_t k = 0;
		while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k == (size_t)len)
			continue;
		if (have % 64 == 0) {
			struct bench_prompt *np = realloc(p, (have + 64) * sizeof *p);
			if (!np)
				abort();
			p = np;
		}
		p[have] = (struct bench_prompt){0};
		char msg[200];
		if (load_line(line + k, (size_t)len - k, default_output, &p[have], msg,
			      sizeof msg) < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
			goto out;
		}
		have++;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (have == 0) {
		snprintf(err, errlen, "%s: no requests in the file", path);
		goto out;
	}
	size_t n = num_prompts > 0 ? (size_t)num_prompts : have;
	d->p = xcalloc(n, sizeof *d->p);
	for (size_t i = 0; i < n; i++) {
		const struct bench_prompt *s = &p[i % have];
		d->p[i] = *s;
		d->p[i].text = s->text ? strdup(s->text) : NULL;
		d->p[i].messages = s->messages ? strdup(s->messages) : NULL;
		if ((s->text && !d->p[i].text) || (s->messages && !d->p[i].messages))
			abort();
	}
	d->n = n;
	d->conversations = (unsigned)n;
	rc = 0;
out:
	for (size_t i = 0; i < have; i++) {
		free(p[i].text);
		free(p[i].messages);
	}
	free(p);
	free(line);
	fclose(fp);
	return rc;
}

void bench_data_free(struct bench_dataset *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->p[i].text);
		free(d->p[i].messages);
	}
	free(d->p);
	free(d->system);
	*d = (struct bench_dataset){0};
}
