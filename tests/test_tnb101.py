"""The TransNAS-Bench-101 micro space and its packaged table: strings, files, look-ups, errors."""
import gzip
import importlib.resources
import itertools

import numpy as np
import pytest

from base_nas import spaces
from base_nas.errors import GenotypeError, TableError
from base_nas.predict.tables import TNB101_TASKS, TNB101Table
from base_nas.spaces import (NB201Genotype, TNB101_OPS, TNB101Genotype, get_space, load_genotype,
                             save_genotype, space_of)

MICRO = "64-41414-2_32_323"  # NASLib's index 0
NB201_STYLE = ("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
               "|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
ROW0 = {"class_scene": 53.8366, "class_object": 42.7598, "room_layout": -0.71739,
        "jigsaw": 91.2918, "segmentsemantic": 94.4593, "normal": 0.57009, "autoencoder": 0.45632}


@pytest.fixture(scope="module")
def table():
  return TNB101Table.load()


@pytest.fixture
def space():
  return get_space("tnb101")


def test_layout(space):
  assert "tnb101" in spaces.SPACES
  assert space.ops == TNB101_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
  assert space.edges == get_space("nb201").edges
  assert space.num_edges == 6 and space.num_ops == 4 and space.arch_shapes() == {"cell": (6, 4)}


def test_both_strings_round_trip():
  g = TNB101Genotype.from_string(MICRO)
  assert g.ops == ("nor_conv_1x1", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_3x3",
                   "nor_conv_1x1", "nor_conv_3x3")
  assert g.to_micro_string() == MICRO and g.to_string() == NB201_STYLE == str(g)
  assert TNB101Genotype.from_string(NB201_STYLE) == g
  assert TNB101Genotype.from_string(f"  {MICRO}\n") == g
  for ops in itertools.islice(itertools.product(TNB101_OPS, repeat=6), 0, 4096, 97):
    h = TNB101Genotype(ops)
    assert TNB101Genotype.from_string(h.to_micro_string()) == h
    assert TNB101Genotype.from_string(h.to_string()) == h
  # Digits are node by node: node 1's input, node 2's two, node 3's three.
  assert TNB101Genotype.from_string("64-41414-0_12_301").ops == (
      "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "none", "skip_connect")


def test_not_equal_to_the_same_nb201_cell():
  g = TNB101Genotype.from_string(MICRO)
  assert g != NB201Genotype(g.ops) and g.to_string() == NB201Genotype(g.ops).to_string()
  assert space_of(g).name == "tnb101" and space_of(NB201Genotype(g.ops)).name == "nb201"


def test_derive_encode_dict(space):
  g = TNB101Genotype.from_string(MICRO)
  code = space.encode(g)
  assert code["cell"].shape == (6, 4) and space.derive(code) == g
  w = np.full((6, 4), 0.1)
  w[:, 0] = 0.7  # 'none' wins everywhere, as in NAS-Bench-201's derivation
  assert space.derive({"cell": w}).ops == ("none",) * 6
  assert space.genotype_to_dict(g) == {"space": "tnb101", "arch": NB201_STYLE}
  assert space.genotype_from_dict({"space": "tnb101", "arch": MICRO}) == g
  assert space.validate(NB201Genotype(g.ops)) == g
  assert space.cell_edges(g)["cell"][5] == ("2", "3", "nor_conv_3x3")
  with pytest.raises(GenotypeError, match=r"shape \(6, 5\), expected \(6, 4\)"):
    space.derive({"cell": np.zeros((6, 5))})
  with pytest.raises(GenotypeError, match="expected tnb101"):
    space.genotype_from_dict({"space": "nb201", "arch": NB201_STYLE})


def test_save_and_load_genotype(tmp_path):
  g = TNB101Genotype.from_string("64-41414-3_11_212")
  save_genotype(tmp_path / "g.json", g)
  assert load_genotype(tmp_path / "g.json") == g
  assert load_genotype(tmp_path / "g.json", space="tnb101") == g
  with pytest.raises(GenotypeError, match="g.json is a tnb101 genotype, expected nb201"):
    load_genotype(tmp_path / "g.json", space="nb201")
  (tmp_path / "micro.txt").write_text(g.to_micro_string() + "\n")
  assert load_genotype(tmp_path / "micro.txt") == g
  # A pasted |op~0|+... string is an NB201 cell unless a TNB101 one is asked for.
  (tmp_path / "cell.txt").write_text(g.to_string())
  assert load_genotype(tmp_path / "cell.txt") == NB201Genotype(g.ops)
  assert load_genotype(tmp_path / "cell.txt", space="tnb101") == g


@pytest.mark.parametrize("bad, why", [
    ("64-41414-4_32_323", "op digit 4 is not one of 0 none, 1 skip_connect"),
    ("64-41414-2_32_32", "expected 64-41414-X_XX_XXX"),
    ("64-41414-2-32-323", "expected 64-41414-X_XX_XXX"),
    ("64-4111-basic", "it must start with '64-41414-'"),
    ("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'avg_pool_3x3'"),
])
def test_malformed_strings(bad, why):
  with pytest.raises(GenotypeError, match="malformed tnb101") as e:
    TNB101Genotype.from_string(bad)
  assert why in str(e.value) and "\n" not in str(e.value)


def test_bad_ops():
  with pytest.raises(GenotypeError, match=r"unknown op 'avg_pool_3x3' for search space 'tnb101' "
                     r"\(valid: none, skip_connect, nor_conv_1x1, nor_conv_3x3\)"):
    TNB101Genotype(("avg_pool_3x3",) * 6)
  with pytest.raises(GenotypeError, match="has 5 ops, expected 6"):
    TNB101Genotype(("none",) * 5)
  with pytest.raises(GenotypeError, match="must be a str"):
    TNB101Genotype.from_string(3)


def test_table_row0(table):
  assert len(table) == 4096 and table.space == "tnb101" and table.tasks == TNB101_TASKS
  assert TNB101Table.load() is table
  g = TNB101Genotype.from_string(MICRO)
  assert table.index(MICRO) == 0 and table.row(g) == 0 and table.genotypes()[0] == g
  for task, value in ROW0.items():
    assert table.value(g, task) == pytest.approx(value, abs=1e-4), task
    assert table.value(NB201_STYLE, task) == table.value(g, task)
  assert table.encodings()[0].tolist() == [2, 3, 2, 3, 2, 3]


def test_table_covers_the_space(table):
  codes = table.encodings()
  assert codes.shape == (4096, 6) and codes.min() == 0 and codes.max() == 3
  assert len({tuple(c) for c in codes.tolist()}) == 4096
  for task in TNB101_TASKS:
    assert not np.any(np.isnan(table.values(task)))


@pytest.mark.parametrize("task", TNB101_TASKS)
def test_best_rank_percentile_regret(table, task):
  g, best = table.best(task)
  assert best == table.values(task).max() == table.value(g, task)
  assert table.rank(g, task) == (1, 4096)
  assert table.percentile(g, task) == 100.0 and table.regret(g, task) == 0.0
  v = table.values(task)
  worst = table.genotypes()[int(np.argmin(v))]
  assert table.rank(worst, task)[0] == 1 + int(np.sum(v > v.min()))
  assert table.percentile(worst, task) == pytest.approx(100 * np.mean(v <= v.min()))
  assert table.regret(worst, task) == pytest.approx(best - v.min())
  assert table.percentile(MICRO, task) == pytest.approx(100 * np.mean(v <= v[0]))


def test_disconnected_cells_score_lowest(table):
  # The cross-check that digit 0 is 'none': cells whose input never reaches the output.
  codes = table.encodings()
  v = table.values("class_scene")
  reach = np.ones((len(codes), 4), bool)
  reach[:, 1:] = False
  for e, (s, d) in enumerate(get_space("tnb101").edges):
    reach[:, d] |= reach[:, s] & (codes[:, e] != 0)
  assert (~reach[:, 3]).sum() == 169 and v[~reach[:, 3]].max() < v[reach[:, 3]].min()


def test_table_errors(table, tmp_path):
  with pytest.raises(TableError, match=r"unknown tnb101 task 'cifar10' \(choose from: class_scene, "
                     r"class_object, room_layout, jigsaw, segmentsemantic, normal, autoencoder\)"):
    table.value(MICRO, "cifar10")
  with pytest.raises(TableError, match="name a tnb101 task"):
    table.best()
  with pytest.raises(GenotypeError, match="unknown op 'avg_pool_3x3'"):
    table.value("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "jigsaw")
  with pytest.raises(TableError, match="cannot read TNB101 table"):
    TNB101Table.load(tmp_path / "missing.csv.gz")
  data = (importlib.resources.files("base_nas") / "resources" / "tnb101_micro.csv.gz").read_bytes()
  (tmp_path / "cut.csv.gz").write_bytes(data[:-100])
  with pytest.raises(TableError, match=r"cut\.csv\.gz: corrupt or truncated gzip file"):
    TNB101Table.load(tmp_path / "cut.csv.gz")
  lines = gzip.decompress(data).decode().splitlines(keepends=True)
  first = next(k for k, ln in enumerate(lines) if ln.startswith("index,"))
  (tmp_path / "header.csv").write_text(lines[first].replace("jigsaw", "jigsaw_best")
                                       + lines[first + 1])
  with pytest.raises(TableError, match="header.csv is not a TNB101 table: header"):
    TNB101Table.load(tmp_path / "header.csv")
  (tmp_path / "op4.csv").write_text(lines[first] + "0,232324,1,2,3,4,5,6,7\n")
  with pytest.raises(TableError, match="op4.csv: malformed line 2"):
    TNB101Table.load(tmp_path / "op4.csv")
  (tmp_path / "dup.csv").write_text(lines[first] + lines[first + 1] + lines[first + 1])
  with pytest.raises(TableError, match="dup.csv: architecture 232323 appears more than once"):
    TNB101Table.load(tmp_path / "dup.csv")
  (tmp_path / "few.csv").write_text(lines[first] + lines[first + 1])
  assert len(TNB101Table.load(tmp_path / "few.csv")) == 1


def test_packaged_header_cites_source():
  data = (importlib.resources.files("base_nas") / "resources" / "tnb101_micro.csv.gz").read_bytes()
  head = gzip.decompress(data).decode()[:1200]
  assert "TransNAS-Bench-101" in head and "NASLib" in head and "Apache-2.0" in head
