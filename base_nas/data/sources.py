"""Opening image-classification datasets from tfds, folders, zips, npz files and built-in sets.

Every dataset becomes a :class:`Dataset` of named splits, each a :class:`Source`: random access to
``(uint8 image [H, W, 3], int label)`` pairs that decodes one image at a time, so that a loader
only ever holds the batch at hand in memory.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import threading
import zipfile
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from base_nas.errors import DataError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
SPLIT_NAMES = ('train', 'val', 'valid', 'validation', 'test')
SPEC_HELP = 'expected tfds:NAME[:SPLIT], folder:PATH, zip:PATH, npz:PATH or builtin:digits|synthetic'


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Float images are documented as [0, 1] (rounding keeps 1.0 -> 255 exact); integer ones 0..255."""
  if images.dtype == np.uint8:
    return images
  if np.issubdtype(images.dtype, np.floating):
    images = np.rint(images.astype(np.float32) * 255.0)
  return np.clip(images, 0, 255).astype(np.uint8)


def to_rgb(image: np.ndarray) -> np.ndarray:
  """Returns ``image`` as uint8 ``[H, W, 3]``, from grey, grey+channel, RGB or RGBA input."""
  image = to_uint8(np.asarray(image))
  if image.ndim == 2:
    image = image[:, :, None]
  if image.shape[-1] == 1:
    return np.repeat(image, 3, axis=-1)
  return image[:, :, :3]


class Source:
  """Random access to one split: ``source[i] -> (uint8 [H, W, 3], int)``."""

  name: str = ''

  def __len__(self) -> int:
    raise NotImplementedError

  def _image(self, i: int) -> np.ndarray:
    raise NotImplementedError

  @property
  def labels(self) -> np.ndarray:
    """All labels as int64, without decoding images where the format allows."""
    raise NotImplementedError

  def _check_index(self, i) -> int:
    i = int(i)
    n = len(self)
    if i < 0:
      i += n
    if not 0 <= i < n:
      raise IndexError(f'index {i} out of range for {self.name} ({n} examples)')
    return i

  def __getitem__(self, i) -> tuple[np.ndarray, int]:
    i = self._check_index(i)
    return self._image(i), int(self.labels[i])

  def get_batch(self, indices: Sequence[int]) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray]:
    """Decodes the images at ``indices``; a list because folder images may differ in size."""
    indices = [self._check_index(i) for i in indices]
    return [self._image(i) for i in indices], self.labels[indices]

  def __repr__(self) -> str:
    return f'{type(self).__name__}({self.name!r}, {len(self)} examples)'


@dataclasses.dataclass
class Dataset:
  """A named set of splits sharing one label space."""

  name: str
  num_classes: int
  splits: dict[str, Source]
  class_names: list[str] | None = None

  def split(self, name: str) -> Source:
    if name not in self.splits:
      raise DataError(f"unknown split '{name}' for dataset {self.name} "
                      f"(available: {', '.join(sorted(self.splits)) or 'none'})")
    return self.splits[name]

  def train_split(self) -> Source:
    """The split to learn from: 'train', or the only split of a one-split spec (tfds:NAME:SPLIT)."""
    if "train" in self.splits or len(self.splits) != 1:
      return self.split("train")
    return next(iter(self.splits.values()))


# --- arrays (npz, built-in) ------------------------------------------------------------------------


class ArraySource(Source):
  """Images held in (or memory-mapped from, or loaded on first use into) one array."""

  def __init__(self, name: str, labels: np.ndarray, images: np.ndarray | None = None,
               load: Callable[[], np.ndarray] | None = None):
    self.name = name
    self._labels = labels
    self._images = images
    self._load = load
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self._labels)

  @property
  def labels(self) -> np.ndarray:
    return self._labels

  def _array(self) -> np.ndarray:
    if self._images is None:
      # The loader's prefetch thread and the caller may race to the first access.
      with self._lock:
        if self._images is None:
          self._images = self._load()
    return self._images

  def _image(self, i: int) -> np.ndarray:
    return to_rgb(self._array()[i])

  def get_batch(self, indices):
    indices = np.asarray([self._check_index(i) for i in indices], dtype=np.int64)
    images = self._array()[indices]
    images = to_uint8(images)
    if images.ndim == 3:
      images = images[..., None]
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)
    return images, self._labels[indices]


def _check_images_shape(shape, dtype, where: str) -> None:
  ok_dims = len(shape) == 3 or (len(shape) == 4 and shape[-1] in (1, 3))
  if not ok_dims or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
    raise DataError(f'{where}: images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3) uint8 or '
                    f'float in [0, 1], got shape {tuple(shape)} dtype {dtype}')


def _as_labels(y: np.ndarray, where: str) -> np.ndarray:
  y = np.asarray(y)
  if y.ndim == 2 and y.shape[1] == 1:
    y = y[:, 0]
  if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
    raise DataError(f'{where}: labels must be a 1-D integer array, got shape {y.shape} dtype {y.dtype}')
  labels = y.astype(np.int64)
  if np.issubdtype(y.dtype, np.floating) and not np.array_equal(labels, y):
    raise DataError(f'{where}: labels must be whole numbers (class indices)')
  if len(labels) and labels.min() < 0:
    raise DataError(f'{where}: labels must be non-negative class indices, found {labels.min()}')
  return labels


def _npz_member(path: str, zf: zipfile.ZipFile, key: str):
  """Returns ``(shape, dtype, loader)`` for array ``key`` without reading its data.

  Members stored uncompressed (``np.savez``) are memory-mapped; compressed ones
  (``np.savez_compressed``) have to be inflated, which happens on first use.
  """
  info = zf.getinfo(key + '.npy')
  with zf.open(info) as f:
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(f)
    header_len = f.tell()
  if info.compress_type == zipfile.ZIP_STORED and not dtype.hasobject:
    with open(path, 'rb') as raw:
      raw.seek(info.header_offset)
      local = raw.read(30)
    name_len, extra_len = struct.unpack('<HH', local[26:30])
    offset = info.header_offset + 30 + name_len + extra_len + header_len
    order = 'F' if fortran else 'C'
    return shape, dtype, lambda: np.memmap(path, dtype=dtype, mode='r', offset=offset, shape=shape,
                                           order=order)

  def load():
    with np.load(path, allow_pickle=False) as npz:
      return npz[key]

  return shape, dtype, load


def open_npz(path: str) -> Dataset:
  """Opens ``x, y`` (or ``x_train, y_train``) and optional ``x_test, y_test`` from an npz file."""
  if not os.path.isfile(path):
    raise DataError(f'npz file not found: {path}')
  try:
    zf = zipfile.ZipFile(path)
  except (zipfile.BadZipFile, OSError) as e:
    raise DataError(f'corrupt npz file {path}: {e}') from e
  with zf:
    keys = {n[:-4] for n in zf.namelist() if n.endswith('.npy')}

    def pick(*names):
      return next((k for k in names if k in keys), None)

    x_key, y_key = pick('x', 'x_train'), pick('y', 'y_train')
    for key, want in ((x_key, 'x'), (y_key, 'y')):
      if key is None:
        raise DataError(f"npz file {path} has no array '{want}' (or '{want}_train'); "
                        f"found: {', '.join(sorted(keys)) or 'nothing'}")
    pairs = {'train': (x_key, y_key)}
    if 'x_test' in keys or 'y_test' in keys:
      missing = 'y_test' if 'x_test' in keys else 'x_test'
      if missing not in keys:
        raise DataError(f"npz file {path} has no array '{missing}' to go with its test split")
      pairs['test'] = ('x_test', 'y_test')
    splits = {}
    try:
      for split, (xk, yk) in pairs.items():
        shape, dtype, load = _npz_member(path, zf, xk)
        where = f'npz file {path} [{xk}]'
        _check_images_shape(shape, dtype, where)
        with np.load(path, allow_pickle=False) as npz:
          labels = _as_labels(npz[yk], f'npz file {path} [{yk}]')
        if len(labels) != shape[0]:
          raise DataError(f'npz file {path}: {xk} has {shape[0]} images but {yk} has '
                          f'{len(labels)} labels')
        splits[split] = ArraySource(f'{os.path.basename(path)}:{split}', labels, load=load)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
      if isinstance(e, DataError):
        raise
      raise DataError(f'corrupt npz file {path}: {e}') from e
  num_classes = int(max(s.labels.max(initial=-1) for s in splits.values())) + 1
  return Dataset(os.path.basename(path), num_classes, splits)


# --- folders and zips of images -----------------------------------------------------------------------


class _DirReader:
  def __init__(self, root: str):
    self.root = root

  def where(self, name: str) -> str:
    return os.path.join(self.root, name)

  def read(self, name: str) -> bytes:
    with open(self.where(name), 'rb') as f:
      return f.read()


class _ZipReader:
  """Reads zip members through one ``ZipFile`` per thread and process (a shared one is not safe)."""

  def __init__(self, path: str):
    self.path = path
    self._local = threading.local()

  def where(self, name: str) -> str:
    return f'{self.path}:{name}'

  def read(self, name: str) -> bytes:
    local = self._local
    if getattr(local, 'pid', None) != os.getpid():
      local.zip, local.pid = zipfile.ZipFile(self.path), os.getpid()
    return local.zip.read(name)


def decode_image(data: bytes, where: str) -> np.ndarray:
  """Decodes image bytes to uint8 RGB; ``where`` names the file in the error."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      return np.asarray(image.convert('RGB'))
  except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, ...).
    raise DataError(f'corrupt image {where}: {e}') from e


class FileSource(Source):
  """Image files (in a folder or a zip), decoded on access."""

  def __init__(self, name: str, reader, files: list[str], labels: np.ndarray):
    self.name = name
    self._reader = reader
    self.files = files
    self._labels = labels

  def __len__(self) -> int:
    return len(self.files)

  @property
  def labels(self) -> np.ndarray:
    return self._labels

  def _image(self, i: int) -> np.ndarray:
    name = self.files[i]
    try:
      data = self._reader.read(name)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
      raise DataError(f'cannot read image {self._reader.where(name)}: {e}') from e
    return decode_image(data, self._reader.where(name))


def _layout(names: list[str], where: str) -> dict[str, list[tuple[str, str]]]:
  """Groups image paths (``/``-separated) into ``{split: [(path, class)]}``.

  Accepts ``class/img``, ``split/class/img`` and either under common top-level folders.
  """
  parts = [n.split('/') for n in names]
  if not parts:
    raise DataError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) found in {where}')
  depth = 0
  # Strip shared wrapper folders (e.g. a zip of "mydata/"), but never a split folder.
  while (all(len(p) - depth >= 3 for p in parts) and len({p[depth] for p in parts}) == 1
         and parts[0][depth].lower() not in SPLIT_NAMES):
    depth += 1
  kept = [p for p in parts if len(p) - depth >= 2]
  if not kept:
    raise DataError(f'{where} has images but no class subfolders (expected {where}/<class>/<image> '
                    f'or {where}/<split>/<class>/<image>)')
  tops = {p[depth] for p in kept}
  by_split: dict[str, list[tuple[str, str]]] = {}
  if all(t.lower() in SPLIT_NAMES for t in tops):
    for p in kept:
      if len(p) - depth >= 3:
        by_split.setdefault(p[depth], []).append(('/'.join(p), p[depth + 1]))
    if not by_split:
      raise DataError(f'{where} has split folders ({", ".join(sorted(tops))}) but no class '
                      f'subfolders in them')
  else:
    for p in kept:
      by_split.setdefault('train', []).append(('/'.join(p), p[depth]))
  return by_split


def _files_dataset(name: str, reader, names: list[str], where: str) -> Dataset:
  by_split = _layout(sorted(names), where)
  class_names = sorted({c for items in by_split.values() for _, c in items})
  index = {c: i for i, c in enumerate(class_names)}
  splits = {}
  for split, items in sorted(by_split.items()):
    files = [f for f, _ in items]
    labels = np.asarray([index[c] for _, c in items], dtype=np.int64)
    splits[split] = FileSource(f'{name}:{split}', reader, files, labels)
  return Dataset(name, len(class_names), splits, class_names)


def _is_image(name: str) -> bool:
  base = name.rsplit('/', 1)[-1]
  return base.lower().endswith(IMAGE_EXTENSIONS) and not base.startswith('.')


def open_folder(path: str) -> Dataset:
  """Opens a folder of class folders, optionally under train/val/test folders."""
  if not os.path.exists(path):
    raise DataError(f'dataset folder not found: {path}')
  if os.path.isfile(path):
    if zipfile.is_zipfile(path):
      return open_zip(path)
    raise DataError(f'not a folder or zip file: {path}')
  names = []
  for root, dirs, files in os.walk(path, followlinks=True):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    rel = os.path.relpath(root, path)
    prefix = '' if rel == '.' else rel.replace(os.sep, '/') + '/'
    names.extend(prefix + f for f in files if _is_image(f))
  name = os.path.basename(os.path.normpath(path))
  return _files_dataset(name, _DirReader(path), names, path)


def open_zip(path: str) -> Dataset:
  """Opens the folder layout of :func:`open_folder` inside a zip; images decode lazily."""
  if not os.path.isfile(path):
    raise DataError(f'zip file not found: {path}')
  try:
    with zipfile.ZipFile(path) as zf:
      names = [n for n in zf.namelist()
               if not n.endswith('/') and not n.startswith('__MACOSX/') and _is_image(n)]
  except (zipfile.BadZipFile, OSError) as e:
    raise DataError(f'corrupt zip file {path}: {e}') from e
  name = os.path.basename(path)
  name = name[:-4] if name.lower().endswith('.zip') else name
  return _files_dataset(name, _ZipReader(path), names, path)


# --- tfds ------------------------------------------------------------------------------------------


class TfdsSource(Source):
  """One split of a prepared tfds dataset, read through ``array_record`` random access."""

  def __init__(self, name: str, data_source, make_label_source: Callable[[], Sequence]):
    self.name = name
    self._ds = data_source
    self._make_label_source = make_label_source
    self._labels: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self._ds)

  @property
  def labels(self) -> np.ndarray:
    if self._labels is None:
      self._labels = self._read_labels()
    return self._labels

  def _read_labels(self) -> np.ndarray:
    # Skipping image decoding makes the pass over all records several times cheaper; a source
    # that cannot skip it (tfds's mock, without TensorFlow) falls back to full decoding.
    try:
      fast = self._make_label_source()
      return np.asarray([int(fast[i]['label']) for i in range(len(self))], dtype=np.int64)
    except Exception:  # pylint: disable=broad-except
      return np.asarray([int(self._ds[i]['label']) for i in range(len(self))], dtype=np.int64)

  def __getitem__(self, i):
    example = self._ds[self._check_index(i)]
    return to_rgb(example['image']), int(example['label'])

  def get_batch(self, indices):
    pairs = [self[i] for i in indices]
    return [p[0] for p in pairs], np.asarray([p[1] for p in pairs], dtype=np.int64)


def _prepare_hint(name: str, folder: str, where: str) -> str:
  return (f"tfds dataset '{name}' is not prepared in {where} (no download is attempted). "
          f'Prepare it on a machine with TensorFlow: `tfds build {name} --file_format=array_record '
          f'--data_dir DIR`, then copy DIR/{folder} here and set data.data_dir=DIR '
          f'(see docs/data.md)')


def open_tfds(name: str, split: str | None, data_dir: str | None) -> Dataset:
  """Opens a prepared tfds dataset (array_record format) without TensorFlow or downloads."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel  # slow import

  if data_dir is not None and not os.path.isdir(data_dir):
    raise DataError(f'tfds data dir not found: {data_dir}')
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    where = data_dir or '~/tensorflow_datasets (or $TFDS_DATA_DIR)'
    raise DataError(f"unknown tfds dataset '{name}': not a tfds catalogue name and not prepared "
                    f'in {where}') from e
  except Exception as e:  # pylint: disable=broad-except  # tfds raises assorted errors for bad names
    raise DataError(f"cannot open tfds dataset '{name}': {e}") from e
  where = os.path.dirname(os.path.dirname(str(builder.data_dir)))
  features = builder.info.features
  missing = [k for k in ('image', 'label') if k not in features]
  if missing:
    raise DataError(f"tfds dataset '{name}' has no '{missing[0]}' feature "
                    f"(features: {', '.join(features.keys())})")
  available = list(builder.info.splits)
  if split is not None and available and split.split('[')[0] not in available:
    raise DataError(f"unknown split '{split}' for tfds dataset '{name}' "
                    f"(available: {', '.join(sorted(available))})")
  try:
    # as_data_source never downloads (unlike data_source with download=True); an unprepared
    # dataset fails at once. tfds's mock works here even though is_prepared() is False.
    sources = builder.as_data_source(split=split)
  except Exception as e:  # pylint: disable=broad-except
    if not builder.is_prepared():
      raise DataError(_prepare_hint(name, builder.name, where)) from e
    raise DataError(f"cannot read tfds dataset '{name}' from {builder.data_dir}: {e} (it must be "
                    f'prepared with --file_format=array_record)') from e
  if split is not None:
    sources = {split: sources}
  if not sources:
    raise DataError(_prepare_hint(name, builder.name, where))

  def label_source(s):
    return lambda: builder.as_data_source(split=s, decoders={'image': tfds.decode.SkipDecoding()})

  splits = {s: TfdsSource(f'{name}:{s}', ds, label_source(s)) for s, ds in sources.items()}
  label = features['label']
  num_classes = getattr(label, 'num_classes', None)
  if num_classes is None:
    raise DataError(f"tfds dataset '{name}': feature 'label' is not a ClassLabel")
  names = list(getattr(label, 'names', None) or []) or None
  return Dataset(name, int(num_classes), splits, names)


# --- built-in datasets (no files, no downloads) ----------------------------------------------------


SYNTHETIC_CLASSES = ('horizontal', 'vertical', 'diagonal', 'antidiagonal', 'checker', 'disc',
                     'ring', 'square', 'cross', 'triangle')


def synthetic_image(label: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
  """Draws one ``size x size`` RGB pattern whose shape (not colour) identifies ``label``."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  period, phase = rng.uniform(4.0, 9.0), rng.uniform(0.0, 9.0)
  cy, cx = rng.uniform(0.35 * size, 0.65 * size, 2)
  r = rng.uniform(0.18 * size, 0.3 * size)
  dy, dx = yy - cy, xx - cx
  stripes = lambda t: ((t + phase) % period) < period / 2
  masks = (
      lambda: stripes(yy),
      lambda: stripes(xx),
      lambda: stripes((xx + yy) / np.sqrt(2)),
      lambda: stripes((xx - yy + size) / np.sqrt(2)),
      lambda: stripes(yy) ^ stripes(xx),
      lambda: dy**2 + dx**2 < r**2,
      lambda: np.abs(np.sqrt(dy**2 + dx**2) - r) < 0.3 * r,
      lambda: (np.abs(dy) < 0.8 * r) & (np.abs(dx) < 0.8 * r),
      lambda: ((np.abs(dy) < 0.25 * r) | (np.abs(dx) < 0.25 * r)) & (np.abs(dy) < r) & (np.abs(dx) < r),
      lambda: (np.abs(dy) < r) & (np.abs(dx) < (dy + r) / 2),
  )
  mask = masks[label]()
  # Colours are random per image so that only the pattern carries the class.
  fg, bg = rng.uniform(0.55, 1.0, 3), rng.uniform(0.0, 0.45, 3)
  image = np.where(mask[..., None], fg, bg) + rng.normal(0.0, 0.04, (size, size, 3))
  return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


class SyntheticSource(Source):
  """Procedural images, generated on access from ``(seed, split, index)``."""

  def __init__(self, name: str, n: int, seed: int, stream: int):
    self.name = name
    self._seed, self._stream = seed, stream
    labels = np.arange(n, dtype=np.int64) % len(SYNTHETIC_CLASSES)
    self._labels = np.random.default_rng([seed, stream]).permutation(labels)

  def __len__(self) -> int:
    return len(self._labels)

  @property
  def labels(self) -> np.ndarray:
    return self._labels

  def _image(self, i: int) -> np.ndarray:
    rng = np.random.default_rng([self._seed, self._stream, i])
    return synthetic_image(int(self._labels[i]), rng)


def open_synthetic(seed: int = 0, n_train: int = 2000, n_test: int = 500) -> Dataset:
  """A small learnable 10-class 32x32 dataset for tests and examples."""
  splits = {'train': SyntheticSource('synthetic:train', n_train, seed, 0),
            'test': SyntheticSource('synthetic:test', n_test, seed, 1)}
  return Dataset('synthetic', len(SYNTHETIC_CLASSES), splits, list(SYNTHETIC_CLASSES))


def open_digits() -> Dataset:
  """scikit-learn's bundled 8x8 digits (1797 images), with a fixed 20% test split."""
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel  # slow import

  from base_nas.data.pipeline import split_indices  # pylint: disable=import-outside-toplevel

  digits = load_digits()
  images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
  labels = digits.target.astype(np.int64)
  train, test = split_indices(len(labels), 0.2, seed=0)
  splits = {'train': ArraySource('digits:train', labels[train], images[train]),
            'test': ArraySource('digits:test', labels[test], images[test])}
  return Dataset('digits', 10, splits, [str(d) for d in range(10)])


BUILTINS = {'digits': open_digits, 'synthetic': open_synthetic}


# --- specs -----------------------------------------------------------------------------------------


def _parse_tfds(rest: str, spec: str) -> tuple[str, str | None]:
  parts = rest.split(':')
  # Keep a version in the name ("mnist:3.0.1:train"), since tfds spells it with a colon too.
  if len(parts) >= 2 and parts[1][:1].isdigit() and parts[1].count('.') == 2:
    parts = [parts[0] + ':' + parts[1]] + parts[2:]
  if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
    raise DataError(f"bad tfds dataset spec '{spec}' (expected tfds:NAME or tfds:NAME:SPLIT)")
  return parts[0], (parts[1] if len(parts) == 2 else None)


def open_dataset(spec: str, data_dir: str | None = None) -> Dataset:
  """Opens a dataset from a spec string.

  Args:
    spec: ``tfds:NAME[:SPLIT]``, ``folder:PATH`` (a folder or a .zip), ``zip:PATH``, ``npz:PATH``,
      ``builtin:digits`` or ``builtin:synthetic``; a bare path is taken as a folder, zip or npz
      from what it is.
    data_dir: where prepared tfds datasets live (tfds's default when None); other kinds ignore it.

  Returns:
    The dataset with all its splits (or just SPLIT for a tfds spec that names one).

  Raises:
    DataError: for an unknown spec, a missing or unreadable path, or a dataset that is not prepared.
  """
  scheme, sep, rest = spec.partition(':')
  if not sep or scheme not in ('tfds', 'folder', 'zip', 'npz', 'builtin'):
    lower = spec.lower()
    if lower.endswith('.npz'):
      scheme, rest = 'npz', spec
    elif lower.endswith('.zip'):
      scheme, rest = 'zip', spec
    elif os.path.isdir(spec):
      scheme, rest = 'folder', spec
    else:
      missing = 'no such file or folder; ' if '/' in spec or os.sep in spec else ''
      raise DataError(f"unknown dataset spec '{spec}' ({missing}{SPEC_HELP})")
  if not rest:
    raise DataError(f"dataset spec '{spec}' names nothing after '{scheme}:' ({SPEC_HELP})")
  if scheme == 'tfds':
    return open_tfds(*_parse_tfds(rest, spec), data_dir)
  if scheme == 'builtin':
    if rest not in BUILTINS:
      raise DataError(f"unknown built-in dataset '{rest}' (available: {', '.join(BUILTINS)})")
    return BUILTINS[rest]()
  path = os.path.expanduser(rest)
  if scheme == 'npz':
    return open_npz(path)
  if scheme == 'zip':
    return open_zip(path)
  return open_folder(path)
