"""`base-nas fit-predictor`, `predict` and `infer` (base_nas/infer.py) on tiny configs."""
import json

import numpy as np
import pytest

from base_nas import cli
from base_nas.predict.tables import NB201Table

FIT = """
from base_nas.configs import predictor_config
def get_config():
  return predictor_config(space={space!r}, tasks={tasks!r}, landmarks=dict(count={count}, seed=0),
                          value_net=dict(steps=60, batch_size=64, cells_per_task=16))
"""
INFER = """
from base_nas.configs import infer_config
def get_config():
  return infer_config(predictor={predictor!r}, data=dict(spec="builtin:digits", image_size=8,
                      limit=96, val_fraction=0.2, test_split="test"),
                      landmarks=dict(epochs=1, batch_size=32, channels=4, layers=1, lr=0.05),
                      infer=dict(candidates=4, restarts=4, steps=20, lr=0.1),
                      adapt=dict(steps=2, eval_every=2, eval_batches=1, top_k=3, batch_size=16))
"""


def _write(path, text, **kw):
  path.write_text(text.format(**kw))
  return str(path)


@pytest.fixture(scope="module")
def nb201_predictor(tmp_path_factory):
  d = tmp_path_factory.mktemp("fit")
  exp = _write(d / "fit.py", FIT, space="nb201", tasks=["cifar100", "imagenet16"], count=3)
  assert cli.main(["fit-predictor", exp, "run.progress=false", "--workdir", str(d / "w")]) == 0
  return str(d / "w" / "predictor")


def test_fit_predictor_records_its_tasks_and_landmarks(nb201_predictor):
  record = json.load(open(f"{nb201_predictor}/predictor.json"))
  assert record["space"] == "nb201" and record["kind"] == "value-net"
  assert record["record"]["tasks"] == ["cifar100", "imagenet16"]
  table = NB201Table.load()
  assert len(record["record"]["landmarks"]) == 3
  for cell in record["record"]["landmarks"]:
    table.row(cell)  # every landmark is a cell of the table


def test_infer_from_table_landmarks_writes_the_common_files(nb201_predictor, tmp_path):
  exp = _write(tmp_path / "infer.py", INFER, predictor=nb201_predictor)
  work = tmp_path / "w"
  assert cli.main(["infer", exp, "task=cifar10", "run.progress=false", "--workdir", str(work)]) == 0
  summary = json.loads((work / "summary.json").read_text())
  candidates = json.loads((work / "candidates.json").read_text())
  genotype = json.loads((work / "genotype.json").read_text())
  assert summary["method"] == "value-net" and summary["task"] == "table:nb201/cifar10"
  assert genotype["arch"] == summary["genotype"] == candidates[0]["genotype"]
  assert 1 <= len(candidates) <= 4
  predicted = [c["predicted"] for c in candidates]
  assert predicted == sorted(predicted, reverse=True)
  table = NB201Table.load()
  assert summary["nb201/cifar10"] == table.accuracy(summary["genotype"], "cifar10")
  assert len(summary["landmark_values"]) == 3 and summary["seconds"] > 0


def test_predict_on_a_table_task_reports_true_values(nb201_predictor, tmp_path, capsys):
  exp = _write(tmp_path / "infer.py", INFER, predictor=nb201_predictor)
  table = NB201Table.load()
  best, _ = table.best("cifar10")
  worst = table.genotypes()[int(np.argmin(table.values("cifar10")))]
  cells = f"{best.to_string()},{worst.to_string()}"
  assert cli.main(["predict", exp, "task=cifar10", f"genotype={cells}", "run.progress=false",
                   "--workdir", str(tmp_path / "w")]) == 0
  rows = json.loads((tmp_path / "w" / "summary.json").read_text())["cells"]
  assert [r["true_value"] for r in rows] == [94.37, table.accuracy(worst)]
  # Even 60 training steps separate the best cell from a dead one.
  assert rows[0]["predicted"] > rows[1]["predicted"]
  assert "landmark units" in capsys.readouterr().out


def test_infer_trains_the_landmarks_on_images(nb201_predictor, tmp_path):
  exp = _write(tmp_path / "infer.py", INFER, predictor=nb201_predictor)
  work = tmp_path / "w"
  assert cli.main(["infer", exp, "run.progress=false", "--workdir", str(work)]) == 0
  summary = json.loads((work / "summary.json").read_text())
  assert summary["task"] == "images:builtin:digits"
  acc = summary["landmark_values"]
  assert len(acc) == 3 and all(0.0 <= a <= 1.0 for a in acc)
  assert all((work / "landmarks" / str(k) / "summary.json").exists() for k in range(3))


def test_infer_by_base_adaptation_ranks_the_posterior(tmp_path):
  exp = _write(tmp_path / "infer.py", INFER, predictor="unused")
  work = tmp_path / "w"
  assert cli.main(["infer", exp, "method=base", "run.progress=false", "--workdir", str(work)]) == 0
  candidates = json.loads((work / "candidates.json").read_text())
  probs = [c["probability"] for c in candidates]
  assert len(candidates) == 3 and probs == sorted(probs, reverse=True)
  assert json.loads((work / "summary.json").read_text())["prior"].endswith("nb201-tiny")


@pytest.mark.parametrize("override, message", [
    ("method=metad2a", "unknown method 'metad2a'"),
    ("space=tnb101", "trained for space 'nb201', not 'tnb101'"),
    ("task=cifar11", "task='cifar11' is not a task of the nb201 table"),
    ("infer.candidates=0", "infer.candidates=0"),
])
def test_bad_input_is_one_line(nb201_predictor, tmp_path, capsys, override, message):
  exp = _write(tmp_path / "infer.py", INFER, predictor=nb201_predictor)
  assert cli.main(["infer", exp, override, "--workdir", str(tmp_path / "w")]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and message in err and "\n" not in err


def test_missing_predictor_and_genotype_are_reported(tmp_path, capsys):
  exp = _write(tmp_path / "infer.py", INFER, predictor=str(tmp_path / "nothing"))
  assert cli.main(["infer", exp, "task=cifar10", "--workdir", str(tmp_path / "a")]) == 2
  assert cli.main(["predict", exp, "task=cifar10", "--workdir", str(tmp_path / "b")]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 2 and "genotype=CELL is required" in err[1]


def test_tnb101_landmarks_need_a_table_task(tmp_path, capsys):
  exp = _write(tmp_path / "fit.py", FIT, space="tnb101", tasks=["class_scene", "jigsaw"], count=2)
  assert cli.main(["fit-predictor", exp, "run.progress=false", "--workdir", str(tmp_path / "f")]) == 0
  inf = _write(tmp_path / "infer.py", INFER, predictor=str(tmp_path / "f" / "predictor"))
  assert cli.main(["infer", inf, "--workdir", str(tmp_path / "w")]) == 2
  assert "cannot be trained on images" in capsys.readouterr().err
  assert cli.main(["infer", inf, "task=normal", "run.progress=false",
                   "--workdir", str(tmp_path / "w2")]) == 0
  genotype = json.loads((tmp_path / "w2" / "genotype.json").read_text())
  assert genotype["space"] == "tnb101"


def test_fit_predictor_refuses_unknown_tasks(tmp_path, capsys):
  exp = _write(tmp_path / "fit.py", FIT, space="nb201", tasks=["cifar100", "svhn"], count=3)
  assert cli.main(["fit-predictor", exp, "--workdir", str(tmp_path / "w")]) == 2
  assert "unknown: svhn" in capsys.readouterr().err


def test_the_shipped_nb201_predictor_loads_and_never_saw_cifar10():
  from base_nas import infer
  from base_nas.predict import store, value_net
  path = infer.resolve_predictor("nb201-value-net")
  net = value_net.load(path, space="nb201")
  record = store.read_record(path)["record"]
  assert "cifar10" not in record["tasks"] and len(record["landmarks"]) == net.num_features == 8
  table = NB201Table.load()
  marks = np.asarray([table.value(c, "cifar10") for c in record["landmarks"]])
  from base_nas.predict import landmarks
  pred = net.predict(landmarks.standardise(marks)[0], table.encodings())
  # Ranked by it, CIFAR-10's cells come out in roughly the table's order.
  from scipy import stats
  assert stats.spearmanr(pred, table.values("cifar10"))[0] > 0.7


def test_a_one_class_dataset_is_refused_before_training(nb201_predictor, tmp_path, capsys):
  x = np.zeros((20, 8, 8, 3), np.uint8)
  np.savez(tmp_path / "one.npz", x=x, y=np.zeros(20, np.int64))
  exp = _write(tmp_path / "infer.py", INFER, predictor=nb201_predictor)
  assert cli.main(["infer", exp, f"data.spec=npz:{tmp_path / 'one.npz'}",
                   "--workdir", str(tmp_path / "w")]) == 2
  assert "in 1 classes: landmark cells need" in capsys.readouterr().err
  assert not (tmp_path / "w" / "landmarks").exists()
