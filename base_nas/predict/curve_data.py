"""Learning curves of networks others have trained, as accuracy fractions per epoch.

:func:`load_curve_sets` reads a folder of CSV files, one curve set per file, in the layouts of:

- Baker et al. 2017, "Accelerating neural architecture search using performance prediction"
  (MITAutoML/accelerating_nas, MIT licence): ``metaqnn_cifar10``, ``metaqnn_svhn``,
  ``deep_resnets_cifar10``, ``deep_resnets_tinyimagenet``, ``alexnet_imagenet`` (columns
  ``acc_N``, accuracy fractions) and ``lstm_ptb`` (columns ``ep_N``, validation perplexity);
- SamuelMintal/Masters_Thesis (Apache-2.0): ``nb201_200archs_curves`` (column ``val_accs``, a
  list of 200 NAS-Bench-201 validation accuracies in percent per row).

Every curve comes out increasing-is-better in [0, 1]. Perplexity becomes the fraction of a
uniform guess's cross-entropy that the model removes, ``1 - ln(ppl) / ln(10000)`` (Penn
Treebank's vocabulary has 10,000 words, so a uniform model has perplexity 10,000): a bounded
score with the shape of an accuracy curve, which the curve models need; percentages are divided
by 100. The data are not shipped and not needed by the tests; by default they are read from
``$BASE_NAS_CURVES`` or ``/work/shared/data/nas/learning_curves``.
"""
from __future__ import annotations

import ast
import csv
import dataclasses
import glob
import json
import math
import os

import numpy as np

from base_nas.errors import CurveError

DEFAULT_DIR = "/work/shared/data/nas/learning_curves"
PTB_VOCABULARY = 10_000

csv.field_size_limit(1 << 24)  # a row of nb201_200archs_curves holds two 200-number lists


@dataclasses.dataclass(frozen=True)
class CurveSet:
  """Complete learning curves of one family of runs.

  Attributes:
    name: the file's stem, e.g. ``metaqnn_cifar10``.
    curves: (runs, epochs) float array of accuracies (or scores) in [0, 1].
    source: where the numbers come from, for citing.
  """
  name: str
  curves: np.ndarray
  source: str

  @property
  def epochs(self) -> int:
    return self.curves.shape[1]


_BAKER = "Baker et al. 2017 (MITAutoML/accelerating_nas, MIT)"
_MINTAL = "NAS-Bench-201 curves via SamuelMintal/Masters_Thesis (Apache-2.0)"


def _parse_list(text: str, where: str) -> list[float]:
  try:
    return [float(v) for v in json.loads(text)]
  except ValueError:
    try:  # Python reprs: single quotes, nan
      return [float(v) for v in ast.literal_eval(text.replace("nan", "None"))]
    except (ValueError, SyntaxError, TypeError):
      raise CurveError(f"{where}: cannot read the list {text[:40]!r}...") from None


def read_curve_file(path: str) -> CurveSet:
  """One CSV file as a :class:`CurveSet`; rows with missing or non-finite values are dropped."""
  name = os.path.splitext(os.path.basename(path))[0]
  try:
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
  except OSError as err:
    raise CurveError(f"cannot read curve file {path} ({err.strerror})") from None
  if not rows:
    raise CurveError(f"curve file {path} has no rows")
  columns = list(rows[0])
  if "val_accs" in columns:
    curves = [_parse_list(r["val_accs"], f"{path} row {i + 2}") for i, r in enumerate(rows)]
    scale, source = 0.01, _MINTAL
  else:
    epoch_cols = [c for c in columns if c.startswith(("acc_", "ep_"))]
    if not epoch_cols:
      raise CurveError(f"curve file {path} has neither acc_N/ep_N columns nor val_accs")
    curves = [[float(r[c]) if r[c] not in ("", None) else math.nan for c in epoch_cols]
              for r in rows]
    scale, source = 1.0, _BAKER
  length = max(len(c) for c in curves)
  arr = np.array([c for c in curves if len(c) == length], float) * scale
  arr = arr[np.all(np.isfinite(arr), axis=1)]
  if name.startswith("lstm") or (arr.size and arr.min() > 1.0):  # perplexities
    arr = np.clip(1.0 - np.log(arr) / math.log(PTB_VOCABULARY), 0.0, 1.0)
  if not len(arr):
    raise CurveError(f"curve file {path} has no complete finite curve")
  return CurveSet(name, np.clip(arr, 0.0, 1.0), source)


def load_curve_sets(directory: str | None = None) -> dict[str, CurveSet]:
  """Every ``*.csv`` in ``directory`` (default ``$BASE_NAS_CURVES`` or :data:`DEFAULT_DIR`)."""
  directory = directory or os.environ.get("BASE_NAS_CURVES") or DEFAULT_DIR
  paths = sorted(glob.glob(os.path.join(directory, "*.csv")))
  if not paths:
    raise CurveError(f"no learning-curve CSV files in {directory}; pass the folder of "
                     "metaqnn_cifar10.csv and the others")
  return {s.name: s for s in map(read_curve_file, paths)}


def split_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Rows ``0..n-1`` split at random into two sorted halves: ``(fit, held_out)``.

  The shipped curve model trains on ``fit`` of the NB201 curves; benchmarks evaluate on
  ``held_out``. A seeded permutation rather than even/odd rows, since the file's row order may
  follow the cell index and so the architecture.
  """
  order = np.random.default_rng(seed).permutation(n)
  return np.sort(order[: n // 2]), np.sort(order[n // 2:])
