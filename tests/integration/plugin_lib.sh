# shellcheck shell=bash
# plugin_lib.sh — sourced by the tests of the SPANK plugin and elastic-agent
# (tests/integration/test_plugin_*.sh), on top of lib.sh.
#
#   start_registry              elastic-registry as the test user on a free
#                               port (MUNGE auth); sets REG_URL, REG_LOG;
#                               stopped when the test exits
#   use_plugin [ARG...]         plugstack.conf: the plugin with registry=REG_URL,
#                               agent=this checkout's elastic-agent, and ARGs
#   write_model NAME TP [LINE...]   $ES_TEST_DIR/NAME.toml for elastic-sim with
#                               tp = TP; LINEs go into [engine]
#   write_model_mn NAME K GPUS [LINE...]   the same for workers spanning K nodes
#                               of GPUS GPUs each (tp = K x GPUS)
#   serve_script                $ES_TEST_DIR/serve.sh: prints its variables and
#                               "ready=URLS" (elastic-agent --wait-ready), then
#                               `exec elastic-agent --wait`
#   workers_json                the registry's workers (ls -a -o json)
#   workers JOB [STATE]         "ID URL GPUS" lines of JOB's workers (in STATE)
#   wait_workers JOB STATE N TIMEOUT_S   until JOB has N workers in STATE
#   events                      the registry's events, "TIME TEXT" lines
#   status_field JOB FIELD...   from the agent's status file of JOB on its node
#   log_epoch FILE PATTERN      Unix time (s.ms) of the first log line matching PATTERN
#   job_nodes JOB               the job's nodes, one per line, in SLURM's order
#   worker_field ID FIELD       a field of the registry's worker ID (lists: comma-separated)
#   rank_field JOB NODE RANK FIELD...   from the status file of the node agent of
#                               NODE (rank RANK) of a multi-node job
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ES_AGENT=$ES_BIN/agent/elastic-agent
ES_CTL=$ES_BIN/cli/elasticctl
[ -x "$ES_AGENT" ] && [ -x "$ES_REPO/spank/elastic_serve.so" ] && [ -x "$ES_BIN/sim/elastic-sim" ] &&
	[ -x "$ES_BIN/registry/elastic-registry" ] || die "build first: make"

start_registry() {
	local port
	port=$(free_port)
	REG_URL=http://127.0.0.1:$port
	REG_LOG=$ES_TEST_DIR/registry.log
	(cd "$ES_TEST_DIR" && exec runuser -u "$ES_CLUSTER_USER" -- \
		"$ES_BIN/registry/elastic-registry" -l "127.0.0.1:$port" -s "$ES_TEST_DIR/registry" \
		--log-file "$REG_LOG" --heartbeat-timeout 3s --poll-interval 1s) &
	_ES_REG_PID=$!
	on_exit kill "$_ES_REG_PID"
	wait_for 10 "the registry to answer" curl -sf -o /dev/null "$REG_URL/metrics"
}

use_plugin() {
	set_plugstack "registry=$REG_URL" "agent=$ES_AGENT" "$@"
}

write_model() {
	local name=$1 tp=$2 f=$ES_TEST_DIR/$1.toml
	shift 2
	{
		printf '[model]\npath = "sim/%s"\nname = "%s"\n' "$name" "$name"
		printf '[engine]\nkind = "sim"\nargs = ["--time-scale", "0"]\nstartup_timeout = "60s"\ndrain_timeout = "3s"\n'
		printf '%s\n' "$@"
		printf '[parallel]\ntp = %s\n' "$tp"
	} >"$f"
	chown "$ES_CLUSTER_USER" "$f"
}

write_model_mn() {
	local name=$1 k=$2 gpus=$3 f=$ES_TEST_DIR/$1.toml
	shift 3
	{
		printf '[model]\npath = "sim/%s"\nname = "%s"\n' "$name" "$name"
		printf '[engine]\nkind = "sim"\nargs = ["--time-scale", "0"]\nstartup_timeout = "60s"\ndrain_timeout = "3s"\n'
		printf '%s\n' "$@"
		printf '[parallel]\ntp = %s\nnodes_per_worker = %s\n' "$((k * gpus))" "$k"
		printf '[slurm]\ngpus_per_node = %s\nnodes = %s\n' "$gpus" "$k"
	} >"$f"
	chown "$ES_CLUSTER_USER" "$f"
}

serve_script() {
	cat >"$ES_TEST_DIR/serve.sh" <<'SCRIPT'
#!/bin/sh
echo "urls=$ELASTIC_SERVE_URLS registry=$ELASTIC_REGISTRY_URL agent_pid=$ELASTIC_AGENT_PID logs=$ELASTIC_SERVE_LOG_DIR"
echo "ready=$("$ELASTIC_AGENT" --wait-ready --timeout 60)"
exec "$ELASTIC_AGENT" --wait
SCRIPT
	chown "$ES_CLUSTER_USER" "$ES_TEST_DIR/serve.sh"
}

workers_json() {
	as_user "$ES_CTL" --registry "$REG_URL" -o json ls -a
}

workers() {
	workers_json | python3 -c '
import json, sys
job, state = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
for w in json.load(sys.stdin)["workers"]:
    if w["job_id"] == job and (not state or w["state"] == state):
        print(w["id"], w["url"], w["gpus"])
' "$@"
}

_es_nworkers() { [ "$(workers "$1" "$2" | wc -l)" -eq "$3" ]; }

wait_workers() {
	wait_for "$4" "job $1 to have $3 $2 worker(s) (has: $(workers "$1" | tr '\n' ';'))" \
		_es_nworkers "$1" "$2" "$3"
}

events() {
	as_user "$ES_CTL" --registry "$REG_URL" -o json status | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print("%.3f %s" % (e["time"], e["text"]))
'
}

# _json_fields FILE PATH...: each dotted PATH (list indices as numbers) of
# the JSON in FILE, a line each.
_json_fields() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    v = d
    for k in path.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(v)
' "$@"
}

status_field() {
	local job=$1 f
	shift
	f=$(ls "$ES_TEST_DIR/elastic-serve-$job"/*.status 2>/dev/null | head -n 1)
	[ -n "$f" ] || return 1
	_json_fields "$f" "$@"
}

log_epoch() {
	python3 -c '
import datetime, re, sys
for line in open(sys.argv[1], errors="replace"):
    if re.search(sys.argv[2], line):
        t = line.split()[0].rstrip("Z")
        d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        print("%.3f" % d.timestamp())
        break
' "$1" "$2"
}

job_nodes() {
	scontrol show hostnames "$(job_field "$1" NodeList)"
}

worker_field() {
	workers_json | python3 -c '
import json, sys
for w in json.load(sys.stdin)["workers"]:
    if w["id"] == sys.argv[1]:
        v = w.get(sys.argv[2], "")
        print(",".join(v) if isinstance(v, list) else v)
' "$@"
}

rank_field() {
	local job=$1 node=$2 rank=$3 f
	shift 3
	f=$ES_TEST_DIR/elastic-serve-$job/$node.rank$rank.status
	[ -f "$f" ] || return 1
	_json_fields "$f" "$@"
}
