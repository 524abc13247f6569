# shellcheck shell=bash
# registry.sh — sourced (after lib.sh) by the tests/integration/test_registry_*.sh:
# an elastic-registry of the test user on the local cluster, and elasticctl.
#
#   reg_start [ARG...]      start the registry as the test user, on 127.0.0.1:REG_PORT,
#                           state in REG_DIR, log in REG_LOG; waits for /health;
#                           stopped (and its jobs cancelled) when the test exits
#   reg_kill9               kill -9 it (its jobs keep running)
#   reg_stop                SIGTERM, wait for the exit
#   ctl ARG...              elasticctl as the test user against it
#   jctl EXPR VERB [ARG...] elasticctl -o json VERB ARG..., then print the Python
#                           expression EXPR of the reply `j`, e.g.
#                           jctl 'j["workers"]["ready"]' status
#   metric NAME{LABELS}     a value of its /metrics (0 when absent)
#   our_jobs [STATES]       ids of this registry's jobs in SLURM (by their comment;
#                           squeue states, default PD,R,CG,S,CF), one a line, sorted
#   need_plugin             the real plugin and agent (ES_PLUGIN and ES_AGENT may name
#                           builds elsewhere); fails when they are not built; writes
#                           plugstack.conf with that agent
#   sim_pool FILE NAME MAX [SLURM_TOML [SCALE_TOML]]
#                           a model.toml for elastic-sim (4 workers per job of one
#                           8-GPU node), with extra lines for [slurm] and [scale]

REG_PORT=${REG_PORT:-$(free_port)}
REG_URL=http://127.0.0.1:$REG_PORT
REG_DIR=$ES_TEST_DIR/registry
REG_LOG=$ES_TEST_DIR/registry.log
REG_PID=
# The registry's id in its jobs' comments (registry/reg_slurm.h).
REG_INSTANCE=$(printf '%s:%s' "$(id -u "$ES_CLUSTER_USER")" "$REG_DIR" | sha256sum | cut -c1-12)

_reg_pid() {
	pgrep -u "$ES_CLUSTER_USER" -f "elastic-registry --listen 127.0.0.1:$REG_PORT " | head -n 1
}

_reg_healthy() { curl -fsS -m 2 "$REG_URL/health" >/dev/null 2>&1; }

# shellcheck disable=SC2120 # arguments are optional
reg_start() {
	# as_user runs in a subshell: the registry is found again by its port.
	(cd "$ES_TEST_DIR" && runuser -u "$ES_CLUSTER_USER" -- env SLURM_CONF="$SLURM_CONF" \
		"$ES_BIN/registry/elastic-registry" --listen "127.0.0.1:$REG_PORT" \
		--state-dir "$REG_DIR" --poll-interval 1s "$@" >>"$REG_LOG" 2>&1 &)
	wait_for 10 "the registry to answer on $REG_URL" _reg_healthy
	REG_PID=$(_reg_pid)
	[ -n "$REG_PID" ] || die "cannot find the registry's pid"
	log "registry pid $REG_PID on $REG_URL (log $REG_LOG)"
}

reg_kill9() {
	local pid
	pid=$(_reg_pid)
	[ -n "$pid" ] || die "no registry to kill"
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	log "registry pid $pid killed with SIGKILL"
}

reg_stop() {
	local pid
	pid=$(_reg_pid)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid"
	local _
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	return 1
}

ctl() {
	(cd "$ES_TEST_DIR" && runuser -u "$ES_CLUSTER_USER" -- env ELASTIC_REGISTRY_URL="$REG_URL" \
		"$ES_BIN/cli/elasticctl" "$@")
}

jctl() {
	local expr=$1 out
	shift
	out=$(ctl -o json "$@") || return 1
	python3 -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$expr" <<<"$out"
}

metric() {
	curl -fsS -m 5 "$REG_URL/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}

our_jobs() {
	squeue -h -u "$ES_CLUSTER_USER" -t "${1:-PD,R,CG,S,CF}" -o '%i %k' |
		awk -v c="elastic-serve:$REG_INSTANCE:" 'index($2, c) == 1 { print $1 }' | sort -n
}

_reg_cleanup() {
	local id
	reg_stop || true
	for id in $(our_jobs PD,R,CG,S,CF,RQ); do track_job "$id"; done
	if [ -f "$REG_LOG" ]; then
		log "---- last lines of the registry's log"
		tail -n 25 "$REG_LOG" >&2
	fi
}
on_exit _reg_cleanup

need_plugin() {
	# ES_PLUGIN and ES_AGENT may name a plugin and an agent built elsewhere.
	local plugin=${ES_PLUGIN:-$ES_CLUSTER_PLUGIN} agent=${ES_AGENT:-$ES_BIN/agent/elastic-agent}
	[ -f "$plugin" ] || die "$plugin is not built (make)"
	[ -x "$agent" ] || die "$agent is not built (make)"
	[ -x "$(dirname "$agent")/../sim/elastic-sim" ] || die "elastic-sim is not built beside $agent (make)"
	set_plugstack "agent=$agent"
}

sim_pool() {
	local file=$1 name=$2 max=$3 slurm=${4:-} scale=${5:-}
	cat >"$file" <<EOF
[model]
path = "elastic/$name"
name = "$name"

[engine]
kind = "sim"
args = ["--ttft-ms", "5", "--itl-ms", "2"]
startup_timeout = "60s"
drain_timeout = "2s"

[parallel]
tp = 2

[slurm]
partition = "low"
gpus_per_node = 8
$slurm

[scale]
max_nodes = $max
$scale
EOF
	chown "$ES_CLUSTER_USER" "$file"
}
