#!/usr/bin/env bash
# demo.sh — the whole flow on the local SLURM cluster, with elastic-sim as
# the engine (make demo / make demo-down).
#
#   scripts/demo.sh up     cluster, registry, a pool of three nodes, requests,
#                          a preemption with the measured times, how to use it
#   scripts/demo.sh down   stop the registry, cancel its jobs, stop the cluster
#
# The registry runs as the cluster's test user (as a researcher would run it
# on a login node) and lets root use elasticctl too. Everything lives under
# build/demo/. DEMO_PORT (8780) chooses the registry's port.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$REPO/build/demo
PORT=${DEMO_PORT:-8780}
URL=http://127.0.0.1:$PORT
POOL_FILE=$REPO/etc/examples/sim.toml
MODEL=sim-7b
CTL=$REPO/cli/elasticctl
T_START=$(date +%s.%N)

if [ -t 1 ]; then
	B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' D='' G='' R='' N=''
fi

step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note() { printf '    %s\n' "$*"; }
die() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	if [ -f "$DEMO/registry.log" ]; then
		printf '%s---- last lines of %s%s\n' "$D" "$DEMO/registry.log" "$N" >&2
		tail -n 15 "$DEMO/registry.log" >&2
	fi
	echo "demo: what was started is left running for a look; 'make demo-down' stops it" >&2
	exit 1
}
now() { date +%s.%N; }
# secs A B: B - A in seconds, one decimal; ms A B: in milliseconds.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
ctl() { ELASTIC_REGISTRY_URL=$URL "$CTL" "$@"; }
# jq-like access to JSON on stdin with a Python expression of `j`.
jget() { python3 -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

registry_pid() { [ -f "$DEMO/registry.pid" ] && cat "$DEMO/registry.pid"; }

demo_down() {
	local pid
	pid=$(registry_pid || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		# Scale the pool to zero first so that its jobs are cancelled.
		ctl down "$MODEL" >/dev/null 2>&1 || true
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$DEMO/registry.pid"
	if [ -f "$REPO/build/cluster/env" ]; then
		# shellcheck disable=SC1091
		. "$REPO/build/cluster/env"
		scancel -u "$ES_CLUSTER_USER" 2>/dev/null || true
	fi
	"$REPO/scripts/cluster.sh" down
}

case "${1:-}" in
down)
	demo_down
	echo "demo stopped"
	exit 0
	;;
up) ;;
*)
	echo "usage: scripts/demo.sh up | down" >&2
	exit 2
	;;
esac

for bin in cli/elasticctl registry/elastic-registry agent/elastic-agent sim/elastic-sim spank/elastic_serve.so; do
	[ -e "$REPO/$bin" ] || die "$bin is not built: run make"
done

# A demo left running from before is stopped first.
if [ -n "$(registry_pid || true)" ]; then
	step "Stopping the previous demo"
	demo_down >/dev/null
fi

step "Starting the local SLURM cluster (slurmctld, nodes n1..n3 with 8 fake GPUs each)"
ES_PLUGIN_ARGS="agent=$REPO/agent/elastic-agent" "$REPO/scripts/cluster.sh" up
# shellcheck disable=SC1091
. "$REPO/build/cluster/env"
USER_=$ES_CLUSTER_USER
sinfo -N -o '    %N %P %t %G' | sort -u

step "Starting elastic-registry on $URL (as user $USER_)"
if curl -s -m 1 -o /dev/null "$URL/health"; then
	die "port $PORT is taken by another server; run 'make demo-down' or set DEMO_PORT"
fi
mkdir -p "$DEMO"
chown "$USER_" "$DEMO"
rm -rf "$DEMO/state"
: >"$DEMO/registry.log"
chown "$USER_" "$DEMO/registry.log"
(cd "$DEMO" && runuser -u "$USER_" -- env SLURM_CONF="$SLURM_CONF" \
	"$REPO/registry/elastic-registry" --listen "127.0.0.1:$PORT" --state-dir "$DEMO/state" \
	--allow-uid root --poll-interval 1s --log-file "$DEMO/registry.log" \
	--job-script "$REPO/etc/elastic-job.sh" >/dev/null 2>&1 &
	echo $! >"$DEMO/registry.pid")
for _ in $(seq 100); do
	curl -fs -m 1 -o /dev/null "$URL/health" && break
	sleep 0.1
done
curl -fs -m 1 -o /dev/null "$URL/health" || die "the registry does not answer on $URL"
pgrep -u "$USER_" -f "elastic-registry --listen 127.0.0.1:$PORT " | head -n 1 >"$DEMO/registry.pid"
note "pid $(registry_pid), log $DEMO/registry.log"

step "Creating a pool from etc/examples/sim.toml: tp 2 on 8-GPU nodes, up to 3 nodes"
grep -E '^(path|kind|tp|gpus_per_node|max_nodes|partition) ' "$POOL_FILE" | sed 's/^/    /'
ctl up "$POOL_FILE"
want=$(($(ctl -o json status | jget 'sum(p["target"] for p in j["pools"])') * 4))

step "Waiting for the workers (SLURM starts the jobs; each job's agent starts 4 engines)"
t0=$(now)
ready=0
for _ in $(seq 600); do
	st=$(ctl -o json status) || die "elasticctl status failed"
	ready=$(jget 'j["workers"]["ready"]' <<<"$st")
	running=$(jget 'sum(p["running"] for p in j["pools"])' <<<"$st")
	pending=$(jget 'sum(p["pending"] for p in j["pools"])' <<<"$st")
	line=$(printf 'jobs running %s, pending %s   workers ready %s/%s   %.1f s' \
		"$running" "$pending" "$ready" "$want" "$(secs "$t0" "$(now)")")
	if [ -t 1 ]; then printf '\r    %s ' "$line"; elif [ "$line" != "${last:-}" ]; then note "$line"; fi
	last=$line
	[ "$ready" -ge "$want" ] && break
	sleep 0.2
done
[ -t 1 ] && echo
[ "$ready" -ge "$want" ] || die "only $ready of $want workers became ready within 120 s"
note "${G}all $want workers ready${N} in $(secs "$t0" "$(now)") s"

step "Chat requests through the OpenAI endpoint $URL/v1"
ask() {
	local q=$1 out hdr
	hdr=$(mktemp)
	out=$(curl -fsS -m 10 -D "$hdr" "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
		-d "{\"model\":\"$MODEL\",\"max_tokens\":24,\"messages\":[{\"role\":\"user\",\"content\":\"$q\"}]}") ||
		{ rm -f "$hdr"; die "chat request failed"; }
	printf '    %s> %s%s\n' "$D" "$q" "$N"
	printf '    %s\n' "$(jget 'j["choices"][0]["message"]["content"]' <<<"$out")"
	printf '    %s(worker %s, %s)%s\n' "$D" "$(tr -d '\r' <"$hdr" | awk -F': ' 'tolower($1) == "x-elastic-worker" { print $2 }')" \
		"$(jget '"%d prompt + %d completion tokens" % (j["usage"]["prompt_tokens"], j["usage"]["completion_tokens"])' <<<"$out")" "$N"
	rm -f "$hdr"
}
ask "What is elastic-serve?"
ask "Why serve models on preemptible nodes?"
printf '    %s> (streamed) Tell me a story.%s\n    ' "$D" "$N"
curl -fsSN -m 10 "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
	-d "{\"model\":\"$MODEL\",\"stream\":true,\"max_tokens\":32,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}]}" |
	python3 -c '
import json, sys
chunks = 0
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        continue
    d = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    chunks += 1
    print(d, end="", flush=True)
print("\n    \033[2m(%d chunks, streamed as they were generated)\033[0m" % chunks)
' || die "streamed request failed"

step "elasticctl ls"
ctl ls | sed 's/^/    /'
step "elasticctl status"
ctl status | sed 's/^/    /'

step "Preempting node n2 with a job in the high partition"
victim=$(squeue -h -w n2 -p low -t R -o %i | head -n 1)
[ -n "$victim" ] || die "no job of the pool runs on n2"
n2_ready() { ctl -o json ls | jget 'sum(1 for w in j["workers"] if w["node"] == "n2" and w["state"] == "ready")'; }
before=$(n2_ready)
note "job $victim serves $before workers on n2"
t_sub=$(now)
high=$(cd "$ES_CLUSTER_DIR/jobs" && runuser -u "$USER_" -- env SLURM_CONF="$SLURM_CONF" \
	sbatch --parsable -p high -w n2 --gres=gpu:8 -J demo-preempt -o /dev/null --wrap 'sleep 8')
note "submitted high job $high"
t_gone=
for _ in $(seq 300); do
	if [ "$(n2_ready)" -eq 0 ]; then t_gone=$(now); break; fi
	sleep 0.05
done
[ -n "$t_gone" ] || die "the workers on n2 did not leave routing"
# When did SLURM signal the job? The agent logs the SIGTERM with ms, and
# the registry logs each deregistration.
out=$ES_CLUSTER_DIR/../demo/state/jobs/es-$victim.out
sigterm=$(grep -h 'elastic-agent info: got SIGTERM' "$out" 2>/dev/null | tail -n 1 | cut -d' ' -f1 || true)
note "workers out of routing $(secs "$t_sub" "$t_gone") s after the high job's submission (SLURM's scheduler takes about 1 s to preempt)"
if [ -n "$sigterm" ]; then
	t_term=$(date -d "$sigterm" +%s.%N)
	dereg=$(grep -h "deregistered\|removed" "$DEMO/registry.log" | grep "$victim" | head -n 1 | cut -d' ' -f1 || true)
	if [ -n "$dereg" ]; then
		note "${G}the agent got SIGTERM and the registry removed its workers $(ms "$t_term" "$(date -d "$dereg" +%s.%N)") ms later${N}"
	fi
fi
note "waiting for the pool to come back to $want ready workers (the requeued job restarts when a node is free)"
t_back=
for _ in $(seq 1200); do
	ready=$(ctl -o json status | jget 'j["workers"]["ready"]')
	if [ "$ready" -ge "$want" ]; then t_back=$(now); break; fi
	sleep 0.1
done
[ -n "$t_back" ] || die "the pool did not come back to $want ready workers"
note "${G}back to $want ready workers $(secs "$t_gone" "$t_back") s after the preemption${N} (SLURM requeues a preempted job with a short begin-time delay)"
ctl status | sed 's/^/    /'

key=$(ctl key 2>/dev/null || true)
step "Done in $(secs "$T_START" "$(now)") s. Use the endpoint:"
cat <<EOF
    base URL:  $URL/v1
    model:     $MODEL
    API key:   ${key:-(none needed on loopback)}

    curl $URL/v1/chat/completions -H 'Content-Type: application/json' \\
        -H 'Authorization: Bearer ${key:-EMPTY}' \\
        -d '{"model": "$MODEL", "messages": [{"role": "user", "content": "Hello"}]}'

    from openai import OpenAI
    client = OpenAI(base_url="$URL/v1", api_key="${key:-EMPTY}")
    r = client.chat.completions.create(model="$MODEL",
            messages=[{"role": "user", "content": "Hello"}])
    print(r.choices[0].message.content)

    ELASTIC_REGISTRY_URL=$URL cli/elasticctl top      # live dashboard
    make demo-down                                    # stop everything
EOF
