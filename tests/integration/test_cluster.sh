#!/usr/bin/env bash
# test_cluster.sh — the local cluster itself (scripts/cluster.sh): nodes and
# fake GPUs, jobs of the test user, GPU packing, preemption and requeue
# (timed), KillWait, the plugstack, and down/up. Leaves the cluster up.
# timeout: 240
# shellcheck source-path=SCRIPTDIR disable=SC2016 # (job scripts in single quotes expand in the job)
. "$(dirname "$0")/lib.sh"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# le A B: A <= B, as decimals
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
file_has() { [ -f "$1" ] && grep -q -- "$2" "$1"; }
lines_matching() { if [ -f "$2" ]; then grep -c -- "$1" "$2" || true; else echo 0; fi; }
cd "$ES_TEST_DIR" || exit

# ------------------------------------------------------------ nodes
want="n1 idle gpu:8|n2 idle gpu:8|n3 idle gpu:8|"
nodes_idle() { [ "$(sinfo -h -N -p low -o '%N %t %G' | sort | tr '\n' '|')" = "$want" ]; }
wait_for 30 "n1..n3 idle, each with gpu:8" nodes_idle
log "sinfo: $(sinfo -h -N -p low -o '%N %t %G' | sort | tr '\n' ';')"

# ------------------------------------------------------------ one job, four GPUs
cat >gpus.sh <<'EOF'
#!/bin/bash
echo "user=$(id -un) node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES"
exec sleep "${1:-0}"
EOF
chmod 0755 gpus.sh
id=$(submit --gres=gpu:4 -n 1 -o gpus-%j.out gpus.sh)
wait_job_state "$id" COMPLETED 30
out=$(cat "gpus-$id.out")
log "job $id: $out"
[[ $out == "user=$ES_CLUSTER_USER "* ]] || die "job $id did not run as $ES_CLUSTER_USER: $out"
[[ $out =~ cvd=([0-7]),([0-7]),([0-7]),([0-7])$ ]] || die "job $id does not see four GPUs: $out"

# ------------------------------------------------------------ two gpu:4 jobs on one node
a=$(submit --gres=gpu:4 -n 1 -w n2 -o gpus-%j.out gpus.sh 60)
b=$(submit --gres=gpu:4 -n 1 -w n2 -o gpus-%j.out gpus.sh 60)
wait_job_state "$a" RUNNING 20
wait_job_state "$b" RUNNING 20
both_printed() { file_has "gpus-$a.out" cvd= && file_has "gpus-$b.out" cvd=; }
wait_for 10 "both jobs to print their GPUs" both_printed
ga=$(sed -n 's/.*cvd=//p' "gpus-$a.out")
gb=$(sed -n 's/.*cvd=//p' "gpus-$b.out")
log "two gpu:4 jobs on n2 at once: $a has $ga, $b has $gb"
[ "$(tr ',' '\n' <<<"$ga,$gb" | sort -u | wc -l)" -eq 8 ] || die "GPU sets overlap or are short: $ga / $gb"
scancel "$a" "$b"

# ------------------------------------------------------------ preemption and requeue
# The low job logs when it starts and when it gets SIGTERM, then exits, as
# a well-behaved engine would.
cat >low.sh <<'EOF'
#!/bin/bash
echo "start $(date +%s.%N) node=$SLURMD_NODENAME restarts=${SLURM_RESTART_COUNT:-0}"
trap 'echo "term $(date +%s.%N)"; exit 143' TERM
while :; do sleep 0.1; done
EOF
chmod 0755 low.sh
low=$(submit --gres=gpu:4 -n 1 --open-mode=append -o low-%j.out low.sh)
wait_job_state "$low" RUNNING 20
wait_for 10 "job $low to start" file_has "low-$low.out" start
node=$(job_field "$low" NodeList)
t_submit=$(now)
high=$(preempt_node "$node")
wait_for 20 "low job $low to get SIGTERM" file_has "low-$low.out" term
t_term=$(awk '/^term/ {print $2}' "low-$low.out")
wait_job_state "$high" RUNNING 20
t_high=$(now)
wait_job_state "$low" PENDING 10
reason=$(job_field "$low" Reason)
log "low job $low requeued: state PENDING, reason $reason, restarts $(job_field "$low" Restarts)"
started_twice() { [ "$(lines_matching ^start "low-$low.out")" -ge 2 ]; }
wait_for $((ES_CLUSTER_CRED_EXPIRE + 20)) "requeued job $low to run again" started_twice
t_again=$(awk '/^start/ {t = $2} END {print t}' "low-$low.out")
node2=$(job_field "$low" NodeList)
log "timing: submit high -> SIGTERM to low: $(secs "$t_submit" "$t_term") s"
log "timing: SIGTERM -> high job seen running: $(secs "$t_term" "$t_high") s (seen by polling every 0.2 s)"
log "timing: SIGTERM -> requeued low job running again (on $node2): $(secs "$t_term" "$t_again") s" \
	"(cred_expire $ES_CLUSTER_CRED_EXPIRE s)"
[ "$reason" = BeginTime ] || die "a requeued job should wait with reason BeginTime, not $reason"
grep -q 'restarts=1' "low-$low.out" || die "second run of $low does not see SLURM_RESTART_COUNT=1"
[ "$(job_field "$high" NodeList)" = "$node" ] || die "high job $high is not on $node"
[ "$node2" != "$node" ] || die "requeued job $low runs on $node, which the high job holds"
le "$(secs "$t_submit" "$t_term")" 5 || die "preemption took too long"
le "$(secs "$t_term" "$t_again")" $((ES_CLUSTER_CRED_EXPIRE + 8)) || die "requeue took too long"
scancel "$low" "$high"
gone() { [ -z "$(squeue -h -j "$1")" ]; }
wait_for 30 "jobs $low and $high to end" gone "$low,$high"

# ------------------------------------------------------------ KillWait
# A job that ignores SIGTERM is killed KillWait seconds later; until then
# the preempting job waits.
cat >stubborn.sh <<'EOF'
#!/bin/bash
trap 'echo "term $(date +%s.%N)"' TERM
echo "start $(date +%s.%N)"
while :; do date +%s.%N >"alive-$SLURM_JOB_ID"; sleep 0.1; done
EOF
chmod 0755 stubborn.sh
st=$(submit --gres=gpu:4 -n 1 -o stubborn-%j.out stubborn.sh)
wait_job_state "$st" RUNNING 20
wait_for 10 "job $st to start" file_has "stubborn-$st.out" start
high=$(preempt_node "$(job_field "$st" NodeList)")
wait_for 20 "job $st to get SIGTERM" file_has "stubborn-$st.out" term
wait_job_state "$high" RUNNING $((ES_CLUSTER_KILLWAIT + 20))
t_high=$(now)
sleep 0.5
t_term=$(awk '/^term/ {print $2; exit}' "stubborn-$st.out")
t_last=$(cat "alive-$st")
log "timing: SIGTERM -> SIGKILL of a job that ignores SIGTERM: $(secs "$t_term" "$t_last") s" \
	"(KillWait $ES_CLUSTER_KILLWAIT s); high job seen running $(secs "$t_term" "$t_high") s after SIGTERM"
le $((ES_CLUSTER_KILLWAIT - 1)) "$(secs "$t_term" "$t_last")" || die "SIGKILL came before KillWait"
le "$(secs "$t_term" "$t_last")" $((ES_CLUSTER_KILLWAIT + 3)) || die "SIGKILL came long after KillWait"
scancel "$st" "$high"

# ------------------------------------------------------------ plugstack
# An optional entry whose .so is missing must not stop jobs.
set_plugstack
printf 'optional %s/no-such-plugin.so\n' "$ES_CLUSTER_DIR" >"$ES_CLUSTER_DIR/plugstack.conf"
id=$(submit -n 1 -o plain-%j.out --wrap 'echo ran')
wait_job_state "$id" COMPLETED 30
[ "$(cat "plain-$id.out")" = ran ] || die "job $id with a missing optional plugin: $(cat "plain-$id.out")"
log "a missing optional plugin is harmless (job $id ran)"

# A real plugin is loaded by sbatch as the test user and by slurmstepd,
# with its arguments, and a rewrite takes effect with no restart.
cc -std=gnu11 -Wall -Wextra -Werror -shared -fPIC -o probe.so "$ES_REPO/tests/integration/spank_probe.c"
chmod 0755 probe.so
ES_PLUGIN=$ES_TEST_DIR/probe.so set_plugstack tag=first
help=$(as_user sbatch --help)
grep -q -- '--es-probe' <<<"$help" || die "sbatch --help does not list the probe plugin's option"
id=$(submit -n 1 -o probe-%j.out --es-probe=opt1 --wrap 'echo "tag=$ES_PROBE_TAG opt=$ES_PROBE_OPT"')
wait_job_state "$id" COMPLETED 30
[ "$(cat "probe-$id.out")" = "tag=first opt=opt1" ] || die "probe job $id: $(cat "probe-$id.out")"
ES_PLUGIN=$ES_TEST_DIR/probe.so set_plugstack tag=second
id=$(submit -n 1 -o probe-%j.out --es-probe=opt2 --wrap 'echo "tag=$ES_PROBE_TAG opt=$ES_PROBE_OPT"')
wait_job_state "$id" COMPLETED 30
[ "$(cat "probe-$id.out")" = "tag=second opt=opt2" ] || die "probe job $id: $(cat "probe-$id.out")"
log "plugin loaded by sbatch and slurmstepd; plugstack rewrite took effect with no restart"

# ------------------------------------------------------------ down and up
# cluster_procs: this cluster's processes, found independently of cluster.sh.
cluster_procs() {
	local p cwd
	pgrep -f -- "$SLURM_CONF" || true
	for p in $(pgrep -x slurmstepd); do
		cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
		[[ $cwd != "$ES_CLUSTER_DIR"/* ]] || echo "$p"
	done
	grep -lzFx "SLURM_CLUSTER_NAME=$ES_CLUSTER_NAME" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
}
# A running job with a process that left the job's process tree, and a
# process of "another cluster" that down must leave alone.
id=$(submit -n 1 -o /dev/null --wrap 'setsid -f sleep 1000; exec sleep 1000')
wait_job_state "$id" RUNNING 20
SLURM_CLUSTER_NAME=es-other-cluster setsid -f sleep 1001
other=$(pgrep -n -f '^sleep 1001$')
on_exit kill "$other"
two_sleeps() { [ "$(pgrep -c -x -f 'sleep 1000')" -ge 2 ]; }
wait_for 10 "the job's escaped process" two_sleeps
log "processes of the cluster before down: $(cluster_procs | sort -u | wc -l)"
"$ES_REPO/scripts/cluster.sh" down >&2
left=$(cluster_procs | sort -u)
if [ -n "$left" ]; then
	# shellcheck disable=SC2086
	ps -o pid,ppid,user,args -p $left >&2 || true
	die "processes of the cluster survive down"
fi
kill -0 "$other" 2>/dev/null || die "down killed a process of another cluster"
munge -n | unmunge >/dev/null || die "munged does not work after down"
"$ES_REPO/scripts/cluster.sh" down >&2 || die "a second down fails"
log "down left no process of the cluster; munged still works; down is idempotent"
t0=$(now)
"$ES_REPO/scripts/cluster.sh" up >&2
log "timing: up from down: $(secs "$t0" "$(now)") s"
forget_jobs # job ids start again at 1
wait_for 5 "n1..n3 idle after up" nodes_idle
out=$("$ES_REPO/scripts/cluster.sh" up 2>&1)
[[ $out == *"already up"* ]] || die "a second up did not find the cluster up: $out"
log "up is idempotent"
