"""Train DARTS_V2 (or any genotype) from scratch on CIFAR-10 with the DARTS evaluation recipe.

C=36, 20 cells, auxiliary head (0.4), cutout 16, drop path 0.2, SGD 0.025 cosine, 600 epochs.

  base-nas train experiments/train_darts_v2_cifar10.py
  base-nas train experiments/train_darts_v2_cifar10.py genotype=runs/darts_cifar10_paper

Published: 2.76 +- 0.09% test error, 3.3 M parameters (the count printed here: 3.349 M, equal to
the reference code's). CPU check: train.epochs=1 data.limit=512 model.layers=8 runs in minutes.
"""
from base_nas.configs import train_config


def get_config():
  return train_config(
      space="darts", genotype="DARTS_V2",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=32),
      model=dict(channels=36, layers=20, auxiliary=True),
      train=dict(epochs=600, batch_size=96),
  )
