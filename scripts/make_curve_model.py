"""Trains the curve model shipped in base_nas/resources/curve_model.npz.

  .venv/bin/python scripts/make_curve_model.py [--data-dir DIR] [--out PATH]

It learns from the six curve sets of Baker et al. 2017 (MITAutoML/accelerating_nas, MIT) and
leaves the NAS-Bench-201 curves out, so that benchmarks/curves.py's early stopping on them is a
transfer to a dataset and schedule the model never saw. About 30 s on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from base_nas.predict import curve_data, curves  # noqa: E402

HELD_OUT = ("nb201_200archs_curves",)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "base_nas", "resources",
                   "curve_model.npz")


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=None, help="folder of the curve CSVs")
  p.add_argument("--out", default=OUT)
  p.add_argument("--steps", type=int, default=3000)
  args = p.parse_args(argv)
  sets = curve_data.load_curve_sets(args.data_dir)
  train = {k: s.curves for k, s in sets.items() if k not in HELD_OUT}
  sources = sorted({s.source for k, s in sets.items() if k not in HELD_OUT})
  model = curves.CurveEnsemble.train(train, steps=args.steps, calibrate=True, info=dict(
      sources=sources, made=datetime.date.today().isoformat(),
      script="scripts/make_curve_model.py"))
  model.save(args.out)
  print(f"wrote {os.path.normpath(args.out)} ({os.path.getsize(args.out) / 1024:.0f} KiB): {model.info}")


if __name__ == "__main__":
  main()
