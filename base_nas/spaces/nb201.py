"""The NAS-Bench-201 search space (Dong and Yang, ICLR 2020), and the 4-node cell it shares.

A cell is a DAG over 4 nodes (node 0 is the input, node 3 the output) with one op on each of
its 6 edges; 'none' removes an edge. All 15,625 cells were trained, so a genotype can be looked up
in :mod:`base_nas.predict.tables` instead of trained.

TransNAS-Bench-101's micro space (:mod:`base_nas.spaces.tnb101`) uses the same cell with fewer
ops, so the cell's genotype, its ``|op~0|+...`` string and the space's conversions live here as
:class:`CellGenotype` and :class:`CellSpace`, parameterised by the op set.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from base_nas.errors import GenotypeError
from base_nas.spaces.genotype import SearchSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4
_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


def cell_string(ops: Sequence[str]) -> str:
  """Returns NAS-Bench-201's string of a cell's ops (in :data:`NB201_EDGES` order)."""
  groups = []
  for dst in range(1, NUM_NODES):
    groups.append("|".join(f"{op}~{src}" for (src, d), op in zip(NB201_EDGES, ops) if d == dst))
  return "|" + "|+|".join(groups) + "|"


def parse_cell_string(s: Any, space: str, valid_ops: tuple[str, ...]) -> tuple[str, ...]:
  """Parses a ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` string into ops in :data:`NB201_EDGES` order.

  Args:
    s: The string.
    space: The space's name, for error messages.
    valid_ops: The ops the space allows.

  Raises:
    GenotypeError: naming what is wrong with the string.
  """
  if not isinstance(s, str):
    raise GenotypeError(f"{space} architecture string must be a str, got {type(s).__name__}")
  text = s.strip()

  def bad(why: str) -> GenotypeError:
    shown = text if len(text) <= 120 else text[:117] + "..."
    return GenotypeError(f"malformed {space} architecture string {shown!r}: {why} "
                         f"(format: {_FORMAT})")

  if not (text.startswith("|") and text.endswith("|")) or len(text) < 2:
    raise bad("it must start and end with '|'")
  groups = text.split("+")
  if len(groups) != NUM_NODES - 1:
    raise bad(f"expected {NUM_NODES - 1} node groups separated by '+', got {len(groups)}")
  by_edge = {}
  for dst, group in enumerate(groups, start=1):
    if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
      raise bad(f"node {dst}'s group {group!r} must be enclosed in '|'")
    tokens = group[1:-1].split("|")
    if len(tokens) != dst:
      raise bad(f"node {dst} must have {dst} input(s), got {len(tokens)}")
    for src, token in enumerate(tokens):
      op, sep, idx = token.rpartition("~")
      if not sep or idx != str(src):
        raise bad(f"node {dst}'s input {src} should read 'op~{src}', got {token!r}")
      if op not in valid_ops:
        raise bad(f"unknown op {op!r} (valid: {', '.join(valid_ops)})")
      by_edge[(src, dst)] = op
  return tuple(by_edge[e] for e in NB201_EDGES)


@dataclasses.dataclass(frozen=True)
class CellGenotype:
  """One 4-node cell: the op of each edge, in :data:`NB201_EDGES` order.

  Subclasses fix the space's name (``SPACE``) and op set (``OPS``); genotypes of different
  spaces never compare equal, even with the same ops.

  Attributes:
    ops: Six op names from ``OPS`` ('none' allowed).
  """
  ops: tuple[str, ...]
  SPACE: ClassVar[str] = "cell"
  OPS: ClassVar[tuple[str, ...]] = ()

  def __post_init__(self):
    space, valid = type(self).SPACE, type(self).OPS
    if isinstance(self.ops, str) or not isinstance(self.ops, (list, tuple)):
      raise GenotypeError(f"{space} genotype ops must be a sequence of {len(NB201_EDGES)} op "
                          f"names, got {self.ops!r}")
    # Frozen, so normalise through object.__setattr__; a tuple keeps the genotype hashable.
    object.__setattr__(self, "ops", tuple(self.ops))
    if len(self.ops) != len(NB201_EDGES):
      raise GenotypeError(f"{space} genotype has {len(self.ops)} ops, expected "
                          f"{len(NB201_EDGES)} (one per edge)")
    for op in self.ops:
      if op not in valid:
        raise GenotypeError(f"unknown op {op!r} for search space {space!r} "
                            f"(valid: {', '.join(valid)})")

  def to_string(self) -> str:
    """Returns NAS-Bench-201's architecture string, e.g. ``|nor_conv_3x3~0|+|...~0|...~1|+...``."""
    return cell_string(self.ops)

  @classmethod
  def from_string(cls, s: str):
    """Parses NAS-Bench-201's architecture string (inverse of :meth:`to_string`).

    Raises:
      GenotypeError: naming what is wrong with the string.
    """
    return cls(parse_cell_string(s, cls.SPACE, cls.OPS))

  def __str__(self) -> str:
    return self.to_string()


@dataclasses.dataclass(frozen=True)
class NB201Genotype(CellGenotype):
  """One NAS-Bench-201 cell: the op of each edge, in :data:`NB201_EDGES` order.

  Attributes:
    ops: Six op names from :data:`NB201_OPS` ('none' allowed).
  """
  SPACE: ClassVar[str] = "nb201"
  OPS: ClassVar[tuple[str, ...]] = NB201_OPS


@dataclasses.dataclass(frozen=True)
class CellSpace(SearchSpace):
  """A space of 4-node cells (one cell type shared by every cell); subclasses set the fields'
  defaults and ``genotype_cls``."""
  genotype_cls: ClassVar[type[CellGenotype]] = CellGenotype

  def derive(self, weights: Mapping[str, Any]) -> CellGenotype:
    """Takes the most probable op per edge, 'none' included, as NAS-Bench-201's search code does.

    Args:
      weights: ``{'cell': (6, num_ops)}`` op probabilities per edge.
    """
    w = self._check_weights(weights)["cell"]
    return self.genotype_cls(tuple(self.ops[int(k)] for k in np.argmax(w, axis=1)))

  def validate(self, genotype: Any) -> CellGenotype:
    """Returns ``genotype`` as this space's genotype.

    Accepts the space's architecture string, and a cell of another 4-node space whose ops all
    belong to this one (a TransNAS-Bench-101 cell is also a NAS-Bench-201 cell).
    """
    cls = self.genotype_cls
    if isinstance(genotype, cls):
      return genotype
    if isinstance(genotype, str):
      return cls.from_string(genotype)
    if isinstance(genotype, CellGenotype):
      return cls(genotype.ops)
    raise GenotypeError(f"not a {self.name} genotype: {type(genotype).__name__}")

  def genotype_to_dict(self, genotype: Any) -> dict[str, Any]:
    return {"space": self.name, "arch": self.validate(genotype).to_string()}

  def genotype_from_dict(self, d: Mapping[str, Any]) -> CellGenotype:
    """Builds a genotype from ``{"space": name, "arch": "|op~0|+..."}``."""
    self._check_space_field(d)
    if "arch" not in d:
      raise GenotypeError(f"{self.name} genotype lacks 'arch' (expected {{\"space\": "
                          f"\"{self.name}\", \"arch\": \"{_FORMAT}\"}})")
    return self.genotype_cls.from_string(d["arch"])

  def encode(self, genotype: Any) -> dict[str, np.ndarray]:
    """One-hot ``{'cell': (6, num_ops)}``; :meth:`derive` of it gives ``genotype`` back."""
    g = self.validate(genotype)
    code = np.zeros((self.num_edges, self.num_ops), np.float32)
    code[np.arange(self.num_edges), [self.ops.index(op) for op in g.ops]] = 1.0
    return {"cell": code}

  def cell_edges(self, genotype: Any) -> dict[str, list[tuple[str, str, str]]]:
    """All 6 edges as ``(src, dst, op)`` with nodes '0'..'3'; 'none' edges are included so a
    plot can show them as absent."""
    g = self.validate(genotype)
    return {"cell": [(str(s), str(d), op) for (s, d), op in zip(self.edges, g.ops)]}


@dataclasses.dataclass(frozen=True)
class NB201Space(CellSpace):
  """The NAS-Bench-201 space: 5 ops, 6 edges, one cell type shared by every cell."""
  name: str = "nb201"
  ops: tuple[str, ...] = NB201_OPS
  cell_types: tuple[str, ...] = ("cell",)
  edges: tuple[tuple[int, int], ...] = NB201_EDGES
  genotype_cls: ClassVar[type[CellGenotype]] = NB201Genotype
