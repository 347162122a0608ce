"""Glow bijectors: round trips, log-dets against slogdet(jacfwd), jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from mimjax import distributions


def _conditioner(in_channels, out_channels, dtype):
  """A fixed smooth conditioner that mixes neighbouring pixels.

  `[..., H, W, in] -> two [..., H, W, out]`; the roll makes each output
  depend on other pixels, so the coupling Jacobian is not block-diagonal.
  """
  rng = np.random.RandomState(0)
  a = jnp.asarray(rng.normal(size=(in_channels, 2 * out_channels)), dtype)
  b = jnp.asarray(rng.normal(size=(in_channels, 2 * out_channels)), dtype)

  def conditioner(x_a):
    h = jnp.tanh(x_a @ a + jnp.roll(x_a, 1, axis=-3) @ b)
    return 2.0 * h[..., :out_channels], 2.0 * h[..., out_channels:]

  return conditioner


def _make(name, dtype):
  """(bijector, latent event shape) for each bijector, parameters in dtype."""
  rng = np.random.RandomState(1)
  if name == "squeeze":
    return distributions.Squeeze(), (2, 2, 8)
  if name == "actnorm":
    shift, log_scale = rng.normal(size=(2, 3))
    return distributions.ActNorm(
        jnp.asarray(shift, dtype), jnp.asarray(log_scale, dtype)
    ), (4, 4, 3)
  if name == "permutation":
    return distributions.ChannelPermutation(rng.permutation(5)), (2, 2, 5)
  if name == "conv1x1":
    weight = jnp.asarray(np.eye(3) + 0.5 * rng.normal(size=(3, 3)), dtype)
    return distributions.Invertible1x1Conv(weight), (2, 2, 3)
  if name == "coupling":
    return distributions.AffineCoupling(_conditioner(2, 1, dtype)), (2, 2, 3)
  if name == "split_prior":
    return distributions.SplitPrior(_conditioner(2, 2, dtype)), (2, 2, 4)
  raise ValueError(name)


_NAMES = ["squeeze", "actnorm", "permutation", "conv1x1", "coupling",
          "split_prior"]


@pytest.mark.parametrize("name", _NAMES)
def test_round_trip(name):
  bijector, event = _make(name, jnp.float32)
  z = jax.random.normal(jax.random.key(0), (3, *event))
  x = bijector.forward(z)
  np.testing.assert_allclose(bijector.inverse(x), z, atol=1e-5)
  np.testing.assert_allclose(bijector.forward(bijector.inverse(x)), x,
                             atol=1e-5)


@pytest.mark.parametrize("name", _NAMES)
def test_log_dets_match_slogdet_of_jacobian(name):
  with jax.enable_x64(True):
    bijector, event = _make(name, jnp.float64)
    z = jax.random.normal(jax.random.key(1), event, jnp.float64)
    x, forward_log_det = bijector.forward_and_log_det(z)
    flat_forward = lambda v: bijector.forward(v.reshape(event)).reshape(-1)
    sign, expected = jnp.linalg.slogdet(jax.jacfwd(flat_forward)(z.ravel()))
    assert sign != 0
    assert forward_log_det.shape == ()
    np.testing.assert_allclose(forward_log_det, expected, atol=1e-10)
    z_back, inverse_log_det = bijector.inverse_and_log_det(x)
    np.testing.assert_allclose(z_back, z, atol=1e-10)
    np.testing.assert_allclose(inverse_log_det, -expected, atol=1e-10)


@pytest.mark.parametrize("name", _NAMES)
def test_jit_and_vmap_match_batched_calls(name):
  bijector, event = _make(name, jnp.float32)
  z = jax.random.normal(jax.random.key(2), (4, *event))
  x, log_det = bijector.forward_and_log_det(z)
  assert log_det.shape == (4,)
  mapped = jax.jit(jax.vmap(bijector.forward_and_log_det))(z)
  np.testing.assert_allclose(mapped[0], x, atol=1e-6)
  np.testing.assert_allclose(mapped[1], log_det, atol=1e-5)
  # A bijector is also a valid jit argument (distrax bijectors are pytrees).
  inverse = jax.jit(lambda b, y: b.inverse_and_log_det(y))(bijector, x)
  np.testing.assert_allclose(inverse[0], z, atol=1e-5)
  np.testing.assert_allclose(inverse[1], -log_det, atol=1e-4)


def test_squeeze_is_space_to_depth_in_the_inverse_direction():
  x = jnp.arange(2 * 4 * 4 * 3.0).reshape(2, 4, 4, 3)
  z = distributions.Squeeze().inverse(x)
  assert z.shape == (2, 2, 2, 12)
  # z[h, w, (2 i + j) C + c] = x[2 h + i, 2 w + j, c]
  for i in range(2):
    for j in range(2):
      np.testing.assert_array_equal(
          z[..., (2 * i + j) * 3 : (2 * i + j + 1) * 3], x[:, i::2, j::2, :]
      )


def test_actnorm_log_det_is_pixels_times_sum_of_log_scales():
  log_scale = jnp.array([0.3, -1.0])
  bijector = distributions.ActNorm(jnp.array([1.0, -2.0]), log_scale)
  z = jnp.ones((3, 5, 4, 2))
  x, log_det = bijector.forward_and_log_det(z)
  np.testing.assert_allclose(log_det, np.full(3, 20 * -0.7), rtol=1e-6)
  np.testing.assert_allclose(x[0, 0, 0], np.exp([0.3, -1.0]) + [1.0, -2.0],
                             rtol=1e-6)


def test_coupling_inverse_is_glows_formula():
  shift, raw = jnp.array([0.5]), jnp.array([-1.0])
  bijector = distributions.AffineCoupling(
      lambda x_a: (jnp.broadcast_to(shift, x_a.shape[:-1] + (1,)),
                   jnp.broadcast_to(raw, x_a.shape[:-1] + (1,)))
  )
  x = jax.random.normal(jax.random.key(3), (2, 2, 3))
  z, log_det = bijector.inverse_and_log_det(x)
  scale = 0.1 + 0.9 * special.expit(-1.0 + 2.0)  # Glow's, floored at 0.1
  np.testing.assert_allclose(z[..., :2], x[..., :2])
  np.testing.assert_allclose(z[..., 2], (x[..., 2] + 0.5) * scale, rtol=1e-6)
  np.testing.assert_allclose(log_det, 4 * np.log(scale), rtol=1e-6)


def test_split_prior_with_standard_normal_base_is_conditional_gaussian():
  conditioner = _conditioner(2, 2, jnp.float32)
  x = jax.random.normal(jax.random.key(4), (3, 2, 2, 4))
  z, log_det = distributions.SplitPrior(conditioner).inverse_and_log_det(x)
  base = stats.norm.logpdf(np.asarray(z[..., 2:])).sum(axis=(1, 2, 3))
  loc, raw = conditioner(x[..., :2])
  sigma = np.exp(5.0 * np.tanh(np.asarray(raw) / 5.0))
  expected = stats.norm.logpdf(x[..., 2:], loc, sigma).sum(axis=(1, 2, 3))
  np.testing.assert_allclose(base + log_det, expected, rtol=1e-5)
  np.testing.assert_allclose(z[..., :2], x[..., :2])


def test_invalid_arguments_raise():
  with pytest.raises(ValueError, match="not a permutation"):
    distributions.ChannelPermutation([0, 0, 1])
  with pytest.raises(ValueError, match="weight must be"):
    distributions.Invertible1x1Conv(jnp.ones((2, 3)))
  with pytest.raises(ValueError, match="shift and log_scale"):
    distributions.ActNorm(jnp.zeros(2), jnp.zeros(3))
  with pytest.raises(ValueError, match="not divisible"):
    distributions.Squeeze().inverse(jnp.zeros((3, 4, 1)))
  with pytest.raises(ValueError, match=">= 2 channels"):
    distributions.AffineCoupling(lambda a: (a, a)).forward(jnp.zeros((2, 2, 1)))
