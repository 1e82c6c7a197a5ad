"""On-disk caches that let a repeated or resumed run skip compiling and tracing its programs.

JAX's persistent compilation cache stores XLA executables, but its key is the lowered program, so
every run still traces and lowers the Python function before it can look the executable up: 7-14 s
of a warm start for the DARTS supernet's gradient on a 2-core CPU. :func:`cached_jit` also stores
the lowered program itself (a serialized :mod:`jax.export` artifact), keyed by a name, the
caller's static configuration, the arguments' tree structure, shapes and dtypes, and a fingerprint
of the base_nas sources and library versions; a hit deserialises it in milliseconds and never
runs the Python function. Any change to base_nas's code changes the fingerprint.

Both caches are off until :func:`enable` names a directory (the ``base-nas`` command does, see
``cli.py``). A program that cannot be exported (host callbacks) falls back to plain ``jax.jit``
with a warning naming the reason, as do, silently, arguments spread over several devices; an
unreadable entry is traced again and rewritten. Cached functions are for calling, not
differentiating: the stored program has no derivative rules.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import os
import pathlib
import warnings
from typing import Any, Callable, Iterable

import jax

from base_nas import runs

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_state: dict[str, Any] = {"dir": None}


def enable(path: str | os.PathLike, min_compile_secs: float = 0.5) -> None:
  """Caches executables (JAX's persistent cache) under ``path`` and traced programs under
  ``path/traces``. Executables that compile faster than ``min_compile_secs`` are not stored."""
  path = os.fspath(path)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_secs)
  _state["dir"] = os.path.join(path, "traces")


def disable_traces() -> None:
  """Stops reading and writing traced programs (executables stay cached if JAX's cache is on)."""
  _state["dir"] = None


def trace_dir() -> str | None:
  return _state["dir"]


@functools.cache
def _library_fingerprint() -> str:
  h = hashlib.sha256()
  for dist in ("jax", "jaxlib", "flax", "optax"):
    try:
      h.update(f"{dist}={importlib.metadata.version(dist)};".encode())
    except importlib.metadata.PackageNotFoundError:
      h.update(f"{dist}=?;".encode())
  for f in sorted(_PACKAGE_DIR.rglob("*.py")):
    h.update(str(f.relative_to(_PACKAGE_DIR)).encode())
    h.update(f.read_bytes())
  return h.hexdigest()


def _source_fingerprint(objects: Iterable[Any]) -> str:
  """Hashes the files defining ``objects`` that live outside base_nas (a user's own model)."""
  h = hashlib.sha256()
  for obj in objects:
    try:
      path = pathlib.Path(inspect.getfile(obj)).resolve()
    except (TypeError, OSError):
      h.update(repr(obj).encode())
      continue
    if _PACKAGE_DIR not in path.parents:
      h.update(str(path).encode())
      h.update(path.read_bytes() if path.is_file() else b"")
  return h.hexdigest()


def _signature(args) -> tuple[str, jax.sharding.Sharding | None]:
  """The arguments' tree structure, shapes and dtypes, and the one device they sit on (None
  when they span several), in one pass over the leaves."""
  leaves, tree = jax.tree.flatten(args)
  parts, devices = [str(tree)], set()
  for leaf in leaves:
    aval = jax.typeof(leaf)
    parts.append(str(aval) + ("w" if getattr(aval, "weak_type", False) else ""))
    sharding = getattr(leaf, "sharding", None)
    if sharding is not None:
      devices |= sharding.device_set
  if len(devices) > 1:
    return "|".join(parts), None
  device = next(iter(devices)) if devices else jax.devices()[0]
  return "|".join(parts), jax.sharding.SingleDeviceSharding(device)


def _config_fingerprint() -> str:
  # Settings that change what a trace produces (x64 changes dtypes, precision the dots).
  return f"{jax.default_backend()};x64={jax.config.jax_enable_x64};" \
         f"prec={jax.config.jax_default_matmul_precision}"


def _remove_stale(directory: str) -> None:
  """Deletes the entries written by other versions of base_nas or of the libraries: they can
  never be read again, and each edit of the sources would otherwise leave a few MB behind."""
  current = _library_fingerprint()[:12] + "-"
  for entry in os.listdir(directory):
    if entry.endswith(".jaxexport") and not entry.startswith(current):
      try:
        os.remove(os.path.join(directory, entry))
      except OSError:
        pass  # another process removed it, or it is not ours to remove


class _CachedJit:
  def __init__(self, fn: Callable, name: str, static: str, sources: tuple,
               compiler_options: dict[str, Any] | None):
    self._options = compiler_options
    self._jitted = jax.jit(fn, compiler_options=compiler_options)
    self._name, self._static, self._sources = name, static, sources
    self._calls: dict[str, Callable] = {}
    functools.update_wrapper(self, fn)

  def __call__(self, *args):
    directory = _state["dir"]
    if directory is None:
      return self._jitted(*args)
    signature, device = _signature(args)
    call = self._calls.get(signature)
    if call is None:
      call = self._calls[signature] = (self._load_or_export(directory, signature, args)
                                       if device is not None else self._jitted)
    if call is not self._jitted:
      # The exported program's outputs are committed to their device; committing its inputs
      # too keeps every call, including the next step's on those outputs, on one compiled
      # program (jit specialises on committedness).
      args = jax.device_put(args, device)
    return call(*args)

  def _path(self, directory: str, signature: str) -> str:
    # The file name starts with the code's fingerprint so that entries of older code can be
    # found and removed (see _remove_stale).
    key = hashlib.sha256("\n".join([
        self._name, self._static, signature, _config_fingerprint(),
        _source_fingerprint(self._sources)]).encode()).hexdigest()[:32]
    return os.path.join(directory, f"{_library_fingerprint()[:12]}-{self._name}-{key}.jaxexport")

  def _load_or_export(self, directory: str, signature: str, args) -> Callable:
    from jax import export
    path = self._path(directory, signature)
    try:
      with open(path, "rb") as f:
        exported = export.deserialize(bytearray(f.read()))
    except Exception:  # missing, truncated or unreadable: trace again and (re)write it
      exported = None
    if exported is None:
      try:
        exported = export.export(self._jitted)(*args)
        data = exported.serialize()
      except Exception as e:  # noqa: BLE001 - e.g. host callbacks, or flatbuffers missing
        warnings.warn(f"{self._name}: not caching its traced program ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''})", stacklevel=3)
        return self._jitted
      try:
        runs.atomic_write(path, data)
        _remove_stale(directory)
      except OSError as e:
        warnings.warn(f"{self._name}: cannot write the trace cache ({e})", stacklevel=3)
    return jax.jit(exported.call, compiler_options=self._options)

  def lower(self, *args):
    """Lowers without the trace cache (inspection, benchmarks)."""
    return self._jitted.lower(*args)

  def _cache_size(self) -> int:
    """How many programs this function compiled, as ``jax.jit``'s (tests assert compile-once)."""
    return self._jitted._cache_size() + sum(
        c._cache_size() for c in self._calls.values() if c is not self._jitted)


def cached_jit(fn: Callable, *, name: str, static: str, sources: Iterable[Any] = (),
               compiler_options: dict[str, Any] | None = None) -> Callable:
  """``jax.jit(fn)`` that, once :func:`enable` was called, keeps its traced programs on disk.

  Args:
    fn: the function to compile; its positional arguments are arrays or pytrees of arrays.
    name: names the program in the cache (one file per name and signature).
    static: everything ``fn`` closes over that changes its program (model configuration, method
      names): two functions with equal ``name`` and ``static`` must trace identically given the
      same base_nas sources.
    sources: classes or functions defined outside base_nas whose source files ``fn`` depends on.
    compiler_options: XLA options to compile with, as ``jax.jit``'s (not part of the trace key:
      they change the executable, not the traced program).
  """
  return _CachedJit(fn, name, static, tuple(sources), compiler_options)
