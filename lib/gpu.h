/* gpu.h — split a job's GPUs into tensor-parallel slices.
 *
 * SLURM hands a job its GPUs in CUDA_VISIBLE_DEVICES: global indices
 * ("4,5,6,7"), indices renumbered from 0 when cgroups constrain devices
 * ("0,1,2,3"), GPU UUIDs ("GPU-8f1e...") or MIG UUIDs ("MIG-..." or the
 * older "MIG-GPU-<uuid>/<gi>/<ci>"). gpu_plan() checks the list and cuts it,
 * in order, into slices of SIZE devices: slice i is entries
 * [i*SIZE, (i+1)*SIZE). Each engine gets one slice as its own
 * CUDA_VISIBLE_DEVICES.
 */
#ifndef ES_GPU_H
#define ES_GPU_H

#include <stddef.h>

/* The most devices a list may hold. */
#define GPU_MAX_DEVICES 1024

struct gpu_slice {
	char **ids;  /* the devices of this slice, as written */
	size_t n;    /* how many (the slice size) */
	char *csv;   /* the same joined with commas: CUDA_VISIBLE_DEVICES */
};

struct gpu_plan {
	struct gpu_slice *slices; /* in order */
	size_t nslices;
	size_t ndevices;          /* devices in the list */
};

/* Splits DEVICES (comma-separated, as in CUDA_VISIBLE_DEVICES) into slices
 * of SIZE. Returns 0 and fills PLAN (release with gpu_plan_free()), or -1
 * with a message in ERR: an empty list, an empty or malformed entry, a
 * duplicate, indices mixed with UUIDs, or a count not divisible by SIZE. */
int gpu_plan(const char *devices, int size, struct gpu_plan *plan, char *err,
	     size_t errlen);

void gpu_plan_free(struct gpu_plan *plan);

#endif
