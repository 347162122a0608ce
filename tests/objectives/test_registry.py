"""The loss registry: every name's per-example loss is the `mimjax.losses`
function it names, on the same terms (checked against the closed forms in
tests/losses), and its sampling scheme is the thesis's."""

import functools

import jax
import numpy as np
import pytest

from mimjax import distributions
from mimjax import losses
from mimjax import models
from mimjax import objectives


def _terms(seed=0, batch=5):
  keys = jax.random.split(jax.random.key(seed), 5)
  return objectives.LatentTerms(*(jax.random.normal(k, (batch,)) for k in keys))


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_registry_losses_are_the_named_functions(beta):
  t = _terms()
  expected = {
      "vae": losses.neg_elbo(t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z,
                             beta=beta),
      "mim": losses.mim(t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x,
                        t.log_q_x, beta=beta),
      "vae_h": losses.vae_plus_entropy(
          t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z, t.log_q_x,
          beta=beta),
      "mim_h": losses.mim_minus_entropy(
          t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x, t.log_q_x,
          beta=beta),
      "ce": losses.cross_entropy(t.log_p_joint, t.log_q_joint),
      "smim": losses.sentence_mim(t.log_p_x_given_z, t.log_q_z_given_x,
                                  t.log_p_z),
      "ae": -t.log_p_x_given_z,
  }
  expected["amim"] = expected["mim"]
  assert set(expected) == set(objectives.LOSSES)
  for name, value in expected.items():
    np.testing.assert_allclose(
        objectives.LOSSES[name].per_example(t, beta), value, rtol=1e-6,
        err_msg=name,
    )


def test_sampling_schemes():
  symmetric = {k for k, v in objectives.LOSSES.items() if v.symmetric}
  assert symmetric == {"mim", "mim_h", "ce"}  # the mixture M_S (Alg. 1, 3)
  deterministic = {k for k, v in objectives.LOSSES.items() if v.deterministic}
  assert deterministic == {"ae"}
  assert all(f"{k} (" in objectives.loss_names() for k in objectives.LOSSES)


def test_encoder_half_only_is_the_encoder_half_of_the_mixture():
  """`encoder_half_only` drops the decoder half: MIM's value becomes the
  A-MIM loss on the same encoder samples, and the full MIM loss is the mean
  of that and the decoder half (`aux["dec/loss"]`)."""
  model = models.mlp_model(x_dim=3, latent_dim=2, hidden=8)
  x = jax.random.normal(jax.random.key(0), (16, 3))
  params = model.init(jax.random.key(1), x)
  anchor = distributions.standard_normal(2)
  key = jax.random.key(2)
  make = functools.partial(objectives.make_loss_fn, model, latent_anchor=anchor)
  full, aux = make(loss="mim")(params, {"x": x}, key)
  half, half_aux = make(loss="mim", encoder_half_only=True)(
      params, {"x": x}, key
  )
  amim, _ = make(loss="amim")(params, {"x": x}, key)
  np.testing.assert_allclose(half, amim, rtol=1e-6)
  np.testing.assert_allclose(full, 0.5 * (half + aux["dec/loss"]), rtol=1e-5)
  assert "dec/loss" not in half_aux
  assert abs(float(full) - float(half)) > 1e-3
