"""One compiled program per epoch: train scan, validation, early stopping."""

import functools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mimjax import losses
from mimjax.training import _mesh

# Stream ids folded into the run's base key: init uses 0 (see _state).
_TRAIN_STREAM, _VALIDATION_STREAM = 1, 2


def _log_progress(epoch, step, steps, loss):
  logging.info(
      "epoch %d step %d/%d | train loss %s", int(epoch) + 1, int(step),
      int(steps), np.array2string(np.asarray(loss), precision=4),
  )


def _where_seed(mask, new, old):
  """Per-seed select: `mask` is `[S]`, leaves are `[S, ...]`."""

  def select(a, b):
    return jnp.where(jnp.reshape(mask, (-1,) + (1,) * (a.ndim - 1)), a, b)

  return jax.tree.map(select, new, old)


def _over_seeds(fn, num_seeds, in_axes):
  """`jax.vmap(fn, in_axes)` over the leading seed axis of the arguments.

  With one seed, `fn` runs on the arguments with that axis removed and its
  outputs get it back: the same computation, but XLA:CPU runs the
  convolutions and matmuls of a size-1 vmapped batch through its batched
  kernels, which made a convHVAE step ~1.4x slower (BUILD_NOTES, image speed).
  """
  if num_seeds > 1:
    return jax.vmap(fn, in_axes=in_axes)

  def one_seed(*args):
    squeezed = [
        a if axis is None else jax.tree.map(lambda leaf: leaf[0], a)
        for a, axis in zip(args, in_axes)
    ]
    return jax.tree.map(lambda leaf: leaf[None], fn(*squeezed))

  return one_seed


def make_epoch_fn(
    *,
    loss_fn,
    optimizer,
    source,
    mesh,
    seed,
    num_seeds,
    beta_warmup_epochs,
    patience,
    eval_loss_fn=None,
    beta_warmup_steps=0,
    lr_decay_factor=1.0,
    lr_decay_patience=0,
    min_lr_scale=0.0,
    progress_every=0,
):
  """Builds the jitted `epoch_fn(state, validation_x) -> (state, metrics)`.

  Inside one compiled program: `source.steps_per_epoch` optimiser steps under
  `lax.scan`, each vmapped over the S seeds (S = 1: run on the squeezed
  state), batches `[S, B, ...]` sharded on B over the `data` mesh; then the
  validation loss (beta = 1) of every seed, and the early-stopping
  bookkeeping. Keys: seed i, epoch e, step t use
  fold_in(fold_in(fold_in(fold_in(key(seed), 1), i), e), t), so a resumed run
  replays exactly the data and noise of an uninterrupted one.

  Args:
    loss_fn: `loss_fn(params, batch, key, beta) -> (scalar, aux)`; `aux` is a
      dict of scalars and must hold "loss" (the non-finite check reads it);
      an optional "collections" entry holds variable collections (e.g.
      `{"batch_stats": ...}`) that replace those in params after the step.
    eval_loss_fn: the validation loss (default `loss_fn`), e.g. the same
      objective with BatchNorm in inference mode.
    optimizer: optax transformation.
    source: device data source (see `mimjax.data`); one with non-empty
      `bucket_widths` and `bucket_index(step)` has each step's batch cut to
      its bucket's width.
    mesh: the 1-D data mesh.
    seed: base seed of the run.
    num_seeds: S.
    beta_warmup_epochs: beta = min(1, (epoch + 1) / this) (ch. 4 warm-up).
    patience: stop a seed after this many epochs without a validation
      improvement; epochs inside the warm-up neither count nor set the best.
    beta_warmup_steps: if > 0, beta rises per optimiser step instead,
      min(1, (global step + 1) / this) (the sVAE KL annealing of Sec. 7.2);
      `beta_warmup_epochs` is then ignored.
    lr_decay_factor: if < 1, multiply a seed's learning rate by this after
      every `lr_decay_patience` consecutive epochs without a validation
      improvement (the plateau schedule of Sec. 7.2: 0.25 after 2 epochs).
    lr_decay_patience: see `lr_decay_factor`.
    min_lr_scale: stop a seed once its learning-rate factor falls below this
      (the sentence code stops at lr < 1e-8).
    progress_every: if > 0, log "epoch e step t/T loss" from inside the
      compiled epoch every this many steps (one host callback per such step;
      for epochs long enough to want it).

  Returns:
    The jitted epoch function. `validation_x` is `[C, N, ...]` (C chunks of
    N examples), or a dict of such arrays holding "x" (passed to the loss as
    the batch, e.g. images with their knowledge labels); metrics are `[S]` arrays plus `step_loss` `[steps, S]`.
  """
  base = jax.random.key(seed)
  train_key = jax.random.fold_in(base, _TRAIN_STREAM)
  validation_key = jax.random.fold_in(base, _VALIDATION_STREAM)
  batch_sharding = _mesh.data_sharding(mesh, batch_axis=1)
  state_sharding = _mesh.replicated(mesh)

  decays_lr = lr_decay_factor < 1.0
  if decays_lr and lr_decay_patience < 1:
    raise ValueError("lr_decay_factor < 1 needs lr_decay_patience >= 1")

  def beta_at(epoch, step):
    if beta_warmup_steps:
      global_step = epoch * source.steps_per_epoch + step + 1
      return losses.linear_warmup(global_step, warmup_steps=beta_warmup_steps)
    return losses.linear_warmup(epoch + 1, warmup_steps=beta_warmup_epochs)

  def update(params, opt_state, batch, key, beta, active, lr_scale):
    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, batch, key, beta
    )
    aux = dict(aux)
    collections = aux.pop("collections", {})
    updates, new_opt_state = optimizer.update(grads, opt_state, params)
    if decays_lr:
      updates = jax.tree.map(lambda u: u * lr_scale, updates)
    # Non-trainable collections (BatchNorm statistics) get zero gradients,
    # hence zero updates; their new values come from the forward pass.
    new_params = optax.apply_updates(params, updates)
    if collections:
      new_params = {**new_params, **collections}
    keep = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(active, a, b), new, old
    )
    return keep(new_params, params), keep(new_opt_state, opt_state), aux

  def validation_loss(params, validation_x):
    def body(total, inputs):
      chunk, i = inputs
      key = jax.random.fold_in(validation_key, i)
      loss, _ = (eval_loss_fn or loss_fn)(params, chunk, key, 1.0)
      return total + loss, None

    chunks = (
        validation_x if isinstance(validation_x, dict) else {"x": validation_x}
    )
    n = chunks["x"].shape[0]
    total, _ = jax.lax.scan(body, 0.0, (chunks, jnp.arange(n)))
    return total / n

  # Length-bucketed sources (`mimjax.data.TextSource`) fix each step's row
  # width; the bucket index depends on the step only, so it is not batched
  # over seeds and `lax.switch` runs one branch.
  widths = tuple(getattr(source, "bucket_widths", ()) or ())

  def seed_update(params, opt_state, batch, *rest, width=None):
    if width is not None:
      batch = dict(batch, x=batch["x"][:, :, :width])
    return _over_seeds(update, num_seeds, (0, 0, 0, 0, None, 0, 0))(
        params, opt_state, batch, *rest
    )

  def epoch_fn(state, validation_x):
    epoch = state.epoch
    seed_keys = jax.vmap(
        lambda i: jax.random.fold_in(jax.random.fold_in(train_key, i), epoch)
    )(jnp.arange(num_seeds))
    epoch_states = jax.vmap(
        lambda k: source.start_epoch(jax.random.fold_in(k, 0))
    )(seed_keys)
    active = ~state.stopped

    def body(carry, step):
      params, opt_state = carry
      keys = jax.vmap(
          lambda k: jax.random.split(
              jax.random.fold_in(jax.random.fold_in(k, 1), step)
          )
      )(seed_keys)
      batch = jax.vmap(source.batch, in_axes=(0, None))(epoch_states, step)
      batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
      beta = beta_at(epoch, step)
      args = (params, opt_state, batch, keys[:, 0], beta, active,
              state.lr_scale)
      if widths:  # run the step at its bucket's width (one real branch)
        params, opt_state, aux = jax.lax.switch(
            source.bucket_index(step),
            [functools.partial(seed_update, width=w) for w in widths],
            *args,
        )
      else:
        params, opt_state, aux = seed_update(*args)
      aux["beta"] = jnp.broadcast_to(beta, active.shape)
      if progress_every:
        jax.lax.cond(
            (step + 1) % progress_every == 0,
            lambda: jax.debug.callback(
                _log_progress, epoch, step + 1, source.steps_per_epoch,
                aux["loss"],
            ),
            lambda: None,
        )
      return (params, opt_state), aux

    (params, opt_state), aux = jax.lax.scan(
        body,
        (state.params, state.opt_state),
        jnp.arange(source.steps_per_epoch),
    )
    val = _over_seeds(validation_loss, num_seeds, (0, None))(
        params, validation_x
    )
    # Epochs that end inside the warm-up neither count nor set the best.
    eligible = beta_at(epoch, source.steps_per_epoch - 1) >= 1.0
    improved = active & eligible & (val < state.best_val)
    bad_epochs = jnp.where(
        improved, 0, state.bad_epochs + (active & eligible).astype(jnp.int32)
    )
    lr_scale = state.lr_scale
    if decays_lr:
      decay = (
          active
          & eligible
          & ~improved
          & (bad_epochs % lr_decay_patience == 0)
      )
      lr_scale = jnp.where(decay, lr_scale * lr_decay_factor, lr_scale)
    new_state = state.replace(
        epoch=epoch + 1,
        params=params,
        opt_state=opt_state,
        best_params=_where_seed(improved, params, state.best_params),
        best_val=jnp.where(improved, val, state.best_val),
        best_epoch=jnp.where(improved, epoch + 1, state.best_epoch),
        bad_epochs=bad_epochs,
        stopped=(
            state.stopped | (bad_epochs >= patience) | (lr_scale < min_lr_scale)
        ),
        lr_scale=lr_scale,
    )
    metrics = {f"train/{k}": jnp.mean(v, axis=0) for k, v in aux.items()}
    metrics["train/lr_scale"] = lr_scale
    metrics["val/loss"] = val
    metrics["step_loss"] = aux["loss"]
    return new_state, metrics

  return jax.jit(
      epoch_fn, donate_argnums=0, out_shardings=(state_sharding, state_sharding)
  )
