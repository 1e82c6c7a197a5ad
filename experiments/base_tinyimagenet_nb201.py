"""BASE meta-training on Tiny ImageNet tasks, NAS-Bench-201 space, CPU-sized: the first prior.

10-way tasks (5 support and 5 query images a class) drawn from 120 of the 150 Tiny ImageNet
classes in ../shared/data (30 held out, recorded in classes.json), image sizes 16 and 32 drawn
per meta-step (the paper: 32, 64 and 224 px ImageNet subsets), a C=8 supernet with one cell per
stage, K=2 inner steps with finite-difference meta-gradients, 4 tasks a meta-step:

  base-nas meta-train experiments/base_tinyimagenet_nb201.py
  base-nas adapt experiments/base_adapt_cifar10.py prior=runs/base_tinyimagenet_nb201/prior

Measured on the 2-core CPU (2026-12-06, shared with other jobs): 2405 s for the 600 meta-steps;
held-out-class query accuracy 7.8% before and 17.2% after the K=2 inner steps (chance 10%); the
prior's mean edge entropy 1.609 -> 1.595. docs/base.md, "First CPU meta-training run".
"""
from base_nas.configs import tinyimagenet_nb201_meta_config


def get_config():
  return tinyimagenet_nb201_meta_config()
