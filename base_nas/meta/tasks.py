"""k-way classification tasks from one dataset, for BASE meta-training and few-shot evaluation.

BASE learns a prior over architectures and weights that adapts well to *many* tasks, so the
meta-learner needs a stream of tasks rather than a stream of batches. A task is ``way`` classes
picked at random from an allowed list, relabelled ``0..way-1`` in a random order (so no class keeps
a fixed output unit across tasks and the prior cannot just memorise them), with ``shots`` support
and ``queries`` query images per class: the inner loop adapts on the support set and the
meta-loss is taken on the query set.

Everything is a pure function of the seed: task ``i`` comes from ``(seed, i)`` and the image
size of meta-step ``t`` from ``(seed, t)``, so a resumed run, another host or an evaluation
script rebuilds exactly the same tasks, and each host of a multi-process run can build its own
share of a meta-batch without talking to the others. Only ``source.labels`` is read up front;
images are decoded task by task.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from base_nas.data.pipeline import resize_batch
from base_nas.errors import DataError


@dataclasses.dataclass(frozen=True)
class TaskShape:
  """Every task's size: ``way`` classes with ``shots`` support and ``queries`` query images each.

  ``image_sizes`` lists the side lengths a meta-step may use (one per step, see
  :meth:`TaskSampler.image_size`); training across sizes keeps the prior from tying itself to
  one resolution.
  """

  way: int = 10
  shots: int = 5
  queries: int = 5
  image_sizes: tuple[int, ...] = (16, 32)

  def __post_init__(self):
    # A list from a config file would make the shape unhashable and unequal to the tuple form.
    sizes = self.image_sizes
    object.__setattr__(self, 'image_sizes',
                       (sizes,) if isinstance(sizes, int) else tuple(sizes))

  def as_dict(self) -> dict[str, Any]:
    return {'way': int(self.way), 'shots': int(self.shots), 'queries': int(self.queries),
            'image_sizes': [int(s) for s in self.image_sizes]}


def _unique_ints(classes: Sequence[int], what: str) -> list[int]:
  try:
    values = np.asarray(list(classes))
  except TypeError as e:
    raise DataError(f'{what} must be a list of class ids, got {classes!r}') from e
  if values.size and (values.ndim != 1 or not np.issubdtype(values.dtype, np.integer)):
    raise DataError(f'{what} must be a list of integer class ids, got {list(classes)!r}')
  return sorted({int(c) for c in values})


def split_classes(classes: Sequence[int], held_out: int | float,
                  seed: int) -> tuple[list[int], list[int]]:
  """Splits class ids into disjoint (train, held-out) sets at random.

  Meta-training on some classes and evaluating few-shot episodes on the others measures how
  the learned prior transfers to classes it has never seen.

  Args:
    classes: the class ids to split (duplicates are ignored; the order does not matter).
    held_out: how many classes to hold out (an int, ``0 <= held_out < len(classes)``) or which
      share of them (a float in (0, 1); rounded, but both parts keep at least one class).
    seed: the same seed and classes always give the same split.

  Returns:
    ``(train_classes, held_out_classes)``: sorted lists of python ints, disjoint, together
    ``classes``.
  """
  pool = _unique_ints(classes, 'the classes to split')
  n = len(pool)
  if n == 0:
    raise DataError('cannot split an empty class list')
  if isinstance(held_out, (bool, np.bool_)):
    raise DataError(f'held-out classes must be a count or a fraction in (0, 1), got {held_out}')
  if isinstance(held_out, (int, np.integer)):
    count = int(held_out)
    if not 0 <= count < n:
      raise DataError(f'cannot hold out {count} of {n} classes (need 0 <= held out < {n}, so '
                      f'that some classes are left to train on)')
  elif isinstance(held_out, (float, np.floating)):
    if not 0.0 < held_out < 1.0:
      raise DataError(f'a held-out fraction must be in (0, 1), got {held_out}')
    if n < 2:
      raise DataError(f'cannot hold out a fraction of {n} class: both parts need a class')
    count = min(max(int(round(n * held_out)), 1), n - 1)
  else:
    raise DataError(f'held-out classes must be a count or a fraction in (0, 1), got {held_out!r}')
  perm = np.random.default_rng(seed).permutation(n)
  held = sorted(pool[k] for k in perm[:count])
  train = sorted(pool[k] for k in perm[count:])
  return train, held


def _positive(value, what: str) -> int:
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
    raise DataError(f'{what} must be a positive integer, got {value!r}')
  return int(value)


def _stack(trees: list) -> Any:
  if isinstance(trees[0], dict):
    return {k: _stack([t[k] for t in trees]) for k in trees[0]}
  return np.stack(trees)


class TaskSampler:
  """Deterministic k-way tasks over ``classes`` of ``source``.

  Args:
    source: a :class:`~base_nas.data.sources.Source`; only its labels are read here.
    classes: the class ids tasks may draw from (e.g. the train part of :func:`split_classes`).
    shape: way, shots, queries and image sizes of every task.
    mean: per-channel mean in [0, 1] units (see :func:`~base_nas.data.pipeline.channel_stats`).
    std: per-channel std in [0, 1] units; images are normalised exactly like ``Loader``'s.
    seed: with a task's index (or a meta-step), fixes everything random about it.

  Raises:
    DataError: if the class list is empty, has fewer classes than ``shape.way``, a class has
      fewer than ``shots + queries`` images, or the shape or statistics are invalid.
  """

  def __init__(self, source, classes: Sequence[int], shape: TaskShape = TaskShape(), *,
               mean, std, seed: int = 0):
    self.source = source
    self.shape = shape
    self.seed = int(seed)
    self._name = ' '.join(['the task source', getattr(source, 'name', '') or '']).strip()
    self.classes = _unique_ints(classes, 'task classes')
    self._validate_shape(shape)
    if self.seed < 0:
      raise DataError(f'the task seed must be non-negative, got {seed}')
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if mean.size != 3 or std.size != 3:
      raise DataError(f'mean and std must have one value per RGB channel (3), got {mean.size} '
                      f'and {std.size}')
    if not np.all(np.isfinite(std)) or np.any(std <= 0) or not np.all(np.isfinite(mean)):
      raise DataError(f'std must be positive and finite (and mean finite), got mean '
                      f'{mean.reshape(3).tolist()} std {std.reshape(3).tolist()}')
    self.mean, self.std = mean.reshape(3), std.reshape(3)
    # The same multiply-add as Loader, so a prior meets the same inputs in meta-training and in
    # ordinary training and evaluation.
    self._scale = 1.0 / (255.0 * self.std)
    self._shift = self.mean / self.std
    self._by_class = self._index_table(np.asarray(source.labels, dtype=np.int64))

  def _validate_shape(self, shape: TaskShape) -> None:
    for field in ('way', 'shots', 'queries'):
      _positive(getattr(shape, field), f'task {field}')
    if not shape.image_sizes:
      raise DataError('task image_sizes is empty: give at least one image size')
    for size in shape.image_sizes:
      _positive(size, f'every task image size (in {list(shape.image_sizes)})')
    if not self.classes:
      raise DataError(f'no classes to draw tasks from in {self._name} (the class list is empty)')

  def _index_table(self, labels: np.ndarray) -> list[np.ndarray]:
    # One stable sort instead of a scan per class: ImageNet-sized label arrays times a thousand
    # classes would otherwise take seconds.
    name = self._name
    order = np.argsort(labels, kind='stable')
    sorted_labels = labels[order]
    wanted = np.asarray(self.classes, dtype=np.int64)
    lo = np.searchsorted(sorted_labels, wanted, side='left')
    hi = np.searchsorted(sorted_labels, wanted, side='right')
    way, need = self.shape.way, self.shape.shots + self.shape.queries
    if len(self.classes) < way:
      held = len(np.setdiff1d(np.unique(labels), wanted))
      after = f' (after holding out {held})' if held else ''
      raise DataError(f'{name} has {len(self.classes)} classes{after}; a '
                      f'{way}-way task needs at least {way}')
    counts = hi - lo
    short = np.flatnonzero(counts < need)
    if len(short):
      k = short[0]
      more = f' (and {len(short) - 1} more classes)' if len(short) > 1 else ''
      raise DataError(f'class {self.classes[k]} of {name} has {counts[k]} images, fewer than the '
                      f'{need} a task needs ({self.shape.shots} shots + {self.shape.queries} '
                      f'queries){more}')
    return [order[a:b] for a, b in zip(lo, hi)]

  def image_size(self, step: int) -> int:
    """The image side length of meta-step ``step``, drawn from ``shape.image_sizes``.

    All tasks of a step share it so that their batches stack into one array (one compiled
    program per size rather than per task).
    """
    sizes = self.shape.image_sizes
    if len(sizes) == 1:
      return int(sizes[0])
    # A third entry keeps this stream apart from task(index) == step's.
    rng = np.random.default_rng([self.seed, int(step), 1])
    return int(sizes[int(rng.integers(len(sizes)))])

  def task(self, index: int, image_size: int | None = None) -> dict[str, Any]:
    """Task ``index``, the same for the same seed and index.

    Args:
      index: a non-negative task number.
      image_size: side length of the images; may be left out when the shape has a single size.

    Returns:
      ``{'support': {'image': float32 [way*shots, S, S, 3], 'label': int32 [way*shots]},
      'query': {'image': float32 [way*queries, S, S, 3], 'label': int32 [way*queries]},
      'classes': int64 [way], 'indices': {'support': int64 [way*shots], 'query': int64
      [way*queries]}}``. ``classes[l]`` is the original class id of label ``l``; ``indices`` are
      the source indices behind each image, in the same order. Both sets are shuffled.
    """
    size = self._size(image_size)
    way, shots, queries = self.shape.way, self.shape.shots, self.shape.queries
    rng = np.random.default_rng([self.seed, int(index)])
    picked = rng.choice(len(self.classes), size=way, replace=False)
    support_idx = np.empty((way, shots), dtype=np.int64)
    query_idx = np.empty((way, queries), dtype=np.int64)
    for label, k in enumerate(picked):
      chosen = rng.choice(self._by_class[k], size=shots + queries, replace=False)
      support_idx[label], query_idx[label] = chosen[:shots], chosen[shots:]
    support_labels = np.repeat(np.arange(way, dtype=np.int32), shots)
    query_labels = np.repeat(np.arange(way, dtype=np.int32), queries)
    # Grouped by class, a batch would let batch-dependent layers and anything order-sensitive
    # read the label off the position.
    sp, qp = rng.permutation(way * shots), rng.permutation(way * queries)
    support_idx, support_labels = support_idx.reshape(-1)[sp], support_labels[sp]
    query_idx, query_labels = query_idx.reshape(-1)[qp], query_labels[qp]
    images, _ = self.source.get_batch(np.concatenate([support_idx, query_idx]))
    x = resize_batch(images, size).astype(np.float32) * self._scale - self._shift
    n = len(support_idx)
    return {
        'support': {'image': x[:n], 'label': support_labels},
        'query': {'image': x[n:], 'label': query_labels},
        'classes': np.asarray([self.classes[k] for k in picked], dtype=np.int64),
        'indices': {'support': support_idx, 'query': query_idx},
    }

  def _size(self, image_size: int | None) -> int:
    if image_size is None:
      if len(self.shape.image_sizes) != 1:
        raise DataError(f'give an image size: this task shape has several '
                        f'({list(self.shape.image_sizes)})')
      return int(self.shape.image_sizes[0])
    return _positive(image_size, 'image size')

  def batch(self, step: int, num_tasks: int, *, start: int = 0, count: int | None = None,
            first_task: int | None = None) -> dict[str, Any]:
    """Meta-step ``step``'s tasks (or a contiguous share of them), stacked on a new leading axis.

    The meta-batch is tasks ``first_task .. first_task + num_tasks - 1`` (``first_task`` defaults
    to ``step * num_tasks``, so consecutive steps never repeat a task) at ``image_size(step)``.
    ``start`` and ``count`` pick positions ``start .. start + count - 1`` of it, so that each
    process of a multi-host run builds only its own share (``parallel.process_share``) and the
    shares together are exactly the full batch: task ``first_task + p`` is the same wherever it
    is built.

    Args:
      step: the meta-step; picks the image size and, by default, the tasks.
      num_tasks: tasks in the whole meta-batch (over all processes).
      start: first position of the meta-batch to build.
      count: how many positions to build; ``None`` means up to the end.
      first_task: index of the meta-batch's first task, to draw from another range.

    Returns:
      The :meth:`task` dict with every array given a leading task axis, e.g. support image
      ``[count, way*shots, S, S, 3]`` and classes ``[count, way]``.
    """
    num_tasks = _positive(num_tasks, 'num_tasks')
    start = int(start)
    count = num_tasks - start if count is None else int(count)
    if start < 0 or count < 1 or start + count > num_tasks:
      raise DataError(f'start={start}, count={count} is not a non-empty part of a '
                      f'{num_tasks}-task meta-batch')
    first = int(step) * num_tasks if first_task is None else int(first_task)
    size = self.image_size(step)
    return _stack([self.task(first + p, size) for p in range(start, start + count)])

  def describe(self) -> dict[str, Any]:
    """What fixes the tasks, as JSON-able values (recorded in a run directory)."""
    return {
        'source': getattr(self.source, 'name', '') or '',
        'classes': list(self.classes),
        'shape': self.shape.as_dict(),
        'seed': self.seed,
        'mean': [float(v) for v in self.mean],
        'std': [float(v) for v in self.std],
    }

  def __repr__(self) -> str:
    s = self.shape
    return (f'TaskSampler({getattr(self.source, "name", "")!r}, {len(self.classes)} classes, '
            f'{s.way}-way {s.shots}-shot {s.queries}-query, sizes {list(s.image_sizes)})')


def episode_sampler(source, classes: Sequence[int], way: int, shots: int, queries: int,
                    image_size: int, *, mean, std, seed: int = 0) -> TaskSampler:
  """A sampler of ``way``-way ``shots``-shot evaluation episodes at one image size.

  Few-shot evaluation is the same draw as meta-training with another shape (and normally the
  held-out classes), so episode ``i`` is ``sampler.task(i)``.
  """
  return TaskSampler(source, classes, TaskShape(way, shots, queries, (image_size,)), mean=mean,
                     std=std, seed=seed)
