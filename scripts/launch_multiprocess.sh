#!/usr/bin/env bash
# Meta-training over N local processes joined by JAX's distributed runtime (one per GPU, or CPU
# processes to try the multi-host path on one machine).
#
#   scripts/launch_multiprocess.sh N EXPERIMENT.py [field=value ...] [--workdir DIR]
#
# Each process sees one GPU (CUDA_VISIBLE_DEVICES) or, on a CPU-only machine, its own CPU device;
# process 0 writes the run directory, the others their logs under it (process_<i>/).
# The task batch (meta.tasks_per_step) must be a multiple of N x meta.devices.
set -euo pipefail
if [[ $# -lt 2 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 NUM_PROCESSES EXPERIMENT.py [field=value ...] [--workdir DIR]" >&2
  exit 2
fi
n=$1; shift
port=${BASE_NAS_PORT:-$((20000 + RANDOM % 20000))}
gpus=$(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | wc -l || echo 0)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
for ((i = 0; i < n; i++)); do
  if (( gpus > 0 )); then export CUDA_VISIBLE_DEVICES=$((i % gpus)); fi
  quiet=(); if (( i > 0 )); then quiet=(--no-progress); fi  # one progress bar, process 0's
  BASE_NAS_COORDINATOR=127.0.0.1:$port BASE_NAS_NUM_PROCESSES=$n BASE_NAS_PROCESS_ID=$i \
    base-nas meta-train "$@" "${quiet[@]}" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
trap - EXIT
exit $status
