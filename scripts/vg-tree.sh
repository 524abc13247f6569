#!/usr/bin/env bash
# vg-tree.sh DIR LOGS — lay out DIR as the source tree for ES_BIN (see
# tests/integration/lib.sh), with the long-running programs under valgrind:
# DIR/registry/elastic-registry, DIR/sim/elastic-sim and
# DIR/research/elastic-research are scripts that exec memcheck on the
# programs built in this checkout, each writing LOGS/NAME.PID.log (empty
# unless memcheck found an error or a leak); elasticctl and elastic-agent
# are links to the programs themselves.
# Used by `make check-valgrind`.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/vg-tree.sh DIR LOGS" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd -P)
dir=$1
logs=$(mkdir -p "$2" && cd "$2" && pwd -P)
rm -rf "$dir"
mkdir -p "$dir"/{registry,sim,agent,cli,research}
ln -sfn "$repo/etc" "$dir/etc" # the registry finds its job script at ../etc
ln -sfn "$repo/agent/elastic-agent" "$dir/agent/elastic-agent"
ln -sfn "$repo/cli/elasticctl" "$dir/cli/elasticctl"
for prog in registry/elastic-registry sim/elastic-sim research/elastic-research; do
	name=$(basename "$prog")
	cat >"$dir/$prog" <<WRAP
#!/bin/sh
# $name under valgrind (scripts/vg-tree.sh)
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --num-callers=30 \\
	--log-file="$logs/$name.%p.log" "$repo/$prog" "\$@"
WRAP
	chmod 0755 "$dir/$prog"
done
