"""A second NB201 prior, `nb201-omniglot`: BASE meta-training on Omniglot's background alphabets.

nb201_tiny_prior.py's model and inner loop (C=8, one cell a stage, fd, K=2, 4 tasks a step,
architecture step Adam 3e-2) on 10-way tasks of 5+5 drawings from 900 of the 964 background
characters (64 held out), 16 px only, 300 meta-steps. It exists for two comparisons: few-shot
Omniglot from an Omniglot prior against the Tiny ImageNet one (table 3), and prior=nearest
choosing between two priors of one space (docs/similarity.md).

  python scripts/make_omniglot_npz.py
  base-nas meta-train experiments/nb201_omniglot_prior.py
  cp -r runs/nb201_omniglot_prior/prior base_nas/resources/priors/nb201-omniglot
  python scripts/embed_prior.py nb201-omniglot

Measured on the 2-core CPU (2026-12-07): 376 s (1.1 s a meta-step at 16 px). Query accuracy
after the K=2 inner steps, last epoch: 58.8% on training-character tasks (9.4% before
adaptation), 53.5% on 4 tasks of the 64 held-out characters (7.5% before; chance 10%). The
prior's mean edge entropy 1.609 -> 0.72; its most probable cell
|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|.
benchmarks/nearest_prior.py and docs/similarity.md compare it with nb201-tiny.
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config(
      data=dict(spec="npz:runs/data/omniglot_background_16.npz", split=None, held_out=64),
      tasks=dict(image_sizes=[16]),
      meta=dict(lr_alphas=3e-2, epochs=15))
