"""A value network and gradient-ascent architecture inference (Kokiopoulou et al., 2019).

"Fast Task-Aware Architecture Inference" learns one network ``v(task features, architecture)``
from the performance of many cells on many tasks, and answers a new task without training any
cell: it climbs ``v`` for that task's features over a continuous relaxation of the cell and
rounds the result to a discrete cell.

Here the architecture of a cell space with ``E`` edges and ``O`` ops per edge is its per-edge op
probabilities ``[E, O]`` (a discrete cell, an int encoding ``[E]`` of op indices, is the one-hot
vertex of that product of simplices). Everything is plain arrays: the caller chooses the task
meta-features (e.g. :mod:`base_nas.predict.landmarks`) and how the targets are normalised, and
:meth:`ValueNet.predict` answers in the scale of the targets it was fitted on.

  net = fit(task_features, encodings, values, num_ops=5, space="nb201")
  ranked = infer(net, new_task_features)      # [(cell encoding, predicted value), ...]
  save(net, "value-net", record={"tasks": [...]}); net = load("value-net", space="nb201")

The network embeds the task features and the flattened probabilities in two ReLU layers and
feeds both embeddings and their elementwise product to an MLP head: the product lets a small
network express how much an op is worth *on this task*, which a plain MLP on the concatenation
learns only slowly. It is trained on (task, cell) pairs with a squared error on standardised
targets plus a pairwise logistic ranking term between cells of the same task, since what the
search uses is the order of cells within a task, not their absolute values.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping, Sequence

import numpy as np

from base_nas.errors import PredictorError
from base_nas.predict import store

KIND = "value-net"


@dataclasses.dataclass(frozen=True)
class ValueNetConfig:
  """How a value network is built and trained.

  Attributes:
    hidden: widths of the task and architecture embeddings (``hidden[0]``) and of the head's
      hidden layers (``hidden[1:]``).
    steps: optimiser steps.
    batch_size: (task, cell) pairs per step, drawn as ``batch_size // cells_per_task`` tasks
      with ``cells_per_task`` cells each.
    cells_per_task: cells of one task in a batch, among which the ranking term compares all
      pairs.
    learning_rate: peak Adam learning rate (cosine decay to 5% of it).
    weight_decay: decoupled weight decay (AdamW).
    rank_weight: weight of the pairwise ranking term next to the squared error (0: MSE only).
    seed: initialisation and batch sampling.
  """
  hidden: tuple[int, ...] = (128, 128)
  steps: int = 2000
  batch_size: int = 256
  cells_per_task: int = 32
  learning_rate: float = 2e-3
  weight_decay: float = 1e-4
  rank_weight: float = 1.0
  seed: int = 0

  def __post_init__(self):
    object.__setattr__(self, "hidden", tuple(self.hidden))
    if not self.hidden or not all(isinstance(w, int) and w >= 1 for w in self.hidden):
      raise PredictorError(f"hidden must be positive layer widths, got {self.hidden!r}")
    if self.steps < 1:
      raise PredictorError(f"steps must be at least 1, got {self.steps}")
    if self.cells_per_task < 2:
      raise PredictorError(f"cells_per_task must be at least 2, got {self.cells_per_task}")
    if self.batch_size < self.cells_per_task:
      raise PredictorError(f"batch_size ({self.batch_size}) must be at least cells_per_task "
                           f"({self.cells_per_task})")
    if not self.learning_rate > 0 or not self.weight_decay >= 0 or not self.rank_weight >= 0:
      raise PredictorError("learning_rate must be positive, weight_decay and rank_weight "
                           "non-negative")


@dataclasses.dataclass(frozen=True, eq=False)
class ValueNet:
  """A fitted value network; build with :func:`fit` or :func:`load`.

  Attributes:
    space: the search space it was trained for (a name only; it is checked by :func:`load`).
    num_edges, num_ops, num_features: ``E``, ``O`` and ``F``.
    params: the network's parameters (numpy arrays).
    config: how it was trained.
    feature_loc, feature_scale: ``[F]`` standardisation of task features (training tasks'
      mean and standard deviation).
    target_loc, target_scale: the targets were standardised as ``(v - loc) / scale``;
      predictions are mapped back.
    info: what fitting reported (record count, final training loss).
  """
  space: str
  num_edges: int
  num_ops: int
  num_features: int
  params: Any
  config: ValueNetConfig
  feature_loc: np.ndarray
  feature_scale: np.ndarray
  target_loc: float
  target_scale: float
  info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def predict(self, task_features, archs) -> np.ndarray:
    """Predicted values ``[M]`` of cells on a task, in the scale of the training targets.

    Args:
      task_features: ``[F]`` the task's meta-features.
      archs: ``[M, E]`` int op indices, or ``[M, E, O]`` per-edge op probabilities.
    """
    probs = self._probs(archs)
    if len(probs) == 0:
      return np.zeros((0,), np.float64)
    # Padding to a power of two keeps the number of compiled programs small across calls.
    m = len(probs)
    padded = np.zeros((max(64, 1 << (m - 1).bit_length()),) + probs.shape[1:], np.float32)
    padded[:m] = probs
    out = _scorer(self.config.hidden)(self.params, self._features(task_features), padded)
    return np.asarray(out, np.float64)[:m] * self.target_scale + self.target_loc

  def _features(self, task_features) -> np.ndarray:
    f = np.asarray(task_features, np.float64)
    if f.shape != (self.num_features,):
      raise PredictorError(f"task features must have shape ({self.num_features},), got "
                           f"{f.shape}")
    if not np.all(np.isfinite(f)):
      raise PredictorError("task features must be finite")
    return ((f - self.feature_loc) / self.feature_scale).astype(np.float32)

  def _probs(self, archs) -> np.ndarray:
    a = np.asarray(archs)
    e, o = self.num_edges, self.num_ops
    if a.ndim == 2:
      if a.shape[1] != e or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise PredictorError(f"int encodings must have shape (M, {e}) and an integer dtype, "
                             f"got {a.shape} {a.dtype}")
      a = a.astype(np.int64)
      if a.size and (a.min() < 0 or a.max() >= o):
        raise PredictorError(f"op indices must be in [0, {o}), got {a.min()}..{a.max()}")
      return np.eye(o, dtype=np.float32)[a]
    if a.ndim == 3 and a.shape[1:] == (e, o):
      a = a.astype(np.float64)
      if not np.all(np.isfinite(a)) or a.size and (
          a.min() < -1e-6 or np.abs(a.sum(-1) - 1).max() > 1e-3):
        raise PredictorError(f"architecture probabilities must be non-negative and sum to 1 "
                             f"over the {o} ops of each edge")
      return a.astype(np.float32)
    raise PredictorError(f"architectures must be int encodings (M, {e}) or probabilities "
                         f"(M, {e}, {o}), got shape {a.shape}")


# ---------------------------------------------------------------------------------------------
# Fitting


def fit(task_features, encodings, values, num_ops: int, space: str,
        config: ValueNetConfig = ValueNetConfig()) -> ValueNet:
  """Trains a value network on every (task, cell) pair with a value.

  Args:
    task_features: ``[T, F]`` meta-features of the training tasks.
    encodings: ``[N, E]`` int op indices of the cells.
    values: ``[T, N]`` value of cell ``n`` on task ``t``; NaN marks a missing record, which is
      skipped (a task with no values at all is left out).
    num_ops: ``O``, the ops per edge of the space.
    space: the search space's name, recorded and checked on :func:`load`.
    config: network and training settings.

  Raises:
    PredictorError: shapes that do not agree, non-finite features or values (other than NaN
      in ``values``), op indices outside ``[0, num_ops)``, or no value at all.
  """
  import jax
  feats, enc, vals = _check_data(task_features, encodings, values, num_ops, space)
  t, f = feats.shape
  n, e = enc.shape
  finite = np.isfinite(vals)
  counts = finite.sum(1)
  tasks = np.flatnonzero(counts).astype(np.int32)
  # Standardised inputs and targets keep the default learning rate meaningful whatever the
  # caller's units; std 0 (one task, or a constant feature) leaves the feature unscaled.
  feature_loc = feats.mean(0)
  feature_scale = _safe_scale(feats.std(0))
  target_loc = float(vals[finite].mean())
  target_scale = float(_safe_scale(np.asarray(vals[finite].std())))
  y = np.where(finite, (vals - target_loc) / target_scale, 0.0).astype(np.float32)
  # Row t lists task t's cells with a value (padded): sampling a position below counts[t]
  # draws uniformly among them without touching missing records.
  index = np.zeros((t, int(counts.max())), np.int32)
  for i in tasks:
    cells = np.flatnonzero(finite[i])
    index[i, :len(cells)] = cells
  model = _model(config.hidden)
  key = jax.random.PRNGKey(config.seed)
  init_key, train_key = jax.random.split(key)
  params = model.init(init_key, np.zeros((1, f), np.float32), np.zeros((1, e, num_ops),
                                                                        np.float32))
  # The seed only picks the keys below: one compiled trainer serves every seed.
  train = _trainer(dataclasses.replace(config, seed=0), num_ops)
  params, losses = train(params, train_key, ((feats - feature_loc) / feature_scale).astype(
      np.float32), enc.astype(np.int32), y, index, counts.astype(np.int32), tasks)
  losses = np.asarray(losses)
  tail = losses[-max(1, len(losses) // 10):]
  if not np.all(np.isfinite(tail)):
    raise PredictorError("value network training diverged (non-finite loss); lower "
                         "learning_rate")
  return ValueNet(space=space, num_edges=e, num_ops=num_ops, num_features=f,
                  params=jax.tree.map(np.asarray, params), config=config,
                  feature_loc=feature_loc, feature_scale=feature_scale,
                  target_loc=target_loc, target_scale=target_scale,
                  info={"records": int(finite.sum()), "tasks": int(len(tasks)),
                        "train_loss": float(tail.mean())})


def _check_data(task_features, encodings, values, num_ops, space):
  if not isinstance(space, str) or not space:
    raise PredictorError(f"space must be a non-empty name, got {space!r}")
  if isinstance(num_ops, bool) or not isinstance(num_ops, (int, np.integer)) or num_ops < 1:
    raise PredictorError(f"num_ops must be a positive integer, got {num_ops!r}")
  feats = _array(task_features, "task_features", np.float64)
  enc = _array(encodings, "encodings")
  vals = _array(values, "values", np.float64)
  if feats.ndim != 2 or feats.shape[0] < 1 or feats.shape[1] < 1:
    raise PredictorError(f"task_features must have shape (T, F) with T, F >= 1, got "
                         f"{feats.shape}")
  if not np.all(np.isfinite(feats)):
    raise PredictorError("task_features must be finite (NaN or inf found)")
  if enc.ndim != 2 or enc.shape[0] < 1 or enc.shape[1] < 1:
    raise PredictorError(f"encodings must have shape (N, E) with N, E >= 1, got {enc.shape}")
  if not np.issubdtype(enc.dtype, np.integer):
    raise PredictorError(f"encodings must be integer op indices, got dtype {enc.dtype}")
  if enc.min() < 0 or enc.max() >= num_ops:
    raise PredictorError(f"op indices must be in [0, {num_ops}), got {enc.min()}..{enc.max()}")
  want = (feats.shape[0], enc.shape[0])
  if vals.shape != want:
    raise PredictorError(f"values must have shape (T, N) = {want} (tasks of task_features, "
                         f"cells of encodings), got {vals.shape}")
  if np.isinf(vals).any():
    raise PredictorError("values must be finite or NaN (missing), inf found")
  if not np.isfinite(vals).any():
    raise PredictorError("values are all missing (NaN): nothing to train on")
  return feats, enc, vals


def _array(x, name, dtype=None):
  try:
    return np.asarray(x, dtype)
  except (TypeError, ValueError) as e:
    raise PredictorError(f"{name} is not a numeric array ({e})") from None


def _safe_scale(std: np.ndarray) -> np.ndarray:
  return np.where(std > 1e-8, std, 1.0)


@functools.lru_cache(maxsize=None)
def _model(hidden: tuple[int, ...]):
  import flax.linen as nn
  import jax.numpy as jnp

  class _ValueMLP(nn.Module):
    """``[B, F]`` standardised task features, ``[B, E, O]`` probabilities -> ``[B]``."""

    @nn.compact
    def __call__(self, feats, probs):
      task = nn.relu(nn.Dense(hidden[0], name="task")(feats))
      arch = nn.relu(nn.Dense(hidden[0], name="arch")(probs.reshape(probs.shape[0], -1)))
      h = jnp.concatenate([task, arch, task * arch], -1)
      for i, width in enumerate(hidden[1:]):
        h = nn.relu(nn.Dense(width, name=f"head_{i}")(h))
      return nn.Dense(1, name="out")(h)[:, 0]

  return _ValueMLP()


@functools.lru_cache(maxsize=None)
def _trainer(config: ValueNetConfig, num_ops: int):
  """One jitted program for the whole training run: a ``lax.scan`` over the steps."""
  import jax
  import jax.numpy as jnp
  import optax
  model = _model(config.hidden)
  k = config.cells_per_task
  g = max(1, config.batch_size // k)
  schedule = optax.cosine_decay_schedule(config.learning_rate, config.steps, alpha=0.05)
  opt = optax.adamw(schedule, weight_decay=config.weight_decay)

  def loss_fn(params, feats, enc, y, index, counts, tasks, key):
    tkey, ckey = jax.random.split(key)
    task = tasks[jax.random.randint(tkey, (g,), 0, len(tasks))]
    pos = jnp.floor(jax.random.uniform(ckey, (g, k)) * counts[task][:, None]).astype(jnp.int32)
    cells = index[task[:, None], jnp.minimum(pos, counts[task][:, None] - 1)]
    target = y[task[:, None], cells]
    x = jax.nn.one_hot(enc[cells], num_ops).reshape(g * k, enc.shape[1], num_ops)
    pred = model.apply(params, jnp.repeat(feats[task], k, axis=0), x).reshape(g, k)
    mse = jnp.mean((pred - target) ** 2)
    # RankNet: for every pair of the same task where one cell is better, the logistic loss
    # of the predicted difference having the right sign.
    better = (target[:, :, None] - target[:, None, :]) > 0
    margin = pred[:, :, None] - pred[:, None, :]
    rank = jnp.sum(jnp.where(better, jax.nn.softplus(-margin), 0.0)) / jnp.maximum(
        jnp.sum(better), 1)
    return mse + config.rank_weight * rank

  @jax.jit
  def train(params, key, feats, enc, y, index, counts, tasks):
    def step(carry, key):
      params, state = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, feats, enc, y, index, counts, tasks,
                                                key)
      updates, state = opt.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), loss

    keys = jax.random.split(key, config.steps)
    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), keys)
    return params, losses

  return train


@functools.lru_cache(maxsize=None)
def _scorer(hidden: tuple[int, ...]):
  """Jitted ``(params, [F] standardised features, [M, E, O]) -> [M]`` standardised values."""
  import jax
  import jax.numpy as jnp
  model = _model(hidden)

  @jax.jit
  def score(params, feats, probs):
    return model.apply(params, jnp.broadcast_to(feats, (probs.shape[0], feats.shape[0])), probs)

  return score


# ---------------------------------------------------------------------------------------------
# Inference


def infer(net: ValueNet, task_features, *, restarts: int = 16, steps: int = 200,
          lr: float = 0.1, seed: int = 0, key=None,
          temperature: tuple[float, float] = (1.0, 0.05)) -> list[tuple[tuple[int, ...], float]]:
  """Cells for a task by gradient ascent on the predicted value, best first.

  Each restart climbs ``net``'s prediction for ``task_features`` over logits ``[E, O]`` of
  ``softmax(logits / temperature)`` with Adam (all restarts at once, in one jitted program),
  is rounded to a cell by the argmax of each edge, and the distinct cells are scored again by
  :meth:`ValueNet.predict`.

  Args:
    net: a fitted value network.
    task_features: ``[F]`` the task's meta-features.
    restarts: independent ascents from random logits.
    steps: Adam steps of each ascent.
    lr: Adam's learning rate on the logits.
    seed: the random start, unless ``key`` is given.
    key: a ``jax.random`` key for the random start.
    temperature: ``(start, end)`` softmax temperature, annealed geometrically over the steps.
      The network only ever saw one-hot cells, so inside the simplex its predictions are
      extrapolations, and a climb at a fixed temperature can settle on a mixture whose argmax
      is not what was climbed; cooling drives each restart to a vertex, so the rounded cell is
      the one whose predicted value was maximised.

  Returns:
    ``[(encoding, predicted value), ...]``: at most ``restarts`` distinct cells as tuples of op
    indices, sorted by predicted value (in the targets' scale), best first.
  """
  import jax
  if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
    raise PredictorError(f"restarts must be a positive integer, got {restarts!r}")
  if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
    raise PredictorError(f"steps must be a positive integer, got {steps!r}")
  t0, t1 = (float(t) for t in temperature)
  if not (lr > 0 and t0 > 0 and t1 > 0 and math.isfinite(t0 * t1 * lr)):
    raise PredictorError(f"lr and temperatures must be positive, got lr={lr}, "
                         f"temperature={temperature}")
  feats = net._features(task_features)
  key = jax.random.PRNGKey(seed) if key is None else key
  logits = jax.random.normal(key, (restarts, net.num_edges, net.num_ops))
  ascend = _ascender(net.config.hidden, steps, float(lr), t0, t1)
  cells = np.asarray(ascend(net.params, feats, logits).argmax(-1))
  cells = np.unique(cells, axis=0)
  scores = net.predict(task_features, cells)
  order = np.argsort(-scores, kind="stable")
  return [(tuple(int(o) for o in cells[i]), float(scores[i])) for i in order]


@functools.lru_cache(maxsize=None)
def _ascender(hidden, steps, lr, t0, t1):
  import jax
  import jax.numpy as jnp
  import optax
  score = _scorer(hidden)
  temps = jnp.asarray(np.geomspace(t0, t1, steps), jnp.float32)
  opt = optax.adam(lr)

  def value(logits, params, feats, temp):
    return score(params, feats, jax.nn.softmax(logits / temp, -1)[None])[0]

  # One restart's gradient, mapped over restarts: Adam is elementwise, so one optimiser state
  # over [R, E, O] is R independent ascents.
  grad = jax.vmap(jax.grad(value), in_axes=(0, None, None, None))

  @jax.jit
  def ascend(params, feats, logits):
    def step(carry, temp):
      logits, state = carry
      updates, state = opt.update(-grad(logits, params, feats, temp), state)
      return (optax.apply_updates(logits, updates), state), None

    (logits, _), _ = jax.lax.scan(step, (logits, opt.init(logits)), temps)
    return logits

  return ascend


# ---------------------------------------------------------------------------------------------
# Files


def save(net: ValueNet, path: str, record: Mapping[str, Any] | None = None) -> str:
  """Writes ``net`` as a predictor directory (:mod:`base_nas.predict.store`); returns ``path``.

  Args:
    net: the value network.
    path: the directory to create (an existing predictor there is replaced).
    record: the caller's account of what it was trained on (JSON-serialisable), kept under
      ``"record"`` in ``predictor.json``.
  """
  meta = {
      "kind": KIND, "space": net.space, "num_edges": net.num_edges, "num_ops": net.num_ops,
      "num_features": net.num_features, "config": dataclasses.asdict(net.config),
      "normalisation": {"feature_loc": [float(x) for x in net.feature_loc],
                        "feature_scale": [float(x) for x in net.feature_scale],
                        "target_loc": net.target_loc, "target_scale": net.target_scale},
      "info": dict(net.info), "record": dict(record) if record is not None else None,
  }
  return store.save_predictor(path, net.params, meta)


def load(path: str, space: str | None = None) -> ValueNet:
  """The value network saved at ``path``.

  Raises:
    PredictorError: ``path`` is missing or not a value-net predictor, its files are corrupt,
      or ``space`` is given and it was trained for another one.
  """
  import jax
  meta = store.read_record(path, kind=KIND, space=space)
  try:
    config = ValueNetConfig(**meta["config"])
    e, o, f = (int(meta[k]) for k in ("num_edges", "num_ops", "num_features"))
    norm = meta["normalisation"]
    feature_loc = np.asarray(norm["feature_loc"], np.float64).reshape(f)
    feature_scale = np.asarray(norm["feature_scale"], np.float64).reshape(f)
    target_loc, target_scale = float(norm["target_loc"]), float(norm["target_scale"])
  except (KeyError, TypeError, ValueError, PredictorError) as err:
    raise PredictorError(f"predictor {path!r} is corrupt: {store.RECORD_FILE} lacks or "
                         f"mangles its fields ({type(err).__name__}: {err})") from None
  target = jax.eval_shape(_model(config.hidden).init, jax.random.PRNGKey(0),
                          np.zeros((1, f), np.float32), np.zeros((1, e, o), np.float32))
  params = store.load_params(path, target)
  return ValueNet(space=meta["space"], num_edges=e, num_ops=o, num_features=f, params=params,
                  config=config, feature_loc=feature_loc, feature_scale=feature_scale,
                  target_loc=target_loc, target_scale=target_scale, info=meta.get("info") or {})
