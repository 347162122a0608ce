"""Standard-deviation floors of the MLP model's Gaussian heads."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import toy_pca20
from mimjax import models


def _stddevs(**floors):
  """Encoder and decoder stds of an MLP model whose raw log-stds are -50."""
  model = models.mlp_model(x_dim=3, latent_dim=2, hidden=4, **floors)
  params = model.init(jax.random.key(0), jnp.zeros((1, 3)))
  flat = flax.traverse_util.flatten_dict(params)
  flat = {
      k: (jnp.zeros_like(v) if k[-2] == "raw_scale" and k[-1] == "kernel"
          else jnp.full_like(v, -50.0) if k[-2] == "raw_scale" else v)
      for k, v in flat.items()
  }
  params = flax.traverse_util.unflatten_dict(flat)
  x = jnp.ones((5, 3))
  q = model.apply(params, x, method=model.encode)
  p = model.apply(params, jnp.ones((5, 2)), method=model.decode)
  return np.asarray(q.stddev()), np.asarray(p.stddev())


def test_decoder_floor_applies_to_the_decoder_only():
  encoder_std, decoder_std = _stddevs(min_scale=1e-6, decoder_min_scale=0.05)
  np.testing.assert_allclose(encoder_std, 1e-6, rtol=1e-4)
  np.testing.assert_allclose(decoder_std, 0.05, rtol=1e-6)


def test_zero_decoder_floor_means_min_scale():
  encoder_std, decoder_std = _stddevs(min_scale=1e-3)
  np.testing.assert_allclose(encoder_std, 1e-3, rtol=1e-4)
  np.testing.assert_allclose(decoder_std, 1e-3, rtol=1e-4)


def test_toy_pca20_decoder_floor_argument():
  plain = toy_pca20.get_config("small")
  floored = toy_pca20.get_config("small,decoder_floor")
  assert plain.model.decoder_min_scale == 0.0
  np.testing.assert_allclose(floored.model.decoder_min_scale, np.exp(-3.0))
  assert floored.num_seeds == plain.num_seeds == 5
  assert toy_pca20.get_config("quick,decoder_floor").num_seeds == 2
  with pytest.raises(ValueError, match="'decoder_flor'.*decoder_floor"):
    toy_pca20.get_config("decoder_flor")
