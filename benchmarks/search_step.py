"""Compile time, step time and peak memory of the search step (issue: fast search steps).

  python benchmarks/search_step.py              # every case below, each in fresh processes
  python benchmarks/search_step.py --cases small-darts,darts --steps 10
  python benchmarks/search_step.py --case small-darts   # one process, prints JSON
  python benchmarks/search_step.py --cases small-darts --xla-defaults   # XLA's default CPU emitters

For each case: the time from process start to the end of the first step with an empty cache
("cold": everything is traced and compiled) and, in a second process, with the cache the first
one filled ("warm": what a repeated or resumed ``base-nas`` run sees, since the command line caches
traced and compiled programs on disk, see ``base_nas/compile_cache.py``); the median time of the
next ``--steps`` steps; the peak resident memory of the cold process; and the process's CPU time
per step over wall time per step (below 2 on this 2-core machine means a core idled or was lost
to the host).

The step is one full search step of the method: first-order DARTS and GDAS take one architecture
step on a validation batch plus one weight step on a training batch; second-order DARTS adds the
virtual step and the finite-difference Hessian-vector product. ``--xla-defaults`` compiles the
supernet with XLA's default options instead of ``base_nas.nn.supernet.compiler_options()`` (on
CPU, the older fusion emitters), to measure what those options buy. Figures: docs/benchmarks.md.
Reference (PyTorch DARTS, first order, this 2-core CPU): 6.86 s/step at C=16, 8 cells, batch 16,
32x32 (2.9 GiB); 1.60 s at C=8, 5 cells, batch 32, 16x16 (0.75 GiB).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

T0 = time.time()

CASES = {
    # name: (space, method, order, channels, layers, batch, image size)
    "small-darts": ("darts", "darts", 1, 8, 5, 32, 16),
    "small-gdas": ("darts", "gdas", 1, 8, 5, 32, 16),
    "small-darts2": ("darts", "darts", 2, 8, 5, 32, 16),
    "darts": ("darts", "darts", 1, 16, 8, 16, 32),
    "gdas": ("darts", "gdas", 1, 16, 8, 16, 32),
    "darts2": ("darts", "darts", 2, 16, 8, 16, 32),
    "nb201-darts": ("nb201", "darts", 1, 16, 5, 64, 32),
    "nb201-gdas": ("nb201", "gdas", 1, 16, 5, 64, 32),
}
REFERENCE = {"darts": 6.86, "small-darts": 1.60}


def run_case(name: str, steps: int, remat: bool, cache_dir: str | None = None) -> dict:
  import jax
  if cache_dir:
    from base_nas import compile_cache
    compile_cache.enable(cache_dir, min_compile_secs=0.0)
  import jax.numpy as jnp
  import numpy as np

  from base_nas import spaces
  from base_nas.nn.supernet import Supernet
  from base_nas.search import get_method
  from base_nas.search.core import OptimConfig, Searcher

  space_name, method_name, order, c, layers, batch, size = CASES[name]
  method = get_method(method_name)
  space = spaces.get_space(space_name)
  model = Supernet(space_name, 10, c, layers, hard=method.hard, remat=remat)
  searcher = Searcher(model, space, method.relaxation, OptimConfig(), total_steps=1000)
  rng = np.random.default_rng(0)

  def batch_():
    return {"image": jnp.asarray(rng.normal(size=(batch, size, size, 3)), jnp.float32),
            "label": jnp.asarray(rng.integers(0, 10, batch), jnp.int32)}

  state = searcher.init(jax.random.PRNGKey(0), (size, size, 3))
  tau = jnp.float32(method.tau[1])
  times, cpu = [], 0.0
  for i in range(steps + 1):
    train, val = batch_(), batch_()
    t, c0 = time.time(), time.process_time()
    state, metrics = method.step(searcher, state, train, val, jax.random.PRNGKey(i), tau,
                                 order=order)
    jax.block_until_ready((state, metrics))
    if i == 0:
      first = time.time() - T0
    else:
      times.append(time.time() - t)
      cpu += time.process_time() - c0
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
  median = float(np.median(times)) if times else float("nan")
  return dict(case=name, device=jax.devices()[0].platform, first_step_s=first,
              median_step_s=median, peak_gib=peak, images_per_s=2 * batch / median,
              cpu_per_wall=cpu / sum(times) if times else float("nan"))


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--case", choices=sorted(CASES))
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to run")
  p.add_argument("--remat", type=int, default=1, help="recompute edge intermediates (1) or not (0)")
  p.add_argument("--cache-dir", help="compilation and trace cache to use (--case only)")
  p.add_argument("--xla-defaults", action="store_true",
                 help="compile with XLA's default options (sets BASE_NAS_XLA_DEFAULTS=1)")
  args = p.parse_args()
  if args.xla_defaults:
    os.environ["BASE_NAS_XLA_DEFAULTS"] = "1"  # read by this process and inherited by the cases
  if args.case:
    print(json.dumps(run_case(args.case, args.steps, bool(args.remat), args.cache_dir)))
    return
  print(f"{'case':14s} {'first step cold / warm (s)':>27s} {'median step (s)':>16s} "
        f"{'peak (GiB)':>11s} {'img/s':>7s} {'cpu/wall':>8s}  vs PyTorch reference", flush=True)
  for name in args.cases.split(","):
    with tempfile.TemporaryDirectory() as cache:
      runs = []
      for steps in (args.steps, 0):  # cold (fills the cache), then warm
        out = subprocess.run([sys.executable, __file__, "--case", name, "--steps", str(steps),
                              "--remat", str(args.remat), "--cache-dir", cache],
                             capture_output=True, text=True)
        if out.returncode:
          print(f"{name:14s} failed: {out.stderr.strip().splitlines()[-1:]}")
          break
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if len(runs) < 2:
      continue
    r, warm = runs
    ref = REFERENCE.get(name)
    speedup = f"{ref / r['median_step_s']:.2f}x faster" if ref else ""
    first = f"{r['first_step_s']:.1f} / {warm['first_step_s']:.1f}"
    print(f"{name:14s} {first:>27s} {r['median_step_s']:16.3f} {r['peak_gib']:11.2f} "
          f"{r['images_per_s']:7.0f} {r['cpu_per_wall']:8.2f}  {speedup}", flush=True)


if __name__ == "__main__":
  main()
