"""The DARTS search space (Liu, Simonyan and Yang, ICLR 2019).

A cell has two inputs (states 0 and 1: the outputs of the two previous cells) and four
intermediate nodes (states 2..5). Every node may read every earlier state, giving 14 edges; a
derived cell keeps two incoming edges per node and concatenates the intermediate nodes.
Genotypes use the DARTS code's own ``Genotype`` namedtuple so that published genotypes can be
pasted as printed.
"""
from __future__ import annotations

import ast
import collections
import dataclasses
from typing import Any, Mapping

import numpy as np

from base_nas.errors import GenotypeError
from base_nas.spaces.genotype import SearchSpace

Genotype = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NUM_NODES = 4
INPUTS_PER_NODE = 2
DEFAULT_CONCAT = [2, 3, 4, 5]
DARTS_EDGES = tuple((i, j + 2) for j in range(NUM_NODES) for i in range(j + 2))
_CELLS = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

# The genotypes published with DARTS (first- and second-order search on CIFAR-10).
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5])
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5])


def _state_label(state: int) -> str:
  if state < 2:
    return ("c_{k-2}", "c_{k-1}")[state]
  return str(state - 2)


@dataclasses.dataclass(frozen=True)
class DartsSpace(SearchSpace):
  """The DARTS space: 8 ops, 14 edges, separate normal and reduction cells."""
  name: str = "darts"
  ops: tuple[str, ...] = DARTS_OPS
  cell_types: tuple[str, ...] = _CELLS
  edges: tuple[tuple[int, int], ...] = DARTS_EDGES

  def derive(self, weights: Mapping[str, Any]) -> Genotype:
    """Derives a genotype the way DARTS' ``genotype()`` does.

    For each node, the two incoming edges whose strongest non-'none' op weighs most are kept
    (ties go to the earlier state), each with its best non-'none' op. Pairs are listed per node,
    strongest edge first, exactly as DARTS prints them.

    Args:
      weights: ``{'normal': (14, 8), 'reduce': (14, 8)}`` op probabilities per edge.

    Returns:
      The derived :data:`Genotype` with concat ``[2, 3, 4, 5]``.
    """
    w = self._check_weights(weights)
    real = [k for k, op in enumerate(self.ops) if op != "none"]
    cells = {}
    for cell in self.cell_types:
      pairs = []
      start = 0
      for node in range(NUM_NODES):
        rows = w[cell][start:start + node + 2][:, real]
        # Stable sort on the negated strength keeps DARTS' tie-break (earlier state first).
        strongest = np.argsort(-rows.max(axis=1), kind="stable")[:INPUTS_PER_NODE]
        for src in strongest:
          pairs.append((self.ops[real[int(np.argmax(rows[src]))]], int(src)))
        start += node + 2
      cells[cell] = pairs
    return Genotype(normal=cells["normal"], normal_concat=list(DEFAULT_CONCAT),
                    reduce=cells["reduce"], reduce_concat=list(DEFAULT_CONCAT))

  def validate(self, genotype: Any) -> Genotype:
    """Checks a genotype and returns it normalised (lists of ``(op, int)`` tuples, list concat).

    Accepts each cell's pairs flat (8 pairs, two per node in node order, as DARTS prints them)
    or grouped per node (4 lists of 2 pairs, as some DARTS forks print them).

    Raises:
      GenotypeError: naming the cell, node and problem.
    """
    if not all(hasattr(genotype, f) for f in _FIELDS):
      raise GenotypeError(f"not a darts genotype: expected fields {', '.join(_FIELDS)}, "
                          f"got {type(genotype).__name__}")
    out = {}
    for cell in self.cell_types:
      out[cell] = self._check_pairs(cell, getattr(genotype, cell))
      out[cell + "_concat"] = self._check_concat(cell, getattr(genotype, cell + "_concat"))
    return Genotype(**out)

  def _check_pairs(self, cell: str, pairs: Any) -> list[tuple[str, int]]:
    if not isinstance(pairs, (list, tuple)):
      raise GenotypeError(f"darts genotype: {cell!r} must be a list of (op, input) pairs, "
                          f"got {type(pairs).__name__}")
    if pairs and all(isinstance(p, (list, tuple)) and p and isinstance(p[0], (list, tuple))
                     for p in pairs):
      nodes = list(pairs)
      if len(nodes) != NUM_NODES:
        raise GenotypeError(f"darts genotype: {cell!r} lists {len(nodes)} nodes, expected "
                            f"{NUM_NODES}")
      for node, inputs in enumerate(nodes):
        if len(inputs) != INPUTS_PER_NODE:
          raise GenotypeError(f"darts genotype: {cell} node {node} has {len(inputs)} inputs; "
                              f"each node takes exactly {INPUTS_PER_NODE}")
      pairs = [p for inputs in nodes for p in inputs]
    expected = NUM_NODES * INPUTS_PER_NODE
    if len(pairs) != expected:
      raise GenotypeError(f"darts genotype: {cell!r} has {len(pairs)} (op, input) pairs, "
                          f"expected {expected} (exactly {INPUTS_PER_NODE} inputs for each of "
                          f"the {NUM_NODES} nodes)")
    valid = tuple(op for op in self.ops if op != "none")
    out = []
    for k, pair in enumerate(pairs):
      node = k // INPUTS_PER_NODE
      if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise GenotypeError(f"darts genotype: {cell}[{k}] = {pair!r} is not an (op, input) pair")
      op, src = pair
      if op == "none":
        raise GenotypeError(f"darts genotype: {cell} node {node} uses op 'none', which is not "
                            f"allowed in a genotype (valid: {', '.join(valid)})")
      if op not in valid:
        raise GenotypeError(f"{cell} node {node}: " + self._unknown_op_message(op, valid))
      # bool is an int subclass; True as a state index is surely a mistake.
      if not isinstance(src, (int, np.integer)) or isinstance(src, bool):
        raise GenotypeError(f"darts genotype: {cell} node {node} input {src!r} is not an integer "
                            f"state index")
      if not 0 <= src < node + 2:
        raise GenotypeError(f"darts genotype: {cell} node {node} (state {node + 2}) takes input "
                            f"{src}, but only states 0..{node + 1} come before it")
      out.append((str(op), int(src)))
    return out

  def _check_concat(self, cell: str, concat: Any) -> list[int]:
    if isinstance(concat, range):
      concat = list(concat)
    states = range(2, NUM_NODES + 2)
    if (not isinstance(concat, (list, tuple)) or not concat
        or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in concat)
        or len(set(concat)) != len(concat) or not all(c in states for c in concat)):
      raise GenotypeError(f"darts genotype: {cell}_concat must list distinct intermediate states "
                          f"among {list(states)}, got {concat!r}")
    return [int(c) for c in concat]

  def genotype_to_dict(self, genotype: Any) -> dict[str, Any]:
    g = self.validate(genotype)
    d: dict[str, Any] = {"space": self.name}
    for field in _FIELDS:
      value = getattr(g, field)
      d[field] = [list(p) for p in value] if field in _CELLS else list(value)
    return d

  def genotype_from_dict(self, d: Mapping[str, Any]) -> Genotype:
    """Builds a genotype from ``{"space": "darts", "normal": [[op, input], ...], ...}``.

    A missing ``*_concat`` defaults to ``[2, 3, 4, 5]`` (every DARTS cell concatenates all nodes).
    """
    self._check_space_field(d)
    missing = [c for c in _CELLS if c not in d]
    if missing:
      raise GenotypeError(f"darts genotype lacks {', '.join(repr(m) for m in missing)} "
                          f"(expected keys: {', '.join(_FIELDS)})")
    return self.validate(Genotype(
        normal=d["normal"], normal_concat=d.get("normal_concat", DEFAULT_CONCAT),
        reduce=d["reduce"], reduce_concat=d.get("reduce_concat", DEFAULT_CONCAT)))

  def encode(self, genotype: Any) -> dict[str, np.ndarray]:
    """One-hot ``{cell_type: (14, 8)}`` of the chosen ops; edges not in the genotype stay zero.

    A genotype that reads the same state twice into one node (allowed, though DARTS' own
    derivation never does it) marks both ops on that edge's row.
    """
    g = self.validate(genotype)
    index = {e: k for k, e in enumerate(self.edges)}
    out = {}
    for cell in self.cell_types:
      code = np.zeros((self.num_edges, self.num_ops), np.float32)
      for k, (op, src) in enumerate(getattr(g, cell)):
        code[index[(src, k // INPUTS_PER_NODE + 2)], self.ops.index(op)] = 1.0
      out[cell] = code
    return out

  def cell_edges(self, genotype: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Edges per cell as ``(src, dst, op)``: inputs 'c_{k-2}', 'c_{k-1}', nodes '0'..'3',
    and an edge with op '' from each concatenated node to the output 'c_{k}'."""
    g = self.validate(genotype)
    out = {}
    for cell in self.cell_types:
      edges = [(_state_label(src), str(k // INPUTS_PER_NODE), op)
               for k, (op, src) in enumerate(getattr(g, cell))]
      edges += [(_state_label(c), "c_{k}", "") for c in getattr(g, cell + "_concat")]
      out[cell] = edges
    return out


def _literal(node: ast.expr, what: str) -> Any:
  """Evaluates a literal or a ``range(...)`` of int literals, never arbitrary code."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
      and not node.keywords and 1 <= len(node.args) <= 3):
    bounds = [_literal(a, what) for a in node.args]
    if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
      return list(range(*bounds))
  try:
    return ast.literal_eval(node)
  except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
    raise GenotypeError(f"darts genotype string: {what} is not a literal value "
                        f"({ast.unparse(node)[:60]!r})") from e


def parse_genotype_string(s: str) -> Genotype:
  """Parses a genotype as the DARTS code prints it, without evaluating code.

  Accepts ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)``,
  optionally as an assignment (``DARTS_V2 = Genotype(...)``) or with positional fields.

  Raises:
    GenotypeError: the string is not such a call, or the genotype is invalid.
  """
  text = s.strip()
  try:
    tree = ast.parse(text, mode="exec")
  except SyntaxError as e:
    raise GenotypeError(f"darts genotype string does not parse: {e.msg} "
                        f"(expected \"Genotype(normal=[('sep_conv_3x3', 0), ...], ...)\")") from e
  call = None
  if len(tree.body) == 1:
    stmt = tree.body[0]
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if isinstance(value, ast.Call):
      func = value.func
      name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
      if name == "Genotype":
        call = value
  if call is None:
    raise GenotypeError("darts genotype string must be a single Genotype(normal=..., "
                        "normal_concat=..., reduce=..., reduce_concat=...) expression")
  if len(call.args) > len(_FIELDS):
    raise GenotypeError(f"darts genotype string: Genotype takes {len(_FIELDS)} fields, "
                        f"got {len(call.args)} positional values")
  fields = {f: _literal(a, f) for f, a in zip(_FIELDS, call.args)}
  for kw in call.keywords:
    if kw.arg not in _FIELDS:
      raise GenotypeError(f"darts genotype string: unknown field {kw.arg!r} "
                          f"(fields: {', '.join(_FIELDS)})")
    if kw.arg in fields:
      raise GenotypeError(f"darts genotype string: field {kw.arg!r} given twice")
    fields[kw.arg] = _literal(kw.value, kw.arg)
  missing = [c for c in _CELLS if c not in fields]
  if missing:
    raise GenotypeError(f"darts genotype string lacks {', '.join(missing)}")
  fields.setdefault("normal_concat", DEFAULT_CONCAT)
  fields.setdefault("reduce_concat", DEFAULT_CONCAT)
  return DartsSpace().validate(Genotype(**fields))
