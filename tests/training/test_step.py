"""The epoch program's pure parts against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mimjax import training


def _quadratic_loss(params, batch, key, beta=1.0):
  """beta * mean((w x - 1)^2) + key noise; aux carries new statistics."""
  noise = jax.random.normal(key, ())
  loss = beta * jnp.mean(jnp.square(params["params"]["w"] * batch["x"] - 1))
  loss = loss + 0.0 * noise
  stats = {"batch_stats": {"mean": jnp.mean(batch["x"])}}
  return loss, {"loss": loss, "noise": noise, "collections": stats}


def test_train_step_is_one_scaled_sgd_step_with_new_statistics():
  params = {"params": {"w": jnp.array(0.5)},
            "batch_stats": {"mean": jnp.array(0.0)}}
  x = jnp.array([1.0, 2.0, 3.0])
  optimizer = optax.sgd(0.1)
  new, _, aux = training.train_step(
      params, optimizer.init(params), {"x": x}, jax.random.key(0),
      loss_fn=_quadratic_loss, optimizer=optimizer, beta=2.0, lr_scale=0.5,
  )
  grad = 2.0 * np.mean(2 * (0.5 * np.asarray(x) - 1) * np.asarray(x))
  np.testing.assert_allclose(new["params"]["w"], 0.5 - 0.5 * 0.1 * grad,
                             rtol=1e-6)
  np.testing.assert_allclose(new["batch_stats"]["mean"], 2.0)
  assert "collections" not in aux


def test_keep_if_freezes_a_stopped_seed():
  new, old = {"a": jnp.ones(2)}, {"a": jnp.zeros(2)}
  np.testing.assert_array_equal(training.keep_if(True, new, old)["a"], 1.0)
  np.testing.assert_array_equal(training.keep_if(False, new, old)["a"], 0.0)


def test_validation_loss_is_the_mean_over_chunks_with_fixed_keys():
  params = {"params": {"w": jnp.array(0.5)}}
  chunks = {"x": jnp.arange(6.0).reshape(3, 2)}
  key = jax.random.key(3)

  def loss_fn(params, batch, key, beta):
    loss = jnp.sum(batch["x"]) + jax.random.uniform(key)
    return loss, {"loss": loss}

  expected = np.mean([
      float(loss_fn(params, {"x": chunks["x"][c]},
                    jax.random.fold_in(key, c), 1.0)[0])
      for c in range(3)
  ])
  np.testing.assert_allclose(
      training.validation_loss(params, chunks, key, loss_fn=loss_fn),
      expected, rtol=1e-6,
  )
