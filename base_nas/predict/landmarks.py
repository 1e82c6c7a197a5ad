"""Task meta-features from landmark cells: how a task rates a few fixed cells.

Kokiopoulou et al. (2019) describe a task to the value network by cheap measurements of it. Here
the measurement is the value of ``L`` fixed landmark cells on the task (table look-ups on a
benchmark task; brief training runs on a new dataset's images), standardised by their own mean
and standard deviation. Standardising by the landmarks alone, not by the whole table, is what
lets the same features be computed for a task whose table is unknown, and it puts tasks on
different scales (accuracy in %, a negative loss, SSIM) on one: every target of the value
network is the cell's value in units of the landmarks' spread around their mean.
"""
from __future__ import annotations

import numpy as np

from base_nas.errors import ConfigError


def choose_landmarks(encodings: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
  """Rows of ``count`` distinct landmark cells drawn at random (sorted).

  Args:
    encodings: ``[N, E]`` op indices of every cell of the table.
    count: how many landmarks (at least 2, to have a spread).
    seed: which random set.
  """
  n = len(encodings)
  if not 2 <= count <= n:
    raise ConfigError(f"landmark count must be in [2, {n}], got {count}")
  return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def standardise(landmark_values: np.ndarray) -> tuple[np.ndarray, float, float]:
  """Returns ``(features, loc, scale)``: the landmark values as z-scores, and the shift and scale
  that map any value of the same task into the same units: ``(v - loc) / scale``.

  Raises:
    ConfigError: a landmark value is missing or not finite, or all landmarks are equal.
  """
  v = np.asarray(landmark_values, np.float64)
  if v.ndim != 1 or len(v) < 2 or not np.all(np.isfinite(v)):
    raise ConfigError(f"landmark values must be 2 or more finite numbers, got {v.tolist()}")
  loc, scale = float(v.mean()), float(v.std())
  if scale <= 1e-12 * max(1.0, abs(loc)):
    raise ConfigError(f"all {len(v)} landmark cells score the same ({loc:g}): no spread to "
                      "describe the task by")
  return (v - loc) / scale, loc, scale


def task_records(values: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Value-network records of benchmark tasks with full tables.

  Args:
    values: ``[T, N]`` every cell's value on each task (NaN where missing).
    landmarks: the landmark rows.

  Returns:
    ``(features [T, L], targets [T, N])``: each task's standardised landmark values, and every
    cell's value in that task's landmark units.
  """
  values = np.asarray(values, np.float64)
  features, targets = [], []
  for v in values:
    f, loc, scale = standardise(v[landmarks])
    features.append(f)
    targets.append((v - loc) / scale)
  return np.stack(features), np.stack(targets)
