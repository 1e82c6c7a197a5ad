"""Leave one task out on the tabular benchmarks: transfer methods against searches from scratch.

  python benchmarks/transfer_tables.py [--spaces tnb101,nb201] [--seeds 0,1,2,3,4]
                                       [--landmarks 10] [--candidates 10] [--out FILE.json]

For every task of TransNAS-Bench-101 micro (7) and NAS-Bench-201 (CIFAR-10, CIFAR-100,
ImageNet16-120 test accuracy), the task is held out and the methods below pick a cell for it;
the packaged tables score the pick. Budget: every method gets the same number of table look-ups
(one look-up stands for training one cell), ``landmarks + candidates``.

- value-net: the value network (base_nas/predict/value_net.py) trained on the other tasks'
  tables, described to by the held-out task's landmark cells (``--landmarks`` look-ups, see
  base_nas/predict/landmarks.py); gradient-ascent inference proposes cells, the best
  ``--candidates`` are looked up, and the best cell looked up (landmarks included) is returned.
  Its Spearman and Kendall correlation on all cells of the held-out task are reported too.
- value-net top-1: the network's single best proposal, without the candidate look-ups.
- best-of-sources: the cell with the best mean standardised value on the other tasks (no
  look-up on the held-out task: plain transfer of the incumbent).
- random search and regularized evolution (base_nas/search/tabular.py) with the same budget.

Reported per task (mean over seeds): the true value of the pick, its percentile among all cells,
the regret to the best cell, and the CPU seconds each method used (process time: fitting and
inference for the value network; the searches' own bookkeeping, look-ups being free here).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import time

import numpy as np
from scipy import stats

from base_nas import spaces
from base_nas.predict import landmarks as landmarks_lib
from base_nas.predict import value_net
from base_nas.predict.tables import load_table
from base_nas.search import tabular

NB201_TASKS = ("cifar10", "cifar100", "imagenet16")
METHODS = ("value-net", "value-net top-1", "best-of-sources", "random search",
           "regularized evolution")


def _tasks(table) -> tuple[str, ...]:
  return NB201_TASKS if table.space == "nb201" else tuple(table.tasks)


def _score(values: np.ndarray, row: int) -> dict:
  v = float(values[row])
  finite = values[np.isfinite(values)]
  return {"value": v, "percentile": 100.0 * float(np.mean(finite <= v)),
          "regret": float(finite.max() - v), "row": int(row)}


def run_task(table, tasks, held_out: str, seed: int, n_landmarks: int, n_candidates: int,
             config: value_net.ValueNetConfig) -> dict:
  encodings = np.asarray(table.encodings())
  values = np.stack([np.asarray(table.values(t), np.float64) for t in tasks])
  h = tasks.index(held_out)
  target, sources = values[h], np.delete(values, h, axis=0)
  marks = landmarks_lib.choose_landmarks(encodings, n_landmarks, seed)
  budget = n_landmarks + n_candidates
  out: dict = {}

  t = time.process_time()
  feats, targets = landmarks_lib.task_records(sources, marks)
  net = value_net.fit(feats, encodings, targets, num_ops=spaces.get_space(table.space).num_ops, space=table.space,
                      config=dataclasses.replace(config, seed=seed))
  f_h, _, _ = landmarks_lib.standardise(target[marks])
  ranked = value_net.infer(net, f_h, seed=seed)
  row_of = {tuple(int(o) for o in e): r for r, e in enumerate(encodings)}
  proposals = [row_of[tuple(e)] for e, _ in ranked if tuple(e) in row_of]
  seconds = time.process_time() - t
  looked = list(marks) + [r for r in proposals if r not in set(marks)][:n_candidates]
  best_looked = max(looked, key=lambda r: target[r] if np.isfinite(target[r]) else -np.inf)
  pred = np.asarray(net.predict(f_h, encodings))
  ok = np.isfinite(target)
  out["value-net"] = {**_score(target, best_looked), "lookups": len(looked), "cpu_s": seconds,
                      "spearman": float(stats.spearmanr(pred[ok], target[ok])[0]),
                      "kendall": float(stats.kendalltau(pred[ok], target[ok])[0])}
  out["value-net top-1"] = {**_score(target, proposals[0]), "lookups": n_landmarks,
                            "cpu_s": seconds}

  t = time.process_time()
  z = np.stack([(v - np.nanmean(v)) / np.nanstd(v) for v in sources])
  incumbent = int(np.nanargmax(np.nanmean(z, axis=0)))
  out["best-of-sources"] = {**_score(target, incumbent), "lookups": 0,
                            "cpu_s": time.process_time() - t}

  for name, search in (("random search", lambda: tabular.random_search(
      target, encodings, budget, seed=seed)), ("regularized evolution", lambda: (
      tabular.regularized_evolution(target, encodings, spaces.get_space(table.space).num_ops, budget, seed=seed)))):
    t = time.process_time()
    r = search()
    out[name] = {**_score(target, r.row), "lookups": r.lookups, "cpu_s": time.process_time() - t}
  return out


def _table(space: str, tasks, results: dict) -> str:
  lines = [f"\n### {space}: leave one task out, mean over {len(next(iter(results.values())))} "
           "seeds (value / percentile / regret)\n",
           "| held-out task | best | " + " | ".join(METHODS) + " | value-net Spearman / Kendall |",
           "|" + "---|" * (len(METHODS) + 3)]
  for task in tasks:
    runs = results[task]
    cells = []
    for m in METHODS:
      v, p, g = (np.mean([r[m][k] for r in runs]) for k in ("value", "percentile", "regret"))
      cells.append(f"{v:.3f} / {p:.1f} / {g:.3f}")
    rho = np.mean([r["value-net"]["spearman"] for r in runs])
    tau = np.mean([r["value-net"]["kendall"] for r in runs])
    best = runs[0]["best"]
    lines.append(f"| {task} | {best:.3f} | " + " | ".join(cells) + f" | {rho:.3f} / {tau:.3f} |")
  mean = {m: np.mean([r[m]["percentile"] for t in tasks for r in results[t]]) for m in METHODS}
  lines.append("| mean percentile | | " + " | ".join(f"{mean[m]:.1f}" for m in METHODS) + " | |")
  lookups = {m: np.mean([r[m]["lookups"] for t in tasks for r in results[t]]) for m in METHODS}
  cpu = {m: np.mean([r[m]["cpu_s"] for t in tasks for r in results[t]]) for m in METHODS}
  lines.append("| look-ups, CPU s | | " + " | ".join(f"{lookups[m]:.0f}, {cpu[m]:.2f}"
                                                       for m in METHODS) + " | |")
  return "\n".join(lines)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--spaces", default="tnb101,nb201")
  p.add_argument("--seeds", default="0,1,2,3,4")
  p.add_argument("--landmarks", type=int, default=10)
  p.add_argument("--candidates", type=int, default=10)
  p.add_argument("--out", default=None, help="write every run as JSON here")
  a = p.parse_args()
  seeds = [int(s) for s in a.seeds.split(",")]
  config = value_net.ValueNetConfig()
  print(f"# transfer on tabular benchmarks, {datetime.date.today()}: {a.landmarks} landmarks + "
        f"{a.candidates} candidates = {a.landmarks + a.candidates} look-ups per method, "
        f"seeds {seeds}; value net {config}")
  everything = {}
  for space in a.spaces.split(","):
    table = load_table(space)
    tasks = _tasks(table)
    results = {}
    for task in tasks:
      runs = []
      for seed in seeds:
        r = run_task(table, tasks, task, seed, a.landmarks, a.candidates, config)
        r["best"] = float(np.nanmax(table.values(task)))
        runs.append(r)
        print(f"  {space} {task} seed {seed}: " + ", ".join(
            f"{m} {r[m]['percentile']:.1f}" for m in METHODS), flush=True)
      results[task] = runs
    everything[space] = results
    print(_table(space, tasks, results), flush=True)
  if a.out:
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
      json.dump(everything, f, indent=1)
    os.replace(tmp, a.out)


if __name__ == "__main__":
  main()
