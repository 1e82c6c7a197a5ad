"""Single-task differentiable searchers sharing one supernet, one compiled gradient and one loop.

``METHODS`` maps a name to how the method relaxes the architecture and steps; the loop in
:mod:`base_nas.search.loop` is common to all.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from base_nas.errors import ConfigError
from base_nas.search import darts, gdas, snas


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  relaxation: str        # see base_nas.relax
  hard: bool             # the supernet evaluates only the sampled op of each edge
  bilevel: bool          # the architecture learns from a held-out split
  step: Callable
  tau: tuple[str, float, float]  # default temperature schedule (kind, start, end)


METHODS = {
    "darts": Method("darts", "softmax", False, True, darts.step, ("constant", 1.0, 1.0)),
    "gdas": Method("gdas", "hard", True, True, gdas.step, ("linear", 10.0, 0.1)),
    "snas": Method("snas", "gumbel", False, False, snas.step, ("exponential", 1.0, 0.03)),
}


def get_method(name: str) -> Method:
  if name not in METHODS:
    raise ConfigError(f"unknown search method {name!r} (choose from: {', '.join(METHODS)})")
  return METHODS[name]
