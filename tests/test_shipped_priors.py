"""The priors packaged with base-nas load on a fresh install and the README's first command
(experiments/adapt_quickstart.py) adapts one; shortened here to a few steps."""
import json
import math
import os

import numpy as np
import pytest

from base_nas import cli
from base_nas.errors import ConfigError
from base_nas.meta import prior as prior_lib

DEMO = os.path.join(os.path.dirname(__file__), "..", "experiments", "adapt_quickstart.py")


def test_the_nb201_prior_ships_with_its_record():
  shipped = prior_lib.shipped_priors()
  assert "nb201-tiny" in shipped
  theta, record = prior_lib.load_prior(prior_lib.resolve("nb201-tiny"))
  assert record["space"] == "nb201" and record["way"] == 10
  assert record["tasks"]["source"].startswith("tiny-imagenet-150")
  assert len(record["classes"]) == len(record["class_names"]) == 120
  assert len(record["held_out_class_names"]) == 30  # never seen in meta-training
  assert record["class_names"][0].startswith("n0") and record["config"]["space"] == "nb201"
  alphas = np.asarray(theta["alphas"]["cell"])
  assert alphas.shape == (6, 5) and np.isfinite(alphas).all()
  # Meta-training moved the architecture prior away from the uniform.
  p = np.exp(alphas - alphas.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  assert (-(p * np.log(p)).sum(-1)).mean() < math.log(5) - 0.05


def test_the_readme_demo_adapts_the_shipped_prior(tmp_path, capsys):
  work = tmp_path / "adapt"
  assert cli.main(["adapt", DEMO, "adapt.steps=3", "adapt.eval_every=3", "data.limit=200",
                   "run.progress=false", "--workdir", str(work)]) == 0
  out = capsys.readouterr().out
  assert "entropy" in out and "top-1" in out
  summary = json.loads((work / "summary.json").read_text())
  assert summary["prior"] == os.path.abspath(prior_lib.resolve("nb201-tiny"))
  assert summary["steps"] == 3 and 0.0 <= summary["test_accuracy"] <= 1.0
  assert (work / "genotype.json").exists() and (work / "posterior.png").exists()


def test_a_baseline_prior_must_share_the_model_and_the_held_out_split():
  path = prior_lib.resolve("nb201-tiny")
  record = prior_lib.read_record(path)
  prior_lib.check_same_split(record, record, path)
  other = dict(record, held_out_classes=record["held_out_classes"][1:] + [record["classes"][0]])
  with pytest.raises(ConfigError, match="another split"):
    prior_lib.check_same_split(record, other, "x")
  other = dict(record, model=dict(record["model"], channels=16))
  with pytest.raises(ConfigError, match="model.channels=16"):
    prior_lib.check_same_split(record, other, "x")


def test_every_shipped_prior_stores_its_task_embedding():
  # prior=nearest and `base-nas similar` rank them on a fresh install, without their sources.
  from base_nas.predict import similarity
  for name, path in prior_lib.shipped_priors().items():
    stored = similarity.read_embedding(path)
    assert stored is not None, name
    assert abs(stored["embedding"].sum() - 1) < 1e-6 and stored["settings"]["image_size"] == 32
