#!/usr/bin/env bash
# run.sh — `make bench`: every part of the benchmark suite, then the
# summary table (bench/README.md explains each part).
#
#   bench/run.sh [PART...]    default: scale routing heartbeat serve-time failover proxy
#
#   scale       (d) 2,000 simulated workers against one registry
#   routing     (a) 4 sims behind the proxy, multiturn, per routing policy
#   heartbeat   (c) a node dies: eviction by heartbeat timeout   [cluster]
#   serve-time  (e) sbatch to the first token through the proxy  [cluster]
#   failover    (b) 2 minutes of preemptions under load          [cluster]
#   proxy       (f) the proxy's overhead (bench/proxy.sh, the proxy's own part)
#
# Each part prints its table; its JSON goes to bench/results/PART.json,
# its stdout and stderr to bench/results/PART.txt and PART.log. A part
# that fails or cannot run is named in the summary; the others go on. The
# [cluster] parts need root and the local SLURM cluster (started here).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RESULTS=${BENCH_RESULTS:-bench/results}
export BENCH_RESULTS=$PWD/$RESULTS
mkdir -p "$RESULTS"
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(scale routing heartbeat serve-time failover proxy)

start=$SECONDS
echo "== make bench: ${PARTS[*]}"
echo "== $(nproc) CPUs, $(free -g | awk '/^Mem/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%FT%TZ)"
# What else is busy (the machine is shared): kept beside the results.
{
	echo "load at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%FT%TZ))"
	top -bn1 -o %CPU | sed -n '7,13p'
} >"$RESULTS/machine.txt"
cluster_ok=
need_cluster() {
	[ -n "$cluster_ok" ] && return "$cluster_ok"
	cluster_ok=1
	if [ "$(id -u)" -ne 0 ]; then
		echo "   needs root (the local SLURM cluster and its test user)"
	elif ! scripts/cluster.sh up >/dev/null 2>"$RESULTS/cluster.log"; then
		echo "   cannot bring the local cluster up (see $RESULTS/cluster.log)"
	else
		cluster_ok=0
	fi
	return "$cluster_ok"
}

# not_run PART WHY: a results file that says the part did not run.
not_run() {
	python3 - "$BENCH_RESULTS/$1.json" "$1" "$2" <<'PY'
import json, sys, time
path, part, why = sys.argv[1:4]
json.dump({"part": part, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "not_run": why}, open(path, "w"), indent=1)
PY
}

# adopt_proxy: the newest bench/results/proxy-DATE.json of bench/proxy.sh
# as proxy.json, its targets in the form of the other parts.
adopt_proxy() {
	python3 - "$BENCH_RESULTS" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
runs = sorted(glob.glob(os.path.join(d, "proxy-*.json")))
if not runs:
    sys.exit(0)
r = json.load(open(runs[-1]))
targets = []
for key, value in r.get("targets", {}).items():
    name, op, limit = key.rsplit(" ", 2)
    unit = "us" if name.endswith("_us") else "x"
    lim = float(limit)
    met = value >= lim if op == ">=" else value <= lim
    targets.append({"name": name, "value": value, "unit": unit, "op": op, "target": lim, "met": met})
out = {"part": "proxy", "title": "proxy overhead (bench/proxy.sh)", "date": r.get("date"),
       "load": float(str(r.get("load_before", "nan")).split()[0]), "source": os.path.basename(runs[-1]),
       "summary": r.get("summary"), "targets": targets}
json.dump(out, open(os.path.join(d, "proxy.json"), "w"), indent=1)
PY
}

for part in "${PARTS[@]}"; do
	t0=$SECONDS
	echo
	echo "== part $part ($(date +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
	case $part in
	heartbeat | serve-time | failover)
		if ! need_cluster; then
			not_run "$part" "needs root and the local SLURM cluster"
			continue
		fi
		;;
	proxy)
		if [ ! -x bench/proxy.sh ]; then
			echo "   bench/proxy.sh is not in this checkout (it comes with the proxy's branch)"
			not_run proxy "bench/proxy.sh is not in this checkout"
			continue
		fi
		;;
	scale | routing) ;;
	*)
		echo "   unknown part '$part'" >&2
		continue
		;;
	esac
	rm -f "$RESULTS/$part.json"
	if [ "$part" = proxy ]; then
		# The proxy's own script (make bench-proxy): its figures go to
		# bench/results/proxy-DATE.json, adopted below as proxy.json.
		bench/proxy.sh "${BENCH_DURATION:-10s}" "${BENCH_REPEAT:-1}" >"$RESULTS/$part.txt" 2>"$RESULTS/$part.log"
		rc=$?
		[ "$rc" -eq 0 ] && adopt_proxy
	else
		bench/"$part".sh >"$RESULTS/$part.txt" 2>"$RESULTS/$part.log"
		rc=$?
	fi
	cat "$RESULTS/$part.txt"
	if [ "$rc" -ne 0 ]; then
		echo "   part $part FAILED (exit $rc); the end of $RESULTS/$part.log:"
		tail -n 15 "$RESULTS/$part.log" | sed 's/^/   | /'
		[ -f "$RESULTS/$part.json" ] || not_run "$part" "failed (exit $rc): see $RESULTS/$part.log"
	fi
	echo "   ($((SECONDS - t0)) s)"
done

echo
echo "== summary ($((SECONDS - start)) s in all; load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - start)) s in all" >>"$RESULTS/machine.txt"
python3 bench/summary.py "$BENCH_RESULTS" "${PARTS[@]}" | tee "$RESULTS/summary.md"
