/* sim_multinode.h — multi-node emulation for elastic-sim.
 *
 * As a vLLM engine spread over several nodes: rank 0 listens on
 * master-addr:master-port, each other rank connects to it and says
 * "rank N". Rank 0 calls READY once every rank has joined (then serves
 * HTTP) and FAIL(1) as soon as one goes away. Other ranks call FAIL(0)
 * when rank 0 says goodbye (clean stop) and FAIL(1) when it vanishes or
 * cannot be reached within the join timeout.
 */
#ifndef ES_SIM_MULTINODE_H
#define ES_SIM_MULTINODE_H

#include <stddef.h>

struct event_base;
struct sim_config;
struct sim_mn;

struct sim_mn_ops {
	void (*ready)(void *arg);                         /* rank 0: all joined */
	void (*fail)(void *arg, int code, const char *why); /* stop with CODE */
};

/* Starts rank CFG->node_rank's side. Returns NULL with ERR set. */
struct sim_mn *sim_mn_start(struct event_base *base, const struct sim_config *cfg,
			    const struct sim_mn_ops *ops, void *arg,
			    double join_timeout_s, char *err, size_t errlen);

/* Another rank: whether it is connected to rank 0. */
int sim_mn_joined(const struct sim_mn *mn);

/* Rank 0: tells every other rank that this is a clean stop. */
void sim_mn_bye(struct sim_mn *mn);

void sim_mn_free(struct sim_mn *mn);

#endif
