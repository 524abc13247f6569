#!/usr/bin/env python3
"""summary.py — the table of bench/README.md from bench/results/*.json.

    python3 bench/summary.py RESULTS_DIR [PART...]

Prints a Markdown table: one row per target of each part (measured value,
target, whether it was met, the load average before the part ran), and a
row for each part that did not run, saying why.
"""
import json
import os
import sys

ORDER = ["routing", "failover", "heartbeat", "scale", "serve-time", "proxy"]
LETTER = {"routing": "a", "failover": "b", "heartbeat": "c", "scale": "d",
          "serve-time": "e", "proxy": "f"}


def fmt(v, unit):
    if v is None:
        return "not measured"
    s = f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{s} {unit}".strip()


def main():
    d = sys.argv[1]
    parts = sys.argv[2:] or ORDER
    parts = sorted(parts, key=lambda p: ORDER.index(p) if p in ORDER else 99)
    print("| part | figure | measured | target | met | load |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p in parts:
        path = os.path.join(d, p + ".json")
        name = f"{LETTER.get(p, '?')}. {p}"
        if not os.path.exists(path):
            print(f"| {name} | — | no results | | | |")
            continue
        r = json.load(open(path))
        if "not_run" in r:
            print(f"| {name} | — | not run: {r['not_run']} | | | |")
            continue
        targets = r.get("targets", [])
        if not targets:
            print(f"| {name} | {r.get('title', '')} | see {p}.json | | | {r.get('load', 0):.2f} |")
        for t in targets:
            met = "yes" if t["met"] else "**MISSED**"
            print(f"| {name} | {t['name']} | {fmt(t['value'], t['unit'])} | "
                  f"{t['op']} {t['target']:g} {t['unit']} | {met} | {r.get('load', 0):.2f} |")


if __name__ == "__main__":
    main()
