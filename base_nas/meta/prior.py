"""Prior files: a meta-learned theta on disk, with what it was learned for.

A prior is a directory::

  prior.json   format, base-nas version, search space, model config, task shape and source,
               meta-training classes, meta-step count
  theta/       the orbax checkpoint of theta = {alphas, params[, log_lr]}

Priors that ship with the package live in ``base_nas/resources/priors/<name>/`` and are named
by that short name wherever a path is accepted (``prior=nb201-tiny``); see :func:`resolve`.

It is written in a temporary directory beside its destination and renamed into place, so a kill
never leaves half a prior, and an older prior at the same path is replaced only once the new one
is complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Mapping

import numpy as np

import base_nas
from base_nas.errors import ConfigError
from base_nas.runs import atomic_write, dumps

FORMAT = "base-nas-prior"
_SHIPPED = ("resources", "priors")
# The model fields a prior's weights depend on.
MODEL_FIELDS = ("channels", "layers", "stem_multiplier")


def save_prior(path: str, theta: Any, record: Mapping[str, Any]) -> str:
  """Writes ``theta`` (host or device arrays, unreplicated) and ``record`` as a prior at
  ``path``; returns ``path``."""
  return save_tree_dir(path, theta, "theta", "prior.json",
                       dict(record, format=FORMAT, version=base_nas.__version__))


def save_tree_dir(path: str, tree: Any, tree_dir: str, record_file: str,
                  record: Mapping[str, Any]) -> str:
  """Writes a directory holding ``tree`` as an orbax checkpoint in ``tree_dir`` and ``record``
  as JSON in ``record_file``, whole or not at all; returns the absolute ``path``.

  Priors and predictors are such directories. It is built in a temporary directory beside
  ``path`` and renamed into place; an older directory at ``path`` is moved aside first and
  deleted only once the new one is in place.
  """
  import orbax.checkpoint as ocp
  path = os.path.abspath(os.fspath(path))
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
  try:
    host = _to_numpy(tree)
    with _checkpointer(ocp) as ckpt:
      ckpt.save(os.path.join(tmp, tree_dir), host)
      ckpt.wait_until_finished()
    atomic_write(os.path.join(tmp, record_file), dumps(dict(record)))
    old = None
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
      os.replace(path, os.path.join(old, "previous"))
    os.replace(tmp, path)
    if old:
      shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return path


def _checkpointer(ocp):
  # A prior is one process's host copy (process 0 writes it, any process may read it): orbax
  # must not wait for the other processes of a multi-process run.
  import jax
  me = jax.process_index()
  return ocp.StandardCheckpointer(multiprocessing_options=ocp.options.MultiprocessingOptions(
      primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"prior_{me}"))


def _to_numpy(tree):
  import jax
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)
                      if isinstance(x, jax.Array) else np.asarray(x), tree)


def shipped_priors() -> dict[str, str]:
  """``{short name: directory}`` of the priors packaged with base-nas."""
  return shipped_dirs(_SHIPPED, "prior.json")


def shipped_dirs(parts: tuple[str, ...], marker: str) -> dict[str, str]:
  """``{name: directory}`` of the packaged directories under ``base_nas/<parts>`` holding
  ``marker`` (priors, predictors)."""
  import importlib.resources
  root = importlib.resources.files("base_nas").joinpath(*parts)
  if not root.is_dir():
    return {}
  return {d.name: str(d) for d in sorted(root.iterdir(), key=lambda d: d.name)
          if d.joinpath(marker).is_file()}


def resolve(ref: str) -> str:
  """The directory of a prior given as a path or as a shipped prior's short name.

  A path that exists wins over a short name, so a local ``nb201-tiny/`` directory shadows the
  packaged prior of that name.
  """
  ref = os.fspath(ref)
  if os.path.exists(ref) or os.sep in ref:
    return ref
  return shipped_priors().get(ref, ref)


def read_record(path: str) -> dict:
  """The prior's JSON record; ConfigError if ``path`` is not a prior."""
  where = os.path.join(path, "prior.json")
  try:
    with open(where) as f:
      record = json.load(f)
  except FileNotFoundError:
    names = ", ".join(shipped_priors()) or "none"
    raise ConfigError(f"prior {path!r} not found (expected a directory with prior.json, as "
                      f"`base-nas meta-train` writes, or a shipped prior: {names})") from None
  except (OSError, ValueError) as e:
    raise ConfigError(f"prior {path!r} cannot be read: {where}: {e}") from None
  if record.get("format") != FORMAT:
    raise ConfigError(f"{where} is not a base-nas prior (format {record.get('format')!r})")
  return record


def check_compatible(record: Mapping[str, Any], path: str, space: str,
                     model: Mapping[str, Any], relaxation: str | None = None) -> None:
  """One-line ConfigError when the prior was learned for another space or model."""
  problems = []
  if record.get("space") != space:
    problems.append(f"space={record.get('space')!r}, not {space!r}")
  saved = record.get("model", {})
  for k in MODEL_FIELDS:
    if k in model and saved.get(k) != model[k]:
      problems.append(f"model.{k}={saved.get(k)!r}, not {model[k]!r}")
  if relaxation is not None and record.get("relaxation", relaxation) != relaxation:
    problems.append(f"meta.relaxation={record.get('relaxation')!r}, not {relaxation!r}")
  if problems:
    raise ConfigError(f"prior {path!r} does not fit this config: it was learned with "
                      + ", ".join(problems))


def check_same_split(record: Mapping[str, Any], other: Mapping[str, Any], path: str) -> None:
  """ConfigError unless the prior at ``path`` (``other``) fits ``record``'s model and held out
  the same classes: baselines scored on ``record``'s held-out tasks must never have seen them."""
  check_compatible(other, path, record["space"], record["model"], record.get("relaxation"))
  if (other.get("source") != record.get("source")
      or sorted(other.get("held_out_classes", [])) != sorted(record.get("held_out_classes", []))):
    raise ConfigError(f"prior {path!r} was meta-trained on another split (source "
                      f"{other.get('source')!r}, {len(other.get('held_out_classes', []))} held-out "
                      "classes): its held-out tasks are not these")


def load_prior(path: str) -> tuple[dict, dict]:
  """``(theta, record)`` of the prior at ``path``, theta as numpy arrays."""
  import orbax.checkpoint as ocp
  record = read_record(path)
  try:
    with _checkpointer(ocp) as ckpt:
      theta = ckpt.restore(os.path.abspath(os.path.join(path, "theta")))
  except Exception as e:  # noqa: BLE001 - a damaged prior is reported, not a traceback
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise ConfigError(f"prior {path!r}: its weights cannot be read ({first})") from None
  return _to_numpy(theta), record


def held_out_source(record: Mapping[str, Any], root: str = ".") -> tuple[Any, list[int]]:
  """The split a prior was meta-trained from and the ids of the classes it held out.

  Args:
    record: the prior's record (:func:`load_prior`), with its full meta-training config.
    root: what a relative path in the config's ``data.spec`` is relative to (the directory
      meta-training ran in; experiments name ``../shared/...`` from the repository root).

  Raises:
    DataError: the data is missing, or its class ids no longer name the recorded classes.
  """
  from base_nas import data as data_lib
  from base_nas.errors import DataError
  data = record["config"]["data"]
  scheme, sep, rest = data["spec"].partition(":")
  path = rest if sep else data["spec"]
  path = path if os.path.isabs(path) else os.path.normpath(os.path.join(root, path))
  dataset = data_lib.open_dataset(f"{scheme}:{path}" if sep else path, data.get("data_dir"))
  source = dataset.split(data["split"]) if data.get("split") else dataset.train_split()
  held = [int(c) for c in record["held_out_classes"]]
  names = record.get("held_out_class_names")
  if names and dataset.class_names and [dataset.class_names[c] for c in held] != list(names):
    raise DataError(f"{data['spec']}: its class ids do not name the prior's held-out classes")
  return source, held
