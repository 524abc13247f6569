/* es_options.h — the plugin's arguments in plugstack.conf.
 *
 *   optional /usr/local/lib/elastic-serve/elastic_serve.so \
 *       registry=http://login1:8780 agent=/usr/local/sbin/elastic-agent \
 *       auth=munge notify_timeout=2000
 *
 * Parsed in every context (sbatch, srun, slurmstepd) so that a mistake is
 * seen at once wherever the plugin loads; an unknown key is an error.
 */
#ifndef ES_OPTIONS_H
#define ES_OPTIONS_H

#include <stddef.h>

#define ES_DEFAULT_AGENT ES_SBINDIR "/elastic-agent"
#define ES_DEFAULT_NOTIFY_MS 2000
#define ES_DEFAULT_PORT_BASE 28000
#define ES_DEFAULT_RUN_DIR "/run/elastic-serve"

struct es_opts {
	char registry[512];    /* registry=URL: default registry; "" none */
	char agent[512];       /* agent=PATH: elastic-agent, absolute */
	char auth[512];        /* auth=munge|token:PATH|none */
	int notify_timeout_ms; /* notify_timeout=MS: bound of the exit notice */
	int port_base;         /* port_base=N: engine ports start here */
	char run_dir[512];     /* run_dir=PATH: root-owned port reservations */
};

/* Fills O with the defaults. */
void es_opts_default(struct es_opts *o);

/* Parses AC arguments KEY=VALUE into O (defaults first). Returns 0, or -1
 * with ERR naming the argument and what is wrong. */
int es_opts_parse(struct es_opts *o, int ac, char **av, char *err, size_t errlen);

#endif
