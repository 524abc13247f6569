#!/usr/bin/env bash
# cluster.sh — a real SLURM cluster on this machine, for the integration
# tests and the demo: slurmctld plus three slurmd nodes n1..n3 with 8 fake
# GPUs each, partitions `low` (default, preemptible, requeued) and `high`.
#
#   scripts/cluster.sh up              start it (idempotent); returns once n1..n3 are up
#   scripts/cluster.sh down            stop it: daemons, job steps, job processes (idempotent)
#   scripts/cluster.sh status [-q]     sinfo and squeue (-q: only the exit status: 0 = up)
#   scripts/cluster.sh plugstack [ARG...]
#                                      rewrite plugstack.conf with these plugin arguments
#
# Everything (config, state, spool, logs, pid files, fake devices) lives in
# build/cluster/ of the checkout this script belongs to. `source
# build/cluster/env` gives SLURM_CONF and the ES_CLUSTER_* variables. Needs
# root (mknod, useradd, runuser); munged is shared and left running.
#
# Environment (read by `up`; a change of any of them restarts the cluster):
#   ES_CLUSTER_PORT_BASE  slurmctld port; slurmd n1..n3 listen on BASE+1..BASE+3.
#                         Default: derived from the checkout's path (17000..24980),
#                         so that clusters of two checkouts run side by side.
#   ES_CLUSTER_USER       the non-root user that tests submit as (estest)
#   ES_CLUSTER_KILLWAIT   seconds between SIGTERM and SIGKILL (10): the grace
#                         time an agent gets at preemption, scancel, time limit
#   ES_CLUSTER_CRED_EXPIRE  seconds a requeued job waits before it may run again (10)
#   ES_CLUSTER_CPUS, ES_CLUSTER_MEM_MB   what each node declares (16, 65536)
#   ES_CLUSTER_UP_TIMEOUT seconds `up` waits for the nodes (60)
# Read by `up` and `plugstack`:
#   ES_PLUGIN             the SPANK plugin (default: spank/elastic_serve.so of this checkout)
#   ES_PLUGIN_ARGS        its arguments, e.g. "registry=http://127.0.0.1:8780"
#
# How fast preemption goes round, measured on a 2-core Debian 12 VM with
# Slurm 22.05.8 (tests/integration/test_cluster.sh prints it on each run):
#   - submit a `high` job -> SIGTERM to the `low` job: 0.2..1 s. The
#     submission triggers a scheduling pass at once; partition_prio
#     preempts in it (2.9 s in a run with Slurm's default settings).
#   - SIGTERM -> SIGKILL: KillWait (ES_CLUSTER_KILLWAIT). A job that exits on
#     SIGTERM frees its GPUs at once and the `high` job starts within 0.2 s;
#     one that ignores SIGTERM holds them KillWait s (measured 9.6..10 s).
#   - the requeued job is pending (Reason=BeginTime): Slurm sets a requeued
#     job's begin time to now + AuthInfo cred_expire + 1 (cred_expire
#     defaults to 120 s; slurmd remembers a killed job's revoked credential
#     that long, and would refuse the same job id earlier). We set cred_expire=ES_CLUSTER_CRED_EXPIRE (10; Slurm's
#     minimum is 5, below it falls back to 120 with an error).
#   - eligible -> running: nothing wakes the scheduler when a begin time
#     passes; the main loop runs every sched_interval (default 60 s),
#     backfill every bf_interval (default 30 s). We set sched_interval=2
#     and bf_interval=1, cheap on three nodes.
#   SIGTERM -> requeued job running again: 11..12 s with these settings
#   (7 s with ES_CLUSTER_CRED_EXPIRE=5), 173 s with Slurm's defaults
#   (eligible after 121 s, then 53 s until a scheduling pass).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DIR=$REPO/build/cluster
CONF=$DIR/slurm.conf
NODES=(n1 n2 n3)
PROG=cluster

say() { printf '%s: %s\n' "$PROG" "$*"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# A checkout's name for its cluster and its default ports come from a hash
# of its path: stable across runs, different between checkouts.
HASH=$(printf '%s' "$DIR" | sha1sum | cut -c1-8)
NAME=es${HASH:0:6}

# Values exported by another checkout's build/cluster/env must not leak
# into this one's cluster.
if [ -n "${ES_CLUSTER_DIR:-}" ] && [ "$ES_CLUSTER_DIR" != "$DIR" ]; then
	warn "ignoring ES_CLUSTER_* from the environment of another checkout's cluster ($ES_CLUSTER_DIR)"
	unset ES_CLUSTER_PORT_BASE ES_CLUSTER_USER ES_CLUSTER_KILLWAIT ES_CLUSTER_CRED_EXPIRE \
		ES_CLUSTER_CPUS ES_CLUSTER_MEM_MB
fi
PORT_BASE=${ES_CLUSTER_PORT_BASE:-$((17000 + (16#${HASH:0:4} % 400) * 20))}
TUSER=${ES_CLUSTER_USER:-estest}
KILLWAIT=${ES_CLUSTER_KILLWAIT:-10}
CRED_EXPIRE=${ES_CLUSTER_CRED_EXPIRE:-10}
CPUS=${ES_CLUSTER_CPUS:-16}
MEM_MB=${ES_CLUSTER_MEM_MB:-65536}
UP_TIMEOUT=${ES_CLUSTER_UP_TIMEOUT:-60}
PLUGIN=${ES_PLUGIN:-$REPO/spank/elastic_serve.so}
CTLD_PORT=$PORT_BASE
NODE_PORTS=("$((PORT_BASE + 1))" "$((PORT_BASE + 2))" "$((PORT_BASE + 3))")

for v in PORT_BASE KILLWAIT CRED_EXPIRE CPUS MEM_MB UP_TIMEOUT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done
{ [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 65530 ]; } || die "ES_CLUSTER_PORT_BASE $PORT_BASE out of range"
[ "$CRED_EXPIRE" -ge 5 ] || die "ES_CLUSTER_CRED_EXPIRE must be at least 5 (Slurm's minimum)"
[[ $DIR != *[[:space:]]* ]] || die "slurm.conf cannot hold paths with blanks: $DIR"

export SLURM_CONF=$CONF

# ---------------------------------------------------------------- processes
# Which processes belong to this cluster, never to another one on the
# machine (pids may be reused, names are shared):
#   - slurmctld and slurmd are started with ES_CLUSTER_DAEMON=$DIR in their
#     environment;
#   - slurmstepd overwrites its environment (setproctitle), but like the
#     daemons it runs in $DIR/log and holds the node's log file open;
#   - job processes are its descendants, and carry SLURM_CLUSTER_NAME=$NAME
#     even when they escaped the process tree (daemonized).

# is_own PID: is it a daemon (slurmctld, slurmd) of this cluster?
is_own() {
	grep -qzFx "ES_CLUSTER_DAEMON=$DIR" "/proc/$1/environ" 2>/dev/null
}

# daemon_pid NAME: the pid of this cluster's running daemon NAME
# (slurmctld, slurmd-n1, ...), or fail.
daemon_pid() {
	local pid
	pid=$(cat "$DIR/run/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && is_own "$pid" || return 1
	echo "$pid"
}

# all_up: are slurmctld and every slurmd of this cluster running?
all_up() {
	local d
	for d in slurmctld "${NODES[@]/#/slurmd-}"; do
		daemon_pid "$d" >/dev/null || return 1
	done
}

# own_procs: every process of this cluster (daemons, slurmstepd, job
# processes and their descendants), one pid a line, never this script.
own_procs() {
	local pid ppid cwd
	declare -A own=()
	while read -r pid; do
		[ -n "$pid" ] && own[$pid]=1
	done < <(grep -lzFx -e "ES_CLUSTER_DAEMON=$DIR" -e "SLURM_CLUSTER_NAME=$NAME" \
		/proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
	for pid in $(ps -e -o pid=,comm= | awk '$2 ~ /^(slurmctld|slurmscriptd|slurmd|slurmstepd)$/ {print $1}'); do
		cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
		if [[ $cwd == "$DIR"/* ]] ||
			[ -n "$(find "/proc/$pid/fd" -lname "$DIR/*" -print -quit 2>/dev/null)" ]; then
			own[$pid]=1
		fi
	done
	# Add descendants (a job may scrub its environment) until nothing changes.
	local table changed=1
	table=$(ps -e -o pid=,ppid=)
	while [ "$changed" = 1 ]; do
		changed=0
		while read -r pid ppid; do
			if [ -n "${own[$ppid]:-}" ] && [ -z "${own[$pid]:-}" ]; then
				own[$pid]=1
				changed=1
			fi
		done <<<"$table"
	done
	# Never this script, its subshells or its callers.
	local p=$BASHPID
	unset "own[$$]"
	while [ "$p" -gt 1 ]; do
		unset "own[$p]"
		p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || echo 1)
	done
	# Zombies are gone already; only their parent (or init) can reap them.
	for pid in "${!own[@]}"; do
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == [RSDTt] ]] && echo "$pid"
	done
	return 0
}

# ---------------------------------------------------------------- setup
ensure_munge() {
	if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
		return 0
	fi
	# No socket: no munged serves this root (a munged seen by pgrep may
	# belong to another root or container sharing the pid namespace).
	if [ ! -S /run/munge/munge.socket.2 ]; then
		[ -s /etc/munge/munge.key ] || {
			say "creating /etc/munge/munge.key"
			mungekey --create --keyfile=/etc/munge/munge.key
			chown munge:munge /etc/munge/munge.key
			chmod 0400 /etc/munge/munge.key
		}
		say "starting munged"
		mkdir -p /run/munge
		chown munge:munge /run/munge
		runuser -u munge -- /usr/sbin/munged || die "cannot start munged (see /var/log/munge/munged.log)"
	fi
	local i
	for i in $(seq 50); do
		if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	munge -n | unmunge >&2 || true
	die "munge does not work: 'munge -n | unmunge' fails (see /var/log/munge/munged.log)"
}

ensure_user() {
	if ! id -u "$TUSER" >/dev/null 2>&1; then
		say "creating the test user $TUSER"
		useradd --create-home --shell /bin/bash --comment "elastic-serve tests" "$TUSER"
	fi
	[ "$(id -u "$TUSER")" -ne 0 ] || die "the test user $TUSER must not be root"
}

# grant_path PATH...: let the test user reach each PATH, that is, search
# (x) every directory from / down to it. Where it cannot yet, give it an
# ACL entry u:USER:x, only that user, only search, not listing; without
# setfacl (package acl), fall back to o+x. Records what it changed in
# build/cluster/grants.
grant_path() {
	local target part path
	for target in "$@"; do
		runuser -u "$TUSER" -- test -x "$target" 2>/dev/null && continue
		path=
		local -a parts
		IFS=/ read -ra parts <<<"$target"
		for part in "${parts[@]}"; do
			[ -n "$part" ] || continue
			path=$path/$part
			[ -d "$path" ] || break
			runuser -u "$TUSER" -- test -x "$path" 2>/dev/null && continue
			if command -v setfacl >/dev/null && setfacl -m "u:$TUSER:x" "$path" 2>/dev/null; then
				say "granted $TUSER search permission on $path (setfacl -m u:$TUSER:x)"
				echo "setfacl -m u:$TUSER:x $path" >>"$DIR/grants"
			else
				chmod o+x "$path"
				warn "granted search permission on $path to all users (chmod o+x): setfacl" \
					"is missing (package acl) or the file system has no ACLs"
				echo "chmod o+x $path" >>"$DIR/grants"
			fi
		done
	done
}

# check_user_access: warn when the test user cannot read the plugin or run
# the programs that its jobs start (a checkout made with umask 077).
check_user_access() {
	local f bad=()
	for f in "$PLUGIN" "$REPO"/agent/elastic-agent "$REPO"/sim/elastic-sim \
		"$REPO"/registry/elastic-registry "$REPO"/cli/elasticctl "$REPO"/research/elastic-research; do
		[ -e "$f" ] || continue
		grant_path "$(dirname "$f")"
		runuser -u "$TUSER" -- test -r "$f" -a -x "$f" 2>/dev/null || bad+=("$f")
	done
	[ ${#bad[@]} -eq 0 ] ||
		warn "$TUSER cannot read and execute ${bad[*]}: jobs will fail to use them" \
			"(check the modes of the checkout, e.g. chmod -R a+rX $REPO)"
}

# The fake GPUs: character devices (Slurm refuses plain files), the same
# major/minor as /dev/null so that opening one is harmless.
make_devices() {
	local i
	mkdir -p "$DIR/dev"
	for i in 0 1 2 3 4 5 6 7; do
		[ -c "$DIR/dev/gpu$i" ] || mknod -m 0666 "$DIR/dev/gpu$i" c 1 3
	done
}

write_slurm_conf() { # FILE
	cat >"$1" <<EOF
# Written by scripts/cluster.sh: the local test cluster of $REPO.
# Regenerated by 'scripts/cluster.sh up'; edits are lost.
ClusterName=$NAME
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job may not start again before cred_expire seconds (default 120).
AuthInfo=cred_expire=$CRED_EXPIRE
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Nodes declare more CPUs and memory than the host has, so jobs pack densely.
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
PlugStackConfig=$DIR/plugstack.conf
# The grace between SIGTERM and SIGKILL (preemption, scancel, time limit).
KillWait=$KILLWAIT
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=n[1-3] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[${NODE_PORTS[0]}-${NODE_PORTS[2]}] CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:8 State=UNKNOWN
PartitionName=low  Nodes=n[1-3] Default=YES State=UP MaxTime=INFINITE PriorityTier=1  PreemptMode=REQUEUE
PartitionName=high Nodes=n[1-3] State=UP MaxTime=INFINITE PriorityTier=10 PreemptMode=OFF
EOF
}

write_gres_conf() {
	cat >"$DIR/gres.conf.tmp" <<EOF
# Written by scripts/cluster.sh: 8 fake GPUs (character devices) per node.
AutoDetect=off
NodeName=n[1-3] Name=gpu File=$DIR/dev/gpu[0-7]
EOF
	mv -f "$DIR/gres.conf.tmp" "$DIR/gres.conf"
}

# write_plugstack ARG...: plugstack.conf lists the plugin as `optional`.
# sbatch, srun and slurmstepd read the file anew each time, so a rewrite
# takes effect with the next submission, no restart (slurmd reads it only
# at startup, for the slurmd_init/slurmd_exit callbacks). An optional entry
# whose .so is missing is harmless (jobs run) but makes every sbatch print
# two "error: ... Dlopen of plugin file failed" lines, so until the plugin
# is built the entry is written commented out; `make cluster-up` and `make
# check-integration` build it first, then run `up`, which rewrites it.
write_plugstack() {
	local line="optional $PLUGIN"
	[ $# -eq 0 ] || line="$line $*"
	[ -f "$PLUGIN" ] || line="# (not built yet) $line"
	printf '# Written by scripts/cluster.sh (up or plugstack).\n%s\n' "$line" >"$DIR/plugstack.conf.tmp"
	chmod 0644 "$DIR/plugstack.conf.tmp"
	mv -f "$DIR/plugstack.conf.tmp" "$DIR/plugstack.conf"
}

write_env() {
	local tmp=$DIR/env.tmp
	cat >"$tmp" <<EOF
# Written by scripts/cluster.sh up: source it to use the local cluster.
export SLURM_CONF=$CONF
export ES_CLUSTER_DIR=$DIR
export ES_CLUSTER_NAME=$NAME
export ES_CLUSTER_USER=$TUSER
export ES_CLUSTER_HOME=$(getent passwd "$TUSER" | cut -d: -f6)
export ES_CLUSTER_JOBDIR=$DIR/jobs
export ES_CLUSTER_LOGDIR=$DIR/log
export ES_CLUSTER_NODES="${NODES[*]}"
export ES_CLUSTER_PORT_BASE=$PORT_BASE
export ES_CLUSTER_CTLD_PORT=$CTLD_PORT
export ES_CLUSTER_SLURMD_PORTS="${NODE_PORTS[*]}"
export ES_CLUSTER_KILLWAIT=$KILLWAIT
export ES_CLUSTER_CRED_EXPIRE=$CRED_EXPIRE
export ES_CLUSTER_CPUS=$CPUS
export ES_CLUSTER_MEM_MB=$MEM_MB
export ES_CLUSTER_PLUGIN=$PLUGIN
EOF
	chmod 0644 "$tmp"
	mv -f "$tmp" "$DIR/env"
}

# ---------------------------------------------------------------- up
# port_owner PORT: the pid listening on TCP PORT, empty when none, "?" when
# something listens that ss cannot name.
port_owner() {
	local line
	line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1)
	[ -n "$line" ] || return 0
	if [[ $line =~ pid=([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo "?"
	fi
}

check_ports() {
	local p pid desc
	for p in "$CTLD_PORT" "${NODE_PORTS[@]}"; do
		pid=$(port_owner "$p")
		[ -n "$pid" ] || continue
		if [ "$pid" != "?" ] && is_own "$pid"; then
			continue
		fi
		desc=$( [ "$pid" = "?" ] || ps -o pid=,args= -p "$pid" 2>/dev/null || true)
		die "port $p is taken by another program${desc:+ ($desc)}; this cluster needs ports $CTLD_PORT..$((CTLD_PORT + 3)): set ES_CLUSTER_PORT_BASE to a free base"
	done
}

show_logs() {
	local f n
	for n in slurmctld "${NODES[@]/#/slurmd-}"; do
		f=$DIR/log/$n.log
		[ -f "$f" ] || continue
		printf -- '---- %s (errors and last lines)\n' "$f" >&2
		# Noise: pmix and MPI (MpiDefault=none), no state files (fresh start).
		{
			grep -E 'error|fatal' "$f" |
				grep -vE 'pmix|MPI|Dlopen of plugin|plugin_load_from_file|state file|backup state' |
				tail -n 10
			tail -n 8 "$f"
		} | awk '!seen[$0]++' >&2
	done
}

# wait_nodes TIMEOUT: until every node answers (idle, or busy with jobs).
wait_nodes() {
	local deadline=$((SECONDS + $1)) out
	while :; do
		out=$(sinfo -h -N -p low -o '%N %t' 2>/dev/null || true)
		if [ "$(grep -cE '^n[1-3] (idle|mix|alloc|comp)$' <<<"$out")" -eq 3 ]; then
			return 0
		fi
		if ! all_up; then
			show_logs
			die "a daemon of the cluster died during startup (logs in $DIR/log)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			show_logs
			die "nodes not up after $1 s; sinfo says: $(tr '\n' ' ' <<<"$out")"
		fi
		sleep 0.2
	done
}

# resume_nodes: bring back nodes that a test left down or drained while
# their slurmd runs.
resume_nodes() {
	local nodes
	nodes=$(sinfo -h -N -p low -t down,drain,fail -o '%N' 2>/dev/null | sort -u | paste -sd, -)
	[ -z "$nodes" ] || {
		say "resuming nodes $nodes"
		scontrol update NodeName="$nodes" State=RESUME || true
	}
}

start_daemons() {
	local n
	rm -rf "$DIR/state" "$DIR/spool"
	mkdir -p "$DIR/state" "$DIR/run" "$DIR/log"
	for n in "${NODES[@]}"; do mkdir -p "$DIR/spool/$n"; done
	check_ports
	ES_CLUSTER_DAEMON=$DIR slurmctld -c -f "$CONF" 9>&- ||
		{ show_logs; die "slurmctld did not start"; }
	# (9>&-: the daemons must not inherit the lock.) slurmd registers at
	# once when slurmctld answers; otherwise it retries later, costing seconds.
	# Each ping is bounded: a controller that cannot be reached (a name that
	# does not resolve, a credential munged refuses) must fail the start,
	# not hang it for SLURM's message timeout a hundred times over.
	local i ok=
	for i in $(seq 100); do
		timeout 2 scontrol ping >/dev/null 2>&1 && { ok=1; break; }
		daemon_pid slurmctld >/dev/null || { show_logs; die "slurmctld exited at startup"; }
		sleep 0.1
	done
	[ -n "$ok" ] || { show_logs; die "slurmctld does not answer 'scontrol ping' (is localhost in /etc/hosts?)"; }
	for n in "${NODES[@]}"; do
		ES_CLUSTER_DAEMON=$DIR slurmd -f "$CONF" -N "$n" 9>&- ||
			{ show_logs; die "slurmd $n did not start"; }
	done
}

cmd_up() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (mknod, useradd, runuser)"
	local t0=$EPOCHREALTIME
	check_ports
	ensure_munge
	ensure_user
	mkdir -p "$DIR/run" "$DIR/log"
	chmod 0755 "$DIR"
	install -d -m 0755 -o "$TUSER" -g "$(id -gn "$TUSER")" "$DIR/jobs"
	make_devices
	write_gres_conf
	local -a args=()
	read -ra args <<<"${ES_PLUGIN_ARGS:-}"
	write_plugstack "${args[@]}"
	write_slurm_conf "$CONF.new"
	grant_path "$DIR/jobs" "$REPO"
	runuser -u "$TUSER" -- test -r "$CONF.new" ||
		die "$TUSER cannot read $CONF.new even after granting search permission on its path"
	check_user_access

	if all_up; then
		if cmp -s "$CONF.new" "$CONF"; then
			rm -f "$CONF.new"
			resume_nodes
			wait_nodes "$UP_TIMEOUT"
			write_env
			say "already up ($NAME, slurmctld port $CTLD_PORT)"
			return 0
		fi
		say "configuration changed: restarting the cluster"
		cmd_down
	elif [ -n "$(own_procs)" ]; then
		say "cluster partly running: cleaning up first"
		cmd_down
	fi
	mv -f "$CONF.new" "$CONF"
	start_daemons
	wait_nodes "$UP_TIMEOUT"
	write_env
	say "up in $(elapsed "$t0") s: $NAME, slurmctld port $CTLD_PORT, nodes ${NODES[*]} (source $DIR/env)"
}

# ---------------------------------------------------------------- down
# signal_all SIG: send SIG to every process of this cluster; print how many.
signal_all() {
	local pids
	pids=$(own_procs)
	[ -n "$pids" ] || {
		echo 0
		return 0
	}
	# shellcheck disable=SC2086 # one pid a word
	kill "-$1" $pids 2>/dev/null || true
	wc -w <<<"$pids"
}

cmd_down() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	local d pid i n
	# The daemons first (SIGTERM: they exit within a second).
	for d in "${NODES[@]/#/slurmd-}" slurmctld; do
		if pid=$(daemon_pid "$d"); then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	local all_gone
	for i in $(seq 50); do
		all_gone=1
		for d in "${NODES[@]/#/slurmd-}" slurmctld; do
			daemon_pid "$d" >/dev/null && all_gone=0
		done
		[ "$all_gone" = 1 ] && break
		sleep 0.1
	done
	# Then job steps and job processes, which outlive slurmd: SIGTERM, and
	# SIGKILL a second later (slurmstepd ignores SIGTERM).
	n=$(signal_all TERM)
	for i in $(seq 10); do
		[ -n "$(own_procs)" ] || break
		sleep 0.1
	done
	[ -z "$(own_procs)" ] || signal_all KILL >/dev/null
	for i in $(seq 30); do
		[ -n "$(own_procs)" ] || break
		sleep 0.1
	done
	local left
	left=$(own_procs)
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086
		ps -o pid,user,args -p $left >&2 || true
		die "processes of the cluster survived SIGKILL"
	fi
	rm -f "$DIR"/run/*.pid
	if [ "$n" -gt 0 ]; then
		say "down ($NAME); stopped $n leftover job step or job process(es)"
	else
		say "down ($NAME)"
	fi
}

# ---------------------------------------------------------------- status
cmd_status() {
	if [ "${1:-}" = -q ]; then
		all_up
		return
	fi
	if ! all_up; then
		say "not running ($NAME, $DIR)"
		return 1
	fi
	say "$NAME: slurmctld port $CTLD_PORT, slurmd ports ${NODE_PORTS[*]}, dir $DIR"
	sinfo -o '%10P %5a %.5D %8t %.4c %.8m %10G %N'
	squeue -o '%.6i %9P %16j %8u %.2t %.10M %.10b %R'
}

cmd_plugstack() {
	[ -d "$DIR" ] || die "no cluster in $DIR: run 'scripts/cluster.sh up' first"
	write_plugstack "$@"
	say "plugstack.conf: $(tail -n 1 "$DIR/plugstack.conf")"
}

# One up, down or plugstack at a time per checkout (tests may overlap).
lock() {
	mkdir -p "$DIR"
	exec 9>"$DIR/lock"
	flock 9
}

case "${1:-}" in
up)
	lock
	cmd_up
	;;
down)
	[ ! -d "$DIR" ] || lock
	cmd_down
	;;
status) cmd_status "${2:-}" ;;
munge) ensure_munge ;;
plugstack)
	shift
	[ ! -d "$DIR" ] || lock
	cmd_plugstack "$@"
	;;
*)
	echo "usage: scripts/cluster.sh up | down | status [-q] | munge | plugstack [ARG...]" >&2
	exit 2
	;;
esac
