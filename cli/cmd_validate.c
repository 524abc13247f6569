/* cmd_validate.c — elasticctl validate FILE...: check model.toml files. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "model.h"

static const char validate_usage[] = "validate [-q] FILE...";

int cli_cmd_validate(int argc, char **argv)
{
	int quiet = 0, opt, rc = CLI_OK;
	static const struct option longopts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q': quiet = 1; break;
		case 'h':
			printf("usage: elasticctl %s\n\n"
			       "Checks each model.toml strictly and prints the resolved configuration\n"
			       "(defaults filled in), or every problem as FILE:LINE:COL: message.\n\n"
			       "  -q, --quiet   print nothing when a file is valid\n",
			       validate_usage);
			return CLI_OK;
		default: return cli_usage(validate_usage);
		}
	}
	if (optind >= argc)
		return cli_usage(validate_usage);
	int many = argc - optind > 1;
	for (int i = optind; i < argc; i++) {
		struct model_config *cfg;
		struct buf errs = BUF_INIT;
		if (model_load(argv[i], &cfg, &errs) < 0) {
			fputs(errs.data, stderr);
			rc = CLI_FAIL;
		} else {
			if (!quiet) {
				struct buf out = BUF_INIT;
				model_dump(cfg, &out);
				if (many)
					printf("%s# %s\n", i > optind ? "\n" : "", argv[i]);
				fputs(out.data, stdout);
				buf_free(&out);
			}
			model_free(cfg);
		}
		buf_free(&errs);
	}
	return rc;
}
