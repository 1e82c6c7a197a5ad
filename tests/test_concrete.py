"""The Concrete distribution against numpyro's relaxed Bernoulli, exact quadrature of its density
and its gradients, and the Gumbel-max property; the registered KL between categoricals."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.distributions.kl import kl_divergence

from base_nas.concrete import RelaxedOneHotCategorical, categorical_kl

N = 20000


def _ks_one_sample(samples, cdf):
  x = np.sort(np.asarray(samples, np.float64))
  with np.errstate(divide="ignore"):  # float32 samples can round to exactly 0 or 1
    f = cdf(x)
  n = len(x)
  return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def _ks_two_sample(a, b):
  a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
  grid = np.concatenate([a, b])
  fa = np.searchsorted(a, grid, side="right") / len(a)
  fb = np.searchsorted(b, grid, side="right") / len(b)
  return np.max(np.abs(fa - fb))


# --- (a) two categories are numpyro's relaxed Bernoulli --------------------------------------------

@jax.jit
def _two_categories(tau, l, x):
  # One compiled program per test instead of an eager dispatch (and compile) per op.
  d = RelaxedOneHotCategorical(tau, logits=jnp.stack([l, 0.0]))
  b = dist.RelaxedBernoulliLogits(tau, l)
  return (d.log_prob(jnp.stack([x, 1 - x], -1)), b.log_prob(x),
          d.sample(jax.random.PRNGKey(0), (N,))[:, 0], b.sample(jax.random.PRNGKey(1), (N,)))


@pytest.mark.parametrize("tau,l", [(0.5, 0.7), (1.0, -1.3), (2.0, 0.0), (0.7, 1.5)])
def test_two_categories_match_relaxed_bernoulli(tau, l):
  x = jnp.array([0.02, 0.1, 0.3, 0.5, 0.8, 0.97])
  ours, theirs, first, their_samples = _two_categories(jnp.float32(tau), jnp.float32(l), x)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
  # x = sigmoid(Y), Y ~ Logistic(l / tau, 1 / tau), so P(x <= a) = sigmoid(tau logit(a) - l).
  cdf = lambda a: 1 / (1 + np.exp(-(tau * np.log(a / (1 - a)) - l)))
  # Critical values of the KS statistics at alpha ~ 0.001 for these sample sizes.
  assert _ks_one_sample(first, cdf) < 1.95 / np.sqrt(N)
  assert _ks_two_sample(first, their_samples) < 1.95 * np.sqrt(2 / N)


def test_a_wrong_temperature_is_detected():
  # The KS check above has the power to tell tau = 1 from tau = 1.1.
  first = _two_categories(jnp.float32(1.1), jnp.float32(0.5), jnp.ones(6) / 2)[2]
  cdf = lambda a: 1 / (1 + np.exp(-(np.log(a / (1 - a)) - 0.5)))
  assert _ks_one_sample(first, cdf) > 1.95 / np.sqrt(N)


# --- (b) three categories: exact quadrature of the density -----------------------------------------

def _z_grid(half_width=40.0, m=801):
  """Quadrature over the 2-simplex in the coordinates z = log(x_1 / x_3), log(x_2 / x_3), where the
  Concrete's tails are exponential instead of singular at the corners."""
  z = jnp.linspace(-half_width, half_width, m)
  z1, z2 = jnp.meshgrid(z, z, indexing="ij")
  zz = jnp.stack([z1, z2, jnp.zeros_like(z1)], -1).reshape(-1, 3)
  x = jax.nn.softmax(zz, axis=-1)
  # |d(x_1, x_2) / dz| = x_1 x_2 x_3, times the cell area.
  log_w = jnp.sum(jax.nn.log_softmax(zz, axis=-1), -1) + 2 * jnp.log(z[1] - z[0])
  return x, log_w


def test_the_z_grid_jacobian():
  z = jnp.array([0.3, -1.2])
  to_x = lambda z: jax.nn.softmax(jnp.append(z, 0.0))[:2]
  x = jax.nn.softmax(jnp.array([0.3, -1.2, 0.0]))
  np.testing.assert_allclose(jnp.linalg.det(jax.jacfwd(to_x)(z)), jnp.prod(x), rtol=1e-5)


@jax.jit
def _mass_and_samples(tau):
  d = RelaxedOneHotCategorical(tau, logits=jnp.array([0.5, -0.3, 1.1]))
  x, log_w = _z_grid()
  return x, jnp.exp(d.log_prob(x) + log_w), d.sample(jax.random.PRNGKey(2), (N,))


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_density_integrates_to_one_and_matches_the_samples(tau):
  x, mass, s = (np.asarray(a, np.float64) for a in _mass_and_samples(jnp.float32(tau)))
  assert mass.sum() == pytest.approx(1.0, abs=2e-3)
  regions = [x[:, 0] > 0.5, x[:, 1] > 0.5, x[:, 2] > 0.7, np.all(x < 0.5, -1)]
  in_s = [s[:, 0] > 0.5, s[:, 1] > 0.5, s[:, 2] > 0.7, np.all(s < 0.5, -1)]
  for r, r_s in zip(regions, in_s):
    # Sampling error ~ 0.0035 at most; the grid's boundary error is smaller.
    assert np.mean(r_s) == pytest.approx(mass[r].sum(), abs=0.012)


def test_density_is_that_of_the_first_two_coordinates():
  # Against numpyro's Dirichlet, which uses the same convention: the ratio of the two densities
  # integrates to one under the Dirichlet only if they share the base measure.
  @jax.jit
  def ratio():
    d = RelaxedOneHotCategorical(1.5, logits=jnp.array([0.2, -0.4, 0.0]))
    u = dist.Dirichlet(jnp.ones(3))
    pts = u.sample(jax.random.PRNGKey(5), (N,))
    return jnp.exp(d.log_prob(pts) - u.log_prob(pts))

  ratio = ratio()
  # tau > 1 keeps the ratio's variance finite; its standard error here is ~0.01.
  assert float(jnp.mean(ratio)) == pytest.approx(1.0, abs=0.04)


# --- (c) reparameterised gradients, shapes, transformations ----------------------------------------

def test_pathwise_gradient_matches_quadrature():
  c = jnp.array([1.0, -2.0, 0.5])
  f = lambda x: jnp.sum(c * x ** 2, -1)
  logits0, tau0 = jnp.array([0.4, -0.6, 0.1]), 0.7
  x, log_w = _z_grid()

  def exact(logits, tau):
    return jnp.sum(f(x) * jnp.exp(RelaxedOneHotCategorical(tau, logits=logits).log_prob(x) + log_w))

  def pathwise(logits, tau):
    return jnp.mean(f(RelaxedOneHotCategorical(tau, logits=logits).sample(
        jax.random.PRNGKey(7), (N,))))

  (e_exact, g_exact), (e_path, g_path) = jax.jit(lambda *a: (
      jax.value_and_grad(exact, argnums=(0, 1))(*a),
      jax.value_and_grad(pathwise, argnums=(0, 1))(*a)))(logits0, tau0)
  assert float(e_path) == pytest.approx(float(e_exact), abs=0.02)
  np.testing.assert_allclose(g_path[0], g_exact[0], atol=0.02)
  np.testing.assert_allclose(g_path[1], g_exact[1], atol=0.02)
  assert float(jnp.abs(g_exact[0]).max()) > 0.1 and abs(float(g_exact[1])) > 0.02


def test_shapes_support_and_offset_invariance():
  logits = jax.random.normal(jax.random.PRNGKey(0), (4, 5))
  d = RelaxedOneHotCategorical(jnp.full((4,), 0.5), logits=logits)
  assert d.batch_shape == (4,) and d.event_shape == (5,)
  # Temperature broadcasts against the batch.
  d2 = RelaxedOneHotCategorical(jnp.array([[0.5], [2.0]]), logits=logits)
  assert d2.batch_shape == (2, 4) and d2.event_shape == (5,)
  with pytest.raises(ValueError):
    RelaxedOneHotCategorical(0.5)

  @jax.jit
  def run(logits):
    key = jax.random.PRNGKey(1)
    d = RelaxedOneHotCategorical(jnp.full((4,), 0.5), logits=logits)
    shifted = RelaxedOneHotCategorical(0.5, logits=logits + 3.0)
    byp = RelaxedOneHotCategorical(0.5, probs=jax.nn.softmax(logits))
    s = d.rsample(key, (3, 2))
    return dict(s=s, lp=d.log_prob(s), in_support=d.support(s), probs=d.probs,
                s2=RelaxedOneHotCategorical(jnp.array([[0.5], [2.0]]), logits=logits).sample(key),
                s1=d.sample(key), s1_shifted=shifted.sample(key),
                lp_shifted=shifted.log_prob(s), lp_probs=byp.log_prob(s))

  r = run(logits)
  assert r["s"].shape == (3, 2, 4, 5) and r["lp"].shape == (3, 2, 4) and r["s2"].shape == (2, 4, 5)
  np.testing.assert_allclose(r["s"].sum(-1), 1.0, rtol=1e-5)
  assert bool(jnp.all(r["in_support"])) and bool(jnp.all(jnp.isfinite(r["lp"])))
  np.testing.assert_allclose(r["probs"], jax.nn.softmax(logits), rtol=1e-6)
  # The logits' offset and the probs parameterisation change nothing.
  np.testing.assert_allclose(r["s1_shifted"], r["s1"], atol=1e-5)
  np.testing.assert_allclose(r["lp_shifted"], r["lp"], rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(r["lp_probs"], r["lp"], rtol=1e-5, atol=1e-4)


def test_jit_vmap_and_pytree():
  logits = jax.random.normal(jax.random.PRNGKey(0), (3, 4))
  d = RelaxedOneHotCategorical(0.8, logits=logits)
  leaves, tree = jax.tree_util.tree_flatten(d)
  assert len(leaves) == 2
  back = jax.tree_util.tree_unflatten(tree, leaves)
  assert back.batch_shape == (3,) and back.event_shape == (4,)
  keys = jax.random.split(jax.random.PRNGKey(1), 3)

  @jax.jit
  def run(d, logits, keys):
    # The distribution as a jit argument, against one built per row under vmap.
    s = jax.vmap(lambda l, k: RelaxedOneHotCategorical(0.8, logits=l).sample(k))(logits, keys)
    lp = jax.vmap(lambda l, v: RelaxedOneHotCategorical(0.8, logits=l).log_prob(v))(logits, s)
    g = jax.random.gumbel(keys[0], (3, 4))
    by_formula = jax.nn.softmax((jax.nn.log_softmax(logits) + g) / 0.8, axis=-1)
    return s, lp, d.log_prob(s), d.sample(keys[0]), by_formula

  s, lp_vmapped, lp, whole, by_formula = run(d, logits, keys)
  assert s.shape == (3, 4)
  np.testing.assert_allclose(lp_vmapped, lp, rtol=1e-5)
  np.testing.assert_allclose(whole, by_formula, rtol=1e-5, atol=1e-6)


# --- (d) the Gumbel-max property -------------------------------------------------------------------

def test_low_temperature_samples_follow_the_gumbel_max_frequencies():
  logits = jnp.array([1.0, 0.0, -1.0, 0.5])

  @jax.jit
  def run(tau):
    d = RelaxedOneHotCategorical(tau, logits=logits)
    s = d.sample(jax.random.PRNGKey(3), (N,))
    return s, d.log_prob(s)

  s, lp = run(jnp.float32(0.05))
  assert float(jnp.mean(jnp.max(s, -1))) > 0.95
  freq = np.bincount(np.asarray(jnp.argmax(s, -1)), minlength=4) / N
  np.testing.assert_allclose(freq, jax.nn.softmax(logits), atol=0.012)
  # Even far below that temperature, no coordinate underflows to a -inf log density.
  s, lp = run(jnp.float32(0.01))
  assert bool(jnp.all(s > 0)) and bool(jnp.all(jnp.isfinite(lp)))


# --- (e) the registered KL -------------------------------------------------------------------------

def _np_kl(a, b):
  p = np.exp(a - a.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  q = np.exp(b - b.max(-1, keepdims=True))
  q /= q.sum(-1, keepdims=True)
  return (p * (np.log(p) - np.log(q))).sum(-1)


def test_registered_categorical_kl():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, 6)).astype(np.float32), rng.normal(size=(3, 6)).astype(np.float32)
  want = _np_kl(a.astype(np.float64), b.astype(np.float64))
  got = kl_divergence(dist.Categorical(logits=jnp.asarray(a)), dist.Categorical(logits=jnp.asarray(b)))
  assert got.shape == (3,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(categorical_kl(a, b), got, rtol=1e-6)
  # numpyro's own probs-parameterised KL agrees.
  by_probs = kl_divergence(dist.CategoricalProbs(jax.nn.softmax(a)),
                           dist.CategoricalProbs(jax.nn.softmax(b)))
  np.testing.assert_allclose(got, by_probs, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(categorical_kl(a + 3.0, b - 7.0), want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(categorical_kl(a, a + 2.0), 0.0, atol=1e-6)
  assert bool(jnp.all(categorical_kl(a, b[::-1]) > 0))


def test_categorical_kl_broadcasts_and_differentiates():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(3, 1, 5)), rng.normal(size=(1, 4, 5))
  got = kl_divergence(dist.CategoricalLogits(jnp.asarray(a)), dist.CategoricalLogits(jnp.asarray(b)))
  assert got.shape == (3, 4)
  np.testing.assert_allclose(got, _np_kl(*np.broadcast_arrays(a, b)), rtol=1e-5, atol=1e-6)
  # d KL / d logits_p = p (log p - log q - KL).
  a0, b0 = jnp.asarray(a[0, 0], jnp.float32), jnp.asarray(b[0, 0], jnp.float32)
  lp, lq = jax.nn.log_softmax(a0), jax.nn.log_softmax(b0)
  want = jnp.exp(lp) * (lp - lq - categorical_kl(a0, b0))
  np.testing.assert_allclose(jax.jit(jax.grad(categorical_kl))(a0, b0), want, rtol=1e-4,
                             atol=1e-6)


def test_categorical_kl_with_impossible_categories():
  # A category impossible under p contributes nothing; one impossible only under q is infinite.
  a = jnp.array([0.0, -jnp.inf, 1.0])
  b = jnp.array([0.5, 0.2, -0.1])
  p = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
  q = np.exp([0.5, -0.1]) / np.exp([0.5, 0.2, -0.1]).sum()
  want = np.sum(p * np.log(p / q))
  np.testing.assert_allclose(categorical_kl(a, b), want, rtol=1e-5)
  assert float(categorical_kl(a, a)) == 0.0
  assert float(categorical_kl(b, a)) == np.inf
