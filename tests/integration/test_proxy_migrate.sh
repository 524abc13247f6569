#!/usr/bin/env bash
# test_proxy_migrate.sh — stream migration (issue 11): a generation whose
# worker is killed mid-answer goes on on another worker, and the client
# sees one well-formed response equal to the uninterrupted one.
#
# Two real elastic-sim workers (fixed seeds, 20 ms per token) behind a real
# registry (proxy_lib.sh); tests/integration/proxy_migrate.py sends the
# requests and kills the serving sim with SIGKILL (then starts it again):
#   - 50 streamed and 50 non-streamed requests, chat and completions, each
#     killed at a random token: text, finish_reason and usage equal to the
#     reference (the same request to a sim left alone), no error, one id and
#     one [DONE] per stream;
#   - a stream with logprobs (not migratable) killed: it ends with a clean
#     error event and [DONE];
#   - a pool whose model.toml says [routing] migrate = false: its stream is
#     cut, as before;
#   - a worker that leaves the registry (engine_exit) while it streams: the
#     generation moves at once; a drained one (sigterm) finishes its stream.
# Then the counts: migrations in /metrics, and nothing left in flight.
# timeout: 400
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

MIG=$PX_REPO/tests/integration/proxy_migrate.py
N=${MIGRATE_N:-50}
# Kills come as resets, not as silences: a long stream_idle_timeout shows
# that the leaving worker's streams move at once, not by a timeout.
px_registry '[proxy]' 'stream_idle_timeout = "30s"' 'response_timeout = "30s"' \
	'wait_for_worker = "5s"'

# run PART [ARGS...]: the driver; its figures on stdout, failures fail the test.
run() {
	local part=$1 out
	shift
	out=$(python3 "$MIG" "$PX_URL" "$PX_SIM" "$PX_DIR" "$part" "$@") ||
		die "$part: ${out:-the driver failed}"
	echo "$out"
}

# ---------------------------------------------------------------- kills
out=$(run kill --model m -n "$N" --seed 11)
ok=$(px_metric 'elastic_proxy_migrations_total{pool="m",outcome="ok"}')
python3 - "$out" "$N" "$ok" <<'EOF' || die "too few kills landed mid-generation: $out; $ok migrations"
import json, sys
r, n, ok = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
f = r["figures"]
assert f["stream"]["n"] == n and f["plain"]["n"] == n, f
# Streams are killed after a content event, before their end (wide margin for
# a slow machine); non-streamed requests at a random time of the generation.
assert f["stream"]["killed_mid"] >= n * 0.8, f
assert f["plain"]["migrated"] >= n * 0.5, f
assert ok >= f["stream"]["killed_mid"] + f["plain"]["migrated"], (ok, f)
EOF
errs=$(px_metric_sum elastic_proxy_errors_total 'pool="m"')
[ "$errs" = 0 ] || die "requests of pool m counted as failed: $errs"
log "ok: $((2 * N)) requests killed mid-generation, every answer the uninterrupted one: $out; $ok migrations"

# ---------------------------------------------------------------- not migratable
out=$(run refuse --model m --seed 12)
refused=$(px_metric 'elastic_proxy_migrations_total{pool="m",outcome="refused"}')
[ "$refused" = 1 ] || die "refused migrations: $refused"
grep -q 'not migrated: the request cannot be migrated (logprobs)' "$PX_REG_LOG" ||
	die "no log line for the refused migration"
log "ok: a stream with logprobs ends with an error event: $out"

# ---------------------------------------------------------------- switch off
cfg='[model]\npath = \"sim/nomig\"\nname = \"nomig\"\n\n[engine]\nkind = \"sim\"\n\n[scale]\nmax_nodes = 1\n\n[routing]\nmigrate = false\n'
res=$(px_api POST /api/v1/pools "{\"config\":\"$cfg\",\"filename\":\"nomig.toml\"}")
grep -q '"name":"nomig"' <<<"$res" || die "cannot create the pool: $res"
out=$(run off --model nomig --job 8 --seed 13)
[ "$(px_metric_sum elastic_proxy_migrations_total 'pool="nomig"')" = 0 ] ||
	die "migrations counted for a pool with migration off"
[ "$(px_metric 'elastic_proxy_errors_total{pool="nomig",cause="stream_cut"}')" = 1 ] ||
	die "the cut stream of pool nomig was not counted"
log "ok: with [routing] migrate = false a stream is cut as before: $out"

# ---------------------------------------------------------------- workers leaving
out=$(run gone --model m --job 9 --seed 14)
log "ok: a worker leaving the registry moves its stream at once, a drained one does not: $out"

px_wait_idle 10
px_check_no_leak
grep -E 'request (chat)?cmpl-[0-9a-f]+: worker [^ ]+ failed .*: migrating \(1 of 2\)' "$PX_REG_LOG" \
	>/dev/null || die "no migration log line with the request id"
grep -E '^elastic_proxy_migrations_total' <(curl -sS "$PX_URL/metrics") >&2
