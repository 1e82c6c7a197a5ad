"""The candidate operations of each search space, as functions of explicit per-edge parameters.

The supernet evaluates many edges with identical shapes, so it stacks their parameters along a
leading edge axis and scans over edges (one compiled body per cell instead of one per edge). For
that, a candidate op here is a pure function ``op(params, x) -> y`` of one edge's parameter dict, and
``init_edge`` creates the parameters of all candidates of one edge. All convolutions use
PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)), and BN is affine-free with batch
statistics, as in the DARTS and NAS-Bench-201 search code.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from base_nas.nn import init as init_lib
from base_nas.nn import ops
from base_nas.spaces.darts import DARTS_OPS
from base_nas.spaces.nb201 import NB201_OPS
from base_nas.spaces.tnb101 import TNB101_OPS

OpFn = Callable[[dict, jax.Array], jax.Array]


def _uniform(key, shape, fan_in):
  return init_lib.host_uniform(key, shape, 1.0 / fan_in ** 0.5)


def _relu(x):
  return jnp.maximum(x, 0)


@dataclasses.dataclass(frozen=True)
class Candidates:
  """The candidate ops of one edge type: names, parameter initialiser and op functions."""
  names: tuple[str, ...]
  init_edge: Callable[..., dict]  # (key, lead_shape=()) -> params of one edge (or a stack)
  fns: tuple[OpFn, ...]
  zero_index: int | None  # index of 'none', which is never evaluated

  def mixed(self, params, x, weights):
    """sum_k weights[k] * op_k(x) over every op but 'none' (DARTS, SNAS)."""
    out = None
    for k, fn in enumerate(self.fns):
      if k == self.zero_index:
        continue
      term = weights[k] * fn(params, x)
      out = term if out is None else out + term
    return out

  def branch(self, k: int) -> Callable:
    """``(params, x, weights) -> weights[k] * op_k(x) + sum_{j != k} weights[j]``: op ``k`` as
    :meth:`chosen` evaluates it."""
    fn = self.fns[k]
    return lambda p, x, w: w[k] * fn(p, x) + (jnp.sum(w) - w[k])

  def chosen(self, params, x, weights, index):
    """Evaluates only op ``index`` (GDAS): ``weights[index] * op(x) + sum_{k != index} weights[k]``.

    ``weights`` is a straight-through one-hot, so the extra terms are zero in value; as in GDAS
    they pass a gradient to the unchosen ops' probabilities.
    """
    branches = [self.branch(k) for k in range(len(self.fns))]
    return jax.lax.switch(index, branches, params, x, weights)

  def chosen_vjp(self, params, x, weights, index, g):
    """The gradients of :meth:`chosen` with respect to ``(params, x, weights)`` given the
    output's, each op's forward and backward pass in one branch of a switch.

    The vjp of :meth:`chosen` itself is a switch whose every branch returns the residuals of all
    eight ops, zeros but for its own, which XLA:CPU writes and copies on every call. Without
    them GDAS's gradient took 48.4 ms instead of 51.6 at C=8 with 5 cells and 276 instead of 285
    at C=16 with 8 cells (alternating calls in one process).
    """
    branches = [lambda p, x, w, g, f=self.branch(k): jax.vjp(f, p, x, w)[1](g)
                for k in range(len(self.fns))]
    return jax.lax.switch(index, branches, params, x, weights, g)


# --- DARTS space -----------------------------------------------------------------------------------



def _dw_pw_bn(x, dw, pw, stride, dilation):
  return ops.batch_norm(ops.pointwise_conv(ops.depthwise_conv(_relu(x), dw, stride, dilation), pw))


def darts_candidates(channels: int, stride: int) -> Candidates:
  """DARTS' eight ops for an edge of ``channels`` channels; stride 2 on reduction-cell inputs."""
  c = channels

  def init_edge(key, lead=()):
    k = iter(jax.random.split(key, 16))
    u = lambda shape, fan_in: _uniform(next(k), lead + shape, fan_in)
    p = {}
    for name, size in (("sep3", 3), ("sep5", 5)):
      p[name] = dict(dw1=u((size, size, c), size * size), pw1=u((c, c), c),
                     dw2=u((size, size, c), size * size), pw2=u((c, c), c))
    for name, size in (("dil3", 3), ("dil5", 5)):
      p[name] = dict(dw=u((size, size, c), size * size), pw=u((c, c), c))
    if stride == 2:
      p["skip"] = dict(w1=u((c, c // 2), c), w2=u((c, c - c // 2), c))
    return p

  def none(p, x):
    return jnp.zeros_like(x[..., ::stride, ::stride, :])

  def max_pool(p, x):
    return ops.batch_norm(ops.max_pool(x, 3, stride))

  def avg_pool(p, x):
    return ops.batch_norm(ops.avg_pool(x, 3, stride))

  def skip(p, x):
    if stride == 1:
      return x
    return ops.batch_norm(ops.factorized_reduce_conv(_relu(x), p["skip"]["w1"], p["skip"]["w2"]))

  def sep(name):
    def fn(p, x):
      q = p[name]
      y = _dw_pw_bn(x, q["dw1"], q["pw1"], stride, 1)
      return _dw_pw_bn(y, q["dw2"], q["pw2"], 1, 1)
    return fn

  def dil(name):
    def fn(p, x):
      return _dw_pw_bn(x, p[name]["dw"], p[name]["pw"], stride, 2)
    return fn

  fns = (none, max_pool, avg_pool, skip, sep("sep3"), sep("sep5"), dil("dil3"), dil("dil5"))
  return Candidates(DARTS_OPS, init_edge, fns, zero_index=0)


# --- NAS-Bench-201 space ---------------------------------------------------------------------------



def nb201_candidates(channels: int) -> Candidates:
  """NAS-Bench-201's five ops (all stride 1; the reductions are fixed residual blocks)."""
  c = channels

  def init_edge(key, lead=()):
    k1, k3 = jax.random.split(key)
    return dict(conv1=_uniform(k1, lead + (1, 1, c, c), c),
                conv3=_uniform(k3, lead + (3, 3, c, c), 9 * c))

  def none(p, x):
    return jnp.zeros_like(x)

  def skip(p, x):
    return x

  def conv1(p, x):
    return ops.batch_norm(ops.pointwise_conv(_relu(x), p["conv1"][0, 0]))

  def conv3(p, x):
    return ops.batch_norm(ops.conv(_relu(x), p["conv3"]))

  def avg_pool(p, x):
    return ops.avg_pool(x, 3, 1)

  return Candidates(NB201_OPS, init_edge, (none, skip, conv1, conv3, avg_pool), zero_index=0)


def tnb101_candidates(channels: int) -> Candidates:
  """TransNAS-Bench-101 micro's four ops: NAS-Bench-201's without the pooling, same parameters."""
  nb201 = nb201_candidates(channels)
  assert nb201.names[:len(TNB101_OPS)] == TNB101_OPS  # the ops' columns must line up
  return Candidates(TNB101_OPS, nb201.init_edge, nb201.fns[:len(TNB101_OPS)], zero_index=0)


CELL_CANDIDATES = {"nb201": nb201_candidates, "tnb101": tnb101_candidates}


def stack_init(init_edge: Callable[..., dict], key, num_edges: int) -> dict:
  """Parameters of ``num_edges`` edges, stacked along a leading axis (for lax.scan)."""
  return init_edge(key, (num_edges,))
