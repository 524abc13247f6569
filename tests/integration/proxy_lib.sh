# shellcheck shell=bash
# proxy_lib.sh — sourced by the proxy's integration tests (test_proxy_*.sh).
#
# Real elastic-sim processes and a real elastic-registry on loopback, the
# sims registered as ready workers through the registry's control API, as
# an agent does (the registry runs with auth none on 127.0.0.1, so curl can
# call it; the agent's own path is tested elsewhere). No SLURM cluster: the
# registry's SLURM commands are stubs (no pool is ever submitted).
#
#   px_sim NAME [FLAG...]      starts elastic-sim (its own --served-model-name
#                              among FLAGs); its port is in PX_PORT[NAME]
#   px_registry [TOML_LINE...] starts elastic-registry with extra config lines
#                              (the file is $PX_DIR/registry.toml); sets PX_URL,
#                              PX_REG_PID, PX_REG_LOG
#   px_register ID NAME MODEL  registers sim NAME as ready worker ID of MODEL
#   px_api METHOD PATH [BODY]  a control API call; prints the body
#   px_metric SERIES           the value of one /metrics series (0 when absent)
#   px_sim_metric NAME SERIES  the same from a sim's /metrics
#   px_wait_idle [SECS]        until no proxy request is in flight or waiting
#   px_check_no_leak           every worker's and pool's in-flight count is 0
#   px_chat MODEL CONTENT [EXTRA_JSON]   a chat request body on stdout
#   die MSG / log MSG
#
# Everything started is stopped (by its pid) when the test exits; a sim or
# the registry that died early fails nothing by itself.
set -euo pipefail

PX_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$PX_REPO"
PX_NAME=$(basename "$0" .sh)
PX_DIR=$(mktemp -d "/tmp/${PX_NAME}.XXXXXX")
PX_SIM=${ES_BIN:-$PX_REPO}/sim/elastic-sim
PX_REGISTRY=${ES_BIN:-$PX_REPO}/registry/elastic-registry
PX_CTL=${ES_BIN:-$PX_REPO}/cli/elasticctl
declare -A PX_PORT=()
PX_PIDS=()
PX_URL=
PX_REG_PID=
PX_REG_LOG=$PX_DIR/registry.log

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S.%3N)" "$PX_NAME" "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

for b in "$PX_SIM" "$PX_REGISTRY" "$PX_CTL"; do
	[ -x "$b" ] || die "$b is not built (make)"
done

_px_cleanup() {
	local rc=$? p
	set +e
	for p in "${PX_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	# A hung sim never finishes its requests: SIGKILL after a grace time.
	for _ in $(seq 30); do
		local left=0
		for p in "${PX_PIDS[@]}"; do
			kill -0 "$p" 2>/dev/null && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for p in "${PX_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ -f "$PX_REG_LOG" ]; then
		log "registry log (last 30 lines):"
		tail -n 30 "$PX_REG_LOG" >&2
	fi
	rm -rf "$PX_DIR"
	if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAIL (exit status $rc)"; fi
	exit "$rc"
}
trap _px_cleanup EXIT

_px_wait_file() {
	local f=$1
	for _ in $(seq 200); do
		[ -s "$f" ] && return 0
		sleep 0.05
	done
	return 1
}

px_sim() {
	local name=$1
	shift
	"$PX_SIM" --host 127.0.0.1 --port 0 --port-file "$PX_DIR/sim-$name.port" --log-level warn \
		"$@" >"$PX_DIR/sim-$name.log" 2>&1 &
	PX_PIDS+=($!)
	eval "PX_SIM_PID_$name=$!"
	_px_wait_file "$PX_DIR/sim-$name.port" || die "sim $name did not start: $(cat "$PX_DIR/sim-$name.log")"
	PX_PORT[$name]=$(cat "$PX_DIR/sim-$name.port")
}

px_sim_pid() { eval "echo \$PX_SIM_PID_$1"; }

_px_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# px_registry [TOML_LINE...]: lines are appended to the config file as given
# (a line starting with '[' opens a section).
px_registry() {
	local port
	port=$(_px_free_port)
	{
		echo 'log_level = "debug"'
		echo '[health]'
		echo 'heartbeat_timeout = "1h"'
		echo '[acquirer]'
		echo 'poll_interval = "1h"'
		printf '%s\n' "$@"
	} >"$PX_DIR/registry.toml"
	"$PX_REGISTRY" --config "$PX_DIR/registry.toml" --listen "127.0.0.1:$port" --auth none \
		--state-dir "$PX_DIR/state" --job-script /bin/true --sbatch /bin/false \
		--squeue /bin/true --scancel /bin/true --sacct '' >"$PX_REG_LOG" 2>&1 &
	PX_REG_PID=$!
	PX_PIDS+=($!)
	PX_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -sf "$PX_URL/health" >/dev/null 2>&1 && return 0
		kill -0 "$PX_REG_PID" 2>/dev/null || die "registry exited: $(cat "$PX_REG_LOG")"
		sleep 0.05
	done
	die "registry did not start: $(cat "$PX_REG_LOG")"
}

px_api() {
	local method=$1 path=$2 body=${3:-}
	if [ -n "$body" ]; then
		curl -sS -X "$method" -H 'Content-Type: application/json' -d "$body" "$PX_URL$path"
	else
		curl -sS -X "$method" "$PX_URL$path"
	fi
}

px_register() {
	local id=$1 name=$2 model=$3 port=${PX_PORT[$2]}
	local job=${id%%.*} node
	node=${id#*.}
	node=${node%%.*}
	local out
	out=$(px_api POST /api/v1/workers "{\"id\":\"$id\",\"model\":\"$model\",\"url\":\"http://127.0.0.1:$port\",\"host\":\"127.0.0.1\",\"port\":$port,\"job_id\":\"$job\",\"node\":\"$node\",\"slice\":0,\"gpus\":\"0\",\"tp\":1,\"job_end\":0,\"state\":\"ready\"}")
	grep -q '"state":"ready"' <<<"$out" || die "cannot register $id: $out"
}

px_metric() {
	local page
	page=$(curl -sS "$PX_URL/metrics")
	awk -v s="$1" 'index($0, s " ") == 1 { print $2; found = 1 } END { if (!found) print 0 }' <<<"$page"
}

px_sim_metric() {
	local page
	page=$(curl -sS "http://127.0.0.1:${PX_PORT[$1]}/metrics")
	awk -v s="$2" 'index($0, s " ") == 1 { print $2; found = 1 } END { if (!found) print 0 }' <<<"$page"
}

# Sum of the values of every series of a /metrics family (with labels LABELS).
px_metric_sum() {
	local page
	page=$(curl -sS "$PX_URL/metrics")
	awk -v f="$1" -v l="${2:-}" 'index($0, f "{") == 1 && index($0, l) { s += $NF } END { print s + 0 }' <<<"$page"
}

px_wait_idle() {
	local secs=${1:-10} page
	for _ in $(seq $((secs * 10))); do
		page=$(curl -sS "$PX_URL/metrics")
		if ! grep -E '^elastic_proxy_(inflight|waiting)\{' <<<"$page" | grep -qv ' 0$'; then
			return 0
		fi
		sleep 0.1
	done
	grep -E '^elastic_proxy_(inflight|waiting)\{' <<<"$page" >&2
	die "requests still in flight after $secs s"
}

# Every worker's in-flight count (the registry's table) and every pool's and
# worker's proxy gauge are 0.
px_check_no_leak() {
	local w page
	w=$(px_api GET '/api/v1/workers?all=1')
	python3 - "$w" <<'EOF' || die "a worker has requests in flight: $w"
import json, sys
ws = json.loads(sys.argv[1])["workers"]
bad = [(w["id"], w["inflight"]) for w in ws if w.get("inflight", 0) != 0]
sys.exit(1 if bad else 0)
EOF
	page=$(curl -sS "$PX_URL/metrics")
	if grep -E '^elastic_proxy_(worker_)?(inflight|waiting)\{' <<<"$page" | grep -v ' 0$' >&2; then
		die "the proxy's gauges show requests in flight"
	fi
}

px_chat() {
	local model=$1 content=$2 extra=${3:-}
	printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":8%s}' \
		"$model" "$content" "${extra:+,$extra}"
}
