"""Search spaces: layout, derivation, encoding, genotype files and their error messages."""
import json

import jax
import numpy as np
import pytest

from base_nas.errors import GenotypeError
from base_nas.spaces import (DARTS_V1, DARTS_V2, SPACES, Genotype, NB201Genotype, get_space,
                             load_genotype, parse_genotype_string, save_genotype)

EXAMPLE_NB201 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
                 "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
# As the DARTS code prints a derived genotype (concat as range).
DARTS_V2_PRINTED = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))")


@pytest.fixture
def darts():
  return get_space("darts")


@pytest.fixture
def nb201():
  return get_space("nb201")


# --- layout ------------------------------------------------------------------------------------

def test_layouts(darts, nb201):
  assert SPACES == ("darts", "nb201", "tnb101")
  assert darts.ops == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                       "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
  assert darts.edges[:5] == ((0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
  assert (darts.num_edges, darts.num_ops, darts.cell_types) == (14, 8, ("normal", "reduce"))
  assert darts.arch_shapes() == {"normal": (14, 8), "reduce": (14, 8)}
  assert nb201.ops == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
  assert nb201.edges == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
  assert nb201.arch_shapes() == {"cell": (6, 5)}


def test_unknown_space():
  with pytest.raises(GenotypeError, match=r"unknown search space 'x' \(choose from: darts, nb201, tnb101\)"):
    get_space("x")


def test_init_alphas(darts):
  alphas = darts.init_alphas(jax.random.key(0), scale=1e-3)
  assert set(alphas) == {"normal", "reduce"}
  for a in alphas.values():
    assert a.shape == (14, 8)
    assert 0 < float(np.abs(a).max()) < 1e-2
  assert not np.allclose(alphas["normal"], alphas["reduce"])


# --- DARTS -------------------------------------------------------------------------------------

def _edge(space, src, dst):
  return space.edges.index((src, dst))


def test_darts_derive_picks_two_strongest_distinct_inputs(darts):
  w = {c: np.full((14, 8), 0.01, np.float32) for c in darts.cell_types}
  n = w["normal"]
  # Node 0: 'none' dominates edge (0,2) but must be ignored for ranking and op choice.
  n[_edge(darts, 0, 2), 0] = 0.9
  n[_edge(darts, 0, 2), darts.ops.index("avg_pool_3x3")] = 0.05
  n[_edge(darts, 1, 2), darts.ops.index("sep_conv_3x3")] = 0.5
  # Node 3 (state 5): one predecessor is strong on two ops, yet it is picked only once.
  n[_edge(darts, 4, 5), darts.ops.index("sep_conv_5x5")] = 0.8
  n[_edge(darts, 4, 5), darts.ops.index("dil_conv_3x3")] = 0.7
  n[_edge(darts, 2, 5), darts.ops.index("skip_connect")] = 0.3
  g = darts.derive(w)
  assert g.normal[0:2] == [("sep_conv_3x3", 1), ("avg_pool_3x3", 0)]
  assert g.normal[6:8] == [("sep_conv_5x5", 4), ("skip_connect", 2)]
  assert g.normal_concat == [2, 3, 4, 5]
  for cell in ("normal", "reduce"):
    pairs = getattr(g, cell)
    assert len(pairs) == 8
    for node in range(4):
      (op_a, a), (op_b, b) = pairs[2 * node:2 * node + 2]
      assert a != b and a < node + 2 and b < node + 2
      assert "none" not in (op_a, op_b)


def test_darts_encode_derive_consistent(darts):
  for g in (DARTS_V1, DARTS_V2):
    code = darts.encode(g)
    assert code["normal"].dtype == np.float32 and code["normal"].shape == (14, 8)
    assert code["normal"].sum() == 8 and code["reduce"].sum() == 8
    assert not code["normal"][:, 0].any()  # 'none' is never chosen
    back = darts.derive(code)
    # derive lists a node's inputs strongest first; with one-hot ties that is state order.
    for cell in ("normal", "reduce"):
      for node in range(4):
        assert (sorted(getattr(back, cell)[2 * node:2 * node + 2], key=lambda p: p[1])
                == sorted(getattr(g, cell)[2 * node:2 * node + 2], key=lambda p: p[1]))
  # Edges absent from the genotype are zero rows.
  assert darts.encode(DARTS_V2)["normal"][_edge(darts, 2, 4)].sum() == 0


def test_darts_cell_edges(darts):
  edges = darts.cell_edges(DARTS_V2)
  assert edges["normal"][0] == ("c_{k-2}", "0", "sep_conv_3x3")
  assert edges["normal"][1] == ("c_{k-1}", "0", "sep_conv_3x3")
  assert edges["normal"][7] == ("0", "3", "dil_conv_3x3")
  assert edges["normal"][8:] == [(str(k), "c_{k}", "") for k in range(4)]
  assert len(edges["reduce"]) == 12


def test_darts_dict_round_trip(darts):
  d = darts.genotype_to_dict(DARTS_V2)
  assert d["space"] == "darts"
  assert json.loads(json.dumps(d)) == d
  assert darts.genotype_from_dict(d) == DARTS_V2
  assert isinstance(darts.genotype_from_dict(d), Genotype)


def test_parse_printed_darts_string():
  assert parse_genotype_string(DARTS_V2_PRINTED) == DARTS_V2
  assert parse_genotype_string(repr(DARTS_V1)) == DARTS_V1
  assert parse_genotype_string("DARTS_V2 = " + DARTS_V2_PRINTED) == DARTS_V2


def test_parse_refuses_code():
  with pytest.raises(GenotypeError, match="not a literal"):
    parse_genotype_string("Genotype(normal=__import__('os').getcwd(), normal_concat=[2], "
                          "reduce=[], reduce_concat=[2])")
  with pytest.raises(GenotypeError, match="single Genotype"):
    parse_genotype_string("print('hi')")


def test_darts_save_load_json_and_text(tmp_path):
  path = tmp_path / "genotype.json"
  save_genotype(path, DARTS_V2)
  assert load_genotype(path) == DARTS_V2
  assert load_genotype(str(path), space="darts") == DARTS_V2
  assert [p.name for p in tmp_path.iterdir()] == ["genotype.json"]  # no temp file left
  text = tmp_path / "pasted.txt"
  text.write_text(DARTS_V2_PRINTED + "\n")
  assert load_genotype(text, space="darts") == DARTS_V2


def test_darts_nested_per_node_pairs(darts):
  d = darts.genotype_to_dict(DARTS_V2)
  d["normal"] = [d["normal"][2 * k:2 * k + 2] for k in range(4)]
  assert darts.genotype_from_dict(d) == DARTS_V2


# --- NB201 -------------------------------------------------------------------------------------

def test_nb201_string_round_trip():
  g = NB201Genotype.from_string(EXAMPLE_NB201)
  assert g.ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect",
                   "nor_conv_3x3", "skip_connect")
  assert g.to_string() == EXAMPLE_NB201
  assert str(g) == EXAMPLE_NB201


def test_nb201_derive_is_argmax_with_none(nb201):
  w = np.full((6, 5), 0.1, np.float32)
  w[:, 3] = 0.2
  w[2, 0] = 0.6  # 'none' may win, as in NAS-Bench-201's search code
  w[5, 4] = 0.3
  g = nb201.derive({"cell": w})
  assert g.ops == ("nor_conv_3x3",) * 2 + ("none",) + ("nor_conv_3x3",) * 2 + ("avg_pool_3x3",)


def test_nb201_encode_derive_inverse(nb201):
  g = NB201Genotype.from_string(EXAMPLE_NB201)
  code = nb201.encode(g)
  assert code["cell"].shape == (6, 5) and code["cell"].dtype == np.float32
  assert (code["cell"].sum(axis=1) == 1).all()
  assert nb201.derive(code) == g
  assert nb201.derive(nb201.encode(nb201.derive({"cell": np.eye(6, 5)}))) == nb201.derive(
      {"cell": np.eye(6, 5)})


def test_nb201_dict_files_and_edges(nb201, tmp_path):
  g = NB201Genotype.from_string(EXAMPLE_NB201)
  assert nb201.genotype_to_dict(g) == {"space": "nb201", "arch": EXAMPLE_NB201}
  assert nb201.genotype_from_dict(nb201.genotype_to_dict(g)) == g
  save_genotype(tmp_path / "g.json", g)
  assert load_genotype(tmp_path / "g.json", space="nb201") == g
  (tmp_path / "g.txt").write_text(EXAMPLE_NB201 + "\n")
  assert load_genotype(tmp_path / "g.txt") == g
  assert nb201.cell_edges(g)["cell"][2] == ("1", "2", "avg_pool_3x3")


# --- errors ------------------------------------------------------------------------------------

def test_invalid_json(tmp_path):
  path = tmp_path / "genotype.json"
  path.write_text('{"space": "darts", ')
  with pytest.raises(GenotypeError, match=r"genotype\.json: invalid JSON"):
    load_genotype(path)


def test_missing_file(tmp_path):
  with pytest.raises(GenotypeError, match="genotype file not found: .*nope.json"):
    load_genotype(tmp_path / "nope.json")


def test_unknown_op(darts, tmp_path):
  d = darts.genotype_to_dict(DARTS_V2)
  d["normal"][3] = ["conv_7x7", 1]
  path = tmp_path / "genotype.json"
  path.write_text(json.dumps(d))
  with pytest.raises(GenotypeError) as e:
    load_genotype(path)
  msg = str(e.value)
  assert "genotype.json" in msg and "unknown op 'conv_7x7' for search space 'darts'" in msg
  assert "sep_conv_3x3" in msg and "\n" not in msg
  with pytest.raises(GenotypeError, match="unknown op 'conv_7x7' for search space 'nb201'"):
    NB201Genotype(("conv_7x7",) * 6)


def test_none_not_allowed_in_darts_genotype(darts):
  d = darts.genotype_to_dict(DARTS_V2)
  d["reduce"][0] = ["none", 0]
  with pytest.raises(GenotypeError, match="'none'"):
    darts.genotype_from_dict(d)


def test_wrong_space(tmp_path):
  path = tmp_path / "genotype.json"
  save_genotype(path, NB201Genotype.from_string(EXAMPLE_NB201))
  with pytest.raises(GenotypeError, match="genotype.json is a nb201 genotype, expected darts"):
    load_genotype(path, space="darts")
  (tmp_path / "g.txt").write_text(DARTS_V2_PRINTED)
  with pytest.raises(GenotypeError, match="is a darts genotype, expected nb201"):
    load_genotype(tmp_path / "g.txt", space="nb201")
  with pytest.raises(GenotypeError, match="expected darts"):
    get_space("darts").genotype_from_dict({"space": "nb201", "arch": EXAMPLE_NB201})


def test_node_with_three_inputs(darts):
  d = darts.genotype_to_dict(DARTS_V2)
  nested = [d["normal"][2 * k:2 * k + 2] for k in range(4)]
  nested[1].append(["skip_connect", 2])
  with pytest.raises(GenotypeError, match="normal node 1 has 3 inputs"):
    darts.genotype_from_dict({**d, "normal": nested})
  flat = d["normal"] + [["skip_connect", 2]]
  with pytest.raises(GenotypeError, match="has 9 .* expected 8"):
    darts.genotype_from_dict({**d, "normal": flat})


def test_input_index_out_of_range(darts):
  d = darts.genotype_to_dict(DARTS_V2)
  d["normal"][2] = ["sep_conv_3x3", 3]  # node 1 is state 3: it cannot read itself
  with pytest.raises(GenotypeError, match=r"normal node 1 \(state 3\) takes input 3"):
    darts.genotype_from_dict(d)


@pytest.mark.parametrize("bad, why", [
    ("nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "start and end"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "3 node groups"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
     "node 2 must have 2 input"),
    ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
     "skip_connect~2|", "should read 'op~0'"),
    ("|conv~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
     "unknown op 'conv'"),
])
def test_malformed_nb201_string(bad, why):
  with pytest.raises(GenotypeError, match="malformed nb201 architecture string") as e:
    NB201Genotype.from_string(bad)
  assert why in str(e.value)


def test_unrecognised_text_file(tmp_path):
  (tmp_path / "g.txt").write_text("hello")
  with pytest.raises(GenotypeError, match="g.txt: not a genotype"):
    load_genotype(tmp_path / "g.txt")


def test_derive_rejects_bad_weights(darts, nb201):
  with pytest.raises(GenotypeError, match=r"shape \(6, 4\), expected \(6, 5\)"):
    nb201.derive({"cell": np.zeros((6, 4))})
  with pytest.raises(GenotypeError, match="lack cell type"):
    darts.derive({"normal": np.zeros((14, 8))})
  with pytest.raises(GenotypeError, match="NaN"):
    nb201.derive({"cell": np.full((6, 5), np.nan)})


def test_save_refuses_invalid_genotype(tmp_path):
  bad = DARTS_V2._replace(normal=DARTS_V2.normal[:7])
  with pytest.raises(GenotypeError):
    save_genotype(tmp_path / "g.json", bad)
  assert not list(tmp_path.iterdir())
