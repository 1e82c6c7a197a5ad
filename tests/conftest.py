"""Test-wide settings: a persistent compilation cache, so identical programs compile once per session."""
import os
import tempfile

import jax
import pytest

_CACHE = os.environ.get("BASE_NAS_TEST_JAX_CACHE") or os.path.join(tempfile.gettempdir(),
                                                                    "base-nas-test-jax-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def rng():
  return jax.random.PRNGKey(0)
