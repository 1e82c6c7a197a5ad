"""The fast (shifted-slice) formulation of every primitive equals the plain XLA one, values and
gradients, at every stride and dilation the search spaces use."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas.nn import ops


def _vjp(f, *args):
  out, pull = jax.vjp(f, *args)
  g = jax.random.normal(jax.random.PRNGKey(7), out.shape)
  return out, pull(g)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_slices_match_grouped_conv(kernel, dilation, stride):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 3))
  fast = _vjp(lambda x, w: ops.depthwise_conv(x, w, stride, dilation, impl="slices"), x, w)
  plain = _vjp(lambda x, w: ops.depthwise_conv(x, w, stride, dilation, impl="lax"), x, w)
  assert fast[0].shape == (2, 8 // stride, 8 // stride, 3)
  np.testing.assert_allclose(fast[0], plain[0], rtol=1e-4, atol=1e-4)
  for a, b in zip(fast[1], plain[1]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_depthwise_broadcasts_over_edges():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 3))
  w = jax.random.normal(jax.random.PRNGKey(1), (4, 3, 3, 3))
  out, (gx, gw) = _vjp(lambda x, w: ops.depthwise_conv(x, w, impl="slices"), x, w)
  assert out.shape == (4, 2, 6, 6, 3) and gx.shape == x.shape and gw.shape == w.shape
  _, (gx_plain, gw_plain) = _vjp(lambda x, w: ops.depthwise_conv(x, w, impl="lax"), x, w)
  np.testing.assert_allclose(gx, gx_plain, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(gw, gw_plain, rtol=1e-4, atol=1e-4)
  for e in range(4):
    np.testing.assert_allclose(out[e], ops.depthwise_conv(x, w[e], impl="lax"), atol=1e-4)


@pytest.mark.parametrize("pool", [ops.max_pool, ops.avg_pool])
@pytest.mark.parametrize("stride", [1, 2])
def test_pools_slices_match_reduce_window(pool, stride):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  fast = _vjp(lambda x: pool(x, 3, stride, impl="slices"), x)
  plain = _vjp(lambda x: pool(x, 3, stride, impl="lax"), x)
  assert fast[0].shape == (2, 8 // stride, 8 // stride, 3)
  np.testing.assert_allclose(fast[0], plain[0], atol=1e-5)
  np.testing.assert_allclose(fast[1][0], plain[1][0], atol=1e-5)


def test_avg_pool_excludes_padding():
  x = jnp.ones((1, 4, 4, 1))
  np.testing.assert_allclose(ops.avg_pool(x, 3, 1), 1.0)


def test_batch_norm_normalises_each_leading_index():
  x = 3 + 2 * jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5, 5, 3))
  y = ops.batch_norm(x)
  np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1, atol=1e-3)


def test_factorized_reduce_halves_resolution():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 4))
  y = ops.factorized_reduce_conv(x, jnp.ones((4, 3)), jnp.ones((4, 3)))
  assert y.shape == (2, 4, 4, 6)


def test_unknown_impl_is_rejected():
  with pytest.raises(ValueError, match="unknown op implementation"):
    ops.max_pool(jnp.ones((1, 4, 4, 1)), impl="cuda")


@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_gradient_equals_autodiff_of_the_plain_formula(affine):
  x = 3 + 2 * jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5, 5, 3))
  scale, bias = (jnp.array([0.5, 1.0, 2.0]), jnp.array([0.1, 0.0, -0.3])) if affine else (None, None)

  def plain(x):
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    y = (x - mean) / jnp.sqrt(x.var(axis=(1, 2, 3), keepdims=True) + ops.BN_EPS)
    return y * scale + bias if affine else y

  fast = _vjp(lambda x: ops.batch_norm(x, scale, bias), x)
  ref = _vjp(plain, x)
  np.testing.assert_allclose(fast[0], ref[0], atol=1e-5)
  np.testing.assert_allclose(fast[1][0], ref[1][0], atol=1e-5)
  assert float(jnp.abs(fast[1][0]).max()) > 1e-3


def test_sums_is_one_reduction_of_many_terms():
  a = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 5))
  out = ops.sums([a, a * a, 2.0 * a], (0, 2))
  for got, want in zip(out, [a.sum((0, 2)), (a * a).sum((0, 2)), (2 * a).sum((0, 2))]):
    np.testing.assert_allclose(got, want, rtol=1e-5)
  hlo = jax.jit(lambda a: ops.sums([a, a * a], (0, 2))).lower(a).as_text()
  assert hlo.count("stablehlo.reduce") == 1


@pytest.mark.parametrize("shape,stride,padding,kernel", [
    ((2, 8, 8, 4), 1, None, 3), ((2, 8, 8, 4), 2, None, 3), ((2, 9, 7, 3), 2, 0, 3),
    ((2, 6, 6, 5), 1, 0, 3), ((2, 6, 6, 5), 1, None, 1), ((2, 6, 6, 5), 2, None, 1)])
def test_cpu_conv_gradient_equals_xlas(shape, stride, padding, kernel):
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  w = 0.3 * jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, shape[-1], 6))
  fast = _vjp(lambda x, w: ops.conv(x, w, stride, padding, impl="slices"), x, w)
  ref = _vjp(lambda x, w: ops.conv(x, w, stride, padding, impl="lax"), x, w)
  np.testing.assert_allclose(fast[0], ref[0], atol=1e-5)
  for a, b in zip(fast[1], ref[1]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(a).max()) > 1e-3


def _backward_grads(f, *args):
  """The gradient, with respect to the inputs and the output cotangent, of a random projection of
  f's backward pass: what the exact meta-gradient differentiates."""
  out = jax.eval_shape(f, *args)
  g = jax.random.normal(jax.random.PRNGKey(8), out.shape)
  keys = jax.random.split(jax.random.PRNGKey(9), len(args))
  proj = [jax.random.normal(k, a.shape) for k, a in zip(keys, args)]

  def h(args, g):
    cots = jax.vjp(f, *args)[1](g)
    return sum(jnp.vdot(c, p) for c, p in zip(cots, proj))

  return jax.grad(h, argnums=(0, 1))(args, g)


SECOND_ORDER = {
    "conv3x3": (lambda x, w, impl: ops.conv(x, w, 1, None, impl), (2, 8, 8, 4), (3, 3, 4, 6)),
    "conv3x3/2": (lambda x, w, impl: ops.conv(x, w, 2, None, impl), (2, 8, 8, 4), (3, 3, 4, 6)),
    "conv3x3/2,pad0": (lambda x, w, impl: ops.conv(x, w, 2, 0, impl), (2, 9, 7, 3), (3, 3, 3, 5)),
    "dw3x3": (lambda x, w, impl: ops.depthwise_conv(x, w, 1, 1, impl), (2, 8, 8, 3), (3, 3, 3)),
    "dw5x5/2,dil2": (lambda x, w, impl: ops.depthwise_conv(x, w, 2, 2, impl), (2, 8, 8, 3),
                     (5, 5, 3)),
    "dw3x3,edges": (lambda x, w, impl: ops.depthwise_conv(x, w, 1, 1, impl), (2, 6, 6, 3),
                    (4, 3, 3, 3)),
    "maxpool/2": (lambda x, impl: ops.max_pool(x, 3, 2, impl), (2, 8, 8, 3)),
    "avgpool": (lambda x, impl: ops.avg_pool(x, 3, 1, impl), (2, 8, 8, 3)),
    "avgpool/2": (lambda x, impl: ops.avg_pool(x, 3, 2, impl), (2, 8, 8, 3)),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_backward_passes_differentiate_like_the_plain_ops(name):
  """Each hand-written backward pass is built of functions with their own fast derivatives; the
  derivative of the backward pass must still be the plain ops' one."""
  f, *shapes = SECOND_ORDER[name]
  args = [jax.random.normal(jax.random.PRNGKey(i), s) for i, s in enumerate(shapes)]
  fast = _backward_grads(lambda *a: f(*a, "slices"), *args)
  plain = _backward_grads(lambda *a: f(*a, "lax"), *args)
  for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(plain)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  assert any(float(jnp.abs(a).max()) > 1e-3 for a in jax.tree.leaves(fast))
