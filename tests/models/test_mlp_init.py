"""MLP initialisation options ("flax" and the authors' "torch")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import models


def _params(init, in_dim=40, hidden=300):
  mlp = models.MLPConditional(out_dim=20, hidden=hidden, init_scheme=init)
  return mlp.init(jax.random.key(0), jnp.zeros((1, in_dim)))["params"]


def test_torch_init_is_uniform_in_one_over_sqrt_fan_in():
  params = _params("torch")
  for name, fan_in in (("hidden_0", 40), ("loc", 300), ("raw_scale", 300)):
    bound = fan_in**-0.5
    for leaf in ("kernel", "bias"):
      w = np.asarray(params[name][leaf]).ravel()
      assert np.all(np.abs(w) <= bound) and np.abs(w).max() > 0.8 * bound
    # U(-b, b) has variance b^2 / 3 (kernels: >= 6000 draws).
    w = np.asarray(params[name]["kernel"])
    np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.1)


def test_flax_init_keeps_lecun_normal_and_zero_biases():
  params = _params("flax")
  np.testing.assert_array_equal(params["hidden_0"]["bias"], 0.0)
  w = np.asarray(params["hidden_0"]["kernel"])
  np.testing.assert_allclose(w.var(), 1 / 40, rtol=0.2)


def test_mlp_model_passes_init_and_rejects_unknown():
  model = models.mlp_model(x_dim=2, latent_dim=2, hidden=8, init="torch")
  params = model.init(jax.random.key(0), jnp.zeros((1, 2)))
  assert np.any(params["params"]["decoder"]["loc"]["bias"] != 0)
  with pytest.raises(ValueError, match="unknown init 'kaiming'"):
    models.MLPConditional(out_dim=2, hidden=4, init_scheme="kaiming").init(
        jax.random.key(0), jnp.zeros((1, 2))
    )
