/* es_submit.h — the submit side: check model.toml before anything is
 * queued and make what travels with the job.
 *
 * sbatch --elastic-serve=FILE reads FILE with lib/model (strict: every
 * problem as FILE:LINE:COL: message) and, when it is valid, carries the
 * resolved configuration (model_dump(), which model_parse() accepts again)
 * and the registry URL in the job control environment: variables that
 * Slurm keeps in the job record itself, so they reach the batch step
 * whatever --export says, and the compute node never reads FILE.
 */
#ifndef ES_SUBMIT_H
#define ES_SUBMIT_H

#include <stddef.h>

#include "buf.h"

/* Names in the job control environment; the batch step sees them with
 * Slurm's prefix SLURM_SPANK_. */
#define ES_CARRY_CONFIG "ELASTIC_SERVE_CONFIG"
#define ES_CARRY_REGISTRY "ELASTIC_SERVE_REGISTRY"
#define ES_CARRY_FILE "ELASTIC_SERVE_FILE"
#define ES_JOB_PREFIX "SLURM_SPANK_"

/* The most bytes of configuration carried: an environment variable must
 * stay below the kernel's MAX_ARG_STRLEN (128 KiB) with room to spare. */
#define ES_CARRY_MAX (96 * 1024)

struct es_carry {
	struct buf config;   /* model_dump() text */
	char registry[512];  /* the registry the job uses; "" none */
	char file[1024];     /* FILE as given, for messages */
	char name[160];      /* model name, for messages */
	int nodes_per_worker; /* parallel.nodes_per_worker */
	int tp;              /* parallel.tp */
};

/* Checks FILE and fills C. DEFAULT_REGISTRY is plugstack's registry=;
 * ENV_REGISTRY is ELASTIC_REGISTRY_URL of the submitter (may be NULL).
 * The job's registry: [registry].url of FILE, else ENV_REGISTRY, else
 * DEFAULT_REGISTRY. Returns 0, or -1 with every problem in ERRS, one
 * "FILE:LINE:COL: message" (or "FILE: message") per line. */
int es_submit_check(const char *file, const char *default_registry,
		    const char *env_registry, struct es_carry *c, struct buf *errs);

void es_carry_free(struct es_carry *c);

#endif
