"""The supernet: op shapes, parameter counts against the reference code, relaxations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import relax
from base_nas.nn import candidates
from base_nas.nn import supernet
from base_nas.nn.supernet import Supernet, run_edges

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


@pytest.mark.parametrize("stride", [1, 2])
def test_chosen_vjp_equals_autodiff_of_the_chosen_op(stride):
  cands = candidates.darts_candidates(4, stride)
  params = cands.init_edge(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))
  w = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(2), (8,)))
  for index in range(8):
    y, vjp = jax.vjp(lambda p, x, w: cands.chosen(p, x, w, index), params, x, w)
    g = jax.random.normal(jax.random.PRNGKey(3 + index), y.shape)
    got = jax.jit(cands.chosen_vjp)(params, x, w, index, g)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
                 got, vjp(g))


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


# (from_inputs, stride, hard, remat): edges that read the cell inputs (reduction cells: stride 2)
# and edges between nodes, soft and hard, with and without recomputation.
@pytest.mark.parametrize("from_inputs,stride,hard,remat", [
    (False, 1, False, True), (False, 1, False, False), (False, 1, True, True),
    (True, 2, False, True), (True, 2, True, False)])
def test_scanned_edges_equal_a_plain_loop_in_value_and_gradient(from_inputs, stride, hard, remat):
  """run_edges' hand-written backward pass against autodiff of the obvious Python loop."""
  cands = candidates.darts_candidates(4, stride)
  src, dst = ([0, 1, 0, 1], [0, 0, 1, 1]) if from_inputs else ([0, 0, 1, 0, 1, 2], [1, 2, 2, 3, 3, 3])
  e = len(src)
  params = cands.init_edge(jax.random.PRNGKey(0), (e,))
  weights = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (e, 8)))
  index = jnp.array([4, 5, 1, 7, 2, 6][:e], jnp.int32)
  if hard:
    weights = jax.nn.one_hot(index, 8) + weights - jax.lax.stop_gradient(weights)
  k = jax.random.split(jax.random.PRNGKey(2), 2)
  inputs = jax.random.normal(k[0], (2, 2, 8, 8, 4))
  nodes = jax.random.normal(k[1], (4, 2, 8 // stride, 8 // stride, 4))

  def fast(params, weights, nodes, inputs):
    out = run_edges(cands, params, weights, index, src, dst, nodes,
                    inputs if from_inputs else None, hard=hard, remat=remat)
    return jnp.sum(jnp.sin(out))

  def plain(params, weights, nodes, inputs):
    for j in range(e):
      p = jax.tree.map(lambda a: a[j], params)
      x = (inputs if from_inputs else nodes)[src[j]]
      y = (cands.chosen(p, x, weights[j], index[j]) if hard else cands.mixed(p, x, weights[j]))
      nodes = nodes.at[dst[j]].add(y)
    return jnp.sum(jnp.sin(nodes))

  args = (params, weights, nodes, inputs)
  # The scan compiles as the searchers compile it; the loop with XLA's defaults.
  got, want = (jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 3)), compiler_options=o)(*args)
               for f, o in ((fast, supernet.compiler_options(hard)), (plain, None)))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  grads = got[1]
  assert float(jnp.abs(grads[3 if from_inputs else 2]).max()) > 0  # the input gradient flows
  assert float(jnp.abs(grads[1]).max()) > 0


def test_compiler_options_pick_the_older_cpu_fusion_emitters_for_soft_relaxations(monkeypatch):
  options = supernet.compiler_options.__wrapped__
  if jax.default_backend() == "cpu":
    assert options(hard=False) == {"xla_cpu_use_fusion_emitters": False}
  assert options(hard=True) == {}
  monkeypatch.setenv("BASE_NAS_XLA_DEFAULTS", "1")
  assert options(hard=False) == {}
