"""Adapting a BASE prior (NAS-Bench-201 space) to CIFAR-10: the posterior, its cells scored by
the NAS-Bench-201 table, and the adapted supernet's test accuracy.

  base-nas adapt experiments/base_adapt_cifar10.py prior=runs/base_tinyimagenet_nb201/prior

CIFAR-10 from the JPEG copy in ../shared/data; 300 SGD steps of 64 images at 16x16 px
(the prior's smaller task size). From the prior above (2026-12-06): 46 s of adaptation, posterior
entropy 1.528, supernet test accuracy 11.7%, most probable cell 79.31% in the NAS-Bench-201
CIFAR-10 table (docs/base.md, "First CPU meta-training run").
"""
from base_nas.configs import adapt_config


def get_config():
  return adapt_config(
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=16,
                val_fraction=0.02, test_split="test"),
      adapt=dict(steps=300, batch_size=64, eval_every=50, eval_batches=8, top_k=5),
  )
