"""A cell for a new dataset by a transfer method (``base-nas infer``), a cell's predicted value
(``base-nas predict``), and fitting a value-network predictor (``base-nas fit-predictor``).

Methods of ``infer`` (``method=``):

- ``value-net``: a trained value network (base_nas/predict/value_net.py) told about the new task
  by its landmark values. The predictor's record names its landmark cells; they are trained
  briefly on the dataset's images (``landmarks.*``; each one a ``base-nas train`` run in
  ``WORKDIR/landmarks/``, so an interrupted inference resumes where it stopped), or, with
  ``task=NAME``, looked up in the space's table (a benchmark task: leave-one-out checks).
  Gradient ascent over architecture logits proposes cells, ranked by predicted value.
- ``base``: BASE adaptation of a prior (base_nas/meta/adapt.py) in ``WORKDIR/adapt``; the
  posterior's most probable cells are the candidates.

Both write the same files: ``genotype.json`` (the first candidate), ``candidates.json`` (ranked,
with the predicted value or the posterior probability, and the table's values where the space
has a table) and ``summary.json`` (wall time, landmark training included).

Landmark values are standardised by their own mean and spread (base_nas/predict/landmarks.py),
so predictions are in "landmark units": 1.0 is one landmark standard deviation above the
landmarks' mean on this task. A predictor fitted on full tables (200-epoch accuracies) and told
about a new dataset by briefly trained landmarks sees the landmarks' order after a short
training, not after 200 epochs: the two agree only roughly, which is the price of describing a
dataset in minutes.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Mapping

import numpy as np

from base_nas import spaces
from base_nas.config import Config
from base_nas.errors import ConfigError, PredictorError, UserError
from base_nas.predict import landmarks as landmarks_lib
from base_nas.ranges import ADAPT_RANGES, check_ranges, float_range, int_range
from base_nas.runs import Run

METHODS = ("value-net", "base")
_SHIPPED = ("resources", "predictors")
# Spaces whose cells `base-nas train` can build, so landmarks can be trained on images.
_TRAINABLE = ("nb201",)
RANGES = dict(ADAPT_RANGES, **{
    "landmarks.count": int_range(2), "landmarks.seed": int_range(0),
    "landmarks.epochs": int_range(1), "landmarks.batch_size": int_range(1),
    "landmarks.channels": int_range(1), "landmarks.layers": int_range(1),
    "landmarks.lr": float_range(0, low_inclusive=False), "landmarks.eval_batches": int_range(0),
    "infer.candidates": int_range(1), "infer.restarts": int_range(1), "infer.steps": int_range(1),
    "infer.lr": float_range(0, low_inclusive=False)})


def shipped_predictors() -> dict[str, str]:
  """``{short name: directory}`` of the predictors packaged with base-nas."""
  from base_nas.meta.prior import shipped_dirs
  return shipped_dirs(_SHIPPED, "predictor.json")


def resolve_predictor(ref: str) -> str:
  """A predictor directory given as a path or as a shipped predictor's short name."""
  ref = os.fspath(ref)
  if os.path.exists(ref) or os.sep in ref:
    return ref
  return shipped_predictors().get(ref, ref)


def _table(space: str):
  from base_nas.predict.tables import load_table
  return load_table(space)


def _cell(space: str, text: str):
  """A genotype of ``space`` from an architecture string or a genotype file."""
  if os.path.exists(text):
    return spaces.load_genotype(text, space)
  return spaces.get_space(space).genotype_from_dict({"space": space, "arch": text})


# ---------------------------------------------------------------------------------------------
# fit-predictor

def fit_predictor(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Trains a value network on the full tables of ``cfg.tasks``; saves it in ``workdir``."""
  from base_nas.predict import value_net
  t0 = time.time()
  check_ranges(cfg, RANGES)
  space = spaces.get_space(cfg.space).name
  table = _table(space)
  tasks = list(cfg.tasks)
  unknown = [t for t in tasks if t not in table.tasks]
  if not tasks or unknown:
    raise ConfigError(f"tasks must name tasks of the {space} table ({', '.join(table.tasks)})"
                      + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
  config = value_net.ValueNetConfig(**{**cfg.value_net.to_dict(), "seed": cfg.seed})
  run = Run(workdir, cfg)
  encodings = np.asarray(table.encodings())
  marks = landmarks_lib.choose_landmarks(encodings, cfg.landmarks.count, cfg.landmarks.seed)
  values = np.stack([np.asarray(table.values(t), np.float64) for t in tasks])
  feats, targets = landmarks_lib.task_records(values, marks)
  net = value_net.fit(feats, encodings, targets, num_ops=spaces.get_space(space).num_ops,
                      space=space, config=config)
  genotypes = table.genotypes()
  record = {"tasks": tasks, "landmarks": [genotypes[r].to_string() for r in marks],
            "features": "landmark values, standardised by their own mean and spread",
            "fit_seconds": time.time() - t0}
  path = value_net.save(net, run.path("predictor"), record)
  summary = {"space": space, "tasks": tasks, "landmarks": record["landmarks"], "predictor": path,
             "train_loss": net.info.get("train_loss"), "seconds": time.time() - t0,
             "workdir": workdir}
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_fit(summary: Mapping[str, Any], stream=None) -> None:
  stream = stream or sys.stdout
  print(f"\nvalue network for {summary['space']} fitted on {', '.join(summary['tasks'])} in "
        f"{summary['seconds']:.0f} s ({len(summary['landmarks'])} landmark cells)", file=stream)
  print(f"  predictor: {summary['predictor']}", file=stream)


# ---------------------------------------------------------------------------------------------
# landmark features of a new task

def _landmark_config(cfg, space: str, genotype: str) -> Config:
  from base_nas.configs import train_config
  lm = cfg.landmarks
  return Config(train_config(
      seed=cfg.seed, space=space, genotype=genotype,
      data=dict(spec=cfg.data.spec, data_dir=cfg.data.get("data_dir"),
                image_size=cfg.data.image_size, limit=cfg.data.limit,
                test_split=cfg.data.test_split),
      model=dict(channels=lm.channels, layers=lm.layers),
      train=dict(epochs=lm.epochs, batch_size=lm.batch_size, lr=lm.lr, cutout=0,
                 drop_path_prob=0.0, augment=False, eval_batches=lm.eval_batches),
      run=dict(progress=False, plots=False)))


def landmark_values(cfg, record: Mapping[str, Any], space: str, workdir: str,
                    progress: bool = False) -> tuple[np.ndarray, str]:
  """The new task's values of the predictor's landmark cells, and where they came from."""
  cells = record.get("landmarks") or []
  if len(cells) < 2:
    raise PredictorError("the predictor's record lists no landmark cells; refit it with "
                         "`base-nas fit-predictor`")
  if cfg.get("task"):
    table = _table(space)
    if cfg.task not in table.tasks:
      raise ConfigError(f"task={cfg.task!r} is not a task of the {space} table "
                        f"({', '.join(table.tasks)})")
    return np.asarray([table.value(c, cfg.task) for c in cells]), f"table:{space}/{cfg.task}"
  if space not in _TRAINABLE:
    raise ConfigError(f"landmarks of the {space} space cannot be trained on images (base-nas "
                      f"train builds {', '.join(_TRAINABLE)} cells): name a table task with "
                      "task=...")
  from base_nas import data as data_lib
  from base_nas.final import run_training
  # Checked before any landmark compiles: a dataset that cannot rank cells fails in a second.
  dataset = data_lib.open_dataset(cfg.data.spec, cfg.data.get("data_dir"))
  labels = np.asarray(dataset.train_split().labels)
  if len(labels) < 10 or len(np.unique(labels)) < 2:
    raise ConfigError(f"{cfg.data.spec} has {len(labels)} training images in "
                      f"{len(np.unique(labels))} classes: landmark cells need at least 10 images "
                      "of 2 or more classes")
  values = []
  for k, cell in enumerate(cells):
    if progress:
      print(f"landmark {k + 1}/{len(cells)}: {cell}", file=sys.stderr, flush=True)
    s = run_training(_landmark_config(cfg, space, cell),
                     os.path.join(workdir, "landmarks", str(k)), progress=False)
    values.append(s["test_accuracy"])
  return np.asarray(values, np.float64), f"images:{cfg.data.spec}"


def _load_value_net(cfg):
  from base_nas.predict import store, value_net
  path = resolve_predictor(cfg.predictor)
  net = value_net.load(path, space=cfg.get("space") or None)
  record = store.read_record(path, kind=value_net.KIND).get("record") or {}
  return net, record, path


def _table_values(space: str, genotype) -> dict[str, float]:
  try:
    table = _table(space)
  except UserError:  # a space without a table (darts) has nothing to add
    return {}
  return {f"{space}/{t}": table.value(genotype, t) for t in table.tasks
          if np.isfinite(table.value(genotype, t))}


# ---------------------------------------------------------------------------------------------
# predict

def run_predict(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Predicts the value of ``cfg.genotype`` (one cell, or several separated by commas)."""
  t0 = time.time()
  check_ranges(cfg, RANGES)
  if not cfg.get("genotype"):
    raise ConfigError("genotype=CELL is required: an architecture string or a genotype file")
  net, record, path = _load_value_net(cfg)
  cells = [_cell(net.space, g.strip()) for g in str(cfg.genotype).split(",") if g.strip()]
  run = Run(workdir, cfg)
  values, source = landmark_values(cfg, record, net.space, workdir, progress)
  features, loc, scale = landmarks_lib.standardise(values)
  sp = spaces.get_space(net.space)
  enc = np.asarray([[sp.ops.index(op) for op in c.ops] for c in cells])
  pred = net.predict(features, enc)
  rows = []
  for c, z in zip(cells, pred):
    row = {"genotype": c.to_string(), "predicted": float(z),
           "predicted_value": float(loc + scale * z)}
    if cfg.get("task"):
      row["true_value"] = _table(net.space).value(c, cfg.task)
    rows.append(row)
  summary = {"space": net.space, "predictor": os.path.abspath(path), "task": source,
             "landmark_values": values.tolist(), "cells": rows,
             "seconds": time.time() - t0, "workdir": workdir}
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_predict(summary: Mapping[str, Any], stream=None) -> None:
  stream = stream or sys.stdout
  print(f"\npredicted by {summary['predictor']} on {summary['task']} ({summary['space']}), "
        f"{summary['seconds']:.0f} s; landmark units (1 = one landmark std above their mean):",
        file=stream)
  for r in summary["cells"]:
    true = f", table {r['true_value']:.3f}" if "true_value" in r else ""
    print(f"  {r['predicted']:+.3f} (~{r['predicted_value']:.4g}{true})  {r['genotype']}",
          file=stream)


# ---------------------------------------------------------------------------------------------
# infer

def _infer_value_net(cfg, run: Run, progress: bool) -> tuple[list[dict], dict]:
  from base_nas.predict import value_net
  net, record, path = _load_value_net(cfg)
  values, source = landmark_values(cfg, record, net.space, run.workdir, progress)
  features, loc, scale = landmarks_lib.standardise(values)
  i = cfg.infer
  ranked = value_net.infer(net, features, restarts=i.restarts, steps=i.steps, lr=i.lr,
                           seed=cfg.seed)
  sp = spaces.get_space(net.space)
  candidates = []
  for enc, z in ranked[:i.candidates]:
    g = sp.genotype_cls(tuple(sp.ops[o] for o in enc))
    candidates.append({"genotype": g.to_string(), "predicted": float(z),
                       "predicted_value": float(loc + scale * z), **_table_values(sp.name, g)})
  return candidates, {"space": net.space, "predictor": os.path.abspath(path), "task": source,
                      "landmark_values": values.tolist()}


def _infer_base(cfg, run: Run, progress: bool) -> tuple[list[dict], dict]:
  from base_nas.configs import adapt_config
  from base_nas.meta.adapt import run_adapt
  acfg = Config(adapt_config(seed=cfg.seed, prior=cfg.prior, space=cfg.get("space"),
                             data=cfg.data.to_dict(), adapt=cfg.adapt.to_dict(),
                             run=cfg.run.to_dict()))
  s = run_adapt(acfg, run.path("adapt"), progress=progress)
  candidates = [{"genotype": e["genotype"], "probability": e["probability"],
                 **{k: v for k, v in e.items() if k not in ("genotype", "probability")}}
                for e in s["top_k"][:cfg.infer.candidates]]
  return candidates, {"space": s["space"], "prior": s["prior"], "task": f"images:{s['dataset']}",
                      "test_accuracy": s["test_accuracy"]}


def run_infer(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Finds a cell for ``cfg.data`` (or ``cfg.task``) by ``cfg.method``; returns the summary."""
  t0 = time.time()
  check_ranges(cfg, RANGES)
  if cfg.method not in METHODS:
    raise ConfigError(f"unknown method {cfg.method!r} (choose from: {', '.join(METHODS)}; "
                      "metad2a is not built yet)")
  run = Run(workdir, cfg)
  infer = _infer_value_net if cfg.method == "value-net" else _infer_base
  candidates, info = infer(cfg, run, progress)
  if not candidates:
    raise PredictorError(f"{cfg.method} proposed no cell")
  space = info["space"]
  best = _cell(space, candidates[0]["genotype"])
  spaces.save_genotype(run.path("genotype.json"), best)
  run.write_json("candidates.json", candidates)
  summary = {"method": cfg.method, **info, "genotype": best.to_string(),
             **_table_values(space, best), "candidates": len(candidates),
             "seconds": time.time() - t0, "workdir": workdir,
             "files": {n: run.path(n) for n in ("genotype.json", "candidates.json",
                                                "summary.json")}}
  run.write_json("summary.json", summary)
  run.close()
  return summary


def print_infer(summary: Mapping[str, Any], stream=None) -> None:
  stream = stream or sys.stdout
  print(f"\n{summary['method']} on {summary['task']} ({summary['space']} space): "
        f"{summary['seconds']:.0f} s", file=stream)
  print(f"  cell: {summary['genotype']}", file=stream)
  for k, v in summary.items():
    if "/" in k and isinstance(v, float):
      print(f"  table {k}: {v:.3f}", file=stream)
  for name, path in summary["files"].items():
    print(f"  {name}: {path}", file=stream)
