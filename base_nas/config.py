"""Experiment configs: Python files in ``experiments/`` whose ``get_config()`` returns a dict.

A config file is code, so it can compute values and carry its own documentation (the module
docstring holds the exact command and the expected result). Command-line overrides
(``search.epochs=3``) may only change fields the file defines, and only to a value of the same
type, so that a typo fails loudly instead of silently running the default experiment.
"""
from __future__ import annotations

import ast
import copy as copy_lib
import difflib
import hashlib
import importlib.util
import json
import os
import traceback
from typing import Any, Iterator, Mapping, Sequence

from base_nas.errors import ConfigError

_TRUE, _FALSE = ("True", "true"), ("False", "false")


class MissingField(ConfigError, AttributeError):
  """A config lacks a field the command reads (an AttributeError too, so hasattr works)."""


class Config(dict):
  """A dict whose nested dicts are also Configs and whose keys read as attributes.

  ``cfg.search.epochs`` is ``cfg["search"]["epochs"]``; a missing attribute raises AttributeError
  (so ``getattr(cfg, name, default)`` and ``hasattr`` behave), a missing item KeyError.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    for key, value in self.items():
      if isinstance(value, Mapping) and not isinstance(value, Config):
        super().__setitem__(key, Config(value))

  def __getattr__(self, name: str) -> Any:
    # Dunder lookups (copy, pickle) must fail the normal way rather than read a key.
    if name.startswith("__"):
      raise AttributeError(name)
    try:
      return self[name]
    except KeyError:
      hint = _suggest(name, [str(k) for k in self])
      raise MissingField(f"config has no field {name!r}{hint}") from None

  def __setattr__(self, name: str, value: Any):
    self[name] = value

  def __delattr__(self, name: str):
    try:
      del self[name]
    except KeyError:
      raise AttributeError(name) from None

  def __setitem__(self, key, value):
    if isinstance(value, Mapping) and not isinstance(value, Config):
      value = Config(value)
    super().__setitem__(key, value)

  def __deepcopy__(self, memo) -> "Config":
    return Config({k: copy_lib.deepcopy(v, memo) for k, v in self.items()})

  def __reduce__(self):
    return (Config, (dict(self),))

  def copy(self) -> "Config":
    """A deep copy: overriding a field of the copy never changes the original."""
    return copy_lib.deepcopy(self)

  def to_dict(self) -> dict:
    """The config as plain nested dicts (tuples and lists kept), e.g. for ``json.dumps``."""
    return _plain(self)

  def flat(self) -> dict[str, Any]:
    """Leaf fields by dotted name: ``{"search.epochs": 50, ...}``."""
    return dict(_flatten(self))


def _plain(value: Any) -> Any:
  if isinstance(value, Mapping):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_plain(v) for v in value]
  if isinstance(value, tuple) and not hasattr(value, "_fields"):
    return tuple(_plain(v) for v in value)
  return value


def _flatten(tree: Mapping, prefix: str = "", sections: bool = False) -> Iterator[tuple[str, Any]]:
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      if sections:
        yield name, value
      yield from _flatten(value, name + ".", sections)
    else:
      yield name, value


def _suggest(name: str, candidates: Sequence[str]) -> str:
  close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
  return f" (did you mean {close[0]!r}?)" if close else ""


def _exec_error(path: str, err: BaseException) -> ConfigError:
  """One line naming the config file, the line in it that failed, and the error."""
  where = path
  for frame in reversed(traceback.extract_tb(err.__traceback__)):
    if os.path.abspath(frame.filename) == os.path.abspath(path):
      where = f"{path}:{frame.lineno}"
      break
  return ConfigError(f"config {where} failed: {type(err).__name__}: {err}")


def _import_config(path: str) -> Mapping:
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path} does not exist; pass the path of a file in experiments/")
  # A name unique per path, and no sys.modules entry: two configs with one stem never collide.
  name = "base_nas_experiment_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None or spec.loader is None:
    raise ConfigError(f"config file {path} cannot be imported; it must be a Python (.py) file")
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as err:
    raise ConfigError(f"config file {path} has a syntax error at line {err.lineno}: "
                      f"{err.msg}") from err
  except Exception as err:  # the file is user input: any failure in it is a config problem
    raise _exec_error(path, err) from err
  get_config = getattr(module, "get_config", None)
  if not callable(get_config):
    raise ConfigError(f"config file {path} defines no get_config(); add a get_config() that "
                      "returns the config dict")
  try:
    tree = get_config()
  except Exception as err:
    raise _exec_error(path, err) from err
  if not isinstance(tree, Mapping):
    raise ConfigError(f"get_config() in {path} returned a {type(tree).__name__}; it must return "
                      "a dict")
  return tree


def parse_value(text: str) -> Any:
  """A Python literal (``3``, ``0.1``, ``(16, 32)``, ``'x'``, ``None``), else the text itself."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    return text


def _coerce(field: str, old: Any, text: str) -> Any:
  """The override's value in the type of the field's current value, or ConfigError."""
  value = parse_value(text)
  if old is None:
    return value

  def wrong(expected: str) -> ConfigError:
    return ConfigError(f"config field {field!r} expects {expected}, got {text!r}; e.g. "
                       f"{field}={old!r}")

  if isinstance(old, bool):
    if text.strip() in _TRUE:
      return True
    if text.strip() in _FALSE:
      return False
    raise wrong("True or False")
  if isinstance(old, int):
    if isinstance(value, int) and not isinstance(value, bool):
      return value
    raise wrong("an int")
  if isinstance(old, float):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
    raise wrong("a float")
  if isinstance(old, str):
    # An unquoted word or number is meant as text here: data.spec=10 means "10".
    return value if isinstance(value, str) else text
  if isinstance(old, (list, tuple)):
    if isinstance(value, (list, tuple)):
      return type(old)(value)
    raise wrong(f"a {type(old).__name__}")
  if isinstance(old, Mapping):
    if isinstance(value, Mapping):
      return Config(value)
    raise wrong("a dict")
  if isinstance(value, type(old)):
    return value
  raise wrong(f"a {type(old).__name__}")


def apply_override(cfg: Config, override: str) -> None:
  """Sets one ``a.b.c=value`` override in place (see :func:`load_config`)."""
  key, sep, text = override.partition("=")
  key = key.strip()
  if not sep or not key:
    raise ConfigError(f"override {override!r} is not of the form field=value, e.g. "
                      "search.epochs=3")
  parts = key.split(".")
  node: Any = cfg
  for i, part in enumerate(parts):
    if not isinstance(node, Mapping):
      parent = ".".join(parts[:i])
      raise ConfigError(f"config field {parent!r} is a {type(node).__name__}, not a section; "
                        f"cannot set {key!r}")
    if part not in node:
      known = [name for name, _ in _flatten(cfg, sections=True)]
      hint = _suggest(key, known)
      if not hint:
        section = ".".join(parts[:i]) or "the top level"
        hint = f" ({section} has: {', '.join(sorted(map(str, node)))})"
      raise ConfigError(f"unknown config field {key!r}{hint}")
    if i < len(parts) - 1:
      node = node[part]
  node[parts[-1]] = _coerce(key, node[parts[-1]], text)


def load_config(path: str, overrides: Sequence[str] = ()) -> Config:
  """Imports the experiment file ``path``, calls its ``get_config()`` and applies ``overrides``.

  Args:
    path: a Python file defining ``get_config()`` that returns a nested dict.
    overrides: ``"a.b.c=value"`` strings. The value is read as a Python literal, falling back to
      the raw text; the field must exist, and the value must have the type of its current value
      (an int is accepted for a float, anything for a field that is None, only True/False/true/
      false for a bool; a str field takes the text as is).

  Returns:
    The config, as a :class:`Config`.

  Raises:
    ConfigError: a missing or broken file, no ``get_config``, an unknown field or a wrong type.
  """
  cfg = Config(copy_lib.deepcopy(dict(_import_config(path))))
  for override in overrides:
    apply_override(cfg, override)
  return cfg


def _canonical_json(tree: Mapping, where: str = "config") -> str:
  try:
    return json.dumps(_plain(tree), sort_keys=True, separators=(",", ":"), allow_nan=True)
  except TypeError as err:
    raise ConfigError(f"{where} holds a value JSON cannot store ({err}); use numbers, strings, "
                      "lists and dicts only") from err


def config_fingerprint(cfg: Mapping, ignore: Sequence[str] = ("run",)) -> str:
  """A stable hash of the config without the top-level sections in ``ignore``.

  The ``run`` section (work directory, logging, checkpoint cadence) may change between a run and
  its resumption without changing what is computed, so it is left out by default. Tuples and
  lists hash alike, since a config read back from JSON has lists where the file had tuples.

  Returns:
    The sha256 hex digest of the sorted-key JSON of the remaining config.
  """
  kept = {k: v for k, v in cfg.items() if k not in set(ignore)}
  return hashlib.sha256(_canonical_json(kept).encode()).hexdigest()


def config_diff(a: Mapping, b: Mapping, ignore: Sequence[str] = ("run",)) -> list[str]:
  """Fields that differ between two configs, as ``"field: a_value != b_value"`` lines."""
  def flat(tree):
    kept = {k: v for k, v in tree.items() if k not in set(ignore)}
    return dict(_flatten(json.loads(_canonical_json(kept))))

  fa, fb = flat(a), flat(b)
  missing = object()
  out = []
  for name in sorted(set(fa) | set(fb)):
    va, vb = fa.get(name, missing), fb.get(name, missing)
    # 3 and 3.0 (or 1 and True) compare equal but hash differently: report them too.
    if va != vb or type(va) is not type(vb):
      out.append(f"{name}: {_show(va, missing)} != {_show(vb, missing)}")
  return out


def _show(value: Any, missing: Any) -> str:
  return "(absent)" if value is missing else repr(value)
