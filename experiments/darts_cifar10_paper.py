"""DARTS at the paper's scale: CIFAR-10, C=16, 8 cells, batch 64, 50 epochs (a GPU job).

  base-nas search experiments/darts_cifar10_paper.py                  # first order
  base-nas search experiments/darts_cifar10_paper.py search.order=2   # second order
  base-nas search experiments/darts_cifar10_paper.py method=gdas search.epochs=240

Published (Liu et al. 2019): the second-order cell (DARTS_V2) reaches 2.76 +- 0.09% test error
when trained with experiments/train_darts_v2_cifar10.py; first order 3.00 +- 0.14%. Not reproduced
here (no GPU was available to the project's sessions so far).
"""
from base_nas.configs import search_config


def get_config():
  return search_config(
      space="darts", method="darts",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=32),
      model=dict(channels=16, layers=8),
      search=dict(epochs=50, batch_size=64),
  )
