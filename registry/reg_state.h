/* reg_state.h — the registry's state on disk.
 *
 * STATE_DIR/state.json holds the pools (resolved config, target, deleting)
 * and the jobs the registry knows (id, state, times, runs, draining...):
 * enough to adopt them from SLURM after a restart without submitting
 * anything twice. Workers are not stored: agents register again when
 * their heartbeat is answered with "unknown".
 *
 * Every write is atomic: a temporary file in the same directory, fsync,
 * rename over the old file, fsync of the directory. A state file that
 * cannot be parsed (corrupt, truncated, wrong version) is never silently
 * reset: it is renamed to state.json.corrupt-YYYYMMDDTHHMMSS, reported,
 * and the pools are rebuilt from their config files (STATE_DIR/pools/
 * NAME.toml, which the registry writes for sbatch anyway); their targets
 * follow the jobs found in SLURM.
 */
#ifndef ES_REG_STATE_H
#define ES_REG_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "reg_pools.h"

#define REG_STATE_FILE "state.json"
#define REG_STATE_VERSION 1
#define REG_STATE_MAX_BYTES (64u << 20)

/* Appends the state of POOLS as JSON (jobs without an id are left out). */
void reg_state_encode(const struct reg_pools *pools, double now, struct buf *out);

/* Decodes LEN bytes of TEXT into POOLS (which must be empty). Every pool's
 * config is checked again with model_parse. Returns 0, or -1 with ERR
 * saying where ("pools[1].jobs[0].state: unknown state \"x\""); POOLS is
 * then left empty. */
int reg_state_decode(const char *text, size_t len, struct reg_pools *pools, char *err,
		     size_t errlen);

/* Writes LEN bytes of DATA to DIR/NAME atomically with MODE. Returns 0, or
 * -1 with ERR. */
int reg_state_write_file(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, char *err, size_t errlen);

enum reg_state_result {
	REG_STATE_LOADED,  /* POOLS filled from the file */
	REG_STATE_NONE,    /* no file: a first start */
	REG_STATE_CORRUPT, /* moved aside to ASIDE; ERR says what was wrong */
	REG_STATE_ERROR,   /* cannot read or move it: do not start; ERR */
};

/* Loads DIR/state.json into POOLS (empty). */
enum reg_state_result reg_state_load(const char *dir, struct reg_pools *pools, char *aside,
				     size_t asidelen, char *err, size_t errlen);

/* Rebuilds pools from DIR/pools/NAME.toml for the names not in POOLS,
 * marked recovered with target 0. Problems are appended to LOG, one line
 * each. Returns how many pools were added. */
size_t reg_state_recover_pools(const char *dir, struct reg_pools *pools, double now,
			       struct buf *log);

/* DIR/pools/NAME.toml, NAME with '/' and '%' escaped as %2F and %25. */
void reg_state_pool_path(const char *dir, const char *name, char *out, size_t len);
/* Writes POOL's config text to its path. Returns 0, or -1 with ERR. */
int reg_state_write_pool(const char *dir, const struct reg_pool *pool, char *err, size_t errlen);
/* Removes POOL's config file (errors ignored). */
void reg_state_remove_pool(const char *dir, const char *name);

/* Creates DIR (and its parents), DIR/pools and OUTPUT_DIR with mode 0700
 * where missing. Returns 0, or -1 with ERR. */
int reg_state_mkdirs(const char *dir, const char *output_dir, char *err, size_t errlen);

/* Reads DIR/api_key, creating it (32 random bytes as hex, mode 0600) when
 * absent. Returns 0, or -1 with ERR. */
int reg_state_api_key(const char *dir, char *key, size_t len, char *err, size_t errlen);

#endif
