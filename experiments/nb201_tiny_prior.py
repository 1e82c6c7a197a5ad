"""The shipped prior `nb201-tiny`: BASE meta-training on Tiny ImageNet tasks, NAS-Bench-201 space.

experiments/base_tinyimagenet_nb201.py (10-way tasks of 5+5 images from 120 of the 150 Tiny
ImageNet classes in ../shared/data, 30 held out; 16 and 32 px; C=8, one cell a stage; fd, K=2,
4 tasks a step, 600 meta-steps) with a 10x larger architecture step (Adam 3e-2), at which the
architecture prior moves (at 3e-3 its mean edge entropy went only from 1.609 to 1.595):

  base-nas meta-train experiments/nb201_tiny_prior.py
  cp -r runs/nb201_tiny_prior/prior base_nas/resources/priors/nb201-tiny

Measured on the 2-core CPU (2026-12-07, sharing it with other jobs): 2802 s. Query accuracy after
the K=2 inner steps, last epoch: 21.2% on training-class tasks (9.3% before adaptation), 21.0% on
8 tasks of the 30 held-out classes (8.5% before; chance 10%). The prior's mean edge entropy
1.609 -> 1.303; its most probable cell
|skip_connect~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2| (NAS-Bench-201 CIFAR-10
86.59%): two-step adaptation of a C=8 supernet on 50 images favours parameter-free operations.
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config(meta=dict(lr_alphas=3e-2))
