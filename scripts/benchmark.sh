#!/usr/bin/env bash
# Search-step benchmark (compile time, step time, peak memory); see benchmarks/search_step.py.
# On a GPU machine it measures the GPU path (cuDNN convolutions) with the same cases.
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/search_step.py "$@"
