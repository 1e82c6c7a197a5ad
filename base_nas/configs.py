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

# Early stopping by learning-curve extrapolation (base_nas/predict/early_stop.py): stop when
# P(final accuracy > best) < threshold, once min_fraction of the epochs are done. best: the best
# final accuracy so far, a fraction (required when enabled); model: a curve model file (None:
# the shipped one). Not part of a run's fingerprint: it changes when a run ends, nothing else.
EARLY_STOP = dict(enabled=False, threshold=0.05, min_fraction=0.1, best=None, model=None)

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
    early_stop=EARLY_STOP,  # watches the supernet's valid/accuracy
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
    early_stop=EARLY_STOP,  # watches test/accuracy
    run=RUN,
)


META = dict(
    seed=0,
    space="nb201",
    # The task source: its classes minus the held-out ones (a count, or a fraction in (0, 1)).
    data=dict(spec="builtin:synthetic", data_dir=None, split="train", held_out=0),
    tasks=dict(way=10, shots=5, queries=5, image_sizes=[16]),  # paper: 32, 64 and 224 px
    model=dict(channels=8, layers=1, stem_multiplier=3, remat=True),
    meta=dict(
        epochs=10, steps_per_epoch=20,  # meta-steps = epochs x steps_per_epoch
        tasks_per_step=4,
        devices=0,               # devices per process (0: all local devices)
        relaxation="gumbel",     # gumbel: soft Concrete samples; hard: straight-through (GDAS)
        # The inner loop (each task's posterior): K SGD steps from theta.
        inner_steps=2, inner_lr_weights=0.1, inner_lr_alphas=1.0, learn_step_sizes=True,
        beta=0.01,               # KL(Cat(alpha_t) || Cat(alpha_0)) weight, summed over edges
        weight_prior=1e-4,       # lambda in lambda/2 ||w_t - w_0||^2
        tau=1.0,                 # Concrete temperature
        order="fd",              # fd: finite-difference HVPs (the paper) | exact | first
        fd_radius=0.01,
        # The meta-optimiser: Adam per part of theta. lr_alphas=0 with inner_lr_alphas=0 keeps
        # the architecture at its initial, near-uniform logits: MAML over the supernet.
        lr_weights=1e-3, lr_alphas=3e-3, lr_step_sizes=1e-3, grad_clip=5.0,
        task_loop="map",         # map: one task after another per device; vmap: batched
        eval_tasks=0,            # held-out-class tasks evaluated after each epoch (0: none)
        init=None),              # a prior to start from (fine-tuning on a new task source)
    run=RUN,
)

ADAPT = dict(
    seed=0,
    prior=None,            # required: a prior directory (`base-nas meta-train` writes one), a
                           # shipped prior's name, or nearest: the shipped prior whose source is
                           # nearest the dataset by task similarity (predict/similarity.py)
    space=None,            # None: the prior's; set, it must be the prior's
    model=dict(channels=None, layers=None),  # likewise
    data=dict(spec="builtin:digits", data_dir=None, image_size=16, limit=0,
              val_fraction=0.2,   # of the train split, for the accuracy curve during adaptation
              test_split="test"), # scored at the end; the held-out part if there is none
    adapt=dict(
        steps=100, batch_size=32, lr_scale=1.0,  # inner step sizes of the prior, times this
        augment=False,
        head="zero",       # zero: a fresh classifier head (any class count); prior: keep it
        eval_every=10, eval_batches=4,
        samples=4,         # Concrete samples averaged by the posterior predictive
        top_k=5),
    run=RUN,
)


# NAS-Bench-201 networks: C=16, 5 cells per stage (search and training alike).
NB201_MODEL = dict(channels=16, layers=5)


def search_config(**changes: Any) -> dict:
  base = _merge(SEARCH, {"model": NB201_MODEL}) if changes.get("space") == "nb201" else SEARCH
  return _merge(base, changes)


def meta_config(**changes: Any) -> dict:
  return _merge(META, changes)


# The CPU-sized Tiny ImageNet meta-training of the NB201 priors (../shared/data): 10-way tasks of
# 5+5 images from 120 of its 150 classes (30 held out), 16 and 32 px, a C=8 supernet with one cell
# a stage, fd meta-gradients through K=2 inner steps, 4 tasks a step, 600 meta-steps.
TINYIMAGENET_NB201_META = dict(
    space="nb201",
    data=dict(spec="zip:../shared/data/images/tiny-imagenet-150.zip", split="train",
              held_out=30),
    tasks=dict(way=10, shots=5, queries=5, image_sizes=[16, 32]),
    model=dict(channels=8, layers=1),
    meta=dict(epochs=30, steps_per_epoch=20, tasks_per_step=4, inner_steps=2, order="fd",
              eval_tasks=8),
)


def tinyimagenet_nb201_meta_config(**changes: Any) -> dict:
  """:data:`TINYIMAGENET_NB201_META` over the meta-training defaults, then ``changes``."""
  return _merge(meta_config(**TINYIMAGENET_NB201_META), changes)


def adapt_config(**changes: Any) -> dict:
  return _merge(ADAPT, changes)


def train_config(**changes: Any) -> dict:
  base = _merge(TRAIN, {"model": NB201_MODEL}) if changes.get("space") == "nb201" else TRAIN
  return _merge(base, changes)


# Task similarity (base_nas/predict/similarity.py): the dataset's Task2Vec-like embedding by a
# fixed random probe network, ranked against the shipped priors' meta-training sources and any
# extra data specs.
SIMILAR = dict(
    seed=0,                # picks the images, the prior tasks' classes and the Fisher's labels
    data=dict(spec="builtin:digits", data_dir=None,
              image_size=32,       # the probe's input size
              limit=0),            # use at most this many training images (0: all)
    similar=dict(
        candidates=[],     # extra data specs to rank, e.g. ["builtin:synthetic", "npz:x.npz"]
        priors=True,       # also rank the shipped priors' meta-training sources
        steps=300,         # Adam steps fitting the probe's classifier head
        max_images=500,    # images embedded per task
        samples=2,         # labels sampled from the probe's predictions per image (Fisher)
        tasks=3,           # way-class tasks averaged for a prior's source
        probe_seed=0),     # the probe's weights: embeddings compare only under one seed
    run=RUN,
)


def similar_config(**changes: Any) -> dict:
  return _merge(SIMILAR, changes)


# A value-network predictor fitted on full tables (`base-nas fit-predictor`, base_nas/infer.py).
PREDICTOR = dict(
    seed=0,
    space="nb201",
    tasks=["cifar100", "imagenet16"],  # table tasks it learns from (CIFAR-10 left for testing)
    landmarks=dict(count=8, seed=0),   # cells whose values describe a task (its meta-features)
    value_net=dict(hidden=[128, 128], steps=2000, batch_size=256, cells_per_task=32,
                   learning_rate=2e-3, weight_decay=1e-4, rank_weight=1.0),
    run=RUN,
)

# A cell for a new dataset by a transfer method (`base-nas infer`), or predicted values of
# cells (`base-nas predict`).
INFER = dict(
    seed=0,
    method="value-net",         # value-net | base
    space=None,                 # None: the predictor's or prior's; set, it must be theirs
    predictor="nb201-value-net",  # value-net: a predictor directory or a shipped name
    prior="nb201-tiny",         # base: a prior directory, a shipped name, or nearest
    task=None,                  # a table task whose look-ups replace landmark training
    genotype=None,              # predict: the cells to score, comma-separated
    data=dict(spec="builtin:digits", data_dir=None, image_size=16, limit=0,
              val_fraction=0.2, test_split="test"),
    # value-net on images: each landmark cell is trained this briefly on the data.
    landmarks=dict(epochs=2, batch_size=64, channels=8, layers=1, lr=0.05,
                   eval_batches=16),  # test batches scored per landmark (0: the whole split)
    infer=dict(candidates=10, restarts=32, steps=200, lr=0.1),
    adapt=ADAPT["adapt"],       # base
    run=RUN,
)


def predictor_config(**changes: Any) -> dict:
  return _merge(PREDICTOR, changes)


def infer_config(**changes: Any) -> dict:
  return _merge(INFER, changes)
