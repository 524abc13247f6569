#!/usr/bin/env bash
# The shipped example model.toml files validate, and elasticctl validate
# reports problems with their place and the right exit codes.
# timeout: 60
set -euo pipefail
cd "$(dirname "$0")/../.."
ctl=cli/elasticctl

for f in etc/examples/*.toml; do
	echo "validate $f"
	$ctl validate -q "$f"
done

# The resolved config is valid model.toml again.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$ctl validate etc/examples/deepseek-v3.1.toml >"$tmp/resolved.toml"
$ctl validate -q "$tmp/resolved.toml"
grep -qx 'tp = 16' "$tmp/resolved.toml"
grep -qx 'nodes_per_worker = 4' "$tmp/resolved.toml"

# Errors: every problem, in file order, FILE:LINE:COL, exit 1.
printf '[model]\npath = "x"\n[parallel]\ntpp = 2\n[engine]\nkind = "vlm"\n' >"$tmp/bad.toml"
rc=0
$ctl validate "$tmp/bad.toml" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || { echo "exit $rc, want 1"; exit 1; }
[ ! -s "$tmp/out" ] || { echo "output on stdout for an invalid file"; exit 1; }
diff -u - "$tmp/err" <<MSG
$tmp/bad.toml:4:1: unknown key "tpp" in [parallel] (did you mean "tp"?)
$tmp/bad.toml:6:8: unknown engine.kind "vlm" (did you mean "vllm"?); expected one of: vllm, sglang, sim, command
MSG

# A missing file, and usage errors (exit 2).
rc=0; $ctl validate /nonexistent.toml 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q '^/nonexistent.toml: cannot open: No such file or directory$' "$tmp/err"
rc=0; $ctl validate 2>/dev/null || rc=$?
[ "$rc" -eq 2 ]
rc=0; $ctl frobnicate 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^error: unknown verb 'frobnicate'" "$tmp/err"
echo "ok"
