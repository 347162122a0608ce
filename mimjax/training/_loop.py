"""The training loop: resume, run epochs, check, log, checkpoint."""

import os
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from mimjax import _progress
from mimjax import files
from mimjax._errors import TimeBudgetReached
from mimjax.training import _checkpoint
from mimjax.training import _epoch
from mimjax.training import _mesh
from mimjax.training import _state
from mimjax.training import _stopping
from mimjax.training import _writer


# Wall-clock time (time.time()) by which every `train` call must stop.
_deadline = None
# The workdir's running total of training seconds (`training_seconds`).
TIME_FILE = "train_time.json"


def training_seconds(workdir):
  """Wall seconds of the training epochs run in `workdir`, summed over every
  piece of a run resumed across jobs (0 before the first epoch).

  Each epoch adds its wall time (steps, validation, checkpoint) when it
  ends, including epochs whose results a later resume discarded (they were
  spent all the same).
  """
  record = files.read_json(os.path.join(workdir, TIME_FILE))
  return 0.0 if record is None else float(record["seconds"])


def set_deadline(deadline):
  """Makes every later `train` call stop cleanly before `deadline` (a
  `time.time()` value; None: no limit): before an epoch that its last
  epoch's duration says would end after the deadline, it saves a
  checkpoint and raises `mimjax.TimeBudgetReached`. The first epoch of a
  call always runs. A resumed run continues exactly as an uninterrupted
  one (the usual checkpoint resume)."""
  global _deadline
  _deadline = deadline


def _past_deadline(epoch_seconds):
  """Whether the next epoch (as long as the last) would end after the
  deadline. In a multi-process run process 0 decides for all, so every
  process saves the checkpoint and stops at the same epoch (one deciding
  alone would leave the others waiting in the next epoch's collectives)."""
  stop = (_deadline is not None and epoch_seconds is not None
          and time.time() + epoch_seconds > _deadline)
  if jax.process_count() > 1:
    stop = bool(multihost_utils.broadcast_one_to_all(np.asarray(stop)))
  return stop


def _input_dtype(x):
  """int32 for token ids (e.g. sentences), float32 for everything else."""
  integer = np.issubdtype(np.asarray(x).dtype, np.integer)
  return np.int32 if integer else np.float32


def _validation_chunks(x, chunk_size, mesh):
  """`[N, ...]` -> `[N // chunk, chunk, ...]` sharded on the chunk axis."""
  x = np.asarray(x)
  x = x.astype(_input_dtype(x))
  if not np.all(np.isfinite(x)):
    raise ValueError("validation data contain NaN or infinite values")
  n = (len(x) // chunk_size) * chunk_size
  if n == 0:
    raise ValueError(
        f"validation set of {len(x)} < eval batch size {chunk_size}"
    )
  _mesh.check_divisible(chunk_size, mesh, "eval batch size")
  chunks = x[:n].reshape(n // chunk_size, chunk_size, *x.shape[1:])
  return _mesh.put_global(chunks, _mesh.data_sharding(mesh, batch_axis=1))


def _first_non_finite(step_loss, seeds, epoch, steps_per_epoch):
  """Names the first non-finite step of the `[S]` mask `seeds`, or None."""
  bad = np.argwhere(~np.isfinite(step_loss) & seeds[None, :])
  if not len(bad):
    return f"non-finite validation loss at epoch {epoch + 1}"
  step, seed = bad[0]
  return (
      f"non-finite training loss at epoch {epoch + 1}, step {step} of the "
      f"epoch (global step {epoch * steps_per_epoch + step}), seed index "
      f"{seed}"
  )


def _log_new_alarms(workdir, epoch, previous_alarm, state):
  """One line naming the seeds whose collapse alarm fired at this epoch."""
  kinds = _stopping.collapse_alarms(state.collapse_kind)
  fired = np.flatnonzero(
      (np.asarray(state.collapse_kind) != 0) & (previous_alarm == 0)
  )
  if len(fired):
    logging.warning(
        "%s epoch %d: collapse alarm for seeds %s (%s; see monitor/* in "
        "metrics.jsonl and training.CollapseRule).",
        os.path.basename(workdir), epoch, fired.tolist(),
        ", ".join(sorted({kinds[i] for i in fired})),
    )


def _schedule_texts(settings, epoch, state, seconds_per_epoch):
  """The progress line's schedule and ETA fields, e.g.
  "lr x0.0625 (cut 2, stops at cut 3) | plateau 1/2 lr, 1/20 stop" and
  "ETA 0:08:40 to 14:05:00".

  The schedule field is the most advanced running seed's learning-rate
  factor, cuts and epochs without progress (against the LR-cut and the
  stopping patience). The ETA runs from the run's soonest possible end (no
  further progress: the slowest running seed's soonest stop) to the epoch
  cap.
  """
  rule = settings.stopping_rule
  stopped = np.asarray(state.stopped)
  running = ~stopped if not stopped.all() else np.ones_like(stopped)
  lr_scale = np.asarray(state.lr_scale)[running]
  bad_epochs = np.asarray(state.bad_epochs)[running]
  outlook = _stopping.schedule_outlook(
      rule, epoch=epoch, lr_scale=lr_scale, bad_epochs=bad_epochs
  )
  schedule = f"lr x{float(lr_scale.min()):.3g}"
  bad = int(bad_epochs.max())
  if rule.decays_lr:
    cuts = f"cut {int(outlook['cuts'].max())}"
    if outlook["stop_cut"].max() > 0:
      cuts += f", stops at cut {int(outlook['stop_cut'].max())}"
    schedule += (f" ({cuts}) | plateau {bad % rule.lr_decay_patience}/"
                 f"{rule.lr_decay_patience} lr, {bad}/{rule.patience} stop")
  else:
    schedule += f" | plateau {bad}/{rule.patience}"
  remaining = 0 if stopped.all() else settings.max_epochs - epoch
  soonest = min(int(outlook["soonest"].max()), remaining)
  eta = _progress.format_eta(seconds_per_epoch * remaining)
  if soonest < remaining:
    eta = f"{_progress.format_eta(seconds_per_epoch * soonest)} to {eta}"
  else:
    eta = f"<= {eta}"
  return schedule, f"ETA {eta}"


def train(
    *,
    model,
    loss_fn,
    source,
    settings,
    optimizer,
    workdir,
    mesh,
    seed=0,
    num_seeds=1,
    init_params=None,
    eval_loss_fn=None,
    monitor_fn=None,
    collapse_rule=None,
    epoch_eval_fn=None,
):
  """Trains `num_seeds` seeds of `model` until early stopping.

  Resumes from the newest checkpoint in `workdir/checkpoints` if there is
  one, continuing the same data order and noise. A seed whose loss turns
  non-finite stops (its earlier best model is kept) while the others go on;
  when every seed still training does so, FloatingPointError names the step
  and the last good checkpoint is kept.

  Args:
    model: Flax module (`init(key, x)`).
    loss_fn: `loss_fn(params, batch, key, beta) -> (scalar, aux)`.
    source: device data source.
    settings: `TrainSettings` (schedule, early stopping, logging).
    optimizer: optax optimiser (e.g. `make_optimizer(...)`), initialised
      and applied on the trainable `params["params"]` only (see
      `train_step`).
    workdir: folder for checkpoints and metrics.
    mesh: the 1-D data mesh.
    seed: base seed of every stream (initialisation: see `init_state`;
      data order and noise: see `make_epoch_fn`).
    num_seeds: seeds trained together (vmapped) in one program.
    init_params: optional `[S, ...]` starting parameters (see `init_state`);
      ignored when resuming from a checkpoint.
    eval_loss_fn: validation loss (default `loss_fn`; see `make_epoch_fn`).
    monitor_fn: optional latent monitor (see `make_epoch_fn`), e.g.
      `evaluation.make_monitor_fn(model)`.
    collapse_rule: optional `CollapseRule` of the collapse alarm (needs
      `monitor_fn`).
    epoch_eval_fn: optional `epoch_eval_fn(params) -> dict` of `[S]` or
      scalar metrics of the current `[S, ...]` parameters, run on the host
      after every epoch (outside the compiled epoch, so it may decode or
      loop) and written with the epoch's metrics under its keys (e.g.
      "val/bleu1"). It does not touch training: keep it deterministic (a
      fixed key) and a resumed run logs what an uninterrupted one does.

  Returns:
    The final `TrainState` (its `best_params` are the early-stopped models).

  Raises:
    TimeBudgetReached: the deadline of `set_deadline` comes before the
      next epoch would end (the checkpoint of the last epoch is saved).
  """
  _mesh.check_divisible(settings.batch_size, mesh)
  example_x = jnp.zeros(
      (settings.batch_size, *source.x_shape),
      _input_dtype(source.validation["x"]),
  )
  state = _state.init_state(
      model,
      optimizer,
      example_x,
      seed=seed,
      num_seeds=num_seeds,
      init_params=init_params,
  )
  state = jax.device_put(state, _mesh.replicated(mesh))
  checkpointer = _checkpoint.Checkpointer(
      os.path.join(workdir, "checkpoints"), save_every=settings.checkpoint_every
  )
  restored = checkpointer.restore_latest(state)
  if restored is not None:
    state = restored
    logging.info("Resumed %s at epoch %d.", workdir, int(state.epoch))
  writer = _writer.MetricWriter(workdir, resume_epoch=int(state.epoch))
  # Sources whose loss needs more than the images (e.g. knowledge labels)
  # name the validation entries to pass in `validation_keys`.
  validation_x = {
      k: _validation_chunks(
          source.validation[k], settings.eval_batch_size, mesh
      )
      for k in getattr(source, "validation_keys", ("x",))
  }
  # The training arrays, replicated on the mesh: an argument of the epoch
  # program (every device gathers its shard of each batch from them).
  train_data = jax.device_put(source.device_data, _mesh.replicated(mesh))
  epoch_fn = _epoch.make_epoch_fn(
      loss_fn=loss_fn,
      optimizer=optimizer,
      source=source,
      mesh=mesh,
      seed=seed,
      num_seeds=num_seeds,
      beta_warmup_epochs=settings.beta_warmup_epochs,
      stopping_rule=settings.stopping_rule,
      eval_loss_fn=eval_loss_fn,
      beta_warmup_steps=settings.beta_warmup_steps,
      progress_every=settings.progress_every,
      monitor_fn=monitor_fn,
      collapse_rule=collapse_rule,
      fresh_validation_noise=settings.fresh_validation_noise,
  )
  samples_per_epoch = source.steps_per_epoch * settings.batch_size * num_seeds
  start_epoch, start_time = int(state.epoch), time.perf_counter()
  seconds_before = training_seconds(workdir)
  epoch_seconds = None
  try:
    while (int(state.epoch) < settings.max_epochs
           and not bool(jnp.all(state.stopped))):
      epoch = int(state.epoch)
      if _past_deadline(epoch_seconds):
        if checkpointer.latest_epoch() != epoch:
          checkpointer.save(epoch, state, force=True)
        raise TimeBudgetReached(
            f"{workdir}: stopped after epoch {epoch} of "
            f"{settings.max_epochs} by "
            f"the time budget (an epoch takes {epoch_seconds or 0:.0f} s); the "
            "checkpoint is saved: run the same command to resume"
        )
      epoch_start = time.perf_counter()
      was_active = ~np.asarray(state.stopped)
      previous_alarm = np.asarray(state.collapse_kind)
      state, metrics = epoch_fn(state, train_data, validation_x)
      metrics = jax.device_get(metrics)
      step_loss = metrics.pop("step_loss")
      failed = np.asarray(
          (state.stop_reason == _stopping.NON_FINITE)
          & (state.stop_epoch == epoch + 1)
      )
      if failed.any():
        error = _first_non_finite(
            step_loss, failed, epoch, source.steps_per_epoch
        )
        if np.all(failed[was_active]):
          last = checkpointer.latest_epoch()
          kept = (
              "no checkpoint was written yet"
              if last is None
              else f"the last good checkpoint (epoch {last}) is kept"
          )
          raise FloatingPointError(f"{error} in {workdir}; {kept}")
        logging.warning(
            "%s: %s; seeds %s stop there (their best models are kept), the "
            "others go on.", os.path.basename(workdir), error,
            np.flatnonzero(failed).tolist(),
        )
      _log_new_alarms(workdir, epoch + 1, previous_alarm, state)
      if epoch_eval_fn is not None:
        metrics.update(jax.device_get(epoch_eval_fn(state.params)))
      done = epoch + 1 == settings.max_epochs or bool(np.all(state.stopped))
      metrics["stopped"] = np.asarray(state.stopped, np.float32)
      # The epoch's metrics line before its checkpoint: a kill between the
      # two resumes from the previous checkpoint, which drops that line and
      # writes it again; the other order would lose it.
      writer.write(epoch + 1, metrics)
      checkpointer.save(epoch + 1, state, force=done)
      epoch_seconds = time.perf_counter() - epoch_start
      elapsed = time.perf_counter() - start_time
      if jax.process_index() == 0:
        files.write_json(os.path.join(workdir, TIME_FILE),
                         {"seconds": seconds_before + elapsed})
      rate = (epoch + 1 - start_epoch) * samples_per_epoch / elapsed
      if (epoch + 1) % settings.log_every == 0 or done:
        schedule, eta = _schedule_texts(
            settings, epoch + 1, state, elapsed / (epoch + 1 - start_epoch)
        )
        logging.info(
            "%s epoch %d/%d | train %.4f | val %.4f | beta %.2f | %s | "
            "%d/%d seeds stopped | %.3g samples/s | %s",
            os.path.basename(workdir),
            epoch + 1,
            settings.max_epochs,
            float(np.mean(metrics["train/loss"])),
            float(np.mean(metrics["val/loss"])),
            float(np.mean(metrics["train/beta"])),
            schedule,
            int(np.sum(state.stopped)),
            num_seeds,
            rate,
            eta,
        )
  finally:
    checkpointer.close()
    writer.close()
  return state
