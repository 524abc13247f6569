/* es_request.h — what an sbatch submission asks for: nodes, GPUs per node.
 *
 * A worker spanning K nodes (parallel.nodes_per_worker = K > 1) needs a job
 * whose node count K divides and whose nodes each have tp / K GPUs. The
 * submit side checks that before the job is queued. SPANK tells the
 * allocator context nothing about the request, so the plugin reads it
 * where sbatch does, in sbatch's order (later wins):
 *   1. the #SBATCH lines at the top of the script (up to the first line
 *      that is neither a comment nor blank), when the script is a file;
 *   2. the input variables SBATCH_GRES, SBATCH_GPUS, SBATCH_GPUS_PER_NODE,
 *      SBATCH_GPUS_PER_TASK, SBATCH_EXCLUSIVE;
 *   3. the command line (sbatch's own argv, up to the script).
 * Options that matter: -N/--nodes; --gres (its gpu entries), --gpus-per-node;
 * and what makes the answer unknowable here: a node range (-N 2-4),
 * -n/--ntasks, -w/--nodelist or -F/--nodefile without -N, -G/--gpus and
 * --gpus-per-task (SLURM spreads those over the nodes as it likes),
 * --exclusive (every GPU of whatever node), both --gres=gpu and
 * --gpus-per-node, an option this parser does not know that might take the
 * next word, #PBS directives, a script read from standard input. What is
 * unknown here is checked in the batch step instead, before anything
 * starts (es_remote.h).
 */
#ifndef ES_REQUEST_H
#define ES_REQUEST_H

#include <stddef.h>

#include "buf.h"

struct es_request {
	int nodes;              /* nodes of the job; -1 unknown */
	int gpus_per_node;      /* GPUs per node; 0 none asked; -1 unknown */
	char nodes_src[160];    /* where the count came from, for messages */
	char gpus_src[160];
	char nodes_why[400];    /* why nodes is unknown */
	char gpus_why[400];     /* why gpus_per_node is unknown */
};

/* Reads ARGV (ARGC words, argv[0] the program) and ENVP (NULL-terminated)
 * of an sbatch process into R, and the script named on the command line
 * (relative to the current directory) when it needs to. */
void es_request_parse(int argc, char *const argv[], char *const envp[], struct es_request *r);

/* Checks R against a worker of K nodes and TP GPUs. Returns 0 when it fits
 * or cannot be told yet, or -1 with one line per problem in ERRS, each
 * starting with "FILE: ". */
int es_request_check(const struct es_request *r, int k, int tp, const char *file,
		     struct buf *errs);

#endif
