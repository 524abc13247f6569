#!/usr/bin/env bash
# Every man page is clean under mandoc -Tlint (style level included), and
# their cross-references resolve among the project's own pages.
# timeout: 60
set -euo pipefail
PATH=$PATH:/usr/sbin
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A manual tree of our pages, so that Xr references to each other resolve.
for m in man/*.[1-8]; do
	s=${m##*.}
	mkdir -p "$tmp/man$s"
	cp "$m" "$tmp/man$s/"
done
makewhatis "$tmp"
pages=(man/*.[1-8])
[ ${#pages[@]} -ge 6 ] || { echo "expected at least six man pages, found ${#pages[@]}"; exit 1; }
for want in elastic_serve.8 elastic-agent.8 elastic-registry.8 elasticctl.1 elastic-sim.1 elastic-serve.toml.5; do
	[ -f "man/$want" ] || { echo "missing man/$want"; exit 1; }
done
out=$(mandoc -Tlint -Wstyle -M "$tmp" "${pages[@]}" 2>&1 || true)
# Manuals outside this tree (slurm.conf(5), flock(2)...) may not be
# installed here; references between our own pages must resolve.
bad=$(grep -v 'referenced manual not found: Xr [^e]' <<<"$out" | grep -v 'referenced manual not found: Xr e[^l]' || true)
if [ -n "$bad" ]; then
	echo "$bad"
	exit 1
fi
echo "ok: ${#pages[@]} pages lint clean"
