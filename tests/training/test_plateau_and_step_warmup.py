"""Plateau learning-rate decay, min_lr_scale stopping and per-step beta.

Tiny 1-D models with hand-written losses keep the compiled epoch cheap; the
expected schedules are closed forms of the epoch and step counters, or the
plateau rule re-stated from its docstring and applied to the logged
validation losses.
"""

import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections as mc
import numpy as np
import optax
import pytest

from mimjax import data
from mimjax import training

_BATCH = 8
_STEPS = 4  # 32 training examples / batch 8


class _Location(nn.Module):
  """A single learned location w (shape `[d]`)."""

  @nn.compact
  def __call__(self, x):
    return self.param("w", nn.initializers.normal(1.0), x.shape[-1:])


def _squared_distance_loss(params, batch, key, beta=1.0):
  """mean ||x - w||^2, so one SGD step maps w - x to (1 - 2 lr)(w - x)."""
  del key
  loss = jnp.mean(jnp.sum((batch["x"] - params["params"]["w"]) ** 2, -1))
  return loss, {"loss": loss, "seen_beta": jnp.asarray(beta, jnp.float32)}


def _noisy_log_cosh_loss(params, batch, key, beta=1.0):
  """mean sum log cosh(x + noise - w): data order, key and beta all matter."""
  noisy = batch["x"] + 0.3 * jax.random.normal(key, batch["x"].shape)
  residual = noisy - params["params"]["w"]
  loss = (0.5 + 0.5 * beta) * jnp.mean(
      jnp.sum(jnp.log(jnp.cosh(residual)), -1)
  )
  return loss, {"loss": loss}


def _source(train_value=3.0, val_value=1.0):
  """32 training points at `train_value`, validation at `val_value` (1-D)."""
  ones = np.ones((32, 1), np.float32)
  labels = np.zeros(32, np.int32)
  return data.ArraySource(
      x_train=train_value * ones, y_train=labels, x_val=val_value * ones,
      y_val=labels, x_test=ones, y_test=labels, batch_size=_BATCH,
  )


def _config(num_seeds, learning_rate, **train):
  """A `training.train` config: constant-rate SGD, no epoch warm-up."""
  defaults = dict(
      batch_size=_BATCH, max_epochs=30, beta_warmup_epochs=1, patience=100,
      checkpoint_every=100, log_every=100, eval_batch_size=16,
  )
  defaults.update(train)
  optim = dict(
      name="sgd", learning_rate=learning_rate, schedule="constant",
      warmup_epochs=0,
  )
  return mc.ConfigDict(
      dict(seed=0, num_seeds=num_seeds, train=defaults, optim=optim)
  )


def _read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]


def _train(workdir, config):
  source = _source()
  return training.train(
      model=_Location(), loss_fn=_squared_distance_loss, source=source,
      settings=training.TrainSettings(**config.train),
      optimizer=training.make_optimizer(
          **config.optim, steps_per_epoch=source.steps_per_epoch
      ),
      seed=config.seed, num_seeds=config.num_seeds, workdir=str(workdir),
      mesh=training.make_mesh(1),
  )


def _epoch_setup(loss_fn, model, source, optimizer, num_seeds, x_shape,
                 init_params=None, **options):
  """(state, epoch_fn(state, validation_x), validation chunks) on a
  one-device mesh; epoch_fn passes the source's training arrays. `options`
  holds `make_epoch_fn` keywords and `StoppingRule` fields."""
  mesh = training.make_mesh(1)
  state = training.init_state(
      model, optimizer, jnp.zeros((_BATCH,) + x_shape), seed=0,
      num_seeds=num_seeds, init_params=init_params,
  )
  rule_fields = {f.name for f in dataclasses.fields(training.StoppingRule)}
  rule = dict(patience=100)
  rule.update({k: options.pop(k) for k in rule_fields & set(options)})
  compiled = training.make_epoch_fn(
      loss_fn=loss_fn, optimizer=optimizer, source=source, mesh=mesh,
      seed=0, num_seeds=num_seeds,
      stopping_rule=training.StoppingRule(**rule),
      **{"beta_warmup_epochs": 1, **options},
  )
  epoch_fn = lambda state, val: compiled(state, source.device_data, val)
  val = np.asarray(source.validation["x"], np.float32)
  validation_x = training.put_global(
      val[:32].reshape(2, 16, *x_shape), training.data_sharding(mesh, 1)
  )
  return state, epoch_fn, validation_x


# ------------------------------------------------------ plateau LR decay


def test_constant_validation_decays_lr_until_min_lr_scale(tmp_path):
  # lr = 0: w never moves, so only epoch 1 improves the validation loss.
  config = _config(
      num_seeds=2, learning_rate=0.0, lr_decay_factor=0.25,
      lr_decay_patience=2, min_lr_scale=0.01,
  )
  state = _train(tmp_path, config)
  records = _read_metrics(tmp_path)
  # After epoch e, e - 1 bad epochs: floor((e - 1) / 2) decays. The 4th
  # (0.25^4 < 0.01 <= 0.25^3) comes at epoch 9 and stops both seeds.
  epochs = np.arange(1, 10)
  assert [r["epoch"] for r in records] == list(epochs)
  expected = 0.25 ** ((epochs - 1) // 2)
  np.testing.assert_array_equal(
      [r["train/lr_scale/per_seed"] for r in records],
      np.stack([expected, expected], axis=1),
  )
  np.testing.assert_array_equal(
      [r["stopped"] for r in records], (epochs == 9).astype(float)
  )
  np.testing.assert_array_equal(state.lr_scale, [0.25**4] * 2)
  assert bool(np.all(state.stopped)) and int(state.epoch) == 9
  np.testing.assert_array_equal(state.best_epoch, [1, 1])


def _reference_plateau(val, *, warmup, factor, decay_patience, patience,
                       min_scale):
  """The documented rule, from per-epoch `val[e, s]`.

  Epoch e (1-based) counts when e >= warmup; a counted epoch with a strictly
  lower validation loss resets the bad-epoch count, any other adds one and
  multiplies the scale by `factor` each time the count reaches a multiple of
  `decay_patience`; a seed stops after `patience` bad epochs or once its
  scale is below `min_scale`, and is frozen from then on.

  Returns:
    `[E, S]` scale after each epoch and `[E, S]` stopped flags.
  """
  num_epochs, num_seeds = val.shape
  scales = np.ones((num_epochs, num_seeds))
  stopped = np.zeros((num_epochs, num_seeds), bool)
  for s in range(num_seeds):
    best, bad, scale, done = np.inf, 0, 1.0, False
    for e in range(1, num_epochs + 1):
      if not done and e >= warmup:
        if val[e - 1, s] < best:
          best, bad = val[e - 1, s], 0
        else:
          bad += 1
          if bad % decay_patience == 0:
            scale *= factor
        done = bad >= patience or scale < min_scale
      scales[e - 1, s], stopped[e - 1, s] = scale, done
  return scales, stopped


def test_lr_decay_follows_plateaus_and_scales_every_step():
  # Training data at 3, validation at 1: w improves the validation loss
  # (w - 1)^2 until it passes 1, then never again, so the rate decays.
  starts = np.array([[0.9], [-2.0], [-0.6]], np.float32)
  lr, factor, decay_patience, warmup = 0.02, 0.5, 2, 2
  state, epoch_fn, validation_x = _epoch_setup(
      _squared_distance_loss, _Location(), _source(), optax.sgd(lr), 3, (1,),
      init_params={"params": {"w": jnp.asarray(starts)}},
      beta_warmup_epochs=warmup, patience=9, lr_decay_factor=factor,
      lr_decay_patience=decay_patience, min_lr_scale=0.1,
  )
  ws, scales, vals, stopped = [starts[:, 0]], [], [], []
  for _ in range(16):
    # The rate of this epoch's steps: lr * scale, or 0 for a stopped seed.
    rate = lr * np.where(state.stopped, 0.0, state.lr_scale)
    state, metrics = epoch_fn(state, validation_x)
    w = np.asarray(state.params["params"]["w"])[:, 0].copy()
    # 4 SGD steps: w - 3 shrinks by (1 - 2 rate)^4.
    np.testing.assert_allclose(
        w - 3.0, (1.0 - 2.0 * rate) ** _STEPS * (ws[-1] - 3.0), rtol=1e-5
    )
    ws.append(w)
    scales.append(np.asarray(metrics["train/lr_scale"]).copy())
    vals.append(np.asarray(metrics["val/loss"]).copy())
    stopped.append(np.asarray(state.stopped).copy())
  ref_scales, ref_stopped = _reference_plateau(
      np.array(vals), warmup=warmup, factor=factor,
      decay_patience=decay_patience, patience=9, min_scale=0.1,
  )
  np.testing.assert_array_equal(np.array(scales), ref_scales)
  np.testing.assert_array_equal(np.array(stopped), ref_stopped)
  # Not vacuous: the seeds decay at different epochs, and every one stops
  # on min_lr_scale (4 decays: 0.5^4 < 0.1) after 8 < patience bad epochs.
  assert len({tuple(col) for col in ref_scales.T}) == 3
  assert np.all(ref_stopped[-1]) and np.all(ref_scales[-1] == 0.5**4)


def test_preset_lr_scale_equals_scaled_learning_rate():
  scales = np.array([0.25, 1.0, 0.0625], np.float32)
  lr = 0.05
  x = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
  labels = np.zeros(32, np.int32)
  source = data.ArraySource(
      x_train=x, y_train=labels, x_val=x, y_val=labels, x_test=x,
      y_test=labels, batch_size=_BATCH,
  )
  state, epoch_fn, validation_x = _epoch_setup(
      _noisy_log_cosh_loss, _Location(), source, optax.sgd(lr), 3, (2,),
      lr_decay_factor=0.5, lr_decay_patience=1,
  )
  start = np.asarray(state.params["params"]["w"]).copy()
  decayed, _ = epoch_fn(state.replace(lr_scale=jnp.asarray(scales)),
                        validation_x)
  decayed = np.asarray(decayed.params["params"]["w"])

  # Reference: plain SGD whose learning rate, a hyperparameter in each
  # seed's optimiser state, is lr * scale for seed i (or lr, to compare).
  plain_state, plain_fn, _ = _epoch_setup(
      _noisy_log_cosh_loss, _Location(), source,
      optax.inject_hyperparams(optax.sgd)(learning_rate=lr), 3, (2,),
  )

  def plain_sgd(rates):
    state = jax.tree.map(jnp.copy, plain_state)  # the epoch donates it
    opt_state = state.opt_state._replace(
        hyperparams={"learning_rate": jnp.asarray(rates, jnp.float32)}
    )
    new_state, _ = plain_fn(state.replace(opt_state=opt_state), validation_x)
    return np.asarray(new_state.params["params"]["w"])

  np.testing.assert_allclose(decayed, plain_sgd(lr * scales), rtol=1e-5)
  assert np.abs(decayed - start).min() > 1e-4  # the epoch moved w
  unscaled = plain_sgd(np.full(3, lr))
  assert np.abs(decayed - unscaled)[scales != 1].min() > 1e-4
  np.testing.assert_allclose(decayed[scales == 1], unscaled[scales == 1],
                             rtol=1e-5)


def test_lr_decay_needs_patience():
  with pytest.raises(ValueError, match="lr_decay_patience >= 1"):
    _epoch_setup(
        _squared_distance_loss, _Location(), _source(), optax.sgd(0.02), 1,
        (1,), lr_decay_factor=0.5,
    )


def test_defaults_keep_lr_scale_at_one(tmp_path):
  config = _config(num_seeds=2, learning_rate=0.0, max_epochs=6)
  state = _train(tmp_path, config)
  records = _read_metrics(tmp_path)
  assert len(records) == 6
  np.testing.assert_array_equal(state.lr_scale, [1.0, 1.0])
  assert all(r["train/lr_scale"] == 1.0 for r in records)
  np.testing.assert_array_equal(state.bad_epochs, [5, 5])  # plateaued


# ----------------------------------------------------- per-step warm-up


def _step_beta(epoch, num_steps, warmup):
  """min(1, (global step + 1) / warmup) for the steps of 0-based `epoch`."""
  global_steps = epoch * num_steps + np.arange(num_steps)
  return np.minimum(1.0, (global_steps + 1) / warmup)


def test_step_warmup_logs_mean_beta_per_epoch(tmp_path):
  warmup = 10  # reached inside epoch 3 (global steps 8..11)
  config = _config(
      num_seeds=2, learning_rate=0.02, max_epochs=4, beta_warmup_steps=warmup,
      beta_warmup_epochs=100,  # ignored under a per-step warm-up
  )
  _train(tmp_path, config)
  records = _read_metrics(tmp_path)
  expected = [_step_beta(e, _STEPS, warmup).mean() for e in range(4)]
  np.testing.assert_allclose(
      [r["train/beta"] for r in records], expected, rtol=1e-6
  )
  # The loss itself was called with those betas.
  np.testing.assert_allclose(
      [r["train/seen_beta"] for r in records], expected, rtol=1e-6
  )
  assert expected[0] < expected[1] < expected[2] < expected[3] == 1.0


def test_step_warmup_beta_per_step_and_first_eligible_epoch():
  def beta_loss(params, batch, key, beta=1.0):
    """beta itself (plus a zero that keeps w in the graph)."""
    del batch, key
    loss = beta + 0.0 * jnp.sum(params["params"]["w"])
    return loss, {"loss": loss}

  warmup = 10
  state, epoch_fn, validation_x = _epoch_setup(
      beta_loss, _Location(), _source(), optax.sgd(0.02), 2, (1,),
      beta_warmup_steps=warmup, beta_warmup_epochs=100,
  )
  for epoch in range(5):
    state, metrics = epoch_fn(state, validation_x)
    step_beta = _step_beta(epoch, _STEPS, warmup)
    np.testing.assert_allclose(
        metrics["step_loss"], np.stack([step_beta] * 2, axis=1), rtol=1e-6
    )
  # Validation (beta = 1) is constant; epoch 3 is the first whose last step
  # has beta = 1, so it sets the best and 4, 5 are the bad epochs.
  np.testing.assert_array_equal(state.best_epoch, [3, 3])
  np.testing.assert_array_equal(state.bad_epochs, [2, 2])


@pytest.mark.parametrize("fresh", [False, True])
def test_validation_noise_is_fixed_unless_asked_fresh(tmp_path, fresh):
  """At a model that does not move (learning rate 0), the validation loss
  of a noisy loss is the same every epoch with fixed keys, and differs from
  epoch to epoch with `fresh_validation_noise` (the authors' toy script)."""
  config = _config(1, 0.0, max_epochs=5, fresh_validation_noise=fresh)
  source = _source()
  training.train(
      model=_Location(), loss_fn=_noisy_log_cosh_loss, source=source,
      settings=training.TrainSettings(**config.train),
      optimizer=training.make_optimizer(
          **config.optim, steps_per_epoch=source.steps_per_epoch
      ),
      seed=0, num_seeds=1, workdir=str(tmp_path), mesh=training.make_mesh(1),
  )
  val = [r["val/loss"] for r in _read_metrics(tmp_path)]
  assert len(val) == 5
  assert (len(set(val)) == 5) if fresh else (len(set(val)) == 1)
