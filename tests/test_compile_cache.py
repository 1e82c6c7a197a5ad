"""The on-disk cache of traced programs: a hit skips tracing and computes the same values; a
changed configuration, signature or a damaged entry traces again."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from base_nas import compile_cache
from base_nas.nn.supernet import Supernet
from base_nas import spaces
from base_nas.search import get_method
from base_nas.search.core import OptimConfig, Searcher


@pytest.fixture
def trace_cache(tmp_path):
  previous = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs)
  compile_cache.enable(tmp_path, min_compile_secs=0.5)
  yield tmp_path / "traces"
  compile_cache.disable_traces()
  jax.config.update("jax_compilation_cache_dir", previous[0])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", previous[1])


def _counted(traces):
  def f(params, x):
    traces.append(1)
    return {"y": jnp.tanh(x @ params["w"]).sum(), "z": x * 2.0}
  return f


def _args(n=3):
  return {"w": jnp.arange(6.0).reshape(3, 2) / 6}, jnp.ones((n, 3))


def test_a_second_instance_loads_the_trace_and_agrees(trace_cache):
  traces = []
  first = compile_cache.cached_jit(_counted(traces), name="f", static="a")
  out = first(*_args())
  assert len(traces) == 1 and len(os.listdir(trace_cache)) == 1
  again = compile_cache.cached_jit(_counted(traces), name="f", static="a")
  out2 = again(*_args())
  again(*_args())
  assert len(traces) == 1  # loaded from disk, never traced
  expected = jax.jit(_counted([]))(*_args())
  for a, b, c in zip(jax.tree.leaves(out), jax.tree.leaves(out2), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)
  assert again._cache_size() == 1


def test_configuration_and_signature_are_part_of_the_key(trace_cache):
  traces = []
  compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args())
  compile_cache.cached_jit(_counted(traces), name="f", static="b")(*_args())
  compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args(n=4))
  assert len(traces) == 3 and len(os.listdir(trace_cache)) == 3


def test_a_damaged_entry_is_traced_again_and_replaced(trace_cache):
  traces = []
  compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args())
  (entry,) = trace_cache.iterdir()
  entry.write_bytes(entry.read_bytes()[:100])
  out = compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args())
  assert len(traces) == 2
  np.testing.assert_allclose(out["y"], jax.jit(_counted([]))(*_args())["y"])
  compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args())
  assert len(traces) == 2  # the rewritten entry loads


def test_without_enable_it_is_plain_jit():
  assert compile_cache.trace_dir() is None
  traces = []
  f = compile_cache.cached_jit(_counted(traces), name="f", static="a")
  f(*_args())
  f(*_args())
  assert len(traces) == 1 and f._cache_size() == 1


def test_programs_with_host_callbacks_fall_back_with_a_warning(trace_cache):
  def f(x):
    return jax.pure_callback(lambda a: np.asarray(a) + 1, jax.ShapeDtypeStruct((2,), jnp.float32),
                             x)
  g = compile_cache.cached_jit(f, name="cb", static="")
  with pytest.warns(UserWarning, match="not caching"):
    np.testing.assert_array_equal(g(jnp.zeros(2)), [1.0, 1.0])
  np.testing.assert_array_equal(g(jnp.ones(2)), [2.0, 2.0])


class CountingSearcher(Searcher):
  traces: list = []

  def _loss(self, *args):
    CountingSearcher.traces.append(1)
    return super()._loss(*args)


def test_a_searchers_gradient_loads_from_the_cache_and_matches(trace_cache):
  """The real use: a second run of the same search never traces the supernet's gradient."""
  m = get_method("gdas")
  space = spaces.get_space("nb201")

  def make(hard=m.hard, relaxation=m.relaxation):
    model = Supernet("nb201", 4, channels=4, layers=1, hard=hard)
    return CountingSearcher(model, space, relaxation, OptimConfig(), total_steps=10)

  batch = {"image": jnp.ones((4, 8, 8, 3)), "label": jnp.arange(4) % 4}
  s1 = make()
  state = s1.init(jax.random.PRNGKey(0), (8, 8, 3))
  args = (state.params, state.alphas, batch, jax.random.PRNGKey(1), jnp.float32(1.0))
  CountingSearcher.traces.clear()
  out1 = s1.loss_and_grads(*args)
  out2 = make().loss_and_grads(*args)
  assert len(CountingSearcher.traces) == 1
  for a, b in zip(jax.tree.leaves(out1), jax.tree.leaves(out2)):
    np.testing.assert_array_equal(a, b)
  # Same argument shapes, another method: another program.
  soft = make(hard=False, relaxation="gumbel").loss_and_grads(*args)
  assert len(CountingSearcher.traces) == 2
  assert not np.allclose(soft[1][1]["cell"], out1[1][1]["cell"])


def test_cached_steps_compile_once(trace_cache):
  """The cached gradient's outputs feed the optimiser updates and the next step: nothing
  recompiles for them (it did while their committedness differed from the inputs')."""
  m = get_method("gdas")
  s = Searcher(Supernet("nb201", 4, channels=4, layers=1, hard=True), spaces.get_space("nb201"),
               m.relaxation, OptimConfig(), total_steps=10)
  state = s.init(jax.random.PRNGKey(0), (8, 8, 3))
  for i, tau in enumerate([10.0, 5.0, 0.1]):
    batch = {"image": jnp.full((4, 8, 8, 3), float(i)), "label": jnp.arange(4) % 4}
    state, _ = m.step(s, state, batch, batch, jax.random.PRNGKey(i), jnp.float32(tau))
  assert s.loss_and_grads._cache_size() == 1
  assert s.update_weights._cache_size() == 1 and s.update_alphas._cache_size() == 1


def test_entries_of_other_code_versions_are_removed(trace_cache, monkeypatch):
  compile_cache.cached_jit(_counted([]), name="f", static="a")(*_args())
  (old,) = trace_cache.iterdir()
  monkeypatch.setattr(compile_cache, "_library_fingerprint", lambda: "edited" + "0" * 58)
  traces = []
  compile_cache.cached_jit(_counted(traces), name="f", static="a")(*_args())
  assert len(traces) == 1  # the sources changed: traced again ...
  (new,) = trace_cache.iterdir()  # ... and the old entry is gone
  assert new.name.startswith("edited") and not old.exists()
