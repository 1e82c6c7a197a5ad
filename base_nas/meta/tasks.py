"""k-way classification tasks drawn from any dataset the data layer opens.

A task is ``way`` classes chosen at random, relabelled 0..way-1 in the order drawn (so the
labels are permuted per task), with ``shots`` support and ``queries`` query images per class.
Everything is a function of ``(seed, task index)``, so a resumed run, another device layout or
another process draws the same tasks. All tasks of one meta-step share an image size, drawn per
step from ``image_sizes``: their batches stack into one array and each size compiles once.
The same sampler with another shape yields N-way K-shot episodes for few-shot evaluation.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from base_nas.data.pipeline import resize_batch
from base_nas.errors import DataError


@dataclasses.dataclass(frozen=True)
class TaskShape:
  way: int = 10
  shots: int = 5      # support images per class
  queries: int = 5    # query images per class
  image_sizes: tuple[int, ...] = (16, 32)


def split_classes(classes: Sequence[int], held_out: int | float, seed: int
                  ) -> tuple[list[int], list[int]]:
  """A deterministic random split into (meta-training, held-out) classes, each sorted.
  ``held_out`` is a count, or a fraction in (0, 1)."""
  classes = sorted(int(c) for c in classes)
  n = len(classes)
  if isinstance(held_out, float) and 0 < held_out < 1:
    k = int(round(held_out * n))
  else:
    k = int(held_out)
  if k < 0 or k >= n:
    raise DataError(f"data.held_out={held_out!r}: the source has {n} classes, so between 0 and "
                    f"{n - 1} can be held out")
  order = np.random.default_rng([seed, 7]).permutation(n)
  held = sorted(classes[i] for i in order[:k])
  return [c for c in classes if c not in set(held)], held


class TaskSampler:
  """Tasks of ``shape`` over ``classes`` of ``source``, normalised by ``mean`` and ``std``
  (per channel, [0, 1] units, as :class:`base_nas.data.Loader`)."""

  def __init__(self, source, classes: Sequence[int], shape: TaskShape, *, mean, std, seed: int):
    self.source, self.shape, self.seed = source, shape, seed
    self.classes = sorted(int(c) for c in classes)
    name = getattr(source, "name", "") or "the task source"
    if not self.classes:
      raise DataError(f"{name}: no classes to draw tasks from")
    if shape.way < 2:
      raise DataError(f"tasks.way={shape.way}: a task needs at least 2 classes")
    if shape.shots < 1 or shape.queries < 1:
      raise DataError(f"tasks.shots={shape.shots}, tasks.queries={shape.queries}: both must be "
                      ">= 1")
    if not shape.image_sizes or any(s < 1 for s in shape.image_sizes):
      raise DataError(f"tasks.image_sizes={list(shape.image_sizes)}: sizes must be positive")
    if len(self.classes) < shape.way:
      raise DataError(f"{name} has {len(self.classes)} classes to draw from; a {shape.way}-way "
                      f"task needs at least {shape.way} (lower tasks.way or data.held_out)")
    labels = np.asarray(source.labels)
    self.by_class = {c: np.flatnonzero(labels == c) for c in self.classes}
    need = shape.shots + shape.queries
    short = [(c, len(ix)) for c, ix in self.by_class.items() if len(ix) < need]
    if short:
      c, n = short[0]
      raise DataError(f"{name}: class {c} has {n} images, fewer than the {need} a task takes "
                      f"(tasks.shots={shape.shots} + tasks.queries={shape.queries})"
                      + (f"; {len(short)} classes are that small" if len(short) > 1 else ""))
    mean = np.asarray(mean, np.float32).reshape(3)
    std = np.asarray(std, np.float32).reshape(3)
    self._scale, self._shift = 1.0 / (255.0 * std), mean / std

  def image_size(self, step: int) -> int:
    sizes = self.shape.image_sizes
    if len(sizes) == 1:
      return int(sizes[0])
    return int(sizes[np.random.default_rng([self.seed, step, 1]).integers(len(sizes))])

  def _normalise(self, images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) * self._scale - self._shift

  def task(self, index: int, image_size: int) -> dict:
    """Task ``index``: ``{support, query}`` batches, the drawn ``classes`` in label order and
    the source ``indices`` of the support and query images."""
    s = self.shape
    rng = np.random.default_rng([self.seed, index])
    classes = rng.choice(self.classes, size=s.way, replace=False)
    picks = np.stack([rng.choice(self.by_class[int(c)], size=s.shots + s.queries, replace=False)
                      for c in classes])                      # [way, shots + queries]
    parts = {}
    for name, cols in (("support", picks[:, :s.shots]), ("query", picks[:, s.shots:])):
      labels = np.repeat(np.arange(s.way, dtype=np.int32), cols.shape[1])
      order = rng.permutation(len(labels))
      parts[name] = (cols.reshape(-1)[order], labels[order])
    idx = np.concatenate([parts["support"][0], parts["query"][0]])
    images, _ = self.source.get_batch(idx)
    images = self._normalise(resize_batch(images, image_size))
    n = len(parts["support"][0])
    return {"support": {"image": images[:n], "label": parts["support"][1]},
            "query": {"image": images[n:], "label": parts["query"][1]},
            "classes": classes.astype(np.int64),
            "indices": {"support": parts["support"][0], "query": parts["query"][0]}}

  def batch(self, step: int, num_tasks: int, *, start: int = 0, count: int | None = None
            ) -> dict:
    """Meta-step ``step``'s tasks ``step * num_tasks + start ...`` (``count`` of them, all by
    default) at ``image_size(step)``, stacked on a leading task axis: each process of a
    multi-host run builds only its own rows."""
    count = num_tasks - start if count is None else count
    size = self.image_size(step)
    tasks = [self.task(step * num_tasks + start + i, size) for i in range(count)]
    stack = lambda *xs: np.stack(xs)
    return {"support": {k: stack(*[t["support"][k] for t in tasks]) for k in ("image", "label")},
            "query": {k: stack(*[t["query"][k] for t in tasks]) for k in ("image", "label")},
            "classes": stack(*[t["classes"] for t in tasks])}

  def describe(self) -> dict:
    return {"classes": self.classes, "way": self.shape.way, "shots": self.shape.shots,
            "queries": self.shape.queries, "image_sizes": list(self.shape.image_sizes),
            "seed": self.seed}


def episode_sampler(source, classes, way: int, shots: int, queries: int, image_size: int, *,
                    mean, std, seed: int) -> TaskSampler:
  """N-way K-shot episodes (few-shot evaluation): the task sampler with that shape."""
  return TaskSampler(source, classes, TaskShape(way, shots, queries, (image_size,)), mean=mean,
                     std=std, seed=seed)
