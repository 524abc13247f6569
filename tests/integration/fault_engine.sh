#!/bin/sh
# fault_engine.sh — an engine for the fault tests (engine.kind = "command"):
# elastic-sim, with FAULT_FLAGS only on the slice whose GPUs are FAULT_GPUS,
# so that one engine of a job misbehaves and the others serve.
#
#   command = [".../fault_engine.sh", "{gpus}", "0,1", "--hang-after 30",
#              ".../elastic-sim", "--model", "{path}", "--port", "{port}", ...]
gpus=$1 fault_gpus=$2 fault_flags=$3
shift 3
if [ "$gpus" = "$fault_gpus" ]; then
	# shellcheck disable=SC2086 # the flags are words
	exec "$@" $fault_flags
fi
exec "$@"
