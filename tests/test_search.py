"""Search steps on a tiny supernet: second-order DARTS against exact autodiff, every method
updates what it should, and the compiled gradient is traced once."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import spaces
from base_nas.nn.supernet import Supernet
from base_nas.search import darts, get_method
from base_nas.search.core import OptimConfig, Searcher, SearchState

SPACE = spaces.get_space("nb201")


def _batch(key, n=8):
  k1, k2 = jax.random.split(jax.random.PRNGKey(key))
  return {"image": jax.random.normal(k1, (n, 8, 8, 3)),
          "label": jax.random.randint(k2, (n,), 0, 4)}


def _searcher(method="darts"):
  m = get_method(method)
  model = Supernet("nb201", 4, channels=4, layers=1, hard=m.hard)
  return Searcher(model, SPACE, m.relaxation, OptimConfig(), total_steps=10), m


class SmoothSearcher:
  """A tiny smooth stand-in for the supernet (mixtures of tanh/sin/linear ops weighted by
  softmax(alpha)), so that finite differences can be held to a tight tolerance; ReLU kinks would
  swamp them."""

  def __init__(self):
    self.loss_and_grads = jax.jit(jax.value_and_grad(self._loss, argnums=(0, 1), has_aux=True))
    self.update_weights = None

  @staticmethod
  def _loss(params, alphas, batch, key, tau):
    w = jax.nn.softmax(alphas["cell"], -1)
    h = jnp.tanh(batch["image"] @ params["w1"])
    for e in range(w.shape[0]):
      h = w[e, 0] * jnp.tanh(h) + w[e, 1] * jnp.sin(h) + w[e, 2] * 0.5 * h
    loss = jnp.mean((h @ params["w2"] - batch["target"]) ** 2)
    return loss, loss

  @staticmethod
  def init():
    ks = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"w1": jax.random.normal(ks[0], (5, 6)), "w2": jax.random.normal(ks[1], (6, 2))}
    return SearchState(step=jnp.zeros((), jnp.int32), params=params,
                       alphas={"cell": jax.random.normal(ks[2], (3, 3))}, w_opt=None, a_opt=None)


def _smooth_batch(key):
  k1, k2 = jax.random.split(jax.random.PRNGKey(key))
  return {"image": jax.random.normal(k1, (16, 5)), "target": jax.random.normal(k2, (16, 2))}


def test_finite_difference_hessian_vector_product_matches_autodiff():
  s, state = SmoothSearcher(), SmoothSearcher.init()
  train, key = _smooth_batch(1), jax.random.PRNGKey(5)
  v = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(2), p.shape), state.params)
  grad_alpha = lambda p: s.loss_and_grads(p, state.alphas, train, key, 1.0)[1][1]
  g_plus, g_minus, r = darts.hessian_vector_fd(grad_alpha, state.params, v)
  fd = jax.tree.map(lambda p, m: (p - m) / (2 * r), g_plus, g_minus)
  loss_a = lambda p, a: s._loss(p, a, train, key, 1.0)[0]
  exact = jax.jvp(lambda p: jax.grad(loss_a, argnums=1)(p, state.alphas), (state.params,), (v,))[1]
  e, f = np.asarray(exact["cell"]), np.asarray(fd["cell"])
  assert np.linalg.norm(e - f) <= 0.02 * np.linalg.norm(e), (e, f)


def test_second_order_gradient_matches_differentiating_the_unrolled_step():
  s, state = SmoothSearcher(), SmoothSearcher.init()
  train, val, key, eta = _smooth_batch(1), _smooth_batch(2), jax.random.PRNGKey(5), 0.1
  sgd = lambda p, g: jax.tree.map(lambda a, b: a - eta * b, p, g)
  approx, _ = darts.unrolled_alpha_grads(s, state, train, val, key, 1.0, eta, virtual_step=sgd)
  first_order = s.loss_and_grads(state.params, state.alphas, val, key, 1.0)[1][1]
  k_train, k_val = jax.random.split(key)
  loss = lambda p, a, b, k: s._loss(p, a, b, k, 1.0)[0]

  def unrolled_val_loss(alphas):
    g = jax.grad(loss)(state.params, alphas, train, k_train)
    return loss(sgd(state.params, g), alphas, val, k_val)

  exact = np.asarray(jax.grad(unrolled_val_loss)(state.alphas)["cell"])
  approx = np.asarray(approx["cell"])
  assert np.linalg.norm(exact - approx) <= 0.02 * np.linalg.norm(exact), (exact, approx)
  # ... and the second-order term matters here: the first-order gradient is far off.
  assert np.linalg.norm(exact - np.asarray(first_order["cell"])) > 0.1 * np.linalg.norm(exact)


@pytest.mark.parametrize("method,order", [("darts", 1), ("darts", 2), ("gdas", 1), ("snas", 1)])
def test_each_method_updates_weights_and_architecture(method, order):
  s, m = _searcher(method)
  state = s.init(jax.random.PRNGKey(0), (8, 8, 3))
  new, metrics = m.step(s, state, _batch(1), _batch(2), jax.random.PRNGKey(3),
                        jnp.float32(m.tau[1]), order=order)
  assert int(new.step) == 1
  assert np.isfinite(float(metrics["loss"]))
  for a, b in zip(jax.tree.leaves(state.alphas), jax.tree.leaves(new.alphas)):
    assert not np.allclose(a, b)
  changed = [not np.allclose(a, b) for a, b in
             zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params))]
  assert any(changed)


def test_steps_epochs_and_temperatures_compile_once():
  s, m = _searcher("gdas")
  state = s.init(jax.random.PRNGKey(0), (8, 8, 3))
  for i, tau in enumerate([10.0, 5.0, 0.1]):
    state, _ = m.step(s, state, _batch(i), _batch(i + 10), jax.random.PRNGKey(i), jnp.float32(tau))
  assert s.loss_and_grads._cache_size() == 1
  assert s.update_weights._cache_size() == 1 and s.update_alphas._cache_size() == 1


TNB101_TINY = '''
from base_nas.configs import search_config

def get_config():
  return search_config(
      space="tnb101", method="darts",
      data=dict(spec="builtin:synthetic", image_size=8, limit=32),
      model=dict(channels=4, layers=1),
      search=dict(epochs=1, batch_size=16, augment=False),
      run=dict(progress=False, plots=False),
  )
'''


def test_tnb101_search_runs_an_epoch_and_writes_a_tnb101_genotype(tmp_path):
  # The tnb101 supernet is NB201's network with the first four candidate ops.
  from base_nas import cli  # pylint: disable=import-outside-toplevel
  from base_nas.predict.tables import TNB101Table  # pylint: disable=import-outside-toplevel
  config = tmp_path / "tiny.py"
  config.write_text(TNB101_TINY)
  work = tmp_path / "run"
  assert cli.main(["search", str(config), "--workdir", str(work)]) == 0
  genotype = spaces.load_genotype(work / "genotype.json", space="tnb101")
  assert isinstance(genotype, spaces.TNB101Genotype)
  alphas = np.load(work / "alphas.npz")
  assert alphas["cell"].shape == (6, 4) and np.all(np.isfinite(alphas["cell"]))
  assert 0 <= TNB101Table.load().percentile(genotype, "class_scene") <= 100
