"""What every single-task searcher shares: the state, the optimisers and one compiled gradient.

Compile time dominates short searches on CPU, so a searcher compiles one function,
``loss_and_grads(params, alphas, batch, key, tau)``, which returns the gradients with respect to
both the supernet weights and the architecture logits, and builds every method's step from calls
to it: first-order DARTS and GDAS call it twice a step (architecture on a validation batch, weights
on a training batch), second-order DARTS four times plus the weight step, SNAS once. The
temperature is a traced argument, so annealing it never recompiles.
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
from base_nas.nn import init as init_lib
from base_nas.nn.supernet import Supernet, compiler_options


@flax.struct.dataclass
class SearchState:
  step: jax.Array
  params: Any
  alphas: Any
  w_opt: Any
  a_opt: Any


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Hyper-parameters of the bilevel optimisation (defaults: the DARTS paper)."""
  w_lr: float = 0.025
  w_lr_min: float = 0.001
  w_momentum: float = 0.9
  w_weight_decay: float = 3e-4
  grad_clip: float = 5.0
  a_lr: float = 3e-4
  a_beta1: float = 0.5
  a_beta2: float = 0.999
  a_weight_decay: float = 1e-3

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any]) -> "OptimConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def weight_schedule(cfg: OptimConfig, total_steps: int):
  """Cosine annealing from w_lr to w_lr_min over the search (DARTS)."""
  return optax.cosine_decay_schedule(cfg.w_lr, max(total_steps, 1), cfg.w_lr_min / cfg.w_lr)


def weight_optimizer(cfg: OptimConfig, total_steps: int, clip: bool = True
                     ) -> optax.GradientTransformation:
  """SGD with momentum; weight decay added to the gradient as PyTorch's SGD does; clipped.

  ``clip=False`` gives the same update without clipping and with the same state structure: the
  virtual step of second-order DARTS, which the DARTS code takes unclipped.
  """
  return optax.chain(optax.clip_by_global_norm(cfg.grad_clip) if clip else optax.identity(),
                     optax.add_decayed_weights(cfg.w_weight_decay),
                     optax.sgd(weight_schedule(cfg, total_steps), momentum=cfg.w_momentum))


def arch_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
  """Adam on the architecture logits with L2 weight decay added to the gradient (DARTS)."""
  return optax.chain(optax.add_decayed_weights(cfg.a_weight_decay),
                     optax.adam(cfg.a_lr, b1=cfg.a_beta1, b2=cfg.a_beta2))


def cross_entropy(logits, labels):
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def accuracy(logits, labels):
  return jnp.mean(jnp.argmax(logits, -1) == labels)


def _fields(module) -> dict:
  """A flax module's configuration (its dataclass fields but the parent and name)."""
  return {f.name: getattr(module, f.name) for f in dataclasses.fields(module)
          if f.name not in ("parent", "name")}


class Searcher:
  """A supernet with its relaxation, optimisers and compiled functions (built once per run)."""

  def __init__(self, model: Supernet, space, relaxation: str, optim: OptimConfig,
               total_steps: int):
    self.model, self.space, self.relaxation = model, space, relaxation
    self.lr_schedule = weight_schedule(optim, total_steps)
    self.w_tx = weight_optimizer(optim, total_steps)
    self.a_tx = arch_optimizer(optim)
    # The two programs worth caching on disk: tracing the supernet's gradient takes 7-15 s.
    static = repr((type(self).__qualname__, _fields(model), space.name, relaxation))
    cached = functools.partial(compile_cache.cached_jit, static=static,
                               sources=(type(self), type(model)),
                               compiler_options=compiler_options(model.hard))
    self.loss_and_grads = cached(jax.value_and_grad(self._loss, argnums=(0, 1), has_aux=True),
                                 name="loss_and_grads")
    self.evaluate = cached(self._loss, name="evaluate")  # (loss, accuracy), no backward pass
    self.update_weights = jax.jit(self._update(self.w_tx))
    self.update_alphas = jax.jit(self._update(self.a_tx))
    self.virtual_step = jax.jit(self._update(weight_optimizer(optim, total_steps, clip=False)))
    self._init_state = jax.jit(self._make_state)

  def init(self, key, image_shape) -> SearchState:
    # Two compiled programs rather than op-by-op dispatch (the optimiser states alone took ~2 s
    # that way). The parameters' host draws keep theirs out of the persistent cache, so the
    # optimiser states, which took half of one joint program's compile, get their own.
    params, alphas = jax.jit(functools.partial(self._init_params,
                                               image_shape=tuple(image_shape)))(key)
    state = self._init_state(params, alphas)
    # Committed from the start, as the cached gradient's outputs are (see compile_cache), so
    # that the optimiser updates compile once whichever path produced their inputs.
    return jax.device_put(state, jax.sharding.SingleDeviceSharding(jax.devices()[0]))

  def _init_params(self, key, image_shape):
    k_params, k_alphas = jax.random.split(key)
    alphas = self.space.init_alphas(k_alphas)
    weights, index = relax_lib.relax("softmax", alphas)
    x = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
    return self.model.init(init_lib.init_key(k_params), x, weights, index), alphas

  def _make_state(self, params, alphas) -> SearchState:
    return SearchState(step=jnp.zeros((), jnp.int32), params=params, alphas=alphas,
                       w_opt=self.w_tx.init(params), a_opt=self.a_tx.init(alphas))

  def _forward(self, params, alphas, images, key, tau):
    weights, index = relax_lib.relax(self.relaxation, alphas, key, tau)
    return self.model.apply(params, images, weights, index)

  def _loss(self, params, alphas, batch, key, tau):
    logits = self._forward(params, alphas, batch["image"], key, tau)
    loss = cross_entropy(logits, batch["label"])
    return loss, accuracy(logits, batch["label"])

  @staticmethod
  def _update(tx):
    def update(tree, grads, opt_state):
      updates, opt_state = tx.update(grads, opt_state, tree)
      return optax.apply_updates(tree, updates), opt_state
    return update

  def lr(self, step: int) -> float:
    return float(self.lr_schedule(step))
