/* gpu.c — see gpu.h. */
#include "gpu.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum gpu_kind { GPU_INDEX, GPU_UUID };

/* Whether S[0..n) is hex digits in groups of the given lengths separated by
 * '-': the UUID form 8-4-4-4-12. */
static int is_uuid(const char *s, size_t n)
{
	static const size_t groups[] = {8, 4, 4, 4, 12};
	size_t pos = 0;
	for (int g = 0; g < 5; g++) {
		if (g > 0) {
			if (pos >= n || s[pos] != '-')
				return 0;
			pos++;
		}
		for (size_t i = 0; i < groups[g]; i++, pos++)
			if (pos >= n || !isxdigit((unsigned char)s[pos]))
				return 0;
	}
	return pos == n;
}

/* Checks one entry; sets *kind. Returns 0 if valid. */
static int check_entry(const char *s, size_t n, enum gpu_kind *kind)
{
	if (n > 0 && n <= 4) {
		for (size_t i = 0; i < n; i++)
			if (!isdigit((unsigned char)s[i]))
				goto not_index;
		if (n > 1 && s[0] == '0')
			return -1; /* "01" */
		*kind = GPU_INDEX;
		return 0;
	}
not_index:
	*kind = GPU_UUID;
	if (n > 4 && strncmp(s, "GPU-", 4) == 0)
		return is_uuid(s + 4, n - 4) ? 0 : -1;
	if (n > 8 && strncmp(s, "MIG-GPU-", 8) == 0) {
		/* MIG-GPU-<uuid>/<gi>/<ci> */
		const char *slash = memchr(s + 8, '/', n - 8);
		if (!slash || !is_uuid(s + 8, (size_t)(slash - s - 8)))
			return -1;
		const char *p = slash + 1, *end = s + n;
		int parts = 0;
		while (p < end) {
			const char *q = p;
			while (q < end && isdigit((unsigned char)*q))
				q++;
			if (q == p)
				return -1;
			parts++;
			if (q < end && *q != '/')
				return -1;
			p = q < end ? q + 1 : q;
			if (q < end && p == end)
				return -1;
		}
		return parts == 2 ? 0 : -1;
	}
	if (n > 4 && strncmp(s, "MIG-", 4) == 0)
		return is_uuid(s + 4, n - 4) ? 0 : -1;
	return -1;
}

void gpu_plan_free(struct gpu_plan *plan)
{
	for (size_t i = 0; i < plan->nslices; i++) {
		struct gpu_slice *sl = &plan->slices[i];
		for (size_t j = 0; j < sl->n; j++)
			free(sl->ids[j]);
		free(sl->ids);
		free(sl->csv);
	}
	free(plan->slices);
	plan->slices = NULL;
	plan->nslices = plan->ndevices = 0;
}

int gpu_plan(const char *devices, int size, struct gpu_plan *plan, char *err,
	     size_t errlen)
{
	char **ids = NULL;
	size_t n = 0;
	int rc = -1;
	enum gpu_kind first_kind = GPU_INDEX;

	memset(plan, 0, sizeof *plan);
	if (size < 1) {
		snprintf(err, errlen, "invalid slice size %d", size);
		return -1;
	}
	if (!devices || !*devices) {
		snprintf(err, errlen, "no GPUs: the device list is empty (did the job request --gres=gpu:N?)");
		return -1;
	}
	if (strcmp(devices, "NoDevFiles") == 0) {
		snprintf(err, errlen, "no GPUs: SLURM reports NoDevFiles (the job has no GPU devices)");
		return -1;
	}
	ids = calloc(GPU_MAX_DEVICES, sizeof *ids);
	if (!ids)
		abort();
	const char *p = devices;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		enum gpu_kind kind;
		if (len == 0) {
			snprintf(err, errlen, "empty entry %zu in GPU list \"%s\"", n + 1, devices);
			goto out;
		}
		if (check_entry(p, len, &kind) < 0) {
			snprintf(err, errlen, "malformed GPU \"%.*s\" in \"%s\" (expected an index, GPU-<uuid> or MIG-<uuid>)",
				 (int)(len > 80 ? 80 : len), p, devices);
			goto out;
		}
		if (n == 0)
			first_kind = kind;
		else if (kind != first_kind) {
			snprintf(err, errlen, "GPU list \"%s\" mixes indices and UUIDs", devices);
			goto out;
		}
		if (n == GPU_MAX_DEVICES) {
			snprintf(err, errlen, "GPU list has more than %d entries", GPU_MAX_DEVICES);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (strlen(ids[i]) == len && memcmp(ids[i], p, len) == 0) {
				snprintf(err, errlen, "GPU \"%s\" appears twice in \"%s\"", ids[i], devices);
				goto out;
			}
		}
		ids[n] = strndup(p, len);
		if (!ids[n])
			abort();
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (n % (size_t)size != 0) {
		snprintf(err, errlen, "%zu GPU%s (%s) cannot be split into slices of %d", n,
			 n == 1 ? "" : "s", devices, size);
		goto out;
	}
	plan->nslices = n / (size_t)size;
	plan->ndevices = n;
	plan->slices = calloc(plan->nslices, sizeof *plan->slices);
	if (!plan->slices)
		abort();
	for (size_t s = 0; s < plan->nslices; s++) {
		struct gpu_slice *sl = &plan->slices[s];
		size_t csvlen = 0;
		sl->n = (size_t)size;
		sl->ids = calloc((size_t)size, sizeof *sl->ids);
		if (!sl->ids)
			abort();
		for (size_t j = 0; j < sl->n; j++) {
			sl->ids[j] = ids[s * (size_t)size + j];
			ids[s * (size_t)size + j] = NULL;
			csvlen += strlen(sl->ids[j]) + 1;
		}
		sl->csv = malloc(csvlen);
		if (!sl->csv)
			abort();
		sl->csv[0] = '\0';
		for (size_t j = 0; j < sl->n; j++) {
			if (j)
				strcat(sl->csv, ",");
			strcat(sl->csv, sl->ids[j]);
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	if (rc < 0)
		gpu_plan_free(plan);
	return rc;
}
