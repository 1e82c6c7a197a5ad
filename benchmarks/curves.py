"""Learning-curve extrapolation across datasets, and early stopping built on it.

  .venv/bin/python benchmarks/curves.py [--data-dir DIR] [--steps 3000] [--perms 50]

Prints three markdown tables:

1. Leave one curve set out: for each of the seven sets in ``--data-dir`` (default
   ``/work/shared/data/nas/learning_curves``), an ensemble is trained on the other six and
   predicts the final accuracy of every curve of the held-out set from its first 10%, 25% and
   50% of epochs; mean absolute error (accuracy points, in [0, 1] units x 100) against the last
   value and a power-law fit. The row "mean" averages the seven sets equally.
2. The shipped model (the six Baker et al. sets and half of the NB201 curves) on the other half,
   the 100 NB201 curves its ``info["held_out_rows"]`` names: the same MAE.
3. Early stopping on those 100 held-out NB201 curves (200 epochs each), with the shipped model
   and, for comparison, an ensemble of the Baker sets alone trained and calibrated here the way
   scripts/make_curve_model.py trained the earlier shipped model: the runs are trained one
   after another in a random order (``--perms`` orders, averaged); the first trains to the
   end, and every later one stops at the first epoch past ``min_fraction`` where
   P(final > best final so far) < threshold. A stopped run's final accuracy is unknown, so it
   never becomes the best. Reported: the fraction of all epochs saved (training time, if every
   epoch of every cell costs the same), the fraction of best-decile runs (by true final
   accuracy) killed, and how often the best run of all is among those trained to the end. The
   point predictors (std 0) stop when their prediction is below the best.

Data: Baker et al. 2017 (MITAutoML/accelerating_nas, MIT) and NAS-Bench-201 curves via
SamuelMintal/Masters_Thesis (Apache-2.0).
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from base_nas.predict import curve_data, curves  # noqa: E402

NB201 = "nb201_200archs_curves"
FRACTIONS = (0.1, 0.25, 0.5)


def loso_table(sets, steps: int) -> list[str]:
  lines = ["| held-out set | curves | epochs | " + " | ".join(
      f"{int(f * 100)}%: last / power / ensemble" for f in FRACTIONS) + " |",
           "|---|---:|---:|" + "---|" * len(FRACTIONS)]
  totals = np.zeros((len(FRACTIONS), 3))
  for name, held in sets.items():
    t0 = time.time()
    model = curves.CurveEnsemble.train(
        {k: s.curves for k, s in sets.items() if k != name}, steps=steps)
    cells = []
    for i, f in enumerate(FRACTIONS):
      maes = [100 * curves.mean_absolute_error(p, held.curves, f)
              for p in (curves.LastValue(), curves.PowerLaw(), model)]
      totals[i] += maes
      best = int(np.argmin(maes))
      cells.append(" / ".join(f"**{m:.2f}**" if j == best else f"{m:.2f}"
                              for j, m in enumerate(maes)))
    lines.append(f"| {name} | {len(held.curves)} | {held.epochs} | " + " | ".join(cells) + " |")
    print(f"  {name}: {time.time() - t0:.0f} s", file=sys.stderr)
  mean = totals / len(sets)
  lines.append("| **mean** | | | " + " | ".join(
      " / ".join(f"{m:.2f}" for m in row) for row in mean) + " |")
  return lines


def _predictions(predictor, runs: np.ndarray, first: int):
  """Predicted (mean, std) of every run after every epoch n in [first, T): arrays (N, T)."""
  n_runs, epochs = runs.shape
  mean = np.full((n_runs, epochs), np.nan)
  std = np.full((n_runs, epochs), np.nan)
  ns = range(first, epochs)
  cut = [runs[i, :n] for n in ns for i in range(n_runs)]
  frac = [n / epochs for n in ns for _ in range(n_runs)]
  p = predictor.predict_many(cut, frac)
  mean[:, first:] = np.asarray(p.mean).reshape(len(ns), n_runs).T
  std[:, first:] = np.asarray(p.std).reshape(len(ns), n_runs).T
  return mean, std


def simulate(runs, mean, std, threshold, first, perms, seed=0):
  """Saved fraction of epochs, fraction of best-decile runs killed, P(best run kept)."""
  n_runs, epochs = runs.shape
  final = runs[:, -1]
  top = final >= np.quantile(final, 0.9)
  rng = np.random.default_rng(seed)
  saved, killed, kept_best = [], [], []
  for _ in range(perms):
    order = rng.permutation(n_runs)
    best, used, stopped = final[order[0]], epochs, np.zeros(n_runs, bool)
    for i in order[1:]:
      pred = curves.Prediction(mean[i, first:], std[i, first:])
      low = np.flatnonzero(np.asarray(pred.prob_above(best)) < threshold)
      if len(low):
        stopped[i] = True
        used += first + low[0]  # stopped after epoch first + low[0]
      else:
        used += epochs
        best = max(best, final[i])
    saved.append(1 - used / (n_runs * epochs))
    killed.append(stopped[top].mean())
    kept_best.append(not stopped[np.argmax(final)])
  return np.mean(saved), np.mean(killed), np.mean(kept_best)


def early_stop_table(runs, predictors, perms: int, min_fraction: float = 0.1) -> list[str]:
  """``predictors``: (label, predictor, thresholds); thresholds None: a point predictor."""
  epochs = runs.shape[1]
  first = max(curves.MIN_POINTS, int(np.ceil(min_fraction * epochs)))
  lines = [f"| predictor | threshold | epochs saved | best-decile runs killed | best run kept |",
           "|---|---:|---:|---:|---:|"]
  for label, predictor, thresholds in predictors:
    t0 = time.time()
    mean, std = _predictions(predictor, runs, first)
    for th in thresholds or (0.5,):  # with std 0, P(above) < 0.5 is: prediction < best
      s, k, b = simulate(runs, mean, std, th, first, perms)
      shown = f"{th:g}" if thresholds else "point: pred < best"
      lines.append(f"| {label} | {shown} | {100 * s:.1f}% | {100 * k:.1f}% | {100 * b:.0f}% |")
    print(f"  {label}: {time.time() - t0:.0f} s", file=sys.stderr)
  return lines


def held_out_table(shipped, runs) -> list[str]:
  lines = ["| predictor | " + " | ".join(f"{int(f * 100)}%" for f in FRACTIONS) + " |",
           "|---|" + "---:|" * len(FRACTIONS)]
  for label, p in (("last value", curves.LastValue()), ("power law", curves.PowerLaw()),
                   ("shipped ensemble", shipped)):
    lines.append(f"| {label} | " + " | ".join(
        f"{100 * curves.mean_absolute_error(p, runs, f):.2f}" for f in FRACTIONS) + " |")
  return lines


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=None)
  p.add_argument("--steps", type=int, default=3000, help="Adam steps per ensemble")
  p.add_argument("--perms", type=int, default=50, help="random orders of the NB201 runs")
  args = p.parse_args(argv)
  import jax
  sets = curve_data.load_curve_sets(args.data_dir)
  try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
  except OSError:
    commit = "?"
  print(f"benchmarks/curves.py {' '.join(argv or sys.argv[1:])}: "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"jax {jax.__version__}, {os.cpu_count()} CPUs\n")
  print("Mean absolute error of the predicted final accuracy (x100), leave one set out:\n")
  print("\n".join(loso_table(sets, args.steps)))
  shipped = curves.CurveEnsemble.load()
  held = shipped.info.get("held_out_rows", {}).get(NB201)
  if held is None:
    sys.exit("the shipped curve model records no held-out NB201 rows; remake it with "
             "scripts/make_curve_model.py")
  runs = sets[NB201].curves[held]
  print(f"\nThe shipped model on the {len(runs)} NB201 curves held out of its training, MAE "
        "(x100) at each observed fraction:\n")
  print("\n".join(held_out_table(shipped, runs)))
  t0 = time.time()
  baker = curves.CurveEnsemble.train({k: s.curves for k, s in sets.items() if k != NB201},
                                     steps=args.steps, calibrate=True)
  print(f"  Baker-only ensemble: {time.time() - t0:.0f} s", file=sys.stderr)
  print(f"\nEarly stopping on the {len(runs)} held-out NB201 curves of {runs.shape[1]} epochs, "
        f"min_fraction 0.1, {args.perms} random orders (std scale: shipped "
        f"{shipped.std_scale:.2f}, Baker only {baker.std_scale:.2f}):\n")
  print("\n".join(early_stop_table(runs, [
      ("ensemble, shipped (Baker + NB201 half)", shipped, (0.01, 0.05, 0.1, 0.2)),
      ("ensemble, Baker sets only", baker, (0.01, 0.05)),
      ("power law", curves.PowerLaw(), None), ("last value", curves.LastValue(), None)],
      args.perms)))


if __name__ == "__main__":
  main()
