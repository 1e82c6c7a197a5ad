"""GDAS on CIFAR-10 (DARTS space), sized for a 2-core CPU: hard Gumbel samples, one op per edge.

Same data and supernet as experiments/darts_cifar10.py; a GDAS step evaluates one op per edge, so
it runs several times faster than a DARTS step and affords more epochs (tau: 10 -> 0.1).

  base-nas search experiments/gdas_cifar10.py

Expected (measured on the 2-core CPU, 2026-11-22): 4 min 38 s wall (274 s in the loop, 2.3 GB
peak); held-out accuracy of single sampled paths 13% -> 16-19% over the 8 epochs.
"""
from base_nas.configs import search_config


def get_config():
  return search_config(
      space="darts", method="gdas",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=16, limit=4000),
      model=dict(channels=8, layers=5),
      search=dict(epochs=8, batch_size=32, eval_batches=20),
  )
