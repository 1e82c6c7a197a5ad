"""Learning-curve extrapolation: input checks, the baselines, a tiny ensemble, the curve files."""
import numpy as np
import pytest

from base_nas.errors import CurveError
from base_nas.predict import curve_data, curves


def synthetic_curves(rng, n, epochs, top=(0.5, 0.95), rate=(2.0, 8.0), noise=0.005):
  """Saturating curves y(u) = top * (1 - exp(-rate * u)) + noise over the budget fraction u."""
  u = np.arange(1, epochs + 1) / epochs
  tops = rng.uniform(*top, size=(n, 1))
  rates = rng.uniform(*rate, size=(n, 1))
  y = tops * (1 - np.exp(-rates * u)) + rng.normal(0, noise, (n, epochs))
  return np.clip(y, 0, 1)


@pytest.mark.parametrize("curve, fraction, message", [
    ([0.5], 0.1, "too short to extrapolate"),
    ([], 0.1, "too short to extrapolate"),
    ([0.1, float("nan"), 0.3], 0.3, "epoch 2 is nan"),
    ([0.1, 0.2], 0.0, "fraction=0.0"),
    ([0.1, 0.2], 1.0, "fraction=1.0"),
    ([0.1, 0.2], 1.5, "must be in (0, 1)"),
    ([10.0, 20.0], 0.5, "divide percentages by 100"),
    ([[0.1, 0.2]], 0.5, "must be 1-D"),
])
def test_bad_curves_give_one_line_errors(curve, fraction, message):
  for predictor in (curves.LastValue(), curves.PowerLaw()):
    with pytest.raises(CurveError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
      predictor.predict(curve, fraction)
    assert "\n" not in str(e.value)


def test_power_law_recovers_a_power_law():
  u = np.arange(1, 21) / 20
  y = 0.9 - 0.2 * u ** -0.5
  pred = curves.PowerLaw().predict(y[:8] , 8 / 20)
  assert pred.mean == pytest.approx(0.7, abs=5e-3)
  assert curves.LastValue().predict(y[:8], 0.4).mean == pytest.approx(y[7])
  assert pred.std == 0 and curves.Prediction(0.7, 0.0).prob_above(0.6) == 1.0


def test_prob_above_is_a_normal_tail():
  p = curves.Prediction(np.array([0.5, 0.5]), np.array([0.1, 0.1]))
  np.testing.assert_allclose(p.prob_above(np.array([0.5, 0.6])), [0.5, 0.158655], atol=1e-5)


def test_ensemble_transfers_across_synthetic_datasets_and_saves(tmp_path):
  rng = np.random.default_rng(0)
  sets = {"short": synthetic_curves(rng, 60, 20), "long": synthetic_curves(rng, 40, 80)}
  model = curves.CurveEnsemble.train(sets, members=2, hidden=(16,), steps=300, batch_size=256)
  held_out = synthetic_curves(rng, 30, 50)  # a third length, never seen
  for f in (0.1, 0.25):
    assert (curves.mean_absolute_error(model, held_out, f)
            < curves.mean_absolute_error(curves.LastValue(), held_out, f))
  pred = model.predict_many([c[:10] for c in held_out], 0.2)
  assert np.all(pred.std > 0) and np.all((0 <= pred.mean) & (pred.mean <= 1))
  model.save(tmp_path / "m.npz")
  again = curves.CurveEnsemble.load(tmp_path / "m.npz").predict_many([c[:10] for c in held_out],
                                                                     0.2)
  np.testing.assert_allclose(again.mean, pred.mean, rtol=1e-5)
  assert curves.CurveEnsemble.load(tmp_path / "m.npz").info["curve_sets"] == {"short": 60,
                                                                              "long": 40}
  with pytest.raises(CurveError, match="does not exist"):
    curves.CurveEnsemble.load(tmp_path / "missing.npz")


def test_shipped_model_predicts_a_rising_curve_above_its_last_value():
  model = curves.CurveEnsemble.load()
  # Half the NB201 curves trained it; the other half is recorded as held out, for benchmarks.
  assert model.info["curve_sets"]["nb201_200archs_curves_train"] == 100
  held = model.info["held_out_rows"]["nb201_200archs_curves"]
  assert len(held) == 100 and len(set(held)) == 100 and model.info["std_scale"] > 1
  u = np.arange(1, 11) / 40
  pred = model.predict(0.9 * (1 - np.exp(-4 * u)), 0.25)
  assert 0.9 * (1 - np.exp(-1)) < pred.mean <= 1 and 0 < pred.std < 0.2


def test_curve_files_in_each_layout(tmp_path):
  (tmp_path / "metaqnn_x.csv").write_text(
      'net,lr,acc_1,acc_2,acc_3\n"[C(1,1,1)]",0.1,0.1,0.2,0.3\n"[P]",0.1,0.2,nan,0.4\n')
  (tmp_path / "lstm_ptb.csv").write_text("n_layer,ep_0,ep_1\n2,1000,100\n")
  (tmp_path / "nb201_x.csv").write_text('arch_i,val_accs\n0,"[10.0, 50.0, 80.0]"\n')
  sets = curve_data.load_curve_sets(str(tmp_path))
  np.testing.assert_allclose(sets["metaqnn_x"].curves, [[0.1, 0.2, 0.3]])  # the NaN row dropped
  np.testing.assert_allclose(sets["lstm_ptb"].curves, [[0.25, 0.5]])  # 1 - log(ppl)/log(1e4)
  np.testing.assert_allclose(sets["nb201_x"].curves, [[0.1, 0.5, 0.8]])
  with pytest.raises(CurveError, match="no learning-curve CSV"):
    curve_data.load_curve_sets(str(tmp_path / "none"))
