"""The MAML baseline of issue 13: nb201_tiny_prior.py with the architecture frozen.

The same tasks, supernet, inner loop (K=2, fd meta-gradient), meta-steps and seed as the
shipped prior `nb201-tiny`, but meta.lr_alphas=0 and meta.inner_lr_alphas=0: the architecture
stays at its initial near-uniform logits (softmax of 1e-3 * N(0, 1)) in every task and across
tasks, and only the supernet's weights and their inner step sizes are meta-learned. That is MAML
(with Meta-SGD step sizes) over the supernet, the baseline of tables 2 and 3:

  base-nas meta-train experiments/maml_tiny_nb201.py --workdir runs/maml_tiny_nb201
  python benchmarks/base_ablation.py --maml runs/maml_tiny_nb201/prior
  python benchmarks/base_fewshot.py --maml runs/maml_tiny_nb201/prior

Measured on the 2-core CPU (2026-12-07): 2198 s. Query accuracy after the K=2 inner steps, last
epoch: 17.1% on training-class tasks (10.5% before adaptation), 19.3% on 8 tasks of the 30
held-out classes (nb201-tiny: 21.2% and 21.0%). Tables 2 and 3 in docs/results.md. The prior is
kept in benchmarks/baselines/nb201-tiny-maml (cp -r runs/maml_tiny_nb201/prior there).
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config(meta=dict(lr_alphas=0.0, inner_lr_alphas=0.0))
