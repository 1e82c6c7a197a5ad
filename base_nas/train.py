"""Training logic for evaluation networks: optimiser, train state, train and eval steps.

Pure functions of arrays only; the loop, data, checkpointing and logging live elsewhere. The
recipe is DARTS' evaluation recipe: SGD with momentum, cosine learning rate, weight decay added to
the gradient (PyTorch SGD's ``weight_decay``), gradient clipping, drop path growing over training
and an auxiliary loss.

``train_step`` and ``eval_step`` are meant to be wrapped in ``jax.jit`` by the caller (for
example ``jax.jit(train_step, donate_argnums=0)``). ``drop_path_prob`` is an ordinary argument,
so a new value each epoch reuses the compiled step as long as its type stays the same (always a
Python float, say: a Python float and a NumPy scalar key different compilations).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from base_nas.nn import init as init_lib


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Hyper-parameters of one training run (DARTS' CIFAR-10 evaluation defaults).

  Attributes:
    epochs: Training epochs; the cosine schedule spans ``epochs * steps_per_epoch`` steps.
    steps_per_epoch: Optimiser steps per epoch.
    lr: Initial learning rate, decayed to 0 by a cosine.
    momentum: SGD momentum.
    weight_decay: L2 coefficient added to the gradient of every parameter (BN included).
    grad_clip: Maximum global gradient norm.
    drop_path_prob: Final drop path probability (the loop ramps it up linearly over epochs).
    auxiliary_weight: Weight of the auxiliary head's loss.
    label_smoothing: Label smoothing of the training loss (0 on CIFAR, 0.1 in DARTS' ImageNet).
  """
  epochs: int = 600
  steps_per_epoch: int = 1
  lr: float = 0.025
  momentum: float = 0.9
  weight_decay: float = 3e-4
  grad_clip: float = 5.0
  drop_path_prob: float = 0.2
  auxiliary_weight: float = 0.4
  label_smoothing: float = 0.0

  @property
  def total_steps(self) -> int:
    return self.epochs * self.steps_per_epoch


def lr_schedule(cfg: TrainConfig) -> optax.Schedule:
  """Cosine decay from ``cfg.lr`` at step 0 to 0 at ``cfg.total_steps`` (per step, not per epoch)."""
  return optax.cosine_decay_schedule(cfg.lr, max(cfg.total_steps, 1), alpha=0.0)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
  """SGD with momentum, cosine learning rate, coupled weight decay and global-norm clipping.

  The order mirrors DARTS' PyTorch step: the raw gradient is clipped (``clip_grad_norm_``), then
  SGD adds ``weight_decay * param`` to it before the momentum buffer and the learning rate.
  """
  return optax.chain(
      optax.clip_by_global_norm(cfg.grad_clip),
      optax.add_decayed_weights(cfg.weight_decay),
      optax.sgd(lr_schedule(cfg), momentum=cfg.momentum),
  )


class TrainState(train_state.TrainState):
  """Flax train state plus BatchNorm running statistics and the loss weights.

  The pytree part (``step``, ``params``, ``batch_stats``, ``opt_state``) is what a checkpoint
  stores; ``apply_fn``, ``tx`` and the loss weights are static and come from the code.
  """
  batch_stats: Any = None
  auxiliary_weight: float = flax.struct.field(pytree_node=False, default=0.4)
  label_smoothing: float = flax.struct.field(pytree_node=False, default=0.0)


def create_train_state(model, key, image_shape, optimizer: optax.GradientTransformation, *,
                       auxiliary_weight: float = 0.4, label_smoothing: float = 0.0) -> TrainState:
  """Initialises ``model`` (auxiliary head included) and the optimiser state.

  Args:
    model: A network from :mod:`base_nas.nn.networks` (``__call__(x, train, drop_path_prob)``).
    key: PRNG key for the parameters.
    image_shape: Shape of one example, (H, W, C).
    optimizer: For example ``make_optimizer(cfg)``.
    auxiliary_weight: Weight of the auxiliary loss in ``train_step`` (``cfg.auxiliary_weight``).
    label_smoothing: Label smoothing of the training loss (``cfg.label_smoothing``).
  """
  x = jax.ShapeDtypeStruct((2,) + tuple(image_shape), jnp.float32)
  # train=True so that the auxiliary head, built only in training, gets parameters too. lazy_init
  # compiles only what the variables need, not the forward pass.
  variables = model.lazy_init({"params": init_lib.init_key(key)}, x, train=True)
  state = TrainState.create(apply_fn=model.apply, params=variables["params"],
                            batch_stats=variables.get("batch_stats", {}), tx=optimizer,
                            auxiliary_weight=auxiliary_weight, label_smoothing=label_smoothing)
  # create() leaves step a Python int; jit keys its cache on that, so the state returned by the
  # first step (an int32 array) would compile the step a second time.
  return state.replace(step=jnp.zeros((), jnp.int32))


def _cross_entropy(logits, labels, smoothing=0.0, weights=None):
  """Mean (or ``weights``-weighted mean) softmax cross-entropy with optional label smoothing."""
  targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
  if smoothing:
    targets = optax.smooth_labels(targets, smoothing)
  losses = optax.softmax_cross_entropy(logits, targets)
  if weights is None:
    return jnp.mean(losses)
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def train_step(state: TrainState, batch: dict, key, drop_path_prob) -> tuple[TrainState, dict]:
  """One SGD step on ``batch`` (``image`` float32 [B,H,W,C], ``label`` int32 [B]).

  The loss is cross-entropy plus ``state.auxiliary_weight`` times the auxiliary head's
  cross-entropy (when the network has one). ``key`` seeds drop path; ``drop_path_prob`` may be a
  Python float or a scalar array, traced under jit either way.

  Returns:
    The new state and float32 metrics: ``loss`` (the optimised objective), ``accuracy`` of the
    main head, and ``grad_norm`` (global norm before clipping, useful for spotting divergence).
  """
  labels = batch["label"]

  def loss_fn(params):
    (logits, aux), updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats}, batch["image"], train=True,
        drop_path_prob=drop_path_prob, mutable=["batch_stats"], rngs={"dropout": key})
    loss = _cross_entropy(logits, labels, state.label_smoothing)
    if aux is not None and state.auxiliary_weight:
      loss = loss + state.auxiliary_weight * _cross_entropy(aux, labels, state.label_smoothing)
    return loss, (logits, updates["batch_stats"])

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  metrics = dict(loss=loss, accuracy=jnp.mean(jnp.argmax(logits, -1) == labels).astype(jnp.float32),
                 grad_norm=optax.tree.norm(grads))
  return state, metrics


def eval_step(state: TrainState, batch: dict) -> dict:
  """Loss and accuracy of the main head with running statistics.

  An optional ``mask`` (float or bool [B]) marks real examples, so that a final partial batch can
  be padded to the compiled shape.

  Returns:
    ``loss`` and ``accuracy`` averaged over the (masked) batch and ``count``, its example count.
  """
  logits, _ = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                             batch["image"], train=False)
  labels = batch["label"]
  weights = batch.get("mask")
  weights = jnp.ones(labels.shape, jnp.float32) if weights is None else weights.astype(jnp.float32)
  count = jnp.sum(weights)
  correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
  return dict(loss=_cross_entropy(logits, labels, weights=weights),
              accuracy=jnp.sum(correct * weights) / jnp.maximum(count, 1.0), count=count)


_jit_eval_step = jax.jit(eval_step)


def evaluate(state: TrainState, batches: Iterable[dict],
             step_fn: Callable[[TrainState, dict], dict] | None = None) -> dict:
  """Averages ``eval_step`` metrics over ``batches``, weighting each batch by its count.

  Args:
    state: The train state to evaluate.
    batches: An iterable of batches as in :func:`eval_step`.
    step_fn: The eval step to call, by default a jitted :func:`eval_step`.

  Returns:
    Python floats ``loss``, ``accuracy`` and ``count`` (total examples; loss and accuracy are 0
    when there were none).
  """
  step_fn = step_fn or _jit_eval_step
  sums = None
  for batch in batches:
    m = step_fn(state, batch)
    # Accumulate on device and convert once, so the host does not wait on every batch.
    part = dict(loss=m["loss"] * m["count"], accuracy=m["accuracy"] * m["count"], count=m["count"])
    sums = part if sums is None else jax.tree_util.tree_map(jnp.add, sums, part)
  if sums is None:
    return dict(loss=0.0, accuracy=0.0, count=0.0)
  sums = jax.device_get(sums)
  count = float(sums["count"])
  scale = 1.0 / count if count else 0.0
  return dict(loss=float(sums["loss"]) * scale, accuracy=float(sums["accuracy"]) * scale,
              count=count)
