"""The interface every search space shares: its op and edge layout, and genotype conversions.

A search space fixes the shape of the architecture parameters (``{cell_type: (edges, ops)}``) and
how relaxed op weights turn into a discrete genotype. Concrete spaces live in :mod:`darts` and
:mod:`nb201`; callers get them through :func:`base_nas.spaces.get_space`.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from base_nas.errors import GenotypeError

if TYPE_CHECKING:
  import jax


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """A cell-based search space.

  Attributes:
    name: The space's name, as written in genotype files ("space": name).
    ops: Candidate op names; their order is the column order of the architecture parameters.
    cell_types: The cell types that carry their own architecture parameters.
    edges: ``(src_state, dst_state)`` per edge; their order is the row order of the parameters.
  """
  name: str
  ops: tuple[str, ...]
  cell_types: tuple[str, ...]
  edges: tuple[tuple[int, int], ...]

  @property
  def num_edges(self) -> int:
    return len(self.edges)

  @property
  def num_ops(self) -> int:
    return len(self.ops)

  def arch_shapes(self) -> dict[str, tuple[int, int]]:
    """Returns the shape ``(num_edges, num_ops)`` of each cell type's architecture parameters."""
    return {cell: (self.num_edges, self.num_ops) for cell in self.cell_types}

  def init_alphas(self, key: jax.Array, scale: float = 1e-3) -> dict[str, jax.Array]:
    """Draws initial architecture logits ``scale * N(0, 1)`` per cell type, as DARTS does.

    Args:
      key: A JAX PRNG key; each cell type gets its own split of it.
      scale: Standard deviation of the logits; small so that the initial softmax is near uniform.

    Returns:
      ``{cell_type: float32 array (num_edges, num_ops)}``.
    """
    # Imported here so that reading and writing genotypes (the CLI, tables) does not pay for jax.
    import jax  # pylint: disable=g-import-not-at-top,redefined-outer-name

    keys = jax.random.split(key, len(self.cell_types))
    return {cell: scale * jax.random.normal(k, self.arch_shapes()[cell])
            for cell, k in zip(self.cell_types, keys)}

  def op_index(self, op: str) -> int:
    """Returns the column of ``op`` in the architecture parameters."""
    if op not in self.ops:
      raise GenotypeError(self._unknown_op_message(op, self.ops))
    return self.ops.index(op)

  def _unknown_op_message(self, op: Any, valid: tuple[str, ...]) -> str:
    return (f"unknown op {op!r} for search space {self.name!r} "
            f"(valid: {', '.join(valid)})")

  def _check_weights(self, weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Converts ``{cell_type: (E, O) weights}`` to numpy, checking cell types, shapes and values."""
    if not isinstance(weights, Mapping):
      raise GenotypeError(f"{self.name} weights must map cell types {self.cell_types} to arrays, "
                          f"got {type(weights).__name__}")
    missing = [c for c in self.cell_types if c not in weights]
    if missing:
      raise GenotypeError(f"{self.name} weights lack cell type(s) {', '.join(missing)} "
                          f"(got: {', '.join(map(str, weights)) or 'none'})")
    out = {}
    for cell in self.cell_types:
      w = np.asarray(weights[cell], dtype=np.float64)
      if w.shape != (self.num_edges, self.num_ops):
        raise GenotypeError(f"{self.name} weights for {cell!r} have shape {w.shape}, expected "
                            f"{(self.num_edges, self.num_ops)} (edges, ops)")
      if not np.all(np.isfinite(w)):
        # argmax over NaN silently picks the NaN's op; a diverged search must not look derived.
        raise GenotypeError(f"{self.name} weights for {cell!r} contain NaN or inf")
      out[cell] = w
    return out

  def derive(self, weights: Mapping[str, Any]) -> Any:
    """Derives the discrete genotype from per-edge op probabilities ``{cell_type: (E, O)}``."""
    raise NotImplementedError

  def genotype_to_dict(self, genotype: Any) -> dict[str, Any]:
    """Returns a JSON-able dict of ``genotype`` that includes ``"space": name``."""
    raise NotImplementedError

  def genotype_from_dict(self, d: Mapping[str, Any]) -> Any:
    """Builds and validates a genotype from :meth:`genotype_to_dict`'s output."""
    raise NotImplementedError

  def encode(self, genotype: Any) -> dict[str, np.ndarray]:
    """Returns ``{cell_type: float32 (E, O)}`` with a 1 at each chosen (edge, op)."""
    raise NotImplementedError

  def cell_edges(self, genotype: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Returns ``{cell_type: [(src_label, dst_label, op), ...]}`` for drawing the cells."""
    raise NotImplementedError

  def _check_space_field(self, d: Mapping[str, Any]) -> None:
    if not isinstance(d, Mapping):
      raise GenotypeError(f"a {self.name} genotype must be a JSON object, got {type(d).__name__}")
    space = d.get("space", self.name)
    if space != self.name:
      raise GenotypeError(f"genotype is a {space} genotype, expected {self.name}")
