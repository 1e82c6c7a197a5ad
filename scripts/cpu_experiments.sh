#!/usr/bin/env bash
# The CPU-sized CIFAR-10 experiments of this release, one after the other, from the repository
# root (they read ../shared/data/images/cifar10_jpeg.zip). Logs go to runs/<name>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
for exp in darts_cifar10 gdas_cifar10 nb201_cifar10; do
  echo "== $exp"
  /usr/bin/time -v base-nas search "experiments/$exp.py" --no-progress "$@" \
    2> >(tee "runs/$exp.log" >&2) | tee -a "runs/$exp.log"
done
