"""Look-up of NAS-Bench-201 test accuracies: every cell of the space has been trained already.

The package ships a compact copy of the benchmark (made by ``scripts/make_nb201_table.py``):
for all 15,625 cells, the 200-epoch test accuracy (%) on CIFAR-10, CIFAR-100 and ImageNet16-120.
Source: NAS-Bench-201 / NATS-Bench (Dong and Yang, ICLR 2020), via NASLib (Apache-2.0).
"""
from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import os
from typing import Union

import numpy as np

from base_nas.errors import GenotypeError
from base_nas.spaces.nb201 import NB201_OPS, NB201Genotype

DATASETS = ("cifar10", "cifar100", "imagenet16")
_ALIASES = {"imagenet16-120": "imagenet16", "imagenet16_120": "imagenet16"}
_RESOURCE = "nb201_cifar10_cifar100_imagenet16.csv.gz"

GenotypeLike = Union[NB201Genotype, str]

_default_table: NB201Table | None = None


def _arch_key(g: NB201Genotype) -> str:
  return "".join(str(NB201_OPS.index(op)) for op in g.ops)


class NB201Table:
  """Test accuracies of all NAS-Bench-201 cells, keyed by genotype.

  Build with :meth:`load`. Accepts genotypes as :class:`NB201Genotype` or architecture strings.
  """

  def __init__(self, indices: np.ndarray, archs: list[str], accuracies: dict[str, np.ndarray]):
    """Wraps parsed columns; use :meth:`load` rather than calling this directly.

    Args:
      indices: NAS-Bench-201 index per row.
      archs: 6-digit op codes per row (positions in ``NB201_OPS``, edges in ``NB201_EDGES``).
      accuracies: ``{dataset: float array}`` per row, for every name in :data:`DATASETS`.
    """
    self._indices = indices
    self._archs = archs
    self._acc = accuracies
    self._row = {a: k for k, a in enumerate(archs)}

  @classmethod
  def load(cls, path: str | os.PathLike | None = None) -> NB201Table:
    """Reads a table file; by default the packaged copy, parsed once per process.

    Args:
      path: A gzip (or plain) CSV in the format ``scripts/make_nb201_table.py`` writes.

    Raises:
      GenotypeError: the file is missing or not such a table.
    """
    global _default_table
    if path is None:
      if _default_table is None:
        resource = importlib.resources.files("base_nas") / "resources" / _RESOURCE
        _default_table = cls._parse(resource.read_bytes(), _RESOURCE)
      return _default_table
    name = os.fspath(path)
    try:
      with open(name, "rb") as f:
        data = f.read()
    except OSError as e:
      raise GenotypeError(f"cannot read NB201 table {name}: {e.strerror or e}") from None
    return cls._parse(data, name)

  @classmethod
  def _parse(cls, data: bytes, name: str) -> NB201Table:
    if data[:2] == b"\x1f\x8b":  # gzip magic; plain CSVs are accepted for hand-made tables
      data = gzip.decompress(data)
    lines = [ln for ln in io.StringIO(data.decode("utf-8")) if not ln.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader, None)
    expected = ["index", "arch", *DATASETS]
    if header != expected:
      raise GenotypeError(f"{name} is not an NB201 table: header {header}, expected {expected}")
    indices, archs, accs = [], [], []
    for line, row in enumerate(reader, start=2):
      try:
        if len(row) != len(expected) or len(row[1]) != 6 or not set(row[1]) <= set("01234"):
          raise ValueError(row)
        indices.append(int(row[0]))
        archs.append(row[1])
        accs.append([float(x) for x in row[2:]])
      except ValueError:
        raise GenotypeError(f"{name}: malformed row {line} after the comments: {row}") from None
    if len(set(archs)) != len(archs):
      raise GenotypeError(f"{name}: some architecture appears more than once")
    acc = np.asarray(accs, np.float64).reshape(-1, len(DATASETS))
    return cls(np.asarray(indices, np.int64), archs,
               {d: acc[:, k] for k, d in enumerate(DATASETS)})

  def __len__(self) -> int:
    return len(self._archs)

  def _dataset(self, dataset: str) -> str:
    key = _ALIASES.get(str(dataset).lower(), str(dataset).lower())
    if key not in self._acc:
      raise GenotypeError(f"unknown NB201 dataset {dataset!r} (choose from: {', '.join(DATASETS)})")
    return key

  def _row_of(self, genotype: GenotypeLike) -> int:
    g = genotype if isinstance(genotype, NB201Genotype) else NB201Genotype.from_string(genotype)
    key = _arch_key(g)
    if key not in self._row:
      raise GenotypeError(f"architecture {g.to_string()} is not in the NB201 table")
    return self._row[key]

  def index(self, genotype: GenotypeLike) -> int:
    """Returns the cell's NAS-Bench-201 index."""
    return int(self._indices[self._row_of(genotype)])

  def accuracy(self, genotype: GenotypeLike, dataset: str = "cifar10") -> float:
    """Returns the 200-epoch test accuracy (%) of a cell on 'cifar10', 'cifar100' or 'imagenet16'."""
    d = self._dataset(dataset)
    return float(self._acc[d][self._row_of(genotype)])

  def best(self, dataset: str = "cifar10") -> tuple[NB201Genotype, float]:
    """Returns the most accurate cell on ``dataset`` (the first in table order on ties)."""
    acc = self._acc[self._dataset(dataset)]
    k = int(np.argmax(acc))
    return self._genotype(k), float(acc[k])

  def rank(self, genotype: GenotypeLike, dataset: str = "cifar10") -> tuple[int, int]:
    """Returns ``(rank, n)``: 1 + the number of strictly better cells, and the table size."""
    acc = self._acc[self._dataset(dataset)]
    mine = acc[self._row_of(genotype)]
    return int(np.sum(acc > mine)) + 1, len(self)

  def genotypes(self) -> list[NB201Genotype]:
    """Returns every cell, in table (NAS-Bench-201 index) order."""
    return [self._genotype(k) for k in range(len(self))]

  def _genotype(self, row: int) -> NB201Genotype:
    return NB201Genotype(tuple(NB201_OPS[int(c)] for c in self._archs[row]))
