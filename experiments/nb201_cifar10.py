"""GDAS in the NAS-Bench-201 space on CIFAR-10, scored by the NAS-Bench-201 table (no training).

After every epoch the derived cell's published CIFAR-10/100 and ImageNet16-120 test accuracies
(200-epoch training, NAS-Bench-201 table, packaged in base_nas/resources) are logged.
CPU-sized: 4,000 images at 16x16, C=8, 2 cells per stage, 8 epochs.

  base-nas search experiments/nb201_cifar10.py
  base-nas search experiments/nb201_cifar10.py method=darts    # DARTS in the same space

Expected (measured on the 2-core CPU, 2026-11-22): 3 min wall (178 s in the loop, 1.2 GB peak);
the derived cell's NAS-Bench-201 CIFAR-10 accuracy per epoch: 86.6, 86.4, 86.7, 90.9, 93.9,
93.3, 90.0, 88.3% (final cell |skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|
skip_connect~1|skip_connect~2|; best cell in the table: 94.37%).
"""
from base_nas.configs import search_config


def get_config():
  return search_config(
      space="nb201", method="gdas",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=16, limit=4000),
      model=dict(channels=8, layers=2),
      search=dict(epochs=8, batch_size=32, eval_batches=20),
  )
