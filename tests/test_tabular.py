"""Random search and regularized evolution over a table (base_nas/search/tabular.py)."""
import itertools

import numpy as np
import pytest

from base_nas.errors import ConfigError
from base_nas.search import tabular


def _table(edges=4, ops=4, seed=0):
  encodings = np.asarray(list(itertools.product(range(ops), repeat=edges)))
  w = np.random.default_rng(seed).normal(size=(edges, ops))
  values = w[np.arange(edges), encodings].sum(-1)  # additive: one best op per edge
  return values, encodings


def test_random_search_looks_up_exactly_the_budget_and_keeps_the_best():
  values, enc = _table()
  r = tabular.random_search(values, enc, budget=30, seed=3)
  assert r.lookups == 30 and len(r.trajectory) == 30
  assert np.all(np.diff(r.trajectory) >= 0) and r.trajectory[-1] == r.value == values[r.row]
  assert tabular.random_search(values, enc, budget=30, seed=3).row == r.row  # seeded


def test_evolution_beats_random_search_on_a_smooth_landscape():
  values, enc = _table(edges=5, ops=4)  # 1,024 cells
  rank = lambda v: int(np.sum(values > v)) + 1
  evo = [rank(tabular.regularized_evolution(values, enc, 4, budget=60, seed=s).value)
         for s in range(10)]
  rnd = [rank(tabular.random_search(values, enc, budget=60, seed=s).value) for s in range(10)]
  # One-edge mutations climb an additive landscape; 60 random draws of 1,024 reach rank ~17.
  assert np.median(evo) < np.median(rnd) and np.median(evo) <= 3


def test_evolution_counts_distinct_lookups_and_skips_missing_values():
  values, enc = _table()
  values = values.copy()
  values[np.argmax(values)] = np.nan  # no record: never chosen as the best
  r = tabular.regularized_evolution(values, enc, 4, budget=50, seed=0)
  assert r.lookups == 50 and np.isfinite(r.value) and not np.isnan(values[r.row])


@pytest.mark.parametrize("budget", [0, 257])
def test_budgets_outside_the_table_are_refused(budget):
  values, enc = _table()
  with pytest.raises(ConfigError, match="budget"):
    tabular.random_search(values, enc, budget=budget)


def test_mismatched_shapes_are_refused():
  values, enc = _table()
  with pytest.raises(ConfigError, match="shapes"):
    tabular.regularized_evolution(values[:-1], enc, 4, budget=10)
