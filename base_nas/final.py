"""Final training of a discrete genotype from scratch, then its test accuracy (``base-nas train``)."""
from __future__ import annotations

import itertools
import os
import sys
import time
from typing import Any, Mapping

import jax
import numpy as np

from base_nas import data as data_lib
from base_nas import loop as loop_lib
from base_nas import spaces
from base_nas import train as train_lib
from base_nas.errors import DataError, GenotypeError
from base_nas.nn.networks import build_network, count_params
from base_nas.predict import early_stop as early_stop_lib
from base_nas.ranges import check_ranges
from base_nas.runs import Run
from base_nas.search.loop import subset
from base_nas.spaces import darts as darts_space

PUBLISHED = {"DARTS_V1": darts_space.DARTS_V1, "DARTS_V2": darts_space.DARTS_V2}


def resolve_genotype(spec: str, space: str):
  """A published name, an NB201 string, a genotype file, or a search work directory."""
  if spec in PUBLISHED:
    if space != "darts":
      raise GenotypeError(f"{spec} is a darts genotype, but space={space!r}")
    return PUBLISHED[spec]
  if spec.startswith("|"):
    if space != "nb201":
      raise GenotypeError(f"{spec!r} is a nb201 genotype, but space={space!r}")
    return spaces.get_space("nb201").genotype_from_dict({"space": "nb201", "arch": spec})
  path = os.path.join(spec, "genotype.json") if os.path.isdir(spec) else spec
  return spaces.load_genotype(path, space)


def _test_split(dataset, wanted: str):
  for name in (wanted, "test", "val", "validation"):
    if name in dataset.splits:
      return name, dataset.split(name)
  raise DataError(f"{dataset.name} has no test split ({', '.join(dataset.splits)}); "
                  "set data.test_split")


def run_training(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Trains cfg.genotype from scratch in ``workdir`` (resuming if it holds a checkpoint)."""
  check_ranges(cfg)  # before data loading and compiling, so a bad value fails in a second
  stopper = early_stop_lib.from_config(cfg.get("early_stop"), cfg.train.epochs, "test/accuracy")
  t_start = time.time()
  genotype = resolve_genotype(cfg.genotype, cfg.space)
  dataset = data_lib.open_dataset(cfg.data.spec, cfg.data.get("data_dir"))
  source = dataset.train_split()
  indices = subset(len(source), cfg.data.limit, cfg.seed)
  size, t = cfg.data.image_size, cfg.train
  mean, std = data_lib.channel_stats(source, indices, size, seed=cfg.seed)
  loader = data_lib.Loader(source, indices, t.batch_size, size, mean=mean, std=std,
                           augment=t.augment, cutout=t.cutout, seed=cfg.seed)
  test_name, test_source = _test_split(dataset, cfg.data.test_split)
  test = data_lib.Loader(test_source, np.arange(len(test_source)), t.batch_size, size, mean=mean,
                         std=std, shuffle=False, drop_remainder=False, seed=cfg.seed)

  kwargs = (dict(C=cfg.model.channels, layers=cfg.model.layers, auxiliary=cfg.model.auxiliary)
            if cfg.space == "darts" else dict(C=cfg.model.channels, N=cfg.model.layers))
  model = build_network(cfg.space, genotype, dataset.num_classes, **kwargs)
  tcfg = train_lib.TrainConfig(
      epochs=t.epochs, steps_per_epoch=len(loader), lr=t.lr, momentum=t.momentum,
      weight_decay=t.weight_decay, grad_clip=t.grad_clip, drop_path_prob=t.drop_path_prob,
      auxiliary_weight=t.auxiliary_weight)
  key = jax.random.PRNGKey(cfg.seed)
  state = train_lib.create_train_state(model, key, (size, size, 3),
                                       train_lib.make_optimizer(tcfg),
                                       auxiliary_weight=t.auxiliary_weight)
  n_params = count_params(state.params)
  # The cell itself, not the path it came from, identifies the run: a work directory resumed
  # after the search behind `genotype` was re-run must not continue under another cell.
  cfg = cfg.copy()
  cfg["resolved_genotype"] = spaces.get_space(cfg.space).genotype_to_dict(genotype)
  run = Run(workdir, cfg, fingerprint_ignore=early_stop_lib.FINGERPRINT_IGNORE)
  spaces.save_genotype(run.path("genotype.json"), genotype)
  step = jax.jit(train_lib.train_step)
  step_key = jax.random.fold_in(key, 1)

  def step_fn(state, batch, epoch, i):
    k = jax.random.fold_in(jax.random.fold_in(step_key, epoch), i)
    # DARTS ramps the drop-path probability up linearly over the epochs.
    return step(state, batch, k, float(t.drop_path_prob * epoch / max(t.epochs, 1)))

  def on_epoch_end(state, epoch, _):
    batches = itertools.islice(test.epoch(0), t.eval_batches or None)
    m = train_lib.evaluate(state, batches)
    return {"test/loss": m["loss"], "test/accuracy": m["accuracy"]}

  state, history = loop_lib.run_epochs(
      run, state, epochs=t.epochs, steps_per_epoch=len(loader),
      batches=lambda epoch, first: loader.epoch(epoch, start=first), step_fn=step_fn,
      on_epoch_end=on_epoch_end, checkpoint_every=cfg.run.checkpoint_every, progress=progress,
      desc=f"train/{cfg.space}", nan_hint="; lower train.lr and start again",
      early_stop=stopper)
  last = history[-1] if history else {}
  summary = {
      "space": cfg.space, "genotype": str(genotype), "dataset": cfg.data.spec,
      "params": n_params, "epochs": t.epochs,
      "test_accuracy": last.get("test/accuracy"), "test_split": test_name,
      "seconds": time.time() - t_start, "workdir": workdir,
      **early_stop_lib.summary(history, stopper),
  }
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_summary(summary: Mapping[str, Any], stream=None):
  stream = stream or sys.stdout
  print(f"\ntrained {summary['space']} genotype on {summary['dataset']} for {summary['epochs']} "
        f"epochs in {summary['seconds']:.0f} s", file=stream)
  print(f"  genotype: {summary['genotype']}", file=stream)
  print(f"  parameters: {summary['params'] / 1e6:.3f} M", file=stream)
  if summary.get("test_accuracy") is not None:
    print(f"  test accuracy: {100 * summary['test_accuracy']:.2f}%", file=stream)
  stop = summary.get("early_stop") or {}
  if stop.get("stopped"):
    print(f"  stopped early after {stop['epochs_run']}/{stop['epochs']} epochs: {stop['reason']}",
          file=stream)
  print(f"  results: {os.path.join(summary['workdir'], 'summary.json')}", file=stream)
