"""The supernet: op shapes, parameter counts against the reference code, relaxations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import relax
from base_nas.nn import candidates
from base_nas.nn.supernet import Supernet

DARTS_SHAPES = {"normal": (14, 8), "reduce": (14, 8)}
NB201_SHAPES = {"cell": (6, 5)}


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _alphas(shapes, key=1):
  return {k: 1e-3 * jax.random.normal(jax.random.PRNGKey(key), s) for k, s in shapes.items()}


@pytest.mark.parametrize("stride", [1, 2])
def test_each_darts_op_keeps_or_halves_the_resolution(stride):
  cands = candidates.darts_candidates(4, stride)
  params = cands.init_edge(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))
  for name, fn in zip(cands.names, cands.fns):
    assert fn(params, x).shape == (2, 8 // stride, 8 // stride, 4), name


def test_each_nb201_op_keeps_the_shape():
  cands = candidates.nb201_candidates(4)
  params = cands.init_edge(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))
  for name, fn in zip(cands.names, cands.fns):
    assert fn(params, x).shape == x.shape, name


def test_mixed_op_is_the_weighted_sum_and_chosen_op_its_one_hot_case():
  cands = candidates.darts_candidates(4, 1)
  params = cands.init_edge(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))
  w = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(2), (8,)))
  expected = sum(w[k] * fn(params, x) for k, fn in enumerate(cands.fns))
  np.testing.assert_allclose(cands.mixed(params, x, w), expected, rtol=1e-5, atol=1e-5)
  one_hot = jax.nn.one_hot(4, 8)
  np.testing.assert_allclose(cands.chosen(params, x, one_hot, 4), cands.fns[4](params, x),
                             rtol=1e-5, atol=1e-5)


def test_hard_relaxation_evaluates_only_the_chosen_op():
  calls = []
  base = candidates.darts_candidates(4, 1)

  def spy(k, fn):
    def wrapped(p, x):
      jax.debug.callback(lambda: calls.append(base.names[k]))
      return fn(p, x)
    return wrapped

  cands = candidates.Candidates(base.names, base.init_edge,
                                tuple(spy(k, f) for k, f in enumerate(base.fns)), 0)
  params = cands.init_edge(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))
  jax.block_until_ready(jax.jit(cands.chosen)(params, x, jax.nn.one_hot(5, 8), 5))
  assert calls == ["sep_conv_5x5"]
  calls.clear()
  jax.block_until_ready(jax.jit(cands.mixed)(params, x, jnp.ones(8) / 8))
  assert sorted(calls) == sorted(base.names[1:])  # every op but 'none'


def test_darts_search_network_has_the_reference_parameter_count():
  # DARTS' model_search.Network(C=16, num_classes=10, layers=8) reports 1.930618 M parameters.
  net = Supernet("darts", 10, channels=16, layers=8)
  w, i = relax.relax("softmax", _alphas(DARTS_SHAPES))
  shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)), w, i)
  assert _count(shapes) == 1_930_618


@pytest.mark.parametrize("space,shapes,layers", [("darts", DARTS_SHAPES, 3),
                                                  ("nb201", NB201_SHAPES, 1)])
@pytest.mark.parametrize("kind", ["softmax", "gumbel", "hard"])
def test_gradients_reach_the_architecture(space, shapes, layers, kind):
  net = Supernet(space, 5, channels=4, layers=layers, hard=kind == "hard")
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3))
  alphas = _alphas(shapes)
  w, i = relax.relax(kind, alphas, jax.random.PRNGKey(2), 1.0)
  params = jax.jit(net.init)(jax.random.PRNGKey(0), x, w, i)

  def loss(alphas):
    w, i = relax.relax(kind, alphas, jax.random.PRNGKey(2), 1.0)
    logits = net.apply(params, x, w, i)
    assert logits.shape == (4, 5)
    return jnp.mean(jax.nn.log_softmax(logits)[:, 0])

  grads = jax.jit(jax.grad(loss))(alphas)
  for name, g in grads.items():
    g = np.asarray(g)
    assert np.all(np.isfinite(g)), name
    # Every edge's chosen op receives a gradient under every relaxation.
    assert np.all(np.abs(g).sum(-1) > 0), (name, g)


@pytest.mark.parametrize("space,shapes,layers", [("darts", DARTS_SHAPES, 3),
                                                  ("nb201", NB201_SHAPES, 1)])
@pytest.mark.parametrize("hard", [False, True])
def test_remat_changes_neither_the_loss_nor_the_gradients(space, shapes, layers, hard):
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3))
  alphas = _alphas(shapes)
  kind = "hard" if hard else "softmax"
  w, i = relax.relax(kind, alphas, jax.random.PRNGKey(2), 1.0)
  nets = [Supernet(space, 5, channels=4, layers=layers, hard=hard, remat=r) for r in (False, True)]
  params = jax.jit(nets[0].init)(jax.random.PRNGKey(0), x, w, i)

  def loss(net, params, alphas):
    w, i = relax.relax(kind, alphas, jax.random.PRNGKey(2), 1.0)
    return jnp.mean(jax.nn.log_softmax(net.apply(params, x, w, i))[:, 0])

  plain, remat = (jax.jit(jax.value_and_grad(lambda p, a, n=n: loss(n, p, a), argnums=(0, 1)))(
      params, alphas) for n in nets)
  # The recomputed forward pass runs the same ops on the same inputs, so results are equal up to
  # XLA fusing them differently.
  for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(remat)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # The test would pass vacuously if gradients were all zero.
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(remat[1])) > 0
