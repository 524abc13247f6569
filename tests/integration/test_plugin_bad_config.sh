#!/usr/bin/env bash
# timeout: 60
# (c) a bad model.toml fails sbatch with FILE:LINE:COL, and no job is
# created: job ids stay consecutive around the failed submission.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
cat >"$ES_TEST_DIR/bad.toml" <<'TOML'
[model]
path = "sim/tiny"
[engine]
kind = "sim"
[parallel]
tp = "two"
TOML
chown "$ES_CLUSTER_USER" "$ES_TEST_DIR/bad.toml"
serve_script

before=$(submit -o /dev/null --wrap true)
if as_user sbatch --parsable --gres=gpu:2 --elastic-serve=bad.toml serve.sh >"$ES_TEST_DIR/sbatch.out" 2>"$ES_TEST_DIR/sbatch.err"; then
	track_job "$(cat "$ES_TEST_DIR/sbatch.out")"
	die "sbatch accepted a bad model.toml"
fi
cat "$ES_TEST_DIR/sbatch.err" >&2
grep -q 'elastic_serve: bad.toml:6:6: ' "$ES_TEST_DIR/sbatch.err" || die "no FILE:LINE:COL message"
[ ! -s "$ES_TEST_DIR/sbatch.out" ] || die "sbatch printed a job id: $(cat "$ES_TEST_DIR/sbatch.out")"
after=$(submit -o /dev/null --wrap true)
[ "$after" -eq $((before + 1)) ] || die "a job was created: ids $before then $after"
squeue -h -u "$ES_CLUSTER_USER" -n serve.sh | grep -q . && die "a serve.sh job exists"

# A file that does not exist, and salloc: refused the same way.
as_user sbatch --gres=gpu:2 --elastic-serve=missing.toml serve.sh 2>"$ES_TEST_DIR/e2" && die "missing file accepted"
grep -q 'elastic_serve: missing.toml: cannot open: No such file or directory' "$ES_TEST_DIR/e2" || die "$(cat "$ES_TEST_DIR/e2")"
log "refused with: $(grep -o 'elastic_serve: .*' "$ES_TEST_DIR/sbatch.err" | head -n 1)"

# The manual pages of the plugin and the agent are clean (references to
# pages not installed here are only style notes).
if command -v mandoc >/dev/null; then
	mandoc -Tlint -W warning man/elastic_serve.8 man/elastic-agent.8 || die "mandoc -Tlint"
fi

# The plugin exports the SPANK entry points and plugin symbols, nothing else.
extra=$(nm -D --defined-only spank/elastic_serve.so | awk '{print $3}' |
	grep -Ev '^(slurm_spank_[a-z_]+|plugin_name|plugin_type|plugin_version|spank_plugin_version)$' || true)
[ -z "$extra" ] || die "elastic_serve.so exports more: $extra"
