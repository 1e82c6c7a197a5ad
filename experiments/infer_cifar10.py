"""A cell for CIFAR-10 (JPEG copy in ../shared/data) by the shipped value network: its 8 landmark
cells trained for 2 epochs each on 5,000 images at 16 px (C=8, one cell a stage), then gradient
ascent on the predicted value; the NAS-Bench-201 table scores the result.

  base-nas infer experiments/infer_cifar10.py                  # landmarks trained on images
  base-nas infer experiments/infer_cifar10.py task=cifar10     # landmarks looked up instead
  base-nas infer experiments/infer_cifar10.py method=base      # BASE adaptation of nb201-tiny

Measured results: docs/results.md, "Transfer from tables".
"""
from base_nas.configs import infer_config


def get_config():
  return infer_config(
      method="value-net", predictor="nb201-value-net", prior="nb201-tiny",
      data=dict(spec="zip:../shared/data/images/cifar10_jpeg.zip", image_size=16, limit=5000,
                val_fraction=0.02, test_split="test"),
      landmarks=dict(epochs=2, batch_size=64, channels=8, layers=1, lr=0.05),
      adapt=dict(steps=300, batch_size=64, eval_every=50, eval_batches=8, top_k=10),
  )
