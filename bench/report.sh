# shellcheck shell=bash
# report.sh — what every part of `make bench` reports (sourced by
# bench/lib.sh and by the parts that run on the local cluster).
#
# Each part prints a table and writes bench/results/PART.json: an object
# with "part", "title", "date", "load" (the 1-minute load average before
# it ran), "targets" (a list of {"name", "value", "unit", "op", "target",
# "met"}) and its own measurements. bench/summary.py turns the results
# into the table of bench/README.md.
#
#   target NAME VALUE UNIT OP LIMIT   records a target and the measured value
#   json_out FILE PY                  writes FILE from a Python dict
#                                     expression, with the targets recorded
#   print_targets FILE                the part's table on stdout

REPORT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
RESULTS=${BENCH_RESULTS:-$REPORT_REPO/bench/results}
PART=${PART:-$(basename "$0" .sh)}
mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
TARGETS=$(mktemp /tmp/es-bench-targets.XXXXXX)

# json_out FILE PY: the Python expression PY (a dict; `json` is imported)
# becomes FILE, with "part", "date", "load" and the targets that `target`
# recorded.
json_out() {
	python3 - "$1" "$2" "$PART" "$LOAD_BEFORE" "$TARGETS" <<'PY'
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
	python3 - "$@" >>"$TARGETS" <<'PY'
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
    print(f"  {t['name']:<58} {v:>14}   target {t['op']} {t['target']:g} {t['unit']}   "
          f"{'ok' if t['met'] else 'MISSED'}")
PY
}
