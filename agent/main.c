/* main.c — elastic-agent: run the engines of one job node, or wait for them.
 *
 *   elastic-agent --config-env VAR|--config FILE --slice GPUS@PORT... [options]
 *   elastic-agent --config-env VAR|--config FILE --hub [options]
 *   elastic-agent --config-env VAR|--config FILE --node-agent HOST:PORT [options]
 *   elastic-agent --wait [--status-file F]
 *   elastic-agent --wait-ready [--timeout S] [--status-file F]
 *   elastic-agent --exec-pair N --wait-port P A1..AN B1...
 *
 * The SPANK plugin starts the first form in the batch step of an
 * sbatch --elastic-serve job; job scripts use the other two. See
 * elastic-agent(8).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"
#include "log.h"

static const char usage[] =
	"usage: elastic-agent --config-env VAR | --config FILE --slice GPUS@PORT... [options]\n"
	"       elastic-agent --config-env VAR | --config FILE --hub [options]\n"
	"       elastic-agent --config-env VAR | --config FILE --node-agent HOST:PORT [options]\n"
	"       elastic-agent --wait [--status-file FILE]\n"
	"       elastic-agent --wait-ready [--timeout SECONDS] [--status-file FILE]\n"
	"\n"
	"Runs one engine per --slice (GPUs and port), registers the ready ones\n"
	"with the registry and heartbeats their load; SIGTERM drains and stops.\n"
	"Workers spanning nodes (parallel.nodes_per_worker > 1): --hub starts a\n"
	"node agent on every node of the job with srun and relays between them.\n"
	"\n"
	"  --config FILE          model.toml (\"-\" for stdin is not supported)\n"
	"  --config-env VAR       model.toml text in environment variable VAR\n"
	"  --slice GPUS@PORT      a slice: its CUDA_VISIBLE_DEVICES and port (repeat)\n"
	"  --job-id ID            SLURM job id (default $SLURM_JOB_ID)\n"
	"  --node NAME            SLURM node name (default $SLURMD_NODENAME)\n"
	"  --host HOST            host name in the engines' URLs (default: this host's)\n"
	"  --bind ADDR            address the engines listen on (default 0.0.0.0)\n"
	"  --registry URL         elastic-registry to register with (default: none)\n"
	"  --auth SPEC            munge (default), token:PATH or none\n"
	"  --log-dir DIR          per-slice engine logs go here (default .)\n"
	"  --status-file FILE     state for --wait and --wait-ready\n"
	"  --sim PATH             elastic-sim for engine.kind = \"sim\"\n"
	"  --heartbeat-ms MS      heartbeat interval (default: the registry's, 1000)\n"
	"  --probe-ms MS          readiness probe interval (default 500)\n"
	"  --drain-ms MS          in-flight grace after SIGTERM (default engine.drain_timeout)\n"
	"  --kill-timeout-ms MS   SIGTERM to SIGKILL of an engine (default 10000)\n"
	"  --job-end T            Unix time of the job's time limit (default: squeue)\n"
	"  --hub                  workers span nodes: start the node agents (srun), relay\n"
	"  --nnodes N             with --hub: nodes of the job (default $SLURM_JOB_NUM_NODES)\n"
	"  --srun PATH            with --hub: srun to use (default: from PATH)\n"
	"  --node-agent HOST:PORT run this node's rank of a worker; join the hub there\n"
	"  --node-id N            with --node-agent: node index in the job (default $SLURM_NODEID)\n"
	"  --master-port P        with --node-agent: rank 0's rendezvous port\n"
	"                         (default $ELASTIC_SERVE_MASTER_PORT)\n"
	"  --log-level LEVEL      debug, info, warn or error\n"
	"  --wait                 wait for the running agent to finish (job scripts)\n"
	"  --wait-ready           wait until every slice is ready; print the URLs\n"
	"  --timeout S            with --wait-ready: give up after S seconds (exit 2)\n";

enum {
	O_CONFIG = 256, O_CONFIG_ENV, O_SLICE, O_JOB_ID, O_NODE, O_HOST, O_BIND, O_REGISTRY,
	O_AUTH, O_LOG_DIR, O_STATUS, O_SIM, O_HB, O_PROBE, O_DRAIN, O_KILL, O_JOB_END,
	O_LEVEL, O_WAIT, O_WAIT_READY, O_TIMEOUT, O_HELP, O_VERSION, O_HUB, O_NNODES, O_SRUN,
	O_NODE_AGENT, O_NODE_ID, O_MASTER_PORT,
};

static long num(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < min || n > max) {
		fprintf(stderr, "elastic-agent: %s %s: expected a number from %ld to %ld\n", opt, v,
			min, max);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, O_CONFIG},
		{"config-env", required_argument, NULL, O_CONFIG_ENV},
		{"slice", required_argument, NULL, O_SLICE},
		{"job-id", required_argument, NULL, O_JOB_ID},
		{"node", required_argument, NULL, O_NODE},
		{"host", required_argument, NULL, O_HOST},
		{"bind", required_argument, NULL, O_BIND},
		{"registry", required_argument, NULL, O_REGISTRY},
		{"auth", required_argument, NULL, O_AUTH},
		{"log-dir", required_argument, NULL, O_LOG_DIR},
		{"status-file", required_argument, NULL, O_STATUS},
		{"sim", required_argument, NULL, O_SIM},
		{"heartbeat-ms", required_argument, NULL, O_HB},
		{"probe-ms", required_argument, NULL, O_PROBE},
		{"drain-ms", required_argument, NULL, O_DRAIN},
		{"kill-timeout-ms", required_argument, NULL, O_KILL},
		{"job-end", required_argument, NULL, O_JOB_END},
		{"log-level", required_argument, NULL, O_LEVEL},
		{"wait", no_argument, NULL, O_WAIT},
		{"wait-ready", no_argument, NULL, O_WAIT_READY},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"hub", no_argument, NULL, O_HUB},
		{"nnodes", required_argument, NULL, O_NNODES},
		{"srun", required_argument, NULL, O_SRUN},
		{"node-agent", required_argument, NULL, O_NODE_AGENT},
		{"node-id", required_argument, NULL, O_NODE_ID},
		{"master-port", required_argument, NULL, O_MASTER_PORT},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	if (argc > 1 && strcmp(argv[1], "--exec-pair") == 0)
		return agent_pair_main(argc - 2, argv + 2);
	struct agent_options opt;
	memset(&opt, 0, sizeof opt);
	opt.drain_ms = -1;
	opt.node_id = -1;
	int wait = 0, wait_ready = 0, timeout = 0, o;
	opt.slices = calloc((size_t)argc + 1, sizeof *opt.slices);
	if (!opt.slices)
		return 1;
	log_init("elastic-agent");
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case O_CONFIG: opt.config_file = optarg; break;
		case O_CONFIG_ENV: opt.config_env = optarg; break;
		case O_SLICE: opt.slices[opt.nslices++] = optarg; break;
		case O_JOB_ID: opt.job_id = optarg; break;
		case O_NODE: opt.node = optarg; break;
		case O_HOST: opt.host = optarg; break;
		case O_BIND: opt.bind = optarg; break;
		case O_REGISTRY: opt.registry = optarg; break;
		case O_AUTH: opt.auth = optarg; break;
		case O_LOG_DIR: opt.log_dir = optarg; break;
		case O_STATUS: opt.status_file = optarg; break;
		case O_SIM: opt.sim = optarg; break;
		case O_HB: opt.heartbeat_ms = (int)num("--heartbeat-ms", optarg, 100, 60000); break;
		case O_PROBE: opt.probe_ms = (int)num("--probe-ms", optarg, 10, 60000); break;
		case O_DRAIN: opt.drain_ms = num("--drain-ms", optarg, 0, 86400000); break;
		case O_KILL: opt.kill_timeout_ms = (int)num("--kill-timeout-ms", optarg, 0, 3600000); break;
		case O_JOB_END: opt.job_end = (double)num("--job-end", optarg, 0, 99999999999L); break;
		case O_LEVEL: {
			enum log_level lv;
			if (log_parse_level(optarg, &lv) < 0) {
				fprintf(stderr, "elastic-agent: --log-level %s: expected debug, info, warn or error\n", optarg);
				return 2;
			}
			log_set_level(lv);
			opt.log_level = optarg;
			break;
		}
		case O_HUB: opt.hub = true; break;
		case O_NNODES: opt.nnodes = (int)num("--nnodes", optarg, 1, 100000); break;
		case O_SRUN: opt.srun = optarg; break;
		case O_NODE_AGENT: opt.node_agent = optarg; break;
		case O_NODE_ID: opt.node_id = (int)num("--node-id", optarg, 0, 100000); break;
		case O_MASTER_PORT: opt.master_port = (int)num("--master-port", optarg, 1, 65535); break;
		case O_WAIT: wait = 1; break;
		case O_WAIT_READY: wait_ready = 1; break;
		case O_TIMEOUT: timeout = (int)num("--timeout", optarg, 0, 86400 * 365); break;
		case O_HELP: fputs(usage, stdout); free(opt.slices); return 0;
		case O_VERSION: printf("elastic-agent %s\n", ES_VERSION); free(opt.slices); return 0;
		default: fputs(usage, stderr); free(opt.slices); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "elastic-agent: unexpected argument \"%s\"\n%s", argv[optind], usage);
		free(opt.slices);
		return 2;
	}
	if (wait || wait_ready) {
		int rc = agent_wait_main(opt.status_file, 0, wait_ready, timeout);
		free(opt.slices);
		return rc;
	}
	struct event_base *base = event_base_new();
	struct agent ag;
	char err[1024];
	if (!base) {
		log_error("cannot create the event loop");
		return 1;
	}
	if (agent_init(&ag, base, &opt, err, sizeof err) < 0) {
		log_error("%s", err);
		agent_free(&ag);
		event_base_free(base);
		free(opt.slices);
		return 2;
	}
	agent_start(&ag);
	event_base_dispatch(base);
	int rc = ag.exit_code;
	agent_free(&ag);
	event_base_free(base);
	free(opt.slices);
	return rc;
}
