#!/usr/bin/env bash
# BASE meta-training on a Cloud TPU pod slice: the same command on every worker, joined by
# jax.distributed.initialize(), which finds the slice's workers itself (BASE_NAS_DISTRIBUTED=1).
#
#   scripts/tpu_pod_meta_train.sh TPU_NAME ZONE experiments/base_tinyimagenet_nb201.py \
#       meta.tasks_per_step=64 --workdir gs://BUCKET/runs/base_pod
#
# Installs base-nas from this checkout's remote on each worker first (BASE_NAS_INSTALL overrides
# the pip argument). The work directory must be visible to every worker (GCS or a shared disk).
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 TPU_NAME ZONE EXPERIMENT.py [field=value ...] [--workdir DIR]" >&2
  exit 2
fi
tpu=$1 zone=$2; shift 2
install=${BASE_NAS_INSTALL:-"git+$(git remote get-url origin)"}
args=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  pip install -q '$install' 'jax[tpu]'
  BASE_NAS_DISTRIBUTED=1 base-nas meta-train$args"
