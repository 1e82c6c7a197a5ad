"""Allowed ranges of the numeric config fields, checked before anything slow starts.

:data:`RANGES` maps a dotted field path (``"search.epochs"``) to its :class:`Range`;
:func:`check_ranges` walks it and raises one :class:`ConfigError` line naming every field out of
range, e.g. ``search.epochs=-1: must be an integer >= 1``. Paths a config lacks are skipped, so
one table serves ``search``, ``train`` and any later command; a module with fields of its own
adds them with ``RANGES.update({...})`` or passes its own table.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, Mapping

from base_nas.errors import ConfigError

_ABSENT = object()


@dataclasses.dataclass(frozen=True)
class Range:
  """An int or float field's allowed values: bounds (None: unbounded), None, an extra test.

  ``extra`` is a predicate on a value already within the bounds; ``extra_message`` says what it
  requires, in words that follow "and" (``"a multiple of 4"``).
  """
  kind: str  # "int" or "float"
  low: float | None = None
  high: float | None = None
  low_inclusive: bool = True
  high_inclusive: bool = True
  allow_none: bool = False
  extra: Callable[[Any], bool] | None = None
  extra_message: str = ""

  def __post_init__(self):
    if self.kind not in ("int", "float"):
      raise ValueError(f"Range kind must be 'int' or 'float', got {self.kind!r}")

  def describe(self) -> str:
    """What the field must be, e.g. ``an integer >= 1`` or ``a number in (0, 1)``."""
    text = "an integer" if self.kind == "int" else "a finite number"
    lo, hi = self.low, self.high
    if lo is not None and hi is not None:
      text += (f" in {'[' if self.low_inclusive else '('}{_num(lo)}, "
               f"{_num(hi)}{']' if self.high_inclusive else ')'}")
    elif lo is not None:
      text += f" {'>=' if self.low_inclusive else '>'} {_num(lo)}"
    elif hi is not None:
      text += f" {'<=' if self.high_inclusive else '<'} {_num(hi)}"
    if self.extra is not None:
      text += f" and {self.extra_message}"
    if self.allow_none:
      text += " or None"
    return text

  def accepts(self, value: Any) -> bool:
    if value is None:
      return self.allow_none
    # bool is an int subclass, but True is no epoch count: a typo, not a number.
    if isinstance(value, bool) or not isinstance(
        value, numbers.Integral if self.kind == "int" else numbers.Real):
      return False
    if self.kind == "float" and not math.isfinite(value):
      return False
    lo, hi = self.low, self.high
    if lo is not None and not (value >= lo if self.low_inclusive else value > lo):
      return False
    if hi is not None and not (value <= hi if self.high_inclusive else value < hi):
      return False
    return self.extra is None or bool(self.extra(value))

  def problem(self, path: str, value: Any) -> str | None:
    """None if ``value`` is allowed, else one line naming the field, the value and the range."""
    if self.accepts(value):
      return None
    msg = f"{path}={value!r}: must be {self.describe()}"
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
      msg += f", not a {type(value).__name__}"  # '3' and 3 print alike in a shell: say which
    return msg


def _num(x: float) -> str:
  return str(int(x)) if float(x).is_integer() else repr(x)


def int_range(low=None, high=None, **kw) -> Range:
  """A Range of integers from low to high (inclusive unless told)."""
  return Range("int", low, high, **kw)


def float_range(low=None, high=None, **kw) -> Range:
  """A Range of finite numbers (ints accepted) from low to high (inclusive unless told)."""
  return Range("float", low, high, **kw)


_COUNT = int_range(0)          # 0 means "all" or "off"
_POSITIVE_INT = int_range(1)
_POSITIVE = float_range(0, low_inclusive=False)
_NON_NEGATIVE = float_range(0)
_FRACTION = float_range(0, 1, high_inclusive=False)  # momenta, Adam betas, probabilities: [0, 1)
# Both networks halve the resolution twice, on even sizes only (FactorizedReduce, reduction cells).
_IMAGE_SIZE = int_range(4, extra=lambda v: v % 4 == 0,
                  extra_message="a multiple of 4 (the network halves the resolution twice)")

RANGES: dict[str, Range] = {
    # jax.random.PRNGKey keeps only the low 32 bits: larger seeds would silently collide.
    "seed": int_range(0, 2**32 - 1),
    "data.image_size": _IMAGE_SIZE,
    # The weights half and the architecture half (DARTS) must both be non-empty.
    "data.val_fraction": float_range(0, 1, low_inclusive=False, high_inclusive=False),
    "data.limit": _COUNT,
    "model.channels": _POSITIVE_INT,
    "model.layers": _POSITIVE_INT,
    "model.stem_multiplier": _POSITIVE_INT,
    "search.epochs": _POSITIVE_INT,
    "search.batch_size": _POSITIVE_INT,
    "search.steps_per_epoch": _COUNT,
    "search.order": int_range(1, 2),
    "search.eval_batches": _COUNT,
    "search.tau.start": float_range(0, low_inclusive=False, allow_none=True),
    "search.tau.end": float_range(0, low_inclusive=False, allow_none=True),
    "search.w_lr": _POSITIVE,
    "search.w_lr_min": _NON_NEGATIVE,
    "search.w_momentum": _FRACTION,
    "search.w_weight_decay": _NON_NEGATIVE,
    "search.grad_clip": _POSITIVE,
    "search.a_lr": _POSITIVE,
    "search.a_beta1": _FRACTION,
    "search.a_beta2": _FRACTION,
    "search.a_weight_decay": _NON_NEGATIVE,
    "train.epochs": _POSITIVE_INT,
    "train.batch_size": _POSITIVE_INT,
    "train.lr": _POSITIVE,
    "train.momentum": _FRACTION,
    "train.weight_decay": _NON_NEGATIVE,
    "train.grad_clip": _POSITIVE,
    "train.drop_path_prob": _FRACTION,
    "train.auxiliary_weight": _NON_NEGATIVE,
    "train.cutout": _COUNT,
    "train.eval_batches": _COUNT,
    "run.checkpoint_every": _COUNT,
    # early stopping (configs.EARLY_STOP): a probability and a budget fraction, both strictly
    # inside (0, 1) (0 would never stop, 1 always), and an accuracy as a fraction.
    "early_stop.threshold": float_range(0, 1, low_inclusive=False, high_inclusive=False),
    "early_stop.min_fraction": float_range(0, 1, low_inclusive=False, high_inclusive=False),
    "early_stop.best": float_range(0, 1, allow_none=True),
    # meta-train (configs.META)
    "data.held_out": float_range(0, extra=lambda v: v < 1 or float(v).is_integer(),
                                 extra_message="a class count or a fraction below 1"),
    "tasks.way": int_range(2),
    "tasks.shots": _POSITIVE_INT,
    "tasks.queries": _POSITIVE_INT,
    "meta.epochs": _POSITIVE_INT,
    "meta.steps_per_epoch": _POSITIVE_INT,
    "meta.tasks_per_step": _POSITIVE_INT,
    "meta.devices": _COUNT,
    "meta.inner_steps": _POSITIVE_INT,
    "meta.inner_lr_weights": _POSITIVE,
    "meta.inner_lr_alphas": _NON_NEGATIVE,
    "meta.beta": _NON_NEGATIVE,
    "meta.weight_prior": _NON_NEGATIVE,
    "meta.tau": _POSITIVE,
    "meta.fd_radius": _POSITIVE,
    "meta.lr_weights": _POSITIVE,
    "meta.lr_alphas": _NON_NEGATIVE,  # 0 (with inner_lr_alphas=0): MAML, see configs
    "meta.lr_step_sizes": _NON_NEGATIVE,
    "meta.grad_clip": _POSITIVE,
    "meta.eval_tasks": _COUNT,
    # adapt (configs.ADAPT)
    "adapt.steps": _POSITIVE_INT,
    "adapt.batch_size": _POSITIVE_INT,
    "adapt.lr_scale": _POSITIVE,
    "adapt.eval_every": _POSITIVE_INT,
    "adapt.eval_batches": _COUNT,
    "adapt.samples": _POSITIVE_INT,
    "adapt.top_k": _POSITIVE_INT,
}

# adapt takes its model from the prior unless told: None there means "the prior's".
ADAPT_RANGES: dict[str, Range] = dict(
    RANGES, **{"model.channels": int_range(1, allow_none=True),
               "model.layers": int_range(1, allow_none=True)})


def _lookup(cfg: Mapping, path: str) -> Any:
  node: Any = cfg
  for part in path.split("."):
    # A section the config lacks, or holds as a non-dict (search.tau=None), has nothing to check.
    if not isinstance(node, Mapping) or part not in node:
      return _ABSENT
    node = node[part]
  return node


def check_ranges(cfg: Mapping, ranges: Mapping[str, Range] = RANGES) -> None:
  """Raises ConfigError, one line naming every field of ``cfg`` outside its range in ``ranges``.

  Fields in ``ranges`` that ``cfg`` lacks are skipped.
  """
  problems = []
  for path, rng in ranges.items():
    value = _lookup(cfg, path)
    if value is not _ABSENT:
      problem = rng.problem(path, value)
      if problem:
        problems.append(problem)
  if problems:
    raise ConfigError("; ".join(problems))
