"""Omniglot's background alphabets as an npz the data layer reads (``npz:PATH``).

  python scripts/make_omniglot_npz.py            # -> runs/data/omniglot_background_16.npz, 3 s
  python scripts/make_omniglot_npz.py --split evaluation --chars 20   # a 20-class target task

Reads ../shared/data/images/omniglot/images_background.npz (964 characters x 20 drawings,
105 px, True = background) and writes ``x`` (uint8 [19280, S, S], ink 255 on black, box-filtered
to S px exactly as benchmarks/base_fewshot.py prepares the evaluation alphabets) and ``y`` (the
character id), to a temporary name renamed into place. experiments/nb201_omniglot_prior.py
meta-trains on it.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--source", default=None, help="default: ../shared/data/images/omniglot/"
                 "images_SPLIT.npz")
  p.add_argument("--split", default="background", choices=("background", "evaluation"))
  p.add_argument("--chars", type=int, default=0, help="only the first N characters (0: all)")
  p.add_argument("--size", type=int, default=16)
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  a.source = a.source or os.path.join(ROOT, "..", "shared", "data", "images", "omniglot",
                                      f"images_{a.split}.npz")
  tag = f"_{a.chars}" if a.chars else ""
  out = a.out or os.path.join(ROOT, "runs", "data", f"omniglot_{a.split}{tag}_{a.size}.npz")
  if not os.path.exists(a.source):
    print(f"make_omniglot_npz: {a.source} not found (see ../shared/data/README.md)",
          file=sys.stderr)
    return 2
  sys.path.insert(0, ROOT)
  from benchmarks.base_fewshot import _omniglot_pixels
  x, y = _omniglot_pixels(a.source, a.size, limit=20 * a.chars if a.chars else None)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  tmp = out + ".tmp.npz"
  np.savez_compressed(tmp, x=x, y=y)
  os.replace(tmp, out)
  print(f"{out}: {len(x)} images of {len(np.unique(y))} characters, {a.size} px")
  return 0


if __name__ == "__main__":
  sys.exit(main())
