"""Adapting a prior to a new dataset: the inner update of meta-training, run for longer.

From theta = (alpha_0, w_0) the same SGD step on ``L(s; batch, z)`` (Concrete samples, the KL to
alpha_0 and the Gaussian prior around w_0, the prior's learned step sizes) runs ``adapt.steps``
times on batches of the new dataset. The result is a posterior: per-edge op probabilities, the
most probable and the top-k cells, and supernet weights that classify the new data as they are.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from base_nas import data as data_lib
from base_nas import loop as loop_lib
from base_nas import plots
from base_nas import spaces
from base_nas.errors import ConfigError
from base_nas.meta import posterior as posterior_lib
from base_nas.meta import prior as prior_lib
from base_nas.meta.learner import MetaLearner, OuterConfig
from base_nas.meta.objective import InnerConfig, mean_entropy, prior_of
from base_nas.meta.train import fit_head
from base_nas.nn.supernet import Supernet
from base_nas.ranges import ADAPT_RANGES, check_ranges
from base_nas.runs import Run
from base_nas.search.loop import nb201_accuracies, subset


# ``prior=nearest``: the shipped prior whose meta-training source is nearest by task similarity.
NEAREST = "nearest"


def _inner(record) -> InnerConfig:
  r = record["inner"]
  return InnerConfig(steps=1, lr_weights=r["inner_lr_weights"], lr_alphas=r["inner_lr_alphas"],
                     beta=r["beta"], weight_prior=r["weight_prior"], tau=r["tau"])


def _check_against_prior(cfg, record, path):
  if cfg.get("space") is not None or any(v is not None for v in cfg.get("model", {}).values()):
    model = {k: v for k, v in cfg.get("model", {}).items() if v is not None}
    prior_lib.check_compatible(record, path, cfg.get("space") or record["space"], model)


class Adapter:
  """A prior loaded for one dataset's class count; ``step`` and ``predict`` compiled once."""

  def __init__(self, prior_path: str, num_classes: int, image_size: int, *, head: str = "zero",
               lr_scale: float = 1.0, seed: int = 0):
    theta, record = prior_lib.load_prior(prior_path)
    self.record, self.space = record, spaces.get_space(record["space"])
    m = record["model"]
    self.model = Supernet(record["space"], num_classes, m["channels"], m["layers"],
                          m["stem_multiplier"], hard=record["relaxation"] == "hard")
    self.learner = MetaLearner(self.model, self.space, record["relaxation"], _inner(record),
                               OuterConfig(learn_step_sizes="log_lr" in theta), seed=seed)
    template = jax.device_get(jax.jit(functools.partial(
        self.learner._init_theta, image_shape=(image_size, image_size, 3)))(
            jax.random.PRNGKey(seed)))
    if head == "zero":
      theta = fit_head(theta, jax.tree.map(np.zeros_like, template))
      theta["params"] = _zero_head(theta["params"])
    elif head != "prior":
      raise ConfigError(f"adapt.head={head!r}: choose from zero, prior")
    problems = _shape_problems(theta["params"], template["params"])
    if problems:
      raise ConfigError(f"prior {prior_path!r} does not fit {num_classes} classes with "
                        f"adapt.head={head} ({problems[0]}); use adapt.head=zero")
    if "log_lr" in theta:
      theta["log_lr"] = jax.tree.map(lambda a: a + np.float32(math.log(lr_scale)),
                                     theta["log_lr"])
    self.theta = jax.device_put(theta)
    self.tau = jnp.float32(record["inner"]["tau"])

  def init_state(self):
    return prior_of(self.theta)

  def step(self, state, batch, key):
    return self.learner.inner_step(self.theta, state, batch, key, self.tau)

  def predict(self, state, images, key, samples: int = 4):
    return self.learner.predict(state["params"], state["alphas"], images, key, self.tau,
                                samples=samples)


def _zero_head(params):
  return jax.tree_util.tree_map_with_path(
      lambda p, a: np.zeros_like(a) if "classifier" in jax.tree_util.keystr(p) else a, params)


def _shape_problems(a, b):
  from base_nas.runs import tree_mismatch
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), a)
  return tree_mismatch(shapes, b)


def _accuracy(adapter, state, loader, key, samples, max_batches=0):
  correct = total = correct_map = 0
  for i, b in enumerate(loader.epoch(0)):
    if max_batches and i >= max_batches:
      break
    probs, map_probs = adapter.predict(state, b["image"], jax.random.fold_in(key, i), samples)
    correct += int(np.sum(np.argmax(probs, -1) == b["label"]))
    correct_map += int(np.sum(np.argmax(map_probs, -1) == b["label"]))
    total += len(b["label"])
  return correct / max(total, 1), correct_map / max(total, 1)


def run_adapt(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Adapts the prior ``cfg.prior`` to ``cfg.data`` in ``workdir``; returns the summary."""
  t_start = time.time()
  check_ranges(cfg, ADAPT_RANGES)
  if not cfg.get("prior"):
    raise ConfigError("prior=PATH is required: the prior directory `base-nas meta-train` wrote "
                      "(runs/<experiment>/prior), a shipped prior's name, or nearest")
  choice = None
  if cfg.prior == NEAREST:
    from base_nas.predict.similarity import nearest_prior
    choice = nearest_prior(cfg.data.spec, cfg.data.get("data_dir"), limit=cfg.data.limit,
                           space=cfg.get("space"), progress=progress)
    prior_path = choice["path"]
  else:
    prior_path = prior_lib.resolve(cfg.prior)
  record = prior_lib.read_record(prior_path)
  _check_against_prior(cfg, record, prior_path)
  size = cfg.data.image_size
  a = cfg.adapt
  dataset = data_lib.open_dataset(cfg.data.spec, cfg.data.get("data_dir"))
  source = dataset.train_split()
  indices = subset(len(source), cfg.data.limit, cfg.seed)
  tr, va = data_lib.split_indices(len(indices), cfg.data.val_fraction, cfg.seed)
  train_idx, val_idx = indices[tr], indices[va]
  mean, std = data_lib.channel_stats(source, train_idx, size, seed=cfg.seed)
  common = dict(mean=mean, std=std, seed=cfg.seed)
  train = data_lib.Loader(source, train_idx, a.batch_size, size, augment=a.augment, **common)
  val = data_lib.Loader(source, val_idx, a.batch_size, size, augment=False, shuffle=False,
                        drop_remainder=False, **common)
  test_name = cfg.data.get("test_split")
  if test_name and test_name in dataset.splits:
    ts = dataset.split(test_name)
    test = data_lib.Loader(ts, np.arange(len(ts)), a.batch_size, size, augment=False,
                           shuffle=False, drop_remainder=False, **common)
  else:
    test_name, test = "held-out part of train", val

  adapter = Adapter(prior_path, dataset.num_classes, size, head=a.head, lr_scale=a.lr_scale,
                    seed=cfg.seed)
  space = adapter.space
  run = Run(workdir, cfg)
  key = jax.random.PRNGKey(cfg.seed)
  per_epoch = max(1, min(a.eval_every, a.steps))
  epochs = math.ceil(a.steps / per_epoch)
  n_batches = len(train)

  def batches(epoch, first):
    g = epoch * per_epoch + first
    while True:
      for b in train.epoch(g // n_batches, start=g % n_batches):
        yield b
      g = (g // n_batches + 1) * n_batches

  def step_fn(state, batch, epoch, i):
    k = jax.random.fold_in(key, epoch * per_epoch + i)
    state, m = adapter.step(state, batch, k)
    return state, {"loss": m["ce"], "accuracy": m["accuracy"], "kl": m["kl"]}

  def on_epoch_end(state, epoch, _):
    acc, acc_map = _accuracy(adapter, state, val, jax.random.fold_in(key, 2**31 - 1), a.samples,
                             a.eval_batches)
    return {"valid/accuracy": acc, "valid/accuracy_most_probable": acc_map,
            "entropy": float(mean_entropy(state["alphas"]))}

  t_loop = time.time()
  state, history = loop_lib.run_epochs(
      run, adapter.init_state(), epochs=epochs, steps_per_epoch=per_epoch, batches=batches,
      step_fn=step_fn, on_epoch_end=on_epoch_end, checkpoint_every=cfg.run.checkpoint_every,
      progress=progress, desc="adapt", nan_hint="; lower adapt.lr_scale")
  adapt_seconds = time.time() - t_loop
  acc, acc_map = _accuracy(adapter, state, test, jax.random.fold_in(key, 2**31 - 2), a.samples)

  alphas = {k: np.asarray(v) for k, v in state["alphas"].items()}
  post = posterior_lib.summarize(space, alphas, k=a.top_k, seed=cfg.seed)
  if space.name == "nb201":
    for entry in post["top_k"]:
      entry.update(nb201_accuracies(spaces.NB201Genotype.from_string(entry["genotype"])))
  run.write_json("posterior.json", post)
  genotype = space.derive({c: np.asarray(p["probabilities"]) for c, p in post["cells"].items()})
  spaces.save_genotype(run.path("genotype.json"), genotype)
  adapted = {"alphas": alphas, "params": jax.device_get(state["params"])}
  if "log_lr" in adapter.theta:
    adapted["log_lr"] = jax.device_get(adapter.theta["log_lr"])
  # The adapted posterior in the prior format: it loads anywhere a prior does.
  prior_lib.save_prior(run.path("adapted"), adapted, dict(
      adapter.record, adapted_from=os.path.abspath(prior_path), source=cfg.data.spec,
      way=dataset.num_classes, mean=np.asarray(mean).tolist(), std=np.asarray(std).tolist()))
  if cfg.run.plots:
    probs = {c: np.asarray(p["probabilities"]) for c, p in post["cells"].items()}
    plots.plot_arch_weights(probs, space.ops, post["cells"][space.cell_types[0]]["edges"],
                            run.path("posterior.png"),
                            title=f"BASE posterior after {a.steps} adaptation steps")
    plots.plot_curves(run.path("metrics.jsonl"), run.path("adapt_curves.png"),
                      keys=("valid/accuracy", "entropy", "train/loss"))
  summary = {
      "prior": os.path.abspath(prior_path), "dataset": cfg.data.spec, "space": space.name,
      "prior_choice": choice and {k: choice[k] for k in ("name", "distance", "ranking",
                                                         "skipped", "seconds")},
      "steps": epochs * per_epoch, "adapt_seconds": adapt_seconds,
      "seconds": time.time() - t_start,
      "test_split": test_name, "test_accuracy": acc, "test_accuracy_most_probable": acc_map,
      "genotype": str(genotype), "mean_entropy": post["mean_entropy"],
      # Where the posterior started and the no-information value, to show that it moved.
      "prior_mean_entropy": float(mean_entropy(adapter.theta["alphas"])),
      "uniform_entropy": float(np.log(len(space.ops))), "top_k": post["top_k"],
      "workdir": workdir,
      "files": {n: run.path(f) for n, f in (
          ("posterior", "posterior.json"), ("genotype", "genotype.json"),
          ("adapted", "adapted"), ("posterior_plot", "posterior.png"),
          ("curves", "adapt_curves.png")) if os.path.exists(run.path(f))}}
  if space.name == "nb201":
    summary.update(nb201_accuracies(genotype))
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_summary(summary: Mapping[str, Any], stream=None) -> None:
  stream = stream or sys.stdout
  print(f"\nBASE adaptation to {summary['dataset']} ({summary['space']} space): "
        f"{summary['steps']} steps in {summary['adapt_seconds']:.0f} s", file=stream)
  choice = summary.get("prior_choice")
  if choice:
    others = ", ".join(f"{r['name']} {r['distance']:.3f}" for r in choice["ranking"][1:])
    print(f"  prior=nearest: {choice['name']} (task distance {choice['distance']:.3f}"
          + (f"; then {others}" if others else "; the only comparable shipped prior")
          + f"; {choice['seconds']:.0f} s)", file=stream)
  print(f"  supernet {summary['test_split']} accuracy: posterior predictive "
        f"{100 * summary['test_accuracy']:.2f}%, most probable cell "
        f"{100 * summary['test_accuracy_most_probable']:.2f}%", file=stream)
  print(f"  mean per-edge entropy (nats): posterior {summary['mean_entropy']:.3f}, prior "
        f"{summary['prior_mean_entropy']:.3f}, uniform {summary['uniform_entropy']:.3f}",
        file=stream)
  print(f"  most probable cell: {summary['genotype']}", file=stream)
  for d in ("cifar10", "cifar100", "imagenet16"):
    if f"nb201/{d}_test" in summary:
      print(f"  NAS-Bench-201 {d} test accuracy of this cell: {summary[f'nb201/{d}_test']:.2f}%",
            file=stream)
  for i, e in enumerate(summary["top_k"][:5]):
    print(f"  top-{i + 1}: p={e['probability']:.3g} {e['genotype']}", file=stream)
  for name, path in summary["files"].items():
    print(f"  {name}: {path}", file=stream)
