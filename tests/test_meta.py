"""BASE end to end on tiny configs: meta-train -> adapt -> train, resume, compile-once, bad input."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import cli, spaces
from base_nas.config import Config
from base_nas.configs import meta_config
from base_nas.meta import prior as prior_lib
from base_nas.meta.learner import MetaLearner

META = '''
from base_nas.configs import meta_config

def get_config():
  return meta_config(
      space="nb201",
      data=dict(spec="builtin:synthetic", held_out=3),
      tasks=dict(way=3, shots=2, queries=2, image_sizes=[8]),
      model=dict(channels=4, layers=1),
      meta=dict(epochs=2, steps_per_epoch=2, tasks_per_step=2, inner_steps=2, eval_tasks=2),
      run=dict(progress=False),
  )
'''

ADAPT = '''
from base_nas.configs import adapt_config

def get_config():
  return adapt_config(
      data=dict(spec="builtin:digits", image_size=8, limit=400),
      adapt=dict(steps=4, batch_size=16, eval_every=2, eval_batches=2, top_k=3),
      run=dict(progress=False),
  )
'''

TRAIN = '''
from base_nas.configs import train_config

def get_config():
  return train_config(
      space="nb201", data=dict(spec="builtin:digits", image_size=8, limit=64),
      model=dict(channels=4, layers=1, auxiliary=False),
      train=dict(epochs=1, batch_size=16, cutout=0),
      run=dict(progress=False),
  )
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  d = tmp_path_factory.mktemp("meta")
  out = {}
  for name, text in (("meta", META), ("adapt", ADAPT), ("train", TRAIN)):
    (d / f"{name}.py").write_text(text)
    out[name] = str(d / f"{name}.py")
  return out


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
  work = tmp_path_factory.mktemp("meta_run") / "run"
  assert cli.main(["meta-train", files["meta"], "run.checkpoint_every=1",
                   "--workdir", str(work)]) == 0
  return work


def _error(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  return err[-1] if err else ""


def test_meta_train_writes_a_prior_metrics_and_the_class_split(trained):
  for name in ("prior/prior.json", "prior/theta", "metrics.jsonl", "summary.json",
               "classes.json", "prior_weights.png", "meta_curves.png"):
    assert (trained / name).exists(), name
  classes = json.loads((trained / "classes.json").read_text())
  assert len(classes["held_out"]) == 3 and not set(classes["held_out"]) & set(classes["meta_train"])
  record = prior_lib.read_record(str(trained / "prior"))
  assert record["space"] == "nb201" and record["model"]["channels"] == 4
  assert record["classes"] == classes["meta_train"] and record["meta_steps"] == 4
  # The record says what made it: the whole config, and the class names where the source has them.
  assert record["config"]["tasks"]["way"] == 3 and record["config"]["data"]["held_out"] == 3
  assert record["class_names"] == (None if classes["class_names"] is None
                                   else classes["class_names"][:len(classes["meta_train"])])
  rows = [json.loads(l) for l in (trained / "metrics.jsonl").read_text().splitlines()]
  keys = set().union(*rows)
  for k in ("train/meta_loss", "train/kl", "train/query_accuracy", "train/query_accuracy_before",
            "train/entropy", "held_out/query_accuracy"):
    assert k in keys, k
  theta, _ = prior_lib.load_prior(str(trained / "prior"))
  assert set(theta) == {"alphas", "params", "log_lr"}


def test_meta_train_adapt_train_round_trip(files, trained, tmp_path, capsys):
  work = tmp_path / "adapt"
  assert cli.main(["adapt", files["adapt"], f"prior={trained / 'prior'}",
                   "--workdir", str(work)]) == 0
  out = capsys.readouterr().out
  assert "posterior predictive" in out and "top-1" in out
  post = json.loads((work / "posterior.json").read_text())
  probs = np.asarray(post["cells"]["cell"]["probabilities"])
  assert probs.shape == (6, 5) and np.allclose(probs.sum(-1), 1, atol=1e-4)
  top = [e["probability"] for e in post["top_k"]]
  assert len(top) == 3 and top == sorted(top, reverse=True) and post["top_k_method"] == "exact"
  assert post["top_k"][0]["genotype"] == post["most_probable"]
  summary = json.loads((work / "summary.json").read_text())
  assert 0 <= summary["test_accuracy"] <= 1 and summary["adapt_seconds"] > 0
  for name in ("genotype.json", "posterior.png", "adapt_curves.png", "adapted/prior.json"):
    assert (work / name).exists(), name
  # The adapted weights classify digits (10 classes) as they are: a fresh head of that size.
  theta, rec = prior_lib.load_prior(str(work / "adapted"))
  assert theta["params"]["params"]["classifier"]["kernel"].shape[-1] == 10 and rec["way"] == 10
  # The most probable cell trains from scratch.
  assert cli.main(["train", files["train"], f"genotype={work / 'genotype.json'}",
                   "--workdir", str(tmp_path / "train")]) == 0
  g = spaces.load_genotype(str(tmp_path / "train" / "genotype.json"), "nb201")
  assert g.to_string() == post["most_probable"]


def test_fine_tuning_a_prior_on_a_new_task_source(files, trained, tmp_path):
  work = tmp_path / "tune"
  assert cli.main(["meta-train", files["meta"], f"meta.init={trained / 'prior'}",
                   "data.spec=builtin:digits", "meta.epochs=1", "meta.steps_per_epoch=1",
                   "--workdir", str(work)]) == 0
  record = prior_lib.read_record(str(work / "prior"))
  assert record["init"] == str(trained / "prior") and record["source"] == "builtin:digits"


def test_killed_meta_training_resumes_to_the_uninterrupted_result(files, trained, tmp_path,
                                                                   monkeypatch):
  real = MetaLearner.meta_step
  calls = {"n": 0}

  def dying(self, *args):
    calls["n"] += 1
    if calls["n"] == 3:
      raise KeyboardInterrupt
    return real(self, *args)

  killed = tmp_path / "killed"
  monkeypatch.setattr(MetaLearner, "meta_step", dying)
  args = ["meta-train", files["meta"], "run.checkpoint_every=1", "--workdir", str(killed)]
  assert cli.main(args) == 130
  monkeypatch.setattr(MetaLearner, "meta_step", real)
  assert cli.main(args) == 0
  a, _ = prior_lib.load_prior(str(trained / "prior"))
  b, _ = prior_lib.load_prior(str(killed / "prior"))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  strip = lambda p: [{k: v for k, v in json.loads(l).items() if k not in ("time", "epoch_seconds")}
                     for l in (p / "metrics.jsonl").read_text().splitlines()]
  assert strip(trained) == strip(killed)


def test_the_meta_gradient_compiles_once_per_image_size():
  from base_nas.meta.train import build_model, inner_config, outer_config
  cfg = Config(meta_config(tasks=dict(way=3, shots=1, queries=1, image_sizes=[8]),
                           model=dict(channels=4, layers=1),
                           meta=dict(inner_steps=1, order="first", tasks_per_step=2)))
  learner = MetaLearner(build_model(cfg, 3), spaces.get_space("nb201"), "gumbel",
                        inner_config(cfg.meta), outer_config(cfg.meta))
  state = learner.init(jax.random.PRNGKey(0), (8, 8, 3))
  rng = np.random.default_rng(0)

  def tasks(size, step):
    b = lambda: {"image": rng.normal(size=(2, 3, size, size, 3)).astype(np.float32),
                 "label": np.tile(np.arange(3, dtype=np.int32), (2, 1))}
    return {"support": b(), "query": b(), "id": np.arange(2, dtype=np.int32) + 2 * step}

  for step in range(3):
    state, m = learner.meta_step(state, tasks(8, step), jnp.float32(1.0))
  assert learner.meta_grads._cache_size() == 1 and int(state.step) == 3
  learner.meta_step(state, tasks(12, 3), jnp.float32(1.0))
  assert learner.meta_grads._cache_size() == 2
  assert np.isfinite(float(m["meta_loss"]))


def test_meta_train_on_tfds_mock_data(files, tmp_path):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=120, policy=tfds.testing.MockPolicy.USE_CODE):
    assert cli.main(["meta-train", files["meta"], "data.spec=tfds:mnist:train",
                     f"data.data_dir={tmp_path}", "data.held_out=0", "meta.eval_tasks=0",
                     "meta.epochs=1", "meta.steps_per_epoch=1",
                     "--workdir", str(tmp_path / "w")]) == 0
  assert (tmp_path / "w" / "prior" / "prior.json").exists()


@pytest.mark.parametrize("overrides,message", [
    (["tasks.way=20"], "a 20-way task needs at least 20"),
    (["tasks.shots=400"], "fewer than the 402"),
    (["meta.devices=64"], "meta.devices=64: only 1 local device(s) present"),
    (["meta.order=second"], "meta.order='second': choose from exact, fd, first"),
    (["tasks.image_sizes=[6]"], "tasks.image_sizes: 6 is not a positive multiple of 4"),
    (["meta.inner_lr_weights=1e12", "meta.eval_tasks=0"], "became nan"),
])
def test_bad_meta_training_input_is_one_clear_line(files, tmp_path, capsys, overrides, message):
  work = tmp_path / "bad"
  assert cli.main(["meta-train", files["meta"], *overrides, "--workdir", str(work)]) == 2
  assert message in _error(capsys)


def test_a_prior_of_another_config_is_refused(files, trained, tmp_path, capsys):
  prior = f"prior={trained / 'prior'}"
  work = str(tmp_path / "w")
  assert cli.main(["adapt", files["adapt"], prior, "model.channels=8", "--workdir", work]) == 2
  assert "model.channels=4, not 8" in _error(capsys)
  assert cli.main(["adapt", files["adapt"], prior, "space=darts", "--workdir", work]) == 2
  assert "space='nb201', not 'darts'" in _error(capsys)
  assert cli.main(["meta-train", files["meta"], f"meta.init={trained / 'prior'}",
                   "model.layers=2", "--workdir", work]) == 2
  assert "model.layers=1, not 2" in _error(capsys)
  assert cli.main(["adapt", files["adapt"], "--workdir", work]) == 2
  assert "prior=PATH is required" in _error(capsys)
  assert cli.main(["adapt", files["adapt"], f"prior={tmp_path / 'nowhere'}", "--workdir",
                   work]) == 2
  assert "not found" in _error(capsys)
  assert not os.path.exists(os.path.join(work, "checkpoints"))


def test_a_prior_is_named_by_path_or_by_a_shipped_short_name(trained, tmp_path, monkeypatch,
                                                             capsys):
  path = str(trained / "prior")
  assert prior_lib.resolve(path) == path
  monkeypatch.setattr(prior_lib, "shipped_priors", lambda: {"tiny": path})
  assert prior_lib.resolve("tiny") == path
  # A local directory of that name wins over the shipped prior.
  monkeypatch.chdir(tmp_path)
  os.mkdir("tiny")
  assert prior_lib.resolve("tiny") == "tiny"
  with pytest.raises(Exception, match=r"not found .*or a shipped prior: tiny"):
    prior_lib.read_record("nowhere")


@pytest.mark.parametrize("order", ["fd", "exact"])
def test_zero_architecture_step_sizes_meta_train_maml_over_the_supernet(order):
  # meta.lr_alphas=0 and meta.inner_lr_alphas=0: the architecture never leaves its initial
  # logits, inside the tasks or across them, while the weights meta-learn (the MAML baseline).
  from base_nas.meta.objective import prior_of
  from base_nas.meta.train import build_model, inner_config, outer_config
  cfg = Config(meta_config(tasks=dict(way=3, shots=1, queries=1, image_sizes=[8]),
                           model=dict(channels=4, layers=1),
                           meta=dict(inner_steps=2, order=order, tasks_per_step=2,
                                     lr_alphas=0.0, inner_lr_alphas=0.0)))
  learner = MetaLearner(build_model(cfg, 3), spaces.get_space("nb201"), "gumbel",
                        inner_config(cfg.meta), outer_config(cfg.meta))
  state0 = learner.init(jax.random.PRNGKey(0), (8, 8, 3))
  rng = np.random.default_rng(0)
  b = lambda: {"image": rng.normal(size=(2, 3, 8, 8, 3)).astype(np.float32),
               "label": np.tile(np.arange(3, dtype=np.int32), (2, 1))}
  state = state0
  for step in range(2):
    state, m = learner.meta_step(state, {"support": b(), "query": b(),
                                         "id": np.arange(2, dtype=np.int32) + 2 * step},
                                 jnp.float32(1.0))
    assert np.isfinite(float(m["meta_loss"]))
  same = jax.tree.map(np.array_equal, state.theta["alphas"], state0.theta["alphas"])
  assert all(jax.tree.leaves(same))
  moved = jax.tree.map(lambda a, c: float(np.max(np.abs(a - c))), state.theta["params"],
                       state0.theta["params"])
  assert max(jax.tree.leaves(moved)) > 1e-4
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.theta["params"]))
  # A task's adaptation from this theta leaves the architecture where it is, too.
  sup = jax.tree.map(lambda x: np.broadcast_to(x[0], (2,) + x[0].shape), b())
  s, _ = learner.objective.adapt(state.theta, sup, jax.random.split(jax.random.PRNGKey(1), 2),
                                 1.0)
  same = jax.tree.map(np.array_equal, s["alphas"], prior_of(state.theta)["alphas"])
  assert all(jax.tree.leaves(same))


def test_prior_nearest_picks_the_shipped_prior_whose_source_is_nearest(files, trained, tmp_path,
                                                                        monkeypatch, capsys):
  import shutil
  from base_nas.errors import ConfigError
  from base_nas.predict import similarity
  synth = str(tmp_path / "synth")
  shutil.copytree(trained / "prior", synth)
  similarity.embed_prior(synth, max_images=120, steps=100)
  # Stored under other settings than nb201-tiny's: each is compared in its own settings.
  assert similarity.read_embedding(synth)["settings"]["max_images"] == 120
  real = prior_lib.resolve("nb201-tiny")
  assert similarity.read_embedding(real) is not None  # shipped with the package
  monkeypatch.setattr(prior_lib, "shipped_priors", lambda: {"nb201-tiny": real, "synth": synth})
  # The synthetic-shapes prior for synthetic shapes (its own source; the other is Tiny
  # ImageNet), and only nb201 priors exist.
  pick = similarity.nearest_prior("builtin:synthetic", progress=False)
  assert pick["name"] == "synth" and [r["name"] for r in pick["ranking"]] == [
      "prior:synth", "prior:nb201-tiny"]
  with pytest.raises(ConfigError, match="no shipped prior of space 'darts'"):
    similarity.nearest_prior("builtin:synthetic", space="darts", progress=False)
  work = tmp_path / "adapt"
  assert cli.main(["adapt", files["adapt"], "prior=nearest", "data.spec=builtin:synthetic",
                   "adapt.steps=2", "--workdir", str(work)]) == 0
  assert "prior=nearest: synth" in capsys.readouterr().out
  summary = json.loads((work / "summary.json").read_text())
  assert summary["prior_choice"]["name"] == "synth" and summary["prior"] == os.path.abspath(synth)
