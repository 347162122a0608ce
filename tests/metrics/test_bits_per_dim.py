"""Uniform dequantisation and the bits/dim bound, checked against each other."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import data
from mimjax import metrics


def test_dequantize_range_dtype_and_shape():
  x = jnp.arange(256, dtype=jnp.uint8).reshape(16, 16)
  dequantize = jax.jit(data.uniform_dequantize)
  y = np.asarray(dequantize(jax.random.key(0), x))
  assert y.shape == (16, 16) and y.dtype == np.float32
  assert y.min() >= -0.5 and y.max() < 0.5
  # Each level lands in its own cell [x / 256 - 0.5, (x + 1) / 256 - 0.5).
  low = np.asarray(x, np.float64) / 256 - 0.5
  assert np.all(y >= low) and np.all(y <= low + 1 / 256)
  assert data.uniform_dequantize(
      jax.random.key(0), jnp.zeros(3, jnp.float16)
  ).dtype == jnp.float16


def test_dequantize_top_level_stays_below_half():
  # About 8e-6 of float32 draws round 255 + u up to 256; they are clamped.
  y = data.uniform_dequantize(jax.random.key(1), jnp.full((2_000_000,), 255.0))
  assert float(y.max()) < 0.5 and float(y.min()) >= 0.5 - 1 / 256


@pytest.mark.parametrize("num_bits", [8, 5])
def test_dequantize_mean_over_noise(num_bits):
  levels = 2**num_bits
  x = jnp.arange(levels, dtype=jnp.float32)
  keys = jax.random.split(jax.random.key(2), 4000)
  y = jax.vmap(
      lambda k: data.uniform_dequantize(k, x, num_bits=num_bits)
  )(keys)  # [4000, levels]
  want = x / levels - 0.5 + 0.5 / levels
  # std of the mean: 1 / (levels sqrt(12 * 4000)).
  np.testing.assert_allclose(y.mean(0), want, atol=5 / (levels * 220))


def test_bits_per_dim_hand_computation():
  log_prob = jnp.array([-1000.0, 0.0, 250.0])
  d = 784
  got = jax.jit(metrics.bits_per_dim, static_argnums=1)(log_prob, d)
  want = (-np.array([-1000.0, 0.0, 250.0]) + d * math.log(256)) / (
      d * math.log(2)
  )
  np.testing.assert_allclose(got, want, rtol=1e-6)
  np.testing.assert_allclose(
      metrics.bits_per_dim(-10.0, 4, num_bits=1), 10 / (4 * math.log(2)) + 1,
      rtol=1e-6,
  )


@pytest.mark.parametrize("num_bits", [8, 3, 1])
def test_uniform_density_on_the_cube_gives_num_bits(num_bits):
  d = 32 * 32 * 3
  np.testing.assert_allclose(
      metrics.bits_per_dim(jnp.zeros(5), d, num_bits=num_bits), num_bits,
      rtol=1e-6,
  )


def test_histogram_density_recovers_the_discrete_nll_exactly():
  """A density constant on each dequantisation cell makes the bound tight."""
  num_bits, d = 2, 6
  probs = jnp.array([0.1, 0.2, 0.3, 0.4])  # P(level), one dimension.

  def log_p(y):  # [B, d] -> [B]: p(y) = probs[cell] * 2^b per dimension.
    cell = jnp.floor((y + 0.5) * 2**num_bits).astype(jnp.int32)
    return jnp.sum(jnp.log(probs[cell] * 2**num_bits), axis=-1)

  @jax.jit
  def bits(key, x):
    y = data.uniform_dequantize(key, x, num_bits=num_bits)
    return metrics.bits_per_dim(log_p(y), d, num_bits=num_bits)

  x = np.random.default_rng(3).integers(0, 4, (64, d))
  got = bits(jax.random.key(4), x)
  want = -np.sum(np.log2(np.asarray(probs)[x]), axis=-1) / d
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_bound_is_above_the_discrete_nll_for_a_sloped_density():
  """p(y) = 1 + y on [-0.5, 0.5), 1 bit: P(x=0) = 3/8; E[bits] = 1 + 1/ln 4."""
  x = jnp.zeros((200_000, 1))
  y = data.uniform_dequantize(jax.random.key(5), x, num_bits=1)
  bits = metrics.bits_per_dim(jnp.log1p(y[:, 0]), 1, num_bits=1)
  discrete = -math.log2(3 / 8)
  expected = 1 + (1 + math.log(0.5)) / math.log(2)  # closed form of E_u.
  assert float(bits.mean()) > discrete
  np.testing.assert_allclose(float(bits.mean()), expected, atol=3e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_dims=0), "num_dims"),
        (dict(num_dims=True), "num_dims"),
        (dict(num_dims=4, num_bits=0), "num_bits"),
        (dict(num_dims=4.0), "num_dims"),
    ],
)
def test_bits_per_dim_rejects_bad_counts(kwargs, match):
  with pytest.raises(ValueError, match=match):
    metrics.bits_per_dim(jnp.zeros(2), **kwargs)


def test_dequantize_rejects_bad_num_bits():
  with pytest.raises(ValueError, match="num_bits"):
    data.uniform_dequantize(jax.random.key(0), jnp.zeros(2), num_bits=0)
