"""Range checks of numeric config fields: messages, defaults, table completeness, CLI (no compiling)."""
from __future__ import annotations

import os
import time

import pytest

from base_nas import cli, configs
from base_nas.config import Config
from base_nas.errors import ConfigError
from base_nas.ranges import ADAPT_RANGES, RANGES, Range, check_ranges, float_range, int_range

QUICKSTART = os.path.join(os.path.dirname(__file__), "..", "experiments", "quickstart.py")

# Leaves whose default is None and that are not numbers when set: every other None leaf of the
# default configs must have a range, so a new optional number cannot slip past the table.
NON_NUMERIC_NONE = {"data.data_dir", "run.workdir", "search.tau.schedule", "meta.init", "prior",
                    "space", "early_stop.model"}


def _leaves(tree, prefix=""):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _leaves(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", value


def _with(base, path, value):
  cfg = Config(base).copy()
  *sections, last = path.split(".")
  node = cfg
  for s in sections:
    node = node[s]
  node[last] = value
  return cfg


@pytest.mark.parametrize("base", [configs.SEARCH, configs.TRAIN,
                                  configs.search_config(space="nb201"),
                                  configs.train_config(space="nb201")],
                         ids=["search", "train", "search-nb201", "train-nb201"])
def test_defaults_pass(base):
  check_ranges(Config(base))


def test_meta_and_adapt_defaults_pass():
  check_ranges(Config(configs.META))
  check_ranges(Config(configs.ADAPT), ADAPT_RANGES)
  with pytest.raises(ConfigError, match=r"model\.channels=None"):
    check_ranges(Config(configs.ADAPT))  # None is "the prior's" only where adapt says so


@pytest.mark.parametrize("name,base,table", [("SEARCH", configs.SEARCH, RANGES),
                                             ("TRAIN", configs.TRAIN, RANGES),
                                             ("META", configs.META, RANGES),
                                             ("ADAPT", configs.ADAPT, ADAPT_RANGES)])
def test_every_numeric_field_has_a_range(name, base, table):
  missing = [path for path, value in _leaves(base)
             if path not in table and path not in NON_NUMERIC_NONE
             and (value is None or (isinstance(value, (int, float))
                                    and not isinstance(value, bool)))]
  assert not missing, f"configs.{name} fields without an entry in base_nas.ranges.RANGES: {missing}"


@pytest.mark.parametrize("base,path,value,expected", [
    (configs.SEARCH, "search.epochs", -1, "search.epochs=-1: must be an integer >= 1"),
    (configs.SEARCH, "search.epochs", 0, "search.epochs=0: must be an integer >= 1"),
    (configs.SEARCH, "data.image_size", 0, "data.image_size=0: must be an integer >= 4"),
    (configs.SEARCH, "data.image_size", 18, "a multiple of 4"),
    (configs.TRAIN, "data.image_size", 6, "a multiple of 4"),
    (configs.SEARCH, "data.val_fraction", 1.0, "data.val_fraction=1.0: must be a finite number "
     "in (0, 1)"),
    (configs.SEARCH, "data.val_fraction", 0, "in (0, 1)"),
    (configs.SEARCH, "data.limit", -5, "data.limit=-5: must be an integer >= 0"),
    (configs.SEARCH, "search.order", 3, "search.order=3: must be an integer in [1, 2]"),
    (configs.TRAIN, "early_stop.threshold", 1.0, "early_stop.threshold=1.0: must be a finite "
     "number in (0, 1)"),
    (configs.SEARCH, "early_stop.min_fraction", 0.0, "early_stop.min_fraction=0.0"),
    (configs.TRAIN, "early_stop.best", 1.5, "early_stop.best=1.5: must be a finite number in "
     "[0, 1] or None"),
    (configs.SEARCH, "search.steps_per_epoch", -1, "search.steps_per_epoch=-1"),
    (configs.SEARCH, "search.w_lr", 0.0, "search.w_lr=0.0: must be a finite number > 0"),
    (configs.SEARCH, "search.w_lr", float("nan"), "search.w_lr=nan"),
    (configs.SEARCH, "search.grad_clip", float("inf"), "search.grad_clip=inf"),
    (configs.SEARCH, "search.w_momentum", 1.0, "search.w_momentum=1.0: must be a finite number "
     "in [0, 1)"),
    (configs.SEARCH, "search.a_weight_decay", -1e-3, "search.a_weight_decay=-0.001: must be a "
     "finite number >= 0"),
    (configs.SEARCH, "search.tau.start", 0.0, "search.tau.start=0.0: must be a finite number > 0 "
     "or None"),
    (configs.SEARCH, "seed", -1, "seed=-1: must be an integer in [0, 4294967295]"),
    (configs.SEARCH, "model.channels", 0, "model.channels=0"),
    (configs.SEARCH, "run.checkpoint_every", -2, "run.checkpoint_every=-2"),
    (configs.TRAIN, "train.drop_path_prob", 1.0, "train.drop_path_prob=1.0: must be a finite "
     "number in [0, 1)"),
    (configs.TRAIN, "train.cutout", -1, "train.cutout=-1"),
    (configs.TRAIN, "train.lr", -0.1, "train.lr=-0.1"),
    # Wrong types: bool is an int subclass, a float is no epoch count, text is no number.
    (configs.SEARCH, "search.epochs", True, "search.epochs=True: must be an integer >= 1, not a "
     "bool"),
    (configs.SEARCH, "search.epochs", 3.0, "search.epochs=3.0: must be an integer >= 1"),
    (configs.TRAIN, "train.lr", "0.1", "train.lr='0.1': must be a finite number > 0, not a str"),
    (configs.SEARCH, "search.epochs", None, "search.epochs=None: must be an integer >= 1"),
    (configs.META, "meta.inner_steps", 0, "meta.inner_steps=0: must be an integer >= 1"),
    (configs.META, "meta.tau", 0.0, "meta.tau=0.0: must be a finite number > 0"),
    (configs.META, "meta.beta", -1, "meta.beta=-1"),
    (configs.META, "tasks.way", 1, "tasks.way=1: must be an integer >= 2"),
    (configs.META, "data.held_out", 2.5, "data.held_out=2.5: must be a finite number >= 0 and "
     "a class count or a fraction below 1"),
    (configs.META, "meta.devices", -1, "meta.devices=-1"),
    (configs.ADAPT, "adapt.steps", 0, "adapt.steps=0"),
    (configs.ADAPT, "adapt.samples", 0, "adapt.samples=0"),
])
def test_violation_names_field_value_and_range(base, path, value, expected):
  with pytest.raises(ConfigError) as info:
    check_ranges(_with(base, path, value))
  message = str(info.value)
  assert expected in message and path in message and "\n" not in message


def test_allowed_edges_pass():
  cfg = Config(configs.SEARCH).copy()
  cfg.search.update(steps_per_epoch=0, eval_batches=0, order=2, w_momentum=0.0, w_lr=1,
                    w_lr_min=0.0)
  cfg.search.tau.update(start=5, end=0.1)
  cfg.data.update(limit=0, image_size=4)
  cfg.run.checkpoint_every = 0
  cfg.seed = 2**32 - 1
  check_ranges(cfg)


def test_all_violations_in_one_line():
  cfg = _with(_with(configs.SEARCH, "search.epochs", -1), "data.image_size", 0)
  with pytest.raises(ConfigError) as info:
    check_ranges(cfg)
  message = str(info.value)
  assert "search.epochs=-1" in message and "data.image_size=0" in message
  assert "\n" not in message


def test_absent_fields_and_sections_are_skipped():
  check_ranges(Config({"seed": 1, "search": {"tau": None}}))
  check_ranges(Config({}))


def test_own_table():
  table = {"meta.inner_steps": int_range(1), "meta.beta": float_range(0)}
  check_ranges(Config({"meta": {"inner_steps": 2, "beta": 0.0}}), table)
  with pytest.raises(ConfigError, match=r"meta\.inner_steps=0: must be an integer >= 1"):
    check_ranges(Config({"meta": {"inner_steps": 0}}), table)


def test_extra_predicate_and_bad_kind():
  even = Range("int", 0, extra=lambda v: v % 2 == 0, extra_message="even")
  assert even.problem("x", 4) is None
  assert even.problem("x", 3) == "x=3: must be an integer >= 0 and even"
  with pytest.raises(ValueError):
    Range("complex")


@pytest.mark.parametrize("override,field", [("search.epochs=-1", "search.epochs=-1"),
                                            ("data.image_size=0", "data.image_size=0")])
def test_cli_reports_one_line_before_any_work(override, field, tmp_path, capsys, monkeypatch):
  # Data loading would start right after the check: fail loudly if it is ever reached.
  from base_nas import data as data_lib

  def no_data(*args, **kwargs):
    raise AssertionError("the range check must run before the data is opened")

  monkeypatch.setattr(data_lib, "open_dataset", no_data)
  monkeypatch.setenv("BASE_NAS_JAX_CACHE", "")
  t0 = time.time()
  assert cli.main(["search", QUICKSTART, override, "--workdir", str(tmp_path / "w")]) == 2
  assert time.time() - t0 < 30
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and field in err[0], err
  assert not (tmp_path / "w").exists()


def test_cli_train_reports_one_line(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("BASE_NAS_JAX_CACHE", "")
  train = os.path.join(os.path.dirname(QUICKSTART), "train_quickstart.py")
  assert cli.main(["train", train, "train.epochs=0", "--workdir", str(tmp_path / "w")]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: train.epochs=0: must be an integer >= 1")


@pytest.mark.parametrize("command,experiment,override", [
    ("meta-train", "base_tinyimagenet_nb201.py", "meta.inner_steps=0"),
    ("adapt", "base_adapt_cifar10.py", "adapt.steps=-3"),
])
def test_cli_meta_commands_report_one_line(command, experiment, override, tmp_path, capsys,
                                          monkeypatch):
  from base_nas import data as data_lib

  def no_data(*args, **kwargs):
    raise AssertionError("the range check must run before the data is opened")

  monkeypatch.setattr(data_lib, "open_dataset", no_data)
  monkeypatch.setenv("BASE_NAS_JAX_CACHE", "")
  path = os.path.join(os.path.dirname(QUICKSTART), experiment)
  args = [command, path, override, "--workdir", str(tmp_path / "w")]
  if command == "adapt":
    args.insert(3, f"prior={tmp_path / 'no-prior'}")
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(f"error: {override}"), err
  assert not (tmp_path / "w").exists()
