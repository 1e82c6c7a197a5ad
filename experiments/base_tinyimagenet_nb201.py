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
from base_nas.configs import meta_config


def get_config():
  return meta_config(
      space="nb201",
      data=dict(spec="zip:../shared/data/images/tiny-imagenet-150.zip", split="train",
                held_out=30),
      tasks=dict(way=10, shots=5, queries=5, image_sizes=[16, 32]),
      model=dict(channels=8, layers=1),
      meta=dict(epochs=30, steps_per_epoch=20, tasks_per_step=4, inner_steps=2, order="fd",
                eval_tasks=8),
  )
