"""The relaxed one-hot categorical (Concrete) distribution and the KL between categoricals.

numpyro has a relaxed Bernoulli but no relaxed categorical over several categories, and no KL
between two categoricals given by logits; BASE's posterior over architectures needs both: a
Concrete sample per edge of a cell, and KL(Cat(alpha_t) || Cat(alpha_0)) to the meta-learned
prior. Importing this module registers that KL with ``numpyro.distributions.kl.kl_divergence``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln
from numpyro.distributions import constraints
from numpyro.distributions.discrete import CategoricalLogits
from numpyro.distributions.distribution import Distribution
from numpyro.distributions.kl import kl_divergence
from numpyro.distributions.util import promote_shapes, validate_sample


class RelaxedOneHotCategorical(Distribution):
  """Concrete(logits, temperature) (Maddison et al. 2017; Jang et al. 2017's Gumbel-Softmax).

  A sample is ``softmax((log_softmax(logits) + g) / temperature)`` with ``g`` standard Gumbel
  noise: reparameterized, differentiable in the logits and the temperature. ``log_prob`` is the
  density with respect to the Lebesgue measure on the first ``n - 1`` coordinates of the
  simplex (the last one is ``1 - sum`` of the others), as in the paper::

    log p(x) = log (n-1)! + (n-1) log tau + sum_k (log pi_k - (tau + 1) log x_k)
               - n logsumexp_k (log pi_k - tau log x_k)
  """
  arg_constraints = {"logits": constraints.real_vector, "temperature": constraints.positive}
  support = constraints.simplex
  has_rsample = True
  reparametrized_params = ["logits", "temperature"]
  pytree_data_fields = ("logits", "temperature")

  def __init__(self, temperature, logits=None, probs=None, *, validate_args=None):
    if (logits is None) == (probs is None):
      raise ValueError("give exactly one of logits and probs")
    if logits is None:
      logits = jnp.log(probs)
    logits = jnp.asarray(logits)
    temperature = jnp.asarray(temperature, logits.dtype)
    (temperature,) = promote_shapes(temperature, shape=logits.shape[:-1])
    self.logits = jax.nn.log_softmax(logits, axis=-1)
    self.temperature = temperature
    super().__init__(batch_shape=jnp.shape(logits)[:-1], event_shape=jnp.shape(logits)[-1:],
                     validate_args=validate_args)

  @property
  def probs(self):
    return jax.nn.softmax(self.logits, axis=-1)

  def rsample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape + self.event_shape
    g = jax.random.gumbel(key, shape, self.logits.dtype)
    tau = jnp.expand_dims(self.temperature, -1)
    return jax.nn.softmax((self.logits + g) / tau, axis=-1)

  def sample(self, key, sample_shape=()):
    return self.rsample(key, sample_shape)

  @validate_sample
  def log_prob(self, value):
    n = self.event_shape[-1]
    tau = self.temperature
    log_x = jnp.log(value)
    scores = self.logits - jnp.expand_dims(tau, -1) * log_x
    return (gammaln(n) + (n - 1) * jnp.log(tau)
            + jnp.sum(scores - log_x, axis=-1)
            - n * jax.nn.logsumexp(scores, axis=-1))


def categorical_kl(logits_p, logits_q):
  """KL(Cat(softmax(logits_p)) || Cat(softmax(logits_q))) over the last axis (broadcasting)."""
  lp = jax.nn.log_softmax(logits_p, axis=-1)
  lq = jax.nn.log_softmax(logits_q, axis=-1)
  return jnp.sum(jnp.exp(lp) * (lp - lq), axis=-1)


# numpyro 0.22 has no register_kl: its kl_divergence is a multipledispatch function.
@kl_divergence.register(CategoricalLogits, CategoricalLogits)
def _kl_categorical_logits(p, q):
  return categorical_kl(p.logits, q.logits)


__all__ = ["RelaxedOneHotCategorical", "categorical_kl"]
