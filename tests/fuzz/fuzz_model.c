/* fuzz_model.c — lib/model (model.toml validation): any text is either
 * refused with "FILE:LINE:COL: message" lines, or accepted; an accepted
 * configuration dumps to TOML that model_parse() accepts again and that
 * dumps to the same text (what the plugin carries with a job and the
 * registry stores must mean the same thing when read back). */
#include "buf.h"
#include "fuzz.h"
#include "model.h"

#define FILENAME "fuzz.toml"

static void check_errors(const struct buf *errs)
{
	FUZZ_CHECK(errs->len > 0);
	/* Every line names the file. */
	const char *p = errs->data;
	while (*p) {
		FUZZ_CHECK(strncmp(p, FILENAME ":", strlen(FILENAME) + 1) == 0);
		const char *nl = strchr(p, '\n');
		FUZZ_CHECK(nl != NULL);
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MODEL_MAX_BYTES)
		return 0;
	struct model_config *cfg = NULL;
	struct buf errs = BUF_INIT;
	if (model_parse((const char *)data, size, FILENAME, &cfg, &errs) < 0) {
		FUZZ_CHECK(cfg == NULL);
		check_errors(&errs);
		buf_free(&errs);
		return 0;
	}
	FUZZ_CHECK(errs.len == 0);
	buf_free(&errs);

	/* What every consumer relies on. */
	char e[256];
	FUZZ_CHECK(cfg->path && cfg->name);
	FUZZ_CHECK(model_check_name(cfg->name, e, sizeof e) == 0);
	FUZZ_CHECK(cfg->tp >= 1 && cfg->nodes_per_worker >= 1);
	FUZZ_CHECK(cfg->tp % cfg->nodes_per_worker == 0);
	FUZZ_CHECK(model_gpus_per_rank(cfg) >= 1);
	FUZZ_CHECK(cfg->min_nodes >= 0 && cfg->min_nodes <= cfg->max_nodes);
	FUZZ_CHECK(cfg->target_nodes >= cfg->min_nodes && cfg->target_nodes <= cfg->max_nodes);
	for (size_t i = 0; i < cfg->nenv; i++)
		FUZZ_CHECK(strcmp(cfg->env[i].name, "CUDA_VISIBLE_DEVICES") != 0);

	struct buf d1 = BUF_INIT, d2 = BUF_INIT;
	model_dump(cfg, &d1);
	struct model_config *again = NULL;
	if (model_parse(d1.data, d1.len, FILENAME, &again, &errs) < 0) {
		fprintf(stderr, "the dump does not parse again:\n%s\n---\n%s", d1.data,
			errs.data ? errs.data : "");
		abort();
	}
	model_dump(again, &d2);
	if (d1.len != d2.len || memcmp(d1.data, d2.data, d1.len) != 0) {
		fprintf(stderr, "dump, parse, dump differs:\n%s\n---\n%s", d1.data, d2.data);
		abort();
	}
	FUZZ_CHECK(strcmp(again->name, cfg->name) == 0 && strcmp(again->path, cfg->path) == 0);
	FUZZ_CHECK(again->nargs == cfg->nargs && again->nenv == cfg->nenv);
	buf_free(&d1);
	buf_free(&d2);
	buf_free(&errs);
	model_free(again);
	model_free(cfg);
	return 0;
}
