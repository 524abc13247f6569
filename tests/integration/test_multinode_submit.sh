#!/usr/bin/env bash
# timeout: 90
# sbatch --elastic-serve with a model of workers spanning 2 nodes of 4 GPUs
# (tp = 8): a job whose node count 2 does not divide, or whose nodes do not
# have 4 GPUs each, fails at submission with a clear message and no job
# exists; from the command line, SBATCH_GRES or the script's #SBATCH lines.
# What sbatch cannot tell (-n 3 without --nodes) is caught in the batch step
# before anything starts.
# shellcheck source=tests/integration/plugin_lib.sh
. "$(dirname "$0")/plugin_lib.sh"

start_registry
use_plugin
write_model_mn big 2 4
serve_script
cat >"$ES_TEST_DIR/three.sh" <<'SCRIPT'
#!/bin/sh
#SBATCH --nodes=3
#SBATCH --gres=gpu:4
exec "$ELASTIC_AGENT" --wait
SCRIPT
chown "$ES_CLUSTER_USER" "$ES_TEST_DIR/three.sh"

before=$(squeue -h | wc -l)
refused() { # WANT SBATCH_ARG...
	local want=$1 out
	shift
	if out=$(as_user sbatch --parsable "$@" 2>&1); then
		track_job "${out%%;*}"
		die "sbatch $* was accepted (job ${out%%;*})"
	fi
	grep -q "^sbatch: error: elastic_serve: big.toml: " <<<"$out" && grep -qF "$want" <<<"$out" ||
		die "sbatch $*: $out"
	log "refused: sbatch $*"
}
refused "parallel.nodes_per_worker = 2: the job's nodes must be a multiple of 2, and it asks for 3 (--nodes=3): submit it with --nodes=2" \
	-N 3 --gres=gpu:4 --elastic-serve=big.toml serve.sh
refused "uses 4 GPU(s) on each node, and the job asks for 8 per node (--gres=gpu:8): submit it with --gres=gpu:4, or set parallel.tp = 16" \
	-N 2 --gres=gpu:8 --elastic-serve=big.toml serve.sh
refused "and the job asks for none (no --gres or --gpus-per-node): submit it with --gres=gpu:4" \
	-N 2 --elastic-serve=big.toml serve.sh
refused "it asks for 3 (line 2 of the script: --nodes=3)" --elastic-serve=big.toml three.sh
out=$(as_user env SBATCH_GRES=gpu:2 sbatch --parsable -N 2 --elastic-serve=big.toml serve.sh 2>&1) &&
	die "SBATCH_GRES=gpu:2 was accepted"
grep -qF "asks for 2 per node (SBATCH_GRES=gpu:2)" <<<"$out" || die "SBATCH_GRES: $out"
[ "$(squeue -h | wc -l)" -eq "$before" ] || die "a refused submission left a job: $(squeue -h)"

# The command line wins over the script, as in sbatch.
job=$(submit -N 2 --elastic-serve=big.toml -o out-%j.txt three.sh)
wait_workers "$job" ready 1 60
log "job $job (script says 3 nodes, the command line 2) serves"
scancel "$job"

# Not knowable at submission: the batch step refuses before starting anything.
job=$(submit -n 3 --ntasks-per-node=1 --gres=gpu:4 --elastic-serve=big.toml -o out-%j.txt serve.sh)
wait_job_state "$job" "FAILED|COMPLETED" 60
grep -q "elastic_serve: the job has 3 node(s), but parallel.nodes_per_worker = 2 needs a multiple of 2: submit it with --nodes=2" \
	"$ES_TEST_DIR/out-$job.txt" || die "batch step: $(cat "$ES_TEST_DIR/out-$job.txt")"
[ "$(job_state "$job")" = FAILED ] || die "job $job is $(job_state "$job")"
! grep -q "elastic-agent" "$ES_TEST_DIR/out-$job.txt" || die "an agent started: $(cat "$ES_TEST_DIR/out-$job.txt")"
log "job $job on 3 nodes failed in its batch step, nothing started"
