"""The value network and its gradient-ascent inference, on synthetic tasks of a 6x5 cell space.

A task is its features f (3 numbers); a cell's value on it is sum_e W(f)[e, op_e] with W linear
in f, so the features determine the task, and the best cell of any task is known exactly.
"""
import itertools
import json
import os
import shutil

import numpy as np
import pytest

from base_nas.errors import PredictorError, UserError
from base_nas.predict import value_net as vn

E, O, F = 6, 5, 3
_RNG = np.random.default_rng(0)
_B = _RNG.normal(size=(F, E, O))
ALL = np.array(list(itertools.product(range(O), repeat=E)))
_PERM = _RNG.permutation(len(ALL))
TRAIN, HELD_OUT = ALL[_PERM[:3000]], ALL[_PERM[3000:4000]]
FEATS = _RNG.normal(size=(8, F))
# Not a training task: between two of them, where the features still say what the task is.
NEW_TASK = 0.5 * (FEATS[1] + FEATS[2]) + 0.1
CONFIG = vn.ValueNetConfig(hidden=(64, 64), steps=1200, batch_size=128, cells_per_task=16)


def value(f, cells):
  w = np.einsum("k,keo->eo", f, _B)
  return w[np.arange(E), cells].sum(-1)


def training_values():
  values = np.stack([value(f, TRAIN) for f in FEATS])
  values[0, :200] = np.nan  # missing records are skipped
  return values


def spearman(a, b):
  try:
    from scipy.stats import spearmanr
    return spearmanr(a, b)[0]
  except ImportError:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


@pytest.fixture(scope="module")
def net():
  return vn.fit(FEATS, TRAIN, training_values(), num_ops=O, space="nb201", config=CONFIG)


def test_fit_records_shapes_and_skips_missing(net):
  assert (net.space, net.num_edges, net.num_ops, net.num_features) == ("nb201", E, O, F)
  assert net.info["records"] == 8 * len(TRAIN) - 200 and net.info["tasks"] == 8


@pytest.mark.parametrize("task", ["train", "new"])
def test_ranks_held_out_cells(net, task):
  f = FEATS[3] if task == "train" else NEW_TASK
  pred = net.predict(f, HELD_OUT)
  assert pred.shape == (len(HELD_OUT),)
  assert spearman(pred, value(f, HELD_OUT)) > 0.8


def test_predictions_are_in_the_targets_scale(net):
  # Targets are standardised for training, so fitting 100 v + 50 learns the same network and
  # predict answers in the new units.
  scaled = vn.fit(FEATS, TRAIN, 100 * training_values() + 50, num_ops=O, space="nb201",
                  config=CONFIG)
  np.testing.assert_allclose(scaled.predict(FEATS[3], HELD_OUT),
                             100 * net.predict(FEATS[3], HELD_OUT) + 50, rtol=0, atol=1.0)


def test_infer_finds_the_best_cell_of_an_unseen_task(net):
  ranked = vn.infer(net, NEW_TASK, restarts=8, steps=150)
  cells = [c for c, _ in ranked]
  scores = [s for _, s in ranked]
  assert len(set(cells)) == len(cells) and scores == sorted(scores, reverse=True)
  assert all(isinstance(c, tuple) and len(c) == E and all(isinstance(o, int) for o in c)
             for c in cells)
  truth = value(NEW_TASK, ALL)
  got = value(NEW_TASK, np.array(cells[0]))
  regret = (truth.max() - got) / (truth.max() - np.median(truth))
  assert regret < 0.1, (got, truth.max())
  np.testing.assert_allclose(scores[0], net.predict(NEW_TASK, np.array([cells[0]]))[0])


def test_infer_is_reproducible(net):
  # The settings of the test above: one compiled ascent serves both.
  a = vn.infer(net, FEATS[2], restarts=8, steps=150, seed=3)
  assert a == vn.infer(net, FEATS[2], restarts=8, steps=150, seed=3)
  import jax
  assert a == vn.infer(net, FEATS[2], restarts=8, steps=150, key=jax.random.PRNGKey(3))


def test_one_hot_probabilities_equal_the_int_encoding(net):
  cells = HELD_OUT[:37]
  np.testing.assert_array_equal(net.predict(FEATS[1], np.eye(O)[cells]),
                                net.predict(FEATS[1], cells))
  assert net.predict(FEATS[1], np.zeros((0, E), int)).shape == (0,)


def test_save_load_round_trip(net, tmp_path):
  path = str(tmp_path / "vn")
  vn.save(net, path, record={"tasks": ["a", "b"]})
  vn.save(net, path, record={"tasks": ["a", "b", "c"]})  # replaces the older one
  loaded = vn.load(path, space="nb201")
  np.testing.assert_array_equal(loaded.predict(NEW_TASK, HELD_OUT),
                                net.predict(NEW_TASK, HELD_OUT))
  assert loaded.config == net.config and loaded.info == net.info
  with open(os.path.join(path, "predictor.json")) as f:
    meta = json.load(f)
  assert meta["kind"] == "value-net" and meta["format"] == "base-nas-predictor"
  assert meta["record"] == {"tasks": ["a", "b", "c"]} and "version" in meta
  assert [p for p in os.listdir(tmp_path) if p != "vn"] == []  # no temporaries left


def test_load_errors(net, tmp_path):
  path = str(tmp_path / "vn")
  vn.save(net, path)
  with pytest.raises(PredictorError, match="trained for space 'nb201', not 'tnb101'"):
    vn.load(path, space="tnb101")
  with pytest.raises(PredictorError, match="not found"):
    vn.load(str(tmp_path / "nowhere"))
  record = os.path.join(path, "predictor.json")
  with open(record) as f:
    meta = json.load(f)
  with open(record, "w") as f:
    json.dump(dict(meta, format="something-else"), f)
  with pytest.raises(PredictorError, match="not a base-nas predictor"):
    vn.load(path)
  with open(record, "w") as f:
    json.dump(dict(meta, kind="meta-d2a"), f)
  with pytest.raises(PredictorError, match="not a 'value-net'"):
    vn.load(path)
  with open(record, "w") as f:
    json.dump({k: v for k, v in meta.items() if k != "normalisation"}, f)
  with pytest.raises(PredictorError, match="corrupt"):
    vn.load(path)
  with open(record, "w") as f:
    f.write("{not json")
  with pytest.raises(PredictorError, match="cannot be read"):
    vn.load(path)
  with open(record, "w") as f:
    json.dump(dict(meta, num_features=F + 1, normalisation=dict(
        meta["normalisation"], feature_loc=[0.0] * (F + 1), feature_scale=[1.0] * (F + 1))), f)
  with pytest.raises(PredictorError, match="weights cannot be read"):
    vn.load(path)
  with open(record, "w") as f:
    json.dump(meta, f)
  vn.load(path)
  shutil.rmtree(os.path.join(path, "params"))
  with pytest.raises(PredictorError, match="weights cannot be read"):
    vn.load(path)


GOOD = dict(task_features=FEATS[:2], encodings=TRAIN[:10], values=np.zeros((2, 10)))


@pytest.mark.parametrize("change, message", [
    (dict(task_features=np.zeros((0, F)), values=np.zeros((0, 10))), "T, F >= 1"),
    (dict(task_features=np.zeros(F)), r"shape \(T, F\)"),
    (dict(task_features=np.array([[np.nan] * F] * 2)), "task_features must be finite"),
    (dict(task_features=[["a"] * F] * 2), "not a numeric array"),
    (dict(encodings=TRAIN[:10].astype(float)), "integer op indices"),
    (dict(encodings=TRAIN[:10] + O), r"op indices must be in \[0, 5\)"),
    (dict(encodings=TRAIN[0]), r"shape \(N, E\)"),
    (dict(values=np.zeros((2, 9))), r"values must have shape \(T, N\) = \(2, 10\)"),
    (dict(values=np.full((2, 10), np.nan)), "all missing"),
    (dict(values=np.full((2, 10), np.inf)), "inf found"),
    (dict(num_ops=0), "num_ops"),
    (dict(space=""), "space"),
])
def test_fit_rejects_bad_input(change, message):
  kwargs = dict(GOOD, num_ops=O, space="nb201", config=CONFIG)
  kwargs.update(change)
  with pytest.raises(PredictorError, match=message) as info:
    vn.fit(**kwargs)
  assert isinstance(info.value, UserError) and "\n" not in str(info.value)


@pytest.mark.parametrize("features, archs, message", [
    (np.zeros(F + 1), HELD_OUT[:2], r"task features must have shape \(3,\)"),
    (np.array([0.0, np.nan, 0.0]), HELD_OUT[:2], "task features must be finite"),
    (np.zeros(F), HELD_OUT[:2, :5], r"\(M, 6\)"),
    (np.zeros(F), HELD_OUT[:2] + O, r"op indices must be in \[0, 5\)"),
    (np.zeros(F), np.zeros((2, E, O)), "sum to 1"),
    (np.zeros(F), np.zeros((2, E, O + 1)), r"\(M, 6, 5\)"),
])
def test_predict_rejects_bad_input(net, features, archs, message):
  with pytest.raises(PredictorError, match=message):
    net.predict(features, archs)


def test_infer_and_config_reject_bad_settings(net):
  with pytest.raises(PredictorError, match="restarts"):
    vn.infer(net, NEW_TASK, restarts=0)
  with pytest.raises(PredictorError, match="temperatures"):
    vn.infer(net, NEW_TASK, temperature=(1.0, 0.0))
  with pytest.raises(PredictorError, match="task features"):
    vn.infer(net, NEW_TASK[:2])
  with pytest.raises(PredictorError, match="batch_size"):
    vn.ValueNetConfig(batch_size=8, cells_per_task=16)
  with pytest.raises(PredictorError, match="hidden"):
    vn.ValueNetConfig(hidden=())
