"""End to end through the ``base-nas`` command on tiny configs: outputs, resume, bad input."""
import json

import numpy as np
import pytest

from base_nas import cli
from base_nas.search import METHODS

TINY = '''
from base_nas.configs import search_config

def get_config():
  return search_config(
      space="nb201", method="darts",
      data=dict(spec="builtin:synthetic", image_size=8, limit=64),
      model=dict(channels=4, layers=1),
      search=dict(epochs=2, batch_size=16, augment=False),
      run=dict(progress=False),
  )
'''


@pytest.fixture
def config(tmp_path):
  path = tmp_path / "tiny.py"
  path.write_text(TINY)
  return str(path)


def _search(config, workdir, *overrides):
  return cli.main(["search", config, *overrides, "--workdir", str(workdir)])


def _error(capsys):
  err = capsys.readouterr().err.strip().splitlines()
  return err[-1] if err else ""


def test_search_writes_genotype_plots_metrics_and_summary(config, tmp_path, capsys):
  work = tmp_path / "run"
  assert _search(config, work) == 0
  out = capsys.readouterr().out
  assert "genotype: |" in out and "NAS-Bench-201 cifar10 test accuracy" in out
  for name in ("genotype.json", "arch_weights.png", "cell.png", "metrics.jsonl", "summary.json",
               "config.json", "genotypes/epoch_001.json", "genotypes/epoch_002.json"):
    assert (work / name).exists(), name
  summary = json.loads((work / "summary.json").read_text())
  assert 0 < summary["nb201/cifar10_test"] <= 100
  lines = [json.loads(l) for l in (work / "metrics.jsonl").read_text().splitlines()]
  assert any("valid/accuracy" in l for l in lines) and any("train/loss" in l for l in lines)


def test_killed_run_resumes_to_the_uninterrupted_result(config, tmp_path, monkeypatch):
  full = tmp_path / "full"
  assert _search(config, full, "run.checkpoint_every=1") == 0
  method = METHODS["darts"]
  calls = {"n": 0}
  real_step = method.step

  def dying_step(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] == 4:  # killed in the middle of the second epoch (2 steps an epoch)
      raise KeyboardInterrupt
    return real_step(*args, **kwargs)

  killed = tmp_path / "killed"
  monkeypatch.setitem(METHODS, "darts", method.__class__(**{**method.__dict__, "step": dying_step}))
  assert _search(config, killed, "run.checkpoint_every=1") == 130
  monkeypatch.setitem(METHODS, "darts", method)
  assert _search(config, killed, "run.checkpoint_every=1") == 0
  a, b = np.load(full / "alphas.npz"), np.load(killed / "alphas.npz")
  for k in a.files:
    np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7)
  strip = lambda p: [{k: v for k, v in json.loads(l).items() if k not in ("time", "epoch_seconds")}
                     for l in (p / "metrics.jsonl").read_text().splitlines()]
  assert strip(full) == strip(killed)


@pytest.mark.parametrize("override,message", [
    ("data.spec=tfds:no_such_dataset", "no_such_dataset"),
    ("data.spec=folder:/no/such/folder", "/no/such/folder"),
    ("space=cells", "unknown search space 'cells'"),
    ("method=enas", "unknown search method 'enas'"),
    ("search.epoch=3", "did you mean 'search.epochs'"),
])
def test_bad_input_is_one_line_and_exit_2(config, tmp_path, capsys, override, message):
  assert _search(config, tmp_path / "w", override) == 2
  line = _error(capsys)
  assert line.startswith("error: ") and message in line


def test_corrupt_npz_is_reported(config, tmp_path, capsys):
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"this is not a zip archive")
  assert _search(config, tmp_path / "w", f"data.spec=npz:{bad}") == 2
  assert "bad.npz" in _error(capsys)


def test_missing_config_file(tmp_path, capsys):
  assert cli.main(["search", str(tmp_path / "nope.py")]) == 2
  assert "nope.py" in _error(capsys)


def test_workdir_of_another_config_is_refused_and_kept(config, tmp_path, capsys):
  work = tmp_path / "run"
  assert _search(config, work, "search.epochs=1") == 0
  before = (work / "genotype.json").read_text()
  assert _search(config, work, "search.epochs=1", "model.channels=8") == 2
  assert "another config" in _error(capsys)
  assert (work / "genotype.json").read_text() == before


def test_diverging_loss_stops_with_a_clear_error(config, tmp_path, capsys):
  work = tmp_path / "run"
  assert _search(config, work, "search.w_lr=1e30", "search.grad_clip=1e30") == 2
  line = _error(capsys)
  assert line.startswith("error: ") and ("nan" in line or "inf" in line), line
  assert json.loads((work / "config.json").read_text())["search"]["w_lr"] == 1e30


@pytest.mark.parametrize("method", ["gdas", "snas"])
def test_other_methods_run_through_the_cli(config, tmp_path, method):
  work = tmp_path / method
  assert _search(config, work, f"method={method}", "search.epochs=1") == 0
  summary = json.loads((work / "summary.json").read_text())
  assert summary["method"] == method and summary["steps_per_epoch"] == 2
