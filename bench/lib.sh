# shellcheck shell=bash
# lib.sh — sourced by the parts of `make bench` (bench/*.sh).
#
# Each part prints a table and writes bench/results/PART.json: an object
# with "part", "date", "load" (the 1-minute load average before it ran),
# "targets" (a list of {"name", "value", "unit", "target", "op", "met"}),
# and its own measurements. bench/summary.py turns the results into the
# table of bench/README.md.
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
#   target NAME VALUE UNIT OP LIMIT   records a target and the measured value
#   json_out FILE PY           writes FILE from a Python dict expression,
#                              with the targets recorded
#
# Timing and load. The machine has 2 cores shared with other work: each
# part records the load average before it runs, and bench/README.md shows
# it next to each figure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ES_REPO=$(cd "$BENCH_DIR/.." && pwd -P)
RESULTS=${BENCH_RESULTS:-$ES_REPO/bench/results}
SIM=$ES_REPO/sim/elastic-sim
CTL=$ES_REPO/cli/elasticctl
REGISTRY=$ES_REPO/registry/elastic-registry
AGENT=$ES_REPO/agent/elastic-agent
PART=$(basename "$0" .sh)
mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

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

# json_out FILE PY: the Python expression PY (a dict; `json` is imported)
# becomes FILE, with "part", "date", "load" and the targets that `target`
# recorded.
json_out() {
	python3 - "$1" "$2" "$PART" "$LOAD_BEFORE" "$BT/targets.jsonl" <<'PY'
import json, sys, time, os
path, expr, part, load, targets = sys.argv[1:6]
out = eval(expr)
out.setdefault("part", part)
out.setdefault("date", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
out.setdefault("load", float(load))
if os.path.exists(targets):
    out["targets"] = [json.loads(l) for l in open(targets) if l.strip()]
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
PY
}

# target NAME VALUE UNIT OP LIMIT: records a target of the part (for
# json_out). OP is <= or >=; a VALUE of "nan" (not measured) is never met.
target() {
	python3 - "$@" >>"$BT/targets.jsonl" <<'PY'
import json, math, sys
name, value, unit, op, limit = sys.argv[1:6]
v = float(value)
lim = float(limit)
met = (not math.isnan(v)) and (v <= lim if op == "<=" else v >= lim)
print(json.dumps({"name": name, "value": None if math.isnan(v) else v, "unit": unit,
                  "op": op, "target": lim, "met": met}))
PY
}

# A part's table on stdout: its targets, measured against them.
print_targets() {
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"== {r['part']}: {r.get('title', '')} (load {r['load']:.2f} before)")
for t in r.get("targets", []):
    v = "not measured" if t["value"] is None else f"{t['value']:.4g} {t['unit']}".strip()
    print(f"  {t['name']:<46} {v:>16}   target {t['op']} {t['target']:g} {t['unit']}   "
          f"{'ok' if t['met'] else 'MISSED'}")
PY
}
