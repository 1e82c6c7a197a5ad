"""GDAS (Dong and Yang, CVPR 2019): a hard straight-through Gumbel sample per edge, so each edge
runs only its sampled op; bilevel like first-order DARTS; temperature annealed linearly 10 -> 0.1.
"""
from __future__ import annotations

from base_nas.search import darts


def step(searcher, state, train, val, key, tau, order: int = 1):
  del order  # GDAS is first order
  return darts.step(searcher, state, train, val, key, tau, order=1)
