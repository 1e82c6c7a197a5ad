"""Predictor directories: a trained performance predictor's weights on disk, with what it is.

A predictor is a directory::

  predictor.json   format, base-nas version, kind (``"value-net"``...), search space, shapes,
                   config, and the caller's record of what it was trained on
  params/          the orbax checkpoint of the predictor's parameters

Written like a prior (:mod:`base_nas.meta.prior`): in a temporary directory beside the
destination, renamed into place, so a kill never leaves half a predictor and an older one at the
same path is replaced only once the new one is complete. Any kind of predictor can use it; the
kind decides what else goes in the JSON.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np

import base_nas
from base_nas.errors import PredictorError
from base_nas.meta.prior import _checkpointer, _to_numpy, save_tree_dir

FORMAT = "base-nas-predictor"
RECORD_FILE = "predictor.json"
PARAMS_DIR = "params"


def save_predictor(path: str, params: Any, record: Mapping[str, Any]) -> str:
  """Writes ``params`` (a pytree of host or device arrays) and ``record`` as a predictor
  directory at ``path``; returns ``path``.

  ``record`` should hold at least ``kind`` and ``space``; ``format`` and ``version`` are added.
  """
  full = dict(record, format=FORMAT, version=getattr(base_nas, "__version__", None))
  return save_tree_dir(path, params, PARAMS_DIR, RECORD_FILE, full)


def read_record(path: str, kind: str | None = None, space: str | None = None) -> dict:
  """The predictor's JSON record; PredictorError if ``path`` is not a predictor, or not one of
  ``kind`` or for ``space`` where those are given."""
  path = os.fspath(path)
  where = os.path.join(path, RECORD_FILE)
  try:
    with open(where) as f:
      record = json.load(f)
  except FileNotFoundError:
    raise PredictorError(f"predictor {path!r} not found (expected a directory with "
                         f"{RECORD_FILE})") from None
  except (OSError, ValueError) as e:
    raise PredictorError(f"predictor {path!r} cannot be read: {where}: {e}") from None
  if not isinstance(record, dict) or record.get("format") != FORMAT:
    got = record.get("format") if isinstance(record, dict) else type(record).__name__
    raise PredictorError(f"{where} is not a base-nas predictor (format {got!r})")
  if kind is not None and record.get("kind") != kind:
    raise PredictorError(f"predictor {path!r} is a {record.get('kind')!r}, not a {kind!r}")
  if space is not None and record.get("space") != space:
    raise PredictorError(f"predictor was trained for space {record.get('space')!r}, "
                         f"not {space!r}")
  return record


def load_params(path: str, target: Any = None) -> Any:
  """The parameters of the predictor at ``path`` as numpy arrays.

  Args:
    path: the predictor directory.
    target: a pytree of arrays or ``jax.ShapeDtypeStruct`` of the expected structure; the
      checkpoint must match it (a predictor whose JSON and weights disagree is corrupt).
  """
  import jax
  import orbax.checkpoint as ocp
  where = os.path.abspath(os.path.join(os.fspath(path), PARAMS_DIR))
  if target is not None:
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), target)
  try:
    with _checkpointer(ocp) as ckpt:
      params = ckpt.restore(where, target)
  except Exception as e:  # noqa: BLE001 - a damaged predictor is reported, not a traceback
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise PredictorError(f"predictor {os.fspath(path)!r}: its weights cannot be read "
                         f"({first})") from None
  params = _to_numpy(params)
  if target is not None:
    # orbax matches the tree structure but restores a stored array of another shape as it is.
    got = jax.tree.map(lambda x: (x.shape, x.dtype), params)
    want = jax.tree.map(lambda x: (tuple(x.shape), np.dtype(x.dtype)), target)
    if got != want:
      raise PredictorError(f"predictor {os.fspath(path)!r}: its weights cannot be read (their "
                           f"shapes do not match {RECORD_FILE})")
  return params
