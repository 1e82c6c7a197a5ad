"""The meta-gradient three ways (exact, finite-difference HVPs, first order), against each other
and against finite differences of the meta-objective, on a toy model in float64; then exact
second order through the supernet's hand-written backward passes against the plain ops (a
NAS-Bench-201 supernet; DARTS edges)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import relax as relax_lib
from base_nas.meta.objective import InnerConfig, MetaObjective, init_log_lr
from base_nas.nn import ops
from base_nas.nn.candidates import darts_candidates, stack_init
from base_nas.nn.supernet import Supernet, run_edges
from base_nas.spaces import get_space

E, O, D, C = 2, 3, 4, 3


def toy_apply(params, x, weights, index):
  """A two-edge 'supernet' of tanh layers: the relaxed weights mix three candidates per edge."""
  del index
  h = x
  for e in range(E):
    h = sum(weights["cell"][e, o] * jnp.tanh(h @ params["w"][e, o]) for o in range(O))
  return h @ params["head"]


def toy_theta(dtype, learn_lr=True):
  k = jax.random.split(jax.random.PRNGKey(0), 3)
  theta = {"alphas": {"cell": 0.5 * jax.random.normal(k[0], (E, O), dtype)},
           "params": {"w": 0.7 * jax.random.normal(k[1], (E, O, D, D), dtype),
                      "head": 0.5 * jax.random.normal(k[2], (D, C), dtype)}}
  if learn_lr:
    theta["log_lr"] = jax.tree.map(lambda a: a.astype(dtype),
                                   init_log_lr(theta, InnerConfig(lr_weights=0.3, lr_alphas=0.5)))
  return theta


def toy_task(dtype, n=12, queries=None):
  k = jax.random.split(jax.random.PRNGKey(1), 4)
  q = n if queries is None else queries
  return {"support": {"image": jax.random.normal(k[0], (n, D), dtype),
                      "label": jax.random.randint(k[1], (n,), 0, C)},
          "query": {"image": jax.random.normal(k[2], (q, D), dtype),
                    "label": jax.random.randint(k[3], (q,), 0, C)}}


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def _grads(order, steps=2, lr=0.3, lr_alphas=0.5, dtype=jnp.float64, relaxation="gumbel",
           queries=None, **kw):
  cfg = InnerConfig(steps=steps, lr_weights=lr, lr_alphas=lr_alphas, beta=0.05, weight_prior=0.1,
                    tau=1.0, order=order, **kw)
  obj = MetaObjective(toy_apply, relaxation, cfg)
  theta = toy_theta(dtype)
  theta["log_lr"] = {part: jax.tree.map(lambda a: jnp.log(jnp.asarray(v, dtype)), tree)
                     for (part, tree), v in zip(sorted(theta["log_lr"].items()), (lr_alphas, lr))}
  (loss, _), g = jax.jit(obj.task_grads)(theta, toy_task(dtype, queries=queries),
                                         jax.random.PRNGKey(3), 1.0)
  return obj, theta, float(loss), g


def test_finite_difference_hvps_equal_the_exact_meta_gradient():
  with jax.enable_x64(True):
    _, _, loss_e, exact = _grads("exact", steps=3)
    _, _, loss_f, fd = _grads("fd", steps=3, fd_radius=1e-4)
  assert loss_e == pytest.approx(loss_f, rel=1e-12)
  np.testing.assert_allclose(_flat(fd), _flat(exact), rtol=1e-5, atol=1e-7)
  assert set(fd) == set(exact) == {"alphas", "params", "log_lr"}


def test_exact_meta_gradient_equals_finite_differences_of_the_meta_objective():
  with jax.enable_x64(True):
    obj, theta, _, exact = _grads("exact", steps=3)
    task, key = toy_task(jnp.float64), jax.random.PRNGKey(3)
    f = jax.jit(lambda t: obj.meta_loss(t, task, key, 1.0)[0])
    leaves, tree = jax.tree.flatten(theta)
    rng = np.random.default_rng(0)
    for _ in range(3):
      d = jax.tree.unflatten(tree, [rng.normal(size=x.shape) for x in leaves])
      eps = 1e-5
      plus = jax.tree.map(lambda a, b: a + eps * b, theta, d)
      minus = jax.tree.map(lambda a, b: a - eps * b, theta, d)
      numeric = (float(f(plus)) - float(f(minus))) / (2 * eps)
      assert float(np.dot(_flat(exact), _flat(d))) == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_first_order_drops_only_the_second_order_terms():
  """First order differs from exact by O(lr): halving the inner step size halves the gap."""
  with jax.enable_x64(True):
    gaps = []
    for lr in (0.02, 0.01):
      ex, fo = (_flat(_grads(o, lr=lr, lr_alphas=lr)[3]) for o in ("exact", "first"))
      gaps.append(np.linalg.norm(ex - fo))
      assert np.dot(ex, fo) / (np.linalg.norm(ex) * np.linalg.norm(fo)) > 0.9
    assert gaps[0] > 0
    assert gaps[0] / gaps[1] == pytest.approx(2.0, rel=0.2)


@pytest.mark.parametrize("queries", [None, 7], ids=["query-row-in-the-scan", "query-apart"])
def test_first_order_equals_reverse_mode_through_the_stopped_inner_gradients(queries):
  """With the support batch's shapes the query gradient is the inner scan's last row; with
  other shapes it is computed apart. Both are what reverse mode through the stopped inner
  gradients gives."""
  with jax.enable_x64(True):
    obj, theta, loss, fo = _grads("first", steps=3, queries=queries)
    task, key = toy_task(jnp.float64, queries=queries), jax.random.PRNGKey(3)
    (want_loss, _), want = jax.jit(jax.value_and_grad(
        lambda t: obj.meta_loss(t, task, key, 1.0, first_order=True), has_aux=True))(theta)
  assert loss == pytest.approx(float(want_loss), rel=1e-12)
  assert set(fo) == set(want) == {"alphas", "params", "log_lr"}
  np.testing.assert_allclose(_flat(fo), _flat(want), rtol=1e-9, atol=1e-12)
  assert np.abs(_flat(fo["log_lr"])).min() > 0


def test_the_meta_loss_is_the_query_loss_after_the_inner_steps():
  with jax.enable_x64(True):
    cfg = InnerConfig(steps=2, lr_weights=0.3, lr_alphas=0.5, beta=0.05, weight_prior=0.1)
    obj = MetaObjective(toy_apply, "gumbel", cfg)
    theta, task, key = toy_theta(jnp.float64, learn_lr=False), toy_task(jnp.float64), \
        jax.random.PRNGKey(3)
    loss, _ = obj.meta_loss(theta, task, key, 1.0)
    keys = jax.random.split(key, 3)
    prior = {"alphas": theta["alphas"], "params": theta["params"]}
    state = prior
    for k in keys[:2]:  # the inner loop written out
      g = jax.grad(lambda s: obj.loss(s, prior, task["support"], k, 1.0)[0])(state)
      state = {"alphas": jax.tree.map(lambda s, d: s - 0.5 * d, state["alphas"], g["alphas"]),
               "params": jax.tree.map(lambda s, d: s - 0.3 * d, state["params"], g["params"])}
    want, _ = obj.loss(state, prior, task["query"], keys[2], 1.0)
    assert float(loss) == pytest.approx(float(want), rel=1e-10)


def _nb201_meta_grads(monkeypatch, impl):
  monkeypatch.setattr(ops, "default_impl", lambda: impl)
  space = get_space("nb201")
  model = Supernet("nb201", 3, 4, 1)
  key = jax.random.PRNGKey(0)
  alphas = space.init_alphas(key)
  w, i = relax_lib.relax("softmax", alphas)
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((2, 8, 8, 3)), w, i)
  theta = {"alphas": alphas, "params": params}
  k = jax.random.split(jax.random.PRNGKey(2), 2)
  task = {s: {"image": jax.random.normal(kk, (6, 8, 8, 3)), "label": jnp.arange(6) % 3}
          for s, kk in zip(("support", "query"), k)}
  obj = MetaObjective(model.apply, "gumbel", InnerConfig(steps=2, lr_weights=0.1, order="exact"))
  return jax.jit(obj.task_grads)(theta, task, jax.random.PRNGKey(3), 1.0)[1]


def test_exact_second_order_through_the_custom_vjps_equals_the_plain_ops(monkeypatch):
  """The CPU ops' hand-written backward passes are differentiated again by the exact meta-
  gradient: it must equal the one through lax's own convolutions and pools."""
  fast = _nb201_meta_grads(monkeypatch, "slices")
  plain = _nb201_meta_grads(monkeypatch, "lax")
  a, b = _flat(fast), _flat(plain)
  assert np.all(np.isfinite(a)) and np.abs(a).max() > 0
  np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4 * np.abs(b).max())


def _darts_edges_meta_grads(monkeypatch, impl):
  monkeypatch.setattr(ops, "default_impl", lambda: impl)
  reduce_cands, normal_cands = darts_candidates(4, 2), darts_candidates(4, 1)
  p_in = stack_init(reduce_cands.init_edge, jax.random.PRNGKey(0), 2)
  p_inner = stack_init(normal_cands.init_edge, jax.random.PRNGKey(1), 1)
  inputs = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 4, 4, 4))
  nodes = jnp.zeros((2, 6, 2, 2, 4))
  target = jax.random.normal(jax.random.PRNGKey(3), nodes.shape)
  weights = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(4), (3, 8)))
  index = jnp.zeros((3,), jnp.int32)

  def loss(p, w, inputs):
    # Two stride-2 edges from the inputs (every DARTS op, the factorized reduction included),
    # then one edge between nodes: both kinds of scanned edge update.
    out = run_edges(reduce_cands, p, w[:2], index[:2], [0, 1], [0, 1], nodes, inputs, hard=False)
    out = run_edges(normal_cands, p_inner, w[2:], index[2:], [0], [1], out, hard=False)
    return jnp.mean(jnp.square(out - target))

  def meta_loss(p, w, inputs):
    g_p, g_w = jax.grad(loss, argnums=(0, 1))(p, w, inputs)
    return loss(jax.tree.map(lambda a, d: a - 0.1 * d, p, g_p), w - 0.1 * g_w, inputs)

  return jax.jit(jax.grad(meta_loss, argnums=(0, 1, 2)))(p_in, weights, inputs)


def test_exact_second_order_through_the_darts_edges_equals_the_plain_ops(monkeypatch):
  """The same through the DARTS ops (depthwise convolutions, pools, factorized reduction) in the
  supernet's scanned edges, where the exact meta-gradient once failed to trace (``ops._pad``).

  Edges rather than the whole supernet: at the sizes a test affords (C=4, 3 cells, 8 px, tau=1)
  even the first-order meta-gradients of the two implementations differed by 13-17% in float32,
  while the supernet's plain gradient at softmax weights agreed to 2e-6: too ill-conditioned a
  loss to compare second-order terms on."""
  fast = _flat(_darts_edges_meta_grads(monkeypatch, "slices"))
  plain = _flat(_darts_edges_meta_grads(monkeypatch, "lax"))
  assert np.all(np.isfinite(fast)) and np.abs(fast).max() > 0
  np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-5 * np.abs(plain).max())
