/* cmd_bench.c — elasticctl bench: a load generator for any OpenAI-compatible
 * server, in the manner of `vllm bench serve` (see bench_*.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_data.h"
#include "bench_report.h"
#include "bench_run.h"
#include "buf.h"
#include "cli.h"

static const char bench_usage[] =
	"bench [--base-url URL] [--model NAME] [--dataset random|multiturn|FILE.jsonl]\n"
	"                  [--num-prompts N] [--request-rate R|inf] [--max-concurrency N] [--stream]\n"
	"                  [--json FILE] [OPTION]...   (elasticctl bench --help lists them all)";

static const char bench_help[] =
	"Sends a workload to an OpenAI-compatible server (elastic-serve's proxy, vLLM,\n"
	"SGLang, elastic-sim) and reports what `vllm bench serve` reports: completed and\n"
	"failed requests, request and token throughput, and TTFT, TPOT, ITL and E2E\n"
	"latency (mean, median, p90, p99). Token counts come from the server's usage.\n"
	"\n"
	"Server:\n"
	"  --base-url URL          the server (default $OPENAI_BASE_URL, else the registry:\n"
	"                          --registry, $ELASTIC_REGISTRY_URL or %s);\n"
	"                          a trailing /v1 is allowed\n"
	"  --endpoint E            chat (default) or completions, or a path such as\n"
	"                          /v1/completions\n"
	"  --model NAME            the model (default: the first of GET /v1/models)\n"
	"  --api-key KEY           sent as a Bearer token (default $OPENAI_API_KEY)\n"
	"  --header NAME:VALUE     an extra request header, e.g. X-Elastic-Policy:cache_aware\n"
	"                          (repeatable)\n"
	"  --timeout SECS          per request (default 600)\n"
	"\n"
	"Workload:\n"
	"  --dataset D             random (default), multiturn, or a FILE.jsonl with one\n"
	"                          {\"prompt\": ...} or {\"messages\": [...]} per line, and\n"
	"                          optionally \"max_tokens\"\n"
	"  --num-prompts N         requests (default 1000; a file: each line once)\n"
	"  --random-input-len N    prompt words (default 1024; multiturn: per user turn, 128)\n"
	"  --random-output-len N   max_tokens (default 128)\n"
	"  --random-range-ratio X  lengths drawn uniformly within +-X of their value,\n"
	"                          0 <= X < 1 (default 0)\n"
	"  --random-prefix-len N   a prefix of N words shared by every prompt (default 0;\n"
	"                          multiturn: the shared system prompt, default 1000)\n"
	"  --conversations N       multiturn: conversations (default 8)\n"
	"  --turns N               multiturn: turns per conversation (default 4); each turn\n"
	"                          sends the whole history and starts once the previous\n"
	"                          answer is in; \"user\" names the conversation\n"
	"  --ignore-eos            ask the server to generate max_tokens (vLLM's ignore_eos)\n"
	"  --seed N                seed of the prompts and the arrivals (default 0)\n"
	"\n"
	"Load:\n"
	"  --request-rate R        Poisson arrivals of R requests (multiturn: conversations)\n"
	"                          per second, or inf: all at once (default inf)\n"
	"  --max-concurrency N     requests in flight at most (default: no limit)\n"
	"  --stream                stream the answers; TTFT, TPOT and ITL need it\n"
	"\n"
	"Output:\n"
	"  --json FILE             also write the results as JSON to FILE\n"
	"  -o, --output F          table (default) or json, on stdout\n"
	"\n"
	"A word of the generated prompts is one token (exact for elastic-sim, close for\n"
	"real tokenizers). Progress is shown on stderr when it is a terminal. Exit status:\n"
	"0 when the run completed (some requests may have failed: see the report), 1 when\n"
	"the server cannot be reached or every request failed, 2 on bad usage.\n";

enum {
	OPT_BASE_URL = 256,
	OPT_ENDPOINT,
	OPT_MODEL,
	OPT_API_KEY,
	OPT_HEADER,
	OPT_TIMEOUT,
	OPT_DATASET,
	OPT_NUM_PROMPTS,
	OPT_INPUT_LEN,
	OPT_OUTPUT_LEN,
	OPT_RANGE_RATIO,
	OPT_PREFIX_LEN,
	OPT_CONVERSATIONS,
	OPT_TURNS,
	OPT_IGNORE_EOS,
	OPT_SEED,
	OPT_RATE,
	OPT_CONCURRENCY,
	OPT_STREAM,
	OPT_JSON,
};

/* Parses a whole integer in MIN..MAX. */
static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		cli_error("%s needs an integer from %ld to %ld, not '%s'", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *opt, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v)) {
		cli_error("%s needs a number, not '%s'", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* The server's root URL (no trailing slash, no /v1); *V1 says whether
 * BASE ended in /v1. Returns malloc'd. */
static char *root_url(const char *base, bool *v1)
{
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	*v1 = n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0;
	if (*v1)
		n -= 3;
	char *s = strndup(base, n);
	if (!s)
		abort();
	return s;
}

int cli_cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"base-url", required_argument, NULL, OPT_BASE_URL},
		{"endpoint", required_argument, NULL, OPT_ENDPOINT},
		{"model", required_argument, NULL, OPT_MODEL},
		{"api-key", required_argument, NULL, OPT_API_KEY},
		{"header", required_argument, NULL, OPT_HEADER},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"dataset", required_argument, NULL, OPT_DATASET},
		{"num-prompts", required_argument, NULL, OPT_NUM_PROMPTS},
		{"random-input-len", required_argument, NULL, OPT_INPUT_LEN},
		{"random-output-len", required_argument, NULL, OPT_OUTPUT_LEN},
		{"random-range-ratio", required_argument, NULL, OPT_RANGE_RATIO},
		{"random-prefix-len", required_argument, NULL, OPT_PREFIX_LEN},
		{"conversations", required_argument, NULL, OPT_CONVERSATIONS},
		{"turns", required_argument, NULL, OPT_TURNS},
		{"ignore-eos", no_argument, NULL, OPT_IGNORE_EOS},
		{"seed", required_argument, NULL, OPT_SEED},
		{"request-rate", required_argument, NULL, OPT_RATE},
		{"max-concurrency", required_argument, NULL, OPT_CONCURRENCY},
		{"stream", no_argument, NULL, OPT_STREAM},
		{"json", required_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct bench_cfg cfg = {.chat = true, .timeout_ms = 600000};
	struct bench_data_opts dopt = {.input_len = -1, .output_len = 128, .prefix_len = -1,
				       .num_prompts = -1, .conversations = 8, .turns = 4};
	const char *base = NULL, *dataset = "random", *json_path = NULL, *endpoint = "chat";
	const char **headers = NULL;
	size_t nheaders = 0;
	int rc = CLI_USAGE, opt;
	long v;
	bool have_conv = false;
	char *root = NULL, *found = NULL;
	struct buf url = BUF_INIT, models = BUF_INIT;
	struct bench_dataset data = {0};
	struct bench_result res = {0};
	struct bench_metrics m = {0};
	char err[512];

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
		int c = cli_common_opt(opt, optarg);
		if (c < 0)
			goto bad;
		if (c)
			continue;
		switch (opt) {
		case OPT_BASE_URL: base = optarg; break;
		case OPT_ENDPOINT: endpoint = optarg; break;
		case OPT_MODEL: cfg.model = optarg; break;
		case OPT_API_KEY: cfg.api_key = optarg; break;
		case OPT_HEADER: {
			const char **h = realloc(headers, (nheaders + 1) * sizeof *h);
			if (!h)
				abort();
			headers = h;
			headers[nheaders++] = optarg;
			const char *colon = strchr(optarg, ':');
			if (!colon || colon == optarg || strpbrk(optarg, "\r\n")) {
				cli_error("--header needs NAME:VALUE, not '%s'", optarg);
				goto bad;
			}
			break;
		}
		case OPT_TIMEOUT:
			if (parse_long("--timeout", optarg, 1, 86400, &v) < 0)
				goto bad;
			cfg.timeout_ms = (unsigned)v * 1000u;
			break;
		case OPT_DATASET: dataset = optarg; break;
		case OPT_NUM_PROMPTS:
			if (parse_long("--num-prompts", optarg, 1, 10000000, &dopt.num_prompts) < 0)
				goto bad;
			break;
		case OPT_INPUT_LEN:
			if (parse_long("--random-input-len", optarg, 0, 10000000, &dopt.input_len) < 0)
				goto bad;
			break;
		case OPT_OUTPUT_LEN:
			if (parse_long("--random-output-len", optarg, 1, 10000000, &dopt.output_len) < 0)
				goto bad;
			break;
		case OPT_RANGE_RATIO:
			if (parse_double("--random-range-ratio", optarg, &dopt.range_ratio) < 0)
				goto bad;
			if (dopt.range_ratio < 0 || dopt.range_ratio >= 1) {
				cli_error("--random-range-ratio must be in [0, 1), not '%s'", optarg);
				goto bad;
			}
			break;
		case OPT_PREFIX_LEN:
			if (parse_long("--random-prefix-len", optarg, 0, 10000000, &dopt.prefix_len) < 0)
				goto bad;
			break;
		case OPT_CONVERSATIONS:
			if (parse_long("--conversations", optarg, 1, 1000000, &v) < 0)
				goto bad;
			dopt.conversations = (unsigned)v;
			have_conv = true;
			break;
		case OPT_TURNS:
			if (parse_long("--turns", optarg, 1, 10000, &v) < 0)
				goto bad;
			dopt.turns = (unsigned)v;
			break;
		case OPT_IGNORE_EOS: cfg.ignore_eos = true; break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long long s = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-') {
				cli_error("--seed needs a non-negative integer, not '%s'", optarg);
				goto bad;
			}
			cfg.seed = dopt.seed = s;
			break;
		}
		case OPT_RATE:
			if (strcmp(optarg, "inf") == 0 || strcmp(optarg, "infinity") == 0) {
				cfg.request_rate = INFINITY;
			} else {
				if (parse_double("--request-rate", optarg, &cfg.request_rate) < 0)
					goto bad;
				if (cfg.request_rate <= 0) {
					cli_error("--request-rate must be positive or inf, not '%s'",
						  optarg);
					goto bad;
				}
			}
			break;
		case OPT_CONCURRENCY:
			if (parse_long("--max-concurrency", optarg, 1, 1000000, &v) < 0)
				goto bad;
			cfg.max_concurrency = (unsigned)v;
			break;
		case OPT_STREAM: cfg.stream = true; break;
		case OPT_JSON: json_path = optarg; break;
		case 'h':
			printf("usage: elasticctl %s\n\n", bench_usage);
			printf(bench_help, CLI_DEFAULT_REGISTRY);
			rc = CLI_OK;
			goto out;
		default: goto bad;
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		goto bad;
	}

	/* The endpoint. */
	const char *path;
	if (strcmp(endpoint, "chat") == 0) {
		path = "/v1/chat/completions";
	} else if (strcmp(endpoint, "completions") == 0) {
		path = "/v1/completions";
		cfg.chat = false;
	} else if (endpoint[0] == '/') {
		path = endpoint;
		size_t n = strlen(endpoint);
		cfg.chat = n >= 16 && strcmp(endpoint + n - 16, "chat/completions") == 0;
	} else {
		cli_error("--endpoint must be chat, completions or a path, not '%s'", endpoint);
		goto bad;
	}
	if (!base) {
		const char *e = getenv("OPENAI_BASE_URL");
		base = e && *e ? e : cli_registry_url();
	}
	if (strncmp(base, "http://", 7) != 0) {
		cli_error("--base-url must start with http://, not '%s'", base);
		goto bad;
	}
	bool v1;
	root = root_url(base, &v1);
	if (v1 && strncmp(path, "/v1/", 4) != 0)
		buf_printf(&url, "%s/v1%s", root, path);
	else
		buf_printf(&url, "%s%s", root, path);
	buf_printf(&models, "%s/v1/models", root);
	if (!cfg.api_key) {
		const char *k = getenv("OPENAI_API_KEY");
		if (k && *k)
			cfg.api_key = k;
	}

	/* The dataset. */
	enum bench_ds kind;
	if (strcmp(dataset, "random") == 0) {
		kind = BENCH_DS_RANDOM;
	} else if (strcmp(dataset, "multiturn") == 0) {
		kind = BENCH_DS_MULTITURN;
	} else {
		kind = BENCH_DS_FILE;
	}
	if (kind == BENCH_DS_MULTITURN) {
		if (dopt.input_len < 0)
			dopt.input_len = 128;
		if (dopt.prefix_len < 0)
			dopt.prefix_len = 1000;
		if (dopt.num_prompts > 0 && !have_conv) {
			long c = dopt.num_prompts / (long)dopt.turns;
			dopt.conversations = c > 0 ? (unsigned)c : 1;
		}
	} else {
		if (dopt.input_len < 0)
			dopt.input_len = 1024;
		if (dopt.prefix_len < 0)
			dopt.prefix_len = 0;
	}
	if (kind == BENCH_DS_FILE) {
		if (bench_data_load(&data, dataset, dopt.num_prompts > 0 ? dopt.num_prompts : 0,
				    dopt.output_len, err, sizeof err) < 0) {
			cli_error("%s", err);
			rc = CLI_FAIL;
			goto out;
		}
		if (!cfg.chat)
			for (size_t i = 0; i < data.n; i++)
				if (data.p[i].messages) {
					cli_error("%s holds \"messages\": use --endpoint chat", dataset);
					goto bad;
				}
	} else {
		if (dopt.num_prompts < 0)
			dopt.num_prompts = 1000;
		if (bench_data_generate(&data, kind, &dopt, err, sizeof err) < 0) {
			cli_error("%s", err);
			goto bad;
		}
	}

	/* Is anyone there, and which model? */
	if (bench_probe(models.data, cfg.api_key, cfg.model, &found, err, sizeof err) < 0) {
		cli_error("%s", err);
		rc = CLI_FAIL;
		goto out;
	}
	if (!cfg.model)
		cfg.model = found;
	cfg.base_url = base;
	cfg.url = url.data;
	cfg.headers = headers;
	cfg.nheaders = nheaders;
	cfg.progress = isatty(STDERR_FILENO);
	fprintf(stderr, "bench: %zu requests to %s (model %s), rate %s, concurrency %s\n", data.n,
		url.data, cfg.model,
		cfg.request_rate > 0 && isfinite(cfg.request_rate) ? "Poisson" : "inf",
		cfg.max_concurrency ? "limited" : "unlimited");
	if (bench_run(&cfg, &data, &res, err, sizeof err) < 0) {
		cli_error("%s", err);
		rc = CLI_FAIL;
		goto out;
	}
	bench_metrics_compute(&res, &m);
	struct bench_info info = {.cfg = &cfg, .dataset = dataset,
				  .conversations = data.conversations, .turns = data.turns};
	rc = CLI_OK;
	if (cli_opts.json) {
		if (bench_report_json("-", &info, &m, err, sizeof err) < 0) {
			cli_error("%s", err);
			rc = CLI_FAIL;
		}
	} else {
		bench_report_print(stdout, &info, &m);
	}
	if (json_path && bench_report_json(json_path, &info, &m, err, sizeof err) < 0) {
		cli_error("%s", err);
		rc = CLI_FAIL;
	}
	if (m.completed == 0 && m.failed > 0) {
		cli_error("every request failed, the first with: %s", m.errors[0].message);
		rc = CLI_FAIL;
	}
	goto out;
bad:
	cli_usage(bench_usage);
	rc = CLI_USAGE;
out:
	bench_metrics_free(&m);
	bench_result_free(&res);
	bench_data_free(&data);
	buf_free(&url);
	buf_free(&models);
	free(root);
	free(found);
	free(headers);
	return rc;
}
