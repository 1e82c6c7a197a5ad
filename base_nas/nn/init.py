"""Parameter initialisation that compiles in milliseconds on XLA:CPU.

``jax.random``'s generators (threefry, and rbg's splits and fold-ins, which are threefry too)
lower to unrolled rounds that XLA:CPU compiles slowly, ~0.1-0.5 s per distinct draw: initialising
the DARTS supernet compiled for ~9 s, longer than several training steps. Two remedies, used
together:

* :func:`init_key` turns any key into a :data:`HASH_PRNG` key, a ``jax.random`` implementation
  whose splits and fold-ins (flax derives one key per parameter) are a 32-bit integer hash
  (murmur3's finaliser) of the position and the key: a dozen elementwise instructions. Weight
  initialisation needs independent, well-spread keys, not a cryptographic stream.
* :func:`host_uniform` and :func:`host_normal` draw the values with NumPy in a host callback
  seeded by the key, so the compiled program holds one call per parameter instead of a kernel.

Both stay deterministic functions of the key, under jit and eval_shape alike.
"""
from __future__ import annotations

import math

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np
from jax import lax

_GOLDEN = 0x9E3779B9


def _u32(x):
  return jnp.uint32(x & 0xFFFFFFFF)


def _fmix32(h):
  h = h ^ (h >> 16)
  h = h * _u32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * _u32(0xC2B2AE35)
  return h ^ (h >> 16)


def _stream(key, n: int, salt: int):
  """``n`` words from key (2,): two rounds of mixing of the position with both key words."""
  i = lax.iota(jnp.uint32, n)
  a = key[0] ^ _u32(salt * 0x632BE5AB)
  return _fmix32(_fmix32(i * _u32(_GOLDEN) + a) ^ key[1])


def _seed(seed):
  s = jnp.asarray(seed).astype(jnp.uint32)
  return jnp.stack([_fmix32(s), _fmix32(s ^ _u32(_GOLDEN))])


def _split(key, shape):
  n = math.prod(shape)
  return jnp.stack([_stream(key, n, 1), _stream(key, n, 2)], axis=-1).reshape(tuple(shape) + (2,))


def _fold_in(key, data):
  d = _fmix32(jnp.asarray(data).astype(jnp.uint32) ^ _u32(_GOLDEN))
  return jnp.stack([_fmix32(key[0] ^ d), _fmix32(key[1] + d * _u32(0x85EBCA6B))])


def _random_bits(key, bit_width, shape):
  n = math.prod(shape)
  if bit_width == 64:
    hi, lo = _stream(key, n, 3).astype(jnp.uint64), _stream(key, n, 4).astype(jnp.uint64)
    return ((hi << 32) | lo).reshape(shape)
  bits = _stream(key, n, 3)
  dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
  return (bits >> (32 - bit_width)).astype(dtype).reshape(shape)


HASH_PRNG = jex_random.define_prng_impl(
    key_shape=(2,), seed=_seed, split=_split, random_bits=_random_bits, fold_in=_fold_in,
    name="base_nas_hash", tag="hsh")


def init_key(key) -> jax.Array:
  """A :data:`HASH_PRNG` key derived from any JAX key (typed or raw uint32)."""
  data = jnp.asarray(_key_words(key)).reshape(-1).astype(jnp.uint32)
  k = jnp.stack([data[0], data[1 % data.size]])
  for w in data[2:]:  # fold further words (the 'rbg' key has four)
    k = _fold_in(k, w)
  return jax.random.wrap_key_data(_fold_in(k, 0), impl=HASH_PRNG)


def _key_words(key):
  return jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key


def _host_draw(key, shape, dtype, sample):
  shape = tuple(shape)

  def draw(seed):
    rng = np.random.default_rng(np.asarray(seed, np.uint32).ravel().tolist())
    return np.asarray(sample(rng, shape), dtype)

  return jax.pure_callback(draw, jax.ShapeDtypeStruct(shape, dtype), _key_words(key))


def host_uniform(key, shape, bound: float, dtype=jnp.float32) -> jax.Array:
  """Uniform in [-bound, bound), drawn by NumPy from a seed taken from ``key``."""
  return _host_draw(key, shape, dtype, lambda rng, s: rng.uniform(-bound, bound, s))


def host_normal(key, shape, std: float, dtype=jnp.float32) -> jax.Array:
  """``std`` * N(0, 1), drawn by NumPy from a seed taken from ``key``."""
  return _host_draw(key, shape, dtype, lambda rng, s: std * rng.standard_normal(s))


def torch_default(fan_in: int):
  """PyTorch's default for convolutions and linear layers: uniform in +-1/sqrt(fan_in)."""
  bound = 1.0 / fan_in ** 0.5
  return lambda key, shape, dtype=jnp.float32: host_uniform(key, shape, bound, dtype)


def lecun_normal(key, shape, dtype=jnp.float32):
  """LeCun normal (std 1/sqrt(fan_in)) for a dense kernel (fan_in, fan_out)."""
  return host_normal(key, shape, 1.0 / shape[0] ** 0.5, dtype)
