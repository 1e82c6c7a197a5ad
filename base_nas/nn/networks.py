"""Evaluation networks: a derived genotype stacked into a full network and trained from scratch.

Two families, both NHWC flax modules with affine BatchNorm and running statistics:

* :class:`DartsNetwork`, the CIFAR network of the DARTS paper (``NetworkCIFAR`` of its code):
  a stem, ``layers`` cells with reductions at 1/3 and 2/3 depth, drop path and an auxiliary head.
* :class:`NB201Network`, NAS-Bench-201's macro skeleton: three stages of ``N`` identical cells
  separated by residual reduction blocks.

Convolutions are built from :mod:`base_nas.nn.ops` so that depthwise convolutions use the
formulation that is fast on the current backend. Both networks return ``(logits, aux_logits)``;
``aux_logits`` is ``None`` unless a DARTS network with an auxiliary head is training.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from base_nas.errors import ConfigError, GenotypeError
from base_nas.nn import init as init_lib
from base_nas.nn import ops

BN_MOMENTUM = 0.9  # flax's momentum is PyTorch's 1 - momentum (0.1)
_DARTS_EVAL_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                   "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
_NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def _he_normal(fan_in: int):
  """He (Kaiming) normal initialiser for a ReLU-fed convolution with the given fan-in."""
  std = math.sqrt(2.0 / fan_in)

  def init(key, shape, dtype=jnp.float32):
    return init_lib.host_normal(key, shape, std, dtype)

  return init


def _dense(features: int, name: str) -> nn.Dense:
  return nn.Dense(features, kernel_init=init_lib.lecun_normal, name=name)


def _batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=ops.BN_EPS,
                      name=name)


def _check_even(x, what: str):
  h, w = x.shape[-3], x.shape[-2]
  if h % 2 or w % 2:
    raise ConfigError(f"{what} needs even spatial dims, got {h}x{w}: use an input size "
                      f"divisible by 4")


def drop_path_mask(key, drop_prob, num_samples: int, num_paths: int = 1):
  """Per-sample drop path multipliers [num_paths, num_samples]: 0 or 1/(1-p), kept with prob 1-p.

  ``drop_prob`` may be traced; at 0 every sample is kept with scale 1, so drop path is the exact
  identity without a Python branch on its value. One draw serves all paths of a cell because
  XLA:CPU compiles each random draw separately and slowly.
  """
  keep = 1.0 - drop_prob
  mask = jax.random.bernoulli(key, keep, (num_paths, num_samples))
  return mask.astype(jnp.float32) / keep


def drop_path(x, drop_prob, key):
  """Zeroes whole samples of ``x`` [B, ...] with probability ``drop_prob``, scales the rest by 1/(1-p)."""
  mask = drop_path_mask(key, drop_prob, x.shape[0])[0]
  return x * mask.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)


def _maybe_zero(drop_prob) -> bool:
  """True when ``drop_prob`` is a concrete zero, so drop path (and its rng) can be skipped."""
  return isinstance(drop_prob, (int, float)) and drop_prob == 0


# --- building blocks -------------------------------------------------------------------------------


class ReLUConvBN(nn.Module):
  """ReLU, k x k convolution (no bias), BatchNorm."""
  features: int
  kernel: int = 1
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    cin = x.shape[-1]
    x = jax.nn.relu(x)
    if self.kernel == 1:
      w = self.param("kernel", _he_normal(cin), (cin, self.features))
      x = ops.pointwise_conv(x[:, ::self.stride, ::self.stride, :], w)
    else:
      k = self.kernel
      w = self.param("kernel", _he_normal(k * k * cin), (k, k, cin, self.features))
      x = ops.conv(x, w, self.stride)
    return _batch_norm(train)(x)


class FactorizedReduce(nn.Module):
  """DARTS' stride-2 1x1 reduction: ReLU, two 1x1 convs on offset grids concatenated, BN."""
  features: int

  @nn.compact
  def __call__(self, x, train: bool):
    _check_even(x, "FactorizedReduce")
    cin = x.shape[-1]
    half = self.features // 2
    w1 = self.param("kernel_1", _he_normal(cin), (cin, half))
    w2 = self.param("kernel_2", _he_normal(cin), (cin, self.features - half))
    x = ops.factorized_reduce_conv(jax.nn.relu(x), w1, w2)
    return _batch_norm(train)(x)


class DilConv(nn.Module):
  """ReLU, depthwise k x k convolution (optionally dilated/strided), 1x1 convolution, BN."""
  features: int
  kernel: int
  stride: int = 1
  dilation: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    cin, k = x.shape[-1], self.kernel
    dw = self.param("depthwise", _he_normal(k * k), (k, k, cin))
    pw = self.param("pointwise", _he_normal(cin), (cin, self.features))
    x = ops.depthwise_conv(jax.nn.relu(x), dw, self.stride, self.dilation)
    return _batch_norm(train)(ops.pointwise_conv(x, pw))


class SepConv(nn.Module):
  """DARTS' separable convolution: two stacked ReLU-depthwise-pointwise-BN blocks."""
  features: int
  kernel: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    x = DilConv(x.shape[-1], self.kernel, self.stride, name="block_1")(x, train)
    return DilConv(self.features, self.kernel, 1, name="block_2")(x, train)


class DartsOp(nn.Module):
  """One op of a derived DARTS cell (``C`` -> ``C`` channels; stride 2 halves H and W).

  Pools carry no BatchNorm here, unlike in the search supernet, as in the DARTS evaluation code.
  """
  op: str
  channels: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    c, s = self.channels, self.stride
    if self.op == "none":
      return jnp.zeros_like(x[:, ::s, ::s, :])
    if self.op == "max_pool_3x3":
      return ops.max_pool(x, 3, s)
    if self.op == "avg_pool_3x3":
      return ops.avg_pool(x, 3, s)
    if self.op == "skip_connect":
      return x if s == 1 else FactorizedReduce(c, name="reduce")(x, train)
    if self.op in ("sep_conv_3x3", "sep_conv_5x5"):
      return SepConv(c, int(self.op[-1]), s, name="sep")(x, train)
    if self.op in ("dil_conv_3x3", "dil_conv_5x5"):
      return DilConv(c, int(self.op[-1]), s, dilation=2, name="dil")(x, train)
    raise GenotypeError(f"unknown op {self.op!r} for search space 'darts' "
                        f"(valid: {', '.join(_DARTS_EVAL_OPS)})")


# --- DARTS -----------------------------------------------------------------------------------------


def _freeze_darts_genotype(genotype):
  """The genotype with tuples for lists, so that the module (a dataclass) stays hashable for jit."""
  try:
    normal, normal_concat, reduce, reduce_concat = genotype
  except (TypeError, ValueError) as e:
    raise GenotypeError(f"not a darts genotype: {genotype!r}") from e
  pairs = lambda cell: tuple((str(op), int(i)) for op, i in cell)
  fields = (pairs(normal), tuple(int(i) for i in normal_concat), pairs(reduce),
            tuple(int(i) for i in reduce_concat))
  # Keep the caller's namedtuple type (the DARTS ``Genotype``) when there is one.
  return type(genotype)(*fields) if hasattr(genotype, "_fields") else fields


class DartsCell(nn.Module):
  """A derived DARTS cell: two preprocessed inputs, one node per pair of ops, concatenated nodes."""
  ops_: tuple[tuple[str, int], ...]
  concat: tuple[int, ...]
  channels: int
  reduction: bool
  reduction_prev: bool

  @nn.compact
  def __call__(self, s0, s1, train: bool, drop_path_prob=0.0):
    c = self.channels
    if self.reduction_prev:
      s0 = FactorizedReduce(c, name="preprocess0")(s0, train)
    else:
      s0 = ReLUConvBN(c, name="preprocess0")(s0, train)
    s1 = ReLUConvBN(c, name="preprocess1")(s1, train)
    if self.reduction:
      _check_even(s1, "a reduction cell")
    states = [s0, s1]
    masks = None
    if train and not _maybe_zero(drop_path_prob):
      masks = drop_path_mask(self.make_rng("dropout"), drop_path_prob, s1.shape[0], len(self.ops_))
    for node in range(len(self.ops_) // 2):
      total = None
      for k in (2 * node, 2 * node + 1):
        op, index = self.ops_[k]
        stride = 2 if self.reduction and index < 2 else 1
        h = DartsOp(op, c, stride, name=f"op{k}")(states[index], train)
        # As in DARTS, identities are never dropped, so a skip keeps its input intact.
        if masks is not None and not (op == "skip_connect" and stride == 1):
          h = h * masks[k].astype(h.dtype)[:, None, None, None]
        total = h if total is None else total + h
      states.append(total)
    return jnp.concatenate([states[i] for i in self.concat], axis=-1)


class AuxiliaryHead(nn.Module):
  """DARTS' CIFAR auxiliary classifier on the output of the second reduction stage.

  DARTS' head (ReLU, 5x5 average pool stride 3, 1x1 conv 128, BN, ReLU, 2x2 conv 768, BN, ReLU,
  linear) assumes an 8x8 map. A map smaller than 8x8 (inputs below 32x32) would pool to under
  2x2, so it is globally averaged instead and the 2x2 convolution becomes a 1x1 one; a map larger
  than 8x8 leaves more than 1x1 after the 2x2 convolution, which is averaged before the classifier.
  """
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool):
    x = jax.nn.relu(x)
    if min(x.shape[1], x.shape[2]) >= 8:
      x = lax.reduce_window(x, 0.0, lax.add, (1, 5, 5, 1), (1, 3, 3, 1), "VALID") / 25.0
      k = 2
    else:
      x = jnp.mean(x, axis=(1, 2), keepdims=True)
      k = 1
    cin = x.shape[-1]
    w1 = self.param("conv_1", _he_normal(cin), (cin, 128))
    x = jax.nn.relu(_batch_norm(train, "bn_1")(ops.pointwise_conv(x, w1)))
    w2 = self.param("conv_2", _he_normal(k * k * 128), (k, k, 128, 768))
    x = jax.nn.relu(_batch_norm(train, "bn_2")(ops.conv(x, w2, padding=0)))
    return _dense(self.num_classes, "classifier")(jnp.mean(x, axis=(1, 2)))


class DartsNetwork(nn.Module):
  """DARTS' CIFAR evaluation network (``NetworkCIFAR``) for a derived genotype.

  Attributes:
    genotype: A DARTS ``Genotype(normal, normal_concat, reduce, reduce_concat)``.
    C: Channels of the first cell's nodes (doubled at each reduction).
    num_classes: Classifier outputs.
    layers: Number of cells; reduction cells sit at ``layers // 3`` and ``2 * layers // 3``.
    auxiliary: Whether to add the auxiliary head after the second reduction (training only).
    stem_multiplier: The stem has ``stem_multiplier * C`` channels.
  """
  genotype: Any
  C: int = 36
  num_classes: int = 10
  layers: int = 20
  auxiliary: bool = True
  stem_multiplier: int = 3

  def __post_init__(self):
    object.__setattr__(self, "genotype", _freeze_darts_genotype(self.genotype))
    super().__post_init__()

  @nn.compact
  def __call__(self, x, train: bool, drop_path_prob=0.0):
    """Returns ``(logits, aux_logits)``; ``aux_logits`` is None unless training with the head.

    Args:
      x: Images [B, H, W, 3] with H and W divisible by 4.
      train: Batch statistics and drop path (rng stream 'dropout') when True.
      drop_path_prob: Probability of dropping a non-identity op's output per sample; may be
        traced. A concrete 0 needs no 'dropout' rng.
    """
    h, w = x.shape[1], x.shape[2]
    if h % 4 or w % 4:
      raise ConfigError(f"DartsNetwork needs an input size divisible by 4, got {h}x{w}")
    normal, normal_concat, reduce, reduce_concat = self.genotype
    c_stem = self.stem_multiplier * self.C
    w_stem = self.param("stem_conv", _he_normal(9 * x.shape[-1]), (3, 3, x.shape[-1], c_stem))
    s = _batch_norm(train, "stem_bn")(ops.conv(x, w_stem))
    s0 = s1 = s
    c = self.C
    reduction_prev = False
    aux = None
    reduction_layers = (self.layers // 3, 2 * self.layers // 3)
    for i in range(self.layers):
      reduction = i in reduction_layers
      if reduction:
        c *= 2
      cell_ops, concat = (reduce, reduce_concat) if reduction else (normal, normal_concat)
      cell = DartsCell(cell_ops, concat, c, reduction, reduction_prev, name=f"cell{i}")
      s0, s1 = s1, cell(s0, s1, train, drop_path_prob)
      reduction_prev = reduction
      if i == reduction_layers[1] and self.auxiliary and train:
        aux = AuxiliaryHead(self.num_classes, name="auxiliary")(s1, train)
    logits = _dense(self.num_classes, "classifier")(jnp.mean(s1, axis=(1, 2)))
    return logits, aux


# --- NAS-Bench-201 ---------------------------------------------------------------------------------


def _nb201_ops(genotype) -> tuple[str, ...]:
  ops_ = getattr(genotype, "ops", genotype)
  if isinstance(ops_, str) or not isinstance(ops_, Sequence) or len(ops_) != 6:
    raise GenotypeError(f"not an nb201 genotype (6 op names): {genotype!r}")
  for op in ops_:
    if op not in _NB201_OPS:
      raise GenotypeError(f"unknown op {op!r} for search space 'nb201' "
                          f"(valid: {', '.join(_NB201_OPS)})")
  return tuple(ops_)


_NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


class NB201Cell(nn.Module):
  """A NAS-Bench-201 cell: node j sums an op of every earlier node; the last node is the output."""
  ops_: tuple[str, ...]

  @nn.compact
  def __call__(self, x, train: bool):
    c = x.shape[-1]
    nodes = [x]
    for dst in range(1, 4):
      total = None
      for k, (src, d) in enumerate(_NB201_EDGES):
        op = self.ops_[k]
        if d != dst or op == "none":  # 'none' adds zeros: skip it rather than compute them
          continue
        if op == "skip_connect":
          h = nodes[src]
        elif op == "avg_pool_3x3":
          h = ops.avg_pool(nodes[src], 3, 1)
        else:
          h = ReLUConvBN(c, 1 if op == "nor_conv_1x1" else 3, name=f"edge{k}")(nodes[src], train)
        total = h if total is None else total + h
      nodes.append(jnp.zeros_like(x) if total is None else total)
    return nodes[-1]


class ResidualReduction(nn.Module):
  """ResNet basic block with stride 2, NAS-Bench-201's fixed reduction between stages."""
  features: int

  @nn.compact
  def __call__(self, x, train: bool):
    _check_even(x, "ResidualReduction")
    y = ReLUConvBN(self.features, 3, 2, name="conv_a")(x, train)
    y = ReLUConvBN(self.features, 3, 1, name="conv_b")(y, train)
    b, h, w, cin = x.shape
    pooled = x.reshape(b, h // 2, 2, w // 2, 2, cin).mean(axis=(2, 4))
    w_short = self.param("shortcut", _he_normal(cin), (cin, self.features))
    return y + ops.pointwise_conv(pooled, w_short)


class NB201Network(nn.Module):
  """NAS-Bench-201's evaluation network (``TinyNetwork`` with an inferred cell).

  Attributes:
    genotype: An ``NB201Genotype`` (or any object with ``.ops``), or a sequence of 6 op names.
    C: Channels of the first stage (then 2C and 4C).
    N: Cells per stage.
    num_classes: Classifier outputs.
  """
  genotype: Any
  C: int = 16
  N: int = 5
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool, drop_path_prob=0.0):
    """Returns ``(logits, None)``. ``drop_path_prob`` is accepted for a common signature, unused."""
    del drop_path_prob
    h, w = x.shape[1], x.shape[2]
    if h % 4 or w % 4:
      raise ConfigError(f"NB201Network needs an input size divisible by 4, got {h}x{w}")
    cell_ops = _nb201_ops(self.genotype)
    w_stem = self.param("stem_conv", _he_normal(9 * x.shape[-1]), (3, 3, x.shape[-1], self.C))
    x = _batch_norm(train, "stem_bn")(ops.conv(x, w_stem))
    for stage in range(3):
      if stage:
        x = ResidualReduction(self.C * 2**stage, name=f"reduction{stage}")(x, train)
      for n in range(self.N):
        x = NB201Cell(cell_ops, name=f"cell{stage}_{n}")(x, train)
    x = jax.nn.relu(_batch_norm(train, "last_bn")(x))
    return _dense(self.num_classes, "classifier")(jnp.mean(x, axis=(1, 2))), None


# --- helpers ---------------------------------------------------------------------------------------


def build_network(space: str, genotype, num_classes: int, **kwargs) -> nn.Module:
  """Returns the evaluation network of ``space`` ('darts' or 'nb201') for ``genotype``.

  ``kwargs`` go to :class:`DartsNetwork` or :class:`NB201Network` (``C``, ``layers``, ``N``...).
  """
  if space == "darts":
    return DartsNetwork(genotype, num_classes=num_classes, **kwargs)
  if space == "nb201":
    return NB201Network(genotype, num_classes=num_classes, **kwargs)
  raise ConfigError(f"unknown search space {space!r} (valid: darts, nb201)")


def count_params(params, exclude_auxiliary: bool = True) -> int:
  """Number of trainable scalars, as DARTS' ``utils.count_parameters_in_MB`` counts them (x 1e6).

  Args:
    params: A ``params`` tree, or a variables dict holding one (running statistics are ignored).
      Leaves may be arrays or ``jax.ShapeDtypeStruct`` (from ``jax.eval_shape``).
    exclude_auxiliary: Skip parameters under a name containing 'auxiliary', as DARTS does.
  """
  if isinstance(params, dict) or hasattr(params, "keys"):
    params = params.get("params", params)
  total = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if exclude_auxiliary and any("auxiliary" in str(getattr(k, "key", k)) for k in path):
      continue
    total += int(np.prod(leaf.shape))
  return total
