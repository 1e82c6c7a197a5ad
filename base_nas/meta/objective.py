"""The BASE meta-objective of one task and its gradient with respect to the shared prior.

A task's posterior over architectures and weights is what ``K`` stochastic gradient steps on its
support batch make of the meta-parameters (optimization embedding, Dai et al. 2018)::

  s_0 = (alpha_0, w_0)
  s_{k+1} = s_k - lr * grad_s L(s_k; support, z_k),   z_k ~ Concrete(alpha_k, tau)
  L(s; D, z) = CE(f(w, z), D) + beta * KL(Cat(alpha) || Cat(alpha_0)) + lambda/2 ||w - w_0||^2

and the meta-loss is ``L(s_K; query, z_K)``: the negative expected log-likelihood of the query
batch under the adapted posterior (one reparameterized sample) plus the same two prior terms.
``theta = {alphas, params[, log_lr]}``; ``log_lr`` holds one learned step size per tensor
(Meta-SGD). docs/base.md derives the three gradients :func:`task_grads` offers:

* ``exact``: reverse mode through the ``lax.scan`` of inner steps (second order);
* ``fd``: the same reverse recursion with every Hessian-vector product replaced by a central
  difference of two gradients (what the BASE paper reports using; DARTS' second-order step is
  its one-step case), 3K+1 gradients a task and no second-order program;
* ``first``: the inner gradients are treated as constants (K+1 gradients). Then
  ``ds_K/ds_0 = I`` and ``ds_K/dlog_lr = -(lr * sum_k g_k)`` per tensor, so the meta-gradient is
  the query gradient at ``s_K`` and needs no reverse pass through the scan.

The model is any ``apply(params, images, weights, index) -> logits`` with the relaxed
architecture as an input: the project's ``Supernet.apply``, or a toy model in tests.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from base_nas import relax as relax_lib
from base_nas.concrete import categorical_kl

ORDERS = ("exact", "fd", "first")

Apply = Callable[[Any, jax.Array, Mapping[str, jax.Array], Mapping[str, jax.Array]], jax.Array]


@dataclasses.dataclass(frozen=True)
class InnerConfig:
  """The inner loop (a task's adaptation) and the prior terms of the objective."""
  steps: int = 2              # K
  lr_weights: float = 0.1     # initial inner step size of the supernet weights
  lr_alphas: float = 1.0      # ... and of the architecture logits
  beta: float = 0.01          # weight of KL(Cat(alpha_t) || Cat(alpha_0)), summed over edges
  weight_prior: float = 1e-4  # lambda of the Gaussian prior around w_0
  tau: float = 1.0            # Concrete temperature
  order: str = "exact"        # exact | fd | first
  fd_radius: float = 0.01     # the finite differences' step is fd_radius / ||lr * v||

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any]) -> "InnerConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def _tmap(fn, *trees):
  return jax.tree.map(fn, *trees)


def _dot(a, b):
  return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _same_shapes(a, b) -> bool:
  shape = lambda t: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), t)
  return jax.tree.structure(a) == jax.tree.structure(b) and shape(a) == shape(b)


def kl_to_prior(alphas, alphas0) -> jax.Array:
  """sum over cells and edges of KL(Cat(alpha) || Cat(alpha_0))."""
  return sum(jnp.sum(categorical_kl(alphas[n], alphas0[n])) for n in sorted(alphas))


def mean_entropy(alphas) -> jax.Array:
  """The mean over every edge of the entropy of its op distribution, in nats."""
  ents = [jnp.sum(-jax.nn.softmax(a) * jax.nn.log_softmax(a), -1) for a in alphas.values()]
  return jnp.mean(jnp.concatenate([e.reshape(-1) for e in ents]))


def _cross_entropy(logits, labels):
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def init_log_lr(state, cfg: InnerConfig):
  """One log step size per tensor of the adapted state."""
  return {"alphas": _tmap(lambda a: jnp.full((), jnp.log(cfg.lr_alphas), jnp.float32),
                          state["alphas"]),
          "params": _tmap(lambda p: jnp.full((), jnp.log(cfg.lr_weights), jnp.float32),
                          state["params"])}


def prior_of(theta):
  """The part of theta the tasks adapt: ``{alphas, params}``."""
  return {"alphas": theta["alphas"], "params": theta["params"]}


class MetaObjective:
  """One task's loss, its K-step adaptation and the gradients of the meta-loss."""

  def __init__(self, apply: Apply, relaxation: str, cfg: InnerConfig):
    if cfg.order not in ORDERS:
      raise ValueError(f"unknown meta-gradient order {cfg.order!r} (choose from: "
                       f"{', '.join(ORDERS)})")
    if relaxation not in ("gumbel", "hard"):
      raise ValueError(f"BASE samples architectures: relaxation must be gumbel or hard, "
                       f"not {relaxation!r}")
    self.apply, self.relaxation, self.cfg = apply, relaxation, cfg

  # --- the loss of a state on a batch ------------------------------------------------------------

  def loss(self, state, prior, batch, key, tau):
    """``L(s; D, z)`` with ``z`` a Concrete sample drawn with ``key``; returns (loss, metrics)."""
    weights, index = relax_lib.relax(self.relaxation, state["alphas"], key, tau)
    logits = self.apply(state["params"], batch["image"], weights, index)
    ce = _cross_entropy(logits, batch["label"])
    kl = kl_to_prior(state["alphas"], prior["alphas"])
    sq = sum(jnp.sum(jnp.square(p - q)) for p, q in
             zip(jax.tree.leaves(state["params"]), jax.tree.leaves(prior["params"])))
    loss = ce + self.cfg.beta * kl + 0.5 * self.cfg.weight_prior * sq
    acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return loss, {"ce": ce, "kl": kl, "accuracy": acc}

  def _grad(self, state, prior, batch, key, tau, argnums=0):
    return jax.value_and_grad(self.loss, argnums=argnums, has_aux=True)(
        state, prior, batch, key, tau)

  def step_sizes(self, theta):
    if "log_lr" in theta:
      return _tmap(jnp.exp, theta["log_lr"])
    return {"alphas": _tmap(lambda a: jnp.asarray(self.cfg.lr_alphas, a.dtype), theta["alphas"]),
            "params": _tmap(lambda p: jnp.asarray(self.cfg.lr_weights, p.dtype), theta["params"])}

  # --- adaptation --------------------------------------------------------------------------------

  def adapt(self, theta, batches, keys, tau, *, first_order: bool = False):
    """K inner steps from ``theta``, one per leading row of ``batches`` and ``keys``.

    Returns ``(s_K, per_step)``: the adapted ``{alphas, params}`` and the inner loss metrics of
    every step (arrays with a leading K axis). A ``lax.scan``: the program does not grow with K.
    """
    def step(state, xs):
      return self.inner_step(theta, state, *xs, tau, first_order=first_order)

    return jax.lax.scan(step, prior_of(theta), (batches, keys))

  def inner_step(self, theta, state, batch, key, tau, *, first_order: bool = False):
    """One SGD step of ``state`` on ``L(.; batch, z)``, with theta's prior and step sizes.
    Returns ``(new_state, metrics)``."""
    (_, metrics), g = self._grad(state, prior_of(theta), batch, key, tau)
    if first_order:
      g = jax.lax.stop_gradient(g)
    lrs = self.step_sizes(theta)
    return _tmap(lambda s, lr, d: s - lr * d, state, lrs, g), metrics

  # --- the meta-loss and its gradient ------------------------------------------------------------

  def _split_keys(self, key):
    keys = jax.random.split(key, self.cfg.steps + 1)
    return keys[:-1], keys[-1]

  def _inner_batches(self, support):
    # The whole support batch at every inner step; a leading K axis makes them scan inputs.
    return _tmap(lambda x: jnp.broadcast_to(x, (self.cfg.steps,) + x.shape), support)

  def meta_loss(self, theta, task, key, tau, *, first_order: bool = False):
    """The meta-loss of one task ``{support, query}`` and its metrics."""
    inner_keys, query_key = self._split_keys(key)
    adapted, per_step = self.adapt(theta, self._inner_batches(task["support"]), inner_keys, tau,
                                   first_order=first_order)
    loss, metrics = self.loss(adapted, prior_of(theta), task["query"], query_key, tau)
    return loss, self._metrics(theta, adapted, per_step, metrics, task, query_key, tau)

  def _metrics(self, theta, adapted, per_step, query, task, query_key, tau):
    prior = jax.lax.stop_gradient(prior_of(theta))
    _, before = self.loss(prior, prior, task["query"], query_key, tau)
    return {"meta_loss_ce": query["ce"], "kl": query["kl"], "query_accuracy": query["accuracy"],
            "query_accuracy_before": before["accuracy"],
            "support_ce_first": per_step["ce"][0], "support_ce_last": per_step["ce"][-1],
            "entropy": mean_entropy(jax.lax.stop_gradient(adapted["alphas"])),
            "prior_entropy": mean_entropy(prior["alphas"])}

  def task_grads(self, theta, task, key, tau):
    """``((meta_loss, metrics), d meta_loss / d theta)`` of one task, as ``cfg.order`` says."""
    if self.cfg.order == "fd":
      return self._fd_grads(theta, task, key, tau)
    if self.cfg.order == "first":
      return self._first_order_grads(theta, task, key, tau)
    return jax.value_and_grad(self.meta_loss, has_aux=True)(theta, task, key, tau)

  def _forward(self, theta, task, key, tau, *, keep_path: bool = False):
    """The K inner steps and the query gradient at ``s_K``, without differentiating the steps.

    Returns ``((loss, metrics), (v, prior_bar), moved, path)``: ``v`` and ``prior_bar`` the query
    loss's gradients with respect to ``s_K`` and to the prior, ``moved = sum_k lr * g_k``, and
    with ``keep_path`` the stacked ``(s_k, g_k)`` of the K steps.
    When the query batch has the support batch's shapes, its gradient is the scan's last row (a
    row that moves nothing), so the program holds one supernet gradient, not two.
    """
    inner_keys, query_key = self._split_keys(key)
    prior, lrs = prior_of(theta), self.step_sizes(theta)
    batches, keys = self._inner_batches(task["support"]), inner_keys
    fused = _same_shapes(task["support"], task["query"])
    if fused:
      batches = _tmap(lambda b, q: jnp.concatenate([b, q[None]]), batches, task["query"])
      keys = jnp.concatenate([inner_keys, query_key[None]])
    moves = (jnp.arange(keys.shape[0]) < self.cfg.steps).astype(jnp.float32)

    def step(carry, xs):
      state, moved, _ = carry
      batch, k, m = xs
      (loss, metrics), (g, g_prior) = self._grad(state, prior, batch, k, tau, argnums=(0, 1))
      delta = _tmap(lambda lr, d: (m * lr).astype(d.dtype) * d, lrs, g)
      carry = (_tmap(jnp.subtract, state, delta), _tmap(jnp.add, moved, delta), (g, g_prior))
      return carry, (loss, metrics, (state, g) if keep_path else None)

    zeros = _tmap(jnp.zeros_like, prior)
    (adapted, moved, last), (losses, rows, path) = jax.lax.scan(
        step, (prior, zeros, (zeros, zeros)), (batches, keys, moves))
    if fused:
      head = lambda t: _tmap(lambda r: r[:-1], t)
      (loss, q_metrics), query_grads = (losses[-1], _tmap(lambda r: r[-1], rows)), last
      rows, path = head(rows), head(path)
    else:
      (loss, q_metrics), query_grads = self._grad(adapted, prior, task["query"], query_key, tau,
                                                  argnums=(0, 1))
    metrics = self._metrics(theta, adapted, rows, q_metrics, task, query_key, tau)
    return (loss, metrics), query_grads, moved, path

  def _first_order_grads(self, theta, task, key, tau):
    """What reverse mode through ``meta_loss(first_order=True)`` gives, written out.

    Differentiating the scan instead linearises every inner gradient and stacks residuals for
    terms that ``stop_gradient`` then drops: on the DARTS supernet that cost 1.8x the time of this
    forward pass and 1.7x its compile time (docs/base.md). The step sizes' gradient uses the sum
    of the steps taken, not ``s_K - s_0``, which loses the steps to float32 cancellation.
    """
    out, (v, prior_bar), moved, _ = self._forward(theta, task, key, tau)
    grads = _tmap(jnp.add, v, prior_bar)
    if "log_lr" in theta:
      grads["log_lr"] = _tmap(lambda vv, m: -jnp.vdot(vv, m), v, moved)
    return out, grads

  def _fd_grads(self, theta, task, key, tau):
    """Reverse-mode through the inner steps with finite-difference Hessian-vector products.

    With ``v = dL/ds_{k+1}`` and ``u = lr * v``: ``dL/ds_k = v - H_k u`` and the prior gets
    ``-d(u . g_k)/d(prior)``, both central differences of the gradient at ``s_k +- r u``;
    ``dL/dlog_lr += -sum(v * lr * g_k)`` per tensor. See docs/base.md. The two gradients of a
    difference are one ``lax.map`` over the sign, so the program holds one copy of each.
    """
    inner_keys, _ = self._split_keys(key)
    prior, lrs = prior_of(theta), self.step_sizes(theta)
    batches = self._inner_batches(task["support"])
    out, (v, prior_bar), _, path = self._forward(theta, task, key, tau, keep_path=True)
    zero_lr = _tmap(jnp.zeros_like, lrs)

    def backward(carry, xs):
      v, prior_bar, lr_bar = carry
      state, g, batch, k = xs
      lr_bar = _tmap(lambda acc, lr, vv, gg: acc - lr * jnp.vdot(vv, gg), lr_bar, lrs, v, g)
      u = _tmap(lambda lr, vv: lr * vv, lrs, v)
      r = self.cfg.fd_radius / (jnp.sqrt(_dot(u, u)) + 1e-12)
      at = lambda sign: self._grad(_tmap(lambda s, d: s + sign * r * d, state, u), prior, batch,
                                   k, tau, argnums=(0, 1))[1]
      gs, gp = jax.lax.map(at, jnp.asarray([1.0, -1.0], r.dtype))
      v = _tmap(lambda vv, a: vv - (a[0] - a[1]) / (2 * r), v, gs)
      prior_bar = _tmap(lambda pb, a: pb - (a[0] - a[1]) / (2 * r), prior_bar, gp)
      return (v, prior_bar, lr_bar), None

    (v, prior_bar, lr_bar), _ = jax.lax.scan(
        backward, (v, prior_bar, zero_lr), (*path, batches, inner_keys), reverse=True)
    # s_0 is the prior itself: its cotangent v adds to the prior's own.
    grads = _tmap(jnp.add, v, prior_bar)
    if "log_lr" in theta:
      grads["log_lr"] = lr_bar
    return out, grads
