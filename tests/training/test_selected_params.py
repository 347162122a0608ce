"""`selected_params`: best parameters, or current ones if none was recorded."""

import jax.numpy as jnp
import numpy as np

from mimjax import training


def test_falls_back_to_current_params_per_seed():
  state = training.TrainState(
      epoch=jnp.array(2),
      params={"w": jnp.array([[1.0, 1.0], [2.0, 2.0]])},
      opt_state=(),
      best_params={"w": jnp.array([[9.0, 9.0], [8.0, 8.0]])},
      best_val=jnp.array([0.5, jnp.inf]),
      best_epoch=jnp.array([1, 0]),
      bad_epochs=jnp.zeros(2, jnp.int32),
      stopped=jnp.zeros(2, bool),
      lr_scale=jnp.ones(2),
      stop_ref=jnp.array([0.5, jnp.inf]),
      **{
          name: jnp.zeros(2, jnp.int32)
          for name in (
              "stop_reason", "stop_epoch", "collapse_count", "collapse_kind",
              "collapse_epoch",
          )
      },
  )
  np.testing.assert_array_equal(
      training.selected_params(state)["w"], [[9.0, 9.0], [2.0, 2.0]]
  )
