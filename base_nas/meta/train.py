"""Meta-training from a config: the task source, the meta-learner, the epoch loop, the prior.

Every epoch ends by writing the run's prior (``<workdir>/prior``), so a prior is usable while
meta-training continues; a killed run resumes from its last checkpoint and ends as an
uninterrupted one would (the tasks and the Gumbel noise depend only on the seed and the step).
"""
from __future__ import annotations

import concurrent.futures
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
from base_nas.meta import parallel
from base_nas.meta import prior as prior_lib
from base_nas.meta.learner import MetaLearner, OuterConfig
from base_nas.meta.objective import ORDERS, InnerConfig
from base_nas.meta.tasks import TaskSampler, TaskShape, split_classes
from base_nas.nn.supernet import Supernet
from base_nas.ranges import check_ranges
from base_nas.runs import Run

RELAXATIONS = ("gumbel", "hard")


def inner_config(meta: Mapping[str, Any]) -> InnerConfig:
  return InnerConfig(steps=meta.inner_steps, lr_weights=meta.inner_lr_weights,
                     lr_alphas=meta.inner_lr_alphas, beta=meta.beta,
                     weight_prior=meta.weight_prior, tau=meta.tau, order=meta.order,
                     fd_radius=meta.fd_radius)


def outer_config(meta: Mapping[str, Any]) -> OuterConfig:
  return OuterConfig(lr_weights=meta.lr_weights, lr_alphas=meta.lr_alphas,
                     lr_step_sizes=meta.lr_step_sizes, grad_clip=meta.grad_clip,
                     learn_step_sizes=bool(meta.learn_step_sizes), task_loop=meta.task_loop)


def check_config(cfg) -> None:
  """The checks that need no data: numeric ranges, names, sizes."""
  check_ranges(cfg)
  spaces.get_space(cfg.space)
  m = cfg.meta
  for field, value, allowed in (("meta.relaxation", m.relaxation, RELAXATIONS),
                                ("meta.order", m.order, ORDERS),
                                ("meta.task_loop", m.task_loop, ("map", "vmap"))):
    if value not in allowed:
      raise ConfigError(f"{field}={value!r}: choose from {', '.join(allowed)}")
  sizes = cfg.tasks.image_sizes
  if not isinstance(sizes, (list, tuple)) or not sizes:
    raise ConfigError(f"tasks.image_sizes={sizes!r}: give a non-empty list of sizes")
  for s in sizes:
    if not isinstance(s, int) or isinstance(s, bool) or s < 4 or s % 4:
      raise ConfigError(f"tasks.image_sizes: {s!r} is not a positive multiple of 4 (the "
                        "supernet halves the resolution twice)")


def model_record(cfg) -> dict:
  return {k: cfg.model[k] for k in prior_lib.MODEL_FIELDS}


def build_model(cfg, num_classes: int) -> Supernet:
  return Supernet(cfg.space, num_classes, cfg.model.channels, cfg.model.layers,
                  cfg.model.stem_multiplier, hard=cfg.meta.relaxation == "hard",
                  remat=bool(cfg.model.get("remat", True)))


def fit_head(theta, template):
  """``theta`` with the classifier of ``template`` (zeros) where their class counts differ."""
  def fix(path, a, b):
    name = jax.tree_util.keystr(path)
    if "classifier" in name and np.shape(a) != np.shape(b):
      return np.zeros(np.shape(b), np.asarray(b).dtype)
    return a
  return jax.tree_util.tree_map_with_path(fix, theta, template)


def open_tasks(cfg):
  """The task source and its sampler; raises DataError before anything compiles."""
  dataset = data_lib.open_dataset(cfg.data.spec, cfg.data.get("data_dir"))
  source = dataset.split(cfg.data.split) if cfg.data.get("split") else dataset.train_split()
  classes = sorted(int(c) for c in np.unique(source.labels))
  train_classes, held_out = split_classes(classes, cfg.data.held_out, cfg.seed)
  shape = TaskShape(way=cfg.tasks.way, shots=cfg.tasks.shots, queries=cfg.tasks.queries,
                    image_sizes=tuple(cfg.tasks.image_sizes))
  labels = source.labels
  idx = np.flatnonzero(np.isin(labels, train_classes))
  mean, std = data_lib.channel_stats(source, idx, max(shape.image_sizes), seed=cfg.seed)
  sampler = TaskSampler(source, train_classes, shape, mean=mean, std=std, seed=cfg.seed)
  held = None
  if cfg.meta.eval_tasks and len(held_out) < shape.way:
    raise ConfigError(f"meta.eval_tasks={cfg.meta.eval_tasks} draws {shape.way}-way tasks from "
                      f"the held-out classes, but data.held_out={cfg.data.held_out} keeps "
                      f"{len(held_out)}")
  if cfg.meta.eval_tasks:
    held = TaskSampler(source, held_out, shape, mean=mean, std=std, seed=cfg.seed + 1)
  return dataset, sampler, held, (train_classes, held_out), (mean, std)


def task_batch(sampler: TaskSampler, step: int, num_tasks: int, mesh=None):
  """Meta-step ``step``'s tasks with their ids; under several processes, this one's share as
  rows of a global array."""
  share = parallel.process_share(num_tasks) if jax.process_count() > 1 else slice(0, num_tasks)
  b = sampler.batch(step, num_tasks, start=share.start, count=share.stop - share.start)
  tasks = {"support": b["support"], "query": b["query"],
           "id": np.arange(share.start, share.stop, dtype=np.int32) + step * num_tasks}
  if mesh is not None and jax.process_count() > 1:
    return parallel.global_batch(mesh, tasks)
  return tasks


def run_meta_train(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Runs (or resumes) the meta-training ``cfg`` describes in ``workdir``; returns the summary."""
  t_start = time.time()
  check_config(cfg)
  space = spaces.get_space(cfg.space)
  devices = parallel.resolve_devices(cfg.meta.devices, cfg.meta.tasks_per_step)
  init_theta, init_record = None, None
  init_path = prior_lib.resolve(cfg.meta.init) if cfg.meta.get("init") else None
  if init_path:
    init_record = prior_lib.read_record(init_path)
    prior_lib.check_compatible(init_record, init_path, cfg.space, model_record(cfg),
                               cfg.meta.relaxation)
  dataset, sampler, held, (train_classes, held_out), (mean, std) = open_tasks(cfg)
  primary = jax.process_index() == 0

  model = build_model(cfg, cfg.tasks.way)
  learner = MetaLearner(model, space, cfg.meta.relaxation, inner_config(cfg.meta),
                        outer_config(cfg.meta), devices=devices, seed=cfg.seed)
  key = jax.random.PRNGKey(cfg.seed)
  size0 = cfg.tasks.image_sizes[0]
  state = learner.init(key, (size0, size0, 3))
  if init_path:
    init_theta, _ = prior_lib.load_prior(init_path)
    template = parallel.to_host(state.theta)
    init_theta = fit_head(init_theta, template)
    problems = [p for p in _mismatch(init_theta, template)]
    if problems:
      raise ConfigError(f"prior {init_path!r} does not fit this config ({problems[0]})")
    state = learner.state_from(init_theta)

  several = jax.process_count() > 1
  run = Run(workdir if primary else os.path.join(workdir, f"process_{jax.process_index()}"),
            cfg, process_local=several)
  if several:
    parallel.agree(run.checkpoint_steps()[-1:] or [-1],
                   "the processes hold checkpoints of different steps (a process killed "
                   "mid-save?); delete the newest checkpoints/ step so they agree")
  run.write_json("classes.json", {"source": cfg.data.spec, "split": cfg.data.get("split"),
                                  "meta_train": train_classes, "held_out": held_out,
                                  "class_names": _names(dataset, train_classes + held_out)})
  epochs, steps = cfg.meta.epochs, cfg.meta.steps_per_epoch
  tau = jnp.float32(cfg.meta.tau)
  pool = concurrent.futures.ThreadPoolExecutor(1)

  def batches(epoch, first):
    # One meta-batch decoded ahead of the step that uses it.
    start = epoch * steps + first
    nxt = pool.submit(task_batch, sampler, start, cfg.meta.tasks_per_step, learner.mesh)
    for s in range(start, (epoch + 1) * steps):
      cur = nxt.result()
      if s + 1 < (epoch + 1) * steps:
        nxt = pool.submit(task_batch, sampler, s + 1, cfg.meta.tasks_per_step, learner.mesh)
      yield cur

  def step_fn(state, tasks, epoch, i):
    return learner.meta_step(state, tasks, tau)

  record = {"space": cfg.space, "model": model_record(cfg), "relaxation": cfg.meta.relaxation,
            "way": cfg.tasks.way, "tasks": sampler.describe(), "source": cfg.data.spec,
            "classes": train_classes, "held_out_classes": held_out,
            "class_names": _names(dataset, train_classes),
            "held_out_class_names": _names(dataset, held_out),
            "config": cfg.to_dict(),
            "mean": np.asarray(mean).tolist(), "std": np.asarray(std).tolist(),
            "inner": {k: cfg.meta[k] for k in ("inner_steps", "inner_lr_weights",
                                               "inner_lr_alphas", "beta", "weight_prior",
                                               "tau", "order", "learn_step_sizes")},
            "init": cfg.meta.get("init")}
  edge_labels = [f"{s}->{d}" for s, d in space.edges]

  def on_epoch_end(state, epoch, _):
    theta = parallel.to_host(state.theta)
    out = {}
    if held is not None:
      out.update(evaluate_tasks(learner, state.theta, held, cfg, epoch))
    probs = {k: np.asarray(v) for k, v in relax_lib.probabilities(theta["alphas"]).items()}
    genotype = space.derive(probs)
    out["prior_genotype"] = str(genotype)
    if primary:
      prior_lib.save_prior(run.path("prior"), theta,
                           dict(record, meta_steps=(epoch + 1) * steps, genotype=str(genotype)))
      if cfg.run.plots:
        plots.plot_arch_weights(probs, space.ops, edge_labels, run.path("prior_weights.png"),
                                title=f"BASE prior after {(epoch + 1) * steps} meta-steps")
    return out

  state, history = loop_lib.run_epochs(
      run, state, epochs=epochs, steps_per_epoch=steps, batches=batches, step_fn=step_fn,
      on_epoch_end=on_epoch_end, checkpoint_every=cfg.run.checkpoint_every, progress=progress,
      desc=f"meta-train/{cfg.space}", place=learner.place,
      nan_hint="; lower meta.inner_lr_weights, meta.inner_lr_alphas or meta.lr_weights")
  pool.shutdown()
  if primary and cfg.run.plots and os.path.exists(run.path("metrics.jsonl")):
    plots.plot_curves(run.path("metrics.jsonl"), run.path("meta_curves.png"),
                      keys=("train/meta_loss", "train/query_accuracy",
                            "train/query_accuracy_before", "train/entropy"))
  last = history[-1] if history else {}
  summary = {"space": cfg.space, "source": cfg.data.spec, "epochs": epochs,
             "steps_per_epoch": steps, "tasks_per_step": cfg.meta.tasks_per_step,
             "devices": devices * jax.process_count(), "processes": jax.process_count(),
             "order": cfg.meta.order, "inner_steps": cfg.meta.inner_steps,
             "seconds": time.time() - t_start, "workdir": workdir,
             "prior": run.path("prior"),
             "final": {k: v for k, v in last.items() if isinstance(v, (int, float, str))}}
  if primary:
    run.write_json("summary.json", summary)
  run.close()
  return summary


def _names(dataset, classes):
  names = dataset.class_names
  return [names[c] for c in classes] if names and len(names) > max(classes, default=0) else None


def _mismatch(saved, template):
  from base_nas.runs import tree_mismatch
  shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype), saved)
  return tree_mismatch(shapes, template)


def evaluate_tasks(learner: MetaLearner, theta, sampler: TaskSampler, cfg, epoch: int) -> dict:
  """The meta-objective's metrics on held-out-class tasks (no meta-update)."""
  if not hasattr(learner, "_eval"):
    obj = learner.objective

    def mean_metrics(theta, tasks, keys, tau):
      def one(xs):
        loss, m = obj.meta_loss(theta, xs[0], xs[1], tau, first_order=True)
        return dict(m, meta_loss=loss)
      return jax.tree.map(lambda x: jnp.mean(x, 0), jax.lax.map(one, (tasks, keys)))
    learner._eval = jax.jit(mean_metrics)
  n = cfg.meta.eval_tasks
  b = sampler.batch(0, n)
  tasks = {"support": b["support"], "query": b["query"]}
  keys = learner.task_keys(jnp.int32(10**6 + epoch), jnp.arange(n))
  theta = parallel.to_host(theta)
  m = learner._eval(theta, tasks, keys, jnp.float32(cfg.meta.tau))
  return {f"held_out/{k}": float(v) for k, v in m.items()}


def print_summary(summary: Mapping[str, Any], stream=None) -> None:
  stream = stream or sys.stdout
  f = summary["final"]
  print(f"\nBASE meta-training on {summary['source']} ({summary['space']} space): "
        f"{summary['epochs']} x {summary['steps_per_epoch']} meta-steps of "
        f"{summary['tasks_per_step']} tasks on {summary['devices']} device(s) in "
        f"{summary['seconds']:.0f} s", file=stream)
  for k in ("train/meta_loss", "train/query_accuracy_before", "train/query_accuracy",
            "held_out/query_accuracy"):
    if k in f:
      print(f"  {k}: {f[k]:.4f}", file=stream)
  if "prior_genotype" in f:
    print(f"  most probable cell under the prior: {f['prior_genotype']}", file=stream)
  print(f"  prior: {summary['prior']}", file=stream)
