"""Complete default configs that the files in ``experiments/`` start from and override.

Every field a command reads is here, so an experiment file states only what it changes and a
command-line override (``search.epochs=3``) can reach any field.
"""
from __future__ import annotations

import copy
from typing import Any


def _merge(base: dict, changes: dict) -> dict:
  out = copy.deepcopy(base)
  for k, v in changes.items():
    if isinstance(v, dict) and isinstance(out.get(k), dict):
      out[k] = _merge(out[k], v)
    else:
      out[k] = v
  return out


RUN = dict(
    workdir=None,          # default: runs/<experiment file name>
    progress=True,         # progress bars with loss, accuracy and time left
    checkpoint_every=0,    # also checkpoint every N steps within an epoch (0: at epoch ends)
    plots=True,
)

SEARCH = dict(
    seed=0,
    space="darts",         # darts | nb201
    method="darts",        # darts | gdas | snas
    data=dict(spec="builtin:digits", data_dir=None, image_size=16,
              val_fraction=0.5,  # the train split is halved: weights / architecture (DARTS)
              limit=0),          # use at most this many training images (0: all)
    model=dict(channels=16, layers=8, stem_multiplier=3,  # DARTS: C, cells; NB201: C, cells/stage
               remat=True),  # recompute edge intermediates in the backward pass: less
                             # memory, no slower on CPU (docs/benchmarks.md)
    search=dict(
        epochs=50, batch_size=64, steps_per_epoch=0,  # 0: as many as the data gives
        order=1,               # DARTS: 1 first order, 2 second order (finite differences)
        augment=True,          # random crop + flip on both halves, as DARTS' search does
        eval_batches=0,        # held-out batches evaluated after each epoch (0: all)
        tau=dict(schedule=None, start=None, end=None),  # None: the method's default schedule
        # Weights: SGD, cosine lr; architecture: Adam (DARTS' defaults).
        w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_weight_decay=3e-4, grad_clip=5.0,
        a_lr=3e-4, a_beta1=0.5, a_beta2=0.999, a_weight_decay=1e-3),
    run=RUN,
)

TRAIN = dict(
    seed=0,
    space="darts",
    genotype="DARTS_V2",   # a genotype file (.json or DARTS' printed form), a search workdir, or
                           # a published name: DARTS_V1, DARTS_V2
    data=dict(spec="builtin:digits", data_dir=None, image_size=16, limit=0,
              test_split="test"),  # evaluated after training; the val split if no test split
    model=dict(channels=36, layers=20, auxiliary=True),
    train=dict(epochs=600, batch_size=96, lr=0.025, momentum=0.9, weight_decay=3e-4,
               grad_clip=5.0, drop_path_prob=0.2, auxiliary_weight=0.4, cutout=16,
               augment=True, eval_batches=0),
    run=RUN,
)


# NAS-Bench-201 networks: C=16, 5 cells per stage (search and training alike).
NB201_MODEL = dict(channels=16, layers=5)


def search_config(**changes: Any) -> dict:
  base = _merge(SEARCH, {"model": NB201_MODEL}) if changes.get("space") == "nb201" else SEARCH
  return _merge(base, changes)


def train_config(**changes: Any) -> dict:
  base = _merge(TRAIN, {"model": NB201_MODEL}) if changes.get("space") == "nb201" else TRAIN
  return _merge(base, changes)
