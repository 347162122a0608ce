"""One compiled program per epoch: train scan, validation, early stopping."""

import functools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mimjax import losses
from mimjax.training import _mesh
from mimjax.training import _step
from mimjax.training import _stopping

# Stream ids folded into the run's base key: init uses 0 (see _state).
_TRAIN_STREAM, _VALIDATION_STREAM = 1, 2
# Stream folded into the validation key for the monitor's fixed noise.
_MONITOR_STREAM = 10**6


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
    stopping_rule,
    eval_loss_fn=None,
    beta_warmup_steps=0,
    progress_every=0,
    monitor_fn=None,
    collapse_rule=None,
    fresh_validation_noise=False,
):
  """Builds the jitted `epoch_fn(state, train_data, validation_x) ->
  (state, metrics)`.

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
    optimizer: optax transformation over the trainable `params["params"]`
      (see `train_step`).
    source: device data source (see `mimjax.data`); one with non-empty
      `bucket_widths` and `bucket_index(step, data)` has each step's batch
      cut to its bucket's width.
    mesh: the 1-D data mesh.
    seed: base seed of the run.
    num_seeds: S.
    beta_warmup_epochs: beta = min(1, (epoch + 1) / this) (ch. 4 warm-up).
    stopping_rule: `StoppingRule`: early stopping on the validation loss
      and, if it decays the learning rate, the plateau schedule (e.g. Sec.
      7.2's x0.25 after 2 epochs without progress); epochs inside the
      warm-up neither count nor set the best.
    beta_warmup_steps: if > 0, beta rises per optimiser step instead,
      min(1, (global step + 1) / this) (the sVAE KL annealing of Sec. 7.2);
      `beta_warmup_epochs` is then ignored.
    progress_every: if > 0, log "epoch e step t/T loss" from inside the
      compiled epoch every this many steps (one host callback per such step;
      for epochs long enough to want it).
    monitor_fn: optional `monitor_fn(params, x, key) -> dict of scalars`
      (e.g. `evaluation.make_monitor_fn`), run after validation on the first
      validation chunk with a fixed key; its values are logged as
      "monitor/<name>" and, with `collapse_rule`, drive the collapse alarm
      (it must return "std_ratio", "kl" and "pooled_noise_share").
    collapse_rule: `CollapseRule` of the alarm (needs `monitor_fn`).
    fresh_validation_noise: draw the validation loss's sampling noise anew
      every epoch (key folded with the epoch), as the authors' toy script
      does, instead of the same keys every epoch. For studying their
      early stopping: fresh noise adds its spread to the curve.

  Returns:
    The jitted epoch function. `train_data` is `source.device_data` (the
    training arrays are arguments of the program, not constants inside it:
    its size does not grow with the dataset, and a new dataset of the same
    shapes reuses the compiled program). `validation_x` is `[C, N, ...]`
    (C chunks of N examples), or a dict of such arrays holding "x" (passed
    to the loss as the batch, e.g. images with their knowledge labels);
    metrics are `[S]`
    arrays plus `step_loss` `[steps, S]`. A seed whose training or
    validation loss is non-finite keeps its parameters of the epoch's start
    and stops (reason "non_finite"); the caller decides whether the run goes
    on.
  """
  base = jax.random.key(seed)
  train_key = jax.random.fold_in(base, _TRAIN_STREAM)
  validation_key = jax.random.fold_in(base, _VALIDATION_STREAM)
  batch_sharding = _mesh.data_sharding(mesh, batch_axis=1)
  state_sharding = _mesh.replicated(mesh)

  if collapse_rule is not None and monitor_fn is None:
    raise ValueError("collapse_rule needs a monitor_fn")
  monitor_key = jax.random.fold_in(validation_key, _MONITOR_STREAM)

  def beta_at(epoch, step):
    if beta_warmup_steps:
      global_step = epoch * source.steps_per_epoch + step + 1
      return losses.linear_warmup(global_step, warmup_steps=beta_warmup_steps)
    return losses.linear_warmup(epoch + 1, warmup_steps=beta_warmup_epochs)

  def update(params, opt_state, batch, key, beta, active, lr_scale):
    new_params, new_opt_state, aux = _step.train_step(
        params, opt_state, batch, key, loss_fn=loss_fn, optimizer=optimizer,
        beta=beta, lr_scale=lr_scale if stopping_rule.decays_lr else None,
    )
    return (_step.keep_if(active, new_params, params),
            _step.keep_if(active, new_opt_state, opt_state), aux)

  validation_loss = functools.partial(
      _step.validation_loss, loss_fn=eval_loss_fn or loss_fn,
  )

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

  def epoch_fn(state, train_data, validation_x):
    epoch = state.epoch
    seed_keys = jax.vmap(
        lambda i: jax.random.fold_in(jax.random.fold_in(train_key, i), epoch)
    )(jnp.arange(num_seeds))
    epoch_states = jax.vmap(
        lambda k: source.start_epoch(jax.random.fold_in(k, 0), train_data)
    )(seed_keys)
    active = ~state.stopped

    def body(carry, step):
      params, opt_state = carry
      keys = jax.vmap(
          lambda k: jax.random.split(
              jax.random.fold_in(jax.random.fold_in(k, 1), step)
          )
      )(seed_keys)
      batch = jax.vmap(source.batch, in_axes=(0, None, None))(
          epoch_states, step, train_data
      )
      batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
      beta = beta_at(epoch, step)
      args = (params, opt_state, batch, keys[:, 0], beta, active,
              state.lr_scale)
      if widths:  # run the step at its bucket's width (one real branch)
        params, opt_state, aux = jax.lax.switch(
            source.bucket_index(step, train_data),
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
    validation_chunks = (
        validation_x if isinstance(validation_x, dict) else {"x": validation_x}
    )
    epoch_validation_key = (
        jax.random.fold_in(validation_key, epoch) if fresh_validation_noise
        else validation_key
    )
    val = _over_seeds(validation_loss, num_seeds, (0, None, None))(
        params, validation_chunks, epoch_validation_key
    )
    # A seed with a non-finite loss goes back to its parameters of the
    # epoch's start and stops.
    finite = jnp.all(jnp.isfinite(aux["loss"]), axis=0) & jnp.isfinite(val)
    params = _where_seed(finite, params, state.params)
    opt_state = _where_seed(finite, opt_state, state.opt_state)
    # Epochs that end inside the warm-up neither count nor set the best.
    decision = _stopping.stopping_update(
        stopping_rule,
        epoch=epoch + 1,
        val=val,
        eligible=beta_at(epoch, source.steps_per_epoch - 1) >= 1.0,
        active=active,
        finite=finite,
        best_val=state.best_val,
        stop_ref=state.stop_ref,
        bad_epochs=state.bad_epochs,
        lr_scale=state.lr_scale,
        stopped=state.stopped,
        stop_reason=state.stop_reason,
        stop_epoch=state.stop_epoch,
    )
    improved = decision.pop("improved")
    metrics = {}
    if monitor_fn is not None:
      first_chunk = jax.tree.map(lambda a: a[0], validation_chunks)
      monitor = _over_seeds(
          lambda p, chunk: monitor_fn(p, chunk["x"], monitor_key),
          num_seeds, (0, None),
      )(params, first_chunk)
      metrics.update({f"monitor/{k}": v for k, v in monitor.items()})
      if collapse_rule is not None:
        decision.update(_stopping.collapse_update(
            collapse_rule,
            epoch=epoch + 1,
            std_ratio=monitor["std_ratio"],
            kl=monitor["kl"],
            pooled_noise_share=monitor["pooled_noise_share"],
            collapse_count=state.collapse_count,
            collapse_kind=state.collapse_kind,
            collapse_epoch=state.collapse_epoch,
        ))
        metrics["monitor/collapse_alarm"] = (
            decision["collapse_kind"] != _stopping.HEALTHY
        ).astype(jnp.float32)
    new_state = state.replace(
        epoch=epoch + 1,
        params=params,
        opt_state=opt_state,
        best_params=_where_seed(improved, params, state.best_params),
        best_epoch=jnp.where(improved, epoch + 1, state.best_epoch),
        **decision,
    )
    metrics.update(
        {f"train/{k}": jnp.mean(v, axis=0) for k, v in aux.items()}
    )
    metrics["train/lr_scale"] = new_state.lr_scale
    metrics["val/loss"] = val
    metrics["step_loss"] = aux["loss"]
    return new_state, metrics

  return jax.jit(
      epoch_fn, donate_argnums=0, out_shardings=(state_sharding, state_sharding)
  )
