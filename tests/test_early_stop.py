"""Early stopping by curve extrapolation: the rule, its config checks, the loop, ``base-nas train``."""
import json

import numpy as np
import pytest

from base_nas import cli, loop
from base_nas.config import Config, config_fingerprint
from base_nas.configs import train_config
from base_nas.errors import ConfigError
from base_nas.predict import curves, early_stop
from base_nas.ranges import check_ranges
from base_nas.runs import Run

EPOCHS = 20
U = np.arange(1, EPOCHS + 1) / EPOCHS
BAD = 0.55 * (1 - np.exp(-8 * U))   # flat near 0.55 early on
GOOD = 0.95 * (1 - np.exp(-3 * U))  # still rising fast towards 0.9


def _family(rng, n, epochs):
  """Curves top * (1 - exp(-rate * u)) + noise, the family BAD and GOOD come from."""
  u = np.arange(1, epochs + 1) / epochs
  y = rng.uniform(0.4, 0.97, (n, 1)) * (1 - np.exp(-rng.uniform(2, 9, (n, 1)) * u))
  return np.clip(y + rng.normal(0, 0.005, y.shape), 0, 1)


@pytest.fixture(scope="module")
def model():
  rng = np.random.default_rng(0)
  return curves.CurveEnsemble.train({"a": _family(rng, 80, 20), "b": _family(rng, 40, 50)},
                                    members=3, hidden=(16,), steps=1000, batch_size=256)


@pytest.fixture
def rule(model):
  return lambda **kw: early_stop.EarlyStopping(kw.pop("best", 0.88), EPOCHS, "test/accuracy",
                                               model=kw.pop("model", model), **kw)


def test_rule_stops_a_bad_run_and_not_a_good_one(rule):
  r = rule()
  assert r.decide(BAD[:1]) is None  # too early: below min_fraction and one point
  stops = [n for n in range(2, EPOCHS) if r.decide(BAD[:n]).stop]
  assert stops and stops[0] <= EPOCHS // 2
  bad = r.decide(BAD[:stops[0]])
  assert bad.p_beat < 0.05 and f"after {stops[0]}/20 epochs" in bad.reason
  for n in range(2, EPOCHS):
    assert not r.decide(GOOD[:n]).stop, n


@pytest.mark.parametrize("kw, message", [
    (dict(threshold=1.5), r"early_stop.threshold=1.5: must be a number in \(0, 1\)"),
    (dict(threshold=0), r"early_stop.threshold=0"),
    (dict(min_fraction=1.0), r"early_stop.min_fraction=1.0"),
    (dict(best=None), r"early_stop.best=None: set the best final test/accuracy"),
])
def test_bad_settings_give_one_line_errors(rule, kw, message):
  with pytest.raises(ConfigError, match=message):
    rule(**kw)


def test_config_ranges_and_sections():
  with pytest.raises(ConfigError, match=r"^early_stop.threshold=1.0: must be a finite number in "
                                        r"\(0, 1\)$"):
    check_ranges(train_config(early_stop=dict(threshold=1.0)))
  with pytest.raises(ConfigError, match="early_stop.best=93"):
    check_ranges(train_config(early_stop=dict(best=93)))
  check_ranges(train_config(early_stop=dict(enabled=True, best=0.93)))
  assert early_stop.from_config(train_config()["early_stop"], 10, "test/accuracy") is None
  with pytest.raises(ConfigError, match="early_stop.best=None"):
    early_stop.from_config(dict(enabled=True), 10, "test/accuracy")
  # Off or on, the section leaves a run's fingerprint alone, so older work directories resume.
  old = {k: v for k, v in train_config().items() if k != "early_stop"}
  on = train_config(early_stop=dict(enabled=True, best=0.9))
  assert (config_fingerprint(old, early_stop.FINGERPRINT_IGNORE)
          == config_fingerprint(on, early_stop.FINGERPRINT_IGNORE))


def _run(workdir, curve, stopper, epochs=EPOCHS):
  run = Run(workdir, Config(dict(x=1)))
  state, history = loop.run_epochs(
      run, {"w": np.zeros(2, np.float32)}, epochs=epochs, steps_per_epoch=1,
      batches=lambda epoch, first: iter([None]), step_fn=lambda s, b, e, i: (s, {"loss": 1.0}),
      on_epoch_end=lambda s, epoch, _: {"test/accuracy": float(curve[epoch])}, progress=False,
      early_stop=stopper)
  rows = run.read_metrics()
  run.close()
  return history, rows


def test_loop_stops_logs_the_reason_and_resumes(rule, tmp_path):
  history, rows = _run(tmp_path / "bad", BAD, rule())
  stopped = len(history)
  assert stopped < EPOCHS and early_stop.REASON in history[-1]
  stop_rows = [r for r in rows if r.get("early_stop/stopped")]
  assert len(stop_rows) == 1 and "P(final test/accuracy > best" in stop_rows[0][early_stop.REASON]
  assert early_stop.summary(history, rule())["early_stop"]["epochs_run"] == stopped
  # Resumed with the rule, it stops again at once; with it off, it trains to the end.
  assert len(_run(tmp_path / "bad", BAD, rule())[0]) == stopped
  history, rows = _run(tmp_path / "bad", BAD, None)
  assert len(history) == EPOCHS and sum(bool(r.get("early_stop/stopped")) for r in rows) == 1


def test_loop_with_it_off_is_unchanged(rule, tmp_path):
  history, rows = _run(tmp_path / "off", BAD, None)
  assert len(history) == EPOCHS
  assert not any(k.startswith("early_stop") for r in rows for k in r)
  assert early_stop.summary(history, None) == {}
  history, _ = _run(tmp_path / "good", GOOD, rule())
  assert len(history) == EPOCHS and not any(early_stop.REASON in h for h in history)


TINY = '''
from base_nas.configs import train_config

def get_config():
  return train_config(
      space="nb201", genotype="|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
      data=dict(spec="builtin:synthetic", image_size=8, limit=32),
      model=dict(channels=4, layers=1, auxiliary=False),
      train=dict(epochs=6, batch_size=16, cutout=2),
      run=dict(progress=False),
  )
'''


def test_train_command_stops_early(tmp_path, capsys):
  config = tmp_path / "tiny.py"
  config.write_text(TINY)
  work = tmp_path / "run"
  args = ["train", str(config), "early_stop.enabled=True", "early_stop.best=0.999",
          "early_stop.threshold=0.5", "early_stop.min_fraction=0.3", "--workdir", str(work)]
  assert cli.main(args) == 0
  summary = json.loads((work / "summary.json").read_text())
  assert summary["early_stop"]["stopped"] and summary["early_stop"]["epochs_run"] == 2
  assert "stopped early after 2/6 epochs" in capsys.readouterr().out
  rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["early_stop/stopped"] == 1 and "0.999" in rows[-1][early_stop.REASON]
  assert cli.main(["train", str(config), "early_stop.threshold=2"]) == 2
  assert "early_stop.threshold=2.0: must be a finite number in (0, 1)" in capsys.readouterr().err
