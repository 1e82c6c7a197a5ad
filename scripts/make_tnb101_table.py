"""Derives the compact TransNAS-Bench-101 micro table that ships with base-nas.

The packaged copy lets table look-ups (and the test suite) work without the full benchmark. It
keeps, for all 4,096 micro cells, NASLib's index, the architecture as 6 op digits (the ops'
positions in ``base_nas.spaces.tnb101.TNB101_OPS``, edges in ``NB201_EDGES`` order) and the
final-epoch value on the seven tasks, to 6 significant digits. The best-epoch values (known for
few cells) and the zero-cost proxy column are left out.

Usage (from the repository root):
  python scripts/make_tnb101_table.py [--src /work/shared/data/nas/tnb101_micro.csv] [--out ...]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys

# Run as a plain script from a checkout: make the package importable without installing it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from base_nas.spaces.nb201 import NB201_EDGES  # noqa: E402
from base_nas.spaces.tnb101 import TNB101_OPS, TNB101Genotype  # noqa: E402
from make_nb201_table import write_gzip  # noqa: E402  (this script's folder is on sys.path)

DEFAULT_SRC = "/work/shared/data/nas/tnb101_micro.csv"
DEFAULT_OUT = os.path.join(ROOT, "base_nas", "resources", "tnb101_micro.csv.gz")
TASKS = ("class_scene", "class_object", "room_layout", "jigsaw", "segmentsemantic", "normal",
         "autoencoder")
HEADER = """\
# TransNAS-Bench-101 micro space: final-epoch value on 7 Taskonomy tasks for all 4,096 cells.
# Source: TransNAS-Bench-101 (Duan et al., CVPR 2021), via NASLib (automl/NASLib, Apache-2.0).
# Derived by scripts/make_tnb101_table.py; values to 6 significant digits. Higher is better on
#   every task: class_scene, class_object, jigsaw: accuracy (%); segmentsemantic: pixel accuracy
#   (%); room_layout: negative L2 loss; normal, autoencoder: SSIM.
# index: NASLib's index. arch: op of edges (0,1),(0,2),(1,2),(0,3),(1,3),(2,3) as digits 0 none,
#   1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3 (TransNAS-Bench-101's 64-41414-X_XX_XXX digits).
"""


def _connected(ops: tuple[str, ...]) -> bool:
  """Whether some path of non-'none' edges joins the input (node 0) to the output (node 3)."""
  reach = {0}
  for (src, dst), op in zip(NB201_EDGES, ops):  # edges are in topological order
    if op != "none" and src in reach:
      reach.add(dst)
  return 3 in reach


def build(src: str) -> str:
  """Returns the compact table's text from NASLib's TransNAS-Bench-101 micro CSV."""
  with open(src, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  rows.sort(key=lambda r: int(r["naslib_idx"]))
  out = io.StringIO()
  out.write(HEADER)
  out.write("index,arch," + ",".join(TASKS) + "\n")
  seen, scene = set(), {True: [], False: []}
  for r in rows:
    index = int(r["naslib_idx"])
    g = TNB101Genotype.from_string(r["tnb_arch_str"])
    if g.to_micro_string() != r["tnb_arch_str"].strip():
      raise SystemExit(f"row {index}: {r['tnb_arch_str']} does not read back as itself")
    arch = "".join(str(TNB101_OPS.index(op)) for op in g.ops)
    # NASLib's tuple lists the same digits; a disagreement means the columns were misread.
    if "".join(r["naslib_tuple"].strip("()").replace(" ", "").split(",")) != arch:
      raise SystemExit(f"row {index}: naslib_tuple {r['naslib_tuple']} disagrees with {arch}")
    if arch in seen:
      raise SystemExit(f"row {index}: architecture {r['tnb_arch_str']} appears twice")
    seen.add(arch)
    values = []
    for task in TASKS:
      text = r[f"{task}_final"].strip()
      if not text:
        raise SystemExit(f"row {index}: {task}_final is blank")
      values.append(format(float(text), ".6g"))
    scene[_connected(g.ops)].append(float(values[0]))
    out.write(f"{index},{arch},{','.join(values)}\n")
  # Digit 0 must be 'none': cells whose input never reaches the output cannot learn, so every
  # one of them must score below every connected cell.
  if not scene[False] or max(scene[False]) >= min(scene[True]):
    raise SystemExit("disconnected cells do not all score below connected ones on class_scene: "
                     "the op digits are not 0 none, 1 skip, 2 conv1x1, 3 conv3x3")
  return out.getvalue()


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--src", default=DEFAULT_SRC, help="TransNAS-Bench-101 micro CSV (NASLib)")
  parser.add_argument("--out", default=DEFAULT_OUT, help="gzip CSV to write")
  args = parser.parse_args(argv)
  text = build(args.src)
  write_gzip(args.out, text)
  print(f"wrote {args.out}: {text.count(chr(10)) - HEADER.count(chr(10)) - 1} cells, "
        f"{os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
  main()
