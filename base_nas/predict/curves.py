"""Learning-curve extrapolation: a run's final accuracy, with an uncertainty, from its first epochs.

Three predictors share one interface, ``predict(curve, fraction) -> Prediction`` (and
``predict_many`` for a batch), where ``curve`` holds the accuracies (fractions in [0, 1]) of the
epochs observed so far and ``fraction`` says how much of the epoch budget they cover:

- :class:`LastValue`: the final accuracy is the last one seen (a point prediction);
- :class:`PowerLaw`: a least-squares fit of ``y(u) = a - b u^-c`` over the budget fraction ``u``,
  evaluated at ``u = 1`` (the saturating family of Domhan et al. 2015; a point prediction);
- :class:`CurveEnsemble`: a deep ensemble (Lakshminarayanan et al. 2017) of small Gaussian MLPs
  over budget-normalised features of the partial curve, trained on the curves of *other*
  datasets: inductive transfer in the spirit of Wistuba and Pedapati (2019).

Why this design. Curves from different datasets differ in length (20 to 500 epochs), level
(ImageNet AlexNets end near 0.07, SVHN nets near 0.9) and schedule, so nothing is read from the
epoch index or the absolute level alone. Every feature is a function of the curve *resampled
on the budget fraction* — the fraction observed, the last accuracy, how much was gained over
the last quarter, half and all of the observed part, the best accuracy so far, the epoch-to-
epoch noise — and the target is the gain still to come, ``y_final - y_last``, not the level.
A curve of 20 epochs seen for 10% and one of 500 seen for 10% thus look alike when their shapes
do, which is what lets curves of one dataset inform another. Each member outputs a mean and a
standard deviation and is trained by Gaussian negative log-likelihood with every curve set
weighted equally (so the 1,300 SVHN curves do not outvote the 280 LSTMs); the ensemble's
mixture mean and standard deviation add the members' disagreement (epistemic) to their own
noise estimates (aleatoric), which matters most on a dataset none of them was trained on. An
ensemble of five 2x64 MLPs trains in well under a minute on a CPU and predicts thousands of
curves in one call, where a Bayesian network by MCMC would cost minutes per dataset.

The package ships one trained ensemble (``CurveEnsemble.load()``, file
``base_nas/resources/curve_model.npz``, made by ``scripts/make_curve_model.py``) trained on the
six curve sets of Baker et al. 2017, "Accelerating neural architecture search using performance
prediction" (MITAutoML/accelerating_nas, MIT licence): MetaQNN nets on CIFAR-10 and SVHN, deep
ResNets on CIFAR-10 and Tiny ImageNet, AlexNets on ImageNet, LSTMs on Penn Treebank; and on 100
of the 200 NAS-Bench-201 curves (SamuelMintal/Masters_Thesis, Apache-2.0) as a seventh set. The
other 100 are held out (their rows are in ``info["held_out_rows"]``) for benchmarks/curves.py.
Trained on the Baker sets alone, it killed almost every best-decile NB201 run in simulated
early stopping; docs/curves.md has the measurements.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import io
import json
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from base_nas.errors import CurveError

MIN_POINTS = 2  # a slope needs two epochs; with one there is nothing to extrapolate
_RESOURCE = "curve_model.npz"


@dataclasses.dataclass(frozen=True)
class Prediction:
  """A predicted final accuracy: the predictive mean and standard deviation (0: a point).

  Both are floats for one curve, arrays for :meth:`predict_many`.
  """
  mean: Any
  std: Any

  def prob_above(self, value) -> Any:
    """P(final accuracy > value) under a normal predictive; a step at the mean when std is 0."""
    mean, std = np.asarray(self.mean, float), np.asarray(self.std, float)
    z = (np.asarray(value, float) - mean) / np.where(std > 0, std, 1.0)
    p = 0.5 * _erfc(z / math.sqrt(2.0))
    p = np.where(std > 0, p, (mean > value).astype(float))
    return float(p) if p.ndim == 0 else p


_erfc = np.vectorize(math.erfc, otypes=[float])


def check_curve(curve, fraction) -> tuple[np.ndarray, float]:
  """The curve as a float array and the fraction as a float, or a one-line CurveError.

  Args:
    curve: accuracies of the epochs observed so far, fractions in [0, 1], oldest first.
    fraction: the part of the epoch budget those epochs are, in (0, 1).
  """
  try:
    y = np.asarray(curve, dtype=np.float64)
  except (TypeError, ValueError):
    raise CurveError(f"a learning curve must be a sequence of numbers, got "
                     f"{type(curve).__name__}") from None
  if y.ndim != 1:
    raise CurveError(f"a learning curve must be 1-D (one accuracy per epoch), got shape {y.shape}")
  if len(y) < MIN_POINTS:
    raise CurveError(f"a curve of {len(y)} epoch(s) is too short to extrapolate; at least "
                     f"{MIN_POINTS} are needed")
  bad = np.flatnonzero(~np.isfinite(y))
  if len(bad):
    raise CurveError(f"learning curve value at epoch {bad[0] + 1} is {y[bad[0]]}; curves must be "
                     "finite")
  if y.min() < 0 or y.max() > 1:
    worst = y.max() if y.max() > 1 else y.min()
    raise CurveError(f"learning curve value {worst:g} is outside [0, 1]; pass accuracies as "
                     "fractions (divide percentages by 100)")
  try:
    f = float(fraction)
  except (TypeError, ValueError):
    raise CurveError(f"fraction={fraction!r}: must be a number in (0, 1)") from None
  if not (0.0 < f < 1.0):
    raise CurveError(f"fraction={f!r}: the observed part of the epoch budget must be in (0, 1)")
  return y, f


def _positions(n: int, fraction: float) -> np.ndarray:
  """Budget fractions of n evenly spaced epochs that end at ``fraction``."""
  return fraction * np.arange(1, n + 1) / n


FEATURE_NAMES = ("fraction", "log_fraction", "last", "smoothed_last", "gain_last_quarter",
                 "gain_last_half", "gain_all", "best_minus_last", "noise")


def features(curve, fraction) -> np.ndarray:
  """The budget-normalised features of one partial curve (see :data:`FEATURE_NAMES`)."""
  y, f = check_curve(curve, fraction)
  return _features(y, f)


def _features(y: np.ndarray, f: float) -> np.ndarray:
  u = _positions(len(y), f)
  at = lambda q: float(np.interp(q * f, u, y))  # clamped to y[0] before the first epoch
  last = y[-1]
  tail = y[-max(1, len(y) // 10):]  # a tenth of the observed epochs smooths 500-point curves
  diffs = np.diff(y[len(y) // 2:]) if len(y) >= 4 else np.diff(y)
  # Gains are per unit of budget, so a 20- and a 500-epoch curve of one shape agree.
  return np.array([
      f, math.log(f), last, float(np.mean(tail)),
      (last - at(0.75)) / (0.25 * f), (last - at(0.5)) / (0.5 * f), (last - y[0]) / f,
      float(y.max()) - last, float(np.std(diffs)) if len(diffs) else 0.0,
  ])


def _batch(curves: Sequence, fractions) -> list[tuple[np.ndarray, float]]:
  fractions = np.broadcast_to(np.asarray(fractions, float), (len(curves),))
  return [check_curve(c, f) for c, f in zip(curves, fractions)]


class _Predictor:
  """The shared interface: ``predict`` for one curve, ``predict_many`` for a batch."""

  name = "predictor"

  def predict(self, curve, fraction) -> Prediction:
    """The predicted final accuracy of one partial ``curve`` covering ``fraction`` of the budget."""
    p = self.predict_many([curve], [fraction])
    return Prediction(float(p.mean[0]), float(p.std[0]))

  def predict_many(self, curves: Sequence, fractions) -> Prediction:
    """Predictions for many curves (of any lengths); ``fractions``: one per curve or one for all."""
    raise NotImplementedError


class LastValue(_Predictor):
  """The last observed accuracy is the final one: the baseline every extrapolator must beat."""

  name = "last value"

  def predict_many(self, curves, fractions) -> Prediction:
    checked = _batch(curves, fractions)
    return Prediction(np.array([y[-1] for y, _ in checked]), np.zeros(len(checked)))


class PowerLaw(_Predictor):
  """A fit of ``y(u) = a - b u^-c`` over budget fractions ``u``, evaluated at ``u = 1``.

  For each exponent ``c`` on a log grid in [0.05, 3], ``a`` and ``b`` are the linear least-
  squares solution; the ``c`` with the smallest squared error wins. With only two epochs every
  ``c`` fits exactly, so ``c`` is fixed at 1. The prediction is clipped to [0, 1].

  Args:
    exponents: the grid of ``c`` values searched.
  """

  name = "power law"

  def __init__(self, exponents: Sequence[float] | None = None):
    self.exponents = np.asarray(exponents if exponents is not None
                                else np.geomspace(0.05, 3.0, 40), float)

  def _one(self, y: np.ndarray, f: float) -> float:
    u = _positions(len(y), f)
    cs = self.exponents if len(y) > 2 else np.array([1.0])
    best_err, best_pred = np.inf, y[-1]
    for c in cs:
      z = u ** -c
      zc, yc = z - z.mean(), y - y.mean()
      denom = float(zc @ zc)
      slope = float(zc @ yc) / denom if denom > 0 else 0.0  # y = intercept + slope * z
      intercept = y.mean() - slope * z.mean()
      err = float(np.sum((intercept + slope * z - y) ** 2))
      if err < best_err:
        best_err, best_pred = err, intercept + slope  # z(1) = 1
    return float(np.clip(best_pred, 0.0, 1.0))

  def predict_many(self, curves, fractions) -> Prediction:
    checked = _batch(curves, fractions)
    return Prediction(np.array([self._one(y, f) for y, f in checked]), np.zeros(len(checked)))


# ---------------------------------------------------------------------------------------------
# The ensemble


def training_rows(curves: Sequence, fractions: Sequence[float] = tuple(np.linspace(0.05, 0.9, 18))
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Features and targets from complete curves, each cut after every fraction in ``fractions``.

  Returns:
    ``(x, target, curve_index)``: features (rows, F), the gain still to come ``y_final - y_last``
    (rows,), and which curve each row came from. Cuts that leave fewer than two epochs, or the
    whole curve, are skipped.
  """
  xs, ts, idx = [], [], []
  for i, curve in enumerate(curves):
    y = np.asarray(curve, float)
    n = len(y)
    for q in fractions:
      t = int(round(q * n))
      if t < MIN_POINTS or t >= n:
        continue
      xs.append(_features(y[:t], t / n))
      ts.append(y[-1] - y[t - 1])
      idx.append(i)
  if not xs:
    return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0, int)
  return np.stack(xs), np.asarray(ts), np.asarray(idx)


def _mlp(params, x):
  import jax.numpy as jnp
  import jax
  h = x
  for w, b in params[:-1]:
    h = jax.nn.gelu(h @ w + b)
  w, b = params[-1]
  out = h @ w + b
  # A floor on the std keeps one over-confident member from making the likelihood explode.
  return out[..., 0], jax.nn.softplus(out[..., 1]) + 5e-3


class CurveEnsemble(_Predictor):
  """A deep ensemble of Gaussian MLPs from partial-curve features to the gain still to come.

  Build with :meth:`train` or :meth:`load`. The predictive mean is the last accuracy plus the
  members' mean gain (clipped to [0, 1]); the predictive variance is the mixture's, the mean of
  the members' variances plus the variance of their means.

  Args:
    params: per member, a list of ``(w, b)`` layers (NumPy arrays).
    x_mean, x_std: the feature standardisation the members were trained with.
    info: what it was trained on (kept in the saved file).
  """

  name = "ensemble"

  def __init__(self, params: list, x_mean: np.ndarray, x_std: np.ndarray,
               info: Mapping[str, Any] | None = None):
    self.params = params
    self.x_mean = np.asarray(x_mean, np.float32)
    self.x_std = np.asarray(x_std, np.float32)
    self.info = dict(info or {})
    self.std_scale = float(self.info.get("std_scale", 1.0))  # see ``calibrate`` in :meth:`train`
    self._apply = None

  @classmethod
  def train(cls, curve_sets: Mapping[str, Sequence] | Sequence, *, members: int = 5,
            hidden: Sequence[int] = (64, 64), steps: int = 3000, batch_size: int = 1024,
            lr: float = 3e-3, seed: int = 0, calibrate: bool = False,
            info: Mapping[str, Any] | None = None) -> "CurveEnsemble":
    """Trains an ensemble on complete curves.

    Args:
      curve_sets: ``{name: curves}`` (each set weighs the same in the loss) or one list of
        curves; a curve is a sequence of accuracies in [0, 1], one per epoch, to its final epoch.
      members: ensemble size.
      hidden: widths of each member's hidden layers.
      steps: Adam steps per member (all members train at once, vmapped).
      batch_size: rows per step, drawn with each curve set's total weight equal.
      lr: Adam learning rate (cosine-decayed to 0).
      seed: initialisation and batch order.
      calibrate: also train one smaller ensemble per curve set on the others, and widen the
        predictive std by how far the held-out sets' errors exceed it (the mean over sets of
        the 90% quantile of |error| / std, over the normal's 1.645; never below 1). An ensemble
        is sure of itself on the datasets it saw; this is its doubt on a new one.
      info: extra metadata to keep.
    """
    import jax
    import jax.numpy as jnp
    import optax

    sets = dict(curve_sets) if isinstance(curve_sets, Mapping) else {"curves": curve_sets}
    xs, ts, ws = [], [], []
    for name, curves in sets.items():
      for curve in curves:
        check_curve(curve, 0.5)
      x, t, _ = training_rows(curves)
      if len(x):
        xs.append(x), ts.append(t), ws.append(np.full(len(x), 1.0 / len(x)))
    if not xs:
      raise CurveError(f"no training rows: every curve is shorter than {MIN_POINTS + 1} epochs")
    x, t, w = np.concatenate(xs), np.concatenate(ts), np.concatenate(ws)
    x_mean, x_std = x.mean(0), x.std(0) + 1e-6
    xn = jnp.asarray((x - x_mean) / x_std, jnp.float32)
    t = jnp.asarray(t, jnp.float32)
    probs = jnp.asarray(w / w.sum(), jnp.float32)
    sizes = (x.shape[1], *hidden, 2)

    def init(key):
      layers = []
      for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:])):
        layers.append((jax.random.normal(k, (n_in, n_out)) * jnp.sqrt(1.0 / n_in),
                       jnp.zeros(n_out)))
      return layers

    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

    def loss_fn(params, x, t):
      mean, std = _mlp(params, x)
      return jnp.mean(jnp.log(std) + 0.5 * ((t - mean) / std) ** 2)

    # The data are arguments, not closed-over constants: XLA would constant-fold the sampling.
    def train_member(key, xn, t, probs):
      init_key, data_key = jax.random.split(key)
      params = init(init_key)

      def step(carry, k):
        params, opt = carry
        idx = jax.random.choice(k, len(probs), (batch_size,), p=probs)
        loss, grads = jax.value_and_grad(loss_fn)(params, xn[idx], t[idx])
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

      (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                         jax.random.split(data_key, steps))
      return params, losses[-100:].mean()

    keys = jax.random.split(jax.random.PRNGKey(seed), members)
    params, final_loss = jax.jit(jax.vmap(train_member, in_axes=(0, None, None, None)))(
        keys, xn, t, probs)
    params = jax.device_get(params)
    per_member = [[(np.asarray(w_[m]), np.asarray(b_[m])) for w_, b_ in params]
                  for m in range(members)]
    meta = dict(info or {}, curve_sets={k: len(v) for k, v in sets.items()}, members=members,
                hidden=list(hidden), steps=steps, rows=int(len(x)),
                final_nll=[float(v) for v in np.asarray(final_loss)])
    if calibrate and len(sets) > 1:
      scores = {}
      for name in sets:
        sub = cls.train({k: v for k, v in sets.items() if k != name}, members=min(3, members),
                        hidden=hidden, steps=max(1, steps // 3), batch_size=batch_size, lr=lr,
                        seed=seed + 1)
        rows, target, _ = training_rows(sets[name])
        mu, sd = sub._gains(rows)
        gain = mu.mean(0)
        std = np.sqrt(np.mean(sd ** 2 + mu ** 2, 0) - gain ** 2)
        scores[name] = float(np.quantile(np.abs(target - gain) / std, 0.9) / 1.645)
      meta.update(std_scale=max(1.0, float(np.mean(list(scores.values())))),
                  std_scale_per_set=scores)
    return cls(per_member, x_mean, x_std, meta)

  def _gains(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import jax
    import jax.numpy as jnp
    if self._apply is None:
      stacked = [(jnp.stack([m[i][0] for m in self.params]), jnp.stack([m[i][1] for m in self.params]))
                 for i in range(len(self.params[0]))]
      self._apply = jax.jit(lambda xn: jax.vmap(lambda p: _mlp(p, xn))(stacked))
    xn = (x.astype(np.float32) - self.x_mean) / self.x_std
    # Padded to a power of two so that batches of many sizes share a few compiled programs.
    n = len(xn)
    size = 1 << max(0, (n - 1).bit_length())
    padded = np.zeros((size, xn.shape[1]), np.float32)
    padded[:n] = xn
    mean, std = self._apply(jnp.asarray(padded))
    return np.asarray(mean)[:, :n], np.asarray(std)[:, :n]

  def predict_many(self, curves, fractions) -> Prediction:
    checked = _batch(curves, fractions)
    x = np.stack([_features(y, f) for y, f in checked])
    mu, sd = self._gains(x)  # (members, n)
    gain = mu.mean(0)
    std = np.sqrt(np.mean(sd ** 2 + mu ** 2, 0) - gain ** 2) * self.std_scale
    last = x[:, FEATURE_NAMES.index("last")]
    return Prediction(np.clip(last + gain, 0.0, 1.0), std)

  # -- files --------------------------------------------------------------------------------

  def save(self, path: str | os.PathLike) -> None:
    """Writes the ensemble to one ``.npz`` file (atomically)."""
    from base_nas.runs import atomic_write
    arrays = {"x_mean": self.x_mean, "x_std": self.x_std,
              "info": np.frombuffer(json.dumps(self.info).encode(), np.uint8)}
    for m, layers in enumerate(self.params):
      for i, (w, b) in enumerate(layers):
        arrays[f"m{m}_w{i}"], arrays[f"m{m}_b{i}"] = np.asarray(w, np.float32), np.asarray(
            b, np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(os.fspath(path), buf.getvalue())

  @classmethod
  def load(cls, path: str | os.PathLike | None = None) -> "CurveEnsemble":
    """Reads a file :meth:`save` wrote; by default the ensemble shipped with the package."""
    try:
      if path is None:
        data = (importlib.resources.files("base_nas") / "resources" / _RESOURCE).read_bytes()
      else:
        with open(path, "rb") as f:
          data = f.read()
      z = np.load(io.BytesIO(data))
      members = 1 + max(int(k[1:k.index("_")]) for k in z.files if k.startswith("m"))
      layers = 1 + max(int(k.split("_w")[1]) for k in z.files if "_w" in k)
      params = [[(z[f"m{m}_w{i}"], z[f"m{m}_b{i}"]) for i in range(layers)]
                for m in range(members)]
      info = json.loads(bytes(z["info"]).decode())
      return cls(params, z["x_mean"], z["x_std"], info)
    except FileNotFoundError:
      raise CurveError(f"curve model {path} does not exist") from None
    except (OSError, KeyError, ValueError) as err:
      raise CurveError(f"curve model {path or _RESOURCE} cannot be read ({err})") from None


def mean_absolute_error(predictor: _Predictor, curves: Sequence, fraction: float) -> float:
  """MAE of ``predictor``'s final accuracy for complete ``curves`` cut after ``fraction``.

  A curve is cut after ``max(2, round(fraction * len))`` epochs; the target is its last value.
  """
  cuts = [max(MIN_POINTS, int(round(fraction * len(c)))) for c in curves]
  pred = predictor.predict_many([np.asarray(c)[:k] for c, k in zip(curves, cuts)],
                                [k / len(c) for c, k in zip(curves, cuts)])
  finals = np.array([c[-1] for c in curves], float)
  return float(np.mean(np.abs(pred.mean - finals)))
