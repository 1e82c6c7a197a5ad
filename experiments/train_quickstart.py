"""Train the cell the quickstart search found (or DARTS_V2) from scratch on the bundled digits.

  base-nas search experiments/quickstart.py        # writes runs/quickstart/genotype.json
  base-nas train experiments/train_quickstart.py   # trains it: C=16, 8 cells, 10 epochs

  base-nas train experiments/train_quickstart.py genotype=DARTS_V2   # the published cell instead

Expected: a few minutes on 2 CPU cores; test accuracy around 95% on the 360 held-out digits.
"""
from base_nas.configs import train_config


def get_config():
  return train_config(
      space="darts", genotype="runs/quickstart",
      data=dict(spec="builtin:digits", image_size=16),
      model=dict(channels=16, layers=8, auxiliary=True),
      train=dict(epochs=10, batch_size=64, cutout=4, drop_path_prob=0.1),
  )
