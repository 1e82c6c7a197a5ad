"""The Concrete distribution against numpyro's relaxed Bernoulli and a Monte-Carlo check of its
density; the registered KL between categoricals."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.distributions.kl import kl_divergence

from base_nas.concrete import RelaxedOneHotCategorical, categorical_kl


@pytest.mark.parametrize("tau,logit", [(0.5, 0.7), (1.0, -1.3), (2.0, 0.0)])
def test_two_categories_are_numpyros_relaxed_bernoulli(tau, logit):
  d = RelaxedOneHotCategorical(tau, logits=jnp.array([logit, 0.0]))
  b = dist.RelaxedBernoulliLogits(tau, logit)
  x = jnp.array([0.05, 0.3, 0.5, 0.8, 0.97])
  np.testing.assert_allclose(d.log_prob(jnp.stack([x, 1 - x], -1)), b.log_prob(x), rtol=1e-5)
  # And the samples: the same distribution of the first coordinate.
  ours = np.sort(np.asarray(d.sample(jax.random.PRNGKey(0), (20000,))[:, 0]))
  theirs = np.sort(np.asarray(b.sample(jax.random.PRNGKey(1), (20000,))))
  assert np.abs(ours - theirs).max() < 0.03


def test_density_integrates_to_one_and_matches_the_samples():
  d = RelaxedOneHotCategorical(0.8, logits=jnp.array([0.5, -0.3, 0.1]))
  # Integral over the 2-simplex on a grid of its first two coordinates (midpoints).
  m = 600
  u = (np.arange(m) + 0.5) / m
  a, b = np.meshgrid(u, u, indexing="ij")
  inside = a + b < 1
  pts = np.stack([a[inside], b[inside], 1 - a[inside] - b[inside]], -1)
  dens = np.exp(np.asarray(d.log_prob(jnp.asarray(pts))))
  assert dens.sum() / m ** 2 == pytest.approx(1.0, abs=0.02)
  # The mass of the region x_0 > 0.5 by the density and by sampling.
  region = pts[:, 0] > 0.5
  by_density = dens[region].sum() / m ** 2
  s = np.asarray(d.sample(jax.random.PRNGKey(2), (40000,)))
  assert np.mean(s[:, 0] > 0.5) == pytest.approx(by_density, abs=0.01)


def test_samples_are_reparameterized_and_shaped():
  logits = jnp.zeros((4, 5))
  d = RelaxedOneHotCategorical(jnp.ones(4), logits=logits)
  assert d.batch_shape == (4,) and d.event_shape == (5,)
  s = d.rsample(jax.random.PRNGKey(0), (3,))
  assert s.shape == (3, 4, 5)
  np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-6)
  f = lambda lg: jnp.sum(RelaxedOneHotCategorical(0.5, logits=lg).rsample(
      jax.random.PRNGKey(0), (64,))[..., 0])
  g = jax.grad(f)(logits)
  assert np.all(np.isfinite(g)) and np.all(np.asarray(g[:, 0]) > 0)  # more logit, more mass


def test_low_temperature_samples_follow_the_gumbel_max_frequencies():
  logits = jnp.array([1.0, 0.0, -1.0])
  s = RelaxedOneHotCategorical(0.05, logits=logits).sample(jax.random.PRNGKey(3), (20000,))
  assert float(jnp.mean(jnp.max(s, -1))) > 0.95
  freq = np.bincount(np.asarray(jnp.argmax(s, -1)), minlength=3) / 20000
  np.testing.assert_allclose(freq, jax.nn.softmax(logits), atol=0.015)


def test_registered_categorical_kl():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
  p = np.exp(a) / np.exp(a).sum(-1, keepdims=True)
  q = np.exp(b) / np.exp(b).sum(-1, keepdims=True)
  want = (p * np.log(p / q)).sum(-1)
  got = kl_divergence(dist.CategoricalLogits(jnp.asarray(a)), dist.CategoricalLogits(jnp.asarray(b)))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  np.testing.assert_allclose(categorical_kl(a + 3.0, b - 1.0), want, rtol=1e-5)
  np.testing.assert_allclose(categorical_kl(a, a), 0.0, atol=1e-6)
  assert categorical_kl(a[:, None], b[None]).shape == (3, 3)
