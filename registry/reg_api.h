/* reg_api.h — the registry's HTTP side: the control API of registry/API.md
 * (agents, the plugin, elasticctl), /metrics, /health, and /v1/ (the
 * OpenAI proxy's place; a 404 in OpenAI's error JSON until it exists).
 *
 * Every /api/ request is authenticated (lib/auth) and authorised
 * (reg_auth) before its body is looked at. Bad input gets a 4xx in OpenAI's
 * error JSON whose `param` names the field; nothing is changed by a request
 * that fails validation.
 */
#ifndef ES_REG_API_H
#define ES_REG_API_H

struct httpd_req;
struct reg;

/* The httpd handler; ARG is the struct reg. */
void reg_api_handle(struct httpd_req *req, void *arg);

/* Frees requests still waiting for a SLURM command (at exit). */
void reg_api_free(struct reg *r);

#endif
