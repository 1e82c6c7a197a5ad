"""Tests of experiment config loading, overrides and fingerprints."""
import json
import textwrap

import pytest

from base_nas.config import Config, config_diff, config_fingerprint, load_config
from base_nas.errors import ConfigError

EXPERIMENT = '''
"""A tiny experiment.

  base-nas search experiments/tiny.py
"""


def get_config():
  return {
      "seed": 0,
      "method": "darts",
      "search": {"epochs": 50, "w_lr": 0.025, "augment": True, "tau": None,
                 "channels": (16, 32)},
      "run": {"workdir": "runs/tiny", "plots": True},
  }
'''


def write(tmp_path, text, name="exp.py"):
  path = tmp_path / name
  path.write_text(textwrap.dedent(text))
  return str(path)


@pytest.fixture
def experiment(tmp_path):
  return write(tmp_path, EXPERIMENT)


def test_load_and_attribute_access(experiment):
  cfg = load_config(experiment)
  assert isinstance(cfg, Config) and isinstance(cfg.search, Config)
  assert cfg.search.epochs == 50 and cfg["search"]["w_lr"] == 0.025
  assert cfg.search.get("missing") is None
  with pytest.raises(AttributeError, match="did you mean 'epochs'"):
    cfg.search.epoch  # noqa: B018
  plain = cfg.to_dict()
  assert type(plain) is dict and type(plain["search"]) is dict
  json.dumps(plain)


def test_copy_is_deep(experiment):
  cfg = load_config(experiment)
  other = cfg.copy()
  other.search.epochs = 1
  assert cfg.search.epochs == 50 and isinstance(other, Config)


@pytest.mark.parametrize("override, field, expected", [
    ("search.epochs=3", ("search", "epochs"), 3),
    ("search.w_lr=1", ("search", "w_lr"), 1.0),          # int accepted for a float
    ("search.w_lr=3e-4", ("search", "w_lr"), 3e-4),
    ("search.augment=false", ("search", "augment"), False),
    ("search.augment=True", ("search", "augment"), True),
    ("method=gdas", ("method",), "gdas"),                 # raw string
    ("method='snas'", ("method",), "snas"),               # quoted string
    ("search.tau={'start': 10.0}", ("search", "tau"), {"start": 10.0}),  # None takes anything
    ("search.channels=(8, 16)", ("search", "channels"), (8, 16)),
    ("search.channels=[8, 16]", ("search", "channels"), (8, 16)),
])
def test_overrides(experiment, override, field, expected):
  cfg = load_config(experiment, [override])
  value = cfg
  for key in field:
    value = value[key]
  assert value == expected
  # Dicts set by an override become Configs, so attribute access keeps working below them.
  assert type(value) is (Config if isinstance(expected, dict) else type(expected))


def test_override_types_exact(experiment):
  cfg = load_config(experiment, ["search.w_lr=1", "seed=7"])
  assert isinstance(cfg.search.w_lr, float) and cfg.seed == 7


def test_unknown_field_suggests(experiment):
  with pytest.raises(ConfigError, match=r"unknown config field 'search.epoch' \(did you mean "
                     r"'search.epochs'\?\)"):
    load_config(experiment, ["search.epoch=3"])
  with pytest.raises(ConfigError, match="unknown config field 'zzz'"):
    load_config(experiment, ["zzz=3"])


@pytest.mark.parametrize("override", [
    "search.epochs=3.5", "search.epochs=abc", "search.augment=1", "search.augment=yes",
    "search.w_lr=fast", "search.channels=3", "seed=True",
])
def test_wrong_type(experiment, override):
  with pytest.raises(ConfigError, match="expects"):
    load_config(experiment, [override])


def test_malformed_override(experiment):
  with pytest.raises(ConfigError, match="field=value"):
    load_config(experiment, ["search.epochs"])
  with pytest.raises(ConfigError, match="not a section"):
    load_config(experiment, ["seed.x=1"])


def test_missing_file(tmp_path):
  with pytest.raises(ConfigError, match="does not exist"):
    load_config(str(tmp_path / "nope.py"))


def test_syntax_error(tmp_path):
  path = write(tmp_path, "def get_config(:\n  return {}\n")
  with pytest.raises(ConfigError, match=r"exp\.py has a syntax error at line 1"):
    load_config(path)


def test_no_get_config(tmp_path):
  with pytest.raises(ConfigError, match="defines no get_config"):
    load_config(write(tmp_path, "X = 1\n"))


def test_error_inside_config_names_line(tmp_path):
  path = write(tmp_path, "def get_config():\n  return {'a': undefined_name}\n")
  with pytest.raises(ConfigError, match=r"exp\.py:2 failed: NameError"):
    load_config(path)


def test_two_configs_with_one_name_do_not_collide(tmp_path):
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  a = write(tmp_path, "def get_config():\n  return {'x': 1}\n", "a/exp.py")
  b = write(tmp_path, "def get_config():\n  return {'x': 2}\n", "b/exp.py")
  assert load_config(a).x == 1 and load_config(b).x == 2


def test_fingerprint(experiment):
  cfg = load_config(experiment)
  fp = config_fingerprint(cfg)
  assert fp == config_fingerprint(load_config(experiment))
  assert len(fp) == 64
  # Key order, tuples vs lists (a config read back from JSON), and the run section don't count.
  reordered = dict(reversed(list(json.loads(json.dumps(cfg.to_dict())).items())))
  assert config_fingerprint(reordered) == fp
  assert config_fingerprint(load_config(experiment, ["run.workdir=elsewhere"])) == fp
  assert config_fingerprint(load_config(experiment, ["search.epochs=3"])) != fp
  assert config_fingerprint(cfg, ignore=()) != fp


def test_config_diff(experiment):
  a = load_config(experiment)
  b = load_config(experiment, ["search.epochs=3", "run.plots=False"])
  assert config_diff(a, b) == ["search.epochs: 50 != 3"]
