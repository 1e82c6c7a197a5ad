"""First-order DARTS on CIFAR-10 (DARTS space), sized for a 2-core CPU.

Reads the JPEG copy of CIFAR-10 in ../shared/data (any folder-per-class zip or folder works,
as does tfds:cifar10 prepared as array_record). 4,000 training images at 16x16, halved into
weight and architecture data; C=8, 5 cells; 3 epochs.

  base-nas search experiments/darts_cifar10.py
  base-nas search experiments/darts_cifar10.py search.order=2      # second order
  base-nas search experiments/darts_cifar10.py method=snas         # SNAS on the same supernet

Expected (measured on the 2-core CPU, 2026-11-22): 6 min 15 s wall (370 s in the loop, 1.8 GB
peak), supernet validation accuracy 26.9% / 29.7% / 34.7% after epochs 1-3. With DARTS' architecture
learning rate (3e-4) and only 186 steps the op probabilities move little from uniform, so the
genotype is not yet meaningful: this checks the pipeline, it does not reproduce the paper.
The paper-scale search is experiments/darts_cifar10_paper.py.
"""
from base_nas.configs import search_config


def get_config():
  return search_config(
      space="darts", method="darts",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=16, limit=4000),
      model=dict(channels=8, layers=5),
      search=dict(epochs=3, batch_size=32, eval_batches=20),
  )
