"""The epoch loop shared by searches and final training: resume, progress, NaN guard, checkpoints.

A run's randomness depends only on (seed, epoch, step) and its data order only on (seed, epoch),
so a run killed and started again from its last checkpoint (saved every epoch, and every
``checkpoint_every`` steps within one) ends with the same result as an uninterrupted one.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Iterator, Mapping

import numpy as np
from tqdm.auto import tqdm

from base_nas.errors import RunError

StepFn = Callable[[Any, Any, int, int], tuple[Any, Mapping[str, Any]]]
STOP_REASON = "early_stop/reason"  # a metric of this name from ``early_stop`` ends the run


class MeanMetrics:
  """Running means of scalar metrics over an epoch."""

  def __init__(self):
    self.sums: dict[str, float] = {}
    self.count = 0

  def add(self, metrics: Mapping[str, float]):
    for k, v in metrics.items():
      self.sums[k] = self.sums.get(k, 0.0) + float(v)
    self.count += 1

  def means(self) -> dict[str, float]:
    return {k: v / max(self.count, 1) for k, v in self.sums.items()}


def check_finite(metrics: Mapping[str, float], epoch: int, step: int, hint: str = ""):
  bad = [k for k, v in metrics.items() if not math.isfinite(float(v))]
  if bad:
    raise RunError(f"{bad[0]} became {metrics[bad[0]]} at epoch {epoch} step {step}; the last "
                   f"checkpoint is kept{hint}")


def run_epochs(run, state, *, epochs: int, steps_per_epoch: int,
               batches: Callable[[int, int], Iterator[Any]], step_fn: StepFn,
               on_epoch_end: Callable[[Any, int, dict], Mapping[str, float] | None],
               checkpoint_every: int = 0, progress: bool = True, desc: str = "",
               nan_hint: str = "", place: Callable[[Any], Any] | None = None,
               early_stop: Callable[[int, list], Mapping[str, Any] | None] | None = None):
  """Runs (or resumes) ``epochs`` epochs of ``steps_per_epoch`` steps.

  Args:
    run: a :class:`base_nas.runs.Run` (checkpoints, metrics).
    state: the initial state pytree (also the template for restoring a checkpoint).
    batches: ``(epoch, start_step) -> iterator`` of the epoch's batches from ``start_step`` on.
    step_fn: ``(state, batch, epoch, step) -> (state, metrics)``.
    on_epoch_end: ``(state, epoch, train_means) -> extra metrics`` (evaluation, genotype, plots).
    checkpoint_every: also checkpoint every this many steps within an epoch (0: epochs only).
    place: puts a restored state where ``step_fn`` wants it (e.g. replicated over a mesh).
    early_stop: ``(epoch, history) -> metrics or None``, called after each epoch with the
      history up to it (e.g. :class:`base_nas.predict.early_stop.EarlyStopping`); its metrics
      join the epoch's, and one named :data:`STOP_REASON` ends the run there, logged with
      ``early_stop/stopped``. A run resumed after such a stop stops again if the rule still
      says so, and trains on if the rule is now None. None (the default) changes nothing.
  Returns:
    (state, history): the final state and the per-epoch metrics.
  """
  start_epoch, start_step, history = 0, 0, []
  means = MeanMetrics()
  restored = run.restore(state)
  if restored is not None:
    global_step, state, meta = restored
    if place is not None:
      state = place(state)
    start_epoch, start_step = int(meta["epoch"]), int(meta["step_in_epoch"])
    history = list(meta.get("history", []))
    # A checkpoint within an epoch carries that epoch's running sums, so its means come out whole.
    means.sums, means.count = dict(meta.get("epoch_sums", {})), int(meta.get("epoch_count", 0))
    run.truncate_metrics(global_step)
    print(f"resuming from {run.path('checkpoints')} at epoch {start_epoch} step {start_step}",
          file=sys.stderr)
    if (early_stop is not None and history and start_step == 0 and history[-1].get(STOP_REASON)
        and (early_stop(start_epoch - 1, history) or {}).get(STOP_REASON)):
      return state, history  # stopped early before, and the rule still says so
  else:
    run.truncate_metrics(0)  # lines of a run killed before its first checkpoint

  def save(epoch, step_in_epoch):
    run.save(epoch * steps_per_epoch + step_in_epoch, state,
             dict(epoch=epoch, step_in_epoch=step_in_epoch, history=history,
                  epoch_sums=means.sums, epoch_count=means.count))

  for epoch in range(start_epoch, epochs):
    first = start_step if epoch == start_epoch else 0
    if epoch != start_epoch:
      means = MeanMetrics()
    bar = tqdm(total=steps_per_epoch, initial=first, desc=f"{desc} epoch {epoch + 1}/{epochs}",
               disable=not progress, leave=False, dynamic_ncols=True)
    t0 = time.time()
    step = first
    for step, batch in enumerate(batches(epoch, first), start=first):
      if step >= steps_per_epoch:
        break
      state, metrics = step_fn(state, batch, epoch, step)
      metrics = {k: float(v) for k, v in metrics.items()}
      check_finite(metrics, epoch, step, nan_hint)
      means.add(metrics)
      global_step = epoch * steps_per_epoch + step + 1
      run.log(global_step, {f"train/{k}": v for k, v in metrics.items()})
      bar.set_postfix({k: f"{v:.3f}" for k, v in list(metrics.items())[:4]}, refresh=False)
      bar.update(1)
      if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < steps_per_epoch:
        save(epoch, step + 1)
    bar.close()
    epoch_metrics = {f"train/{k}": v for k, v in means.means().items()}
    epoch_metrics.update(on_epoch_end(state, epoch, epoch_metrics) or {})
    epoch_metrics["epoch_seconds"] = time.time() - t0
    history.append(dict(epoch=epoch + 1, **epoch_metrics))
    reason = None
    if early_stop is not None:
      extra = dict(early_stop(epoch, history) or {})
      history[-1].update(extra)
      epoch_metrics.update(extra)
      reason = extra.get(STOP_REASON)
    run.log((epoch + 1) * steps_per_epoch, {k: v for k, v in epoch_metrics.items()
                                            if isinstance(v, (int, float, np.floating))})
    if reason:  # its own row: the epoch row keeps numbers only, and a reason is text
      run.log((epoch + 1) * steps_per_epoch, {"early_stop/stopped": 1, STOP_REASON: reason})
    means = MeanMetrics()
    save(epoch + 1, 0)
    if progress:
      shown = {k: v for k, v in epoch_metrics.items() if isinstance(v, float)}
      print(f"{desc} epoch {epoch + 1}/{epochs}: " +
            " ".join(f"{k}={v:.4g}" for k, v in shown.items()), file=sys.stderr)
    if reason:
      print(f"{desc} stopped early: {reason}", file=sys.stderr)
      break
  return state, history
