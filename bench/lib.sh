# shellcheck shell=bash
# lib.sh — sourced by the parts of `make bench` (bench/*.sh).
#
# The parts that run on the local SLURM cluster (failover, heartbeat,
# serve-time) source tests/integration/lib.sh instead, and bench/report.sh.
#
#   log MSG...                 timestamped line on stderr
#   die MSG...                 log and exit 1
#   bench_tmp                  a temporary directory removed at exit ($BT)
#   on_exit CMD...             run CMD at exit (last registered first)
#   start_bg NAME CMD...       run CMD in the background, log in $BT/NAME.log;
#                              killed at exit; sets BG_PID
#   wait_port_file FILE [S]    until FILE holds a port; prints it
#   free_port                  a free TCP port on 127.0.0.1
#   cpu_ticks PID              utime + stime of PID, in clock ticks
#   now_s                      seconds since the epoch, with nanoseconds
#   metric URL NAME            the sum of NAME's samples on a Prometheus page
#   start_registry [ARGS...]   elastic-registry on a free port, --auth
#                              $REG_AUTH (default none), state in $BT/reg;
#                              sets REG_URL, REG_PID
#
# and what bench/report.sh has (target, json_out, print_targets).
# Timing and load. The machine has 2 cores shared with other work: each
# part records the load average before it runs, and bench/README.md shows
# it next to each figure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ES_REPO=$(cd "$BENCH_DIR/.." && pwd -P)
# For the parts that source this file.
# shellcheck disable=SC2034
{
	SIM=$ES_REPO/sim/elastic-sim
	CTL=$ES_REPO/cli/elasticctl
	AGENT=$ES_REPO/agent/elastic-agent
}
REGISTRY=$ES_REPO/registry/elastic-registry
# shellcheck source=bench/report.sh
. "$BENCH_DIR/report.sh"

log() { printf '%s [bench %s] %s\n' "$(date +%H:%M:%S.%3N)" "$PART" "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

_BENCH_HOOKS=()
_BENCH_PIDS=()
on_exit() { _BENCH_HOOKS+=("$(printf '%q ' "$@")"); }
_bench_cleanup() {
	local rc=$? i p
	set +e
	for ((i = ${#_BENCH_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${_BENCH_HOOKS[i]}"
	done
	for p in "${_BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_BENCH_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	[ -n "${BT:-}" ] && [ -z "${BENCH_KEEP_TMP:-}" ] && rm -rf "$BT"
	rm -f "$TARGETS"
	exit "$rc"
}
trap _bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_tmp() {
	BT=$(mktemp -d /tmp/es-bench-"$PART".XXXXXX)
	chmod 755 "$BT"
}

start_bg() {
	local name=$1
	shift
	"$@" >"$BT/$name.log" 2>&1 &
	BG_PID=$!
	_BENCH_PIDS+=("$BG_PID")
}

wait_port_file() {
	local f=$1 t=${2:-10} i
	for ((i = 0; i < t * 20; i++)); do
		[ -s "$f" ] && {
			cat "$f"
			return 0
		}
		sleep 0.05
	done
	return 1
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now_s() { date +%s.%N; }

metric() {
	curl -s --max-time 5 "$1/metrics" | awk -v n="$2" '
		$1 == n || index($1, n "{") == 1 { s += $2; found = 1 }
		END { if (found) printf "%.17g\n", s; else print "nan" }'
}

start_registry() {
	local port
	port=$(free_port)
	mkdir -p "$BT/reg"
	start_bg registry "$REGISTRY" --listen "127.0.0.1:$port" --auth "${REG_AUTH:-none}" \
		--state-dir "$BT/reg" \
		--log-level warn "$@"
	REG_PID=$BG_PID
	REG_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -s --max-time 1 "$REG_URL/health" >/dev/null 2>&1 && return 0
		kill -0 "$REG_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$BT/registry.log" >&2
	die "the registry did not start"
}

