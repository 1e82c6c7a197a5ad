"""``base-nas train``: a genotype trained from scratch on a tiny config, and bad genotypes."""
import json

import pytest

from base_nas import cli, spaces

TINY = '''
from base_nas.configs import train_config

def get_config():
  return train_config(
      space="nb201", genotype="|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
      data=dict(spec="builtin:synthetic", image_size=8, limit=64),
      model=dict(channels=4, layers=1, auxiliary=False),
      train=dict(epochs=1, batch_size=16, cutout=2),
      run=dict(progress=False),
  )
'''


@pytest.fixture
def config(tmp_path):
  path = tmp_path / "tiny_train.py"
  path.write_text(TINY)
  return str(path)


def test_train_reports_test_accuracy_and_parameters(config, tmp_path, capsys):
  work = tmp_path / "run"
  assert cli.main(["train", config, "--workdir", str(work)]) == 0
  summary = json.loads((work / "summary.json").read_text())
  assert 0 <= summary["test_accuracy"] <= 1 and summary["params"] > 0
  assert summary["test_split"] == "test"
  assert "test accuracy" in capsys.readouterr().out
  g = spaces.load_genotype(str(work / "genotype.json"), "nb201")
  assert g.to_string().startswith("|nor_conv_3x3~0|")


def test_genotype_of_another_space_is_refused(config, tmp_path, capsys):
  path = tmp_path / "g.json"
  spaces.save_genotype(str(path), spaces.darts.DARTS_V2)
  assert cli.main(["train", config, f"genotype={path}", "--workdir", str(tmp_path / "w")]) == 2
  line = capsys.readouterr().err.strip().splitlines()[-1]
  assert line.startswith("error: ") and "darts" in line and "nb201" in line


def test_published_name_needs_its_space(config, tmp_path, capsys):
  assert cli.main(["train", config, "genotype=DARTS_V2", "--workdir", str(tmp_path / "w")]) == 2
  assert "DARTS_V2 is a darts genotype" in capsys.readouterr().err
