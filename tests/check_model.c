/* check_model.c — lib/model: the model.toml schema, every error path with its
 * message and position, defaults, and the dump round trip. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

#define MIN "[model]\npath = \"org/m\"\n"

/* One error case: the document and the exact first error line after
 * "t.toml:". */
struct err_case {
	const char *src;
	const char *want;
};

static const struct err_case err_cases[] = {
	/* syntax errors come from the TOML parser, positioned */
	{"[model]\npath = \"x\"\npath = \"y\"\n", "3:1: duplicate key \"path\" (first defined at 2:1)"},
	/* sections and keys */
	{"foo = 1\n" MIN, "1:1: unknown key \"foo\" at the top level (keys belong in a section such as [model])"},
	{"tp = 2\n" MIN, "1:1: key \"tp\" belongs in section [parallel]"},
	{MIN "[paralel]\ntp = 2\n", "3:2: unknown section [paralel] (did you mean [parallel]?)"},
	{MIN "[xyzzy]\n", "3:2: unknown section [xyzzy]"},
	{MIN "[engine]\ntp = 2\n", "4:1: key \"tp\" belongs in [parallel], not [engine]"},
	{MIN "[parallel]\ntpp = 2\n", "4:1: unknown key \"tpp\" in [parallel] (did you mean \"tp\"?)"},
	{MIN "[parallel]\nfoo = 2\n", "4:1: unknown key \"foo\" in [parallel]"},
	{"model = 1\n", "1:9: model must be a table ([model]), not an integer"},
	/* [model] */
	{"[model]\nname = \"m\"\n", "1:1: missing model.path: what the engine loads (a Hugging Face id or a local path)"},
	{"[engine]\nkind = \"vllm\"\n", "1:1: missing section [model] with path = \"...\" (what the engine loads)"},
	{"[model]\npath = \"\"\n", "2:8: model.path must not be empty"},
	{"[model]\npath = \"a\\nb\"\n", "2:8: model.path must not contain control characters"},
	{"[model]\npath = 1\n", "2:8: model.path must be a string, not an integer"},
	{"[model]\npath = \"a\\u0000b\"\n", "2:8: model.path must not contain a NUL character"},
	{MIN "name = \"bad name\"\n", "3:8: model.name: name contains ' '; use letters, digits and ._:/@+-"},
	{MIN "name = \"-x\"\n", "3:8: model.name: name starts with '-'; start with a letter or digit"},
	{MIN "name = \"a..b\"\n", "3:8: model.name: name contains \"..\""},
	{"[model]\npath = \"/data/my model\"\n",
	 "2:8: cannot use \"my model\" from model.path as the model name (name contains ' '; use letters, digits and ._:/@+-); set model.name"},
	/* [engine] */
	{MIN "[engine]\nkind = \"vlm\"\n",
	 "4:8: unknown engine.kind \"vlm\" (did you mean \"vllm\"?); expected one of: vllm, sglang, sim, command"},
	{MIN "[engine]\nkind = \"v\\tllm\"\n",
	 "4:8: unknown engine.kind \"v?llm\" (did you mean \"vllm\"?); expected one of: vllm, sglang, sim, command"},
	{MIN "[engine]\nkind = \"tensorrt\"\n",
	 "4:8: unknown engine.kind \"tensorrt\"; expected one of: vllm, sglang, sim, command"},
	{MIN "[engine]\nargs = \"--x\"\n", "4:8: engine.args must be an array, not a string"},
	{MIN "[engine]\nargs = [\"--x\", 3]\n", "4:16: engine.args[1] must be a string, not an integer"},
	{MIN "[engine]\nargs = [\"--max-model-len\", \"8192\", \"--port=9000\"]\n",
	 "4:36: engine.args[2] sets \"--port\", which elastic-agent sets itself; remove it"},
	{MIN "[engine]\nkind = \"sglang\"\nargs = [\"--tp-size\", \"2\"]\n",
	 "5:9: engine.args[0] sets \"--tp-size\", which elastic-agent sets itself; remove it"},
	{MIN "[engine]\nenv = \"x\"\n", "4:7: engine.env must be a table of strings, e.g. env = { NAME = \"value\" }"},
	{MIN "[engine]\nenv = { \"1X\" = \"v\" }\n", "4:9: engine.env: invalid variable name \"1X\""},
	{MIN "[engine]\nenv = { CUDA_VISIBLE_DEVICES = \"0\" }\n",
	 "4:9: engine.env must not set CUDA_VISIBLE_DEVICES: elastic-agent sets it to each slice's GPUs"},
	{MIN "[engine]\nenv = { A = 1 }\n", "4:13: engine.env.A must be a string, not integer"},
	{MIN "[engine]\nkind = \"command\"\n",
	 "4:1: engine.kind = \"command\" needs engine.command, e.g. [\"my-server\", \"--port\", \"{port}\"]"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"\", \"{port}\"]\n",
	 "5:11: engine.command must start with a program name"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"srv\", \"--port\", \"{prot}\"]\n",
	 "5:29: engine.command[2]: unknown placeholder \"{prot}\" (did you mean \"{port}\"?)"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"srv\", \"{port}\", \"{zzzzzz}\"]\n",
	 "5:29: engine.command[2]: unknown placeholder \"{zzzzzz}\"; known: {path} {name} {host} {port} {tp} {gpus} {rank} {nnodes} {master_addr} {master_port}"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"srv\", \"{port\"]\n",
	 "5:19: engine.command[1]: unterminated placeholder \"{port\" (write \"{{\" for a literal brace)"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"srv}\", \"{port}\"]\n",
	 "5:12: engine.command[0]: unmatched \"}\" (write \"}}\" for a literal brace)"},
	{MIN "[engine]\nkind = \"command\"\ncommand = [\"srv\", \"{path}\"]\n",
	 "5:11: engine.command must contain {port}: the engine listens where elastic-agent says"},
	{MIN "[engine]\nkind = \"sim\"\ncommand = [\"srv\", \"{port}\"]\n",
	 "5:1: engine.command is only used with kind = \"command\" (kind is \"sim\")"},
	{MIN "[engine]\nhealth_path = \"health\"\n", "4:15: engine.health_path must start with \"/\""},
	{MIN "[engine]\nstartup_timeout = 90\n", "4:19: engine.startup_timeout must be a duration string with a unit, e.g. \"90s\""},
	{MIN "[engine]\nstartup_timeout = \"90\"\n",
	 "4:19: engine.startup_timeout: duration \"90\" needs a unit (ms, s, m, h or d), e.g. \"90s\""},
	{MIN "[engine]\nstartup_timeout = \"5x\"\n",
	 "4:19: engine.startup_timeout: invalid duration \"5x\": unknown unit at \"x\" (use ms, s, m, h or d)"},
	{MIN "[engine]\nstartup_timeout = \"s\"\n",
	 "4:19: engine.startup_timeout: invalid duration \"s\": expected a number at \"s\""},
	{MIN "[engine]\nstartup_timeout = \"\"\n", "4:19: engine.startup_timeout: empty duration"},
	{MIN "[engine]\nstartup_timeout = \"500ms\"\n", "4:19: engine.startup_timeout must be at least 1000ms, not \"500ms\""},
	{MIN "[engine]\ndrain_timeout = \"400d\"\n",
	 "4:17: engine.drain_timeout: duration \"400d\" is too large (at most a year)"},
	/* [parallel] */
	{MIN "[parallel]\ntp = 0\n", "4:6: parallel.tp must be at least 1, not 0"},
	{MIN "[parallel]\ntp = 4096\n", "4:6: parallel.tp must be at most 1024, not 4096"},
	{MIN "[parallel]\ntp = \"4\"\n", "4:6: parallel.tp must be an integer, not a string"},
	{MIN "[parallel]\ntp = 4\nep = 3\n", "5:6: parallel.ep (3) must divide parallel.tp (4)"},
	{MIN "[engine]\nkind = \"sglang\"\n[parallel]\nbackend = \"ray\"\n",
	 "6:11: parallel.backend = \"ray\" is for engine.kind = \"vllm\" only"},
	{MIN "[parallel]\nbackend = \"mpi\"\n",
	 "4:11: unknown parallel.backend \"mpi\" (did you mean \"mp\"?); expected one of: mp, ray"},
	{MIN "[parallel]\ntp = 3\n",
	 "4:1: parallel.tp (3) must divide slurm.gpus_per_node (8): each node runs gpus_per_node / tp engines"},
	{MIN "[parallel]\ntp = 8\nnodes_per_worker = 2\n",
	 "4:1: parallel.tp (8) must equal nodes_per_worker (2) x slurm.gpus_per_node (8) = 16: a worker spanning 2 nodes uses every GPU of each"},
	{MIN "[parallel]\ntp = 16\nnodes_per_worker = 2\n[slurm]\nnodes = 3\n[scale]\nmax_nodes = 6\n",
	 "7:1: slurm.nodes (3) must be a multiple of parallel.nodes_per_worker (2)"},
	/* [slurm] */
	{MIN "[slurm]\npartition = \"\"\n", "4:13: slurm.partition must not be empty or start with \"-\""},
	{MIN "[slurm]\nqos = \"--x\"\n", "4:7: slurm.qos must not be empty or start with \"-\""},
	{MIN "[slurm]\naccount = \"a b\"\n", "4:11: slurm.account must not contain spaces"},
	{MIN "[slurm]\ntime = \"24h\"\n",
	 "4:8: slurm.time: invalid time limit \"24h\"; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"},
	{MIN "[slurm]\ntime = \"10:75\"\n",
	 "4:8: slurm.time: invalid time limit \"10:75\"; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"},
	{MIN "[slurm]\ntime = \"0\"\n", "4:8: slurm.time: time limit \"0\" is zero"},
	{MIN "[slurm]\ngpus_per_node = 0\n", "4:17: slurm.gpus_per_node must be at least 1, not 0"},
	{MIN "[slurm]\nextra_args = [\"exclusive\"]\n",
	 "4:15: slurm.extra_args[0] \"exclusive\" is not an sbatch option (options start with \"-\")"},
	{MIN "[slurm]\nextra_args = [\"--exclusive\", \"--partition=x\"]\n",
	 "4:30: slurm.extra_args[1] sets \"--partition\": use slurm.partition instead"},
	{MIN "[slurm]\nextra_args = [\"-Jname\"]\n",
	 "4:15: slurm.extra_args[0] sets \"-J\", which the acquirer sets itself"},
	/* [scale] */
	{MIN "[scale]\nmin_nodes = 3\nmax_nodes = 2\n", "4:1: scale.min_nodes (3) must not exceed scale.max_nodes (2)"},
	{MIN "[scale]\nmax_nodes = 2\ntarget_nodes = 4\n",
	 "5:1: scale.target_nodes (4) must lie between min_nodes (0) and max_nodes (2)"},
	{MIN "[parallel]\ntp = 8\nnodes_per_worker = 2\n[slurm]\ngpus_per_node = 4\n[scale]\nmax_nodes = 3\n",
	 "9:1: scale.max_nodes (3) must be a multiple of slurm.nodes (2), the nodes of one job"},
	{MIN "[slurm]\ntime = \"30\"\n[scale]\nrenew_before = \"1h\"\n",
	 "6:1: scale.renew_before must be shorter than slurm.time (30)"},
	{MIN "[scale]\nmax_nodes = -1\n", "4:13: scale.max_nodes must be at least 0, not -1"},
	/* [registry] and [routing] */
	{MIN "[registry]\nurl = \"login1:8780\"\n",
	 "4:7: registry.url \"login1:8780\" must be an http:// URL with a host, e.g. \"http://login1:8780\""},
	{MIN "[registry]\nurl = \"http://\"\n",
	 "4:7: registry.url \"http://\" must be an http:// URL with a host, e.g. \"http://login1:8780\""},
	{MIN "[routing]\nmigrate = 1\n", "4:11: routing.migrate must be a boolean, not an integer"},
	{MIN "[routing]\npolicy = \"cache-aware\"\n",
	 "4:10: unknown routing.policy \"cache-aware\" (did you mean \"cache_aware\"?); expected one of: cache_aware, round_robin, least_load, session"},
};

START_TEST(test_error_case)
{
	const struct err_case *ec = &err_cases[_i];
	struct model_config *cfg = (void *)1;
	struct buf errs = BUF_INIT;
	int rc = model_parse(ec->src, strlen(ec->src), "t.toml", &cfg, &errs);
	ck_assert_msg(rc == -1, "case %d accepted:\n%s", _i, ec->src);
	ck_assert_ptr_null(cfg);
	char want[1024];
	snprintf(want, sizeof want, "t.toml:%s\n", ec->want);
	/* The first line is the one this case is about. */
	char *nl = strchr(errs.data, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(strncmp(errs.data, want, (size_t)(nl - errs.data + 1)) == 0 &&
			      strlen(want) == (size_t)(nl - errs.data + 1),
		      "case %d:\n%s\ngot:  %swant: %s", _i, ec->src, errs.data, want);
	buf_free(&errs);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	const char *src = "[routing]\npolicy = \"x\"\n[model]\npath = 1\n[parallel]\ntp = 0\n";
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	ck_assert_int_eq(model_parse(src, strlen(src), "t.toml", &cfg, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.data, "t.toml:4:8: model.path must be a string"));
	ck_assert_ptr_nonnull(strstr(errs.data, "t.toml:6:6: parallel.tp must be at least 1"));
	ck_assert_ptr_nonnull(strstr(errs.data, "t.toml:2:10: unknown routing.policy \"x\""));
	/* In file order, whatever order the sections are checked in. */
	ck_assert(strstr(errs.data, "t.toml:2:10") < strstr(errs.data, "t.toml:4:8"));
	ck_assert(strstr(errs.data, "t.toml:4:8") < strstr(errs.data, "t.toml:6:6"));
	buf_free(&errs);
}
END_TEST

START_TEST(test_defaults)
{
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	const char *src = "[model]\npath = \"openai/gpt-oss-120b/\"\n";
	ck_assert_int_eq(model_parse(src, strlen(src), "t.toml", &cfg, &errs), 0);
	ck_assert_str_eq(cfg->path, "openai/gpt-oss-120b/");
	ck_assert_str_eq(cfg->name, "gpt-oss-120b");
	ck_assert_int_eq(cfg->engine, MODEL_ENGINE_VLLM);
	ck_assert_int_eq(cfg->tp, 1);
	ck_assert_int_eq(cfg->nodes_per_worker, 1);
	ck_assert_int_eq(cfg->ep, 1);
	ck_assert_int_eq(cfg->gpus_per_node, 8);
	ck_assert_int_eq(cfg->nodes, 1);
	ck_assert_int_eq(cfg->min_nodes, 0);
	ck_assert_int_eq(cfg->max_nodes, 1);
	ck_assert_int_eq(cfg->target_nodes, 1);
	ck_assert_int_eq(cfg->startup_timeout_ms, 20 * 60 * 1000);
	ck_assert_int_eq(cfg->drain_timeout_ms, 20 * 1000);
	ck_assert_int_eq(cfg->renew_before_ms, 10 * 60 * 1000);
	ck_assert_str_eq(cfg->health_path, "/health");
	ck_assert_int_eq(cfg->policy, MODEL_POLICY_CACHE_AWARE);
	ck_assert_int_eq(cfg->migrate, -1); /* the registry's */
	ck_assert_ptr_null(cfg->partition);
	ck_assert_ptr_null(cfg->registry_url);
	ck_assert_uint_eq(cfg->nargs, 0);
	model_free(cfg);
	buf_free(&errs);
}
END_TEST

static const char full_doc[] =
	"[model]\n"
	"path = \"deepseek-ai/DeepSeek-V3.1\"\n"
	"name = \"deepseek-v3.1\"\n"
	"[engine]\n"
	"kind = \"command\"\n"
	"command = [\"my-server\", \"--port\", \"{port}\", \"--model\", \"{path}\", \"{{literal}}\"]\n"
	"args = [\"--trust-remote-code\", \"quote\\\"d\"]\n"
	"env = { NCCL_DEBUG = \"WARN\", HF_HOME = \"/scratch/hf\" }\n"
	"health_path = \"/ready\"\n"
	"startup_timeout = \"1h30m\"\n"
	"drain_timeout = \"1500ms\"\n"
	"[parallel]\n"
	"tp = 16\n"
	"nodes_per_worker = 4\n"
	"ep = 8\n"
	"[slurm]\n"
	"partition = \"h200\"\n"
	"qos = \"low\"\n"
	"account = \"dream\"\n"
	"time = \"1-00:00:00\"\n"
	"gpus_per_node = 4\n"
	"nodes = 8\n"
	"extra_args = [\"--exclusive\"]\n"
	"[scale]\n"
	"min_nodes = 8\n"
	"max_nodes = 32\n"
	"target_nodes = 16\n"
	"renew_before = \"20m\"\n"
	"[registry]\n"
	"url = \"http://login1:8780\"\n"
	"[routing]\n"
	"policy = \"session\"\n"
	"migrate = false\n";

START_TEST(test_full_and_round_trip)
{
	struct model_config *cfg, *again;
	struct buf errs = BUF_INIT, d1 = BUF_INIT, d2 = BUF_INIT;
	ck_assert_msg(model_parse(full_doc, strlen(full_doc), "t.toml", &cfg, &errs) == 0, "%s", errs.data);
	ck_assert_int_eq(cfg->engine, MODEL_ENGINE_COMMAND);
	ck_assert_uint_eq(cfg->ncommand, 6);
	ck_assert_str_eq(cfg->command[5], "{{literal}}");
	ck_assert_str_eq(cfg->args[1], "quote\"d");
	ck_assert_uint_eq(cfg->nenv, 2);
	ck_assert_str_eq(cfg->env[1].name, "HF_HOME");
	ck_assert_int_eq(cfg->startup_timeout_ms, 90 * 60 * 1000);
	ck_assert_int_eq(cfg->drain_timeout_ms, 1500);
	ck_assert_int_eq(cfg->time_limit_s, 86400);
	ck_assert_int_eq(model_gpus_per_rank(cfg), 4);
	ck_assert_int_eq(cfg->policy, MODEL_POLICY_SESSION);
	ck_assert_int_eq(cfg->migrate, 0);
	model_dump(cfg, &d1);
	ck_assert_msg(model_parse(d1.data, d1.len, "dump", &again, &errs) == 0, "%s\n%s", errs.data, d1.data);
	model_dump(again, &d2);
	ck_assert_str_eq(d1.data, d2.data);
	model_free(cfg);
	model_free(again);
	buf_free(&errs);
	buf_free(&d1);
	buf_free(&d2);
}
END_TEST

START_TEST(test_slurm_time)
{
	static const struct {
		const char *s;
		long long secs;
	} ok[] = {
		{"30", 1800}, {"30:15", 1815}, {"24:00:00", 86400}, {"1-12", 129600},
		{"1-12:30", 131400}, {"2-00:00:01", 172801},
	};
	static const char *const bad[] = {"", "-1", "1-", "1-24", "1:2:3:4", "a", "1:", "5-00:60"};
	char err[256];
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t t = 0;
		ck_assert_msg(model_parse_slurm_time(ok[i].s, &t, err, sizeof err) == 0, "%s: %s", ok[i].s, err);
		ck_assert_int_eq(t, ok[i].secs);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t t = 0;
		ck_assert_msg(model_parse_slurm_time(bad[i], &t, err, sizeof err) == -1, "%s accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_load_errors)
{
	struct model_config *cfg;
	struct buf errs = BUF_INIT;
	ck_assert_int_eq(model_load("/nonexistent/m.toml", &cfg, &errs), -1);
	ck_assert_str_eq(errs.data, "/nonexistent/m.toml: cannot open: No such file or directory\n");
	buf_reset(&errs);
	ck_assert_int_eq(model_load("/tmp", &cfg, &errs), -1);
	ck_assert_str_eq(errs.data, "/tmp: not a regular file\n");
	buf_reset(&errs);

	char path[] = "/tmp/check_model_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	char *big = malloc(MODEL_MAX_BYTES + 10);
	memset(big, '#', MODEL_MAX_BYTES + 10);
	ck_assert_int_eq(write(fd, big, MODEL_MAX_BYTES + 10), MODEL_MAX_BYTES + 10);
	close(fd);
	ck_assert_int_eq(model_load(path, &cfg, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.data, "a model.toml may have at most 65536"));
	buf_reset(&errs);
	ck_assert_int_eq(model_parse(big, MODEL_MAX_BYTES + 10, "big", &cfg, &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.data, "big: file is 65546 bytes"));
	unlink(path);
	free(big);
	buf_free(&errs);
}
END_TEST

Suite *suite_model(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_error_case, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_load_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("values");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full_and_round_trip);
	tcase_add_test(tc, test_slurm_time);
	suite_add_tcase(s, tc);
	return s;
}
