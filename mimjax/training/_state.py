"""Training state with a leading seed axis on every per-seed leaf."""

from typing import Any

import flax
import jax
import jax.numpy as jnp

from mimjax.training import _stopping


@flax.struct.dataclass
class TrainState:
  """Everything a resumed run needs; no PRNG keys (they derive from seed,
  seed index, epoch and step), so a restored run replays the same streams.

  Attributes:
    epoch: scalar int32, epochs completed.
    params: `[S, ...]` current variables per seed (what `model.apply`
      takes): the trainable "params" collection and any non-trainable
      ones (BatchNorm's "batch_stats"), which the forward pass updates.
    opt_state: `[S, ...]` optimiser state per seed, over the trainable
      `params["params"]` only.
    best_params: `[S, ...]` parameters at the best validation loss.
    best_val: `[S]` best validation loss so far (inf before the first).
    best_epoch: `[S]` epoch of `best_params`.
    bad_epochs: `[S]` epochs since the last improvement (early stopping).
    stopped: `[S]` bool, seed finished by early stopping (frozen).
    lr_scale: `[S]` float32 factor on every update (1 until a plateau
      decay; see `make_epoch_fn`).
    stop_ref: `[S]` validation loss at the last epoch that made progress
      (`training.StoppingRule`).
    stop_reason: `[S]` int32 code of why a seed stopped (0 = running; see
      `training.stop_reasons`).
    stop_epoch: `[S]` epoch a seed stopped at (0 = running).
    collapse_count: `[S]` consecutive collapsed monitor checks.
    collapse_kind: `[S]` int32 alarm (0 = none; see
      `training.collapse_alarms`).
    collapse_epoch: `[S]` epoch the current alarm first fired (0 = none).
  """

  epoch: jax.Array
  params: Any
  opt_state: Any
  best_params: Any
  best_val: jax.Array
  best_epoch: jax.Array
  bad_epochs: jax.Array
  stopped: jax.Array
  lr_scale: jax.Array
  stop_ref: jax.Array
  stop_reason: jax.Array
  stop_epoch: jax.Array
  collapse_count: jax.Array
  collapse_kind: jax.Array
  collapse_epoch: jax.Array

  @property
  def num_seeds(self):
    return self.best_val.shape[0]


def init_state(
    model, optimizer, example_x, *, seed, num_seeds, init_params=None
):
  """Initialises `num_seeds` independent parameter sets, vmapped.

  Args:
    model: Flax module; `model.init(key, x)`.
    optimizer: optax transformation; its state is built over the trainable
      `params["params"]` only.
    example_x: `[B, *x_shape]` example input (shapes only).
    seed: base seed; seed index i uses fold_in(fold_in(key(seed), 0), i).
    num_seeds: S.
    init_params: optional `[S, ...]` parameters to start from instead (e.g.
      a model pre-trained with another loss, App. B.3).

  Returns:
    A `TrainState` at epoch 0.
  """
  base = jax.random.fold_in(jax.random.key(seed), 0)
  keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(num_seeds))
  # A "dropout" stream too, for models that drop out in train mode; it does
  # not change the "params" stream.
  params = jax.vmap(
      lambda k: model.init({"params": k, "dropout": k}, example_x)
  )(keys)
  if init_params is not None:
    if jax.tree.structure(init_params) != jax.tree.structure(params) or any(
        a.shape != b.shape
        for a, b in zip(jax.tree.leaves(init_params), jax.tree.leaves(params))
    ):
      raise ValueError("init_params do not match the model's parameters")
    params = jax.tree.map(jnp.asarray, init_params)
  opt_state = jax.vmap(lambda v: optimizer.init(v["params"]))(params)
  return TrainState(
      epoch=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=opt_state,
      best_params=jax.tree.map(jnp.copy, params),
      best_epoch=jnp.zeros((num_seeds,), jnp.int32),
      **_stopping.initial_stopping_state(num_seeds),
      **_stopping.initial_collapse_state(num_seeds),
  )


def selected_params(state):
  """Per seed: the early-stopped `best_params`, or the current `params` for
  a seed that never recorded a best (a run that ended inside the warm-up).

  Returns:
    `[S, ...]` parameters.
  """
  has_best = state.best_epoch > 0

  def select(best, current):
    mask = jnp.reshape(has_best, (-1,) + (1,) * (best.ndim - 1))
    return jnp.where(mask, best, current)

  return jax.tree.map(select, state.best_params, state.params)
