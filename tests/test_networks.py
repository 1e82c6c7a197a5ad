"""Tests of the evaluation networks (shapes by jax.eval_shape, so most tests compile nothing)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas.errors import ConfigError, GenotypeError
from base_nas.nn import networks
from base_nas.spaces.darts import DARTS_V2, Genotype

# Inline rather than imported, so these tests do not depend on the spaces package.
NB201_BEST = ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
              "skip_connect")
DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _shapes(model, image_shape, train, **kwargs):
  """(variables, outputs) as ShapeDtypeStructs of init + apply, without compiling either."""
  x = jnp.zeros(image_shape, jnp.float32)

  def run(key):
    variables = model.init({"params": key}, x, train=True)
    out = model.apply(variables, x, train=train, mutable=["batch_stats"] if train else False,
                      rngs={"dropout": key}, **kwargs)
    return variables, out[0] if train else out

  return jax.eval_shape(run, jax.random.key(0))


@pytest.mark.parametrize("size", [16, 32])
def test_darts_output_shapes(size):
  model = networks.DartsNetwork(DARTS_V2, C=4, num_classes=7, layers=5)
  _, (logits, aux) = _shapes(model, (3, size, size, 3), train=True, drop_path_prob=0.2)
  assert logits.shape == (3, 7) and aux.shape == (3, 7)
  _, (logits, aux) = _shapes(model, (3, size, size, 3), train=False)
  assert logits.shape == (3, 7) and aux is None
  no_aux = networks.DartsNetwork(DARTS_V2, C=4, num_classes=7, layers=5, auxiliary=False)
  variables, (logits, aux) = _shapes(no_aux, (3, size, size, 3), train=True)
  assert logits.shape == (3, 7) and aux is None
  assert "auxiliary" not in variables["params"]


def test_darts_v2_param_count_matches_reference():
  model = networks.DartsNetwork(DARTS_V2, C=36, num_classes=10, layers=20, auxiliary=True)
  variables = jax.eval_shape(
      lambda k: model.init({"params": k}, jnp.zeros((1, 32, 32, 3)), train=True),
      jax.random.key(0))
  # DARTS' train.py logs "param size = 3.349342MB" (the auxiliary head excluded).
  assert networks.count_params(variables) == 3_349_342
  assert networks.count_params(variables["params"]) == 3_349_342
  # The CIFAR auxiliary head: 1x1 conv 576->128, BN, 2x2 conv 128->768, BN, linear 768->10.
  aux = 576 * 128 + 2 * 128 + 4 * 128 * 768 + 2 * 768 + 768 * 10 + 10
  assert networks.count_params(variables, exclude_auxiliary=False) == 3_349_342 + aux


@pytest.mark.parametrize("op", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_darts_op_shapes(op, stride):
  module = networks.DartsOp(op, channels=6, stride=stride)
  x = jnp.zeros((2, 8, 8, 6))
  for train in (True, False):
    out = jax.eval_shape(
        lambda k: module.init_with_output({"params": k}, x, train=train)[0], jax.random.key(0))
    assert out.shape == (2, 8 // stride, 8 // stride, 6)


def test_unknown_op_and_bad_sizes_are_reported():
  bad = Genotype([("conv_7x1_1x7", 0)] * 8, [2, 3, 4, 5], DARTS_V2.reduce, [2, 3, 4, 5])
  with pytest.raises(GenotypeError, match="conv_7x1_1x7"):
    _shapes(networks.DartsNetwork(bad, C=4, layers=3), (2, 16, 16, 3), train=False)
  with pytest.raises(ConfigError, match="divisible by 4"):
    _shapes(networks.DartsNetwork(DARTS_V2, C=4, layers=3), (2, 18, 18, 3), train=False)
  with pytest.raises(GenotypeError):
    _shapes(networks.NB201Network(("nor_conv_3x3",) * 5, C=4, N=1), (2, 16, 16, 3), train=False)
  with pytest.raises(ConfigError, match="search space"):
    networks.build_network("nasnet", DARTS_V2, 10)


def test_darts_network_with_list_genotype_is_hashable():
  # jit keys compiled train steps on the module held by the train state.
  a = networks.DartsNetwork(DARTS_V2, C=4, layers=3)
  b = networks.DartsNetwork(DARTS_V2, C=4, layers=3)
  assert hash(a) == hash(b) and a == b
  assert isinstance(a.genotype.normal, tuple)


def test_nb201_shapes_and_param_count():
  c, n, classes = 4, 2, 5

  class G:  # anything with .ops, like base_nas.spaces.nb201.NB201Genotype
    ops = ("nor_conv_3x3",) * 6

  model = networks.build_network("nb201", G(), classes, C=c, N=n)
  variables, (logits, aux) = _shapes(model, (3, 16, 16, 3), train=True)
  assert logits.shape == (3, classes) and aux is None
  _, (logits, aux) = _shapes(model, (3, 32, 32, 3), train=False)
  assert logits.shape == (3, classes) and aux is None

  def cell(ch):  # six 3x3 conv edges, each with an affine BN
    return 6 * (9 * ch * ch + 2 * ch)

  def reduction(cin, cout):  # conv_a, conv_b (with BN) and the 1x1 shortcut
    return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout

  expected = (27 * c + 2 * c + n * (cell(c) + cell(2 * c) + cell(4 * c))
              + reduction(c, 2 * c) + reduction(2 * c, 4 * c) + 2 * 4 * c + 4 * c * classes + classes)
  assert networks.count_params(variables) == expected


def test_nb201_none_and_parameter_free_cells():
  model = networks.NB201Network(("none", "skip_connect", "avg_pool_3x3", "none", "none", "none"),
                                C=4, N=1)
  variables, (logits, _) = _shapes(model, (2, 16, 16, 3), train=False)
  assert logits.shape == (2, 10)
  assert not any(k.startswith("cell") for k in variables["params"])


def test_drop_path_zeroes_whole_samples():
  x = jnp.ones((256, 4, 4, 3))
  y = networks.drop_path(x, 0.5, jax.random.key(0))
  per_sample = np.asarray(y).reshape(256, -1)
  # Every sample is either dropped entirely or kept and scaled by 1 / (1 - p).
  assert set(np.unique(per_sample)) <= {0.0, 2.0}
  assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
  assert 0.3 < np.mean(per_sample[:, 0] == 0) < 0.7
  np.testing.assert_array_equal(networks.drop_path(x, 0.0, jax.random.key(0)), x)


def test_drop_path_inactive_at_zero_and_in_eval():
  model = networks.DartsNetwork(DARTS_V2, C=4, layers=3, num_classes=5)
  x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
  variables = model.lazy_init({"params": jax.random.key(0)}, x, train=True)

  @jax.jit
  def run_train(p, key):
    return model.apply(variables, x, train=True, drop_path_prob=p, rngs={"dropout": key},
                       mutable=["batch_stats"])[0][0]

  @jax.jit
  def run_eval(p):
    return model.apply(variables, x, train=False, drop_path_prob=p)[0]

  # A traced 0 draws masks of ones; it matches the branch that skips drop path altogether.
  plain = jax.jit(lambda: model.apply(variables, x, train=True, mutable=["batch_stats"])[0][0])()
  np.testing.assert_allclose(run_train(0.0, jax.random.key(2)), plain, rtol=1e-5, atol=1e-5)
  assert not np.allclose(run_train(0.5, jax.random.key(2)), plain, atol=1e-3)
  np.testing.assert_array_equal(run_eval(0.0), run_eval(0.5))
