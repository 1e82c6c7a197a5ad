"""Black-box searches over a tabular benchmark: random search and regularized evolution.

The baselines every transfer method is measured against: given the same number of table
look-ups (a look-up stands for training one cell), how good a cell does a search from scratch
find? Both work on plain arrays, so they serve any cell space with a full table
(NAS-Bench-201, TransNAS-Bench-101 micro): ``values[N]`` (higher is better, NaN where the table
has no value) and ``encodings[N, E]``, the op index of every edge of every cell. A cell looked up
twice costs one look-up: the searches cache what they have seen, as a real search would.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from base_nas.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TabularResult:
  """What a search found.

  Attributes:
    row: The table row of the best cell looked up.
    value: Its value.
    lookups: Distinct cells looked up.
    trajectory: The best value after each look-up, ``[lookups]``.
  """
  row: int
  value: float
  lookups: int
  trajectory: np.ndarray


class _Oracle:
  """Counts distinct look-ups and keeps the best; NaN (no record) counts as the worst value."""

  def __init__(self, values: np.ndarray, encodings: np.ndarray):
    self.values = np.asarray(values, np.float64)
    self.rows = {tuple(int(o) for o in e): r for r, e in enumerate(np.asarray(encodings))}
    self.seen: dict[int, float] = {}
    self.best_row, self.best, self.trajectory = -1, -np.inf, []

  def __call__(self, row: int) -> float:
    if row not in self.seen:
      v = self.values[row]
      self.seen[row] = -np.inf if np.isnan(v) else float(v)
      if self.seen[row] > self.best:
        self.best_row, self.best = row, self.seen[row]
      self.trajectory.append(self.best)
    return self.seen[row]

  def result(self) -> TabularResult:
    return TabularResult(self.best_row, float(self.best), len(self.seen),
                         np.asarray(self.trajectory, np.float64))


def _check(values, encodings, budget: int) -> tuple[np.ndarray, np.ndarray]:
  values, encodings = np.asarray(values), np.asarray(encodings)
  if values.ndim != 1 or encodings.ndim != 2 or len(values) != len(encodings):
    raise ConfigError(f"a table search needs values [N] and encodings [N, E], got shapes "
                      f"{values.shape} and {encodings.shape}")
  if not 1 <= budget <= len(values):
    raise ConfigError(f"look-up budget must be in [1, {len(values)}], got {budget}")
  return values, encodings


def random_search(values, encodings, budget: int, seed: int = 0) -> TabularResult:
  """Looks up ``budget`` distinct cells drawn uniformly; returns the best."""
  values, encodings = _check(values, encodings, budget)
  oracle = _Oracle(values, encodings)
  for row in np.random.default_rng(seed).permutation(len(values))[:budget]:
    oracle(int(row))
  return oracle.result()


def regularized_evolution(values, encodings, num_ops: int, budget: int, *,
                          population: int | None = None, sample: int | None = None,
                          seed: int = 0) -> TabularResult:
  """Aging evolution (Real et al., AAAI 2019) with ``budget`` distinct look-ups.

  A population of random cells; each cycle the best of ``sample`` random members is copied with
  one edge's op changed, the child joins, and the oldest member leaves. Defaults scale with
  small budgets (population ``min(20, budget // 2)``, sample ``min(5, population)``), so a
  budget of a few dozen look-ups still evolves instead of only initialising.
  """
  values, encodings = _check(values, encodings, budget)
  population = population or max(1, min(20, budget // 2))
  sample = sample or max(1, min(5, population))
  if not 1 <= sample <= population <= budget:
    raise ConfigError(f"evolution needs 1 <= sample <= population <= budget, got sample {sample}, "
                      f"population {population}, budget {budget}")
  rng = np.random.default_rng(seed)
  oracle = _Oracle(values, encodings)
  pop: collections.deque[int] = collections.deque()
  for row in rng.permutation(len(values))[:population]:
    oracle(int(row))
    pop.append(int(row))
  # Mutations may land on cells already seen (free) or outside the table (no such cell): cap
  # the cycles so a small or exhausted space cannot loop forever.
  for _ in range(100 * budget):
    if len(oracle.seen) >= budget:
      break
    members = [pop[i] for i in rng.choice(len(pop), size=sample, replace=False)]
    parent = max(members, key=oracle)
    child = encodings[parent].copy()
    edge = rng.integers(child.shape[0])
    child[edge] = (child[edge] + rng.integers(1, num_ops)) % num_ops  # a different op
    row = oracle.rows.get(tuple(int(o) for o in child))
    if row is None:
      continue
    oracle(row)
    pop.append(row)
    pop.popleft()
  return oracle.result()
