"""The TransNAS-Bench-101 micro search space (Duan et al., CVPR 2021).

The micro space is NAS-Bench-201's 4-node, 6-edge cell with four ops (no pooling): 4^6 = 4,096
cells, each trained on seven tasks of the Taskonomy data, so a genotype can be looked up in
:mod:`base_nas.predict.tables` instead of trained.

TransNAS-Bench-101 writes a cell as ``64-41414-X_XX_XXX``: the macro skeleton shared by all
micro cells (stem width 64, stage layout 41414), then one digit per edge, node by node (node 1's
input, node 2's two, node 3's three), which is :data:`~base_nas.spaces.nb201.NB201_EDGES` order.
Digits are positions in :data:`TNB101_OPS`: 0 none, 1 skip_connect, 2 nor_conv_1x1,
3 nor_conv_3x3. Genotypes read and write NAS-Bench-201's ``|op~0|+...`` string as well.
"""
from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

from base_nas.errors import GenotypeError
from base_nas.spaces.nb201 import NB201_EDGES, CellGenotype, CellSpace

TNB101_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
MICRO_PREFIX = "64-41414-"
_MICRO_FORMAT = MICRO_PREFIX + "X_XX_XXX"
_MICRO = re.compile(r"(\d)_(\d\d)_(\d\d\d)")


@dataclasses.dataclass(frozen=True)
class TNB101Genotype(CellGenotype):
  """One TransNAS-Bench-101 micro cell: the op of each edge, in ``NB201_EDGES`` order.

  Attributes:
    ops: Six op names from :data:`TNB101_OPS` ('none' allowed).
  """
  SPACE: ClassVar[str] = "tnb101"
  OPS: ClassVar[tuple[str, ...]] = TNB101_OPS

  def to_micro_string(self) -> str:
    """Returns TransNAS-Bench-101's string, e.g. ``64-41414-2_32_323``."""
    d = "".join(str(TNB101_OPS.index(op)) for op in self.ops)
    return f"{MICRO_PREFIX}{d[0]}_{d[1:3]}_{d[3:]}"

  @classmethod
  def from_string(cls, s: str) -> TNB101Genotype:
    """Parses either TransNAS-Bench-101's ``64-41414-X_XX_XXX`` or NAS-Bench-201's ``|op~0|+...``
    string (inverse of :meth:`to_micro_string` and :meth:`to_string`).

    Raises:
      GenotypeError: naming what is wrong with the string.
    """
    if isinstance(s, str) and not s.strip().startswith("|"):
      return cls.from_micro_string(s)
    return super().from_string(s)

  @classmethod
  def from_micro_string(cls, s: str) -> TNB101Genotype:
    """Parses TransNAS-Bench-101's ``64-41414-X_XX_XXX`` string.

    Raises:
      GenotypeError: naming what is wrong with the string.
    """
    if not isinstance(s, str):
      raise GenotypeError(f"tnb101 architecture string must be a str, got {type(s).__name__}")
    text = s.strip()
    shown = text if len(text) <= 60 else text[:57] + "..."
    digits = ", ".join(f"{k} {op}" for k, op in enumerate(TNB101_OPS))
    if not text.startswith(MICRO_PREFIX):
      # Other prefixes are TransNAS-Bench-101's macro space, whose cells are fixed.
      raise GenotypeError(f"malformed tnb101 micro string {shown!r}: it must start with "
                          f"{MICRO_PREFIX!r} (format: {_MICRO_FORMAT}, or |op~0|+...)")
    match = _MICRO.fullmatch(text[len(MICRO_PREFIX):])
    if match is None:
      raise GenotypeError(f"malformed tnb101 micro string {shown!r}: expected {_MICRO_FORMAT} "
                          f"with one digit per edge ({digits})")
    codes = [int(c) for c in "".join(match.groups())]
    if max(codes) >= len(TNB101_OPS):
      raise GenotypeError(f"malformed tnb101 micro string {shown!r}: op digit {max(codes)} is not "
                          f"one of {digits}")
    return cls(tuple(TNB101_OPS[c] for c in codes))


@dataclasses.dataclass(frozen=True)
class TNB101Space(CellSpace):
  """The TransNAS-Bench-101 micro space: 4 ops, 6 edges, one cell type shared by every cell."""
  name: str = "tnb101"
  ops: tuple[str, ...] = TNB101_OPS
  cell_types: tuple[str, ...] = ("cell",)
  edges: tuple[tuple[int, int], ...] = NB201_EDGES
  genotype_cls: ClassVar[type[CellGenotype]] = TNB101Genotype
