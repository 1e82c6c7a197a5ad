import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import relax


def _logits():
  return jax.random.normal(jax.random.PRNGKey(0), (14, 8))


def test_softmax_is_deterministic_distribution():
  w, index = relax.relax_one("softmax", _logits())
  np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-6)
  np.testing.assert_array_equal(index, jnp.argmax(_logits(), -1))


def test_gumbel_samples_depend_on_key_and_sum_to_one():
  a, _ = relax.relax_one("gumbel", _logits(), jax.random.PRNGKey(1), 1.0)
  b, _ = relax.relax_one("gumbel", _logits(), jax.random.PRNGKey(2), 1.0)
  np.testing.assert_allclose(a.sum(-1), 1, rtol=1e-5)
  assert not np.allclose(a, b)


def test_low_temperature_concentrates_gumbel_samples():
  hot, _ = relax.relax_one("gumbel", _logits(), jax.random.PRNGKey(1), 0.01)
  warm, _ = relax.relax_one("gumbel", _logits(), jax.random.PRNGKey(1), 10.0)
  assert float(hot.max(-1).mean()) > 0.95 > float(warm.max(-1).mean())


def test_hard_is_one_hot_with_the_soft_gradient():
  key, logits = jax.random.PRNGKey(3), _logits()
  hard, index = relax.relax_one("hard", logits, key, 2.0)
  np.testing.assert_allclose(hard, jax.nn.one_hot(index, 8), atol=1e-6)
  probe = jax.random.normal(jax.random.PRNGKey(4), (14, 8))
  g_hard = jax.grad(lambda a: jnp.sum(relax.relax_one("hard", a, key, 2.0)[0] * probe))(logits)
  g_soft = jax.grad(lambda a: jnp.sum(relax.relax_one("gumbel", a, key, 2.0)[0] * probe))(logits)
  np.testing.assert_allclose(g_hard, g_soft, rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(g_hard).sum()) > 0


def test_relax_covers_every_cell_type():
  alphas = {"normal": _logits(), "reduce": _logits()}
  w, i = relax.relax("hard", alphas, jax.random.PRNGKey(0), 1.0)
  assert set(w) == set(i) == {"normal", "reduce"}


def test_unknown_relaxation():
  with pytest.raises(ValueError, match="unknown relaxation"):
    relax.relax_one("sparsemax", _logits())


@pytest.mark.parametrize("kind,start,end", [("linear", 10.0, 0.1), ("exponential", 1.0, 0.03)])
def test_schedules_hit_their_endpoints(kind, start, end):
  s = relax.make_schedule(kind, start, end, 50)
  assert s(0) == pytest.approx(start) and s(49) == pytest.approx(end)
  assert s(10) < s(5)


def test_unknown_schedule():
  with pytest.raises(ValueError, match="unknown temperature schedule"):
    relax.make_schedule("cosine", 1, 0, 10)
