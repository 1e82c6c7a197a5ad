"""Table 2 of GitHub issue 13: ablation of the shipped prior `nb201-tiny` on held-out tasks.

  nice -n 5 .venv/bin/python benchmarks/base_ablation.py --seeds 0,1,2,3,4 --tasks 40 \\
      --steps 0,2,10 --out runs/base_ablation.json

(those are the defaults). On the 2-core CPU a task costs about 2 s per variant at K up to 10, so
the defaults take about 27 minutes; --tasks 20 halves that.

Tasks are 10-way, 5 shots, 5 queries, drawn from the 30 Tiny ImageNet classes the prior never
saw in meta-training (its prior.json "held_out_classes"), from the prior's own data spec
(zip:../shared/data/images/tiny-imagenet-150.zip, relative to the repository root) and
normalised with the prior's recorded channel statistics. Task i of a seed is at the prior's
image sizes in turn (16 px for even i, 32 px for odd i). Every variant sees the same tasks and
the same Gumbel noise (paired comparison); the seed fixes both.

Variants of theta (the prior the K inner steps start from and are pulled back to):

  meta-learned    theta of nb201-tiny as shipped (alphas, weights, learned step sizes).
  untrained       a fresh theta from the initialisation meta-training starts from (same model,
                  init key PRNGKey(config seed)); its step sizes are the config's initial ones
                  (inner_lr_weights=0.1, inner_lr_alphas=1.0), because the prior's step sizes are
                  themselves meta-learned (theta["log_lr"]).
  uniform-arch    the meta-learned theta with alphas set to zeros: a uniform architecture prior
                  (also the centre of the KL term), meta-learned weights and step sizes.
  fixed-arch      the meta-learned theta with the inner architecture step size set to 0 (its
                  log_lr alphas at -inf), so only the supernet's weights adapt: MAML over the
                  supernet with the meta-learned prior's architecture. This is the
                  adaptation-time ablation only.
  maml            (--maml PATH) a prior meta-trained on the same split with the architecture
                  frozen at its initial near-uniform logits (experiments/maml_tiny_nb201.py):
                  MAML with Meta-SGD step sizes over the supernet, the true fixed-architecture
                  baseline; only its weights adapt.

The inner loop is the library's: MetaObjective.adapt (the lax.scan of inner_step) for the first
K, then further inner_step's from that state for the longer K, so K=2 and K=10 share their first
two steps. The accuracy is the one the library reports on held-out tasks (evaluate_tasks): one
Concrete sample of the architecture on the query set, after K full-batch support steps with the
objective's prior terms (beta * KL, Gaussian weight prior). K=0 is the prior itself.

The derived cell of a task after K steps is the most probable op per edge of its adapted
architecture logits; the table reports its NAS-Bench-201 test accuracy on ImageNet16-120 (the
table task nearest to Tiny ImageNet tasks) and CIFAR-10, averaged over tasks.

Prints a markdown table (mean +- 95% normal interval over all tasks of all seeds; the std of the
per-seed means) and writes --out as JSON (a temporary file renamed into place).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VARIANTS = ("meta-learned", "untrained", "uniform-arch", "fixed-arch", "maml")


def _ints(text: str) -> list[int]:
  return [int(x) for x in text.split(",") if x.strip()]


def build(prior_name: str):
  """(record, meta-learned theta, untrained theta, objective factory, source)."""
  import dataclasses
  import jax
  from base_nas.config import Config
  from base_nas.errors import UserError
  from base_nas import spaces
  from base_nas.meta import prior as prior_lib
  from base_nas.meta.learner import MetaLearner
  from base_nas.meta.objective import MetaObjective
  from base_nas.meta.train import build_model, inner_config, outer_config

  path = prior_lib.resolve(prior_name)
  theta, record = prior_lib.load_prior(path)
  cfg = record["config"]
  try:
    source, _ = prior_lib.held_out_source(record, ROOT)
  except UserError as e:
    sys.exit(f"base_ablation: {e}")
  config = Config(cfg)
  meta = config.meta
  inner = dataclasses.replace(inner_config(meta), order="first")
  model = build_model(config, cfg["tasks"]["way"])
  learner = MetaLearner(model, spaces.get_space(cfg["space"]), meta.relaxation, inner,
                        outer_config(meta), seed=cfg["seed"])
  size0 = cfg["tasks"]["image_sizes"][0]
  # Exactly run_meta_train's initial state: key PRNGKey(seed), traced at the first image size.
  fresh = jax.device_get(learner.init(jax.random.PRNGKey(cfg["seed"]),
                                      (size0, size0, 3)).theta)
  objective = MetaObjective(model.apply, meta.relaxation, inner)
  return record, theta, fresh, objective, source


def variants(theta, fresh, maml=None) -> dict:
  import jax
  out = {"meta-learned": theta, "untrained": fresh,
         "uniform-arch": dict(theta, alphas=jax.tree.map(np.zeros_like, theta["alphas"]))}
  if "log_lr" not in theta:
    sys.exit("base_ablation: the prior has no learned step sizes; fixed-arch needs log_lr")
  lr = dict(theta["log_lr"], alphas=jax.tree.map(lambda a: np.full_like(a, -np.inf),
                                                 theta["log_lr"]["alphas"]))
  out["fixed-arch"] = dict(theta, log_lr=lr)
  if maml is not None:
    out["maml"] = maml
  # One tree structure and dtype for all, so one compiled program serves every variant.
  return {k: jax.tree.map(lambda a: np.asarray(a, np.float32), v) for k, v in out.items()}


def make_eval(objective, steps: list[int], tau: float):
  """A jitted ``(theta, tasks, keys) -> {accuracy, ce: [tasks, len(steps)], cells}``.

  ``cells``: ``{cell type: [tasks, len(steps), edges]}``, the most probable op of each edge.
  """
  import jax
  import jax.numpy as jnp
  from base_nas.meta.objective import prior_of
  kmax = max(steps)

  def one(theta, xs):
    task, key = xs
    keys = jax.random.split(key, kmax + 1)
    inner, qkey = keys[:-1], keys[-1]
    prior = prior_of(theta)
    rep = lambda n: jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), task["support"])
    accs, ces, cells = [], [], []
    state, done = prior, 0
    for k in steps:
      if k > done:
        if done == 0:
          state, _ = objective.adapt(theta, rep(k), inner[:k], tau)
        else:
          # Further inner steps from s_done (adapt always starts from the prior itself).
          def body(s, b):
            return objective.inner_step(theta, s, b[0], b[1], tau)
          state, _ = jax.lax.scan(body, state, (rep(k - done), inner[done:k]))
        done = k
      _, met = objective.loss(state, prior, task["query"], qkey, tau)
      accs.append(met["accuracy"])
      ces.append(met["ce"])
      # -1 marks an edge whose top op is tied (all-zero logits): its cell is undefined.
      top = lambda a: jnp.where(jnp.sum(a == a.max(-1, keepdims=True), -1) > 1, -1,
                                jnp.argmax(a, -1))
      cells.append(jax.tree.map(top, state["alphas"]))
    return {"accuracy": jnp.stack(accs), "ce": jnp.stack(ces),
            "cells": jax.tree.map(lambda *c: jnp.stack(c), *cells)}

  return jax.jit(lambda theta, tasks, keys: jax.lax.map(lambda xs: one(theta, xs),
                                                        (tasks, keys)))


def draw_tasks(record, source, seed: int, n: int):
  """``{size: (tasks, task ids)}`` of seed ``seed``: n held-out tasks, sizes in turn."""
  from base_nas.meta.tasks import TaskSampler, TaskShape
  cfg = record["config"]["tasks"]
  shape = TaskShape(way=cfg["way"], shots=cfg["shots"], queries=cfg["queries"],
                    image_sizes=tuple(cfg["image_sizes"]))
  sampler = TaskSampler(source, record["held_out_classes"], shape, mean=record["mean"],
                        std=record["std"], seed=seed)
  sizes = shape.image_sizes
  groups = {}
  for s_i, size in enumerate(sizes):
    ids = list(range(s_i, n, len(sizes)))
    if not ids:
      continue
    ts = [sampler.task(i, size) for i in ids]
    stack = lambda part: {k: np.stack([t[part][k] for t in ts]) for k in ("image", "label")}
    groups[size] = ({"support": stack("support"), "query": stack("query")}, ids)
  return groups


def _stats(per_seed: list[np.ndarray]) -> dict:
  allv = np.concatenate(per_seed)
  means = [float(x.mean()) for x in per_seed]
  half = 1.96 * allv.std(ddof=1) / np.sqrt(len(allv)) if len(allv) > 1 else float("nan")
  return {"mean": float(allv.mean()), "ci95": float(half), "n": int(len(allv)),
          "seed_means": means, "seed_std": float(np.std(means, ddof=1)) if len(means) > 1
          else 0.0}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--prior", default="nb201-tiny")
  p.add_argument("--seeds", default="0,1,2,3,4")
  p.add_argument("--tasks", type=int, default=40, help="held-out tasks a seed")
  p.add_argument("--steps", default="0,2,10", help="inner steps K to report (0 = the prior)")
  p.add_argument("--variants", default=",".join(VARIANTS),
                 help="maml is run only with --maml")
  p.add_argument("--maml", default=None, help="a prior meta-trained with the architecture "
                 "frozen on the same split (experiments/maml_tiny_nb201.py)")
  p.add_argument("--out", default=None, help="JSON results file")
  a = p.parse_args(argv)
  t_start = time.time()
  import jax
  from base_nas.runs import atomic_write, dumps

  steps = sorted(set(_ints(a.steps)) | {0})
  names = [v for v in a.variants.split(",") if v]
  unknown = [v for v in names if v not in VARIANTS]
  if unknown:
    sys.exit(f"base_ablation: unknown variant {unknown[0]!r} (choose from {', '.join(VARIANTS)})")
  if not a.maml:
    names = [v for v in names if v != "maml"]
  record, theta, fresh, objective, source = build(a.prior)
  maml = None
  if a.maml:
    from base_nas.errors import ConfigError
    from base_nas.meta import prior as prior_lib
    try:
      maml, maml_record = prior_lib.load_prior(prior_lib.resolve(a.maml))
      prior_lib.check_same_split(record, maml_record, a.maml)
    except ConfigError as e:
      sys.exit(f"base_ablation: --maml: {e}")
  thetas = variants(theta, fresh, maml)
  from base_nas import spaces
  from base_nas.predict.tables import load_table
  space, table = spaces.get_space(record["space"]), load_table(record["space"])

  def table_accs(cells, dataset):
    """[tasks, len(steps)] table accuracies of the derived cells (NaN: a tied edge)."""
    (name, idx), = cells.items()  # NB201: one cell type
    eye = np.eye(len(space.ops))
    return np.asarray([[np.nan if (e < 0).any() else
                        table.accuracy(space.derive({name: eye[e]}), dataset) for e in row]
                       for row in idx])
  tau = float(record["config"]["meta"]["tau"])
  evaluate = make_eval(objective, steps, tau)
  lrs = {k: float(np.exp(np.mean([np.mean(x) for x in jax.tree.leaves(v)])))
         for k, v in theta["log_lr"].items()}
  print(f"prior {a.prior}: {record.get('meta_steps')} meta-steps, learned inner step sizes "
        f"(geometric mean over tensors) {lrs}; held-out classes {len(record['held_out_classes'])}",
        flush=True)
  acc = {v: {k: [] for k in steps} for v in names}
  tab = {d: {v: {k: [] for k in steps} for v in names} for d in ("imagenet16", "cifar10")}
  ce = {v: {k: [] for k in steps} for v in names}
  wall = {v: 0.0 for v in names}
  seeds = _ints(a.seeds)
  for seed in seeds:
    groups = draw_tasks(record, source, seed, a.tasks)
    for v in names:
      t = time.time()
      a_parts, c_parts, t_parts = [], [], {d: [] for d in tab}
      for size, (tasks, ids) in groups.items():
        # Task i's Gumbel noise comes from (seed, i) alone: the same for every variant.
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(
            np.asarray(ids, np.int32))
        out = jax.device_get(evaluate(thetas[v], tasks, keys))
        a_parts.append(out["accuracy"])
        c_parts.append(out["ce"])
        for d in tab:
          t_parts[d].append(table_accs(out["cells"], d))
      wall[v] += time.time() - t
      av, cv = np.concatenate(a_parts), np.concatenate(c_parts)
      for j, k in enumerate(steps):
        acc[v][k].append(av[:, j])
        ce[v][k].append(cv[:, j])
        for d in tab:
          tab[d][v][k].append(np.concatenate(t_parts[d])[:, j])
      print(f"seed {seed} {v}: " + ", ".join(f"K={k} {100 * av[:, j].mean():.1f}%"
                                             for j, k in enumerate(steps))
            + f" ({time.time() - t:.0f} s)", flush=True)
  total = time.time() - t_start
  results = {v: {str(k): {"accuracy": _stats(acc[v][k]), "query_ce": _stats(ce[v][k]),
                          **{f"table_{d}": _stats(tab[d][v][k]) for d in tab}}
                 for k in steps} for v in names}
  print(f"\nHeld-out query accuracy (%), {a.prior}, {len(seeds)} seeds x {a.tasks} tasks "
        f"(10-way 5-shot 5-query, sizes {record['config']['tasks']['image_sizes']} in turn): "
        "mean +- 95% interval over all tasks [std of per-seed means]; chance 10%\n")
  print("| variant | " + " | ".join(f"K={k}" for k in steps) + " | eval s |")
  print("|---|" + "---|" * len(steps) + "---|")
  for v in names:
    cells = []
    for k in steps:
      s = results[v][str(k)]["accuracy"]
      cells.append(f"{100 * s['mean']:.1f} +- {100 * s['ci95']:.1f} [{100 * s['seed_std']:.1f}]")
    print(f"| {v} | " + " | ".join(cells) + f" | {wall[v]:.0f} |")
  print("\nNAS-Bench-201 test accuracy (%) of the derived cells (most probable op per edge of "
        "each task's adapted architecture), ImageNet16-120 / CIFAR-10: mean over tasks\n")
  print("| variant | " + " | ".join(f"K={k}" for k in steps) + " |")
  print("|---|" + "---|" * len(steps))
  for v in names:
    print(f"| {v} | " + " | ".join(
        "tie" if np.isnan(results[v][str(k)]["table_cifar10"]["mean"]) else
        f"{results[v][str(k)]['table_imagenet16']['mean']:.2f} / "
        f"{results[v][str(k)]['table_cifar10']['mean']:.2f}" for k in steps) + " |")
  print("(tie: uniform logits name no cell)")
  print("\nfixed-arch: the meta-learned prior adapted with the architecture frozen (inner "
        "architecture step 0), an adaptation-time ablation; "
        + ("maml: meta-trained with the architecture frozen." if a.maml else
           "no MAML baseline meta-trained with a fixed architecture (pass --maml PATH)."))
  print(f"untrained: step sizes are the config's initial ones; wall time {total:.0f} s in all "
        "(with data loading and compiling)")
  if a.out:
    atomic_write(a.out, dumps({"prior": a.prior, "maml": a.maml, "seeds": seeds, "tasks_per_seed": a.tasks,
                               "steps": steps, "results": results, "eval_seconds": wall,
                               "seconds": total, "learned_step_sizes": lrs,
                               "accuracy_per_task": {v: {str(k): [x.tolist() for x in acc[v][k]]
                                                         for k in steps} for v in names}}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
