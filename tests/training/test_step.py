"""The epoch program's pure parts against hand-computed values."""

import flax.linen as nn
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
      params, optimizer.init(params["params"]), {"x": x},
      jax.random.key(0), loss_fn=_quadratic_loss, optimizer=optimizer,
      beta=2.0, lr_scale=0.5,
  )
  grad = 2.0 * np.mean(2 * (0.5 * np.asarray(x) - 1) * np.asarray(x))
  np.testing.assert_allclose(new["params"]["w"], 0.5 - 0.5 * 0.1 * grad,
                             rtol=1e-6)
  np.testing.assert_allclose(new["batch_stats"]["mean"], 2.0)
  assert "collections" not in aux


class _Scalar(nn.Module):
  """One trainable scalar w and one non-trainable statistic."""

  @nn.compact
  def __call__(self, x):
    w = self.param("w", nn.initializers.constant(0.5), ())
    mean = self.variable("batch_stats", "mean", lambda: jnp.array(3.0))
    return w * x + mean.value


def test_only_the_params_collection_is_optimised():
  """Non-trainable collections get no optimiser state and no update: with
  weight decay, an optimiser that saw "batch_stats" would shrink them."""
  params = {"params": {"w": jnp.array(0.5)},
            "batch_stats": {"mean": jnp.array(3.0)}}
  optimizer = optax.adamw(0.1, weight_decay=0.5)

  def loss_fn(params, batch, key, beta):
    del key, beta
    loss = jnp.mean(jnp.square(params["params"]["w"] * batch["x"] - 1))
    return loss, {"loss": loss}

  state = training.init_state(
      _Scalar(), optimizer, jnp.zeros((2, 1)), seed=0, num_seeds=1,
      init_params=jax.tree.map(lambda a: a[None], params),
  )
  opt_leaves = jax.tree.leaves(state.opt_state)
  assert sum(leaf.size for leaf in opt_leaves) == 1 + 1 + 1  # count, mu, nu
  opt_state = jax.tree.map(lambda a: a[0], state.opt_state)
  new, _, _ = training.train_step(
      params, opt_state, {"x": jnp.array([1.0, 2.0])}, jax.random.key(0),
      loss_fn=loss_fn, optimizer=optimizer, beta=1.0,
  )
  assert float(new["params"]["w"]) != 0.5
  np.testing.assert_array_equal(new["batch_stats"]["mean"], 3.0)


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
