"""Table 1 of docs/results.md: BASE adaptation from a prior against single-task searches from
scratch, NAS-Bench-201 space, CIFAR-10 images from ../shared/data, the packaged table as oracle.

  python benchmarks/base_vs_search.py --seeds 0,1,2 --methods base,darts,gdas,snas

Each run is a fresh `base-nas` process (its wall time includes tracing and compiling). For each
method and seed: the NB201 CIFAR-10 test accuracy of the returned cell and the wall time; for
the searches also the cell they had at BASE's wall time (the last epoch finished by then), which
is the equal-time comparison. BASE's top-5 cells with posterior probabilities are printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXPERIMENTS = os.path.join(HERE, "..", "experiments")
CLI = "import sys; from base_nas.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(args: list[str]) -> float:
  t = time.time()
  subprocess.run([sys.executable, "-c", CLI, *args[:2], "run.progress=false", *args[2:]], check=True,
                 stdout=subprocess.DEVNULL)
  return time.time() - t


def run_base(seed: int, prior: str, work: str) -> dict:
  wall = _run(["adapt", os.path.join(EXPERIMENTS, "base_adapt_cifar10.py"), f"prior={prior}",
               f"seed={seed}", "--workdir", work])
  s = json.load(open(os.path.join(work, "summary.json")))
  return {"cell": s["genotype"], "acc": s["top_k"][0]["nb201/cifar10_test"], "wall": wall,
          "top_k": [(e["probability"], e["nb201/cifar10_test"], e["genotype"]) for e in s["top_k"]]}


def run_search(method: str, seed: int, work: str, budget: float | None) -> dict:
  t0 = time.time()
  wall = _run(["search", os.path.join(EXPERIMENTS, "nb201_cifar10.py"), f"method={method}",
               f"seed={seed}", "--workdir", work])
  s = json.load(open(os.path.join(work, "summary.json")))
  rows = [json.loads(l) for l in open(os.path.join(work, "metrics.jsonl"))]
  rows = [r for r in rows if "nb201/cifar10_test" in r]
  at_budget = None
  if budget is not None:  # metrics carry wall-clock stamps; the process start is t0
    done = [r for r in rows if r["time"] - t0 <= budget]
    at_budget = done[-1]["nb201/cifar10_test"] if done else None
  return {"cell": s["genotype"], "acc": s["nb201/cifar10_test"], "wall": wall,
          "acc_at_base_time": at_budget}


def _fmt(xs):
  xs = [x for x in xs if x is not None]
  if not xs:
    return "no cell yet"
  return f"{np.mean(xs):.2f} +- {np.std(xs):.2f} (n={len(xs)})"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--methods", default="base,darts,gdas,snas")
  p.add_argument("--prior", default="nb201-tiny")
  p.add_argument("--out", default=None, help="write the results as JSON here")
  a = p.parse_args(argv)
  seeds = [int(s) for s in a.seeds.split(",")]
  methods = a.methods.split(",")
  if not os.path.exists(os.path.join(HERE, "..", "..", "shared", "data", "images",
                                     "cifar10_jpeg.zip")):
    print("error: ../shared/data/images/cifar10_jpeg.zip not found (this benchmark needs it)",
          file=sys.stderr)
    return 2
  os.chdir(os.path.join(HERE, ".."))  # the experiment configs name ../shared relative to the repo
  results = {m: [] for m in methods}
  with tempfile.TemporaryDirectory() as tmp:
    base_wall = None
    for seed in seeds:
      if "base" in methods:
        r = run_base(seed, a.prior, os.path.join(tmp, f"base_{seed}"))
        results["base"].append(r)
        base_wall = r["wall"]
        print(f"base seed {seed}: {r['acc']:.2f}% in {r['wall']:.0f} s  {r['cell']}", flush=True)
        for prob, acc, cell in r["top_k"]:
          print(f"    p={prob:.4f}  {acc:.2f}%  {cell}")
      for m in methods:
        if m == "base":
          continue
        r = run_search(m, seed, os.path.join(tmp, f"{m}_{seed}"), base_wall)
        results[m].append(r)
        print(f"{m} seed {seed}: {r['acc']:.2f}% in {r['wall']:.0f} s; at BASE's wall time: "
              f"{r['acc_at_base_time']}  {r['cell']}", flush=True)
  print("\n| method | NB201 CIFAR-10 test acc. of the returned cell | wall (s) | "
        "acc. at BASE's wall time |")
  print("|---|---|---|---|")
  for m, rs in results.items():
    at = "-" if m == "base" else _fmt([r["acc_at_base_time"] for r in rs])
    print(f"| {m} | {_fmt([r['acc'] for r in rs])} | {np.mean([r['wall'] for r in rs]):.0f} | "
          f"{at} |")
  if a.out:
    tmp_out = a.out + ".tmp"
    with open(tmp_out, "w") as f:
      json.dump(results, f, indent=2)
    os.replace(tmp_out, a.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
