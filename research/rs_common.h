/* rs_common.h — what chat, run and eval share: the options for the
 * endpoint, the model and the tools' settings, accepted before the
 * subcommand (main.c) or after it, and their setup.
 *
 *   --endpoint URL      the OpenAI-compatible API (OPENAI_BASE_URL, else the
 *                       registry's proxy: $ELASTIC_REGISTRY_URL/v1)
 *   --api-key KEY       (OPENAI_API_KEY; else the registry's own, asked for)
 *   --model NAME        (ES_RESEARCH_MODEL; else the endpoint's first)
 *   --auth MODE         how to ask the registry for its key (ELASTIC_AUTH, munge)
 *   --env-file FILE     the .env file (default ./.env when it exists)
 *   --set NAME=VALUE    a tool setting, as in the .env file (rs_conf_set)
 *   --temperature T, --max-tokens N, --timeout DURATION, --retries N
 *   --system-prompt FILE
 */
#ifndef ES_RS_COMMON_H
#define ES_RS_COMMON_H

#include <getopt.h>
#include <stddef.h>

#include "rs_llm.h"
#include "rs_tools.h"

enum {
	RS_OPT_ENDPOINT = 0x100,
	RS_OPT_API_KEY,
	RS_OPT_MODEL,
	RS_OPT_AUTH,
	RS_OPT_ENV_FILE,
	RS_OPT_SET,
	RS_OPT_TEMPERATURE,
	RS_OPT_MAX_TOKENS,
	RS_OPT_TIMEOUT,
	RS_OPT_RETRIES,
	RS_OPT_SYSTEM_PROMPT,
	RS_OPT_FIRST_FREE, /* subcommands number their own options from here */
};

#define RS_COMMON_OPTIONS                                                       \
	{"endpoint", required_argument, NULL, RS_OPT_ENDPOINT},                 \
	{"api-key", required_argument, NULL, RS_OPT_API_KEY},                   \
	{"model", required_argument, NULL, RS_OPT_MODEL},                       \
	{"auth", required_argument, NULL, RS_OPT_AUTH},                         \
	{"env-file", required_argument, NULL, RS_OPT_ENV_FILE},                 \
	{"set", required_argument, NULL, RS_OPT_SET},                           \
	{"temperature", required_argument, NULL, RS_OPT_TEMPERATURE},           \
	{"max-tokens", required_argument, NULL, RS_OPT_MAX_TOKENS},             \
	{"timeout", required_argument, NULL, RS_OPT_TIMEOUT},                   \
	{"retries", required_argument, NULL, RS_OPT_RETRIES},                   \
	{"system-prompt", required_argument, NULL, RS_OPT_SYSTEM_PROMPT}

/* The help lines of those options. */
#define RS_COMMON_HELP                                                                         \
	"endpoint and model (also before the subcommand):\n"                                   \
	"  --endpoint URL        OpenAI-compatible API (default $OPENAI_BASE_URL, else the\n"  \
	"                        registry's proxy, $ELASTIC_REGISTRY_URL/v1)\n"                 \
	"  --api-key KEY         default $OPENAI_API_KEY, else the registry's key\n"           \
	"  --model NAME          default $ES_RESEARCH_MODEL, else the endpoint's first model\n" \
	"  --auth MODE           signs the request for the registry's key: munge, token:PATH\n" \
	"  --env-file FILE       keys and settings (default ./.env when it exists)\n"          \
	"  --set NAME=VALUE      a tool setting, as in the .env file (ES_PAGE_MAX=20000)\n"     \
	"  --temperature T       sampling temperature (default: the server's)\n"               \
	"  --max-tokens N        per model call (default: the server's)\n"                     \
	"  --timeout DURATION    per model call attempt (default 10m)\n"                       \
	"  --retries N           per model call, on errors, 429 and 5xx (default 6)\n"         \
	"  --system-prompt FILE  instead of the built-in deep-research prompt\n"

/* The options given so far (main.c's and the subcommand's). */
struct rs_common {
	const char *endpoint;      /* --endpoint, NULL: unset */
	const char *api_key;       /* --api-key */
	const char *model;         /* --model */
	const char *auth;          /* --auth */
	const char *env_file;      /* --env-file */
	const char **sets;         /* --set NAME=VALUE, NSETS of them */
	size_t nsets;
	double temperature;        /* --temperature, < 0: unset */
	long max_tokens;           /* --max-tokens, 0: unset */
	long timeout_ms;           /* --timeout, 0: unset */
	int retries;               /* --retries, < 0: unset */
	const char *system_prompt; /* --system-prompt FILE */
};

extern struct rs_common rs_common;

/* Handles one common option (OPT a getopt value). Returns 1 when handled,
 * 0 when OPT is none of them, -1 on a bad value (message printed). */
int rs_common_opt(int opt, const char *arg);

/* Takes the common options before the subcommand in ARGV (from index 1).
 * Returns how many arguments they used, or -1 on a bad one. */
int rs_common_global(int argc, char **argv);

/* Loads the tools' settings into CONF (the .env file, --set) and the
 * endpoint's into LLM (the environment, the .env file, the flags); with
 * PREPARE, checks the endpoint and picks the model (rs_llm_prepare).
 * *PROMPT gets the --system-prompt file's text (NULL: none; free it).
 * Returns 0, or an exit code (RS_USAGE: a bad .env file or value; RS_FAIL:
 * the endpoint) with the message printed. */
int rs_common_setup(struct rs_conf *conf, struct rs_llm *llm, char **prompt, int prepare);

/* Prints "error: ..." on stderr. */
void rs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses an integer from LO to HI; prints "OPT: 'ARG' is not ..." and
 * returns -1 when it is not one. */
int rs_opt_int(const char *opt, const char *arg, long lo, long hi, long *out);

/* Parses "500ms", "30s", "2m", "1h" or a number of seconds. */
int rs_opt_duration(const char *opt, const char *arg, long *ms);

#endif
