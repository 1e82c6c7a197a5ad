"""Tests of the training logic on a tiny DARTS network (one compiled train step for the module)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from base_nas import train
from base_nas.nn import networks
from base_nas.spaces.darts import DARTS_V2

CFG = train.TrainConfig(epochs=4, steps_per_epoch=5, lr=0.05)


@pytest.fixture(scope="module")
def setup():
  """A fresh state, a fixed batch and a jitted train step that counts its traces."""
  model = networks.DartsNetwork(DARTS_V2, C=4, layers=3, num_classes=4)
  state = train.create_train_state(model, jax.random.key(0), (16, 16, 3),
                                   train.make_optimizer(CFG), auxiliary_weight=0.4)
  rng = np.random.default_rng(0)
  batch = dict(image=jnp.asarray(rng.normal(size=(8, 16, 16, 3)), jnp.float32),
               label=jnp.asarray(rng.integers(0, 4, 8), jnp.int32))
  traces = []

  def counted(state, batch, key, drop_path_prob):
    traces.append(1)
    return train.train_step(state, batch, key, drop_path_prob)

  return state, batch, jax.jit(counted), traces


def test_lr_schedule_cosine_to_zero():
  schedule = train.lr_schedule(train.TrainConfig(epochs=10, steps_per_epoch=20))
  assert float(schedule(0)) == pytest.approx(0.025)
  assert float(schedule(100)) == pytest.approx(0.0125)
  assert float(schedule(50)) == pytest.approx(0.025 * (1 + np.cos(np.pi / 4)) / 2)
  assert float(schedule(200)) == pytest.approx(0.0, abs=1e-9)


def test_optimizer_is_clipped_sgd_with_coupled_weight_decay():
  cfg = train.TrainConfig(epochs=1, steps_per_epoch=100)
  tx = train.make_optimizer(cfg)
  params = dict(w=jnp.zeros(3), v=jnp.ones(2))
  grads = dict(w=jnp.array([0.1, -0.2, 0.3]), v=jnp.zeros(2))
  updates, _ = tx.update(grads, tx.init(params), params)
  # First step: the momentum buffer is the (decayed) gradient itself.
  np.testing.assert_allclose(updates["w"], -0.025 * grads["w"], rtol=1e-6)
  np.testing.assert_allclose(updates["v"], -0.025 * 3e-4 * params["v"], rtol=1e-6)
  huge = dict(w=jnp.array([300.0, 400.0, 0.0]), v=jnp.zeros(2))
  updates, _ = tx.update(huge, tx.init(params), params)
  clipped = optax.tree.norm(updates["w"]) / 0.025
  assert float(clipped) == pytest.approx(5.0, rel=1e-5)


def test_state_is_a_pytree_of_arrays(setup):
  state = setup[0]
  leaves = jax.tree_util.tree_leaves(state)
  assert leaves and all(isinstance(leaf, jax.Array) for leaf in leaves)
  assert state.step.dtype == jnp.int32
  assert "auxiliary" in state.params and state.batch_stats


def test_train_step_overfits_fixed_batch(setup):
  state, batch, step, _ = setup
  losses = []
  for i in range(20):
    state, metrics = step(state, batch, jax.random.key(i), 0.0)
    losses.append(float(metrics["loss"]))
    assert set(metrics) >= {"loss", "accuracy"}
  assert int(state.step) == 20
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
  assert float(metrics["accuracy"]) >= 0.75
  # Running statistics moved away from their initial values.
  before = jax.tree_util.tree_leaves(setup[0].batch_stats)
  after = jax.tree_util.tree_leaves(state.batch_stats)
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_drop_path_prob_change_does_not_retrace(setup):
  state, batch, step, traces = setup
  for i, p in enumerate((0.0, 0.05, 0.1, 0.2)):
    state, metrics = step(state, batch, jax.random.key(i), p)
    assert np.isfinite(float(metrics["loss"]))
  assert len(traces) == 1  # shared with the overfitting test: one trace for every call


def test_evaluate_weights_batches_by_count(setup):
  state, batch = setup[0], setup[1]
  full = dict(batch, mask=jnp.ones(8))
  half = dict(batch, mask=jnp.arange(8) < 4)
  step = jax.jit(train.eval_step)
  a, b = step(state, full), step(state, half)
  assert float(a["count"]) == 8 and float(b["count"]) == 4
  result = train.evaluate(state, [full, half], step_fn=step)
  assert result["count"] == 12
  for name in ("loss", "accuracy"):
    expected = (8 * float(a[name]) + 4 * float(b[name])) / 12
    assert result[name] == pytest.approx(expected, rel=1e-5)
  assert train.evaluate(state, [])["count"] == 0
