# shellcheck shell=bash
# fault_lib.sh — sourced (after lib.sh and registry.sh) by the fault-injection
# tests tests/integration/test_fault_*.sh: a pool of elastic-sim engines on
# the local cluster (real plugin, agent, registry and proxy), steady client
# load through the registry's OpenAI endpoint, and what the clients saw.
#
#   fault_model FILE NAME NODES [ENGINE_LINE...]
#                           a model.toml for elastic-sim: 4 workers (tp 2) per
#                           8-GPU job, NODES jobs; each ENGINE_LINE goes into
#                           [engine] (e.g. 'args = [...]', 'hang_timeout = "3s"');
#                           engine.startup_timeout is $FAULT_STARTUP (60s)
#   fault_command GPUS FLAGS   an engine.command line: elastic-sim, with FLAGS
#                           (e.g. "--hang-after 30") on the slice of GPUS only
#                           (tests/integration/fault_engine.sh)
#   ready                   ready workers (registry status)
#   wait_ready N TIMEOUT_S  until N workers are ready
#   load_start NAME [ARG...]   fault_load.py against the proxy in the background
#                           (ARGs: -c, --stream, --max-tokens ...)
#   load_stop NAME          stops it; the JSON summary is in $ES_TEST_DIR/load-NAME.json
#   load_show NAME          logs the summary: outcome counts, examples, timeline
#   load_assert NAME EXPR   fails unless the Python expression EXPR holds, with
#                           r the summary, c its counts (a dict defaulting to 0)
#   load_assert_job_lost NAME  what load NAME's clients may see when one job's
#                           four engines go at once (kill -9 of its agent or node)
#   engine_pid URL          the pid of the engine serving URL (by its port)
#   job_of_worker ID        the job id in a worker id JOB.NODE.SLICE
#   since T0                seconds since T0 ($EPOCHREALTIME), one decimal
# shellcheck disable=SC2034 # FAULT_* are for the tests

FAULT_LOAD=$ES_REPO/tests/integration/fault_load.py
declare -A _FAULT_LOAD_PID=()

fault_model() {
	local file=$1 name=$2 nodes=$3 line
	shift 3
	{
		printf '[model]\npath = "elastic/%s"\nname = "%s"\n\n[engine]\n' "$name" "$name"
		case "$*" in
		*'kind = '*) ;;
		*) printf 'kind = "sim"\n' ;;
		esac
		if [ $# -eq 0 ]; then
			printf 'args = ["--ttft-ms", "20", "--itl-ms", "10"]\n'
		fi
		for line in "$@"; do printf '%s\n' "$line"; done
		printf 'startup_timeout = "%s"\ndrain_timeout = "3s"\n\n[parallel]\ntp = 2\n\n' "${FAULT_STARTUP:-60s}"
		printf '[slurm]\npartition = "low"\ngpus_per_node = 8\n\n[scale]\nmax_nodes = %s\n' "$nodes"
	} >"$file"
	chown "$ES_CLUSTER_USER" "$file"
}

fault_command() {
	printf 'kind = "command"\ncommand = ["%s", "{gpus}", "%s", "%s", "%s", "--model", "{path}", ' \
		"$ES_REPO/tests/integration/fault_engine.sh" "$1" "$2" "$ES_BIN/sim/elastic-sim"
	printf '"--host", "{host}", "--port", "{port}", "--served-model-name", "{name}", '
	printf '"--tensor-parallel-size", "{tp}", "--ttft-ms", "20", "--itl-ms", "10"]\n'
}

ready() { jctl 'j["workers"]["ready"]' status; }
_fault_ready_is() { [ "$(ready)" = "$1" ]; }
wait_ready() { wait_for "$2" "$1 ready workers (have $(ready))" _fault_ready_is "$1"; }

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

load_start() {
	local name=$1
	shift
	rm -f "$ES_TEST_DIR/load-$name.stop" "$ES_TEST_DIR/load-$name.json"
	python3 "$FAULT_LOAD" "$REG_URL" "$FAULT_MODEL" "$ES_TEST_DIR/load-$name.stop" "$@" \
		>"$ES_TEST_DIR/load-$name.json" 2>"$ES_TEST_DIR/load-$name.err" &
	_FAULT_LOAD_PID[$name]=$!
	on_exit touch "$ES_TEST_DIR/load-$name.stop"
}

load_stop() {
	local name=$1
	touch "$ES_TEST_DIR/load-$name.stop"
	wait "${_FAULT_LOAD_PID[$name]}" || die "the load $name failed: $(cat "$ES_TEST_DIR/load-$name.err")"
	[ -s "$ES_TEST_DIR/load-$name.json" ] || die "the load $name wrote nothing"
}

load_show() {
	python3 - "$ES_TEST_DIR/load-$1.json" <<'EOF' >&2
import json, sys
r = json.load(open(sys.argv[1]))
print("  clients saw, in %s s: %s" % (r["seconds"], r["counts"]))
for k, ex in r["examples"].items():
    for e in ex:
        print("    %-8s %s" % (k, e))
bad = {t: v for t, v in r["timeline"].items() if set(v) - {"ok"}}
if bad:
    print("  seconds with failures: " + ", ".join(
        "%s: %s" % (t, v) for t, v in sorted(bad.items(), key=lambda x: int(x[0]))))
EOF
}

load_assert() {
	local name=$1 expr=$2
	python3 - "$ES_TEST_DIR/load-$name.json" "$expr" <<'EOF' || die "load $name: $expr does not hold: $(cat "$ES_TEST_DIR/load-$name.json")"
import collections, json, sys
r = json.load(open(sys.argv[1]))
c = collections.defaultdict(int, r["counts"])
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

load_assert_job_lost() {
	local name=$1
	load_assert "$name" 'c["ok"] > 50'
	# Four engines go at once: a request whose three attempts all met one
	# of them before they left routing gets a 502; either way, only in
	# that moment and at most one per client.
	load_assert "$name" 'c["cut"] + c["error"] <= 8'
	load_assert "$name" 'all(e.split(": ", 1)[1].startswith("502 no worker could answer") for e in r["examples"].get("error", []))'
	load_assert "$name" 'r["last_failure"] is None or r["last_failure"] - r["first_failure"] < 2'
	load_assert "$name" 'c["refused"] + c["broken"] + c["timeout"] == 0'
}

engine_pid() {
	local port=${1##*:} line
	line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
	[[ $line =~ pid=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

job_of_worker() { echo "${1%%.*}"; }
