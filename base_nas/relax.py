"""Relaxations of the categorical choice of an op on every edge, and their temperature schedules.

Architecture parameters are a plain pytree ``{cell_type: logits[E, O]}``. A relaxation maps them to
the weights the supernet's mixed operations use:

* ``softmax``   (DARTS): ``softmax(alpha)``; deterministic.
* ``gumbel``    (SNAS):  a soft Gumbel-Softmax sample ``softmax((log_softmax(alpha) + g) / tau)``.
* ``hard``      (GDAS):  the straight-through one-hot of that sample; its value is one-hot, its
  gradient is the soft sample's. The supernet evaluates only the chosen op of each edge.

Every relaxation returns ``(weights, index)`` where ``index[E]`` is the chosen op per edge
(``argmax`` for the soft ones), so one supernet call signature serves all of them.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

RELAXATIONS = ("softmax", "gumbel", "hard")


def _gumbel_probs(key, logits, tau):
  # log_softmax first, as GDAS does, so the sample does not depend on the logits' offset.
  g = jax.random.gumbel(key, logits.shape, logits.dtype)
  return jax.nn.softmax((jax.nn.log_softmax(logits, axis=-1) + g) / tau, axis=-1)


def relax_one(kind: str, logits, key=None, tau=1.0):
  """Relaxes one ``logits[E, O]`` array; see the module docstring."""
  if kind == "softmax":
    w = jax.nn.softmax(logits, axis=-1)
    return w, jnp.argmax(w, axis=-1)
  if kind not in ("gumbel", "hard"):
    raise ValueError(f"unknown relaxation {kind!r} (choose from: {', '.join(RELAXATIONS)})")
  probs = _gumbel_probs(key, logits, tau)
  index = jnp.argmax(probs, axis=-1)
  if kind == "gumbel":
    return probs, index
  one_hot = jax.nn.one_hot(index, logits.shape[-1], dtype=probs.dtype)
  return one_hot - jax.lax.stop_gradient(probs) + probs, index


def relax(kind: str, alphas: Mapping[str, jax.Array], key=None, tau=1.0):
  """Relaxes every cell type's logits. Returns ``({cell: weights}, {cell: index})``."""
  names = sorted(alphas)
  keys = jax.random.split(key, len(names)) if key is not None else [None] * len(names)
  out = {n: relax_one(kind, alphas[n], k, tau) for n, k in zip(names, keys)}
  return {n: w for n, (w, _) in out.items()}, {n: i for n, (_, i) in out.items()}


def probabilities(alphas: Mapping[str, jax.Array]):
  """The op probabilities softmax(alpha) per cell type, as numpy-friendly arrays."""
  return {n: jax.nn.softmax(a, axis=-1) for n, a in alphas.items()}


# --- temperature schedules -------------------------------------------------------------------------

def linear_schedule(start: float, end: float, epochs: int) -> Callable[[int], float]:
  """``start`` at epoch 0, ``end`` at the last epoch (GDAS anneals 10 -> 0.1 this way)."""
  span = max(epochs - 1, 1)
  return lambda epoch: start + (end - start) * min(epoch, span) / span


def exponential_schedule(start: float, end: float, epochs: int) -> Callable[[int], float]:
  """Geometric decay from ``start`` to ``end`` over the epochs (SNAS anneals 1 -> 0.03)."""
  span = max(epochs - 1, 1)
  rate = math.log(end / start) / span
  return lambda epoch: start * math.exp(rate * min(epoch, span))


def constant_schedule(value: float) -> Callable[[int], float]:
  return lambda epoch: value


SCHEDULES = {"linear": linear_schedule, "exponential": exponential_schedule,
             "constant": constant_schedule}


def make_schedule(kind: str, start: float, end: float, epochs: int) -> Callable[[int], float]:
  if kind not in SCHEDULES:
    raise ValueError(f"unknown temperature schedule {kind!r} (choose from: {', '.join(SCHEDULES)})")
  if not (isinstance(start, (int, float)) and isinstance(end, (int, float)) and start > 0 and end > 0):
    raise ValueError(f"temperatures must be positive numbers, got start={start!r}, end={end!r}")
  if kind == "constant":
    return constant_schedule(start)
  return SCHEDULES[kind](start, end, epochs)
