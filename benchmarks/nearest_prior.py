"""Does prior=nearest pick the prior that adapts best? (issue 15: nearest source against the others)

  python scripts/make_omniglot_npz.py --split evaluation --chars 20
  nice -n 5 python benchmarks/nearest_prior.py --out runs/nearest_prior.json

For each target dataset, every shipped prior (or --priors) is ranked by task distance
(similarity.nearest_prior, what `adapt prior=nearest` runs) and adapted to it by `base-nas adapt`
with the README demo's settings (200 steps of 32 images at 16 px, --steps); the supernet's test
accuracy after adaptation (posterior predictive) says which prior was the better start. Reported
per target: the distances, the accuracies, whether the nearest prior was the best, and its gain
over the mean of the others (what a random pick would get on average).

Targets (all offline; --targets to choose): scikit-learn's digits, MNIST and CIFAR-10 (5,000 training
images each, their test splits scored), 20 Omniglot evaluation characters (its 400 drawings,
a fifth held out for the score).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, "..", "shared", "data", "images")
TARGETS = {
    "digits": dict(spec="builtin:digits"),
    "mnist": dict(spec=f"npz:{os.path.join(DATA, 'mnist_uint8.npz')}", limit=5000),
    "cifar10": dict(spec=f"zip:{os.path.join(DATA, 'cifar10_jpeg.zip')}", limit=5000),
    "omniglot-eval-20": dict(spec=f"npz:{os.path.join(ROOT, 'runs', 'data')}"
                                  "/omniglot_evaluation_20_16.npz"),
}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--targets", default=",".join(TARGETS))
  p.add_argument("--priors", default=None, help="comma-separated shipped names (default: all)")
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--workdir", default=os.path.join(ROOT, "runs", "nearest_prior"))
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  from base_nas.config import Config
  from base_nas.configs import adapt_config
  from base_nas.errors import UserError
  from base_nas.meta import prior as prior_lib
  from base_nas.meta.adapt import run_adapt
  from base_nas.predict import similarity
  from base_nas.runs import atomic_write, dumps
  t0 = time.time()
  shipped = prior_lib.shipped_priors()
  names = a.priors.split(",") if a.priors else sorted(shipped)
  missing = [n for n in names if n not in shipped]
  if missing or len(names) < 2:
    sys.exit(f"nearest_prior: need two or more shipped priors (have {sorted(shipped)}; "
             f"unknown: {missing})")
  targets = [t for t in a.targets.split(",") if t]
  unknown = [t for t in targets if t not in TARGETS]
  if unknown:
    sys.exit(f"nearest_prior: unknown target {unknown[0]!r} (choose from {', '.join(TARGETS)})")
  rows = {}
  for t in targets:
    spec, limit = TARGETS[t]["spec"], TARGETS[t].get("limit", 0)
    try:
      pick = similarity.nearest_prior(spec, limit=limit, progress=False,
                                      priors={n: shipped[n] for n in names})
    except UserError as e:
      sys.exit(f"nearest_prior: {t}: {e}")
    dist = {r["name"].split(":", 1)[1]: r["distance"] for r in pick["ranking"]}
    acc, secs = {}, {}
    for n in names:
      cfg = Config(adapt_config(prior=n, data=dict(spec=spec, image_size=16, limit=limit),
                                adapt=dict(steps=a.steps, batch_size=32, eval_every=50,
                                           eval_batches=4, top_k=3),
                                run=dict(progress=False, plots=False)))
      s = run_adapt(cfg, os.path.join(a.workdir, t, n), progress=False)
      acc[n], secs[n] = s["test_accuracy"], s["adapt_seconds"]
    best = max(acc, key=acc.get)
    others = [acc[n] for n in names if n != pick["name"]]
    rows[t] = {"spec": spec, "distances": dist, "accuracy": acc, "adapt_seconds": secs,
               "nearest": pick["name"], "best": best, "nearest_is_best": pick["name"] == best,
               "gain_over_others": acc[pick["name"]] - float(np.mean(others)),
               "pick_seconds": pick["seconds"]}
    print(f"{t}: nearest {pick['name']} ("
          + ", ".join(f"{n} d={dist[n]:.3f} acc={100 * acc[n]:.2f}%" for n in names) + ")",
          flush=True)
  print("\n| target | " + " | ".join(f"{n}: distance / accuracy" for n in names)
        + " | nearest | best | nearest minus the others |")
  print("|---|" + "---|" * len(names) + "---|---|---|")
  for t, r in rows.items():
    print(f"| {t} | " + " | ".join(f"{r['distances'][n]:.3f} / {100 * r['accuracy'][n]:.2f}"
                                   for n in names)
          + f" | {r['nearest']} | {r['best']} | {100 * r['gain_over_others']:+.2f} |")
  hits = sum(r["nearest_is_best"] for r in rows.values())
  print(f"\nnearest = best on {hits} of {len(rows)} targets; mean gain over the others "
        f"{100 * np.mean([r['gain_over_others'] for r in rows.values()]):+.2f} points; "
        f"wall time {time.time() - t0:.0f} s")
  if a.out:
    atomic_write(a.out, dumps({"priors": names, "steps": a.steps, "targets": rows,
                               "seconds": time.time() - t0}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
