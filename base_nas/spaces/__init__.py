"""Search spaces (DARTS, NAS-Bench-201, TransNAS-Bench-101 micro) and genotype files.

A genotype file is JSON with a ``"space"`` key (written by :func:`save_genotype`); for pasting
published results, :func:`load_genotype` also reads a text file holding a DARTS
``Genotype(...)`` as the DARTS code prints it, a NAS-Bench-201 ``|op~0|+...`` string, or a
TransNAS-Bench-101 ``64-41414-X_XX_XXX`` string.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Callable

from base_nas.errors import GenotypeError
from base_nas.spaces.darts import (DARTS_OPS, DARTS_V1, DARTS_V2, DartsSpace, Genotype,
                                   parse_genotype_string)
from base_nas.spaces.genotype import SearchSpace
from base_nas.spaces.nb201 import NB201_OPS, NB201Genotype, NB201Space
from base_nas.spaces.tnb101 import MICRO_PREFIX, TNB101_OPS, TNB101Genotype, TNB101Space

SPACES = ("darts", "nb201", "tnb101")
_INSTANCES = {"darts": DartsSpace(), "nb201": NB201Space(), "tnb101": TNB101Space()}

__all__ = [
    "DARTS_OPS", "DARTS_V1", "DARTS_V2", "Genotype", "GenotypeError", "NB201_OPS",
    "NB201Genotype", "SPACES", "SearchSpace", "TNB101_OPS", "TNB101Genotype", "get_space",
    "load_genotype", "parse_genotype_string", "save_genotype", "space_of",
]


def get_space(name: str) -> SearchSpace:
  """Returns the search space called ``name`` ('darts', 'nb201' or 'tnb101')."""
  if name not in _INSTANCES:
    raise GenotypeError(f"unknown search space {name!r} (choose from: {', '.join(SPACES)})")
  return _INSTANCES[name]


def space_of(genotype: Any) -> SearchSpace:
  """Returns the space a genotype object belongs to."""
  if isinstance(genotype, NB201Genotype):
    return _INSTANCES["nb201"]
  if isinstance(genotype, TNB101Genotype):
    return _INSTANCES["tnb101"]
  # Duck-typed so that a Genotype namedtuple made by the original DARTS code works too.
  if all(hasattr(genotype, f) for f in Genotype._fields):
    return _INSTANCES["darts"]
  raise GenotypeError(f"not a genotype of any search space ({', '.join(SPACES)}): "
                      f"{type(genotype).__name__}")


def save_genotype(path: str | os.PathLike, genotype: Any) -> None:
  """Writes ``genotype`` as JSON, atomically (a crash never leaves a half-written file).

  Raises:
    GenotypeError: the genotype is invalid (nothing is written).
  """
  path = os.fspath(path)
  d = space_of(genotype).genotype_to_dict(genotype)
  text = json.dumps(d, indent=2) + "\n"
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def load_genotype(path: str | os.PathLike, space: str | None = None) -> Any:
  """Reads a genotype file: JSON from :func:`save_genotype`, or a pasted genotype string.

  Args:
    path: A ``.json`` file, or a text file holding a DARTS ``Genotype(...)``, an NB201
      architecture string or a TransNAS-Bench-101 micro string.
    space: If given, the file must hold a genotype of this space. A pasted ``|op~0|+...``
      string reads as nb201 unless ``space='tnb101'`` asks for a TransNAS-Bench-101 cell.

  Returns:
    A DARTS :data:`Genotype`, an :class:`NB201Genotype` or a :class:`TNB101Genotype`.

  Raises:
    GenotypeError: one line naming the file and the problem.
  """
  if space is not None:
    get_space(space)
  name = os.fspath(path)
  try:
    with open(name, encoding="utf-8") as f:
      text = f.read()
  except FileNotFoundError:
    raise GenotypeError(f"genotype file not found: {name}") from None
  except IsADirectoryError:
    raise GenotypeError(f"genotype file {name} is a directory") from None
  except (OSError, UnicodeDecodeError) as e:
    raise GenotypeError(f"cannot read genotype file {name}: {e}") from None

  try:
    found, build = _recognise(name, text, prefer=space)
  except GenotypeError as e:
    raise GenotypeError(f"{name}: {e}") from None
  if space is not None and found != space:
    raise GenotypeError(f"{name} is a {found} genotype, expected {space}")
  try:
    return build()
  except GenotypeError as e:
    raise GenotypeError(f"{name}: {e}") from None


def _recognise(name: str, text: str, prefer: str | None = None
               ) -> tuple[str, Callable[[], Any]]:
  """Returns the space of a genotype file's text and a function that parses and validates it.

  Both 4-node spaces write ``|op~0|+...``: such a string is nb201's unless ``prefer`` is tnb101.
  """
  stripped = text.strip()
  if name.endswith(".json") or stripped.startswith("{"):
    try:
      d = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(d, dict):
      raise GenotypeError(f"expected a JSON object with a \"space\" key, got {type(d).__name__}")
    if "space" not in d:
      raise GenotypeError(f"missing \"space\" (one of: {', '.join(SPACES)})")
    found = d["space"]
    if found not in SPACES:
      raise GenotypeError(f"unknown search space {found!r} (choose from: {', '.join(SPACES)})")
    return found, lambda: get_space(found).genotype_from_dict(d)
  if stripped.startswith("|"):
    if prefer == "tnb101":
      return "tnb101", lambda: TNB101Genotype.from_string(stripped)
    return "nb201", lambda: NB201Genotype.from_string(stripped)
  if stripped.startswith(MICRO_PREFIX):
    return "tnb101", lambda: TNB101Genotype.from_string(stripped)
  if "Genotype" in stripped:
    return "darts", lambda: parse_genotype_string(stripped)
  raise GenotypeError("not a genotype: expected JSON, a DARTS Genotype(...) string, an NB201 "
                      f"'|op~0|+|op~0|op~1|+...' string or a TNB101 '{MICRO_PREFIX}X_XX_XXX' "
                      "string")
