"""Trains the curve model shipped in base_nas/resources/curve_model.npz.

  .venv/bin/python scripts/make_curve_model.py [--data-dir DIR] [--out PATH]

It learns from the six curve sets of Baker et al. 2017 (MITAutoML/accelerating_nas, MIT) and
from half of the 200 NAS-Bench-201 curves (SamuelMintal/Masters_Thesis, Apache-2.0), the half
:func:`base_nas.predict.curve_data.split_rows` draws with seed 0. The other half is held out:
its row numbers go into the model's ``info["held_out_rows"]``, and benchmarks/curves.py
evaluates early stopping on those rows only, so that table measures runs the model never saw.

Why NB201 curves at all: a model of the Baker sets alone, calibrated by leaving one of them out,
killed 96-97% of the best-decile NB201 runs in simulated early stopping. About 80 s on 2 CPU
cores.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from base_nas.predict import curve_data, curves  # noqa: E402

NB201 = "nb201_200archs_curves"
SPLIT_SEED = 0
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "base_nas", "resources",
                   "curve_model.npz")


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=None, help="folder of the curve CSVs")
  p.add_argument("--out", default=OUT)
  p.add_argument("--steps", type=int, default=3000)
  args = p.parse_args(argv)
  sets = curve_data.load_curve_sets(args.data_dir)
  train = {k: s.curves for k, s in sets.items() if k != NB201}
  held_out = {}
  if NB201 in sets:
    fit_rows, held_rows = curve_data.split_rows(len(sets[NB201].curves), seed=SPLIT_SEED)
    train[NB201 + "_train"] = sets[NB201].curves[fit_rows]
    held_out[NB201] = [int(i) for i in held_rows]
  sources = sorted({s.source for s in sets.values()})
  model = curves.CurveEnsemble.train(train, steps=args.steps, calibrate=True, info=dict(
      sources=sources, made=datetime.date.today().isoformat(),
      script="scripts/make_curve_model.py", held_out_rows=held_out, split_seed=SPLIT_SEED))
  model.save(args.out)
  info = {k: v for k, v in model.info.items() if k != "held_out_rows"}
  print(f"wrote {os.path.normpath(args.out)} ({os.path.getsize(args.out) / 1024:.0f} KiB): {info}")


if __name__ == "__main__":
  main()
