/* es_remote.c — see es_remote.h. */
#include "es_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_options.h"
#include "model.h"

int es_plan_make(const struct es_plan_in *in, const struct es_opts *o, struct es_plan *p,
		 char *err, size_t errlen)
{
	struct model_config *cfg = NULL;
	struct buf errs = BUF_INIT;
	memset(p, 0, sizeof *p);
	p->master.fd = -1;
	p->master.port = -1;
	if (!in->config || model_parse(in->config, strlen(in->config), "carried model.toml", &cfg,
				       &errs) < 0) {
		/* The submit side checked it: the text was changed on the way. */
		char *nl = errs.data ? strchr(errs.data, '\n') : NULL;
		if (nl)
			*nl = '\0';
		snprintf(err, errlen, "the configuration carried with the job is invalid: %s",
			 errs.data ? errs.data : "missing");
		buf_free(&errs);
		return -1;
	}
	buf_free(&errs);
	p->tp = model_gpus_per_rank(cfg);
	p->nodes_per_worker = cfg->nodes_per_worker;
	int k = cfg->nodes_per_worker, tp = cfg->tp;
	p->drain_ms = cfg->drain_timeout_ms;
	snprintf(p->name, sizeof p->name, "%s", cfg->name);
	model_free(cfg);
	snprintf(p->host, sizeof p->host, "%s", in->host);
	p->kind = k == 1 ? ES_PLAN_SLICES : in->ranks_step ? ES_PLAN_RANK : ES_PLAN_HUB;
	if (k == 1 && in->ranks_step) {
		snprintf(err, errlen, "a node agents' step for a model with parallel.nodes_per_worker = 1");
		return -1;
	}

	if (!in->cuda || !*in->cuda || !strcmp(in->cuda, "NoDevFiles")) {
		if (k > 1)
			snprintf(err, errlen,
				 "this node has no GPUs for the job (CUDA_VISIBLE_DEVICES is empty): parallel.tp = %d over nodes_per_worker = %d needs %d on each node: request them with --gres=gpu:%d",
				 tp, k, p->tp, p->tp);
		else
			snprintf(err, errlen,
				 "the job has no GPUs (CUDA_VISIBLE_DEVICES is empty): request them, e.g. --gres=gpu:%d",
				 p->tp);
		return -1;
	}
	if (k > 1) {
		int ng = 1;
		for (const char *c = in->cuda; *c; c++)
			ng += *c == ',';
		if (ng != p->tp) {
			snprintf(err, errlen,
				 "this node has %d GPU(s) for the job (CUDA_VISIBLE_DEVICES=%s), but parallel.tp = %d over nodes_per_worker = %d needs %d on each node: submit it with --gres=gpu:%d",
				 ng, in->cuda, tp, k, p->tp, p->tp);
			return -1;
		}
	}
	if (p->kind == ES_PLAN_HUB) {
		p->nnodes = in->nnodes;
		if (in->nnodes <= 0) {
			snprintf(err, errlen, "the job's number of nodes is unknown (no SLURM_JOB_NUM_NODES)");
			return -1;
		}
		if (in->nnodes % k != 0) {
			snprintf(err, errlen,
				 "the job has %d node(s), but parallel.nodes_per_worker = %d needs a multiple of %d: submit it with --nodes=%d",
				 in->nnodes, k, k, in->nnodes < k ? k : in->nnodes - in->nnodes % k);
			return -1;
		}
		buf_puts(&p->urls, ""); /* rank 0's URLs are known to the hub only */
		return 0;
	}
	char gerr[256];
	if (gpu_plan(in->cuda, p->tp, &p->gpus, gerr, sizeof gerr) < 0) {
		snprintf(err, errlen, "cannot split the job's GPUs (%s) into slices of tp = %d: %s",
			 in->cuda, p->tp, gerr);
		return -1;
	}
	p->nslices = p->gpus.nslices;
	p->ports = calloc(p->nslices, sizeof *p->ports);
	if (!p->ports)
		abort();
	for (size_t i = 0; i < p->nslices; i++)
		p->ports[i].fd = -1;
	for (size_t i = 0; i < p->nslices; i++) {
		int id = es_port_gpu_id(in->job_gpus, p->gpus.ndevices, (int)i, p->tp);
		if (id < 0) {
			/* No usable global list: numeric CUDA_VISIBLE_DEVICES are
			 * global where cgroups do not renumber them. */
			id = es_port_gpu_id(in->cuda, p->gpus.ndevices, (int)i, p->tp);
		}
		if (es_port_pick(o->run_dir[0] ? o->run_dir : NULL, o->port_base, id, (int)i,
				 &p->ports[i], err, errlen) < 0) {
			es_plan_free(p);
			return -1;
		}
		buf_printf(&p->urls, "%shttp://%s:%d", i ? "," : "", p->host, p->ports[i].port);
		if (p->kind == ES_PLAN_RANK &&
		    es_port_pick(o->run_dir[0] ? o->run_dir : NULL, o->port_base + ES_MASTER_OFFSET,
				 id, (int)i, &p->master, err, errlen) < 0) {
			es_plan_free(p);
			return -1;
		}
	}
	return 0;
}

void es_plan_free(struct es_plan *p)
{
	for (size_t i = 0; p->ports && i < p->nslices; i++)
		es_port_release(&p->ports[i]);
	es_port_release(&p->master);
	free(p->ports);
	p->ports = NULL;
	gpu_plan_free(&p->gpus);
	buf_free(&p->urls);
	p->nslices = 0;
}

static char *es_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

char **es_agent_argv(const struct es_plan *p, const struct es_agent_args *a)
{
	size_t cap = 32 + 2 * p->nslices, n = 0;
	char **v = calloc(cap, sizeof *v);
	if (!v)
		abort();
#define ARG(s) (v[n++] = es_strdup(s))
	ARG(a->agent);
	ARG("--config-env");
	ARG(a->config_env);
	ARG("--job-id");
	ARG(a->job_id);
	ARG("--node");
	ARG(a->node);
	ARG("--host");
	ARG(p->host);
	if (a->registry && *a->registry) {
		ARG("--registry");
		ARG(a->registry);
	}
	ARG("--auth");
	ARG(a->auth);
	ARG("--log-dir");
	ARG(a->log_dir);
	ARG("--status-file");
	ARG(a->status);
	if (p->kind == ES_PLAN_HUB)
		ARG("--hub");
	for (size_t i = 0; i < p->nslices; i++) {
		char s[2048];
		snprintf(s, sizeof s, "%s@%d", p->gpus.slices[i].csv, p->ports[i].port);
		ARG("--slice");
		ARG(s);
	}
#undef ARG
	v[n] = NULL;
	return v;
}

void es_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

void es_job_id_str(unsigned job, unsigned array_job, unsigned array_task, char *out,
		   size_t outlen)
{
	if (array_job && array_task != 0xfffffffeu && array_task != 0xffffffffu)
		snprintf(out, outlen, "%u_%u", array_job, array_task);
	else
		snprintf(out, outlen, "%u", job);
}
