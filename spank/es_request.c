/* es_request.c — see es_request.h. */
#include "es_request.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* sbatch's options (Slurm 22.05): arg 0 none, 1 required, 2 optional. */
struct req_opt {
	const char *name; /* long name, without -- */
	char sname;       /* short name, 0 none */
	int arg;          /* 0 no value, 1 a value, 2 an optional =value */
};

static const struct req_opt req_opts[] = {
	{"account", 'A', 1}, {"acctg-freq", 0, 1}, {"array", 'a', 1}, {"batch", 0, 1},
	{"bb", 0, 1}, {"bbf", 0, 1}, {"begin", 'b', 1}, {"chdir", 'D', 1},
	{"cluster-constraint", 0, 1}, {"clusters", 'M', 1}, {"comment", 0, 1},
	{"constraint", 'C', 1}, {"container", 0, 1}, {"contiguous", 0, 0},
	{"core-spec", 'S', 1}, {"cores-per-socket", 0, 1}, {"cpu-freq", 0, 1},
	{"cpus-per-gpu", 0, 1}, {"cpus-per-task", 'c', 1}, {"deadline", 0, 1},
	{"delay-boot", 0, 1}, {"dependency", 'd', 1}, {"distribution", 'm', 1},
	{"error", 'e', 1}, {"exclude", 'x', 1}, {"exclusive", 0, 2}, {"export", 0, 1},
	{"export-file", 0, 1}, {"extra-node-info", 'B', 1}, {"get-user-env", 0, 2},
	{"gid", 0, 1}, {"gpu-bind", 0, 1}, {"gpu-freq", 0, 1}, {"gpus", 'G', 1},
	{"gpus-per-node", 0, 1}, {"gpus-per-socket", 0, 1}, {"gpus-per-task", 0, 1},
	{"gres", 0, 1}, {"gres-flags", 0, 1}, {"help", 'h', 0}, {"hint", 0, 1},
	{"hold", 'H', 0}, {"ignore-pbs", 0, 0}, {"input", 'i', 1}, {"job-name", 'J', 1},
	{"kill-on-invalid-dep", 0, 1}, {"licenses", 'L', 1}, {"mail-type", 0, 1},
	{"mail-user", 0, 1}, {"mcs-label", 0, 1}, {"mem", 0, 1}, {"mem-bind", 0, 1},
	{"mem-per-cpu", 0, 1}, {"mem-per-gpu", 0, 1}, {"mincpus", 0, 1}, {"network", 0, 1},
	{"nice", 0, 2}, {"no-kill", 'k', 0}, {"no-requeue", 0, 0}, {"nodefile", 'F', 1},
	{"nodelist", 'w', 1}, {"nodes", 'N', 1}, {"ntasks", 'n', 1}, {"ntasks-per-core", 0, 1},
	{"ntasks-per-gpu", 0, 1}, {"ntasks-per-node", 0, 1}, {"ntasks-per-socket", 0, 1},
	{"open-mode", 0, 1}, {"output", 'o', 1}, {"overcommit", 'O', 0},
	{"oversubscribe", 's', 0}, {"parsable", 0, 0}, {"partition", 'p', 1},
	{"power", 0, 1}, {"prefer", 0, 1}, {"priority", 0, 1}, {"profile", 0, 1},
	{"propagate", 0, 2}, {"qos", 'q', 1}, {"quiet", 'Q', 0}, {"reboot", 0, 0},
	{"requeue", 0, 0}, {"reservation", 0, 1}, {"signal", 0, 1},
	{"sockets-per-node", 0, 1}, {"spread-job", 0, 0}, {"switches", 0, 1},
	{"test-only", 0, 0}, {"thread-spec", 0, 1}, {"threads-per-core", 0, 1},
	{"time", 't', 1}, {"time-min", 0, 1}, {"tmp", 0, 1}, {"uid", 0, 1}, {"usage", 0, 0},
	{"use-min-nodes", 0, 0}, {"verbose", 'v', 0}, {"version", 'V', 0}, {"wait", 'W', 0},
	{"wait-all-nodes", 0, 1}, {"wckey", 0, 1}, {"wrap", 0, 1},
	/* this plugin's own */
	{"elastic-serve", 0, 1},
	{NULL, 0, 0},
};

/* The latest value of each option that matters, with where it was seen. */
struct req_state {
	/* --nodes, --gres, --gpus-per-node, --gpus, --gpus-per-task: values */
	const char *nodes, *gres, *gpn, *gpus, *gpt;
	/* ... and where each was seen, for messages */
	char nodes_src[160], gres_src[160], gpn_src[160], gpus_src[160], gpt_src[160];
	bool exclusive;       /* --exclusive (whole nodes) */
	char excl_src[160];
	bool ntasks, nodelist; /* -n, -w or -F: they can imply more than one node */
	char many_src[160];
	bool lost;            /* parsing went astray: nothing is known */
	char lost_why[200];
	bool pbs;             /* #PBS directives (sbatch reads those too) */
	bool wrap;            /* --wrap: no script file */
};

static void req_set(struct req_state *s, const struct req_opt *o, const char *val,
		    const char *src)
{
	char where[160];
	const char *v = val ? val : "";
	if (src[0] == '$') /* an input variable: "$NAME=value" */
		snprintf(where, sizeof where, "%s", src + 1);
	else
		snprintf(where, sizeof where, "%s%s--%s%s%s", src, *src ? " " : "", o->name,
			 val ? "=" : "", v);
	if (!strcmp(o->name, "wrap"))
		s->wrap = true;
	if (!strcmp(o->name, "nodes")) {
		s->nodes = v;
		snprintf(s->nodes_src, sizeof s->nodes_src, "%s", where);
	} else if (!strcmp(o->name, "gres")) {
		s->gres = v;
		snprintf(s->gres_src, sizeof s->gres_src, "%s", where);
	} else if (!strcmp(o->name, "gpus-per-node")) {
		s->gpn = v;
		snprintf(s->gpn_src, sizeof s->gpn_src, "%s", where);
	} else if (!strcmp(o->name, "gpus")) {
		s->gpus = v;
		snprintf(s->gpus_src, sizeof s->gpus_src, "%s", where);
	} else if (!strcmp(o->name, "gpus-per-task")) {
		s->gpt = v;
		snprintf(s->gpt_src, sizeof s->gpt_src, "%s", where);
	} else if (!strcmp(o->name, "exclusive")) {
		/* --exclusive=user|mcs share nodes: GPUs are as asked. */
		s->exclusive = !val || (strcmp(val, "user") && strcmp(val, "mcs"));
		snprintf(s->excl_src, sizeof s->excl_src, "%s", where);
	} else if (!strcmp(o->name, "ntasks") || !strcmp(o->name, "nodelist") ||
		   !strcmp(o->name, "nodefile")) {
		s->ntasks = true;
		snprintf(s->many_src, sizeof s->many_src, "%s", where);
	}
}

static const struct req_opt *req_long(const char *name, size_t len)
{
	for (const struct req_opt *o = req_opts; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

static const struct req_opt *req_short(char c)
{
	for (const struct req_opt *o = req_opts; o->name; o++)
		if (o->sname == c)
			return o;
	return NULL;
}

/* Parses ARGV like getopt_long with "+" (stops at the first operand).
 * Returns the index of the first operand (the script), ARGC when there is
 * none, or -1 when it went astray (S->lost set). SRC names the source. */
static int req_args(struct req_state *s, int argc, char *const argv[], int first,
		    const char *src)
{
	int i = first;
	while (i < argc) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct req_opt *o = req_long(name, len);
			if (!o) {
				if (eq) {
					i++; /* --unknown=VALUE holds its value: harmless */
					continue;
				}
				s->lost = true;
				snprintf(s->lost_why, sizeof s->lost_why,
					 "%s%sthe option %s is not one this check knows", src,
					 *src ? ": " : "", a);
				return -1;
			}
			if (eq) {
				if (o->arg == 0) {
					s->lost = true;
					snprintf(s->lost_why, sizeof s->lost_why, "%s takes no value", a);
					return -1;
				}
				req_set(s, o, eq + 1, src);
				i++;
			} else if (o->arg == 1) {
				if (i + 1 >= argc) {
					s->lost = true;
					snprintf(s->lost_why, sizeof s->lost_why, "%s needs a value", a);
					return -1;
				}
				req_set(s, o, argv[i + 1], src);
				i += 2;
			} else {
				req_set(s, o, NULL, src);
				i++;
			}
			continue;
		}
		/* A cluster of short options: -vN2, -N 2, -kN2 ... */
		int next = i + 1;
		for (const char *c = a + 1; *c; c++) {
			const struct req_opt *o = req_short(*c);
			if (!o) {
				s->lost = true;
				snprintf(s->lost_why, sizeof s->lost_why,
					 "%s%sthe option -%c is not one this check knows", src,
					 *src ? ": " : "", *c);
				return -1;
			}
			if (o->arg == 0) {
				req_set(s, o, NULL, src);
				continue;
			}
			if (c[1]) {
				req_set(s, o, c + 1, src);
			} else if (next < argc) {
				req_set(s, o, argv[next], src);
				next++;
			} else {
				s->lost = true;
				snprintf(s->lost_why, sizeof s->lost_why, "-%c needs a value", *c);
				return -1;
			}
			break;
		}
		i = next;
	}
	return argc;
}

/* Splits the options of one #SBATCH line into WORDS (at most MAX), in
 * place: blanks separate, quotes group, an unquoted # ends the line. */
static int req_line_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line, *out;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#' || n == max)
			break;
		words[n++] = out = p;
		char q = 0;
		while (*p) {
			if (q) {
				if (*p == q)
					q = 0;
				else
					*out++ = *p;
				p++;
				continue;
			}
			if (*p == '"' || *p == '\'') {
				q = *p++;
				continue;
			}
			if (*p == ' ' || *p == '\t')
				break;
			*out++ = *p++;
		}
		bool more = *p != '\0';
		*out = '\0';
		if (more)
			p++;
		if (!more)
			break;
	}
	return n;
}

/* Reads at most 1 MiB of PATH. */
static char *req_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap + 1);
	while (b && len < cap) {
		ssize_t n = read(fd, b + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (b)
		b[len] = '\0';
	return b;
}

/* The #SBATCH lines of TEXT (modified in place). */
static void req_script(struct req_state *s, char *text)
{
	char *line = text;
	int lineno = 0;
	while (line && *line && !s->lost) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(line, "#SBATCH", 7) == 0 && (line[7] == ' ' || line[7] == '\t')) {
			char *words[66], src[64];
			int n = req_line_words(line + 8, words + 1, 64);
			words[0] = "sbatch";
			snprintf(src, sizeof src, "line %d of the script:", lineno);
			req_args(s, n + 1, words, 1, src);
		} else if (strncmp(line, "#PBS", 4) == 0) {
			s->pbs = true;
		} else if (*p && *p != '#') {
			break; /* the first command: sbatch reads no further */
		}
		line = nl ? nl + 1 : NULL;
	}
}

static const char *req_env(char *const envp[], const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Parses a count: digits only. */
static int req_count(const char *s, size_t len)
{
	if (len == 0 || len > 6)
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* GPUs per node in a --gres list: the sum of its gpu entries; -1 when an
 * entry cannot be read. */
static int req_gres_gpus(const char *list)
{
	int sum = 0;
	const char *p = list;
	if (!strcmp(list, "none"))
		return 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *e = p, *end = p + len;
		if (len > 5 && strncmp(e, "gres/", 5) == 0)
			e += 5;
		size_t nl = strcspn(e, ":");
		if ((size_t)(end - e) < nl)
			nl = (size_t)(end - e);
		if (nl == 3 && strncmp(e, "gpu", 3) == 0) {
			const char *last = end;
			while (last > e && last[-1] != ':')
				last--;
			int c = 1;
			if (last > e + 3) {
				/* gpu:N or gpu:TYPE:N or gpu:TYPE */
				int v = req_count(last, (size_t)(end - last));
				if (v >= 0)
					c = v;
				else if (last != e + 4) /* gpu:TYPE:?? */
					return -1;
			}
			sum += c;
		}
		p = *end ? end + 1 : end;
	}
	return sum;
}

/* GPUs per node in --gpus-per-node ([TYPE:]N[,[TYPE:]N...]). */
static int req_gpn(const char *list)
{
	int sum = 0;
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *end = p + len, *last = end;
		while (last > p && last[-1] != ':')
			last--;
		int v = req_count(last, (size_t)(end - last));
		if (v < 0)
			return -1;
		sum += v;
		p = *end ? end + 1 : end;
	}
	return sum;
}

void es_request_parse(int argc, char *const argv[], char *const envp[], struct es_request *r)
{
	struct req_state cl, st;
	memset(r, 0, sizeof *r);
	memset(&cl, 0, sizeof cl);
	memset(&st, 0, sizeof st);
	r->nodes = -1;
	r->gpus_per_node = -1;

	/* The command line first, to find the script; applied last. */
	int op = req_args(&cl, argc, argv, 1, "");
	bool wrap = cl.wrap;
	char *script = NULL;
	const char *script_why = NULL;
	if (op >= 0 && op < argc) {
		script = req_read(argv[op]);
		if (!script)
			script_why = "its script cannot be read here";
	} else if (op >= 0 && !wrap) {
		script_why = "its script comes from standard input";
	}
	if (script)
		req_script(&st, script);

	/* Then the environment, then the command line, over the script. */
	static const struct {
		const char *var, *opt;
	} envs[] = {
		{"SBATCH_GRES", "gres"}, {"SBATCH_GPUS", "gpus"},
		{"SBATCH_GPUS_PER_NODE", "gpus-per-node"}, {"SBATCH_GPUS_PER_TASK", "gpus-per-task"},
		{"SBATCH_EXCLUSIVE", "exclusive"},
	};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
		const char *v = req_env(envp, envs[i].var);
		if (v) {
			char src[160];
			snprintf(src, sizeof src, "$%s=%s", envs[i].var, v);
			req_set(&st, req_long(envs[i].opt, strlen(envs[i].opt)), v, src);
		}
	}
	if (op >= 0)
		op = req_args(&st, argc, argv, 1, "");

	const char *lost = cl.lost ? cl.lost_why : st.lost ? st.lost_why : NULL;
	if (!lost && st.pbs)
		lost = "its script holds #PBS directives";
	if (lost) {
		snprintf(r->nodes_why, sizeof r->nodes_why, "%s", lost);
		snprintf(r->gpus_why, sizeof r->gpus_why, "%s", lost);
		free(script);
		return;
	}
	bool script_gap = script_why != NULL; /* options the script might hold are unseen */

	/* Nodes. */
	if (st.nodes) {
		char *end;
		long lo = strtol(st.nodes, &end, 10), hi = lo;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		if (*end || lo < 1 || hi != lo) {
			snprintf(r->nodes_why, sizeof r->nodes_why, "%s is not one number of nodes",
				 st.nodes_src);
		} else {
			r->nodes = (int)lo;
			snprintf(r->nodes_src, sizeof r->nodes_src, "%s", st.nodes_src);
		}
	} else if (script_gap) {
		snprintf(r->nodes_why, sizeof r->nodes_why, "%s", script_why);
	} else if (st.ntasks) {
		snprintf(r->nodes_why, sizeof r->nodes_why, "%s without --nodes may span several nodes",
			 st.many_src);
	} else {
		r->nodes = 1;
		snprintf(r->nodes_src, sizeof r->nodes_src, "no --nodes: one node");
	}

	/* GPUs per node. */
	if (st.gpus || st.gpt) {
		snprintf(r->gpus_why, sizeof r->gpus_why,
			 "%s lets SLURM spread the GPUs over the nodes as it likes",
			 st.gpus ? st.gpus_src : st.gpt_src);
	} else if (st.exclusive) {
		snprintf(r->gpus_why, sizeof r->gpus_why, "%s gives every GPU of each node",
			 st.excl_src);
	} else if (st.gpn && st.gres && req_gres_gpus(st.gres) > 0) {
		snprintf(r->gpus_why, sizeof r->gpus_why, "both %s and %s", st.gres_src, st.gpn_src);
	} else if (st.gpn) {
		int g = req_gpn(st.gpn);
		if (g < 0)
			snprintf(r->gpus_why, sizeof r->gpus_why, "%s cannot be read", st.gpn_src);
		r->gpus_per_node = g;
		snprintf(r->gpus_src, sizeof r->gpus_src, "%s", st.gpn_src);
	} else if (st.gres) {
		int g = req_gres_gpus(st.gres);
		if (g < 0)
			snprintf(r->gpus_why, sizeof r->gpus_why, "%s cannot be read", st.gres_src);
		r->gpus_per_node = g;
		snprintf(r->gpus_src, sizeof r->gpus_src, "%s", st.gres_src);
	} else if (script_gap) {
		snprintf(r->gpus_why, sizeof r->gpus_why, "%s", script_why);
	} else {
		r->gpus_per_node = 0;
		snprintf(r->gpus_src, sizeof r->gpus_src, "no --gres or --gpus-per-node");
	}
	free(script);
}

int es_request_check(const struct es_request *r, int k, int tp, const char *file,
		     struct buf *errs)
{
	int rc = 0, g = k > 0 ? tp / k : tp;
	if (k <= 1)
		return 0;
	if (r->nodes > 0 && r->nodes % k != 0) {
		buf_printf(errs,
			   "%s: parallel.nodes_per_worker = %d: the job's nodes must be a multiple of %d, and it asks for %d (%s): submit it with --nodes=%d\n",
			   file, k, k, r->nodes, r->nodes_src, r->nodes < k ? k : r->nodes - r->nodes % k);
		rc = -1;
	}
	if (r->gpus_per_node == 0) {
		buf_printf(errs,
			   "%s: parallel.tp = %d over nodes_per_worker = %d uses %d GPU(s) on each node, and the job asks for none (%s): submit it with --gres=gpu:%d (or --gpus-per-node=%d)\n",
			   file, tp, k, g, r->gpus_src, g, g);
		rc = -1;
	} else if (r->gpus_per_node > 0 && r->gpus_per_node != g) {
		buf_printf(errs,
			   "%s: parallel.tp = %d over nodes_per_worker = %d uses %d GPU(s) on each node, and the job asks for %d per node (%s): submit it with --gres=gpu:%d, or set parallel.tp = %d\n",
			   file, tp, k, g, r->gpus_per_node, r->gpus_src, g, k * r->gpus_per_node);
		rc = -1;
	}
	return rc;
}
