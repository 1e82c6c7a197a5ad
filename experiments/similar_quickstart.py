"""Which meta-training task is nearest to scikit-learn's bundled digits? Task similarity demo.

No download, no GPU: the digits embedded by the fixed probe of base_nas/predict/similarity.py
and ranked against the shipped prior nb201-tiny's meta-training source (10-way Tiny ImageNet
tasks from its 120 training classes, skipped with a note where ../shared/data is absent) and
two extra candidates, the built-in synthetic shapes and MNIST from ../shared/data (skipped
likewise where absent).

  base-nas similar experiments/similar_quickstart.py

Expected (2-core CPU, 2026-12-07, about 32 s): 1. prior:nb201-tiny 0.2335, 2. MNIST 0.2479,
3. builtin:synthetic 0.2698, 4. prior:nb201-omniglot 0.3788 (the priors from their stored
embeddings); summary.json in runs/similar_quickstart/. The digits' 8x8 images,
blown up to 32 px, look to a random probe about as much like MNIST as like natural images;
docs/similarity.md says what the embedding does and does not separate.
"""
import os

from base_nas.configs import similar_config

_SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def get_config():
  return similar_config(
      data=dict(spec="builtin:digits"),
      similar=dict(candidates=[
          "builtin:synthetic", "npz:" + os.path.normpath(f"{_SHARED}/images/mnist_uint8.npz")]),
  )

