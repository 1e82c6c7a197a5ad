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

Measured: see docs/results.md (table 3) for the wall time and the result.
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config(
      data=dict(spec="npz:runs/data/omniglot_background_16.npz", split=None, held_out=64),
      tasks=dict(image_sizes=[16]),
      meta=dict(lr_alphas=3e-2, epochs=15))
