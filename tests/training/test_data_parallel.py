"""Data parallelism: one device and a 4-device mesh compute the same thing.

conftest.py gives every test process 4 simulated CPU devices.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import data
from mimjax import distributions
from mimjax import models
from mimjax import objectives
from mimjax import training

# Multi-device runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(
        np.asarray(x), np.asarray(y), rtol=rtol, atol=atol
    )


def _model():
  return models.mlp_model(x_dim=2, latent_dim=2, hidden=8)


def test_four_device_mesh_exists():
  assert len(jax.devices()) >= 4
  assert training.make_mesh(4).devices.size == 4
  with pytest.raises(ValueError, match="devices"):
    training.make_mesh(len(jax.devices()) + 1)


@pytest.mark.parametrize("loss", ["vae", "mim"])
def test_loss_and_grads_same_on_one_and_four_devices(loss):
  model = _model()
  loss_fn = objectives.make_loss_fn(
      model, loss=loss, latent_anchor=distributions.standard_normal(2)
  )
  x = np.asarray(
      jax.random.normal(jax.random.key(0), (16, 2)) * 2.0, np.float32
  )
  params = model.init(jax.random.key(1), jnp.asarray(x))
  key = jax.random.key(2)
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

  results = []
  for n in (1, 4):
    mesh = training.make_mesh(n)
    batch = {"x": training.put_global(x, training.data_sharding(mesh))}
    assert len(batch["x"].addressable_shards) == n
    assert batch["x"].addressable_shards[0].data.shape == (16 // n, 2)
    p = jax.device_put(params, training.replicated(mesh))
    (value, aux), grads = grad_fn(p, batch, key, 0.7)
    results.append(jax.device_get((value, aux, grads)))

  (v1, aux1, g1), (v4, aux4, g4) = results
  assert np.isfinite(v1)
  np.testing.assert_allclose(v4, v1, rtol=1e-5)
  _assert_trees_close(aux4, aux1)
  _assert_trees_close(g4, g1)
  # The gradients are not trivially zero (the comparison means something).
  assert max(float(np.abs(g).max()) for g in jax.tree.leaves(g1)) > 1e-3


@pytest.mark.parametrize("matched", [False, True])
def test_dense_hvae_rloo_mim_same_on_one_and_four_devices(matched):
  """The image objective with batch-coupled terms (VampPrior, RLOO baseline
  over decoder samples, plain or at each sample's own importance noise) on
  the dense HVAE."""
  model = models.HierarchicalVAE(vamp_pseudo_inputs=6, network="mlp")
  x = np.asarray(
      jax.random.uniform(jax.random.key(0), (8, 28, 28, 1)) < 0.3, np.float32
  )
  params = model.init(jax.random.key(1), jnp.asarray(x))
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=objectives.MODEL_PRIOR,
      decoder_estimator="rloo", decoder_samples=2,
      decoder_matched_baseline=matched,
  )
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  results = []
  for n in (1, 4):
    mesh = training.make_mesh(n)
    batch = {"x": training.put_global(x, training.data_sharding(mesh))}
    p = jax.device_put(params, training.replicated(mesh))
    results.append(jax.device_get(grad_fn(p, batch, jax.random.key(2))))
  ((v1, aux1), g1), ((v4, aux4), g4) = results
  np.testing.assert_allclose(v4, v1, rtol=1e-5)
  _assert_trees_close(aux4, aux1, rtol=1e-4, atol=1e-4)
  _assert_trees_close(g4, g1, rtol=1e-4, atol=1e-5)
  assert max(float(np.abs(g).max()) for g in jax.tree.leaves(g1)) > 1e-3


class _NoisyLinear(nn.Module):
  """x -> W x + c: a one-layer denoising auto-encoder (cheap to compile)."""

  @nn.compact
  def __call__(self, x):
    return nn.Dense(x.shape[-1])(x)


def _denoising_loss(params, batch, key, beta=1.0):
  x = batch["x"]
  noisy = x + 0.3 * jax.random.normal(key, x.shape)
  recon = _NoisyLinear().apply(params, noisy)
  loss = (0.5 + 0.5 * beta) * jnp.mean(jnp.sum((recon - x) ** 2, -1))
  return loss, {"loss": loss, "beta": jnp.asarray(beta, jnp.float32)}


def test_epoch_same_on_one_and_four_devices():
  """Two compiled epochs (2 seeds, vmapped) on mesh(1) vs mesh(4).

  The epoch program samples batches, shards them with a sharding constraint,
  takes optimiser steps and computes a chunked validation loss; the model is
  a small linear one to keep compilation cheap (the MIM/VAE objectives are
  compared above).
  """
  model = _NoisyLinear()
  source = data.GMMSource(
      means=data.gmm_means(2), std=0.25, batch_size=8, samples_per_epoch=32,
      num_eval=32, seed=0,
  )
  optimizer = training.make_optimizer(
      name="adam", learning_rate=0.05, schedule="noam", warmup_epochs=2,
      steps_per_epoch=source.steps_per_epoch,
  )
  init = training.init_state(
      model, optimizer, jnp.zeros((8, 2)), seed=3, num_seeds=2
  )
  validation = np.asarray(source.validation["x"]).reshape(2, 16, 2)

  outputs = []
  for n in (1, 4):
    mesh = training.make_mesh(n)
    epoch_fn = training.make_epoch_fn(
        loss_fn=_denoising_loss, optimizer=optimizer, source=source,
        mesh=mesh, seed=3, num_seeds=2, beta_warmup_epochs=2,
        stopping_rule=training.StoppingRule(patience=5),
    )
    state = jax.device_put(
        jax.tree.map(jnp.copy, init), training.replicated(mesh)
    )
    validation_x = training.put_global(
        validation, training.data_sharding(mesh, batch_axis=1)
    )
    for _ in range(2):
      state, metrics = epoch_fn(state, source.device_data, validation_x)
    leaf = jax.tree.leaves(state.params)[0]
    assert leaf.sharding.is_fully_replicated
    assert len(leaf.sharding.device_set) == n
    outputs.append(jax.device_get((state, metrics)))

  (s1, m1), (s4, m4) = outputs
  assert int(s1.epoch) == int(s4.epoch) == 2
  _assert_trees_close(s4.params, s1.params)
  _assert_trees_close(s4.opt_state, s1.opt_state)
  _assert_trees_close(s4.best_params, s1.best_params)
  _assert_trees_close(m4, m1)
  np.testing.assert_array_equal(s4.best_epoch, s1.best_epoch)
  # Training moved the parameters, and the two seeds differ.
  moved = jax.tree.map(
      lambda a, b: np.abs(a - b).max(), s1.params, jax.device_get(init.params)
  )
  assert max(jax.tree.leaves(moved)) > 1e-2
  kernel = s1.params["params"]["Dense_0"]["kernel"]
  assert np.abs(kernel[0] - kernel[1]).max() > 1e-3
