/* reg_state.c — see reg_state.h. */
#include "reg_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "model.h"
#include "reg_util.h"

/* ---------------------------------------------------------------- encode */

static void kv_str(struct buf *o, const char *key, const char *v)
{
	buf_printf(o, ",\"%s\":", key);
	buf_json_str(o, v, strlen(v));
}

static void encode_job(const struct reg_job *j, struct buf *o)
{
	buf_puts(o, "{\"job_id\":");
	buf_json_str(o, j->id, strlen(j->id));
	kv_str(o, "state", reg_jstate_name(j->state));
	kv_str(o, "slurm_state", j->slurm_state);
	kv_str(o, "reason", j->reason);
	kv_str(o, "nodes", j->nodes);
	buf_printf(o, ",\"submitted_at\":%.3f,\"started_at\":%.3f,\"end_time\":%.3f,\"ended_at\":%.3f",
		   j->submitted_at, j->started_at, j->end_time, j->ended_at);
	buf_printf(o, ",\"runs\":%d,\"preempted_runs\":%d,\"draining\":%s,\"drain_started_at\":%.3f",
		   j->runs, j->preempted_runs, j->draining ? "true" : "false", j->drain_started_at);
	kv_str(o, "drain_why", j->drain_why);
	kv_str(o, "notice", j->notice);
	buf_printf(o, ",\"last_ready_at\":%.3f}", j->last_ready_at);
}

void reg_state_encode(const struct reg_pools *pools, double now, struct buf *o)
{
	buf_printf(o, "{\"version\":%d,\"written_at\":%.3f,\"pools\":[", REG_STATE_VERSION, now);
	for (size_t i = 0; i < pools->n; i++) {
		const struct reg_pool *p = pools->v[i];
		buf_puts(o, i ? ",\n{\"name\":" : "\n{\"name\":");
		buf_json_str(o, p->name, strlen(p->name));
		kv_str(o, "filename", p->filename);
		kv_str(o, "config", p->config_text);
		buf_printf(o, ",\"target\":%d,\"deleting\":%s,\"recovered\":%s,\"created_at\":%.3f,\"jobs\":[",
			   p->target, p->deleting ? "true" : "false", p->recovered ? "true" : "false",
			   p->created_at);
		int comma = 0;
		for (size_t k = 0; k < p->njobs; k++) {
			if (!p->jobs[k]->id[0])
				continue;
			if (comma)
				buf_putc(o, ',');
			buf_puts(o, "\n  ");
			encode_job(p->jobs[k], o);
			comma = 1;
		}
		buf_puts(o, "]}");
	}
	buf_puts(o, "\n]}\n");
}

/* ---------------------------------------------------------------- decode */

static int get_str(struct json_object *o, const char *key, char *out, size_t len, int need,
		   const char *where, char *err, size_t errlen)
{
	const char *s = NULL;
	char e[200];
	int r = reg_json_str(o, key, &s, e, sizeof e);
	if (r < 0 || (r == 0 && need)) {
		snprintf(err, errlen, "%s.%s: %s", where, key, r < 0 ? e : "missing");
		return -1;
	}
	if (r == 1) {
		if (strlen(s) >= len) {
			snprintf(err, errlen, "%s.%s: too long", where, key);
			return -1;
		}
		reg_strlcpy(out, s, len);
	}
	return 0;
}

static int get_num(struct json_object *o, const char *key, double *out, const char *where,
		   char *err, size_t errlen)
{
	char e[200];
	if (reg_json_num(o, key, 0, 1e12, out, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s.%s: %s", where, key, e);
		return -1;
	}
	return 0;
}

static int get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int *out,
		   const char *where, char *err, size_t errlen)
{
	char e[200];
	int64_t v;
	int r = reg_json_int(o, key, min, max, &v, e, sizeof e);
	if (r < 0) {
		snprintf(err, errlen, "%s.%s: %s", where, key, e);
		return -1;
	}
	if (r == 1)
		*out = (int)v;
	return 0;
}

static int get_bool(struct json_object *o, const char *key, bool *out, const char *where,
		    char *err, size_t errlen)
{
	char e[200];
	int v;
	int r = reg_json_bool(o, key, &v, e, sizeof e);
	if (r < 0) {
		snprintf(err, errlen, "%s.%s: %s", where, key, e);
		return -1;
	}
	if (r == 1)
		*out = v;
	return 0;
}

static int decode_job(struct json_object *o, struct reg_job *j, const char *where, char *err,
		      size_t errlen)
{
	char st[24] = "";
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "%s: not an object", where);
		return -1;
	}
	if (get_str(o, "job_id", j->id, sizeof j->id, 1, where, err, errlen) < 0 ||
	    get_str(o, "state", st, sizeof st, 1, where, err, errlen) < 0 ||
	    get_str(o, "slurm_state", j->slurm_state, sizeof j->slurm_state, 0, where, err, errlen) < 0 ||
	    get_str(o, "reason", j->reason, sizeof j->reason, 0, where, err, errlen) < 0 ||
	    get_str(o, "nodes", j->nodes, sizeof j->nodes, 0, where, err, errlen) < 0 ||
	    get_str(o, "drain_why", j->drain_why, sizeof j->drain_why, 0, where, err, errlen) < 0 ||
	    get_str(o, "notice", j->notice, sizeof j->notice, 0, where, err, errlen) < 0 ||
	    get_num(o, "submitted_at", &j->submitted_at, where, err, errlen) < 0 ||
	    get_num(o, "started_at", &j->started_at, where, err, errlen) < 0 ||
	    get_num(o, "end_time", &j->end_time, where, err, errlen) < 0 ||
	    get_num(o, "ended_at", &j->ended_at, where, err, errlen) < 0 ||
	    get_num(o, "drain_started_at", &j->drain_started_at, where, err, errlen) < 0 ||
	    get_num(o, "last_ready_at", &j->last_ready_at, where, err, errlen) < 0 ||
	    get_int(o, "runs", 0, 1000000, &j->runs, where, err, errlen) < 0 ||
	    get_int(o, "preempted_runs", 0, 1000000, &j->preempted_runs, where, err, errlen) < 0 ||
	    get_bool(o, "draining", &j->draining, where, err, errlen) < 0)
		return -1;
	if (!j->id[0] || strspn(j->id, "0123456789_+") != strlen(j->id)) {
		snprintf(err, errlen, "%s.job_id: \"%s\" is not a SLURM job id", where, j->id);
		return -1;
	}
	if (reg_jstate_parse(st, &j->state) < 0 || j->state == REG_J_SUBMITTING) {
		snprintf(err, errlen, "%s.state: unknown state \"%s\"", where, st);
		return -1;
	}
	return 0;
}

static int decode_pool(struct json_object *o, struct reg_pools *pools, const char *where,
		       char *err, size_t errlen)
{
	const char *name = NULL, *config = NULL, *filename = "model.toml";
	char e[200];
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "%s: not an object", where);
		return -1;
	}
	if (reg_json_need_str(o, "name", 128, &name, e, sizeof e) < 0 ||
	    reg_json_str(o, "filename", &filename, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", where, e);
		return -1;
	}
	if (reg_json_str(o, "config", &config, e, sizeof e) != 1) {
		snprintf(err, errlen, "%s.config: missing or not a string", where);
		return -1;
	}
	if (reg_pools_find(pools, name)) {
		snprintf(err, errlen, "%s: pool \"%s\" appears twice", where, name);
		return -1;
	}
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	if (model_parse(config, strlen(config), name, &cfg, &errs) < 0) {
		snprintf(err, errlen, "%s.config: %.*s", where,
			 (int)strcspn(errs.data ? errs.data : "", "\n"), errs.data ? errs.data : "");
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	if (strcmp(cfg->name, name) != 0) {
		snprintf(err, errlen, "%s: name \"%s\" does not match its config's model name \"%s\"",
			 where, name, cfg->name);
		model_free(cfg);
		return -1;
	}
	int target = 0;
	double created = 0;
	bool deleting = false, recovered = false;
	if (get_int(o, "target", 0, 100000, &target, where, err, errlen) < 0 ||
	    get_bool(o, "deleting", &deleting, where, err, errlen) < 0 ||
	    get_bool(o, "recovered", &recovered, where, err, errlen) < 0 ||
	    get_num(o, "created_at", &created, where, err, errlen) < 0) {
		model_free(cfg);
		return -1;
	}
	struct json_object *jobs = NULL;
	if (!json_object_object_get_ex(o, "jobs", &jobs) ||
	    !json_object_is_type(jobs, json_type_array)) {
		snprintf(err, errlen, "%s.jobs: missing or not an array", where);
		model_free(cfg);
		return -1;
	}
	struct reg_pool *p = reg_pools_add(pools, cfg, filename, target, created);
	p->target = target; /* as stored, even outside min..max of a changed config */
	p->deleting = deleting;
	p->recovered = recovered;
	size_t nj = json_object_array_length(jobs);
	for (size_t k = 0; k < nj; k++) {
		char jw[200];
		snprintf(jw, sizeof jw, "%s.jobs[%zu]", where, k);
		struct reg_job *j = reg_pool_add_job(p);
		if (decode_job(json_object_array_get_idx(jobs, k), j, jw, err, errlen) < 0)
			return -1;
		for (size_t m = 0; m + 1 < p->njobs; m++) {
			if (strcmp(p->jobs[m]->id, j->id) == 0) {
				snprintf(err, errlen, "%s.job_id: job %s appears twice", jw, j->id);
				return -1;
			}
		}
	}
	return 0;
}

int reg_state_decode(const char *text, size_t len, struct reg_pools *pools, char *err,
		     size_t errlen)
{
	char e[300];
	struct json_object *root = reg_json_parse(text, len, e, sizeof e);
	if (!root) {
		/* reg_json_parse speaks of a request body; say "file". */
		const char *m = strncmp(e, "request body ", 13) == 0 ? e + 13 : e;
		snprintf(err, errlen, "%s", m);
		return -1;
	}
	int rc = -1;
	int64_t version = 0;
	if (reg_json_int(root, "version", 0, 1000, &version, e, sizeof e) != 1) {
		snprintf(err, errlen, "version: missing or not an integer");
		goto out;
	}
	if (version != REG_STATE_VERSION) {
		snprintf(err, errlen, "version %lld is not supported (this registry reads %d)",
			 (long long)version, REG_STATE_VERSION);
		goto out;
	}
	struct json_object *arr = NULL;
	if (!json_object_object_get_ex(root, "pools", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "pools: missing or not an array");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		char where[64];
		snprintf(where, sizeof where, "pools[%zu]", i);
		if (decode_pool(json_object_array_get_idx(arr, i), pools, where, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	if (rc < 0) {
		reg_pools_free(pools);
		reg_pools_init(pools);
	}
	return rc;
}

/* ---------------------------------------------------------------- files */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int reg_state_write_file(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%d", dir, name, (int)getpid());
	/* NAME may have a directory part (pools/x.toml): the temp file goes
	 * beside the target. */
	const char *slash = strrchr(name, '/');
	char tdir[PATH_MAX];
	if (slash) {
		if (snprintf(tdir, sizeof tdir, "%s/%.*s", dir, (int)(slash - name), name) >=
			    (int)sizeof tdir ||
		    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%d", tdir, slash + 1, (int)getpid()) >=
			    (int)sizeof tmp) {
			snprintf(err, errlen, "path too long: %s/%s", dir, name);
			return -1;
		}
	} else {
		snprintf(tdir, sizeof tdir, "%s", dir);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, n < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp);
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot sync %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		snprintf(err, errlen, "cannot close %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (fsync_dir(tdir) < 0) {
		snprintf(err, errlen, "cannot sync directory %s: %s", tdir, strerror(errno));
		return -1;
	}
	return 0;
}

static int read_file(const char *path, size_t max, struct buf *out, int *eno)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*eno = errno;
		return -1;
	}
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*eno = errno;
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
		if (out->len > max) {
			*eno = EFBIG;
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

enum reg_state_result reg_state_load(const char *dir, struct reg_pools *pools, char *aside,
				     size_t asidelen, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT;
	int eno = 0;
	snprintf(path, sizeof path, "%s/" REG_STATE_FILE, dir);
	aside[0] = '\0';
	if (read_file(path, REG_STATE_MAX_BYTES, &b, &eno) < 0) {
		buf_free(&b);
		if (eno == ENOENT)
			return REG_STATE_NONE;
		if (eno != EFBIG) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(eno));
			return REG_STATE_ERROR;
		}
		snprintf(err, errlen, "larger than %u bytes", REG_STATE_MAX_BYTES);
	} else {
		int rc = reg_state_decode(b.data ? b.data : "", b.len, pools, err, errlen);
		buf_free(&b);
		if (rc == 0)
			return REG_STATE_LOADED;
	}
	/* Corrupt: keep it aside, never overwrite it. */
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
	snprintf(aside, asidelen, "%s.corrupt-%s", path, stamp);
	for (int i = 1; access(aside, F_OK) == 0 && i < 100; i++)
		snprintf(aside, asidelen, "%s.corrupt-%s.%d", path, stamp, i);
	if (rename(path, aside) < 0) {
		char e2[256];
		snprintf(e2, sizeof e2, "%s", err);
		snprintf(err, errlen, "%s is corrupt (%s) and cannot be moved aside: %s", path, e2,
			 strerror(errno));
		aside[0] = '\0';
		return REG_STATE_ERROR;
	}
	fsync_dir(dir);
	return REG_STATE_CORRUPT;
}

void reg_state_pool_path(const char *dir, const char *name, char *out, size_t len)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/pools/", dir);
	for (const char *p = name; *p; p++) {
		if (*p == '/')
			buf_puts(&b, "%2F");
		else if (*p == '%')
			buf_puts(&b, "%25");
		else
			buf_putc(&b, *p);
	}
	buf_puts(&b, ".toml");
	reg_strlcpy(out, b.data, len);
	buf_free(&b);
}

int reg_state_write_pool(const char *dir, const struct reg_pool *pool, char *err, size_t errlen)
{
	char path[PATH_MAX];
	reg_state_pool_path(dir, pool->name, path, sizeof path);
	const char *rel = path + strlen(dir) + 1;
	struct buf b = BUF_INIT;
	buf_printf(&b, "# pool %s, written by elastic-registry from %s\n", pool->name,
		   pool->filename);
	buf_puts(&b, pool->config_text);
	int rc = reg_state_write_file(dir, rel, b.data, b.len, 0600, err, errlen);
	buf_free(&b);
	return rc;
}

void reg_state_remove_pool(const char *dir, const char *name)
{
	char path[PATH_MAX];
	reg_state_pool_path(dir, name, path, sizeof path);
	unlink(path);
}

size_t reg_state_recover_pools(const char *dir, struct reg_pools *pools, double now,
			       struct buf *log)
{
	char pdir[PATH_MAX];
	snprintf(pdir, sizeof pdir, "%s/pools", dir);
	DIR *d = opendir(pdir);
	if (!d)
		return 0;
	size_t added = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".toml") != 0)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/%s", pdir, de->d_name) >= (int)sizeof path)
			continue;
		struct model_config *cfg;
		struct buf errs = BUF_INIT;
		if (model_load(path, &cfg, &errs) < 0) {
			buf_printf(log, "cannot recover pool from %s: %.*s\n", path,
				   (int)strcspn(errs.data ? errs.data : "", "\n"),
				   errs.data ? errs.data : "");
			buf_free(&errs);
			continue;
		}
		buf_free(&errs);
		if (reg_pools_find(pools, cfg->name)) {
			model_free(cfg);
			continue;
		}
		struct reg_pool *p = reg_pools_add(pools, cfg, de->d_name, 0, now);
		p->recovered = true;
		buf_printf(log, "recovered pool %s from %s\n", p->name, path);
		added++;
	}
	closedir(d);
	return added;
}

static int mkdir_p(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	reg_strlcpy(tmp, path, sizeof tmp);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", tmp);
		return -1;
	}
	return 0;
}

int reg_state_mkdirs(const char *dir, const char *output_dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	if (mkdir_p(dir, err, errlen) < 0)
		return -1;
	snprintf(p, sizeof p, "%s/pools", dir);
	if (mkdir_p(p, err, errlen) < 0)
		return -1;
	if (output_dir && mkdir_p(output_dir, err, errlen) < 0)
		return -1;
	if (access(dir, W_OK) < 0) {
		snprintf(err, errlen, "cannot write to %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int reg_state_api_key(const char *dir, char *key, size_t len, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t n = 0;
	snprintf(path, sizeof path, "%s/api_key", dir);
	if (access(path, F_OK) == 0) {
		if (auth_read_secret(path, key, len, &n, err, errlen) < 0)
			return -1;
		while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
			key[--n] = '\0';
		if (n == 0) {
			snprintf(err, errlen, "%s is empty", path);
			return -1;
		}
		return 0;
	}
	char hex[65];
	if (auth_random_hex(hex, 32) < 0) {
		snprintf(err, errlen, "no randomness for an API key");
		return -1;
	}
	char line[80];
	snprintf(line, sizeof line, "es-%s\n", hex);
	if (reg_state_write_file(dir, "api_key", line, strlen(line), 0600, err, errlen) < 0)
		return -1;
	snprintf(key, len, "es-%s", hex);
	return 0;
}
