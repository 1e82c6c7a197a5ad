"""Batching, resizing, normalisation and augmentation of a :class:`~base_nas.data.sources.Source`.

Batches are a pure function of ``(seed, epoch, batch index)``: the shuffle order comes from
``(seed, epoch)`` and each batch's augmentation from ``(seed, epoch, batch)``, so a resumed run
sees exactly the batches it would have seen, and skipping batches needs no decoding.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from base_nas.errors import DataError


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Splits ``range(n)`` into shuffled-then-sorted (train, val) index arrays.

  Args:
    n: number of examples.
    val_fraction: share of examples for the second part, in [0, 1).
    seed: the same seed always gives the same split.

  Returns:
    Two disjoint sorted int64 arrays covering ``range(n)``.
  """
  if not 0.0 <= val_fraction < 1.0:
    raise DataError(f'val_fraction must be in [0, 1), got {val_fraction}')
  perm = np.random.default_rng(seed).permutation(n)
  n_val = int(round(n * val_fraction))
  return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


def resize_batch(images: Sequence[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
  """Stacks uint8 RGB images into ``[B, size, size, 3]``, resizing (bilinear) only where needed."""
  if isinstance(images, np.ndarray) and images.shape[1:3] == (size, size):
    return images
  out = np.empty((len(images), size, size, 3), dtype=np.uint8)
  for k, image in enumerate(images):
    if image.shape[:2] == (size, size):
      out[k] = image
    else:
      out[k] = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
  return out


def channel_stats(source, indices, image_size: int, max_images: int = 2000,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and std (in [0, 1] units) over a random sample of ``indices``.

  Args:
    source: a Source.
    indices: the examples to sample from (normally the training indices).
    image_size: images are resized to this first, as the loader will.
    max_images: at most this many images are decoded.
    seed: picks the sample.

  Returns:
    ``(mean[3], std[3])`` as float32.
  """
  indices = np.asarray(indices, dtype=np.int64)
  if len(indices) == 0:
    raise DataError(f'cannot compute channel statistics of {getattr(source, "name", source)}: '
                    'no examples')
  if len(indices) > max_images:
    indices = np.sort(np.random.default_rng(seed).choice(indices, max_images, replace=False))
  total = np.zeros(3)
  total_sq = np.zeros(3)
  count = 0
  for start in range(0, len(indices), 256):
    images, _ = source.get_batch(indices[start:start + 256])
    x = resize_batch(images, image_size).reshape(-1, 3).astype(np.float64) / 255.0
    total += x.sum(0)
    total_sq += (x * x).sum(0)
    count += len(x)
  mean = total / count
  std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
  return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)


_DONE = object()


class Loader:
  """Iterates a Source in normalised float32 batches, with a background prefetch thread.

  Args:
    source: a Source.
    indices: which examples of ``source`` make up the epoch.
    batch_size: examples per batch.
    image_size: side length the images are resized to.
    mean: per-channel mean in [0, 1] units (see :func:`channel_stats`).
    std: per-channel std in [0, 1] units.
    augment: random crop with zero padding of ``image_size // 8`` plus horizontal flip.
    cutout: side of a square zeroed at a random centre (after normalisation); 0 disables it.
    shuffle: reshuffle every epoch.
    drop_remainder: drop the last, incomplete batch.
    seed: with the epoch number, fixes the order and the augmentation.
    prefetch: batches prepared ahead in a background thread; 0 prepares them inline.
  """

  def __init__(self, source, indices, batch_size: int, image_size: int, *, mean, std,
               augment: bool = False, cutout: int = 0, shuffle: bool = True,
               drop_remainder: bool = True, seed: int = 0, prefetch: int = 2):
    self.source = source
    self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if batch_size < 1 or image_size < 1:
      raise DataError(f'batch_size and image_size must be positive, got {batch_size} and '
                      f'{image_size}')
    if drop_remainder and len(self.indices) < batch_size:
      raise DataError(f'{getattr(source, "name", "dataset")} has only {len(self.indices)} examples '
                      f'here, fewer than one batch of {batch_size} (lower the batch size)')
    self.batch_size = batch_size
    self.image_size = image_size
    mean = np.asarray(mean, dtype=np.float32).reshape(3)
    std = np.asarray(std, dtype=np.float32).reshape(3)
    # (x / 255 - mean) / std as one multiply-add.
    self._scale = 1.0 / (255.0 * std)
    self._shift = mean / std
    self.augment = augment
    self.cutout = cutout
    self.shuffle = shuffle
    self.drop_remainder = drop_remainder
    self.seed = seed
    self.prefetch = prefetch

  def __len__(self) -> int:
    n, b = len(self.indices), self.batch_size
    return n // b if self.drop_remainder else -(-n // b)

  def order(self, epoch: int) -> np.ndarray:
    """The example indices of ``epoch`` in the order they are batched."""
    if not self.shuffle:
      return self.indices
    return np.random.default_rng([self.seed, epoch, 0]).permutation(self.indices)

  def _batch(self, epoch: int, b: int, idx: np.ndarray) -> dict[str, np.ndarray]:
    images, labels = self.source.get_batch(idx)
    x = resize_batch(images, self.image_size)
    rng = np.random.default_rng([self.seed, epoch, 1, b])
    if self.augment:
      x = self._crop_flip(x, rng)
    x = x.astype(np.float32) * self._scale - self._shift
    if self.cutout > 0:
      x = self._cutout(x, rng)
    return {'image': x, 'label': np.asarray(labels, dtype=np.int32)}

  def _crop_flip(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, s = len(x), self.image_size
    pad = s // 8
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    flip = rng.random(n) < 0.5
    out = np.empty_like(x)
    for k in range(n):
      crop = padded[k, dy[k]:dy[k] + s, dx[k]:dx[k] + s]
      out[k] = crop[:, ::-1] if flip[k] else crop
    return out

  def _cutout(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # DARTS-style: the centre may sit near the border, so the square can be clipped.
    n, s = len(x), self.image_size
    cy, cx = rng.integers(0, s, size=(2, n))
    half = self.cutout // 2
    for k in range(n):
      y0, y1 = max(cy[k] - half, 0), min(cy[k] - half + self.cutout, s)
      x0, x1 = max(cx[k] - half, 0), min(cx[k] - half + self.cutout, s)
      x[k, y0:y1, x0:x1] = 0.0
    return x

  def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Yields the batches of ``epoch`` from batch ``start`` on.

    Each batch is ``{'image': float32 [B, S, S, 3], 'label': int32 [B]}``; skipped batches are
    never decoded.
    """
    order = self.order(epoch)
    work = [(b, order[b * self.batch_size:(b + 1) * self.batch_size])
            for b in range(start, len(self))]
    if self.prefetch <= 0:
      return (self._batch(epoch, b, idx) for b, idx in work)
    return self._prefetched(epoch, work)

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self.epoch(0)

  def _prefetched(self, epoch: int, work) -> Iterator[dict[str, np.ndarray]]:
    out: queue.Queue = queue.Queue(maxsize=self.prefetch)
    stop = threading.Event()

    def put(item) -> bool:
      # Time out now and then so an abandoned iterator lets the thread end.
      while not stop.is_set():
        try:
          out.put(item, timeout=0.1)
          return True
        except queue.Full:
          pass
      return False

    def produce():
      try:
        for b, idx in work:
          if stop.is_set() or not put(self._batch(epoch, b, idx)):
            return
        put(_DONE)
      except BaseException as e:  # pylint: disable=broad-except  # re-raised in the consumer
        put(e)

    thread = threading.Thread(target=produce, name='base_nas-loader', daemon=True)
    thread.start()
    try:
      while True:
        item = out.get()
        if item is _DONE:
          return
        if isinstance(item, BaseException):
          raise item
        yield item
    finally:
      stop.set()
