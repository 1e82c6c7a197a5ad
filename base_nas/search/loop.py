"""A single-task search from a config: data, supernet, method, epochs, genotype, plots, summary."""
from __future__ import annotations

import io
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
from base_nas import relax as relax_lib
from base_nas import spaces
from base_nas.errors import ConfigError
from base_nas.ranges import check_ranges
from base_nas.nn.supernet import Supernet
from base_nas.predict import early_stop as early_stop_lib
from base_nas.runs import Run, atomic_write
from base_nas.search import get_method
from base_nas.search.core import OptimConfig, Searcher

NB201_DATASETS = ("cifar10", "cifar100", "imagenet16")


def subset(n: int, limit: int, seed: int) -> np.ndarray:
  """Indices of at most ``limit`` examples (all when 0), a deterministic random choice."""
  if limit and limit < n:
    return np.random.default_rng(seed).permutation(n)[:limit]
  return np.arange(n)


def make_loaders(cfg, dataset, *, bilevel_fraction: float, augment: bool):
  """Training and held-out loaders over the dataset's train split (DARTS splits it in halves)."""
  source = dataset.train_split()
  indices = subset(len(source), cfg.data.limit, cfg.seed)
  a, b = data_lib.split_indices(len(indices), bilevel_fraction, cfg.seed)
  train_idx, val_idx = indices[a], indices[b]
  size = cfg.data.image_size
  mean, std = data_lib.channel_stats(source, train_idx, size, seed=cfg.seed)
  common = dict(mean=mean, std=std, seed=cfg.seed)
  bs = cfg.search.batch_size
  train = data_lib.Loader(source, train_idx, bs, size, augment=augment, **common)
  val = data_lib.Loader(source, val_idx, bs, size, augment=augment,
                        **{**common, "seed": cfg.seed + 1})
  return train, val


def arch_summary(space, alphas) -> tuple[Any, dict]:
  probs = {k: np.asarray(v) for k, v in relax_lib.probabilities(alphas).items()}
  return space.derive(probs), probs


def nb201_accuracies(genotype) -> dict[str, float]:
  from base_nas.predict.tables import NB201Table  # the table loads lazily, only for nb201
  table = NB201Table.load()
  return {f"nb201/{d}_test": table.accuracy(genotype, d) for d in NB201_DATASETS}


def run_search(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Runs (or resumes) the search ``cfg`` describes in ``workdir``; returns the summary."""
  check_ranges(cfg)  # before data loading and compiling, so a bad value fails in a second
  stopper = early_stop_lib.from_config(cfg.get("early_stop"), cfg.search.epochs, "valid/accuracy")
  t_start = time.time()
  method = get_method(cfg.method)
  space = spaces.get_space(cfg.space)
  dataset = data_lib.open_dataset(cfg.data.spec, cfg.data.get("data_dir"))
  train, val = make_loaders(cfg, dataset, bilevel_fraction=cfg.data.val_fraction,
                            augment=cfg.search.augment)
  # Single-level methods (SNAS) learn from the training half only; the other half measures them.
  steps = min(len(train), len(val)) if method.bilevel else len(train)
  if cfg.search.steps_per_epoch:
    steps = min(steps, cfg.search.steps_per_epoch)
  epochs = cfg.search.epochs
  model = Supernet(cfg.space, dataset.num_classes, cfg.model.channels, cfg.model.layers,
                   cfg.model.stem_multiplier, hard=method.hard,
                   remat=bool(cfg.model.get("remat", True)))
  searcher = Searcher(model, space, method.relaxation, OptimConfig.from_config(cfg.search),
                      epochs * steps)
  kind, start, end = method.tau
  tau_cfg = cfg.search.get("tau") or {}
  pick = lambda name, default: default if tau_cfg.get(name) is None else tau_cfg[name]
  try:
    schedule = relax_lib.make_schedule(pick("schedule", kind), pick("start", start),
                                       pick("end", end), epochs)
  except ValueError as e:
    raise ConfigError(f"search.tau: {e}") from None
  if cfg.data.image_size % 4:
    raise ConfigError(f"data.image_size={cfg.data.image_size}: the supernet halves the resolution "
                      "twice, so it must be a multiple of 4")
  if cfg.search.order not in (1, 2) or (cfg.search.order == 2 and cfg.method != "darts"):
    raise ConfigError(f"search.order={cfg.search.order}: second order exists for darts only")

  key = jax.random.PRNGKey(cfg.seed)
  state = searcher.init(key, (cfg.data.image_size, cfg.data.image_size, 3))
  run = Run(workdir, cfg, fingerprint_ignore=early_stop_lib.FINGERPRINT_IGNORE)
  edge_labels = [f"{s}->{d}" for s, d in space.edges]
  step_key = jax.random.fold_in(key, 1)

  def step_fn(state, batch, epoch, i):
    tb, vb = batch
    k = jax.random.fold_in(jax.random.fold_in(step_key, epoch), i)
    return method.step(searcher, state, tb, vb, k, jnp.float32(schedule(epoch)),
                       order=cfg.search.order)

  def batches(epoch, first):
    if not method.bilevel:
      return ((b, None) for b in train.epoch(epoch, start=first))
    return zip(train.epoch(epoch, start=first), val.epoch(epoch, start=first))

  def on_epoch_end(state, epoch, _):
    tau = jnp.float32(schedule(epoch))
    losses, accs = [], []
    eval_key = jax.random.fold_in(key, 2)
    for i, b in enumerate(val.epoch(0)):
      if cfg.search.eval_batches and i >= cfg.search.eval_batches:
        break
      loss, acc = searcher.evaluate(state.params, state.alphas, b, jax.random.fold_in(eval_key, i),
                                    tau)
      losses.append(float(loss))
      accs.append(float(acc))
    genotype, probs = arch_summary(space, state.alphas)
    spaces.save_genotype(run.path(f"genotypes/epoch_{epoch + 1:03d}.json"), genotype)
    spaces.save_genotype(run.path("genotype.json"), genotype)
    out = {"valid/loss": float(np.mean(losses)), "valid/accuracy": float(np.mean(accs)),
           "tau": float(tau), "genotype": str(genotype)}
    if cfg.space == "nb201":
      out.update(nb201_accuracies(genotype))
    if cfg.run.plots:
      plots.plot_arch_weights(probs, space.ops, edge_labels, run.path("arch_weights.png"),
                              title=f"{cfg.method} epoch {epoch + 1}: op probabilities")
      plots.plot_cell(space.cell_edges(genotype), run.path("cell.png"),
                      title=f"{cfg.method} epoch {epoch + 1}")
    return out

  state, history = loop_lib.run_epochs(
      run, state, epochs=epochs, steps_per_epoch=steps, batches=batches, step_fn=step_fn,
      on_epoch_end=on_epoch_end, checkpoint_every=cfg.run.checkpoint_every,
      progress=progress, desc=f"{cfg.method}/{cfg.space}",
      nan_hint="; lower search.w_lr or search.a_lr and start again", early_stop=stopper)
  genotype, probs = arch_summary(space, state.alphas)
  spaces.save_genotype(run.path("genotype.json"), genotype)
  buf = io.BytesIO()
  np.savez(buf, **{k: np.asarray(v) for k, v in state.alphas.items()})
  atomic_write(run.path("alphas.npz"), buf.getvalue())
  last = history[-1] if history else {}
  summary = {
      "method": cfg.method, "space": cfg.space, "dataset": cfg.data.spec,
      "epochs": epochs, "steps_per_epoch": steps,
      "genotype": str(genotype),
      "valid_accuracy": last.get("valid/accuracy"),
      "seconds": time.time() - t_start,
      "workdir": workdir,
      **early_stop_lib.summary(history, stopper),
      "files": {name: run.path(f) for name, f in (
          ("genotype", "genotype.json"), ("arch_weights", "arch_weights.png"), ("cell", "cell.png"),
          ("metrics", "metrics.jsonl")) if os.path.exists(run.path(f))},
  }
  if cfg.space == "nb201":
    summary.update({k: v for k, v in last.items() if k.startswith("nb201/")})
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_summary(summary: Mapping[str, Any], stream=None):
  stream = stream or sys.stdout
  print(f"\n{summary['method']} search on {summary['dataset']} ({summary['space']} space): "
        f"{summary['epochs']} epochs x {summary['steps_per_epoch']} steps in "
        f"{summary['seconds']:.0f} s", file=stream)
  if summary.get("valid_accuracy") is not None:
    print(f"  supernet validation accuracy: {100 * summary['valid_accuracy']:.2f}%", file=stream)
  print(f"  genotype: {summary['genotype']}", file=stream)
  for d in NB201_DATASETS:
    if f"nb201/{d}_test" in summary:
      print(f"  NAS-Bench-201 {d} test accuracy of this cell: {summary[f'nb201/{d}_test']:.2f}%",
            file=stream)
  stop = summary.get("early_stop") or {}
  if stop.get("stopped"):
    print(f"  stopped early after {stop['epochs_run']}/{stop['epochs']} epochs: {stop['reason']}",
          file=stream)
  for name, path in summary["files"].items():
    print(f"  {name}: {path}", file=stream)
