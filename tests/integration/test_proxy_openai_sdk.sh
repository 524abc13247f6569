#!/usr/bin/env bash
# test_proxy_openai_sdk.sh — the official OpenAI SDK (npm "openai", pinned in
# tests/node/package.json, installed into build/node as for elastic-sim's
# own SDK test) as a client of the registry's proxy, with an API key:
# models, chat and completions streaming and not, embeddings, the SDK's
# error classes, and an abandoned stream that the engine sees cancelled.
# timeout: 300
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

command -v node >/dev/null || die "node is missing (scripts/deps.sh installs it)"
SDK=$PX_REPO/build/node
want=$(python3 -c 'import json; print(json.load(open("tests/node/package.json"))["dependencies"]["openai"])')
have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
	"$SDK/node_modules/openai/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	log "installing openai $want into $SDK"
	mkdir -p "$SDK"
	cp tests/node/package.json tests/node/package-lock.json "$SDK/"
	(cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
fi

px_sim a --served-model-name sim --time-scale 0.2
px_sim b --served-model-name sim --time-scale 0.2
px_registry '[proxy]' 'api_keys = "required"'
px_register 1.n1.0 a sim
px_register 1.n2.0 b sim
KEY=$("$PX_CTL" --registry "$PX_URL" --auth none key)
# One worker takes everything (the other is drained), so that its metrics
# show the abandoned stream.
px_api POST /api/v1/drain '{"worker":"1.n2.0"}' >/dev/null
SDK_DIR=$SDK BASE_URL="$PX_URL/v1" MODEL=sim API_KEY=$KEY node tests/node/sdk_test.js ||
	die "the OpenAI SDK through the proxy"
want='vllm:request_success_total{finished_reason="abort",model_name="sim"}'
for _ in $(seq 50); do
	[ "$(px_sim_metric a "$want")" != 0 ] && break
	sleep 0.1
done
[ "$(px_sim_metric a "$want")" != 0 ] || die "the abandoned stream was not cancelled in the engine"
px_wait_idle 5
px_check_no_leak
log "ok: the OpenAI SDK through the proxy; the abandoned stream was cancelled in the engine"
