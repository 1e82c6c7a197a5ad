"""Compile time, meta-step time and peak memory of BASE meta-training (issue: BASE itself).

  python benchmarks/meta_step.py                          # every case, K = 1, 2, 5, each order
  python benchmarks/meta_step.py --cases nb201 --ks 1,5 --orders first,exact --steps 5
  python benchmarks/meta_step.py --case nb201 --k 2 --order fd   # one process, prints JSON

A case is the default CPU meta-training config of a space (``base_nas.configs.meta_config``):
4 tasks a meta-step, 10-way, 5 support and 5 query images a class, 16x16 images; NAS-Bench-201
with C=8 and 1 cell per stage, DARTS with C=8 and 3 cells. For each case, K and meta-gradient
order: the time from process start to the end of the first meta-step with an empty cache
("cold") and, in a second process, with the cache the first one filled ("warm", what a resumed
``base-nas meta-train`` sees); the compile time (the cold first call less one meta-step: tracing,
lowering and XLA); the median of the next ``--steps`` meta-steps; the cold process's
peak resident memory; and the ratio of the median meta-step to the time of the (K+1) x tasks
supernet gradients (on one task's support batch) it contains. Targets (the issue): cold <= 30 s
and warm <= 10 s; compile at K=5 within 1.2x of K=1; first order <= 1.3x and exact <= 4x the
gradient count. On a GPU the same script measures the GPU path.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

T0 = time.time()
CASES = {"nb201": dict(space="nb201", model=dict(channels=8, layers=1)),
         "darts": dict(space="darts", model=dict(channels=8, layers=3))}


def run_case(case: str, k: int, order: str, steps: int, cache_dir: str | None) -> dict:
  import jax
  if cache_dir:
    from base_nas import compile_cache
    compile_cache.enable(cache_dir, min_compile_secs=0.0)
  import jax.numpy as jnp
  import numpy as np

  from base_nas import spaces
  from base_nas.config import Config
  from base_nas.configs import meta_config
  from base_nas.meta.learner import MetaLearner
  from base_nas.meta.train import build_model, inner_config, outer_config

  cfg = Config(meta_config(**CASES[case], meta=dict(inner_steps=k, order=order)))
  t, s = cfg.meta.tasks_per_step, cfg.tasks.image_sizes[0]
  way, n_sup, n_q = cfg.tasks.way, cfg.tasks.way * cfg.tasks.shots, cfg.tasks.way * cfg.tasks.queries
  model = build_model(cfg, way)
  learner = MetaLearner(model, spaces.get_space(cfg.space), cfg.meta.relaxation,
                        inner_config(cfg.meta), outer_config(cfg.meta), seed=0)
  rng = np.random.default_rng(0)
  batch = lambda n: {"image": rng.normal(size=(t, n, s, s, 3)).astype(np.float32),
                     "label": np.tile(np.arange(n, dtype=np.int32) % way, (t, 1))}
  tasks = {"support": batch(n_sup), "query": batch(n_q), "id": np.arange(t, dtype=np.int32)}
  tau = jnp.float32(1.0)
  state = learner.init(jax.random.PRNGKey(0), (s, s, 3))
  jax.block_until_ready(state)
  t_call = time.time()
  state, m = learner.meta_step(state, tasks, tau)
  jax.block_until_ready(m)
  first, first_call = time.time() - T0, time.time() - t_call
  times = []
  for _ in range(steps):
    t1 = time.time()
    state, m = learner.meta_step(state, tasks, tau)
    jax.block_until_ready(m)
    times.append(time.time() - t1)
  # One supernet gradient on one task's support batch, as the inner loop computes it.
  obj = learner.objective
  prior = {"alphas": state.theta["alphas"], "params": state.theta["params"]}
  one = {"image": jnp.asarray(tasks["support"]["image"][0]),
         "label": jnp.asarray(tasks["support"]["label"][0])}
  grad = jax.jit(lambda st, key: jax.grad(lambda x: obj.loss(x, prior, one, key, tau)[0])(st),
                 compiler_options=learner.meta_grads._options
                 if hasattr(learner.meta_grads, "_options") else None)
  jax.block_until_ready(grad(prior, jax.random.PRNGKey(1)))
  # Ten calls or more: with three, the median moved by 20-40% between processes, and with it
  # every ratio.
  gtimes = []
  for i in range(max(3 * steps, 10)):
    t1 = time.time()
    jax.block_until_ready(grad(prior, jax.random.PRNGKey(i)))
    gtimes.append(time.time() - t1)
  step, g = statistics.median(times), statistics.median(gtimes)
  # What the first call spends on tracing and compiling: its time less one step's.
  return {"case": case, "k": k, "order": order, "first_step_s": first, "step_s": step,
          "compile_s": first_call - step,
          "grad_s": g, "ratio": step / ((k + 1) * t * g),
          "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
          "backend": jax.default_backend(), "device": str(jax.devices()[0])}


def _worker(case, k, order, steps, cache_dir):
  cmd = [sys.executable, __file__, "--case", case, "--k", str(k), "--order", order,
         "--steps", str(steps), "--cache-dir", cache_dir]
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if out.returncode:
    raise SystemExit(f"{case} K={k} {order} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cases", default="nb201,darts")
  p.add_argument("--ks", default="1,2,5")
  p.add_argument("--orders", default="first,fd,exact")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--case")
  p.add_argument("--k", type=int)
  p.add_argument("--order")
  p.add_argument("--cache-dir")
  a = p.parse_args()
  if a.case:
    print(json.dumps(run_case(a.case, a.k, a.order, a.steps, a.cache_dir)))
    return
  print("case   K order  cold_s  warm_s  compile_s  step_s  grad_s  step/((K+1)T grads)  peak_GiB")
  for case in a.cases.split(","):
    for order in a.orders.split(","):
      for k in (int(x) for x in a.ks.split(",")):
        with tempfile.TemporaryDirectory() as cache:
          cold = _worker(case, k, order, a.steps, cache)
          warm = _worker(case, k, order, 1, cache)
        print(f"{case:6s} {k} {order:5s} {cold['first_step_s']:7.1f} {warm['first_step_s']:7.1f} "
              f"{cold['compile_s']:10.1f} {cold['step_s']:7.2f} {cold['grad_s']:7.3f} {cold['ratio']:12.2f}"
              f"          {cold['peak_gib']:6.2f}", flush=True)
  print(f"backend: {cold['backend']} ({cold['device']})")


if __name__ == "__main__":
  main()
