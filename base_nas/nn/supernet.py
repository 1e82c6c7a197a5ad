"""One weight-sharing supernet (flax) for the DARTS, NAS-Bench-201 and TransNAS-Bench-101 spaces.

The architecture is not part of the module: every call takes the relaxed op weights
``{cell_type: weights[E, O]}`` and chosen ops ``{cell_type: index[E]}`` produced by
:mod:`base_nas.relax`, so searchers and the BASE meta-learner can differentiate through them.
``hard=True`` makes each edge evaluate only its chosen op (GDAS); otherwise every op is weighted
(DARTS, SNAS).

Compile time is a first-class cost on CPU: instead of unrolling every op of every edge in Python,
each cell scans over its edges with their parameters stacked along a leading axis, so the compiled
program holds one mixed-op body per edge shape (one per DARTS normal cell, two per reduction cell)
rather than one per edge. NAS-Bench-201 cells of one stage are identical and are scanned too.

TransNAS-Bench-101's micro space searches the NAS-Bench-201 cell with four ops; its supernet is
NAS-Bench-201's macro skeleton (stem, three stages, residual reductions, classifier), standing in
for TransNAS-Bench-101's own task-specific encoder-decoder networks, which this package lacks.
"""
from __future__ import annotations

import functools
import os
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from base_nas.nn import candidates as cands_lib
from base_nas.nn import init as init_lib
from base_nas.nn import ops
from base_nas.spaces.darts import DARTS_EDGES
from base_nas.spaces.nb201 import NB201_EDGES


@functools.cache
def compiler_options(hard: bool = False) -> dict[str, bool]:
  """XLA options under which the supernet's programs run fastest on the default backend.

  On CPU, XLA's newer fusion emitters (the default in jaxlib 0.10) reload a dynamic slice's
  start index inside the innermost loop of every fused kernel that reads the slice, and LLVM then
  leaves the kernel scalar. The scan over edges reads each edge's parameters, input and residuals
  by dynamic slices, so with every op weighted (``hard=False``: DARTS, SNAS) nearly every large
  kernel ran scalar; the older emitters compute the index once per kernel and the kernels
  vectorise. Within an hour on the 2-core CPU, a first-order DARTS step took 0.69 s with XLA's
  defaults and 0.44-0.50 s with the older emitters at C=8 with 5 cells, 4.2 and 2.9-3.4 s at C=16
  with 8 cells (``benchmarks/search_step.py`` with and without ``--xla-defaults``). With
  ``hard=True`` (GDAS) each edge's op runs inside a conditional whose kernels read no dynamic
  slice: the older emitters made its step no faster and its compile 5-15 s slower, so it keeps
  XLA's defaults, as do the final networks. Empty on other backends, where this jaxlib does not
  know the option, and when the environment sets ``BASE_NAS_XLA_DEFAULTS=1``.
  """
  if (hard or jax.default_backend() != "cpu"
      or os.environ.get("BASE_NAS_XLA_DEFAULTS", "") not in ("", "0")):
    return {}
  options = {"xla_cpu_use_fusion_emitters": False}
  try:
    jax.jit(lambda x: x + 1, compiler_options=options).lower(1.0).compile()
  except Exception:  # noqa: BLE001 - a jaxlib without the option rejects it
    return {}
  return options


def _conv_init(kernel: int, cin: int):
  return init_lib.torch_default(kernel * kernel * cin)


def _classifier(num_classes: int, x):
  return nn.Dense(num_classes, kernel_init=init_lib.lecun_normal, name="classifier")(x)


def _slot(buf, k):
  return lax.dynamic_index_in_dim(buf, k, keepdims=False)


def _edge_update(op, remat: bool, from_inputs: bool, isolate: bool, op_vjp=None):
  """``buf[d] += op(p, src[s], w, i)`` on the scan carry ``(buf, inputs)``, differentiable, with a
  backward pass that touches only slots ``s`` and ``d``.

  Autodiff of the dynamic slice and update would add a buffer-sized array of zeros holding the
  edge's input gradient to the carried gradient at every edge of the scan: on the 2-core CPU
  these full-buffer adds were the most expensive kernels of the supernet's gradient (~20% of it).
  Here each gradient is added into its slot in place. ``src`` is ``buf`` itself (edges between
  intermediate nodes) unless ``from_inputs``; ``inputs`` rides in the carry, unchanged, so that
  its gradient is carried too rather than summed over the scan. With ``remat`` the residuals are
  the edge's input and parameters and the op's forward pass is recomputed in the backward pass;
  otherwise the op's own residuals are kept. With ``isolate`` the op's backward pass runs as its
  own computation (see ``_isolated``). ``op_vjp(p, x, w, i, g)``, when given, replaces autodiff
  of ``op`` in the recomputed backward pass.
  """
  def forward(carry, p, w, i, s, d):
    buf, inputs = carry
    x = _slot(inputs if from_inputs else buf, s)
    if remat:
      y, res = op(p, x, w, i), (x, p, w, i)
    else:
      y, res = jax.vjp(lambda p, x, w: op(p, x, w, i), p, x, w)
    buf = lax.dynamic_update_index_in_dim(buf, _slot(buf, d) + y, d, 0)
    return (buf, inputs), (res, s, d)

  def backward(res, g):
    (res, s, d), (g_buf, g_in) = res, g
    g_y = _slot(g_buf, d)
    if remat:
      x, p, w, i = res
      if op_vjp is not None:
        grads = lambda: op_vjp(p, x, w, i, g_y)
      else:
        grads = lambda: jax.vjp(lambda p, x, w: op(p, x, w, i), p, x, w)[1](g_y)
    else:
      grads = lambda: res(g_y)
    g_p, g_x, g_w = _isolated(grads, s >= 0) if isolate else grads()
    # Slot d passes its gradient to the node it accumulates and to y; slot s also gets x's.
    if from_inputs:
      g_in = lax.dynamic_update_index_in_dim(g_in, _slot(g_in, s) + g_x, s, 0)
    else:
      g_buf = lax.dynamic_update_index_in_dim(g_buf, _slot(g_buf, s) + g_x, s, 0)
    return (g_buf, g_in), g_p, g_w, None, None, None

  @jax.custom_vjp
  def update(carry, p, w, i, s, d):
    return forward(carry, p, w, i, s, d)[0]

  update.defvjp(forward, backward)
  return update


def _isolated(fn, always):
  """``fn()``, evaluated as a computation of its own: a conditional whose predicate ``always`` is
  true at run time but unknown to the compiler.

  XLA:CPU fuses the arithmetic of an edge's input gradient (the sum of every op's, each a sum of
  shifted slices) into the in-place update of its gradient slot, and runs that in-place fusion
  on one thread. Computed in its own computation, the sum is an ordinary fusion that runs on
  both cores, and the slot update only adds it in: the supernet's gradient at C=16 with 8 cells
  took 13% less time (1.15 s instead of 1.32 s, alternating calls in one process); at C=8 with 5
  cells, whose kernels are small, the time did not change.
  """
  zeros = lambda: jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), jax.eval_shape(fn))
  return lax.cond(always, fn, zeros)


def run_edges(cands: cands_lib.Candidates, params, weights, index, src, dst, nodes, inputs=None,
              *, hard: bool, remat: bool = True, src_offset: int = 0, dst_offset: int = 0):
  """Adds every edge's (mixed or chosen) op output into ``nodes[dst - dst_offset]``, in edge order.

  Edges read ``inputs[src]`` when ``inputs`` is given, else ``nodes[src - src_offset]`` (edges
  between intermediate nodes). ``params``, ``weights`` and ``index`` carry a leading edge axis.
  Edge order must respect dependencies (DARTS' and NAS-Bench-201's orders do).

  ``remat`` recomputes each edge's op intermediates in the backward pass instead of storing them
  for every edge of the scan, which then keeps only each edge's input. On the 2-core CPU this cut
  the gradient's temporary memory from 2.77 to 0.19 GiB at C=16 with 8 cells and was no slower:
  writing every intermediate into the scan's stacked buffers costs about as much as recomputing
  the forward pass, which is ~8x cheaper than the backward.
  """
  src = jnp.asarray(src, jnp.int32) - (0 if inputs is not None else src_offset)
  dst = jnp.asarray(dst, jnp.int32) - dst_offset
  # Jitted, the op is traced once per scan rather than again by each of the custom_vjp's
  # primal, forward and backward traces: tracing the DARTS supernet's gradient took about 1 s
  # less (4.6 -> 3.5 s at C=16 with 8 cells; 4.0 -> 2.4-2.8 s at C=8 with 5 cells).
  op = jax.jit(cands.chosen if hard else (lambda p, x, w, i: cands.mixed(p, x, w)))
  # GDAS's op already runs inside a conditional (one branch per candidate). On GPUs XLA reads a
  # conditional's predicate back to the host, and fuses differently.
  isolate = not hard and jax.default_backend() == "cpu"
  op_vjp = jax.jit(cands.chosen_vjp) if hard else None
  update = _edge_update(op, remat, from_inputs=inputs is not None, isolate=isolate, op_vjp=op_vjp)
  # A placeholder keeps one signature; edges between nodes never read it.
  srcs = inputs if inputs is not None else jnp.zeros((), nodes.dtype)

  def body(carry, xs):
    return update(carry, *xs), None

  (nodes, _), _ = lax.scan(body, (nodes, srcs), (params, weights, index, src, dst))
  return nodes


class ConvBN(nn.Module):
  """ReLU -> conv -> BN (DARTS' ReLUConvBN; affine-free BN as in its search network)."""
  channels: int
  kernel: int = 1
  stride: int = 1
  affine: bool = False
  relu: bool = True

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    w = self.param("w", _conv_init(self.kernel, cin), (self.kernel, self.kernel, cin, self.channels))
    y = ops.conv(jnp.maximum(x, 0) if self.relu else x, w, self.stride)
    return _bn(self, y, self.affine)


def _bn(module: nn.Module, y, affine: bool):
  if not affine:
    return ops.batch_norm(y)
  scale = module.param("bn_scale", nn.initializers.ones, (y.shape[-1],))
  bias = module.param("bn_bias", nn.initializers.zeros, (y.shape[-1],))
  return ops.batch_norm(y, scale, bias)


class FactorizedReduce(nn.Module):
  channels: int

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    init = _conv_init(1, cin)
    w1 = self.param("w1", init, (cin, self.channels // 2))
    w2 = self.param("w2", init, (cin, self.channels - self.channels // 2))
    return ops.batch_norm(ops.factorized_reduce_conv(jnp.maximum(x, 0), w1, w2))


class DartsCell(nn.Module):
  """A DARTS search cell: 2 inputs, 4 intermediate nodes, 14 mixed edges, output = concat of nodes."""
  channels: int
  reduction: bool
  reduction_prev: bool
  hard: bool = False
  remat: bool = True

  @nn.compact
  def __call__(self, s0, s1, weights, index):
    c = self.channels
    s0 = FactorizedReduce(c, name="pre0")(s0) if self.reduction_prev else ConvBN(c, name="pre0")(s0)
    s1 = ConvBN(c, name="pre1")(s1)
    src = [s for s, _ in DARTS_EDGES]
    dst = [d for _, d in DARTS_EDGES]
    if not self.reduction:
      cands = cands_lib.darts_candidates(c, 1)
      params = self.param("edges", lambda k: cands_lib.stack_init(cands.init_edge, k, 14))
      buf = jnp.concatenate([jnp.stack([s0, s1]), jnp.zeros((4,) + s1.shape, s1.dtype)])
      if not self.is_initializing():  # init needs only shapes; skipping the scan saves its compile
        buf = run_edges(cands, params, weights, index, src, dst, buf, hard=self.hard,
                        remat=self.remat)
      nodes = buf[2:]
    else:
      # Edges from the cell inputs have stride 2; edges between intermediate nodes stride 1.
      inp = [e for e, (s, _) in enumerate(DARTS_EDGES) if s < 2]
      inner = [e for e, (s, _) in enumerate(DARTS_EDGES) if s >= 2]
      c2, c1 = cands_lib.darts_candidates(c, 2), cands_lib.darts_candidates(c, 1)
      p_in = self.param("in_edges", lambda k: cands_lib.stack_init(c2.init_edge, k, len(inp)))
      p_inner = self.param("inner_edges", lambda k: cands_lib.stack_init(c1.init_edge, k, len(inner)))
      b, h, w, _ = s1.shape
      nodes = jnp.zeros((4, b, h // 2, w // 2, c), s1.dtype)
      take = lambda a, ids: a[jnp.asarray(ids)]
      if self.is_initializing():
        return jnp.concatenate(list(nodes), axis=-1)
      nodes = run_edges(c2, p_in, take(weights, inp), take(index, inp), [src[e] for e in inp],
                        [dst[e] for e in inp], nodes, jnp.stack([s0, s1]), hard=self.hard,
                        remat=self.remat, dst_offset=2)
      nodes = run_edges(c1, p_inner, take(weights, inner), take(index, inner),
                        [src[e] for e in inner], [dst[e] for e in inner], nodes, hard=self.hard,
                        remat=self.remat, src_offset=2, dst_offset=2)
    return jnp.concatenate(list(nodes), axis=-1)


class NB201Cell(nn.Module):
  """A NAS-Bench-201 search cell; scanned over the cells of a stage (returns (x, None)).

  ``space`` picks the candidate ops: 'nb201' (five) or 'tnb101' (the first four).
  """
  channels: int
  hard: bool = False
  remat: bool = True
  space: str = "nb201"

  @nn.compact
  def __call__(self, x, weights, index):
    cands = cands_lib.CELL_CANDIDATES[self.space](self.channels)
    params = self.param("edges", lambda k: cands_lib.stack_init(cands.init_edge, k, 6))
    buf = jnp.concatenate([x[None], jnp.zeros((3,) + x.shape, x.dtype)])
    if self.is_initializing():
      return x, None
    buf = run_edges(cands, params, weights, index, [s for s, _ in NB201_EDGES],
                    [d for _, d in NB201_EDGES], buf, hard=self.hard, remat=self.remat)
    return buf[3], None


class ResidualReduction(nn.Module):
  """NAS-Bench-201's fixed reduction block: a stride-2 ResNet basic block."""
  channels: int

  @nn.compact
  def __call__(self, x):
    y = ConvBN(self.channels, 3, 2, affine=True, name="conv_a")(x)
    y = ConvBN(self.channels, 3, 1, affine=True, name="conv_b")(y)
    w = self.param("shortcut", _conv_init(1, x.shape[-1]), (1, 1, x.shape[-1], self.channels))
    b, h, wd, c = x.shape
    pooled = x.reshape(b, h // 2, 2, wd // 2, 2, c).mean(axis=(2, 4))
    return y + ops.conv(pooled, w)


class Supernet(nn.Module):
  """The search network of a space.

  Attributes:
    space: 'darts', 'nb201' or 'tnb101' (the NAS-Bench-201 network with four candidate ops).
    channels: initial channels C (DARTS search: 16; NAS-Bench-201: 16).
    layers: DARTS: number of cells (8 in DARTS' search; reductions at 1/3 and 2/3 of the depth);
      NAS-Bench-201: cells per stage (5).
    num_classes: classifier outputs.
    stem_multiplier: DARTS stem width multiplier (3).
    hard: evaluate only the chosen op of each edge (GDAS).
    remat: recompute each edge's op intermediates in the backward pass (see ``run_edges``):
      less memory, and no slower on CPU.
  """
  space: str
  num_classes: int
  channels: int = 16
  layers: int = 8
  stem_multiplier: int = 3
  hard: bool = False
  remat: bool = True

  @nn.compact
  def __call__(self, x, weights: Mapping[str, jax.Array], index: Mapping[str, jax.Array]):
    if self.space == "darts":
      return self._darts(x, weights, index)
    if self.space in cands_lib.CELL_CANDIDATES:
      return self._nb201(x, weights, index)
    raise ValueError(f"unknown search space {self.space!r} (choose from: darts, nb201, tnb101)")

  def _darts(self, x, weights, index):
    c = self.channels
    s0 = s1 = ConvBN(self.stem_multiplier * c, 3, affine=True, relu=False, name="stem")(x)
    reduction_prev = False
    reductions = {self.layers // 3, 2 * self.layers // 3}
    for i in range(self.layers):
      reduction = i in reductions
      if reduction:
        c *= 2
      kind = "reduce" if reduction else "normal"
      cell = DartsCell(c, reduction, reduction_prev, self.hard, self.remat, name=f"cell{i}")
      s0, s1 = s1, cell(s0, s1, weights[kind], index[kind])
      reduction_prev = reduction
    return _classifier(self.num_classes, s1.mean(axis=(1, 2)))

  def _nb201(self, x, weights, index):
    c = self.channels
    x = ConvBN(c, 3, affine=True, relu=False, name="stem")(x)
    for stage in range(3):
      if stage:
        c *= 2
        x = ResidualReduction(c, name=f"reduce{stage}")(x)
      stage_cells = nn.scan(NB201Cell, variable_axes={"params": 0}, split_rngs={"params": True},
                            in_axes=(nn.broadcast, nn.broadcast), length=self.layers)
      cells = stage_cells(c, self.hard, self.remat, self.space, name=f"stage{stage}")
      x, _ = cells(x, weights["cell"], index["cell"])
    x = jnp.maximum(_bn(self, x, affine=True), 0)
    return _classifier(self.num_classes, x.mean(axis=(1, 2)))
