"""Early stopping on real `base-nas train` runs (issue 15): the training it saves, the good runs it kills.

  nice -n 5 python benchmarks/early_stop_runs.py --cells 12 --epochs 20 --out runs/early_stop_runs.json

1. --cells NAS-Bench-201 cells drawn at random (seeded) from the packaged table, each trained from
   scratch by `base-nas train` on scikit-learn's bundled digits (C=8, one cell a stage, 16 px,
   --epochs epochs, batch 64, no cutout) to the end. Their test-accuracy curves (metrics.jsonl,
   one value an epoch) are the ground truth. A finished run is reused on a rerun.
2. The rule replays on those curves as docs/curves.md table 3 does on the NB201 curves: the runs
   come one after another in --orders random orders; the first trains to the end, every later one
   stops at the first epoch where the shipped curve model says P(final > best final so far) <
   threshold (predict.early_stop.EarlyStopping.decide, what the training loop calls); a stopped
   run never becomes the best. Reported per threshold: epochs saved, best-decile runs killed (the
   ceil(N/10) runs with the highest true final accuracy), how often the best run trained to the end.
3. A live check: the run the replay of the first order stops earliest is trained again with
   early_stop enabled (best = the best final before it in that order), and the epoch the loop
   stopped at is compared with the replay's.

Prints markdown tables and writes --out as JSON (a temporary file renamed into place).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = '''
from base_nas.configs import train_config

def get_config():
  return train_config(
      space="nb201", data=dict(spec="builtin:digits", image_size=16),
      model=dict(channels=8, layers=1, auxiliary=False),
      train=dict(epochs={epochs}, batch_size=64, cutout=0),
      run=dict(progress=False, plots=False),
  )
'''


def _curve(workdir: str) -> list[float]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return [float(r["test/accuracy"]) for r in rows if r.get("test/accuracy") is not None]


def train_runs(cells: list[str], epochs: int, work: str) -> tuple[list[list[float]], float]:
  """Each cell trained to the end (reusing finished runs): curves and the seconds spent."""
  from base_nas import cli
  exp = os.path.join(work, "train_digits.py")
  os.makedirs(work, exist_ok=True)
  with open(exp, "w") as f:
    f.write(CONFIG.format(epochs=epochs))
  curves, spent = [], 0.0
  for i, cell in enumerate(cells):
    wd = os.path.join(work, f"cell_{i:02d}")
    done = os.path.exists(os.path.join(wd, "summary.json"))
    t = time.time()
    if not done and cli.main(["train", exp, f"genotype={cell}", "--workdir", wd]) != 0:
      sys.exit(f"early_stop_runs: training {cell} failed")
    spent += time.time() - t
    curves.append(_curve(wd))
    if len(curves[-1]) != epochs:
      sys.exit(f"early_stop_runs: {wd} holds {len(curves[-1])} epochs, not {epochs}; delete it")
    print(f"cell {i} {cell}: final {100 * curves[-1][-1]:.2f}%"
          + (" (reused)" if done else f" ({time.time() - t:.0f} s)"), flush=True)
  return curves, spent


def replay(curves, order, rule_for) -> tuple[list[int], list[bool]]:
  """Epochs trained and whether stopped, per run, for one order of the runs."""
  n_epochs = len(curves[0])
  trained, stopped = [0] * len(curves), [False] * len(curves)
  best = None
  for r in order:
    c = curves[r]
    trained[r] = n_epochs
    if best is not None:
      rule = rule_for(best)
      for e in range(1, n_epochs):
        d = rule.decide(c[:e])
        if d is not None and d.stop:
          trained[r], stopped[r] = e, True
          break
    if not stopped[r]:
      best = c[-1] if best is None else max(best, c[-1])
  return trained, stopped


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cells", type=int, default=12)
  p.add_argument("--epochs", type=int, default=20)
  p.add_argument("--orders", type=int, default=50)
  p.add_argument("--thresholds", default="0.01,0.05,0.1")
  p.add_argument("--min-fraction", type=float, default=0.1,
                 help="early_stop.min_fraction: decide only past this part of the budget")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--workdir", default=os.path.join(ROOT, "runs", "early_stop_runs"))
  p.add_argument("--no-live", action="store_true", help="skip the live check (step 3)")
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  if a.cells < 2 or a.epochs < 4:
    sys.exit("early_stop_runs: need --cells >= 2 and --epochs >= 4")
  from base_nas import cli
  from base_nas.predict.curves import CurveEnsemble
  from base_nas.predict.early_stop import EarlyStopping
  from base_nas.predict.tables import load_table
  from base_nas.runs import atomic_write, dumps
  t0 = time.time()
  table = load_table("nb201")
  rng = np.random.default_rng(a.seed)
  cells = [table.genotypes()[i].to_string() for i in rng.choice(len(table), a.cells,
                                                                  replace=False)]
  curves, train_s = train_runs(cells, a.epochs, a.workdir)
  finals = np.asarray([c[-1] for c in curves])
  top = set(np.argsort(-finals, kind="stable")[:math.ceil(a.cells / 10)].tolist())
  best_run = int(np.argmax(finals))
  model = CurveEnsemble.load()
  orders = [np.random.default_rng(a.seed + 1 + k).permutation(a.cells).tolist()
            for k in range(a.orders)]
  results = {}
  for th in [float(x) for x in a.thresholds.split(",") if x.strip()]:
    rule_for = lambda best, th=th: EarlyStopping(best, a.epochs, "test/accuracy", threshold=th,
                                                 min_fraction=a.min_fraction, model=model)
    saved, killed, kept = [], [], []
    for order in orders:
      trained, stopped = replay(curves, order, rule_for)
      saved.append(1 - sum(trained) / (a.cells * a.epochs))
      killed.append(np.mean([stopped[r] for r in top]))
      kept.append(not stopped[best_run])
    results[str(th)] = {"epochs_saved": float(np.mean(saved)),
                        "best_decile_killed": float(np.mean(killed)),
                        "best_run_kept": float(np.mean(kept))}
  print(f"\n{a.cells} NB201 cells trained {a.epochs} epochs each on the digits by `base-nas "
        f"train` ({train_s:.0f} s of training); final test accuracy {100 * finals.min():.1f}-"
        f"{100 * finals.max():.1f}%, median {100 * np.median(finals):.1f}%; replayed in "
        f"{a.orders} orders, best decile = the top {len(top)}, min_fraction {a.min_fraction}\n")
  print("| threshold | epochs saved | best-decile runs killed | best run kept |")
  print("|---:|---:|---:|---:|")
  for th, r in results.items():
    print(f"| {th} | {100 * r['epochs_saved']:.1f}% | {100 * r['best_decile_killed']:.1f}% | "
          f"{100 * r['best_run_kept']:.0f}% |")

  live = None
  if not a.no_live:
    th = float(a.thresholds.split(",")[-1])
    trained, stopped = replay(curves, orders[0], lambda b: EarlyStopping(
        b, a.epochs, "test/accuracy", threshold=th, min_fraction=a.min_fraction, model=model))
    candidates = [r for r in orders[0] if stopped[r]]
    if candidates:
      r = min(candidates, key=lambda r: trained[r])
      before = orders[0][:orders[0].index(r)]
      best = max(curves[q][-1] for q in before if not stopped[q])
      wd = os.path.join(a.workdir, f"live_{r:02d}")
      exp = os.path.join(a.workdir, "train_digits.py")
      code = cli.main(["train", exp, f"genotype={cells[r]}", "early_stop.enabled=true",
                       f"early_stop.best={best}", f"early_stop.threshold={th}",
                       f"early_stop.min_fraction={a.min_fraction}",
                       "--workdir", wd])
      with open(os.path.join(wd, "summary.json")) as f:
        es = json.load(f).get("early_stop", {})
      live = {"run": r, "cell": cells[r], "best": best, "threshold": th, "exit": code,
              "replay_epochs": trained[r], "live_epochs": es.get("epochs_run"),
              "reason": es.get("reason")}
      print(f"\nlive check (threshold {th}): cell {r} stopped by the training loop after "
            f"{live['live_epochs']} epochs, the replay after {live['replay_epochs']}: "
            f"{live['reason']}")
    else:
      print(f"\nlive check skipped: no run stops in the first order at threshold {th}")
  total = time.time() - t0
  print(f"wall time {total:.0f} s")
  if a.out:
    atomic_write(a.out, dumps({"cells": cells, "epochs": a.epochs, "curves": curves,
                               "results": results, "live": live, "orders": a.orders,
                               "min_fraction": a.min_fraction,
                               "train_seconds": train_s, "seconds": total}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
