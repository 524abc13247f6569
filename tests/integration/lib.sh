# shellcheck shell=bash
# lib.sh — sourced by every tests/integration/test_*.sh (run as root from
# the repository root by tests/check_integration.c).
#
# The programs come from ES_BIN (default: the checkout), a tree laid out as
# the source tree: ES_BIN/registry/elastic-registry, agent/elastic-agent,
# sim/elastic-sim, cli/elasticctl (make check-leaks points it at their
# sanitizer builds in build/san).
#
# Brings the local cluster up if it is not (scripts/cluster.sh up), sources
# build/cluster/env (SLURM_CONF, ES_CLUSTER_*), makes the test's own job
# directory ES_TEST_DIR (build/cluster/jobs/NAME, owned by the test user, the
# working directory of its jobs and of as_user), and installs an EXIT trap
# that runs the on_exit hooks, then cancels the test's jobs.
#
#   log MSG...                  timestamped line on stderr
#   die MSG...                  log "FAIL: MSG" and exit 1
#   as_user CMD...              run CMD as the test user, in ES_TEST_DIR, with the cluster env
#   submit SBATCH_ARG...        sbatch --parsable as the test user; prints the job id;
#                               the job is cancelled when the test exits
#   track_job ID                cancel job ID too when the test exits (jobs others submitted)
#   forget_jobs                 forget the jobs to cancel (after restarting the cluster:
#                               job ids start again at 1)
#   job_state ID                PENDING, RUNNING, COMPLETED, ... (UNKNOWN once forgotten)
#   job_field ID FIELD          a field of `scontrol show job` (NodeList, Reason, Restarts, ...)
#   wait_for TIMEOUT_S DESC CMD...   poll CMD every 0.2 s; fail the test with DESC on timeout
#   wait_job_state ID STATES TIMEOUT_S   until the job's state is one of STATES ("A|B")
#   preempt_node NODE [SBATCH_ARG...]    submit a `high` job taking NODE's 8 GPUs; prints its id
#   free_port                   a TCP port that is free now
#   set_plugstack ARG...        plugstack.conf with these plugin arguments, restored at exit
#   on_exit CMD...              run CMD when the test exits (last registered runs first)
#
# Timings (2-core VM, Slurm 22.05, the settings of scripts/cluster.sh): a
# `high` job preempts a running `low` job about 0.2..1 s after its
# submission (the submission triggers a scheduling pass); the `low` job
# gets SIGTERM then, SIGKILL ES_CLUSTER_KILLWAIT s later if it is still
# there, and the `high` job starts as soon as the `low` job is gone. The
# requeued job is pending (Reason=BeginTime) for ES_CLUSTER_CRED_EXPIRE + 1
# s, then starts within 2 s where resources are free: 10..12 s in all.
set -euo pipefail

ES_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ES_BIN=${ES_BIN:-$ES_REPO}
export ES_BIN
ES_TEST_NAME=$(basename "$0" .sh)
ES_TEST_NAME=${ES_TEST_NAME#test_}

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S.%3N)" "$ES_TEST_NAME" "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "integration tests run as root (they submit jobs as the test user)"
if ! "$ES_REPO/scripts/cluster.sh" status -q || [ ! -f "$ES_REPO/build/cluster/env" ]; then
	"$ES_REPO/scripts/cluster.sh" up >&2 || die "cannot bring the local cluster up"
fi
# shellcheck source=/dev/null
. "$ES_REPO/build/cluster/env"

ES_TEST_DIR=$ES_CLUSTER_JOBDIR/$ES_TEST_NAME
rm -rf "$ES_TEST_DIR"
install -d -m 0755 -o "$ES_CLUSTER_USER" -g "$(id -gn "$ES_CLUSTER_USER")" "$ES_TEST_DIR"
_ES_JOBS=$(mktemp)
_ES_HOOKS=()
_ES_PLUGSTACK_SAVED=

as_user() {
	(cd "$ES_TEST_DIR" && runuser -u "$ES_CLUSTER_USER" -- "$@")
}

track_job() { echo "$1" >>"$_ES_JOBS"; }
forget_jobs() { : >"$_ES_JOBS"; }

submit() {
	local out
	out=$(as_user sbatch --parsable --chdir="$ES_TEST_DIR" "$@") || return
	out=${out%%;*}
	track_job "$out"
	echo "$out"
}

job_field() {
	local line
	line=$(scontrol -o show job "$1" 2>/dev/null) || {
		echo UNKNOWN
		return 0
	}
	if [[ " $line" =~ \ $2=([^ ]*) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo UNKNOWN
	fi
}

job_state() { job_field "$1" JobState; }

wait_for() {
	local timeout=$1 desc=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) + timeout * 1000000000))
	until "$@"; do
		[ "$(date +%s%N)" -lt "$deadline" ] || die "timed out after ${timeout} s waiting for $desc"
		sleep 0.2
	done
}

_es_state_is() { [[ "|$2|" == *"|$(job_state "$1")|"* ]]; }

wait_job_state() {
	wait_for "$3" "job $1 to be $2 (it is $(job_state "$1"))" _es_state_is "$1" "$2"
}

preempt_node() {
	local node=$1
	shift
	submit -p high -w "$node" --gres=gpu:8 -n 1 -J es-preempt-"$node" \
		-o /dev/null "$@" --wrap 'exec sleep 3600'
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

on_exit() { _ES_HOOKS+=("$(printf '%q ' "$@")"); }

set_plugstack() {
	if [ -z "$_ES_PLUGSTACK_SAVED" ]; then
		_ES_PLUGSTACK_SAVED=$(mktemp)
		cp "$ES_CLUSTER_DIR/plugstack.conf" "$_ES_PLUGSTACK_SAVED"
	fi
	"$ES_REPO/scripts/cluster.sh" plugstack "$@" >&2
}

_es_cleanup() {
	local rc=$? i ids
	set +e
	for ((i = ${#_ES_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${_ES_HOOKS[i]}"
	done
	if [ -n "$_ES_PLUGSTACK_SAVED" ]; then
		install -m 0644 "$_ES_PLUGSTACK_SAVED" "$ES_CLUSTER_DIR/plugstack.conf.restore" &&
			mv -f "$ES_CLUSTER_DIR/plugstack.conf.restore" "$ES_CLUSTER_DIR/plugstack.conf"
		rm -f "$_ES_PLUGSTACK_SAVED"
	fi
	ids=$(sort -u "$_ES_JOBS" | tr '\n' ' ')
	rm -f "$_ES_JOBS"
	if [ -n "${ids// /}" ]; then
		# shellcheck disable=SC2086 # one id a word
		scancel $ids 2>/dev/null
		# Leave the nodes free for the next test (KillWait at most).
		local deadline=$((SECONDS + ES_CLUSTER_KILLWAIT + 10)) busy
		while [ "$SECONDS" -lt "$deadline" ]; do
			# shellcheck disable=SC2086
			busy=$(squeue -h -j "${ids// /,}" -t PD,R,CG,S,CF,RS 2>/dev/null)
			[ -n "$busy" ] || break
			sleep 0.2
		done
	fi
	if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAIL (exit status $rc)"; fi
	exit "$rc"
}
trap _es_cleanup EXIT
