/* spank_probe.c — a minimal SPANK plugin for test_cluster.sh: shows that a
 * plugin listed in the cluster's plugstack.conf is loaded by sbatch (as the
 * submitting user) and by slurmstepd, with its plugstack arguments, and
 * without restarting anything. Not part of elastic-serve.
 *
 * Plugstack argument tag=VALUE and option --es-probe=VALUE reach the job as
 * ES_PROBE_TAG and ES_PROBE_OPT.
 */
#include <slurm/spank.h>
#include <stdio.h>
#include <string.h>

SPANK_PLUGIN(es_probe, 1);

static char probe_tag[128] = "none"; /* the plugstack argument tag=VALUE */
static char probe_opt[128] = "none"; /* the value of --es-probe */

static int probe_opt_cb(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	snprintf(probe_opt, sizeof probe_opt, "%s", optarg ? optarg : "");
	return 0;
}

static struct spank_option probe_option = {
	"es-probe", "VALUE", "elastic-serve cluster test probe", 1, 0, probe_opt_cb,
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	for (int i = 0; i < ac; i++)
		if (strncmp(av[i], "tag=", 4) == 0)
			snprintf(probe_tag, sizeof probe_tag, "%s", av[i] + 4);
	if (spank_context() == S_CTX_ALLOCATOR || spank_context() == S_CTX_LOCAL ||
	    spank_context() == S_CTX_REMOTE)
		return spank_option_register(sp, &probe_option) == ESPANK_SUCCESS ? 0 : -1;
	return 0;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	spank_setenv(sp, "ES_PROBE_TAG", probe_tag, 1);
	spank_setenv(sp, "ES_PROBE_OPT", probe_opt, 1);
	return 0;
}
