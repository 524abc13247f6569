/* check_agent.c — elastic-agent: engine argv and environment, placeholder
 * substitution, the per-slice state machine, registry bodies, and the agent
 * itself on an event loop with real processes (the fake engine of
 * tests/fake_engine.c) and a fake registry (lib/httpd in the same loop):
 * ready -> registered, kill -9 -> deregistered, restarted, registered,
 * SIGTERM drain, startup timeout with the log tail, a foreign server on the
 * port, the registry down and back, unknown workers, --wait/--wait-ready.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "agent.h"
#include "buf.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "model.h"

/* ---------------------------------------------------------------- pure parts */

static struct model_config *ag_model(const char *text)
{
	struct model_config *cfg = NULL;
	struct buf errs = BUF_INIT;
	int rc = model_parse(text, strlen(text), "test.toml", &cfg, &errs);
	ck_assert_msg(rc == 0, "%s", errs.data ? errs.data : "");
	buf_free(&errs);
	return cfg;
}

static const struct agent_engine_vars ag_vars = {
	.path = "/models/Llama 3; rm -rf /", .name = "llama", .host = "0.0.0.0", .port = 28002,
	.tp = 2, .gpus = "2,3", .rank = 0, .nnodes = 1,
};

static void ag_expect_argv(char **argv, const char *const *want)
{
	size_t i = 0;
	for (; want[i]; i++) {
		ck_assert_msg(argv[i] != NULL, "argv ends at %zu, want \"%s\"", i, want[i]);
		ck_assert_str_eq(argv[i], want[i]);
	}
	ck_assert_ptr_null(argv[i]);
}

START_TEST(test_subst)
{
	struct buf b = BUF_INIT;
	char err[256];
	ck_assert_int_eq(agent_subst("{path}|{name}|{host}:{port}|tp={tp}|{gpus}|r{rank}|{{x}}",
				     &ag_vars, &b, err, sizeof err), 0);
	ck_assert_str_eq(b.data, "/models/Llama 3; rm -rf /|llama|0.0.0.0:28002|tp=2|2,3|r0|{x}");
	buf_reset(&b);
	ck_assert_int_eq(agent_subst("--port={port}", &ag_vars, &b, err, sizeof err), 0);
	ck_assert_str_eq(b.data, "--port=28002");
	buf_reset(&b);
	ck_assert_int_eq(agent_subst("{nope}", &ag_vars, &b, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown placeholder \"{nope}\""));
	ck_assert_int_eq(agent_subst("{port", &ag_vars, &b, err, sizeof err), -1);
	ck_assert_int_eq(agent_subst("a}b", &ag_vars, &b, err, sizeof err), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_argv_kinds)
{
	char err[256];
	struct model_config *cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"vllm\"\n"
					    "args = [\"--max-model-len\", \"8192\", \"a b;c\"]\n");
	char **a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *vllm[] = {"vllm", "serve", ag_vars.path, "--host", "0.0.0.0", "--port", "28002",
			      "--tensor-parallel-size", "2", "--served-model-name", "llama",
			      "--max-model-len", "8192", "a b;c", NULL};
	ag_expect_argv(a, vllm);
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"sglang\"\nargs = [\"--mem-fraction-static\", \"0.8\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *sgl[] = {"python3", "-m", "sglang.launch_server", "--model-path", ag_vars.path,
			     "--host", "0.0.0.0", "--port", "28002", "--tp-size", "2",
			     "--served-model-name", "llama", "--mem-fraction-static", "0.8", NULL};
	ag_expect_argv(a, sgl);
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"sim\"\nargs = [\"--time-scale\", \"0\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, "/opt/es/bin/elastic-sim", err, sizeof err);
	const char *sim[] = {"/opt/es/bin/elastic-sim", "--model", ag_vars.path, "--host", "0.0.0.0",
			     "--port", "28002", "--tensor-parallel-size", "2",
			     "--served-model-name", "llama", "--time-scale", "0", NULL};
	ag_expect_argv(a, sim);
	agent_argv_free(a);
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	ck_assert_str_eq(a[0], "elastic-sim"); /* the PATH decides */
	agent_argv_free(a);
	model_free(cfg);

	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"command\"\n"
		       "command = [\"my-server\", \"--listen={host}:{port}\", \"{path}\", \"--gpus\", \"{gpus}\", \"-n\", \"{name}\", \"{tp}/{rank}\", \"$(id)\"]\n"
		       "args = [\"--extra\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *cmd[] = {"my-server", "--listen=0.0.0.0:28002", ag_vars.path, "--gpus", "2,3",
			     "-n", "llama", "2/0", "$(id)", "--extra", NULL};
	ag_expect_argv(a, cmd);
	agent_argv_free(a);
	model_free(cfg);
}
END_TEST

/* A worker of 2 nodes x 4 GPUs (tp = 8): rank R's variables. */
static struct agent_engine_vars ag_mn_vars(int rank)
{
	struct agent_engine_vars v = {
		.path = "/m/Qwen3 235B", .name = "qwen", .host = "0.0.0.0", .port = 28004, .tp = 8,
		.gpus = "4,5,6,7", .rank = rank, .nnodes = 2, .master_addr = "gpu01",
		.master_port = 28132, .gpus_per_rank = 4, .agent = "/usr/sbin/elastic-agent",
	};
	return v;
}

START_TEST(test_argv_multinode)
{
	char err[256];
	struct agent_engine_vars r0 = ag_mn_vars(0), r1 = ag_mn_vars(1);
	const char *mn = "[parallel]\ntp = 8\nnodes_per_worker = 2\n%s[slurm]\ngpus_per_node = 4\n";

	/* vLLM, multiprocessing: every rank runs vllm serve; rank > 0 headless. */
	char text[1024];
	snprintf(text, sizeof text, "[model]\npath = \"x\"\n[engine]\nkind = \"vllm\"\nargs = [\"--max-model-len\", \"8192\"]\n");
	snprintf(text + strlen(text), sizeof text - strlen(text), mn, "");
	struct model_config *cfg = ag_model(text);
	char **a = agent_engine_argv(cfg, &r0, NULL, err, sizeof err);
	const char *v0[] = {"vllm", "serve", r0.path, "--host", "0.0.0.0", "--port", "28004",
			    "--tensor-parallel-size", "8", "--served-model-name", "qwen",
			    "--nnodes", "2", "--node-rank", "0", "--master-addr", "gpu01",
			    "--master-port", "28132", "--max-model-len", "8192", NULL};
	ag_expect_argv(a, v0);
	agent_argv_free(a);
	a = agent_engine_argv(cfg, &r1, NULL, err, sizeof err);
	const char *v1[] = {"vllm", "serve", r0.path, "--host", "0.0.0.0", "--port", "28004",
			    "--tensor-parallel-size", "8", "--served-model-name", "qwen",
			    "--nnodes", "2", "--node-rank", "1", "--master-addr", "gpu01",
			    "--master-port", "28132", "--headless", "--max-model-len", "8192", NULL};
	ag_expect_argv(a, v1);
	agent_argv_free(a);
	/* Every rank learns the group in its environment too. */
	char *base[] = {"PATH=/usr/bin", "ELASTIC_SERVE_RANK=9", "RAY_ADDRESS=old:1", NULL};
	char **e = agent_engine_env(base, cfg, "4,5,6,7", &r1);
	const char *env1[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=4,5,6,7", "ELASTIC_SERVE_RANK=1",
			      "ELASTIC_SERVE_NNODES=2", "ELASTIC_SERVE_MASTER_ADDR=gpu01",
			      "ELASTIC_SERVE_MASTER_PORT=28132", NULL};
	ag_expect_argv(e, env1);
	agent_argv_free(e);
	model_free(cfg);

	/* vLLM on Ray: rank 0 runs the Ray head and then vllm serve (elastic-agent
	 * --exec-pair); the other ranks join the Ray cluster. */
	snprintf(text, sizeof text, "[model]\npath = \"x\"\n[engine]\nkind = \"vllm\"\nargs = [\"--enforce-eager\"]\n");
	snprintf(text + strlen(text), sizeof text - strlen(text), mn, "backend = \"ray\"\n");
	cfg = ag_model(text);
	a = agent_engine_argv(cfg, &r0, NULL, err, sizeof err);
	const char *ray0[] = {"/usr/sbin/elastic-agent", "--exec-pair", "8", "--wait-port", "28132",
			      "ray", "start", "--head", "--port=28132", "--num-gpus=4", "--block",
			      "--disable-usage-stats", "--include-dashboard=false",
			      "vllm", "serve", r0.path, "--host", "0.0.0.0", "--port", "28004",
			      "--tensor-parallel-size", "8", "--served-model-name", "qwen",
			      "--distributed-executor-backend", "ray", "--enforce-eager", NULL};
	ag_expect_argv(a, ray0);
	agent_argv_free(a);
	a = agent_engine_argv(cfg, &r1, NULL, err, sizeof err);
	const char *ray1[] = {"ray", "start", "--address=gpu01:28132", "--num-gpus=4", "--block",
			      "--disable-usage-stats", NULL};
	ag_expect_argv(a, ray1);
	agent_argv_free(a);
	e = agent_engine_env(base, cfg, "0,1,2,3", &r0);
	const char *env0[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=0,1,2,3", "ELASTIC_SERVE_RANK=0",
			      "ELASTIC_SERVE_NNODES=2", "ELASTIC_SERVE_MASTER_ADDR=gpu01",
			      "ELASTIC_SERVE_MASTER_PORT=28132", "RAY_ADDRESS=gpu01:28132", NULL};
	ag_expect_argv(e, env0);
	agent_argv_free(e);
	model_free(cfg);

	/* SGLang: --dist-init-addr on every rank. */
	snprintf(text, sizeof text, "[model]\npath = \"x\"\n[engine]\nkind = \"sglang\"\n");
	snprintf(text + strlen(text), sizeof text - strlen(text), mn, "");
	cfg = ag_model(text);
	for (int r = 0; r < 2; r++) {
		a = agent_engine_argv(cfg, r ? &r1 : &r0, NULL, err, sizeof err);
		const char *sg[] = {"python3", "-m", "sglang.launch_server", "--model-path", r0.path,
				    "--host", "0.0.0.0", "--port", "28004", "--tp-size", "8",
				    "--served-model-name", "qwen", "--nnodes", "2", "--node-rank",
				    r ? "1" : "0", "--dist-init-addr", "gpu01:28132", NULL};
		ag_expect_argv(a, sg);
		agent_argv_free(a);
	}
	model_free(cfg);

	/* elastic-sim: its multi-node flags; rank > 0 headless. */
	snprintf(text, sizeof text, "[model]\npath = \"x\"\n[engine]\nkind = \"sim\"\nargs = [\"--time-scale\", \"0\"]\n");
	snprintf(text + strlen(text), sizeof text - strlen(text), mn, "");
	cfg = ag_model(text);
	a = agent_engine_argv(cfg, &r1, "/bin/elastic-sim", err, sizeof err);
	const char *sim1[] = {"/bin/elastic-sim", "--model", r0.path, "--host", "0.0.0.0", "--port",
			      "28004", "--tensor-parallel-size", "8", "--served-model-name", "qwen",
			      "--nnodes", "2", "--node-rank", "1", "--master-addr", "gpu01",
			      "--master-port", "28132", "--headless", "--time-scale", "0", NULL};
	ag_expect_argv(a, sim1);
	agent_argv_free(a);
	a = agent_engine_argv(cfg, &r0, "/bin/elastic-sim", err, sizeof err);
	ck_assert_str_eq(a[14], "0");
	ck_assert_str_eq(a[19], "--time-scale"); /* no --headless on rank 0 */
	agent_argv_free(a);
	model_free(cfg);

	/* command: {rank} {nnodes} {master_addr} {master_port}. */
	snprintf(text, sizeof text, "[model]\npath = \"x\"\n[engine]\nkind = \"command\"\n"
				    "command = [\"srv\", \"--port={port}\", \"--rank={rank}/{nnodes}\", \"--head={master_addr}:{master_port}\", \"--tp={tp}\", \"{gpus}\"]\n");
	snprintf(text + strlen(text), sizeof text - strlen(text), mn, "");
	cfg = ag_model(text);
	a = agent_engine_argv(cfg, &r1, NULL, err, sizeof err);
	const char *cmd1[] = {"srv", "--port=28004", "--rank=1/2", "--head=gpu01:28132", "--tp=8",
			      "4,5,6,7", NULL};
	ag_expect_argv(a, cmd1);
	agent_argv_free(a);
	model_free(cfg);

	/* One node: {nnodes} is 1, nothing of the above is added. */
	cfg = ag_model("[model]\npath = \"x\"\n[engine]\nkind = \"command\"\ncommand = [\"srv\", \"{rank}/{nnodes}@{master_port}\", \"--port\", \"{port}\"]\n");
	a = agent_engine_argv(cfg, &ag_vars, NULL, err, sizeof err);
	const char *cmd0[] = {"srv", "0/1@0", "--port", "28002", NULL};
	ag_expect_argv(a, cmd0);
	agent_argv_free(a);
	e = agent_engine_env(base, cfg, "2,3", &ag_vars);
	const char *envk1[] = {"PATH=/usr/bin", "ELASTIC_SERVE_RANK=9", "RAY_ADDRESS=old:1",
			       "CUDA_VISIBLE_DEVICES=2,3", NULL};
	ag_expect_argv(e, envk1);
	agent_argv_free(e);
	model_free(cfg);
}
END_TEST

START_TEST(test_mn_words)
{
	char l1[] = "hello abc 3 n4 gpu04 28000 28128", l2[] = "run  2", l3[] = "state ready\t",
	     l4[] = "", l5[] = "a b c d";
	char *w[8];
	ck_assert_int_eq(agent_mn_split(l1, w, 8), 7);
	ck_assert_str_eq(w[0], "hello");
	ck_assert_str_eq(w[6], "28128");
	ck_assert_int_eq(agent_mn_split(l2, w, 8), -1); /* empty word */
	ck_assert_int_eq(agent_mn_split(l3, w, 8), -1); /* control character */
	ck_assert_int_eq(agent_mn_split(l4, w, 8), -1);
	ck_assert_int_eq(agent_mn_split(l5, w, 3), -1); /* too many */
	ck_assert(agent_mn_name_ok("gpu-01.cluster_a"));
	ck_assert(agent_mn_name_ok("fe80::1"));
	ck_assert(!agent_mn_name_ok(""));
	ck_assert(!agent_mn_name_ok("n1 n2"));
	ck_assert(!agent_mn_name_ok("n[1-2]"));
}
END_TEST

/* elastic-agent --exec-pair: B starts once A's port opens; the pair ends
 * with B, A is stopped. */
START_TEST(test_exec_pair)
{
	int port = 0;
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		bind(fd, (struct sockaddr *)&sa, sizeof sa);
		socklen_t l = sizeof sa;
		getsockname(fd, (struct sockaddr *)&sa, &l);
		port = ntohs(sa.sin_port);
		close(fd);
	}
	char script[512], ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	snprintf(script, sizeof script,
		 "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', %d)); s.listen(); time.sleep(30)",
		 port);
	pid_t pid = fork();
	if (pid == 0) {
		char *av[] = {"3", "--wait-port", ports, "python3", "-c", script, "sh", "-c", "exit 7", NULL};
		_exit(agent_pair_main(9, av));
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 7);
	/* A that ends first: the pair fails and B never starts. */
	pid = fork();
	if (pid == 0) {
		char *av[] = {"1", "--wait-port", ports, "false", "sh", "-c", "exit 0", NULL};
		_exit(agent_pair_main(7, av));
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	char *bad[] = {"x", "--wait-port", "1"};
	ck_assert_int_eq(agent_pair_main(3, bad), 2);
}
END_TEST

START_TEST(test_env)
{
	struct model_config *cfg = ag_model("[model]\npath = \"x\"\n[engine]\nenv = { VLLM_LOGGING_LEVEL = \"WARNING\", HOME = \"/scratch\" }\n");
	char *base[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=0,1,2,3", "HOME=/home/u",
			"CUDA_VISIBLE_DEVICES_X=keep", NULL};
	char **e = agent_engine_env(base, cfg, "2,3", NULL);
	const char *want[] = {"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES_X=keep",
			      "CUDA_VISIBLE_DEVICES=2,3", "VLLM_LOGGING_LEVEL=WARNING",
			      "HOME=/scratch", NULL};
	ag_expect_argv(e, want);
	agent_argv_free(e);
	model_free(cfg);
}
END_TEST

START_TEST(test_state_machine)
{
	struct agent_policy pol;
	agent_policy_default(&pol);
	struct agent_sm sm = {0};
	ck_assert_uint_eq(agent_sm_step(&sm, AE_START, 0, &pol), AA_SPAWN | AA_PROBE | AA_REGISTER);
	ck_assert_int_eq(sm.state, AS_STARTING);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_READY, 1000, &pol), AA_REGISTER);
	ck_assert_int_eq(sm.state, AS_READY);
	/* Death of a ready engine: deregister, restart after 1 s. */
	unsigned a = agent_sm_step(&sm, AE_EXITED, 2000, &pol);
	ck_assert_uint_eq(a, AA_DEREGISTER | AA_REAP_GROUP | AA_RESTART_LATER);
	ck_assert_str_eq(sm.reason, "engine_exit");
	ck_assert_int_eq(sm.state, AS_BACKOFF);
	ck_assert_int_eq(sm.backoff_ms, 1000);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_BACKOFF_DONE, 3000, &pol),
			  AA_SPAWN | AA_PROBE | AA_REGISTER);
	ck_assert_int_eq(sm.restarts, 1);
	/* Dying before ready, again and again: 2 s, 4 s, 8 s... then give up. */
	int want[] = {2000, 4000, 8000};
	for (int i = 0; i < 3; i++) {
		a = agent_sm_step(&sm, AE_EXITED, 4000, &pol);
		ck_assert_str_eq(sm.reason, "startup_failed");
		ck_assert_int_eq(sm.state, AS_BACKOFF);
		ck_assert_int_eq(sm.backoff_ms, want[i]);
		agent_sm_step(&sm, AE_BACKOFF_DONE, 4000, &pol);
	}
	a = agent_sm_step(&sm, AE_EXITED, 5000, &pol);
	ck_assert_int_eq(sm.state, AS_FAILED);
	ck_assert(a & AA_REPORT_FAIL);
	ck_assert(!(a & AA_RESTART_LATER));
	ck_assert_uint_eq(agent_sm_step(&sm, AE_BACKOFF_DONE, 5000, &pol), 0);
	ck_assert_uint_eq(agent_sm_step(&sm, AE_DRAIN, 5000, &pol), 0);
	ck_assert_int_eq(sm.state, AS_FAILED);

	/* Long-lived engines start over with the short backoff. */
	struct agent_sm s2 = {0};
	agent_sm_step(&s2, AE_START, 0, &pol);
	agent_sm_step(&s2, AE_READY, 0, &pol);
	for (int i = 0; i < 10; i++) {
		agent_sm_step(&s2, AE_EXITED, i * 100000 + 90000, &pol);
		ck_assert_int_eq(s2.backoff_ms, 1000);
		agent_sm_step(&s2, AE_BACKOFF_DONE, i * 100000 + 91000, &pol);
		agent_sm_step(&s2, AE_READY, i * 100000 + 92000, &pol);
	}
	ck_assert_int_eq(s2.state, AS_READY);

	/* Startup timeout: kill it, report, no retry. */
	struct agent_sm s3 = {0};
	agent_sm_step(&s3, AE_START, 0, &pol);
	a = agent_sm_step(&s3, AE_STARTUP_TIMEOUT, 0, &pol);
	ck_assert_uint_eq(a, AA_KILL | AA_DEREGISTER | AA_REPORT_FAIL);
	ck_assert_int_eq(s3.state, AS_FAILED);
	ck_assert_uint_eq(agent_sm_step(&s3, AE_EXITED, 0, &pol), AA_REAP_GROUP);

	/* SIGTERM: ready -> draining -> stopping -> stopped; no restart. */
	struct agent_sm s4 = {0};
	agent_sm_step(&s4, AE_START, 0, &pol);
	agent_sm_step(&s4, AE_READY, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_DRAIN, 0, &pol), 0);
	ck_assert_int_eq(s4.state, AS_DRAINING);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_STOP, 0, &pol), AA_TERM | AA_KILL_LATER);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_KILL_TIMEOUT, 0, &pol), AA_KILL);
	ck_assert_uint_eq(agent_sm_step(&s4, AE_EXITED, 0, &pol), AA_REAP_GROUP);
	ck_assert_int_eq(s4.state, AS_STOPPED);
	/* ... an engine dying during the drain is not restarted. */
	struct agent_sm s5 = {0};
	agent_sm_step(&s5, AE_START, 0, &pol);
	agent_sm_step(&s5, AE_READY, 0, &pol);
	agent_sm_step(&s5, AE_DRAIN, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s5, AE_EXITED, 0, &pol), AA_REAP_GROUP);
	ck_assert_int_eq(s5.state, AS_STOPPED);
	/* ... a starting one stops at once, one waiting to restart never does. */
	struct agent_sm s6 = {0};
	agent_sm_step(&s6, AE_START, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s6, AE_DRAIN, 0, &pol), AA_TERM | AA_KILL_LATER);
	ck_assert_int_eq(s6.state, AS_STOPPING);
	struct agent_sm s7 = {0};
	agent_sm_step(&s7, AE_START, 0, &pol);
	agent_sm_step(&s7, AE_EXITED, 0, &pol);
	ck_assert_int_eq(s7.state, AS_BACKOFF);
	ck_assert_uint_eq(agent_sm_step(&s7, AE_DRAIN, 0, &pol), 0);
	ck_assert_int_eq(s7.state, AS_STOPPED);
	ck_assert_uint_eq(agent_sm_step(&s7, AE_BACKOFF_DONE, 0, &pol), 0);
	ck_assert_str_eq(agent_state_name(AS_BACKOFF), "restarting");

	/* A ready engine that stopped answering: out of routing and killed at
	   once; its exit is then one failure, restarted like any death. */
	struct agent_sm s8 = {0};
	agent_sm_step(&s8, AE_START, 0, &pol);
	agent_sm_step(&s8, AE_READY, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s8, AE_HUNG, 70000, &pol), AA_DEREGISTER | AA_KILL);
	ck_assert_str_eq(s8.reason, "engine_exit");
	ck_assert_int_eq(s8.state, AS_READY);
	a = agent_sm_step(&s8, AE_EXITED, 70001, &pol);
	ck_assert(a & AA_RESTART_LATER);
	ck_assert_int_eq(s8.state, AS_BACKOFF);
	ck_assert_int_eq(s8.failures, 1);
	/* Only a ready engine counts as hung. */
	struct agent_sm s9 = {0};
	agent_sm_step(&s9, AE_START, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s9, AE_HUNG, 0, &pol), 0);
	agent_sm_step(&s9, AE_READY, 0, &pol);
	agent_sm_step(&s9, AE_DRAIN, 0, &pol);
	ck_assert_uint_eq(agent_sm_step(&s9, AE_HUNG, 0, &pol), 0);
}
END_TEST

/* ---------------------------------------------------------------- the loop */

static struct event_base *ag_base;
static struct event *ag_guard;
static char ag_dir[64];
static char ag_status[128];
static char ag_logdir[128];
static char ag_cfg_path[128];

struct ag_registry {
	struct httpd *h;
	int port;
	struct buf log;       /* "PATH BODY\n" per request, in order */
	int registers, heartbeats, deregisters;
	char unknown[256];    /* ids the next heartbeat reply says are unknown */
	int status;           /* reply status (200) */
};
static struct ag_registry ag_reg;

static void ag_reg_handler(struct httpd_req *req, void *arg)
{
	struct ag_registry *r = arg;
	const char *path = httpd_req_path(req);
	size_t len;
	const char *body = httpd_req_body(req, &len);
	buf_printf(&r->log, "%s %.*s\n", path, (int)len, body);
	struct buf out = BUF_INIT;
	if (r->status != 200) {
		httpd_reply(req, r->status, "application/json", "{\"error\":{\"message\":\"no\"}}", 26);
		return;
	}
	if (!strcmp(path, "/api/v1/workers")) {
		r->registers++;
		buf_puts(&out, "{\"id\":\"x\",\"state\":\"ready\",\"heartbeat_ms\":200,\"timeout_ms\":600}");
	} else if (!strcmp(path, "/api/v1/heartbeat")) {
		r->heartbeats++;
		buf_printf(&out, "{\"unknown\":[%s],\"heartbeat_ms\":200}", r->unknown);
		r->unknown[0] = '\0';
	} else if (!strcmp(path, "/api/v1/deregister")) {
		r->deregisters++;
		buf_puts(&out, "{\"removed\":1}");
	}
	httpd_reply(req, 200, "application/json", out.data ? out.data : "{}", out.len ? out.len : 2);
	buf_free(&out);
}

static void ag_reg_start(int port)
{
	char err[256];
	buf_free(&ag_reg.log);
	memset(&ag_reg, 0, sizeof ag_reg);
	ag_reg.status = 200;
	ag_reg.h = httpd_new(ag_base, NULL, ag_reg_handler, &ag_reg);
	ck_assert_int_eq(httpd_listen(ag_reg.h, "127.0.0.1", port, err, sizeof err), 0);
	ag_reg.port = httpd_port(ag_reg.h);
}

static int ag_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	socklen_t l = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &l);
	close(fd);
	return ntohs(sa.sin_port);
}

static void ag_guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until PRED(ARG) holds; fails after MS. */
static void ag_run_until(bool (*pred)(void *), void *arg, int ms, const char *what)
{
	int expired = 0;
	struct event *g = evtimer_new(ag_base, ag_guard_cb, &expired);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(g, &tv);
	while (!pred(arg) && !expired)
		event_base_loop(ag_base, EVLOOP_ONCE);
	event_free(g);
	ck_assert_msg(pred(arg), "timed out after %d ms waiting for %s", ms, what);
}

static void ag_setup(const char *mode, const char *startup)
{
	log_init("check-agent");
	log_set_level(LOG_LVL_ERROR);
	ag_base = event_base_new();
	ag_guard = NULL;
	snprintf(ag_dir, sizeof ag_dir, "/tmp/check_agent_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ag_dir));
	snprintf(ag_status, sizeof ag_status, "%s/n1.status", ag_dir);
	snprintf(ag_logdir, sizeof ag_logdir, "%s/logs", ag_dir);
	snprintf(ag_cfg_path, sizeof ag_cfg_path, "%s/model.toml", ag_dir);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	FILE *fp = fopen(ag_cfg_path, "w");
	fprintf(fp, "[model]\npath = \"fake/m\"\nname = \"m\"\n[engine]\nkind = \"command\"\n"
		    "command = [\"%s\", \"--port\", \"{port}\", \"--served-model-name\", \"{name}\"]\n"
		    "env = { ES_FAKE_ENGINE = \"%s\", FAKE_EXTRA = \"a b;$(c)\" }\n"
		    "startup_timeout = \"%s\"\ndrain_timeout = \"2s\"\n[parallel]\ntp = 1\n",
		self, mode, startup);
	fclose(fp);
}

static void ag_teardown(void)
{
	if (ag_reg.h)
		httpd_free(ag_reg.h);
	ag_reg.h = NULL;
	buf_free(&ag_reg.log);
	event_base_free(ag_base);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", ag_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void ag_opts(struct agent_options *o, char **slices, size_t n, const char *registry)
{
	memset(o, 0, sizeof *o);
	o->config_file = ag_cfg_path;
	o->job_id = "77";
	o->node = "n1";
	o->host = "127.0.0.1";
	o->bind = "127.0.0.1";
	o->registry = registry;
	o->auth = "none";
	o->log_dir = ag_logdir;
	o->status_file = ag_status;
	o->probe_ms = 50;
	o->kill_timeout_ms = 2000;
	o->drain_ms = -1;
	o->job_end = 1e9 + 1; /* no squeue */
	o->slices = slices;
	o->nslices = n;
}

struct ag_wait {
	struct agent *ag;
	enum agent_state state;
	int count;     /* slices in that state */
};

static bool ag_slices_in(void *arg)
{
	struct ag_wait *w = arg;
	int n = 0;
	for (size_t i = 0; i < w->ag->nslices; i++)
		n += w->ag->slices[i].sm.state == w->state;
	return n >= w->count;
}

static bool ag_registered_ready(void *arg)
{
	struct agent *ag = arg;
	for (size_t i = 0; i < ag->nslices; i++)
		if (ag->slices[i].sm.state != AS_READY || !ag->slices[i].registered ||
		    ag->slices[i].reg_sent != AS_READY || ag->slices[i].reg_inflight)
			return false;
	return true;
}

static bool ag_done(void *arg)
{
	return ((struct agent *)arg)->phase == AP_DONE;
}

static int *ag_counter;
static int ag_target;
static bool ag_count_reached(void *arg)
{
	(void)arg;
	return *ag_counter >= ag_target;
}

static void ag_wait_count(int *counter, int target, int ms, const char *what)
{
	ag_counter = counter;
	ag_target = target;
	ag_run_until(ag_count_reached, NULL, ms, what);
}

/* Fetches URL synchronously on the loop. */
struct ag_fetch {
	int done, status;
	struct buf body;
};

static void ag_fetch_done(struct httpc_req *req, int err, const struct httpc_resp *resp,
			  void *arg)
{
	(void)req;
	struct ag_fetch *f = arg;
	f->done = 1;
	f->status = err ? -1 : httpc_resp_status(resp);
	if (!err) {
		size_t len;
		const char *b = httpc_resp_body(resp, &len);
		buf_append(&f->body, b, len);
	}
}

static bool ag_fetched(void *arg)
{
	return ((struct ag_fetch *)arg)->done;
}

static struct json_object *ag_get_json(struct httpc *c, const char *url)
{
	struct ag_fetch f = {0};
	char err[128];
	struct httpc_request rq = {.method = "GET", .url = url, .total_timeout_ms = 2000,
				   .on_done = ag_fetch_done, .arg = &f};
	ck_assert_ptr_nonnull(httpc_start(c, &rq, err, sizeof err));
	ag_run_until(ag_fetched, &f, 3000, url);
	ck_assert_int_eq(f.status, 200);
	struct json_object *o = json_tokener_parse(f.body.data);
	buf_free(&f.body);
	ck_assert_ptr_nonnull(o);
	return o;
}

static const char *ag_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

START_TEST(test_loop_ready_and_heartbeat)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32], s1[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	int p0 = ag_free_port(), p1 = ag_free_port();
	snprintf(s0, sizeof s0, "0@%d", p0);
	snprintf(s1, sizeof s1, "1@%d", p1);
	char *slices[] = {s0, s1};
	struct agent_options o;
	ag_opts(&o, slices, 2, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	/* Both start at once: two engine processes before either is ready. */
	ck_assert(ag.slices[0].pid > 0 && ag.slices[1].pid > 0);
	ag_run_until(ag_registered_ready, &ag, 8000, "both slices ready and registered");
	ck_assert_str_eq(ag.slices[0].id, "77.n1.0");
	char want_url[64];
	snprintf(want_url, sizeof want_url, "http://127.0.0.1:%d", p1);
	ck_assert_str_eq(ag.slices[1].url, want_url);

	/* Registered first as starting, then as ready, with everything API.md asks. */
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"state\": \"starting\""));
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"state\": \"ready\""));
	const char *line = strstr(ag_reg.log.data, "/api/v1/workers {\"id\": \"77.n1.1\"");
	ck_assert_ptr_nonnull(line);
	char *one = strndup(strchr(line, '{'), strcspn(strchr(line, '{'), "\n"));
	struct json_object *o1 = json_tokener_parse(one);
	free(one);
	ck_assert_str_eq(ag_jstr(o1, "model"), "m");
	ck_assert_str_eq(ag_jstr(o1, "job_id"), "77");
	ck_assert_str_eq(ag_jstr(o1, "node"), "n1");
	ck_assert_str_eq(ag_jstr(o1, "gpus"), "1");
	ck_assert_int_eq(atoi(ag_jstr(o1, "port")), p1);
	ck_assert_int_eq(atoi(ag_jstr(o1, "slice")), 1);
	ck_assert_int_eq(atoi(ag_jstr(o1, "tp")), 1);
	json_object_put(o1);

	/* The engine got its slice and [engine].env, in its own process group. */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/info", p1);
	struct json_object *info = ag_get_json(ag.http, url);
	ck_assert_str_eq(ag_jstr(info, "cvd"), "1");
	ck_assert_str_eq(ag_jstr(info, "extra"), "a b;$(c)");
	ck_assert_int_eq(atoi(ag_jstr(info, "pgid")), atoi(ag_jstr(info, "pid")));
	ck_assert_int_eq(atoi(ag_jstr(info, "pid")), ag.slices[1].pid);
	json_object_put(info);

	/* Heartbeats every 200 ms (the registry said so) with the scraped load. */
	int hb = ag_reg.heartbeats;
	ag_wait_count(&ag_reg.heartbeats, hb + 3, 3000, "heartbeats");
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"load\": {\"running\": 1, \"waiting\": 0, \"kv_usage\": 0.5000"));
	ck_assert_int_eq(ag.heartbeat_ms, 200);

	/* The status file says so too. */
	FILE *fp = fopen(ag_status, "r");
	ck_assert_ptr_nonnull(fp);
	char sbuf[4096];
	size_t n = fread(sbuf, 1, sizeof sbuf - 1, fp);
	sbuf[n] = '\0';
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(sbuf, "\"state\": \"ready\""));
	ck_assert_ptr_nonnull(strstr(sbuf, "\"phase\": \"running\""));

	/* Unknown worker in a heartbeat reply: registered again. */
	snprintf(ag_reg.unknown, sizeof ag_reg.unknown, "\"77.n1.0\"");
	int regs = ag_reg.registers;
	ag_wait_count(&ag_reg.registers, regs + 1, 3000, "registration again");
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_restart_after_kill9)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "3@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	ag.pol.backoff_min_ms = 100;
	agent_start(&ag);
	ag_run_until(ag_registered_ready, &ag, 8000, "ready");
	pid_t first = ag.slices[0].pid;
	int regs = ag_reg.registers;
	ck_assert_int_eq(kill(first, SIGKILL), 0);
	ag_wait_count(&ag_reg.deregisters, 1, 3000, "the deregistration");
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "/api/v1/deregister {\"job_id\": \"77\", \"node\": \"n1\", \"ids\": [\"77.n1.0\"], \"reason\": \"engine_exit\"}"));
	ag_run_until(ag_registered_ready, &ag, 8000, "ready again");
	ck_assert_int_gt(ag_reg.registers, regs + 1); /* starting, then ready */
	ck_assert_int_ne(ag.slices[0].pid, first);
	ck_assert_int_eq(ag.slices[0].sm.restarts, 1);
	/* Two starts in the slice's log, each with its header. */
	char buf[8192];
	FILE *fp = fopen(ag.slices[0].log_path, "r");
	ck_assert_ptr_nonnull(fp);
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "start 1:"));
	ck_assert_ptr_nonnull(strstr(buf, "start 2:"));
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_sigterm_drain)
{
	ag_setup("ok", "20s");
	ag_reg_start(0);
	char reg[64], s0[32], s1[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	snprintf(s1, sizeof s1, "1@%d", ag_free_port());
	char *slices[] = {s0, s1};
	struct agent_options o;
	ag_opts(&o, slices, 2, reg);
	o.drain_ms = 600;
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_registered_ready, &ag, 8000, "ready");
	int hb = ag_reg.heartbeats;
	ag_wait_count(&ag_reg.heartbeats, hb + 1, 3000, "a heartbeat");
	pid_t pids[2] = {ag.slices[0].pid, ag.slices[1].pid};
	size_t before = ag_reg.log.len;
	int64_t t0 = agent_now_ms();
	/* A real SIGTERM to this process, as Slurm sends it. */
	kill(getpid(), SIGTERM);
	ag_wait_count(&ag_reg.deregisters, 1, 2000, "the deregistration");
	int64_t dereg_ms = agent_now_ms() - t0;
	ck_assert_msg(dereg_ms < 1000, "deregistered after %lld ms", (long long)dereg_ms);
	/* One request for every worker, before anything else happened. */
	ck_assert_str_eq(ag_reg.log.data + before,
			 "/api/v1/deregister {\"job_id\": \"77\", \"node\": \"n1\", \"reason\": \"sigterm\"}\n");
	/* The fake engines report 1 request running: the drain time runs out,
	 * then they get SIGTERM and exit. */
	ag_run_until(ag_done, &ag, 8000, "the agent to finish");
	int64_t total = agent_now_ms() - t0;
	ck_assert_msg(total >= 550, "engines stopped after %lld ms, before the drain time", (long long)total);
	ck_assert_int_eq(ag.exit_code, 0);
	ck_assert_int_eq(ag_reg.deregisters, 1);
	ck_assert(kill(pids[0], 0) < 0 && kill(pids[1], 0) < 0);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_STOPPED);
	FILE *fp = fopen(ag_status, "r");
	char sbuf[4096];
	size_t n = fread(sbuf, 1, sizeof sbuf - 1, fp);
	sbuf[n] = '\0';
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(sbuf, "\"phase\": \"exited\", \"job_id\": \"77\", \"node\": \"n1\", \"exit_code\": 0"));
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_startup_timeout)
{
	ag_setup("hang", "1s");
	ag_reg_start(0);
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_done, &ag, 8000, "the agent to give up");
	ck_assert_int_eq(ag.exit_code, 1);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_FAILED);
	ck_assert_int_eq(ag.slices[0].pid, 0);
	ck_assert_msg(strstr(ag.slices[0].error, "not ready within engine.startup_timeout") &&
		      strstr(ag.slices[0].error, "fake engine: mode hang"),
		      "error: %s", ag.slices[0].error);
	ck_assert_ptr_nonnull(strstr(ag_reg.log.data, "\"reason\": \"startup_failed\""));
	agent_free(&ag);
	ag_teardown();
}
END_TEST

/* Another job's server on the port: /health answers, /v1/models does not
 * list our model. Never ready. */
static void ag_foreign_handler(struct httpd_req *req, void *arg)
{
	(void)arg;
	if (!strcmp(httpd_req_path(req), "/v1/models"))
		httpd_reply(req, 200, "application/json", "{\"data\":[{\"id\":\"other\"}]}", 25);
	else
		httpd_reply(req, 200, NULL, "", 0);
}

START_TEST(test_loop_foreign_server)
{
	ag_setup("nobind", "1s");
	char err[512], s0[32];
	struct httpd *foreign = httpd_new(ag_base, NULL, ag_foreign_handler, NULL);
	ck_assert_int_eq(httpd_listen(foreign, "127.0.0.1", 0, err, sizeof err), 0);
	snprintf(s0, sizeof s0, "0@%d", httpd_port(foreign));
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, NULL);
	struct agent ag;
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_done, &ag, 8000, "the agent to give up");
	ck_assert_int_eq(ag.slices[0].sm.state, AS_FAILED);
	ck_assert_msg(strstr(ag.slices[0].error, "not ready within"), "%s", ag.slices[0].error);
	agent_free(&ag);
	httpd_free(foreign);
	ag_teardown();
}
END_TEST

START_TEST(test_loop_registry_down)
{
	ag_setup("ok", "20s");
	int rport = ag_free_port();
	char reg[64], s0[32];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", rport);
	snprintf(s0, sizeof s0, "0@%d", ag_free_port());
	char *slices[] = {s0};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	o.heartbeat_ms = 200;
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	/* Ready and serving without a registry. */
	struct ag_wait w = {&ag, AS_READY, 1};
	ag_run_until(ag_slices_in, &w, 8000, "ready without a registry");
	ck_assert(!ag.slices[0].registered);
	ck_assert_int_gt(ag.slices[0].reg_backoff_ms, 0);
	/* The registry comes up: the retry registers it. */
	ag_reg_start(rport);
	ag_run_until(ag_registered_ready, &ag, 8000, "registered once the registry is up");
	agent_drain(&ag);
	ag_run_until(ag_done, &ag, 8000, "the drain");
	agent_free(&ag);
	ag_teardown();
}
END_TEST

START_TEST(test_init_errors)
{
	ag_setup("ok", "20s");
	struct agent_options o;
	struct agent ag;
	char err[512];
	char *bad1[] = {"0,1@28000"}; /* tp = 1: two GPUs are two slices */
	ag_opts(&o, bad1, 1, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "--slice 0,1@28000"), "%s", err);
	agent_free(&ag);
	char *bad2[] = {"0@99999"};
	ag_opts(&o, bad2, 1, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	agent_free(&ag);
	char *bad3[] = {"0@28000", "1@28000"};
	ag_opts(&o, bad3, 2, NULL);
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "given twice"), "%s", err);
	agent_free(&ag);
	ag_opts(&o, bad1, 0, NULL);
	o.config_env = "ES_CHECK_NO_SUCH_VAR";
	o.config_file = NULL;
	ck_assert_int_eq(agent_init(&ag, ag_base, &o, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "$ES_CHECK_NO_SUCH_VAR is not set"), "%s", err);
	agent_free(&ag);
	ag_teardown();
}
END_TEST

/* ---------------------------------------------------------------- wait */

static void ag_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

START_TEST(test_wait_modes)
{
	ag_setup("ok", "20s");
	/* --wait on a child that exits 5: its status. */
	pid_t pid = fork();
	if (pid == 0) {
		usleep(300000);
		_exit(5);
	}
	char st[512];
	snprintf(st, sizeof st, "{\"pid\": %d, \"phase\": \"running\", \"slices\": []}", (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, 0, false, 0), 5);

	/* --wait on a process that is not a child: the status file's exit code. */
	ag_write(ag_status, "{\"pid\": 999999999, \"phase\": \"exited\", \"exit_code\": 4, \"slices\": []}");
	ck_assert_int_eq(agent_wait_main(ag_status, 0, false, 0), 4);

	/* --wait-ready. */
	pid = fork();
	if (pid == 0) {
		sleep(30);
		_exit(0);
	}
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"ready\"}, {\"index\": 1, \"url\": \"http://h:2\", \"state\": \"starting\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 2); /* timeout */
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"ready\"}, {\"index\": 1, \"url\": \"http://h:2\", \"state\": \"ready\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 0);
	snprintf(st, sizeof st,
		 "{\"pid\": %d, \"phase\": \"running\", \"slices\": [{\"index\": 0, \"url\": \"http://h:1\", \"state\": \"failed\", \"error\": \"boom\"}]}",
		 (int)pid);
	ag_write(ag_status, st);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(agent_wait_main(ag_status, pid, true, 1), 1); /* failed slice */
	ck_assert_int_eq(agent_wait_main(NULL, -1, false, 0), 1);      /* nothing to wait for */
	ag_teardown();
}
END_TEST

/* ---------------------------------------------------------------- multi-node */

/* A peer the test plays: a node agent talking to the hub, or the hub
 * talking to a node agent; lines received pile up in IN. */
struct ag_peer {
	struct bufferevent *bev;
	struct buf in;
	bool closed;
};

static void ag_peer_read(struct bufferevent *bev, void *arg)
{
	struct ag_peer *p = arg;
	struct evbuffer *b = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(b);
	buf_reserve(&p->in, n);
	evbuffer_remove(b, p->in.data + p->in.len, n);
	p->in.len += n;
	p->in.data[p->in.len] = '\0';
}

static void ag_peer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct ag_peer *p = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		p->closed = true;
}

static void ag_peer_init(struct ag_peer *p, evutil_socket_t fd)
{
	memset(p, 0, sizeof *p);
	p->bev = bufferevent_socket_new(ag_base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->bev, ag_peer_read, NULL, ag_peer_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

static void ag_peer_connect(struct ag_peer *p, int port)
{
	ag_peer_init(p, -1);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bufferevent_socket_connect(p->bev, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void ag_peer_free(struct ag_peer *p)
{
	if (p->bev)
		bufferevent_free(p->bev);
	buf_free(&p->in);
	memset(p, 0, sizeof *p);
}

static void ag_peer_say(struct ag_peer *p, const char *line)
{
	evbuffer_add_printf(bufferevent_get_output(p->bev), "%s\n", line);
}

struct ag_expect {
	struct ag_peer *p;
	const char *line;
};

static bool ag_peer_has(void *arg)
{
	struct ag_expect *e = arg;
	char want[512];
	snprintf(want, sizeof want, "%s\n", e->line);
	return e->p->in.data && strstr(e->p->in.data, want);
}

static void ag_peer_expect(struct ag_peer *p, const char *line, int ms)
{
	struct ag_expect e = {p, line};
	char what[600];
	snprintf(what, sizeof what, "the line \"%s\" (got: %s)", line, p->in.data ? p->in.data : "");
	ag_run_until(ag_peer_has, &e, ms, what);
}

static bool ag_peer_closed(void *arg)
{
	return ((struct ag_peer *)arg)->closed;
}

static void ag_hub_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	(void)lev;
	(void)sa;
	(void)salen;
	struct ag_peer *p = *(struct ag_peer **)arg;
	ck_assert_ptr_null(p->bev);
	ag_peer_init(p, fd);
}

static void ag_write_mn_model(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n] = '\0';
	FILE *fp = fopen(ag_cfg_path, "w");
	fprintf(fp, "[model]\npath = \"fake/m\"\nname = \"m\"\n[engine]\nkind = \"command\"\n"
		    "command = [\"%s\", \"--port\", \"{port}\", \"--served-model-name\", \"{name}\"]\n"
		    "env = { ES_FAKE_ENGINE = \"ok\" }\nstartup_timeout = \"20s\"\ndrain_timeout = \"1s\"\n"
		    "[parallel]\ntp = 2\nnodes_per_worker = 2\n[slurm]\ngpus_per_node = 1\nnodes = 2\n",
		self);
	fclose(fp);
}

static bool ag_file_has_token(void *arg)
{
	FILE *fp = fopen(arg, "r");
	char line[512];
	bool found = false;
	while (fp && fgets(line, sizeof line, fp))
		found |= strncmp(line, "ELASTIC_SERVE_HUB_TOKEN=", 24) == 0;
	if (fp)
		fclose(fp);
	return found;
}

/* Whether the status file's entries have the states in ARG ("a b"). */
static bool ag_status_states(void *arg)
{
	struct json_object *st = json_object_from_file(ag_status), *sl;
	struct buf b = BUF_INIT;
	if (st && json_object_object_get_ex(st, "slices", &sl))
		for (size_t i = 0; i < json_object_array_length(sl); i++) {
			struct json_object *v;
			if (json_object_object_get_ex(json_object_array_get_idx(sl, i), "state", &v))
				buf_printf(&b, "%s%s", i ? " " : "", json_object_get_string(v));
		}
	bool ok = b.data && strcmp(b.data, arg) == 0;
	buf_free(&b);
	json_object_put(st);
	return ok;
}

/* The hub: srun's command line and environment; hellos (a wrong token is
 * refused); groups per worker; relays between a worker's ranks only;
 * the status file; the loss of a node agent; srun's end while running. */
START_TEST(test_hub_relay)
{
	ag_setup("ok", "20s");
	ag_write_mn_model();
	char srun[600], envf[600], argf[600];
	snprintf(srun, sizeof srun, "%s/srun", ag_dir);
	snprintf(envf, sizeof envf, "%s/srun.env", ag_dir);
	snprintf(argf, sizeof argf, "%s/srun.args", ag_dir);
	FILE *fp = fopen(srun, "w");
	fprintf(fp, "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\nenv > '%s.tmp' && mv '%s.tmp' '%s'\nexec sleep 60\n",
		argf, envf, envf, envf);
	fclose(fp);
	chmod(srun, 0755);
	struct agent_options o;
	ag_opts(&o, NULL, 0, NULL);
	o.hub = true;
	o.nnodes = 4;
	o.srun = srun;
	o.config_env = NULL;
	struct agent ag;
	char err[512];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	ag_run_until(ag_file_has_token, envf, 5000, "srun to start");

	/* What srun was given. */
	char *args = NULL, *env = NULL, tok[80] = "";
	size_t len = 0;
	fp = fopen(argf, "r");
	ck_assert_int_ne(getdelim(&args, &len, '\0', fp), -1);
	fclose(fp);
	ck_assert_msg(strstr(args, "--overlap\n--nodes=4\n--ntasks=4\n--ntasks-per-node=1\n--kill-on-bad-exit=1\n"), "%s", args);
	ck_assert_msg(strstr(args, "\n--node-agent\n127.0.0.1:"), "%s", args);
	ck_assert_msg(strstr(args, "\n--job-id\n77\n"), "%s", args);
	int hub_port = atoi(strstr(args, "--node-agent\n127.0.0.1:") + strlen("--node-agent\n127.0.0.1:"));
	free(args);
	len = 0;
	fp = fopen(envf, "r");
	ck_assert_int_ne(getdelim(&env, &len, '\0', fp), -1);
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(env, "ELASTIC_SERVE_RANKS=1\n"));
	sscanf(strstr(env, "ELASTIC_SERVE_HUB_TOKEN=") + 24, "%79s", tok);
	ck_assert_uint_eq(strlen(tok), 32);
	free(env);

	/* A stranger is refused. */
	struct ag_peer x, nd[4];
	ag_peer_connect(&x, hub_port);
	ag_peer_say(&x, "hello 0123456789abcdef0123456789abcdef 0 n1 127.0.0.1 1000 2000");
	ag_run_until(ag_peer_closed, &x, 3000, "the stranger to be refused");
	ag_peer_free(&x);

	char line[256];
	for (int i = 0; i < 4; i++) {
		ag_peer_connect(&nd[i], hub_port);
		snprintf(line, sizeof line, "hello %s %d n%d 127.0.0.1 %d %d", tok, i, i + 1, 1000 + i,
			 i % 2 ? 0 : 2000 + i);
		ag_peer_say(&nd[i], line);
	}
	ag_peer_expect(&nd[0], "group n1 127.0.0.1 1000 2000 2 n1 n2", 3000);
	ag_peer_expect(&nd[1], "group n1 127.0.0.1 1000 2000 2 n1 n2", 3000);
	ag_peer_expect(&nd[2], "group n3 127.0.0.1 1002 2002 2 n3 n4", 3000);
	ag_peer_expect(&nd[3], "group n3 127.0.0.1 1002 2002 2 n3 n4", 3000);

	/* Rank 0 -> the worker's other ranks, and back. */
	ag_peer_say(&nd[0], "run 1");
	ag_peer_expect(&nd[1], "run 1", 3000);
	ag_peer_say(&nd[1], "down 1");
	ag_peer_expect(&nd[0], "down 1 1", 3000);
	ag_peer_say(&nd[0], "halt 1 KILL");
	ag_peer_expect(&nd[1], "halt 1 KILL", 3000);
	ag_peer_say(&nd[0], "state ready");
	ag_peer_say(&nd[2], "state starting");
	ag_peer_say(&nd[2], "run 1");
	ag_peer_expect(&nd[3], "run 1", 3000);
	ck_assert_ptr_null(strstr(nd[1].in.data, "halt 1 KILL\nrun 1")); /* not worker 1's */
	ag_run_until(ag_status_states, "ready starting", 3000, "the workers' states in the status file");
	struct json_object *st = json_object_from_file(ag_status), *sl, *w0;
	ck_assert(json_object_object_get_ex(st, "slices", &sl));
	ck_assert_int_eq(json_object_array_length(sl), 2);
	w0 = json_object_array_get_idx(sl, 0);
	ck_assert_str_eq(ag_jstr(w0, "url"), "http://127.0.0.1:1000");
	ck_assert_str_eq(ag_jstr(w0, "state"), "ready");
	ck_assert_str_eq(ag_jstr(json_object_array_get_idx(sl, 1), "state"), "starting");
	json_object_put(st);

	/* An agent goes: its worker's rank 0 hears of it. */
	ag_peer_free(&nd[3]);
	ag_peer_expect(&nd[2], "lost 1", 3000);
	ag_peer_free(&nd[0]);
	ag_peer_expect(&nd[1], "lost 0", 3000);

	/* srun ends while the job runs: the hub ends, exit 1. */
	ck_assert_int_eq(ag.phase, AP_RUNNING);
	pid_t srun_pid = agent_hub_srun_pid(&ag);
	ck_assert_int_gt(srun_pid, 0);
	kill(srun_pid, SIGKILL);
	ag_run_until(ag_done, &ag, 5000, "the hub to end with srun");
	ck_assert_int_eq(ag.exit_code, 1);
	for (int i = 0; i < 4; i++)
		ag_peer_free(&nd[i]);
	agent_free(&ag);
	ag_teardown();
}
END_TEST

/* Rank 0's node agent against a hub the test plays: hello; the engine
 * starts with the group; `run`; registration with the nodes; a rank that
 * goes down restarts the whole worker; SIGTERM drains and halts the ranks. */
START_TEST(test_node_rank0)
{
	ag_setup("ok", "20s");
	ag_write_mn_model();
	ag_reg_start(0);
	char reg[64], slice[32], hub[64];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	int port = ag_free_port();
	snprintf(slice, sizeof slice, "0@%d", port);
	struct ag_peer peer = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct ag_peer *pp = &peer;
	struct evconnlistener *lev = evconnlistener_new_bind(
		ag_base, ag_hub_accept, &pp, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4,
		(struct sockaddr *)&sa, sizeof sa);
	ck_assert_ptr_nonnull(lev);
	socklen_t sl = sizeof sa;
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sa, &sl);
	snprintf(hub, sizeof hub, "127.0.0.1:%d", ntohs(sa.sin_port));
	setenv("ELASTIC_SERVE_HUB_TOKEN", "tok123", 1);
	char *slices[] = {slice};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	o.node_agent = hub;
	o.node_id = 0;
	o.master_port = 2345;
	struct agent ag;
	char err[512], line[256];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	snprintf(line, sizeof line, "hello tok123 0 n1 127.0.0.1 %d 2345", port);
	ag_peer_expect(&peer, line, 5000);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_IDLE); /* nothing before the group */
	snprintf(line, sizeof line, "group n1 127.0.0.1 %d 2345 2 n1 n2", port);
	ag_peer_say(&peer, line);
	ag_peer_expect(&peer, "run 1", 5000);
	ag_run_until(ag_registered_ready, &ag, 8000, "rank 0 ready and registered");
	ag_peer_expect(&peer, "state ready", 3000);
	ck_assert_msg(strstr(ag_reg.log.data, "\"id\": \"77.n1.0\"") &&
		      strstr(ag_reg.log.data, "\"nodes\": [\"n1\", \"n2\"]") &&
		      strstr(ag_reg.log.data, "\"tp\": 2"), "%s", ag_reg.log.data);

	/* Rank 1 went down: rank 0 is killed, the worker restarts as a whole. */
	pid_t old = ag.slices[0].pid;
	ag_peer_say(&peer, "down 1 1");
	ag_peer_expect(&peer, "halt 1 KILL", 3000);
	ag_peer_expect(&peer, "run 2", 5000);
	ck_assert_int_ne(ag.slices[0].pid, old);
	ck_assert_int_ge(ag_reg.deregisters, 1);
	ag_run_until(ag_registered_ready, &ag, 8000, "rank 0 ready again");
	/* A down of an older incarnation changes nothing. */
	pid_t cur = ag.slices[0].pid;
	ag_peer_say(&peer, "down 1 1");
	ag_peer_say(&peer, "state x");
	ag_peer_expect(&peer, "state ready", 1000);
	ck_assert_int_eq(ag.slices[0].pid, cur);

	/* SIGTERM: deregistered, drained, then the ranks are halted. */
	agent_drain(&ag);
	ag_peer_expect(&peer, "halt 2 TERM", 5000);
	ag_run_until(ag_done, &ag, 8000, "rank 0's agent to finish");
	ck_assert_int_eq(ag.exit_code, 0);
	agent_free(&ag);
	evconnlistener_free(lev);
	ag_peer_free(&peer);
	unsetenv("ELASTIC_SERVE_HUB_TOKEN");
	ag_teardown();
}
END_TEST

/* A follower: it runs its rank on `run` with rank 0's address; when its
 * engine dies on its own it deregisters the worker and says `down`; it
 * stops on `halt`; on SIGTERM it keeps its rank until rank 0 halts it. */
START_TEST(test_node_follower)
{
	ag_setup("ok", "20s");
	ag_write_mn_model();
	ag_reg_start(0);
	char reg[64], slice[32], hub[64];
	snprintf(reg, sizeof reg, "http://127.0.0.1:%d", ag_reg.port);
	int port = ag_free_port();
	snprintf(slice, sizeof slice, "0@%d", port);
	struct ag_peer peer = {0};
	struct ag_peer *pp = &peer;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct evconnlistener *lev = evconnlistener_new_bind(
		ag_base, ag_hub_accept, &pp, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4,
		(struct sockaddr *)&sa, sizeof sa);
	socklen_t sl = sizeof sa;
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sa, &sl);
	snprintf(hub, sizeof hub, "127.0.0.1:%d", ntohs(sa.sin_port));
	setenv("ELASTIC_SERVE_HUB_TOKEN", "tok123", 1);
	char *slices[] = {slice};
	struct agent_options o;
	ag_opts(&o, slices, 1, reg);
	o.node = "n2";
	o.node_agent = hub;
	o.node_id = 3; /* rank 1 of worker 1 */
	struct agent ag;
	char err[512], line[256];
	ck_assert_msg(agent_init(&ag, ag_base, &o, err, sizeof err) == 0, "%s", err);
	agent_start(&ag);
	snprintf(line, sizeof line, "hello tok123 3 n2 127.0.0.1 %d 0", port);
	ag_peer_expect(&peer, line, 5000);
	ag_peer_say(&peer, "group n9 127.0.0.1 1 2 2 n9 n2");
	ag_peer_say(&peer, "run 1");
	struct ag_wait w = {&ag, AS_STARTING, 1};
	ag_run_until(ag_slices_in, &w, 3000, "rank 1 to run");
	ck_assert_int_gt(ag.slices[0].pid, 0);
	ck_assert_int_eq(ag_reg.registers, 0); /* never registers */

	/* Its engine dies: the worker is deregistered from here, rank 0 told. */
	kill(ag.slices[0].pid, SIGKILL);
	ag_peer_expect(&peer, "down 1", 3000);
	ag_wait_count(&ag_reg.deregisters, 1, 3000, "the deregistration");
	ck_assert_msg(strstr(ag_reg.log.data, "\"ids\": [\"77.n9.0\"], \"reason\": \"engine_exit\""), "%s",
		      ag_reg.log.data);
	ck_assert_int_eq(ag.slices[0].sm.state, AS_IDLE);
	/* Rank 0 restarts the worker; halts with KILL are no deaths. */
	ag_peer_say(&peer, "halt 1 KILL");
	ag_peer_say(&peer, "run 2");
	ag_run_until(ag_slices_in, &w, 3000, "rank 1 to run again");
	ag_peer_say(&peer, "halt 2 KILL");
	w.state = AS_IDLE;
	ag_run_until(ag_slices_in, &w, 3000, "rank 1 to stop");
	ck_assert_int_eq(ag_reg.deregisters, 1);
	ag_peer_say(&peer, "run 3");
	w.state = AS_STARTING;
	ag_run_until(ag_slices_in, &w, 3000, "rank 1 to run a third time");

	/* SIGTERM: deregisters, keeps the rank until rank 0 halts it. */
	agent_drain(&ag);
	ag_wait_count(&ag_reg.deregisters, 2, 3000, "the deregistration at SIGTERM");
	ck_assert_int_eq(ag.slices[0].sm.state, AS_DRAINING);
	ck_assert_int_gt(ag.slices[0].pid, 0);
	ag_peer_say(&peer, "halt 3 TERM");
	ag_run_until(ag_done, &ag, 5000, "the follower to finish");
	ck_assert_int_eq(ag.exit_code, 0);
	agent_free(&ag);
	evconnlistener_free(lev);
	ag_peer_free(&peer);
	unsetenv("ELASTIC_SERVE_HUB_TOKEN");
	ag_teardown();
}
END_TEST

Suite *suite_agent(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, test_subst);
	tcase_add_test(tc, test_argv_kinds);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_argv_multinode);
	tcase_add_test(tc, test_mn_words);
	tcase_add_test(tc, test_exec_pair);
	tcase_add_test(tc, test_state_machine);
	suite_add_tcase(s, tc);
	TCase *loop = tcase_create("loop");
	tcase_set_timeout(loop, 30);
	tcase_add_test(loop, test_loop_ready_and_heartbeat);
	tcase_add_test(loop, test_loop_restart_after_kill9);
	tcase_add_test(loop, test_loop_sigterm_drain);
	tcase_add_test(loop, test_loop_startup_timeout);
	tcase_add_test(loop, test_loop_foreign_server);
	tcase_add_test(loop, test_loop_registry_down);
	tcase_add_test(loop, test_init_errors);
	tcase_add_test(loop, test_wait_modes);
	tcase_add_test(loop, test_hub_relay);
	tcase_add_test(loop, test_node_rank0);
	tcase_add_test(loop, test_node_follower);
	suite_add_tcase(s, loop);
	return s;
}
