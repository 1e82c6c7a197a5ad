"""The MAML baseline of issue 13: nb201_tiny_prior.py with the architecture frozen.

The same tasks, supernet, inner loop (K=2, fd meta-gradient), meta-steps and seed as the
shipped prior `nb201-tiny`, but meta.lr_alphas=0 and meta.inner_lr_alphas=0: the architecture
stays at its initial near-uniform logits (softmax of 1e-3 * N(0, 1)) in every task and across
tasks, and only the supernet's weights and their inner step sizes are meta-learned. That is MAML
(with Meta-SGD step sizes) over the supernet, the baseline of tables 2 and 3:

  base-nas meta-train experiments/maml_tiny_nb201.py --workdir runs/maml_tiny_nb201
  python benchmarks/base_ablation.py --maml runs/maml_tiny_nb201/prior
  python benchmarks/base_fewshot.py --maml runs/maml_tiny_nb201/prior

Result and wall time: docs/results.md (tables 2 and 3).
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config(meta=dict(lr_alphas=0.0, inner_lr_alphas=0.0))
