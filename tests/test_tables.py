"""The packaged NAS-Bench-201 table: look-ups, ranks, and agreement with the full benchmark."""
import csv
import gzip
import os

import pytest

from base_nas.errors import GenotypeError
from base_nas.predict.tables import DATASETS, NB201Table
from base_nas.spaces import NB201Genotype

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
  partial = NB201Table(table._indices[:1], table._archs[:1],  # pylint: disable=protected-access
                       {d: table._acc[d][:1] for d in DATASETS})  # pylint: disable=protected-access
  with pytest.raises(GenotypeError, match="not in the NB201 table"):
    partial.accuracy(EXAMPLE)


def test_load_path_errors(tmp_path):
  with pytest.raises(GenotypeError, match="cannot read NB201 table"):
    NB201Table.load(tmp_path / "missing.csv.gz")
  bad = tmp_path / "bad.csv"
  bad.write_text("a,b\n1,2\n")
  with pytest.raises(GenotypeError, match="not an NB201 table"):
    NB201Table.load(bad)


def test_packaged_header_cites_source():
  import importlib.resources  # pylint: disable=import-outside-toplevel
  data = (importlib.resources.files("base_nas") / "resources"
          / "nb201_cifar10_cifar100_imagenet16.csv.gz").read_bytes()
  head = gzip.decompress(data).decode()[:600]
  assert "NAS-Bench-201" in head and "NASLib" in head and "Apache-2.0" in head


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
