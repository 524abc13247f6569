/* es_plugin.h — the plugin's callbacks, behind spank/dispatch.c.
 *
 * dispatch.c defines the slurm_spank_* entry points and calls these; they
 * reach SPANK only through spank_api.h, so the unit tests call them with
 * the fake API and play every context. Who runs what:
 *
 *   init            every context   parse plugstack arguments (unknown keys
 *                                   are errors), register --elastic-serve
 *   option callback sbatch (user)   read and check FILE; on errors print
 *                                   them and fail the submission
 *   init_post_opt   sbatch (user)   put the resolved config and the registry
 *                                   URL into the job control environment
 *   init_post_opt   slurmstepd      batch step of a job with a carried
 *                   (root)          config: parse it, cut the GPU slices,
 *                                   reserve the ports (user_init would be
 *                                   too late: it runs with the user's euid)
 *   task_init       batch task      choose the log directory, export
 *                   (job user)      ELASTIC_SERVE_URLS and friends to the
 *                                   script, start elastic-agent (never as
 *                                   root unless the job's user is root)
 *   task_exit       slurmstepd      remember the script's exit status
 *                   (root)
 *   exit            slurmstepd      kill what is left of the agent and its
 *                   (root)          engines, tell the registry that the job
 *                                   ended and why, within notify_timeout
 */
#ifndef ES_PLUGIN_H
#define ES_PLUGIN_H

struct spank_handle;

/* The option's name, its argument and usage, for spank_api.c. */
#define ES_OPTION_NAME "elastic-serve"
#define ES_OPTION_ARG "FILE"
#define ES_OPTION_USAGE \
	"Serve the model of FILE (model.toml) on this job's GPUs through elastic-serve; see elastic_serve(8)"

int es_plugin_init(struct spank_handle *sp, int ac, char **av);
int es_plugin_init_post_opt(struct spank_handle *sp, int ac, char **av);
int es_plugin_task_init(struct spank_handle *sp, int ac, char **av);
int es_plugin_task_exit(struct spank_handle *sp, int ac, char **av);
int es_plugin_exit(struct spank_handle *sp, int ac, char **av);

/* The option callback (spank_opt_cb_f). */
int es_option_cb(int val, const char *optarg, int remote);

/* For the tests: forget all state, as a fresh process would have. */
void es_plugin_reset(void);

/* For the tests: where to look for processes (default "/proc") and how to
 * run scontrol (default: found in PATH). */
void es_plugin_set_paths(const char *proc, const char *scontrol);

/* For the tests: where sbatch's argv is read (NUL-separated; default
 * /proc/self/cmdline). */
void es_plugin_set_cmdline(const char *path);

/* For the tests: the agent's pid after task_init, 0 if none. */
int es_plugin_agent_pid(void);

#endif
