#!/usr/bin/env bash
# deps.sh — install the Debian packages elastic-serve needs, only those missing.
#
#   scripts/deps.sh          install what is missing (root), say what
#   scripts/deps.sh --check  exit 0 when nothing is missing, 1 otherwise
#
# Runs `apt-get update` at most once, and only when something must be installed.
set -euo pipefail

# Build and runtime dependencies.
PKGS=(
	build-essential pkg-config
	libevent-dev libjson-c-dev libcurl4-openssl-dev libmunge-dev munge check
	libslurm-dev slurm-wlm slurm-client
	curl python3 mandoc procps iproute2 acl
	# make fuzz: clang's libFuzzer and sanitizer runtimes (clang: below)
	libclang-rt-dev
)
# Tools that tests and benchmarks use, as COMMAND:PACKAGE: a command already
# on the PATH (from any source) counts as present. nginx and wrk for the proxy
# benchmark, clang for the fuzzers, node and npm for the OpenAI SDK client test.
TOOLS=(nginx:nginx-light wrk:wrk clang:clang node:nodejs npm:npm)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
for t in "${TOOLS[@]}"; do
	PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done

if [ "${1:-}" = --check ]; then
	[ ${#missing[@]} -eq 0 ] && exit 0
	echo "deps: missing packages: ${missing[*]}" >&2
	exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run 'make deps' as root to install them" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} package(s)"
