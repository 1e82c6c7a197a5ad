"""Early stopping by learning-curve extrapolation: end a run that will probably not beat the best.

After each epoch past ``min_fraction`` of the budget, a curve model (by default the shipped
:class:`base_nas.predict.curves.CurveEnsemble`) predicts the run's final accuracy from its curve
so far; the run stops when ``P(final > best) < threshold``, ``best`` being the best final
accuracy of the runs before it. This is the rule of Domhan et al. (2015) with a transferred
curve model in place of a per-run MCMC fit.

``base-nas train`` and ``base-nas search`` switch it on by config::

  early_stop=dict(enabled=True, threshold=0.05, min_fraction=0.1, best=0.93, model=None)

and watch ``test/accuracy`` and the supernet's ``valid/accuracy`` respectively. The section is
left out of a run's fingerprint: it decides only when a run ends, never what an epoch computes,
so a stopped run can be resumed with it switched off to train to the end.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from base_nas.errors import ConfigError
from base_nas.loop import STOP_REASON as REASON  # the loop ends a run on an epoch carrying it
from base_nas.predict import curves as curves_lib

# The default section (configs.TRAIN and configs.SEARCH hold a copy).
DEFAULTS = dict(enabled=False, threshold=0.05, min_fraction=0.1, best=None, model=None)
# Run(fingerprint_ignore=...) of the commands that take the section: resuming may switch it.
FINGERPRINT_IGNORE = ("run", "early_stop")


@dataclasses.dataclass(frozen=True)
class Decision:
  """The rule's verdict after one epoch: stop or not, and why."""
  stop: bool
  p_beat: float
  mean: float
  std: float
  reason: str = ""


class EarlyStopping:
  """Stops a run whose predicted final ``metric`` beats ``best`` with probability < ``threshold``.

  Args:
    best: the best final accuracy so far (a fraction in [0, 1], like ``metric``).
    epochs: the run's epoch budget.
    metric: the per-epoch metric to extrapolate, e.g. ``"test/accuracy"``.
    threshold: stop when P(final > best) falls below this, in (0, 1).
    min_fraction: decide only once this part of the budget is observed (and two epochs).
    model: a predictor with ``predict(curve, fraction)`` (default: the shipped ensemble).
  """

  def __init__(self, best: float, epochs: int, metric: str, *, threshold: float = 0.05,
               min_fraction: float = 0.1, model=None):
    if not 0.0 < threshold < 1.0:
      raise ConfigError(f"early_stop.threshold={threshold!r}: must be a number in (0, 1)")
    if not 0.0 < min_fraction < 1.0:
      raise ConfigError(f"early_stop.min_fraction={min_fraction!r}: must be a number in (0, 1)")
    if best is None or not 0.0 <= best <= 1.0:
      raise ConfigError(f"early_stop.best={best!r}: set the best final {metric} so far, a "
                        "fraction in [0, 1]")
    self.best, self.epochs, self.metric = float(best), int(epochs), metric
    self.threshold, self.min_fraction = float(threshold), float(min_fraction)
    self.model = model if model is not None else curves_lib.CurveEnsemble.load()

  def decide(self, curve: Sequence[float]) -> Decision | None:
    """The verdict on a run whose first ``len(curve)`` epochs gave ``curve``; None: too early."""
    n = len(curve)
    fraction = n / self.epochs
    if fraction < self.min_fraction or fraction >= 1.0 or n < curves_lib.MIN_POINTS:
      return None
    pred = self.model.predict(curve, fraction)
    p = float(pred.prob_above(self.best))
    if p >= self.threshold:
      return Decision(False, p, pred.mean, pred.std)
    reason = (f"P(final {self.metric} > best {self.best:.4f}) = {p:.3g} < {self.threshold:g} "
              f"after {n}/{self.epochs} epochs (predicted {pred.mean:.4f} +- {pred.std:.4f})")
    return Decision(True, p, pred.mean, pred.std, reason)

  def __call__(self, epoch: int, history: Sequence[Mapping[str, Any]]) -> dict | None:
    """The hook :func:`base_nas.loop.run_epochs` calls after each epoch: metrics to log, or None.

    ``history`` ends with the epoch just finished; a ``REASON`` key in the result ends the run.
    """
    curve = [float(h[self.metric]) for h in history if h.get(self.metric) is not None]
    d = self.decide(curve)
    if d is None:
      return None
    out = {"early_stop/p_beat": d.p_beat, "early_stop/predicted": d.mean,
           "early_stop/predicted_std": d.std}
    if d.stop:
      out[REASON] = d.reason
    return out


def from_config(section: Mapping[str, Any] | None, epochs: int, metric: str
                ) -> EarlyStopping | None:
  """The rule a config's ``early_stop`` section describes, or None when it is off or absent."""
  if not section or not section.get("enabled"):
    return None
  cfg = dict(DEFAULTS, **section)
  model = curves_lib.CurveEnsemble.load(cfg["model"]) if cfg["model"] else None
  return EarlyStopping(cfg["best"], epochs, metric, threshold=cfg["threshold"],
                       min_fraction=cfg["min_fraction"], model=model)


def summary(history: Sequence[Mapping[str, Any]], rule: EarlyStopping | None) -> dict:
  """What summary.json says about early stopping (empty when it was off)."""
  if rule is None:
    return {}
  last = history[-1] if history else {}
  reason = last.get(REASON)
  return {"early_stop": {"stopped": bool(reason), "reason": reason or "",
                         "epochs_run": len(history), "epochs": rule.epochs, "best": rule.best,
                         "threshold": rule.threshold, "metric": rule.metric}}
