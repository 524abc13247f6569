/* dispatch.c — the SPANK entry points of elastic_serve.so.
 *
 * Slurm calls these in every context where the plugin is loaded; each one
 * hands over to es_plugin.c, which decides by context and step what to do
 * (see es_plugin.h for who runs what, with which privileges).
 */
#include <slurm/spank.h>
#include <unistd.h>

#include "es_plugin.h"

SPANK_PLUGIN(elastic_serve, 1);

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	return es_plugin_init(sp, ac, av);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	return es_plugin_init_post_opt(sp, ac, av);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	/* This runs in the batch task just before the script. An error of an
	 * `optional` plugin would be ignored and the script would run without
	 * its engines: end the task instead (the reason is in the job's
	 * stderr), so the job fails at once. */
	if (es_plugin_task_init(sp, ac, av) < 0)
		_exit(1);
	return 0;
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av)
{
	return es_plugin_task_exit(sp, ac, av);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	return es_plugin_exit(sp, ac, av);
}
