"""Primitive operations of DARTS-style cells, with a formulation chosen per backend.

XLA:CPU runs a depthwise (grouped) convolution roughly 40x slower than the same arithmetic written
as shifted slices times per-channel weights, while GPUs have fast grouped-convolution kernels
(cuDNN). Every function here therefore has two formulations with identical numerics, picked by
``impl``: ``"slices"`` (the default on CPU) or ``"lax"`` (the default elsewhere). Tests compare the
two.

All tensors are NHWC. Functions broadcast over leading axes so that one call can evaluate the same
primitive for several edges of a cell at once: ``depthwise_conv(x[B,H,W,C], w[E,k,k,C])`` returns
``[E,B,H',W',C]``.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

BN_EPS = 1e-5


@functools.cache
def default_impl() -> str:
  return "slices" if jax.default_backend() == "cpu" else "lax"


def _resolve(impl: str | None) -> str:
  impl = impl or default_impl()
  if impl not in ("slices", "lax"):
    raise ValueError(f"unknown op implementation {impl!r}: expected 'slices' or 'lax'")
  return impl


def out_size(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
  """Output size of a 'same'-padded window op (padding dilation*(kernel-1)//2)."""
  pad = dilation * (kernel - 1) // 2
  return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _pad(x, widths, value=0.0):
  """``jnp.pad`` with a constant, the constant a NumPy scalar.

  ``jnp.pad`` makes its constant a JAX array, which a function traced inside a transposed scan
  captures as a constant of its own. Inside a ``custom_vjp`` rule (the backward passes below,
  differentiated again by the exact meta-gradient) such a captured constant shifted the
  residuals JAX 0.10 hands the backward pass by one: the DARTS supernet's exact meta-gradient
  failed to trace. A NumPy scalar stays a literal.
  """
  return lax.pad(x, np.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in widths])


def _taps(x, kernel, stride, dilation, pad_value=0.0, channels_last=True):
  """Yields ((i, j), view) for every tap of a 'same'-padded kernel x kernel window.

  Spatial axes are (-3, -2) of [..., H, W, C], or (-2, -1) of [..., C, B, H, W] when not
  ``channels_last``. The views are ``lax.slice``s: NumPy-style indexing was about a quarter of
  the time JAX spent tracing the DARTS supernet's gradient (C=16, 8 cells: 5.5 s, now 4.6 s),
  and it lowers to the same slices.
  """
  lead = x.ndim - (3 if channels_last else 2)
  h, w = x.shape[lead], x.shape[lead + 1]
  pad = dilation * (kernel - 1) // 2
  ho, wo = out_size(h, kernel, stride, dilation), out_size(w, kernel, stride, dilation)
  widths = [(0, 0)] * x.ndim
  widths[lead] = widths[lead + 1] = (pad, pad)
  xp = _pad(x, widths, pad_value)
  strides = [1] * x.ndim
  strides[lead] = strides[lead + 1] = stride
  for i in range(kernel):
    for j in range(kernel):
      start, limit = [0] * x.ndim, list(xp.shape)
      start[lead], start[lead + 1] = i * dilation, j * dilation
      limit[lead] = start[lead] + (ho - 1) * stride + 1
      limit[lead + 1] = start[lead + 1] + (wo - 1) * stride + 1
      yield (i, j), lax.slice(xp, start, limit, strides)


def _tap_weights(w):
  """The k*k taps of depthwise weights [..., k, k, C], each shaped [..., 1, 1, 1, C] to scale a
  [..., B, H, W, C] view (in ``_taps``' order)."""
  k, lead = w.shape[-2], w.shape[:-3]
  flat = w.reshape(lead + (k * k, 1, 1, 1, w.shape[-1]))
  return [lax.index_in_dim(flat, t, axis=len(lead), keepdims=False) for t in range(k * k)]


def depthwise_conv(x, w, stride: int = 1, dilation: int = 1, impl: str | None = None):
  """Depthwise 'same' convolution. x: [..., B, H, W, C]; w: [..., k, k, C] (leading axes broadcast)."""
  if _resolve(impl) == "slices":
    return _depthwise_slices(x, w, stride, dilation)
  # Grouped convolution, vmapped over whatever leading axes x and w carry.
  kernel = w.shape[-2]
  lead = jnp.broadcast_shapes(x.shape[:-4], w.shape[:-3])
  xb = jnp.broadcast_to(x, lead + x.shape[-4:]).reshape((-1,) + x.shape[-4:])
  wb = jnp.broadcast_to(w, lead + w.shape[-3:]).reshape((-1,) + w.shape[-3:])
  pad = dilation * (kernel - 1) // 2

  def one(xi, wi):
    return lax.conv_general_dilated(
        xi, wi[:, :, None, :], (stride, stride), [(pad, pad), (pad, pad)],
        rhs_dilation=(dilation, dilation), dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=xi.shape[-1])

  out = jax.vmap(one)(xb, wb)
  return out.reshape(lead + out.shape[1:])


def _sum_to(a, shape):
  """Sums the broadcast leading axes of ``a`` away so that it has ``shape`` (a gradient's shape)."""
  extra = a.ndim - len(shape)
  a = a.sum(axis=tuple(range(extra))) if extra else a
  axes = tuple(i for i, (n, m) in enumerate(zip(a.shape, shape)) if m == 1 and n != 1)
  return a.sum(axis=axes, keepdims=True) if axes else a


def _upsample(g, stride, h, w, fill=0.0):
  """Spreads a strided op's output gradient back onto the input grid (zeros in between)."""
  ho, wo = g.shape[-3], g.shape[-2]
  cfg = [(0, 0, 0)] * (g.ndim - 3) + [(0, h - ((ho - 1) * stride + 1), stride - 1),
                                      (0, w - ((wo - 1) * stride + 1), stride - 1), (0, 0, 0)]
  return lax.pad(g, np.asarray(fill, g.dtype), cfg)


def sums(terms, axes):
  """``[t.sum(axes) for t in terms]`` as one variadic reduction: one pass over the data.

  XLA:CPU runs each reduction that keeps a minor axis (here: channels) as its own slow loop; k*k
  of them (a depthwise kernel's weight gradient) took 3x longer than one reduction with k*k
  accumulators, and compile 3-5x longer.
  """
  terms = list(terms)
  shape = terms[0].shape
  terms = [jnp.broadcast_to(t, shape) for t in terms]
  dims = tuple(sorted(a % len(shape) for a in axes))
  zeros = [np.zeros((), t.dtype) for t in terms]
  return lax.reduce(terms, zeros, lambda xs, ys: [a + b for a, b in zip(xs, ys)], dims)


def _depthwise_forward(x, w, stride, dilation):
  out = None
  for (_, view), wt in zip(_taps(x, w.shape[-2], stride, dilation), _tap_weights(w)):
    term = view * wt
    out = term if out is None else out + term
  return out


# Autodiff of the shifted slices would sum k*k padded copies of the gradient, which XLA:CPU runs
# and compiles slowly. The input gradient of a depthwise convolution is itself a stride-1
# depthwise convolution (flipped kernel) of the upsampled output gradient, so the backward pass
# keeps the forward's fast shape.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise_slices(x, w, stride, dilation):
  return _depthwise_forward(x, w, stride, dilation)


# Each forward rule calls its own function rather than the formula: differentiating a backward
# pass (the exact meta-gradient) differentiates the forward rule too, and must meet the fast
# derivative there, not autodiff of the formula.
def _depthwise_slices_fwd(x, w, stride, dilation):
  return _depthwise_slices(x, w, stride, dilation), (x, w)


def _depthwise_slices_bwd(stride, dilation, res, g):
  x, w = res
  # Each of the k*k taps below reads g and x; without the barrier XLA fuses their producers
  # (ReLU masks, BN backward) into every tap and recomputes them k*k times.
  x, g = lax.optimization_barrier((x, g))
  dx = _depthwise_input_grad(g, w, stride, dilation, x.shape)
  return dx, _sum_to(_depthwise_filter_grad(x, g, stride, dilation, w.shape[-2]), w.shape)


# Both halves of the backward pass are written with functions whose own derivatives are these
# fast forms again (the filter gradient is bilinear in x and g), so that differentiating the
# backward pass (the exact meta-gradient) never falls back to autodiff of k*k shifted slices.
def _depthwise_input_grad(g, w, stride, dilation, shape):
  """The cotangent of x in ``depthwise(x[shape], w)`` given the output's ``g``."""
  gu = _upsample(g, stride, shape[-3], shape[-2])
  return _sum_to(_depthwise_slices(gu, w[..., ::-1, ::-1, :], 1, dilation), shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _depthwise_filter_grad(x, g, stride, dilation, kernel):
  """The cotangent of w in ``depthwise(x, w)`` given ``g``, before summing broadcast axes."""
  # The weight gradient sums over B, H and W, keeping channels: in NHWC that is a reduction
  # over every axis but the minor one, which XLA:CPU runs as a strided scalar loop. With the
  # channels moved in front of B, H, W it reduces contiguous rows instead: 1.8x faster for a
  # 5x5 kernel at 16x32x32x16, transposes included, and the DARTS supernet's gradient at C=16
  # with 8 cells took 1.2 s instead of 1.5 s.
  xt, gt = jnp.moveaxis(x, -1, -4), jnp.moveaxis(g, -1, -4)
  views = _taps(xt, kernel, stride, dilation, channels_last=False)
  taps = sums((view * gt for _, view in views), (-3, -2, -1))
  dw = jnp.stack(taps, axis=-2)
  return dw.reshape(dw.shape[:-2] + (kernel, kernel, dw.shape[-1]))


def _depthwise_filter_grad_fwd(x, g, stride, dilation, kernel):
  return _depthwise_filter_grad(x, g, stride, dilation, kernel), (x, g)


def _depthwise_filter_grad_bwd(stride, dilation, kernel, res, w_bar):
  x, g = res
  return (_depthwise_input_grad(g, w_bar, stride, dilation, x.shape),
          _depthwise_slices(x, w_bar, stride, dilation))


_depthwise_slices.defvjp(_depthwise_slices_fwd, _depthwise_slices_bwd)
_depthwise_filter_grad.defvjp(_depthwise_filter_grad_fwd, _depthwise_filter_grad_bwd)


def pointwise_conv(x, w):
  """1x1 convolution. x: [..., B, H, W, Cin]; w: [..., Cin, Cout] (leading axes batch together)."""
  if w.ndim == 2:
    # As one 2D matmul: XLA:CPU runs the weight gradient of the 4D einsum (a contraction over
    # B, H and W) 2-3x slower than the (BHW, Cin)^T (BHW, Cout) product.
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(x.shape[:-1] + (w.shape[-1],))
  return jnp.einsum("...bhwc,...cd->...bhwd", x, w)


def conv(x, w, stride: int = 1, padding: int | None = None, impl: str | None = None):
  """Dense convolution (stems, NAS-Bench-201's 3x3 op). x: [B, H, W, Cin]; w: [k, k, Cin, Cout]."""
  pad = (w.shape[0] - 1) // 2 if padding is None else padding
  if _resolve(impl) == "slices":
    if w.shape[0] > 1:
      return _conv_cpu(x, w, stride, pad)
    if stride == 1 and pad == 0:
      # XLA:CPU takes a 1x1 convolution's filter gradient as a convolution with a window the
      # size of the image, ~25x slower than the matmul (the DARTS cells' preprocessing convs).
      return pointwise_conv(x, w[0, 0])
  return _conv_lax(x, w, stride, pad)


def _conv_lax(x, w, stride, pad):
  return lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


# Inside the supernet's scan XLA:CPU ran a convolution's filter gradient as a slow direct loop
# (42 ms for a 3x3, 16-channel kernel at 16x32x32, under 1 GFLOP/s): here it is one matmul of
# the k*k shifted input views (im2col) with the output gradient. The forward pass is XLA's.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_cpu(x, w, stride, pad):
  return _conv_lax(x, w, stride, pad)


def _conv_cpu_fwd(x, w, stride, pad):
  return _conv_cpu(x, w, stride, pad), (x, w)


def _conv_cpu_bwd(stride, pad, res, g):
  x, w = res
  return (_conv_input_grad(g, w, stride, pad, x.shape),
          _conv_filter_grad(x, g, stride, pad, w.shape[0]))


# As for the depthwise convolution, the backward pass is made of functions whose derivatives are
# these same fast forms, so that the exact meta-gradient differentiates it quickly too.
def _conv_input_grad(g, w, stride, pad, shape):
  """The cotangent of x in ``conv(x[shape], w)`` given the output's ``g``: a forward convolution
  (flipped, transposed kernel) of the upsampled ``g``. Inside the supernet's scan XLA:CPU ran its
  own transposed convolution 5x slower than that."""
  k = w.shape[0]
  gu = _upsample(g, stride, shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1)
  return _conv_cpu(gu, w[::-1, ::-1].transpose(0, 1, 3, 2), 1, k - 1 - pad)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_filter_grad(x, g, stride, pad, k):
  """The cotangent of w in ``conv(x, w)`` given ``g``: one matmul of the k*k shifted input views
  (im2col) with ``g``."""
  cin, cout = x.shape[-1], g.shape[-1]
  ho, wo = g.shape[1], g.shape[2]
  xp = _pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
  views = [xp[:, i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride, :]
           for i in range(k) for j in range(k)]
  patches = jnp.concatenate(views, axis=-1).reshape(-1, k * k * cin)
  return (patches.T @ g.reshape(-1, cout)).reshape(k, k, cin, cout)


def _conv_filter_grad_fwd(x, g, stride, pad, k):
  return _conv_filter_grad(x, g, stride, pad, k), (x, g)


def _conv_filter_grad_bwd(stride, pad, k, res, w_bar):
  x, g = res
  return _conv_input_grad(g, w_bar, stride, pad, x.shape), _conv_cpu(x, w_bar, stride, pad)


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)
_conv_filter_grad.defvjp(_conv_filter_grad_fwd, _conv_filter_grad_bwd)


def max_pool(x, kernel: int = 3, stride: int = 1, impl: str | None = None):
  """'same'-padded max pooling over H and W of [..., B, H, W, C]."""
  if _resolve(impl) == "slices":
    return _max_pool_slices(x, kernel, stride)
  pad = (kernel - 1) // 2
  window = (1,) * (x.ndim - 3) + (kernel, kernel, 1)
  strides = (1,) * (x.ndim - 3) + (stride, stride, 1)
  padding = [(0, 0)] * (x.ndim - 3) + [(pad, pad), (pad, pad), (0, 0)]
  return lax.reduce_window(x, -jnp.inf, lax.max, window, strides, padding)


def _max_forward(x, kernel, stride):
  out = None
  for _, view in _taps(x, kernel, stride, 1, pad_value=-jnp.inf):
    out = view if out is None else jnp.maximum(out, view)
  return out


# The gradient goes to every input equal to its window's maximum (ties, rare for real-valued
# activations, each get it). Written as shifted slices of the upsampled gradient, like the forward.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool_slices(x, kernel, stride):
  return _max_forward(x, kernel, stride)


def _max_pool_fwd(x, kernel, stride):
  y = _max_pool_slices(x, kernel, stride)
  return y, (x, y)


def _max_pool_bwd(kernel, stride, res, g):
  x, y = res
  return (_max_pool_grad(x, y, g, kernel, stride),)


# Linear in g, and piecewise constant in x and y: its derivative (for the exact meta-gradient)
# gathers the cotangent from each window's maximum, again as shifted slices.
@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _max_pool_grad(x, y, g, kernel, stride):
  h, w = x.shape[-3], x.shape[-2]
  gu = _upsample(g, stride, h, w)
  yu = _upsample(y, stride, h, w, fill=jnp.nan)  # NaN never equals an input
  dx = None
  for (_, gv), (_, yv) in zip(_taps(gu, kernel, 1, 1), _taps(yu, kernel, 1, 1, pad_value=jnp.nan)):
    term = jnp.where(x == yv, gv, 0.0)
    dx = term if dx is None else dx + term
  return dx


def _max_pool_grad_fwd(x, y, g, kernel, stride):
  return _max_pool_grad(x, y, g, kernel, stride), (x, y)


def _max_pool_grad_bwd(kernel, stride, res, dx_bar):
  x, y = res
  g_bar = None
  for (_, xv), (_, bv) in zip(_taps(x, kernel, stride, 1, pad_value=jnp.nan),
                              _taps(dx_bar, kernel, stride, 1)):
    term = jnp.where(xv == y, bv, 0.0)
    g_bar = term if g_bar is None else g_bar + term
  return jnp.zeros_like(x), jnp.zeros_like(y), g_bar


_max_pool_slices.defvjp(_max_pool_fwd, _max_pool_bwd)
_max_pool_grad.defvjp(_max_pool_grad_fwd, _max_pool_grad_bwd)


def _window_count(h, w, kernel, stride, dtype):
  ones = jnp.ones((h, w, 1), dtype)
  return sum(view for _, view in _taps(ones, kernel, stride, 1))


def _avg_pool_slices(x, kernel, stride):
  count = _window_count(x.shape[-3], x.shape[-2], kernel, stride, x.dtype)
  return _window_sum(x, kernel, stride) / count


# A window sum and its transpose, each the other's derivative: both directions, to any order,
# stay sums of shifted slices.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _window_sum(x, kernel, stride):
  return sum(view for _, view in _taps(x, kernel, stride, 1))


def _window_sum_fwd(x, kernel, stride):
  return _window_sum(x, kernel, stride), x.shape


def _window_sum_bwd(kernel, stride, shape, g):
  return (_window_sum_t(g, kernel, stride, shape[-3], shape[-2]),)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _window_sum_t(g, kernel, stride, h, w):
  return sum(view for _, view in _taps(_upsample(g, stride, h, w), kernel, 1, 1))


def _window_sum_t_fwd(g, kernel, stride, h, w):
  return _window_sum_t(g, kernel, stride, h, w), None


def _window_sum_t_bwd(kernel, stride, h, w, _, x_bar):
  return (_window_sum(x_bar, kernel, stride),)


_window_sum.defvjp(_window_sum_fwd, _window_sum_bwd)
_window_sum_t.defvjp(_window_sum_t_fwd, _window_sum_t_bwd)


def avg_pool(x, kernel: int = 3, stride: int = 1, impl: str | None = None):
  """'same'-padded average pooling that excludes padding from the count (count_include_pad=False)."""
  if _resolve(impl) == "slices":
    return _avg_pool_slices(x, kernel, stride)
  h, w = x.shape[-3], x.shape[-2]
  ones = jnp.ones((h, w, 1), x.dtype)
  pad = (kernel - 1) // 2

  def window_sum(a):
    window = (1,) * (a.ndim - 3) + (kernel, kernel, 1)
    strides = (1,) * (a.ndim - 3) + (stride, stride, 1)
    padding = [(0, 0)] * (a.ndim - 3) + [(pad, pad), (pad, pad), (0, 0)]
    return lax.reduce_window(a, 0.0, lax.add, window, strides, padding)

  return window_sum(x) / window_sum(ones)


def batch_norm(x, scale=None, bias=None, eps: float = BN_EPS):
  """Normalises [..., B, H, W, C] with the statistics of its B, H, W axes (one set per leading index).

  The supernet always normalises with batch statistics (NAS-Bench-201's search code does the same
  with track_running_stats=False), so there is no running state to carry between steps.
  """
  y = _normalize(x, eps)
  if scale is not None:
    y = y * scale[..., None, None, None, :]
  if bias is not None:
    y = y + bias[..., None, None, None, :]
  return y


_BN_AXES = (-4, -3, -2)


def _normalize_fwd(x, eps):
  mean = jnp.mean(x, axis=_BN_AXES, keepdims=True)
  inv = lax.rsqrt(jnp.mean(jnp.square(x - mean), axis=_BN_AXES, keepdims=True) + eps)
  y = (x - mean) * inv
  return y, (y, inv)


# Autodiff of the normalisation runs four separate reductions in the backward pass; the closed
# form dx = inv * (g - mean(g) - y * mean(g * y)) needs two, taken in one pass.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _normalize(x, eps):
  return _normalize_fwd(x, eps)[0]


def _normalize_bwd(eps, res, g):
  y, inv = res
  n = g.shape[-4] * g.shape[-3] * g.shape[-2]
  g_sum, gy_sum = sums([g, g * y], _BN_AXES)
  expand = lambda a: a[..., None, None, None, :] / n
  return (inv * (g - expand(g_sum) - y * expand(gy_sum)),)


_normalize.defvjp(_normalize_fwd, _normalize_bwd)


def factorized_reduce_conv(x, w1, w2):
  """DARTS' FactorizedReduce convolutions, no BN: two stride-2 1x1 convs on offset grids, concatenated.

  x: [..., B, H, W, Cin]; w1, w2: [..., Cin, Cout/2]. H and W must be even.
  """
  a = pointwise_conv(x[..., ::2, ::2, :], w1)
  b = pointwise_conv(x[..., 1::2, 1::2, :], w2)
  return jnp.concatenate([a, b], axis=-1)
