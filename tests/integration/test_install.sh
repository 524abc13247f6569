#!/usr/bin/env bash
# make install honours PREFIX and DESTDIR, never clobbers configuration,
# and make uninstall removes what it installed and keeps the configuration.
# timeout: 120
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

make --no-print-directory install PREFIX=/opt/es DESTDIR="$dest" >/dev/null
want=(
	opt/es/bin/elasticctl opt/es/bin/elastic-sim
	opt/es/sbin/elastic-registry opt/es/sbin/elastic-agent
	opt/es/lib/elastic-serve/elastic_serve.so
	opt/es/lib/systemd/system/elastic-registry.service
	opt/es/etc/slurm/plugstack.conf.d/elastic-serve.conf
	opt/es/etc/elastic-serve/registry.toml
	opt/es/share/elastic-serve/elastic-job.sh
	opt/es/share/elastic-serve/examples/sim.toml
	opt/es/share/man/man1/elasticctl.1 opt/es/share/man/man5/elastic-serve.toml.5
	opt/es/share/man/man8/elastic_serve.8 opt/es/share/man/man8/elastic-registry.8
)
for f in "${want[@]}"; do
	[ -e "$dest/$f" ] || { echo "missing $f"; exit 1; }
done
# Paths substituted in the templates.
grep -q '^optional /opt/es/lib/elastic-serve/elastic_serve.so .*agent=/opt/es/sbin/elastic-agent' \
	"$dest/opt/es/etc/slurm/plugstack.conf.d/elastic-serve.conf"
grep -q '^ExecStart=/opt/es/sbin/elastic-registry --config /opt/es/etc/elastic-serve/registry.toml' \
	"$dest/opt/es/lib/systemd/system/elastic-registry.service"
if grep -rq '@[A-Z]*DIR@' "$dest"; then echo "unsubstituted template"; exit 1; fi
# The installed registry accepts the installed configuration, and the
# installed examples validate with the installed elasticctl.
"$dest/opt/es/sbin/elastic-registry" --check -c "$dest/opt/es/etc/elastic-serve/registry.toml" --state-dir "$dest/state"
for f in "$dest"/opt/es/share/elastic-serve/examples/*.toml; do
	"$dest/opt/es/bin/elasticctl" validate -q "$f"
done

# A second install keeps an edited configuration.
echo "# edited" >>"$dest/opt/es/etc/elastic-serve/registry.toml"
make --no-print-directory install PREFIX=/opt/es DESTDIR="$dest" >/dev/null
tail -n 1 "$dest/opt/es/etc/elastic-serve/registry.toml" | grep -qx '# edited'
[ -e "$dest/opt/es/etc/elastic-serve/registry.toml.dist" ]

make --no-print-directory uninstall PREFIX=/opt/es DESTDIR="$dest" >/dev/null
left=$(cd "$dest" && find . -type f ! -path './state/*' | sort)
expected=$(printf '%s\n' ./opt/es/etc/elastic-serve/registry.toml ./opt/es/etc/elastic-serve/registry.toml.dist \
	./opt/es/etc/slurm/plugstack.conf.d/elastic-serve.conf ./opt/es/etc/slurm/plugstack.conf.d/elastic-serve.conf.dist)
[ "$left" = "$expected" ] || { echo "left after uninstall:"; echo "$left"; exit 1; }
echo ok
