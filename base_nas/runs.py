"""A run's work directory: its config, metrics, TensorBoard events, checkpoints and outputs.

Layout of ``workdir``::

  config.json      the config of the run (its fingerprint guards resumption)
  metrics.jsonl    one JSON line per ``log`` call: {"step", "time", **metrics}
  tb/              TensorBoard event files (tensorboardX)
  checkpoints/     orbax checkpoints, the last ``keep`` steps

Every file is written atomically (a temporary file in the same directory, then ``os.replace``),
so a run killed at any moment leaves each file either old or new, never half written, and a run
started again in the same directory resumes from its last complete checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Mapping

import numpy as np

from base_nas.config import Config, config_diff, config_fingerprint
from base_nas.errors import ConfigError, RunError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
_RESERVED_META = ("fingerprint", "step")


# ---------------------------------------------------------------------------------------------
# Atomic files


def atomic_write(path: str, data: bytes | str) -> None:
  """Writes ``data`` to ``path`` so that readers see the old file or the new one, never a part.

  The data goes to a temporary file in the same directory (``os.replace`` is atomic only within
  one filesystem), which is flushed to disk and then renamed over ``path``.
  """
  if isinstance(data, str):
    data = data.encode("utf-8")

  def write(f):
    f.write(data)

  _replace_with(path, write)


def atomic_savefig(fig, path: str, **kwargs) -> None:
  """``fig.savefig(path)`` atomically; the format follows the extension of ``path`` (PNG if none).

  Args:
    fig: a matplotlib Figure.
    path: the destination.
    **kwargs: passed to ``savefig`` (``dpi``, ``bbox_inches``...).
  """
  ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
  kwargs.setdefault("format", ext)
  _replace_with(path, lambda f: fig.savefig(f, **kwargs), suffix="." + ext)


def _replace_with(path: str, write, suffix: str = ".tmp") -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    # mkstemp creates 0600 files; give the result the usual permissions of a new file.
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    os.chmod(tmp, mode)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def to_jsonable(value: Any) -> Any:
  """``json.dumps`` default for numpy and JAX values: scalars to numbers, arrays to lists."""
  if isinstance(value, (np.bool_,)):
    return bool(value)
  if isinstance(value, np.integer):
    return int(value)
  if isinstance(value, np.floating):
    return float(value)
  if hasattr(value, "__array__"):  # np.ndarray, jax.Array
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else array.tolist()
  if isinstance(value, (set, frozenset)):
    return sorted(value)
  raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(obj: Any, indent: int | None = 2) -> str:
  return json.dumps(obj, indent=indent, default=to_jsonable)


def _scalar(name: str, value: Any) -> Any:
  """A metric as a JSON number (or str/bool), converting numpy and JAX scalars."""
  if isinstance(value, (bool, int, float, str)) or value is None:
    return value
  if hasattr(value, "__array__"):  # numpy and JAX scalars, or one-element arrays
    array = np.asarray(value)
    if array.size != 1:
      raise ValueError(f"metric {name!r} is an array of shape {array.shape}; log scalars only")
    return to_jsonable(array.reshape(()))
  raise TypeError(f"metric {name!r} is a {type(value).__name__}; log numbers or strings only")


# ---------------------------------------------------------------------------------------------
# Runs


def _quiet_orbax():
  # orbax logs every save at INFO and slow saves as warnings through absl; keep errors only.
  try:
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)
  except ImportError:  # pragma: no cover - orbax depends on absl
    pass


class Run:
  """A work directory holding one run of one config; resumable after a kill.

  Args:
    workdir: the directory (created if missing).
    config: the run's config.
    fingerprint_ignore: top-level config sections that may differ when a run is resumed.
    keep: how many of the latest checkpoints to keep.
    process_local: this process of a multi-process run checkpoints its own host copy of a
      replicated state in its own ``workdir``, without waiting for the others (restored
      states are then host arrays, to place on the devices again).

  Raises:
    RunError: ``workdir`` holds a run of another config.
  """

  def __init__(self, workdir: str, config: Config | Mapping, *,
               fingerprint_ignore=("run",), keep: int = 2, process_local: bool = False):
    self.workdir = os.fspath(workdir)
    self.config = config if isinstance(config, Config) else Config(config)
    self.fingerprint_ignore = tuple(fingerprint_ignore)
    self.fingerprint = config_fingerprint(self.config, self.fingerprint_ignore)
    self.keep = keep
    self.process_local = process_local
    if os.path.exists(self.workdir) and not os.path.isdir(self.workdir):
      raise RunError(f"work directory {self.workdir} is a file; pass another --workdir")
    os.makedirs(self.workdir, exist_ok=True)
    self._check_config()
    self.write_json(CONFIG_FILE, self.config.to_dict())
    self._metrics_file = None
    self._writer = None
    self._purge_step: int | None = None
    self._manager = None

  def _check_config(self):
    path = self.path(CONFIG_FILE)
    if not os.path.exists(path):
      return
    try:
      with open(path) as f:
        saved = json.load(f)
    except (OSError, ValueError) as err:
      raise RunError(f"work directory {self.workdir} has an unreadable {CONFIG_FILE} ({err}); "
                     "use another --workdir or delete it") from err
    try:
      same = config_fingerprint(saved, self.fingerprint_ignore) == self.fingerprint
    except ConfigError:
      same = False
    if same:
      return
    diff = config_diff(saved, self.config, self.fingerprint_ignore)
    shown = ", ".join(diff[:3]) + (f", and {len(diff) - 3} more" if len(diff) > 3 else "")
    fields = "field" if len(diff) == 1 else "fields"
    raise RunError(f"work directory {self.workdir} holds a run of another config ({fields} "
                   f"{shown}); use another --workdir or delete it")

  # -- files --------------------------------------------------------------------------------

  def path(self, name: str) -> str:
    """The path of ``name`` in the work directory; its parent directory is created."""
    path = os.path.join(self.workdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path

  def write_json(self, name: str, obj: Any) -> str:
    """Writes ``obj`` as JSON to ``name`` atomically (numpy/JAX values converted); the path."""
    text = dumps(obj) + "\n"  # serialise first: a failure here leaves the old file untouched
    path = self.path(name)
    atomic_write(path, text)
    return path

  def write_text(self, name: str, text: str) -> str:
    """Writes ``text`` to ``name`` atomically; returns the path."""
    path = self.path(name)
    atomic_write(path, text)
    return path

  # -- metrics ------------------------------------------------------------------------------

  def log(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
    """Appends ``{"step", "time", **metrics}`` to metrics.jsonl and numbers to TensorBoard.

    Args:
      step: the global step the metrics belong to.
      metrics: name -> number (Python, numpy or JAX scalar) or string (JSON only).
      prefix: prepended to every name as ``prefix/name``.
    """
    prefix = prefix.rstrip("/")
    row = {f"{prefix}/{k}" if prefix else str(k): _scalar(k, v) for k, v in metrics.items()}
    line = json.dumps({"step": int(step), "time": time.time(), **row})
    if self._metrics_file is None:
      self._metrics_file = open(self.path(METRICS_FILE), "a", encoding="utf-8")
    self._metrics_file.write(line + "\n")
    self._metrics_file.flush()
    writer = self._tb()
    for name, value in row.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        writer.add_scalar(name, value, int(step))

  def _tb(self):
    if self._writer is None:
      from tensorboardX import SummaryWriter
      # purge_step makes TensorBoard drop the events a killed run wrote after the checkpoint.
      self._writer = SummaryWriter(self.path("tb"), purge_step=self._purge_step, flush_secs=30)
    return self._writer

  def read_metrics(self) -> list[dict]:
    """The lines of metrics.jsonl (a torn last line, from a kill mid-write, is skipped)."""
    return read_metrics(os.path.join(self.workdir, METRICS_FILE))

  def truncate_metrics(self, after_step: int) -> None:
    """Drops the metrics of steps after ``after_step``: those of a killed run past its checkpoint.

    Afterwards metrics.jsonl holds what an uninterrupted run would have written up to
    ``after_step`` (times aside), and TensorBoard hides the killed run's later events.
    """
    self._close_logs()
    self._purge_step = int(after_step) + 1
    path = os.path.join(self.workdir, METRICS_FILE)
    if not os.path.exists(path):
      return
    kept = [row for row in read_metrics(path) if row["step"] <= after_step]
    atomic_write(path, "".join(json.dumps(row) + "\n" for row in kept))

  def _close_logs(self):
    if self._metrics_file is not None:
      self._metrics_file.close()
      self._metrics_file = None
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  # -- checkpoints --------------------------------------------------------------------------

  def _checkpoints(self):
    if self._manager is None:
      import orbax.checkpoint as ocp
      _quiet_orbax()
      # Created here: orbax refuses create=True when it may not coordinate every process.
      os.makedirs(self.path("checkpoints"), exist_ok=True)
      options = ocp.CheckpointManagerOptions(
          max_to_keep=self.keep, create=False,
          # A save killed midway leaves a temporary directory, never a step: remove those.
          cleanup_tmp_directories=True,
          **self._multiprocessing_options(ocp))
      # Naming the handlers lets a fresh process read a checkpoint's metadata before restoring.
      self._manager = ocp.CheckpointManager(
          os.path.abspath(self.path("checkpoints")), options=options,
          item_handlers={"state": ocp.StandardCheckpointHandler(),
                         "meta": ocp.JsonCheckpointHandler()})
    return self._manager

  def _multiprocessing_options(self, ocp) -> dict:
    # One process of several keeping its own copy of a replicated state: orbax must neither
    # wait for the other processes nor leave the writing to process 0.
    if not self.process_local:
      return {}
    import jax
    me = jax.process_index()
    return {"multiprocessing_options": ocp.options.MultiprocessingOptions(
        primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"process_{me}")}

  def _local(self, tree):
    """Host copies of a replicated state, for a process that checkpoints alone."""
    if not self.process_local:
      return tree
    import jax
    return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)
                        if hasattr(x, "addressable_shards") else np.asarray(x), tree)

  def save(self, step: int, state: Any, meta: Mapping[str, Any] | None = None, *,
           wait: bool = True) -> None:
    """Checkpoints the pytree ``state`` (host or device arrays, unreplicated) at ``step``.

    orbax writes into a temporary directory and renames it into place when complete, and
    deletes the oldest checkpoint beyond ``keep`` only after that, so a kill during a save
    leaves the previous checkpoint restorable.

    Args:
      step: the global step; a checkpoint already at this step is replaced.
      state: the pytree to save.
      meta: JSON-serialisable data restored with the state (epoch, history...); the keys
        "fingerprint" and "step" are reserved.
      wait: block until the checkpoint is on disk (otherwise it finishes in the background and
        ``close`` waits for it).
    """
    import orbax.checkpoint as ocp
    meta = dict(meta or {})
    clash = [k for k in _RESERVED_META if k in meta]
    if clash:
      raise ValueError(f"checkpoint meta keys {clash} are reserved")
    meta_json = json.loads(dumps({**meta, "fingerprint": self.fingerprint, "step": int(step)},
                                 indent=None))
    manager = self._checkpoints()
    manager.wait_until_finished()
    if int(step) in manager.all_steps():
      manager.delete(int(step))
    state = self._local(state)
    manager.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                   meta=ocp.args.JsonSave(meta_json)),
                 force=True)
    if wait:
      manager.wait_until_finished()

  def checkpoint_steps(self) -> list[int]:
    """The steps with a complete checkpoint, ascending."""
    manager = self._checkpoints()
    manager.reload()
    return sorted(manager.all_steps())

  def restore(self, template: Any) -> tuple[int, Any, dict] | None:
    """Restores the latest checkpoint into the structure, shapes and dtypes of ``template``.

    Args:
      template: a pytree like the saved state (e.g. the freshly initialised state).

    Returns:
      ``(step, state, meta)``, or None when there is no checkpoint yet.

    Raises:
      RunError: the checkpoint was written by another config, or does not fit ``template``.
    """
    import orbax.checkpoint as ocp
    template = self._local(template)
    manager = self._checkpoints()
    manager.wait_until_finished()
    manager.reload()
    step = manager.latest_step()
    if step is None:
      return None
    where = os.path.join(self.workdir, "checkpoints", str(step))
    try:
      meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as err:  # a broken checkpoint is the user's to delete, not a bug
      raise RunError(f"checkpoint {where} cannot be read ({_one_line(err)}); delete it to "
                     "resume from the one before, or the whole --workdir to start over") from err
    meta = dict(meta or {})
    if meta.get("fingerprint") != self.fingerprint:
      raise RunError(f"checkpoint in {self.workdir} was written by another config; use another "
                     "--workdir or delete it")
    # Checked here rather than left to orbax: its errors are long, and a failed read leaves
    # coroutines that print tracebacks at interpreter exit.
    try:
      saved_tree = manager.item_metadata(step)["state"]
      saved_tree = getattr(saved_tree, "tree", saved_tree)
    except Exception as err:
      raise RunError(f"checkpoint {where} cannot be read ({_one_line(err)}); delete it to "
                     "resume from the one before, or the whole --workdir to start over") from err
    problems = tree_mismatch(saved_tree, template)
    if problems:
      shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more"
                                         if len(problems) > 3 else "")
      raise RunError(f"checkpoint {where} does not fit this run's state ({shown}); use another "
                     "--workdir or delete it")
    try:
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(template)))["state"]
    except Exception as err:
      raise RunError(f"checkpoint {where} does not fit this run's state ({_one_line(err)}); "
                     "use another --workdir or delete it") from err
    for key in _RESERVED_META:
      meta.pop(key, None)
    return int(step), restored, meta

  # -- lifetime -----------------------------------------------------------------------------

  def close(self) -> None:
    """Waits for pending checkpoints and closes the metrics and TensorBoard files."""
    if self._manager is not None:
      self._manager.wait_until_finished()
      self._manager.close()
      self._manager = None
    self._close_logs()

  def __enter__(self) -> "Run":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def read_metrics(path: str) -> list[dict]:
  """The rows of a metrics.jsonl file; a torn line (a kill mid-write) is skipped."""
  rows = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        row = json.loads(line)
      except ValueError:
        continue
      if isinstance(row, dict) and "step" in row:
        rows.append(row)
  return rows


def _key_name(entry) -> str:
  for attr in ("key", "idx", "name"):  # DictKey, SequenceKey, GetAttrKey (FlattenedIndexKey: key)
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  return str(entry)


def _leaves_by_path(tree) -> dict[str, tuple[int, ...]]:
  import jax
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    shape = getattr(leaf, "shape", None)  # arrays and orbax metadata; np.shape for scalars
    out[".".join(_key_name(k) for k in path)] = tuple(np.shape(leaf) if shape is None else shape)
  return out


def tree_mismatch(saved_tree, template) -> list[str]:
  """How a checkpoint's metadata tree and a template differ: missing/extra leaves, shapes."""
  saved, wanted = _leaves_by_path(saved_tree), _leaves_by_path(template)
  problems = [f"{name}: not in the checkpoint" for name in wanted if name not in saved]
  problems += [f"{name}: in the checkpoint only" for name in saved if name not in wanted]
  problems += [f"{name}: shape {saved[name]} in the checkpoint, {shape} here"
               for name, shape in wanted.items()
               if name in saved and tuple(saved[name]) != tuple(shape)]
  return problems


def _one_line(err: BaseException) -> str:
  lines = [line.strip() for line in str(err).splitlines() if line.strip()]
  text = " ".join(lines) if len(lines) <= 4 else " ".join(lines[:4]) + " ..."
  return f"{type(err).__name__}: {text}" if text else type(err).__name__


__all__ = ["Run", "atomic_write", "atomic_savefig", "read_metrics", "to_jsonable", "dumps"]
