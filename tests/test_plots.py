"""Tests of the figures: files written, valid PNGs, for DARTS-like and NB201-like inputs."""
import json

import numpy as np
import pytest

from base_nas import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def softmax_rows(rng, rows, cols):
  e = np.exp(rng.normal(size=(rows, cols)))
  return e / e.sum(axis=1, keepdims=True)


def darts_edge_labels():
  return [f"{i}->{j}" for j in range(2, 6) for i in range(j)]


def darts_cell(ops):
  inputs = ["c_{k-2}", "c_{k-1}"]
  edges = [(inputs[0], "0", ops[0]), (inputs[1], "0", ops[1]), ("0", "1", ops[2]),
           (inputs[1], "1", ops[3]), (inputs[0], "2", ops[4]), ("1", "2", ops[5]),
           ("0", "3", ops[6]), ("2", "3", ops[7])]
  return edges + [(str(i), "c_{k}", "") for i in range(4)]


def assert_png(path):
  with open(path, "rb") as f:
    data = f.read()
  assert len(data) > 1000 and data.startswith(PNG_MAGIC)


def test_arch_weights_darts(tmp_path):
  rng = np.random.default_rng(0)
  labels = darts_edge_labels()
  assert len(labels) == 14
  weights = {"normal": softmax_rows(rng, 14, 8), "reduce": softmax_rows(rng, 14, 8)}
  path = plots.plot_arch_weights(weights, DARTS_OPS, labels, str(tmp_path / "w.png"),
                                 title="darts")
  assert_png(path)


def test_arch_weights_nb201(tmp_path):
  rng = np.random.default_rng(1)
  labels = ["0->1", "0->2", "1->2", "0->3", "1->3", "2->3"]
  path = plots.plot_arch_weights({"cell": softmax_rows(rng, 6, 5)}, NB201_OPS, labels,
                                 str(tmp_path / "sub" / "w.png"))
  assert_png(path)


def test_arch_weights_shape_mismatch(tmp_path):
  with pytest.raises(ValueError, match="expected"):
    plots.plot_arch_weights({"cell": np.ones((6, 4))}, NB201_OPS, ["a"] * 6,
                            str(tmp_path / "w.png"))


def test_cell_darts(tmp_path):
  cells = {"normal": darts_cell(["sep_conv_3x3"] * 4 + ["skip_connect", "sep_conv_5x5",
                                                        "dil_conv_3x3", "sep_conv_3x3"]),
           "reduce": darts_cell(["max_pool_3x3"] * 6 + ["skip_connect", "dil_conv_5x5"])}
  assert_png(plots.plot_cell(cells, str(tmp_path / "cell.png"), title="darts"))


def test_cell_nb201(tmp_path):
  edges = [("0", "1", "nor_conv_3x3"), ("0", "2", "skip_connect"), ("1", "2", "nor_conv_3x3"),
           ("0", "3", "avg_pool_3x3"), ("1", "3", "nor_conv_1x1"), ("2", "3", "none")]
  assert_png(plots.plot_cell({"cell": edges}, str(tmp_path / "cell.png")))


def test_cell_other_format(tmp_path):
  edges = [("0", "1", "nor_conv_3x3"), ("1", "2", "skip_connect")]
  path = plots.plot_cell({"cell": edges}, str(tmp_path / "cell.svg"))
  assert open(path).read().lstrip().startswith("<?xml")


def test_node_order():
  labels = ["c_{k}", "3", "0", "c_{k-1}", "10", "c_{k-2}", "2"]
  assert sorted(labels, key=plots.node_sort_key) == ["c_{k-2}", "c_{k-1}", "0", "2", "3", "10",
                                                     "c_{k}"]


def test_labels_do_not_overlap():
  edges = darts_cell(["sep_conv_3x3"] * 8)
  nodes, x, heights = plots._layout_cell(edges)
  boxes = []
  for i, (src, dst, op) in enumerate(edges):
    if op:
      mid, w = (x[src] + x[dst]) / 2, plots._label_width(op)
      boxes.append((mid - w / 2, heights[i] - plots._LABEL_H / 2, mid + w / 2,
                    heights[i] + plots._LABEL_H / 2))
  for i, a in enumerate(boxes):
    assert not any(plots._overlaps(a, b) for b in boxes[i + 1:])


def test_curves(tmp_path):
  metrics = tmp_path / "metrics.jsonl"
  with open(metrics, "w") as f:
    for step in range(1, 121):
      row = {"step": step, "time": 0.0, "train/loss": 2.0 / step, "train/accuracy": 1 - 1 / step}
      if step % 40 == 0:
        row.update({"valid/loss": 1.0 / step, "valid/accuracy": 0.5, "tau": 1.0,
                    "genotype": "x"})
      f.write(json.dumps(row) + "\n")
  assert_png(plots.plot_curves(str(metrics), str(tmp_path / "curves.png")))
  assert_png(plots.plot_curves(str(metrics), str(tmp_path / "loss.png"), keys=["valid/loss"]))
  with pytest.raises(ValueError, match="no numeric metric 'nope'"):
    plots.plot_curves(str(metrics), str(tmp_path / "x.png"), keys=["nope"])
