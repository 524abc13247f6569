/* es_ports.h — one TCP port per slice, chosen before the job script starts.
 *
 * The port of a slice derives from the global index of its first GPU
 * (SLURM_JOB_GPUS keeps global indices even when cgroups renumber
 * CUDA_VISIBLE_DEVICES): BASE + ID. GPUs are exclusive on a node, so two
 * jobs on one node get different ports, and a requeued job gets its old ones
 * again. Each port is then
 *   - reserved host-wide: slurmstepd (root) holds an flock on
 *     RUN_DIR/port-N.lock until the step ends, so jobs of several Slurm
 *     nodes that share one host (a test cluster) never take the same port;
 *   - checked bindable on every address, so a foreign server is avoided.
 * When a candidate fails either test the next is BASE + ID + k * ES_PORT_SPAN
 * (k = 1 .. ES_PORT_TRIES - 1). Slices without a numeric global id (UUIDs)
 * use their position on the node instead of ID.
 */
#ifndef ES_PORTS_H
#define ES_PORTS_H

#include <stddef.h>

#define ES_PORT_SPAN 256
#define ES_PORT_TRIES 16

struct es_port_lock {
	int port; /* the port */
	int fd;   /* the held lock file, or -1 */
};

/* Chooses a port for slice IDX whose first GPU has global id ID (-1:
 * unknown; IDX is used) and locks it under RUN_DIR (created 0755 when
 * missing; RUN_DIR NULL: no locking). Returns 0 and fills L, or -1 with ERR. */
int es_port_pick(const char *run_dir, int base, int id, int idx, struct es_port_lock *l,
		 char *err, size_t errlen);

/* Releases the reservation. */
void es_port_release(struct es_port_lock *l);

/* Whether PORT can be bound on every address right now. */
int es_port_bindable(int port);

/* The global id of the first GPU of slice IDX (of SIZE GPUs): entry
 * IDX * SIZE of JOB_GPUS (SLURM_JOB_GPUS or SLURM_STEP_GPUS, comma-separated
 * indices), when it is numeric and the list has NDEV entries; else -1. */
int es_port_gpu_id(const char *job_gpus, size_t ndev, int idx, int size);

#endif
