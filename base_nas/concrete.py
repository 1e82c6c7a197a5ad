"""The Concrete (relaxed one-hot categorical) distribution and the KL between categoricals.

numpyro ships a relaxed *Bernoulli* but no relaxed one-hot categorical over several categories,
and its ``kl_divergence`` knows ``CategoricalProbs`` pairs but not ``CategoricalLogits`` pairs.
The BASE meta-learner needs both: the Concrete distribution of Maddison et al. (2017) as the
reparameterised posterior over an edge's op choice, and the categorical KL between that
posterior's logits and the prior's.

* ``RelaxedOneHotCategorical(temperature, logits=..., probs=...)`` samples
  ``softmax((log_softmax(logits) + g) / temperature)`` with Gumbel noise ``g`` (the same sample as
  ``relax.py``'s ``gumbel`` relaxation) and scores points of the simplex with the Concrete density.
* ``categorical_kl(logits_p, logits_q)`` is ``KL(Cat(p) || Cat(q))`` on raw arrays; importing this
  module registers it for ``numpyro.distributions.kl.kl_divergence(CategoricalLogits,
  CategoricalLogits)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import gammaln
from numpyro.distributions import constraints
from numpyro.distributions import kl as _kl
from numpyro.distributions.discrete import CategoricalLogits
from numpyro.distributions.distribution import Distribution
from numpyro.distributions.util import validate_sample


class RelaxedOneHotCategorical(Distribution):
  """Concrete / Gumbel-Softmax distribution over the ``(n-1)``-simplex (Maddison et al., 2017).

  ``temperature`` broadcasts against the batch shape ``logits.shape[:-1]``; the event shape is
  ``logits.shape[-1:]``. Samples are reparameterised in ``logits`` and ``temperature``.

  ``log_prob`` is the density with respect to Lebesgue measure on the first ``n-1`` coordinates
  (``x_n = 1 - sum of the others``), the convention numpyro's ``Dirichlet`` uses, so for ``n = 2``
  its value at ``(x_1, 1 - x_1)`` is the density at ``x_1`` of
  ``RelaxedBernoulliLogits(temperature, logits[0] - logits[1])``. Samples are clipped below at
  the dtype's ``tiny`` so that their log density stays finite at low temperature.
  """

  arg_constraints = {"logits": constraints.real_vector, "temperature": constraints.positive}
  support = constraints.simplex
  has_rsample = True
  reparametrized_params = ["logits", "temperature"]
  pytree_data_fields = ("logits", "temperature")

  def __init__(self, temperature, logits=None, probs=None, *, validate_args=None):
    if (logits is None) == (probs is None):
      raise ValueError("exactly one of `logits` or `probs` must be given")
    if logits is None:
      # Clamp so that a zero probability gives a very negative, not an infinite, logit.
      probs = jnp.asarray(probs, jnp.result_type(probs, float))
      logits = jnp.log(jnp.clip(probs, jnp.finfo(probs.dtype).tiny, None))
    logits = jnp.asarray(logits, jnp.result_type(logits, float))
    if jnp.ndim(logits) < 1:
      raise ValueError("`logits` must be at least one-dimensional")
    self.logits = logits
    self.temperature = jnp.asarray(temperature, dtype=logits.dtype)
    batch_shape = lax.broadcast_shapes(jnp.shape(self.temperature), jnp.shape(logits)[:-1])
    super().__init__(batch_shape=batch_shape, event_shape=jnp.shape(logits)[-1:],
                     validate_args=validate_args)

  @property
  def probs(self):
    return jax.nn.softmax(self.logits, axis=-1)

  def _log_pi_tau(self):
    # log_softmax makes both the sample and the density independent of the logits' offset.
    log_pi = jax.nn.log_softmax(self.logits, axis=-1)
    return log_pi, jnp.expand_dims(self.temperature, -1)

  def sample(self, key, sample_shape=()):
    log_pi, tau = self._log_pi_tau()
    shape = tuple(sample_shape) + self.batch_shape + self.event_shape
    g = jax.random.gumbel(key, shape, log_pi.dtype)
    x = jax.nn.softmax((log_pi + g) / tau, axis=-1)
    # At low temperature coordinates underflow to 0, where log_prob would be -inf/nan.
    return jnp.clip(x, jnp.finfo(x.dtype).tiny, 1.0)

  @validate_sample
  def log_prob(self, value):
    log_pi, tau = self._log_pi_tau()
    n = self.event_shape[-1]
    log_x = jnp.log(value)
    return (gammaln(float(n)) + (n - 1) * jnp.log(tau[..., 0])
            + jnp.sum(log_pi - (tau + 1) * log_x, axis=-1)
            - n * jax.nn.logsumexp(log_pi - tau * log_x, axis=-1))


def categorical_kl(logits_p, logits_q):
  """``KL(Cat(softmax(logits_p)) || Cat(softmax(logits_q)))`` over the last axis; batch shapes
  broadcast. Categories with zero probability under ``p`` contribute nothing."""
  log_p = jax.nn.log_softmax(logits_p, axis=-1)
  log_q = jax.nn.log_softmax(logits_q, axis=-1)
  p = jnp.exp(log_p)
  # where, not p * (...): a -inf logit in both p and q would otherwise give 0 * nan.
  return jnp.sum(jnp.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)


def _kl_categorical_logits(p, q):
  return categorical_kl(p.logits, q.logits)


# numpyro 0.22's kl module has no `register_kl`; its `kl_divergence` is a multipledispatch
# Dispatcher, whose `register` is what numpyro's own `@dispatch` pairs amount to.
_register = getattr(_kl, "register_kl", None) or _kl.kl_divergence.register
_register(CategoricalLogits, CategoricalLogits)(_kl_categorical_logits)


__all__ = ["RelaxedOneHotCategorical", "categorical_kl"]
