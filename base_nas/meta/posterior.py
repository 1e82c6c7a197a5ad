"""What an adapted posterior over architectures says: per-edge probabilities, entropy, top-k cells.

The posterior factorises over edges, ``q(z) = prod_e Cat(z_e; softmax(alpha_e))``. In NAS-Bench-201
a cell is one op per edge, so the k most probable cells are found exactly by a beam of width k
over the edges (the top k of a sum of independent terms always extend the top k of its prefix).
A DARTS cell keeps only two inputs per node, so many op assignments derive the same cell; its
top-k are estimated by sampling assignments from ``q`` and deriving each one's cell.
"""
from __future__ import annotations

import collections
from typing import Any, Mapping

import numpy as np


def _log_softmax(a):
  a = np.asarray(a, np.float64)
  a = a - a.max(-1, keepdims=True)
  return a - np.log(np.exp(a).sum(-1, keepdims=True))


def edge_table(space, alphas: Mapping[str, Any]) -> dict:
  """``{cell: {edges, ops, probabilities, entropy}}`` as JSON-able lists."""
  out = {}
  for cell in space.cell_types:
    logp = _log_softmax(alphas[cell])
    p = np.exp(logp)
    out[cell] = {"edges": [f"{s}->{d}" for s, d in space.edges], "ops": list(space.ops),
                 "probabilities": p.round(6).tolist(),
                 "entropy": (-(p * logp).sum(-1)).round(6).tolist()}
  return out


def top_k_nb201(space, alphas, k: int) -> list[tuple[str, float]]:
  """The k most probable NAS-Bench-201 cells and their probabilities, exactly."""
  logp = _log_softmax(alphas["cell"])
  beam = [((), 0.0)]
  for e in range(logp.shape[0]):
    cand = [(ops + (o,), lp + logp[e, o]) for ops, lp in beam for o in range(logp.shape[1])]
    beam = sorted(cand, key=lambda t: -t[1])[:k]
  from base_nas.spaces.nb201 import NB201Genotype
  return [(NB201Genotype(tuple(space.ops[o] for o in ops)).to_string(), float(np.exp(lp)))
          for ops, lp in beam]


def top_k_sampled(space, alphas, k: int, samples: int = 2000, seed: int = 0
                  ) -> list[tuple[str, float]]:
  """The k cells derived most often from ``samples`` op assignments drawn from the posterior,
  with their frequencies (estimates of their probabilities)."""
  rng = np.random.default_rng(seed)
  logps = {c: _log_softmax(alphas[c]) for c in space.cell_types}
  counts: collections.Counter = collections.Counter()
  for _ in range(samples):
    # Gumbel-max: the perturbed log-probabilities' argmax per edge is a draw from q; deriving
    # from them also ranks the kept edges by their drawn strength.
    w = {c: np.exp(lp + rng.gumbel(size=lp.shape)) for c, lp in logps.items()}
    counts[str(space.derive({c: v / v.sum(-1, keepdims=True) for c, v in w.items()}))] += 1
  return [(g, n / samples) for g, n in counts.most_common(k)]


def summarize(space, alphas: Mapping[str, Any], k: int = 5, seed: int = 0) -> dict:
  """The posterior record: per-edge table, mean entropy, most probable cell, top-k cells."""
  probs = {c: np.exp(_log_softmax(alphas[c])) for c in space.cell_types}
  genotype = space.derive(probs)
  table = edge_table(space, alphas)
  ents = np.concatenate([np.asarray(t["entropy"]) for t in table.values()])
  if space.name == "nb201":
    top, method = top_k_nb201(space, alphas, k), "exact"
  else:
    top, method = top_k_sampled(space, alphas, k, seed=seed), "sampled (2000 draws)"
  return {"space": space.name, "cells": table, "mean_entropy": float(ents.mean()),
          "max_entropy": float(np.log(len(space.ops))), "most_probable": str(genotype),
          "top_k": [{"genotype": g, "probability": p} for g, p in top], "top_k_method": method}
