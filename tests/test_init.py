"""The fast-compiling initialisation: deterministic, independent across keys, right distribution."""
import jax
import jax.numpy as jnp
import numpy as np

from base_nas.nn import init as init_lib


def test_hash_keys_split_and_fold_in_to_distinct_keys():
  key = init_lib.init_key(jax.random.PRNGKey(0))
  words = [jax.random.key_data(k) for k in jax.random.split(key, 64)]
  words += [jax.random.key_data(jax.random.fold_in(key, i)) for i in range(64)]
  assert len({tuple(np.asarray(w).tolist()) for w in words}) == 128
  other = init_lib.init_key(jax.random.PRNGKey(1))
  assert not np.array_equal(jax.random.key_data(key), jax.random.key_data(other))


def test_hash_prng_bits_are_uniform():
  key = init_lib.init_key(jax.random.PRNGKey(3))
  u = np.asarray(jax.random.uniform(key, (200_000,)))
  hist, _ = np.histogram(u, bins=20, range=(0, 1))
  assert abs(u.mean() - 0.5) < 0.005 and hist.min() > 0.95 * 10_000 and hist.max() < 1.05 * 10_000
  # consecutive values do not correlate (the position is hashed, not counted)
  assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_host_draws_are_deterministic_functions_of_the_key_under_jit():
  key = init_lib.init_key(jax.random.PRNGKey(0))
  a = init_lib.host_uniform(key, (300, 40), 0.25)
  b = jax.jit(lambda k: init_lib.host_uniform(k, (300, 40), 0.25))(key)
  np.testing.assert_array_equal(a, b)
  assert a.dtype == jnp.float32 and float(jnp.abs(a).max()) <= 0.25
  assert abs(float(a.std()) - 0.25 / np.sqrt(3)) < 0.005
  c = init_lib.host_uniform(jax.random.fold_in(key, 1), (300, 40), 0.25)
  assert not np.array_equal(a, c)
  n = init_lib.host_normal(key, (100_000,), 2.0)
  assert abs(float(n.mean())) < 0.03 and abs(float(n.std()) - 2.0) < 0.03


def test_supernet_parameters_keep_pytorch_default_bounds():
  from base_nas import relax, spaces
  from base_nas.nn.supernet import Supernet
  space = spaces.get_space("darts")
  w, i = relax.relax("softmax", space.init_alphas(jax.random.PRNGKey(0)))
  params = jax.jit(Supernet("darts", 10, 8, 3).init)(
      init_lib.init_key(jax.random.PRNGKey(0)), jnp.zeros((2, 8, 8, 3)), w, i)
  sep = params["params"]["cell0"]["edges"]["sep5"]
  dw, pw = np.asarray(sep["dw1"]), np.asarray(sep["pw1"])  # fan-in 25 and C=8
  assert dw.shape == (14, 5, 5, 8) and np.abs(dw).max() <= 0.2 and np.abs(dw).max() > 0.19
  assert np.abs(pw).max() <= 8 ** -0.5
  # each edge draws its own values
  assert not np.array_equal(dw[0], dw[1])
