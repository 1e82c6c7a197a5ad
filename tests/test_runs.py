"""Tests of work directories: config guard, atomic files, metrics, TensorBoard, checkpoints."""
import glob
import json
import os
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import runs
from base_nas.config import Config
from base_nas.errors import RunError
from base_nas.runs import Run, atomic_write

CONFIG = {"seed": 0, "search": {"epochs": 3, "lr": 0.1}, "run": {"plots": True}}


class EmptyState(NamedTuple):
  pass


class AdamState(NamedTuple):
  count: jnp.ndarray
  mu: dict
  nu: dict


def make_state(scale=1.0, shape=(3, 4)):
  params = {"w": jnp.full(shape, scale, jnp.float32), "b": jnp.arange(4, dtype=jnp.bfloat16)}
  zeros = {k: jnp.zeros_like(v) for k, v in params.items()}
  return {"params": params,
          "opt": (AdamState(jnp.int32(7), zeros, params), EmptyState()),
          "host": np.arange(5, dtype=np.int64) * scale}


def assert_trees_equal(a, b):
  import jax
  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    assert np.asarray(x).dtype == np.asarray(y).dtype
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_writes_config_and_accepts_same(tmp_path):
  workdir = str(tmp_path / "w")
  Run(workdir, CONFIG).close()
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f) == CONFIG
  # The run section may change on resumption; the new one is recorded.
  changed_run = {**CONFIG, "run": {"plots": False}}
  with Run(workdir, Config(changed_run)) as run:
    assert run.config.run.plots is False
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["run"]["plots"] is False


def test_other_config_is_refused(tmp_path):
  workdir = str(tmp_path / "w")
  Run(workdir, CONFIG).close()
  other = {**CONFIG, "search": {"epochs": 4, "lr": 0.1}}
  with pytest.raises(RunError, match=r"holds a run of another config \(field search.epochs: "
                     r"3 != 4\); use another --workdir or delete it"):
    Run(workdir, other)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
  path = str(tmp_path / "f.json")
  atomic_write(path, "old")

  class Unserialisable:
    pass

  with Run(str(tmp_path), CONFIG) as run:
    run.write_json("f.json", {"a": 1})
    with pytest.raises(TypeError):
      run.write_json("f.json", {"a": Unserialisable()})
  assert json.loads(open(path).read()) == {"a": 1}

  # A failure while writing the temporary file: the old file stays, no temporary is left.
  def failing(f):
    f.write(b"half")
    raise OSError("disk full")

  with pytest.raises(OSError):
    runs._replace_with(path, failing)
  assert json.loads(open(path).read()) == {"a": 1}
  assert sorted(os.listdir(tmp_path)) == sorted(["f.json", "config.json"])


def test_write_json_converts_numpy(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    path = run.write_json("sub/x.json", {"a": np.float32(0.5), "b": np.arange(2),
                                         "c": jnp.int32(3)})
  assert json.load(open(path)) == {"a": 0.5, "b": [0, 1], "c": 3}


def test_metrics_and_truncate(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    for step in range(1, 6):
      run.log(step, {"loss": jnp.float32(1.0 / step), "acc": np.float64(step / 10)},
              prefix="train")
    run.log(5, {"genotype": "abc", "n": np.int32(2)})
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 5]
    assert rows[0]["train/loss"] == 1.0 and isinstance(rows[0]["train/acc"], float)
    assert rows[-1]["genotype"] == "abc" and rows[-1]["n"] == 2
    assert "time" in rows[0]
    run.truncate_metrics(3)
    run.log(4, {"loss": 0.1}, prefix="train")
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert rows[-1]["train/loss"] == 0.1
  assert glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*"))
  assert all(os.path.getsize(p) > 0 for p in glob.glob(str(tmp_path / "tb" / "*")))


def test_truncate_skips_torn_line(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    run.log(1, {"loss": 1.0})
    with open(run.path("metrics.jsonl"), "a") as f:
      f.write('{"step": 2, "lo')  # a kill mid-write
    run.truncate_metrics(10)
    assert [r["step"] for r in run.read_metrics()] == [1]


def test_log_rejects_arrays(tmp_path):
  with Run(str(tmp_path), CONFIG) as run, pytest.raises(ValueError, match="'x' is an array"):
    run.log(1, {"x": np.zeros(3)})


def test_checkpoint_round_trip_and_keep(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    template = make_state(0.0)
    assert run.restore(template) is None
    for step in (10, 20, 30):
      run.save(step, make_state(float(step)), {"epoch": step // 10, "history": [np.float32(1)]})
    assert run.checkpoint_steps() == [20, 30]
    step, state, meta = run.restore(template)
  assert step == 30 and meta == {"epoch": 3, "history": [1.0]}
  assert_trees_equal(state, make_state(30.0))
  assert isinstance(state["opt"][0], AdamState) and isinstance(state["opt"][1], EmptyState)
  # A fresh process (a resumption) sees the same checkpoint.
  with Run(str(tmp_path), CONFIG) as run:
    step, state, _ = run.restore(template)
    assert step == 30
    run.save(30, make_state(31.0))  # a step saved again is replaced
    assert_trees_equal(run.restore(template)[1], make_state(31.0))


def test_leftover_temporary_checkpoint_is_ignored(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    run.save(1, make_state(1.0))
  # What a kill during orbax's save of step 2 leaves behind: an unfinished temporary directory.
  os.makedirs(tmp_path / "checkpoints" / "2.orbax-checkpoint-tmp-123" / "state")
  with Run(str(tmp_path), CONFIG) as run:
    step, state, _ = run.restore(make_state(0.0))
  assert step == 1
  assert_trees_equal(state, make_state(1.0))


def test_restore_with_wrong_template(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    run.save(1, make_state(1.0))
    with pytest.raises(RunError, match=r"does not fit this run's state \(.*params.w: shape "
                       r"\(3, 4\) in the checkpoint, \(3, 5\) here\)"):
      run.restore(make_state(0.0, shape=(3, 5)))
    with pytest.raises(RunError, match="not in the checkpoint"):
      run.restore({**make_state(0.0), "extra": jnp.zeros(2)})


def test_restore_from_other_config(tmp_path):
  with Run(str(tmp_path), CONFIG) as run:
    run.save(1, make_state(1.0))
  os.remove(tmp_path / "config.json")
  other = {**CONFIG, "seed": 1}
  with Run(str(tmp_path), other) as run, pytest.raises(RunError,
                                                       match="written by another config"):
    run.restore(make_state(0.0))


def test_reserved_meta_keys(tmp_path):
  with Run(str(tmp_path), CONFIG) as run, pytest.raises(ValueError, match="reserved"):
    run.save(1, make_state(), {"step": 3})
