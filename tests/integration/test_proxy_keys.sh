#!/usr/bin/env bash
# test_proxy_keys.sh — API keys on the OpenAI side: required by default off
# loopback, the generated key (`elasticctl key`), a keys file read again
# when it changes, 401 in OpenAI's format, and no key ever in the log.
# timeout: 120
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

KEYS=$PX_DIR/api-keys
printf '# team keys\nsk-alice-0123456789\n\nsk-bob-abcdefghij\n' >"$KEYS"
chmod 600 "$KEYS"
px_sim a --served-model-name sim --time-scale 0
px_registry '[proxy]' 'api_keys = "required"' "keys_file = \"$KEYS\""
px_register 1.n1.0 a sim
GEN=$("$PX_CTL" --registry "$PX_URL" --auth none key)
[[ "$GEN" =~ ^es-[0-9a-f]{64}$ ]] || die "elasticctl key printed '$GEN'"
[ "$(stat -c %a "$PX_DIR/state/api_key")" = 600 ] || die "the generated key's file is not 0600"

status() { # KEY|- PATH [BODY] -> status; body in $PX_DIR/out
	local key=$1 path=$2 data=${3:-} auth=()
	[ "$key" != - ] && auth=(-H "Authorization: Bearer $key")
	if [ -n "$data" ]; then
		curl -sS -o "$PX_DIR/out" -D "$PX_DIR/hdr" -w '%{http_code}' "${auth[@]}" "$PX_URL$path" -d "$data"
	else
		curl -sS -o "$PX_DIR/out" -D "$PX_DIR/hdr" -w '%{http_code}' "${auth[@]}" "$PX_URL$path"
	fi
}
chat=$(px_chat sim hi)
[ "$(status - /v1/models)" = 401 ] || die "no key: not 401"
grep -qi '^WWW-Authenticate: Bearer' "$PX_DIR/hdr" || die "401 without WWW-Authenticate"
python3 - "$(cat "$PX_DIR/out")" <<'EOF' || die "401 body: $(cat "$PX_DIR/out")"
import json, sys
e = json.loads(sys.argv[1])["error"]
assert e["code"] == 401 and "API key" in e["message"], e
EOF
[ "$(status - /v1/chat/completions "$chat")" = 401 ] || die "no key on chat: not 401"
[ "$(status sk-wrong-key-000 /v1/chat/completions "$chat")" = 401 ] || die "a wrong key was taken"
[ "$(status sk-alice-012345678 /v1/models)" = 401 ] || die "a key's prefix was taken"
[ "$(status sk-alice-0123456789x /v1/models)" = 401 ] || die "a longer key was taken"
[ "$(status sk-alice-0123456789 /v1/chat/completions "$chat")" = 200 ] || die "alice's key refused"
[ "$(status sk-bob-abcdefghij /v1/models)" = 200 ] || die "bob's key refused"
[ "$(status "$GEN" /v1/chat/completions "$chat")" = 200 ] || die "the generated key refused"
[ "$(status - /metrics)" = 200 ] || die "/metrics needs no key"
log "ok: keys required (keys file and generated key); 401 in OpenAI's format otherwise"

# The file changes: read again within a few seconds; the generated key stays.
printf 'sk-carol-9876543210\n' >"$KEYS.new"
chmod 600 "$KEYS.new"
mv "$KEYS.new" "$KEYS"
for _ in $(seq 50); do
	[ "$(status sk-carol-9876543210 /v1/models)" = 200 ] && break
	sleep 0.1
done
[ "$(status sk-carol-9876543210 /v1/models)" = 200 ] || die "the new key is not accepted"
[ "$(status sk-alice-0123456789 /v1/models)" = 401 ] || die "a removed key still works"
[ "$(status "$GEN" /v1/models)" = 200 ] || die "the generated key was lost on reload"
# A bad file keeps the keys loaded before.
printf 'bad key with spaces\n' >"$KEYS.new"
chmod 600 "$KEYS.new"
mv "$KEYS.new" "$KEYS"
sleep 2.5
[ "$(status sk-carol-9876543210 /v1/models)" = 200 ] || die "a bad keys file dropped the keys"
grep -q "api keys: $KEYS:1: a key is printable ASCII without spaces" "$PX_REG_LOG" ||
	die "the bad keys file is not reported"
log "ok: the keys file is read again when it changes; a bad one is reported and ignored"

for k in "$GEN" sk-alice-0123456789 sk-bob-abcdefghij sk-carol-9876543210 sk-wrong-key-000; do
	if grep -qF -- "$k" "$PX_REG_LOG"; then
		die "a key appears in the registry's log"
	fi
done
log "ok: no key in the registry's log ($(wc -l <"$PX_REG_LOG") lines, debug level)"

# ---------------------------------------------------------------- off loopback
# Listening on every address, keys are required without being asked for.
TOKEN=$PX_DIR/token
port=$(_px_free_port)
"$PX_REGISTRY" --listen "0.0.0.0:$port" --auth "token:$TOKEN" --state-dir "$PX_DIR/state2" \
	--job-script /bin/true --sbatch /bin/false --squeue /bin/true --scancel /bin/true --sacct '' \
	--poll-interval 1h >"$PX_DIR/reg2.log" 2>&1 &
PX_PIDS+=($!)
url=http://127.0.0.1:$port
for _ in $(seq 100); do
	curl -sf "$url/health" >/dev/null 2>&1 && break
	sleep 0.05
done
st=$(curl -sS -o /dev/null -w '%{http_code}' "$url/v1/models")
[ "$st" = 401 ] || die "a registry on 0.0.0.0 serves /v1/models without a key ($st)"
key=$("$PX_CTL" --registry "$url" --auth "token:$TOKEN" key)
st=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$url/v1/models")
[ "$st" = 200 ] || die "the generated key is refused off loopback ($st)"
"$PX_CTL" --registry "$url" --auth none key >/dev/null 2>&1 &&
	die "elasticctl key worked without the control credential"
grep -q "API keys required" "$PX_DIR/reg2.log" || die "the log does not say keys are required"
log "ok: off loopback keys are required by default; elasticctl key needs the control credential"
