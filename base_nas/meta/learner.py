"""The meta-learner: meta-parameters, the meta-optimiser and one compiled meta-step.

A meta-step draws its Gumbel noise from keys derived from the step number and each task's id,
never from the device a task lands on, so the same tasks give the same meta-gradient on one
device, on four, or on two hosts.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import optax

from base_nas import compile_cache
from base_nas import relax as relax_lib
from base_nas.meta import parallel
from base_nas.meta.objective import InnerConfig, MetaObjective, init_log_lr
from base_nas.nn import init as init_lib
from base_nas.nn.supernet import Supernet, compiler_options

TASK_LOOPS = ("map", "vmap")


@flax.struct.dataclass
class MetaState:
  step: jax.Array
  theta: Any
  opt: Any


@dataclasses.dataclass(frozen=True)
class OuterConfig:
  """The meta-optimiser: Adam on each part of theta, after global-norm clipping."""
  lr_weights: float = 1e-3
  lr_alphas: float = 3e-3
  lr_step_sizes: float = 1e-3
  grad_clip: float = 5.0
  learn_step_sizes: bool = True
  task_loop: str = "map"  # map: tasks in sequence (less memory); vmap: batched

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any]) -> "OuterConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def _fields(module) -> dict:
  return {f.name: getattr(module, f.name) for f in dataclasses.fields(module)
          if f.name not in ("parent", "name")}


def meta_optimizer(cfg: OuterConfig) -> optax.GradientTransformation:
  lrs = {"alphas": cfg.lr_alphas, "params": cfg.lr_weights, "log_lr": cfg.lr_step_sizes}
  labels = lambda theta: {k: jax.tree.map(lambda _: k, v) for k, v in theta.items()}
  return optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                     optax.multi_transform({k: optax.adam(v) for k, v in lrs.items()}, labels))


class MetaLearner:
  """A supernet, its objective and the meta-step, compiled once per image size."""

  def __init__(self, model: Supernet, space, relaxation: str, inner: InnerConfig,
               outer: OuterConfig, *, devices: int = 1, seed: int = 0):
    if outer.task_loop not in TASK_LOOPS:
      raise ValueError(f"unknown task loop {outer.task_loop!r} (choose from: "
                       f"{', '.join(TASK_LOOPS)})")
    self.model, self.space, self.inner, self.outer = model, space, inner, outer
    self.objective = MetaObjective(model.apply, relaxation, inner)
    self.tx = meta_optimizer(outer)
    self.seed = seed
    self.mesh = None
    if devices > 1 or jax.process_count() > 1:
      self.mesh = parallel.make_mesh(devices)
    grads = self.tasks_mean_grads
    if self.mesh is not None:
      grads = parallel.data_parallel(grads, self.mesh, per_task=2)  # tasks and their keys
    self._grads = grads
    options = compiler_options(model.hard)
    if self.mesh is None:
      # Only the gradient goes to the trace cache: optax's states do not serialise, and the
      # update compiles in well under a second.
      static = repr((type(self).__qualname__, _fields(model), space.name, relaxation,
                     dataclasses.asdict(inner), outer.task_loop, outer.learn_step_sizes, seed))
      self.meta_grads = compile_cache.cached_jit(self._meta_grads, name="meta_grads",
                                                 static=static, sources=(type(model),),
                                                 compiler_options=options)
    else:
      self.meta_grads = jax.jit(self._meta_grads, compiler_options=options)
    self._update = jax.jit(self._apply_updates)
    self.inner_step = jax.jit(self._inner_step, compiler_options=options)
    self.predict = jax.jit(self._predict, static_argnames="samples", compiler_options=options)

  # --- state -------------------------------------------------------------------------------------

  def init(self, key, image_shape) -> MetaState:
    theta = jax.jit(functools.partial(self._init_theta, image_shape=tuple(image_shape)))(key)
    return self.state_from(theta)

  def _init_theta(self, key, image_shape):
    k_params, k_alphas = jax.random.split(key)
    alphas = self.space.init_alphas(k_alphas)
    weights, index = relax_lib.relax("softmax", alphas)
    x = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
    params = self.model.init(init_lib.init_key(k_params), x, weights, index)
    theta = {"alphas": alphas, "params": params}
    if self.outer.learn_step_sizes:
      theta["log_lr"] = init_log_lr(theta, self.inner)
    return theta

  def state_from(self, theta) -> MetaState:
    """A fresh meta-optimiser state around ``theta`` (a new run, or fine-tuning a prior)."""
    if self.outer.learn_step_sizes and "log_lr" not in theta:
      theta = dict(theta, log_lr=init_log_lr(theta, self.inner))
    if not self.outer.learn_step_sizes:
      theta = {k: v for k, v in theta.items() if k != "log_lr"}
    return self.place(MetaState(step=jnp.zeros((), jnp.int32), theta=theta,
                                opt=self.tx.init(theta)))

  def place(self, state: MetaState) -> MetaState:
    """A state read back from host arrays, on the devices the meta-step runs on."""
    if self.mesh is not None:
      return parallel.replicated(self.mesh, jax.device_get(state))
    return jax.device_put(state, jax.sharding.SingleDeviceSharding(jax.devices()[0]))

  # --- the meta-step -----------------------------------------------------------------------------

  def task_keys(self, step, ids):
    base = jax.random.fold_in(jax.random.PRNGKey(self.seed), step)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)

  def tasks_mean_grads(self, theta, tasks, keys, tau):
    """The mean over a stack of tasks of ``(meta-gradient, metrics)``."""
    one = lambda xs: self.objective.task_grads(theta, xs[0], xs[1], tau)
    if self.outer.task_loop == "vmap":
      (loss, metrics), grads = jax.vmap(one)((tasks, keys))
      out = (grads, dict(metrics, meta_loss=loss))
      return jax.tree.map(lambda x: jnp.mean(x, 0), out)
    # Tasks in sequence, their gradients stacked then averaged: a few copies of theta, and the
    # task is traced once (a scan carrying the sum needs its output shapes first, a second trace).
    (loss, metrics), grads = jax.lax.map(one, (tasks, keys))
    return jax.tree.map(lambda x: jnp.mean(x, 0), (grads, dict(metrics, meta_loss=loss)))

  def _meta_grads(self, theta, tasks, step, tau):
    keys = self.task_keys(step, tasks["id"])
    return self._grads(theta, {"support": tasks["support"], "query": tasks["query"]}, keys, tau)

  def _apply_updates(self, state: MetaState, grads):
    updates, opt = self.tx.update(grads, state.opt, state.theta)
    return (MetaState(step=state.step + 1, theta=optax.apply_updates(state.theta, updates),
                      opt=opt), optax.tree.norm(grads))

  def meta_step(self, state: MetaState, tasks, tau):
    """One meta-update on a batch of tasks ``{support, query, id}``; ``(state, metrics)``."""
    grads, metrics = self.meta_grads(state.theta, tasks, state.step, tau)
    state, norm = self._update(state, grads)
    return state, dict(metrics, grad_norm=norm)

  # --- adaptation and prediction -----------------------------------------------------------------

  def _inner_step(self, theta, state, batch, key, tau):
    return self.objective.inner_step(theta, state, batch, key, tau)

  def _predict(self, params, alphas, images, key, tau, samples: int = 4):
    """Mean over ``samples`` Concrete samples of the softmax predictions (the posterior
    predictive), and the predictions of the most probable architecture."""
    def one(k):
      weights, index = relax_lib.relax(self.objective.relaxation, alphas, k, tau)
      return jax.nn.softmax(self.model.apply(params, images, weights, index))
    probs = jax.lax.map(one, jax.random.split(key, samples)).mean(0)
    index = {n: jnp.argmax(a, -1) for n, a in alphas.items()}
    weights = {n: jax.nn.one_hot(i, alphas[n].shape[-1]) for n, i in index.items()}
    return probs, jax.nn.softmax(self.model.apply(params, images, weights, index))
